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
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process

Q = 3
#: Below this many (query x core) scores a block is scored whole with one ``process.cdist`` (cheaper there).
SMALL_BLOCK = 250_000


def _gram_codes(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row, code) of every distinct q-gram of each string ([m] int64 each); a string shorter than q is one
    gram of its own. Codes pack three code points (21 bits each) into an int64."""
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
    # distinct (row, code) pairs
    order = np.lexsort((codes, rows))
    rows, codes = rows[order], codes[order]
    keep = np.ones(len(rows), bool)
    keep[1:] = (rows[1:] != rows[:-1]) | (codes[1:] != codes[:-1])
    return rows[keep], codes[keep]


def _length_bounds(lengths: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(min partner length, max partner length, max edit distance k) for query lengths at ratio ``t``."""
    if t <= 0:
        big = np.full(len(lengths), 1 << 30)
        return np.zeros(len(lengths)), big, big
    lo = np.ceil(lengths * t / (2 - t) - 1e-9)
    hi = np.floor(lengths * (2 - t) / t + 1e-9)
    k = np.floor(2 * lengths * (1 - t) / t + 1e-9).astype(np.int64)
    return lo, hi, k


def candidate_pairs(queries: list[str], cores: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray, int]:
    """Every (query, core) pair with ``fuzz.ratio >= threshold``: (query index [p], core index [p], score [p]
    float32, number of scores computed). ``cores`` should be distinct (each is scored once per query)."""
    nq, nc = len(queries), len(cores)
    empty = np.zeros(0, np.int64)
    if not nq or not nc:
        return empty, empty, np.zeros(0, np.float32), 0
    thr = float(threshold)
    if nq * nc <= SMALL_BLOCK:
        m = process.cdist(queries, cores, scorer=fuzz.ratio, score_cutoff=thr, dtype=np.float32)
        qi, ci = np.nonzero(m >= thr)
        return qi, ci, m[qi, ci], nq * nc
    t = thr / 100.0
    core_len = np.fromiter((len(c) for c in cores), np.int64, nc)
    q_len = np.fromiter((len(c) for c in queries), np.int64, nq)
    lo, hi, k = _length_bounds(q_len.astype(np.float64), t)
    q_rows, q_codes = _gram_codes(queries)
    c_rows, c_codes = _gram_codes(cores)
    # Postings of the grams the queries hold, and each gram's document frequency in the block.
    wanted = np.unique(q_codes)
    hit = np.isin(c_codes, wanted)
    c_rows, c_codes = c_rows[hit], c_codes[hit]
    g_of_c = np.searchsorted(wanted, c_codes)
    df = np.bincount(g_of_c, minlength=len(wanted))
    post_order = np.argsort(g_of_c, kind="stable")
    post_rows = c_rows[post_order]
    post_start = np.concatenate([[0], np.cumsum(df)])
    g_of_q = np.searchsorted(wanted, q_codes)
    q_start = np.concatenate([[0], np.cumsum(np.bincount(q_rows, minlength=nq))])
    by_len = np.argsort(core_len, kind="stable")
    sorted_len = core_len[by_len]
    out_q, out_c, out_s = [], [], []
    scored = 0
    for i in range(nq):
        grams = g_of_q[q_start[i]:q_start[i + 1]]
        need = Q * int(k[i]) + 1
        if need > len(grams):  # too short for the q-gram bound: every core of a possible length
            a, b = np.searchsorted(sorted_len, lo[i], "left"), np.searchsorted(sorted_len, hi[i], "right")
            cand = by_len[a:b]
        else:
            rare = grams[np.argsort(df[grams], kind="stable")[:need]]
            pieces = [post_rows[post_start[g]:post_start[g + 1]] for g in rare.tolist()]
            cand = np.unique(np.concatenate(pieces)) if pieces else empty
            if len(cand):
                cl = core_len[cand]
                cand = cand[(cl >= lo[i]) & (cl <= hi[i])]
        if not len(cand):
            continue
        scored += len(cand)
        m = process.cdist([queries[i]], [cores[j] for j in cand.tolist()], scorer=fuzz.ratio, score_cutoff=thr,
                          dtype=np.float32)[0]
        ok = np.flatnonzero(m >= thr)
        if len(ok):
            out_q.append(np.full(len(ok), i, np.int64))
            out_c.append(cand[ok])
            out_s.append(m[ok])
    if not out_q:
        return empty, empty, np.zeros(0, np.float32), scored
    return np.concatenate(out_q), np.concatenate(out_c), np.concatenate(out_s), scored
