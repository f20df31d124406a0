"""Giant artist blocks ("Various Artists", "Traditional" at tens of millions of rows) split into sub-blocks.

A block with at least ``MinerConfig.giant_rows`` rows would be one task of the shuffle: one worker's memory
and time, whatever the cluster. Its rows are cut by the length of their title core instead
(``blocking.length_bucket``: lengths within a factor of 1.25 share a bucket), each bucket a sub-block of its
own that the shuffle sends to its own task:

- an original goes to the bucket of its core (and of its core without alternate titles, when that differs);
- an instrumental goes to every bucket its core (or alternate-free core) can pair with at the title
  threshold (``blocking.query_buckets``: two or three at 90).

``match.match_partition`` then scores, in a sub-block, only the original variants of its bucket, so each
(instrumental, original) variant pair is scored in exactly one task, and nothing the whole block would
find is lost: a pair that can reach the threshold has lengths in each other's range.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from miner.blocking import length_bucket, query_buckets
from miner.match import MatchRules, title_features

SEP = "\x1f"


def split_giants(t: pa.Table, giant_keys: pa.Array, rules: MatchRules) -> pa.Table:
    """``t`` (block rows with ``artist_key``, ``title``, ``marked``) with two columns added: ``block`` (the
    artist key, or ``key SEP bucket`` for a giant key's rows) and ``bucket`` (-1, or the length bucket); a
    giant key's rows are repeated once per bucket they belong to, and those with an empty core dropped."""
    n = t.num_rows
    if not len(giant_keys):
        return t.append_column("block", t.column("artist_key")).append_column(
            "bucket", pa.array(np.full(n, -1, np.int64)))
    is_giant = (pc.is_in(t.column("artist_key"), value_set=giant_keys).to_numpy(zero_copy_only=False)
                if len(giant_keys) and n else np.zeros(n, bool))
    normal = t.filter(pa.array(~is_giant))
    out = [normal.append_column("block", normal.column("artist_key"))
           .append_column("bucket", pa.array(np.full(normal.num_rows, -1, np.int64)))]
    if is_giant.any():
        g = t.filter(pa.array(is_giant))
        marked = g.column("marked").to_numpy(zero_copy_only=False).astype(bool)
        title = g.column("title").combine_chunks()
        tf = title_features(title if title.type == pa.string() else title.cast(pa.string()), marked, rules.markers)
        core_len = np.fromiter(map(len, tf.cores), np.int64, g.num_rows)
        alt_len = np.fromiter((len(c) if c else 0 for c in tf.alt_cores), np.int64, g.num_rows)
        rows, buckets = [], []
        ok = tf.has_core
        # originals: the bucket of each variant
        orig = np.flatnonzero(ok & ~marked)
        rows.append(orig)
        buckets.append(length_bucket(core_len[orig]))
        alt = orig[tf.has_alt[orig]]
        alt_b = length_bucket(alt_len[alt])
        differ = alt_b != length_bucket(core_len[alt])
        rows.append(alt[differ])
        buckets.append(alt_b[differ])
        # instrumentals: every bucket either variant can pair with
        inst = np.flatnonzero(ok & marked)
        first, last = query_buckets(core_len[inst], rules.title_threshold)
        has_alt = tf.has_alt[inst]
        a_first, a_last = query_buckets(np.where(has_alt, alt_len[inst], core_len[inst]), rules.title_threshold)
        first, last = np.minimum(first, a_first), np.maximum(last, a_last)
        count = last - first + 1
        rows.append(np.repeat(inst, count))
        buckets.append(np.repeat(first, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)))
        r, b = np.concatenate(rows), np.concatenate(buckets).astype(np.int64)
        rep = g.take(pa.array(r))
        block = pc.binary_join_element_wise(rep.column("artist_key"), pa.array(b.astype(str)), SEP)
        out.append(rep.append_column("block", block).append_column("bucket", pa.array(b)))
    return pa.concat_tables(out)
