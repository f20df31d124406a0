"""Which title cores of an artist block a marked title needs to be scored against (blocking inside a block).

Scoring every marked title against every title of its block costs ``marked x block`` comparisons: the square
of the biggest blocks ("Traditional", "Various Artists" hold hundreds of thousands of tracks in real
exports). ``candidate_pairs`` finds, for each query (a marked title's core), the distinct cores of the block
that can reach ``fuzz.ratio >= threshold`` and scores only those, with two filters that lose nothing:

- **Length**: ``ratio = 100 (1 - d / (|a| + |b|))`` with ``d`` the Indel distance, so a partner of a query of
  length ``L`` has a length within ``[L t / (2 - t), L (2 - t) / t]`` (``t = threshold / 100``) and
  ``d <= k = floor(2 L (1 - t) / t)``.
- **q-gram prefix** (q = 3): one edit destroys at most q of a string's q-gram occurrences, and the Levenshtein
  distance is at most the Indel distance, so at most ``q k`` of the query's distinct q-grams are missing
  from any partner. Sorting the query's q-grams from rarest to commonest in the block, every partner holds
  one of the first ``q k + 1``: only the cores listed under those few rare q-grams are scored. A query too
  short for the bound (``q k + 1`` above its number of q-grams) is scored against every core of the right
  length.

Identical cores are scored once ("Amazing Grace" recorded 500 times in one block is one core), so the work
grows with the number of marked titles times the few distinct titles that share their rare q-grams, not with
the size of the block. Q-grams are computed with numpy on the code points (no Python loop per title).

Which path a block takes is a cost model measured on the benchmark catalog (``use_index``): a small block is
one ``process.cdist`` (C++, about 15 ns a score); a big one with fewer than about 1,000 marked titles is
scored group by group of equal query length against the cores of a possible length (the length filter
alone, ``_by_length``); only the biggest take the q-gram index, whose postings of common q-grams cost more
per pair than ``cdist`` does. ``MineSummary.compared`` counts the scores computed on whichever path.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process

Q = 3
#: Measured costs (2-core VM, CPU time, the benchmark's catalogs): ``process.cdist`` about 15 ns per score;
#: the index about 3 us per core of the block plus about 10 ns per (query, core) of the block (walking the
#: postings of the rare q-grams: common q-grams make long postings). A block is scored whole (``cdist``, in
#: slices of ``_SLICE`` scores, grouped by length) when that is cheaper: with fewer than about 1,000 marked
#: titles.
_CDIST_S, _CORE_S, _PAIR_S = 15e-9, 3e-6, 12e-9
_SLICE = 4_000_000
#: Up to this many (query x core) pairs a block is scored with one plain ``cdist``.
_SMALL = 200_000


#: Giant blocks are cut into sub-blocks of title cores whose lengths lie within a factor of this.
BUCKET_RATIO = 1.25


def length_bucket(lengths: np.ndarray) -> np.ndarray:
    """The length bucket of each core length ([n] int64 -> [n] int64): floor(log(length) / log(ratio))."""
    return np.floor(np.log(np.maximum(lengths, 1)) / np.log(BUCKET_RATIO) + 1e-9).astype(np.int64)


def query_buckets(lengths: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) length bucket a query core of each length can pair with at ``threshold``."""
    lo, hi, _ = _length_bounds(lengths.astype(np.float64), threshold / 100.0)
    return length_bucket(np.maximum(lo, 1)), length_bucket(np.minimum(hi, 1 << 20))


def use_index(n_queries: int, n_cores: int) -> bool:
    """Whether the q-gram index is cheaper than scoring every (query, core) pair."""
    return n_queries * n_cores * (_CDIST_S - _PAIR_S) > n_cores * _CORE_S


