"""Step 1 of the metadata stage, one task per partition: read, validate, prepare.

``prepare_partition`` parses the partition (``catalog_rows``), validates its rows (``row_validation``),
detects the instrumental markers, computes the artist keys and a hash of each ``track_id``, makes audio paths
absolute, and writes the good rows and the rejected rows to the work folder (``work_files``). It returns
its counts and the artist keys of its marked titles, so the later steps know which blocks can hold a pair.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from miner.catalog_rows import RawPart, read_partition
from miner.config import MinerConfig
from miner.markers import MarkerSet
from miner.normalize import credit_keys, fold
from miner.partitions import PartSpec
from miner.rejected import strict_error
from miner.row_validation import row_details, validate_rows
from miner.work_files import REJECT_WORK, WORK_SCHEMA, write_ipc
from vocalmine import storage

#: A partition reports the row count of each artist key that holds at least this many of its rows (giant
#: blocks are found from their sum; smaller counts cannot add up to ``MinerConfig.giant_rows`` unnoticed
#: unless a catalog has more than giant_rows / BIG_IN_PART partitions).
BIG_IN_PART = 1000


def absolute_paths(col: pa.ChunkedArray | pa.Array, base: str) -> pa.Array:
    """Audio paths made absolute against the catalog file's folder ``base``; empty -> null."""
    p = pc.utf8_trim_whitespace(pc.fill_null(col, ""))
    if isinstance(p, pa.ChunkedArray):
        p = p.combine_chunks()
    empty = pc.equal(p, "")
    is_abs = pc.or_(pc.starts_with(p, "/"), pc.match_substring_regex(p, r"^[A-Za-z][A-Za-z0-9+.\-]*://"))
    messy = pc.match_substring_regex(p, r"(^|/)\.\.?(/|$)|//|\\")
    joined = pc.binary_join_element_wise(pa.scalar(base.rstrip("/")), p, "/")
    out = pc.if_else(is_abs, p, joined)
    messy_np = pc.and_(messy, pc.invert(pc.or_(empty, is_abs))).to_numpy(zero_copy_only=False)
    if messy_np.any():
        vals = out.to_pylist()
        raw = p.to_pylist()
        for i in np.flatnonzero(messy_np):
            vals[i] = storage.resolve(raw[i].replace("\\", "/"), base)
        out = pa.array(vals, pa.string())
    return pc.if_else(empty, pa.scalar(None, pa.string()), out)


def detect_markers(titles: pa.ChunkedArray | pa.Array, markers: MarkerSet) -> pa.Array:
    """Which titles carry an instrumental marker ([n] bool). ASCII titles are matched case-insensitively as
    they are (the same as folding them first); the others are folded (NFKC, lower case) first."""
    titles = titles.combine_chunks() if isinstance(titles, pa.ChunkedArray) else titles
    is_ascii = pc.string_is_ascii(pc.fill_null(titles, "")).to_numpy(zero_copy_only=False)
    pattern = markers.detect_pattern
    if is_ascii.all():
        return pc.match_substring_regex(titles, pattern, ignore_case=True)
    out = pc.match_substring_regex(titles, pattern, ignore_case=True).to_numpy(zero_copy_only=False).copy()
    other = np.flatnonzero(~is_ascii)
    out[other] = pc.match_substring_regex(fold(titles.take(pa.array(other))), pattern).to_numpy(zero_copy_only=False)
    return pa.array(out)


def _rejections(raw: RawPart, reasons: np.ndarray) -> list[dict]:
    """The rejected rows of a partition (``REJECT_WORK`` dicts): malformed records, then invalid rows."""
    f = raw.spec.file
    t = raw.table
    bad = np.flatnonzero(reasons != None)  # noqa: E711 (object array)
    tid = t.column("track_id").to_pylist() if len(bad) else []
    details = row_details(t, reasons, bad)
    rej = [dict(src=f.index, record=m["record"], detail=m["detail"], source=f.path, line=m["line"],
                track_id=None, reason=m["reason"], original=m["original"]) for m in raw.malformed]
    rej += [dict(src=f.index, record=int(raw.record[i]), detail=d, source=f.path, line=int(raw.line[i]),
                 track_id=tid[i], reason=reasons[i], original=text)
            for i, d, text in zip(bad, details, raw.original_texts(bad))]
    return rej


def _optional(sub: pa.Table, name: str) -> pa.Array:
    """An optional text column trimmed, empty as null (all null when the catalog lacks it)."""
    if name not in sub.column_names:
        return pa.nulls(sub.num_rows, pa.string())
    col = pc.utf8_trim_whitespace(sub.column(name).combine_chunks())
    return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)