def _gram_codes(strings: list[str], distinct: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(row, code) of every q-gram of each string ([m] int64 each; each gram once per string when
    ``distinct``); a string shorter than q is one gram of its own. Codes pack three code points (21 bits
    each) into an int64."""
    rows_out, codes_out = [], []
    step = 20_000
    for r0 in range(0, len(strings), step):
        chunk = strings[r0:r0 + step]
        width = max(Q, max((len(x) for x in chunk), default=0))
        arr = np.array(chunk, dtype=f"U{width}")
        u = arr.view(np.uint32).reshape(len(chunk), width).astype(np.int64)
        lens = np.char.str_len(arr)
        codes = (u[:, :width - 2] << 42) | (u[:, 1:width - 1] << 21) | u[:, 2:]
        valid = np.arange(width - 2)[None, :] < (lens - 2)[:, None]
        valid[:, 0] |= (lens > 0) & (lens < Q)
        rr, cc = np.nonzero(valid)
        rows_out.append(rr + r0)
        codes_out.append(codes[rr, cc])
    if not rows_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, codes = np.concatenate(rows_out), np.concatenate(codes_out)
    if not distinct:
        return rows, codes
    # distinct (row, code) pairs
    order = np.lexsort((codes, rows))
    rows, codes = rows[order], codes[order]
    keep = np.ones(len(rows), bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (codes[1:] != codes[:-1])
    return rows[keep], codes[keep]


def _by_length(queries: list[str], cores: list[str], thr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``candidate_pairs`` by ``process.cdist`` of each group of equally long queries against the cores of a
    length it can pair with (the length filter alone: a sorted neighbourhood on length)."""
    core_len = np.fromiter(map(len, cores), np.int64, len(cores))
    q_len = np.fromiter(map(len, queries), np.int64, len(queries))
    by_len = np.argsort(core_len, kind="stable")
    sorted_len = core_len[by_len]
    core_arr, query_arr = np.asarray(cores, dtype=object), np.asarray(queries, dtype=object)
    lengths, q_group = np.unique(q_len, return_inverse=True)
    lo, hi, _ = _length_bounds(lengths.astype(np.float64), thr / 100.0)
    out_q, out_c, out_s = [], [], []
    scored = 0
    for g in range(len(lengths)):
        a, b = np.searchsorted(sorted_len, lo[g], "left"), np.searchsorted(sorted_len, hi[g], "right")
        if b <= a:
            continue
        qs = np.flatnonzero(q_group == g)
        cand = by_len[a:b]
        cand_list = core_arr[cand].tolist()
        step = max(1, _SLICE // len(cand))  # a bounded score matrix
        for q0 in range(0, len(qs), step):
            qq = qs[q0:q0 + step]
            m = process.cdist(query_arr[qq].tolist(), cand_list, scorer=fuzz.ratio, score_cutoff=thr,
                              dtype=np.float32)
            qi, ci = np.nonzero(m >= thr)
            out_q.append(qq[qi])
            out_c.append(cand[ci])
            out_s.append(m[qi, ci])
        scored += len(qs) * len(cand)
    if not out_q:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), scored
    return np.concatenate(out_q), np.concatenate(out_c), np.concatenate(out_s), scored


def _length_bounds(lengths: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(min partner length, max partner length, max edit distance k) for query lengths at ratio ``t``."""
    if t <= 0:
        big = np.full(len(lengths), 1 << 30)
        return np.zeros(len(lengths)), big, big
    lo = np.ceil(lengths * t / (2 - t) - 1e-9)
    hi = np.floor(lengths * (2 - t) / t + 1e-9)
    k = np.floor(2 * lengths * (1 - t) / t + 1e-9).astype(np.int64)
    return lo, hi, k


def candidate_pairs(queries: list[str], cores: list[str], threshold: float, force_index: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every (query, core) pair with ``fuzz.ratio >= threshold``: (query index [p], core index [p], score [p]
    float32, number of scores computed). ``cores`` should be distinct (each is scored once per query).
    ``force_index``: use the q-gram index even where scoring every pair would be cheaper (tests)."""
    nq, nc = len(queries), len(cores)
    empty = np.zeros(0, np.int64)
    if not nq or not nc:
        return empty, empty, np.zeros(0, np.float32), 0
    thr = float(threshold)
    if nq * nc <= _SMALL:
        m = process.cdist(queries, cores, scorer=fuzz.ratio, score_cutoff=thr, dtype=np.float32)
        qi, ci = np.nonzero(m >= thr)
        return qi, ci, m[qi, ci], nq * nc
    if not (force_index or use_index(nq, nc)):
        return _by_length(queries, cores, thr)
    t = thr / 100.0
    core_arr = np.asarray(cores, dtype=object)
    query_arr = np.asarray(queries, dtype=object)
    core_len = np.fromiter(map(len, cores), np.int64, nc)
    q_len = np.fromiter(map(len, queries), np.int64, nq)
    lo, hi, k = _length_bounds(q_len.astype(np.float64), t)
    q_rows, q_codes = _gram_codes(queries)
    c_rows, c_codes = _gram_codes(cores, distinct=False)  # a repeated gram only repeats a posting
    # Postings of the grams the queries hold, and each gram's document frequency in the block.
    wanted = np.unique(q_codes)
    at = np.minimum(np.searchsorted(wanted, c_codes), len(wanted) - 1)
    hit = wanted[at] == c_codes
    c_rows, c_codes = c_rows[hit], c_codes[hit]
    g_of_c = np.searchsorted(wanted, c_codes)
    df = np.bincount(g_of_c, minlength=len(wanted))
    # Postings sorted by (gram, core length): a query takes only the slice of lengths it can pair with.
    span = int(core_len.max()) + 2
    post_key = g_of_c * span + core_len[c_rows]
    porder = np.argsort(post_key, kind="stable")
    post_key, post_rows = post_key[porder], c_rows[porder]
    # Each query's prefix: its q k + 1 rarest grams (ranked by df within the query).
    g_of_q = np.searchsorted(wanted, q_codes)
    order = np.lexsort((df[g_of_q], q_rows))
    q_rows, g_of_q = q_rows[order], g_of_q[order]
    n_grams = np.bincount(q_rows, minlength=nq)
    first = np.concatenate([[0], np.cumsum(n_grams)])[:-1]
    rank = np.arange(len(q_rows)) - first[q_rows]
    need = Q * k + 1
    short = need > n_grams  # too short for the q-gram bound
    sel = (rank < need[q_rows]) & ~short[q_rows]
    sq, sg = q_rows[sel], g_of_q[sel]
    # Expand each selected (query, gram) into its postings of a possible length: (query, core) pairs.
    a = np.searchsorted(post_key, sg * span + np.clip(lo[sq], 0, span - 1).astype(np.int64), "left")
    b = np.searchsorted(post_key, sg * span + np.clip(hi[sq], 0, span - 1).astype(np.int64), "right")
    lens = b - a
    pq = np.repeat(sq, lens)
    starts = np.repeat(a - np.concatenate([[0], np.cumsum(lens)])[:-1], lens)
    pc_ = post_rows[starts + np.arange(lens.sum())] if lens.sum() else np.zeros(0, np.int64)
    pairs = [np.unique(pq * nc + pc_)]
    if short.any():  # every core of a possible length
        by_len = np.argsort(core_len, kind="stable")
        sorted_len = core_len[by_len]
        for i in np.flatnonzero(short).tolist():
            a, b = np.searchsorted(sorted_len, lo[i], "left"), np.searchsorted(sorted_len, hi[i], "right")
            pairs.append(i * nc + by_len[a:b])
    code = np.concatenate(pairs)
    qq, cc = code // nc, code % nc
    cl = core_len[cc]
    ok = (cl >= lo[qq]) & (cl <= hi[qq])
    qq, cc = qq[ok], cc[ok]
    if not len(qq):
        return empty, empty, np.zeros(0, np.float32), 0
    sc = process.cpdist(query_arr[qq].tolist(), core_arr[cc].tolist(), scorer=fuzz.ratio, score_cutoff=thr,
                        dtype=np.float32)
    good = sc >= thr
    return qq[good], cc[good], sc[good], len(qq)