def _work_table(raw: RawPart, good: np.ndarray, dur: np.ndarray, markers: MarkerSet) -> pa.Table:
    """The good rows of a partition as ``WORK_SCHEMA`` rows (``good``: [n] bool; ``dur``: [n] seconds)."""
    f = raw.spec.file
    sub = raw.table.filter(pa.array(good))
    n = sub.num_rows
    keys, others = credit_keys(sub.column("artist"))
    track_ids = sub.column("track_id").combine_chunks()
    hashes = (pd.util.hash_pandas_object(track_ids.to_pandas(), index=False).to_numpy()
              if n else np.zeros(0, np.uint64))
    audio = (absolute_paths(sub.column("audio_path"), os.path.dirname(f.path))
             if "audio_path" in sub.column_names else pa.nulls(n, pa.string()))
    return pa.table([
        pa.array(np.full(n, f.index, np.int32)), pa.array(raw.record[good]), pa.array(raw.line[good]),
        pa.array(raw.offset[good]), pa.array(raw.nbytes[good]), track_ids,
        sub.column("artist").combine_chunks(), sub.column("title").combine_chunks(), pa.array(dur[good]),
        audio, _optional(sub, "genre"), _optional(sub, "label"), _optional(sub, "release_date"),
        _optional(sub, "album"), _optional(sub, "isrc"),
        keys, others, detect_markers(sub.column("title"), markers), pa.array(hashes),
    ], schema=WORK_SCHEMA)


def _key_counts(work: pa.Table, giant_rows: int) -> tuple[dict[str, int], list[str]]:
    """(rows per artist key of the keys holding at least ``min(BIG_IN_PART, giant_rows)`` rows of ``work``,
    the artist keys of its marked titles); a row counts for its primary and its other credited artists."""
    keys = work.column("artist_key").combine_chunks()
    others = work.column("other_keys").combine_chunks()
    marked = work.column("marked").combine_chunks()
    n = work.num_rows
    all_keys = pa.concat_arrays([keys, pc.list_flatten(others)]) if n else pa.array([], pa.string())
    counts = pc.value_counts(all_keys)
    at_least = min(BIG_IN_PART, giant_rows)
    big = pc.greater_equal(counts.field("counts"), at_least) if len(counts) else pa.array([], pa.bool_())
    big_keys = dict(zip(counts.field("values").filter(big).to_pylist(), counts.field("counts").filter(big).to_pylist()))
    marked_keys = (pc.unique(pa.concat_arrays([keys.filter(marked), pc.list_flatten(others.filter(marked))]))
                   .to_pylist() if n else [])
    return big_keys, marked_keys


def prepare_partition(spec: PartSpec, config: MinerConfig, work_dir: str) -> dict[str, Any]:
    """Step 1 for one partition: write its good rows (``WORK_SCHEMA``) and its rejected rows
    (``REJECT_WORK``) to ``work_dir``; return their paths, the counts and the artist keys of its marked
    titles. With ``config.strict`` a bad row raises ``UserInputError`` instead."""
    raw = read_partition(spec, config.encoding)
    reasons, dur = validate_rows(raw.table)
    rej = _rejections(raw, reasons)
    if config.strict and rej:
        first = min(rej, key=lambda r: r["record"])
        raise strict_error(spec.file, first["line"], first["reason"], first["track_id"], first["detail"])
    work = _work_table(raw, reasons == None, dur, config.markers)  # noqa: E711 (object array)
    path = os.path.join(work_dir, f"part-{spec.index:06d}.arrow")
    write_ipc(work, path)
    rejected_path = None
    if rej:
        rejected_path = os.path.join(work_dir, f"rejected-{spec.index:06d}.arrow")
        write_ipc(pa.Table.from_pylist(rej, schema=REJECT_WORK), rejected_path)
    big_keys, marked_keys = _key_counts(work, config.giant_rows)
    reasons_count: dict[str, int] = {}
    for r in rej:
        reasons_count[r["reason"]] = reasons_count.get(r["reason"], 0) + 1
    return {
        "path": path,
        "rows_read": raw.table.num_rows + len(raw.malformed),
        "rows_used": work.num_rows,
        "marked": int(pc.sum(work.column("marked")).as_py() or 0),
        "marked_keys": marked_keys,
        "big_keys": big_keys,
        "rejected_path": rejected_path,
        "rejected_by_reason": reasons_count,
    }
