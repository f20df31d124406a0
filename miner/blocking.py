"""Which title cores of an artist block a marked title needs to be scored against (blocking inside a block).

Scoring every marked title against every title of its block costs ``marked x block`` comparisons: the square
of the biggest blocks ("Traditional", "Various Artists" hold hundreds of thousands of tracks in real
exports). ``candidate_pairs`` finds, for each query (a marked title's core), the cores of the block that can
reach ``fuzz.ratio >= threshold`` and scores only those, with filters that lose nothing:

- **Length**: ``ratio = 100 (1 - d / (|a| + |b|))`` with ``d`` the Indel distance, so a partner of a query of
  length ``L`` has a length within ``[L t / (2 - t), L (2 - t) / t]`` (``t = threshold / 100``).
- **q-gram count** (q = 3, ``count_bound``): two strings of lengths ``m`` and ``n`` at ratio ``>= 100 t``
  share at least ``max(m, n) - q + 1 - q floor((m + n)(1 - t))`` q-grams (proof in ``count_bound``). The
  shared counts of a group of equally long queries and all cores of a possible length come from one sparse
  product (``_by_count``); only the pairs that reach the bound are scored.

The caller scores identical cores once (``match.match_partition`` collapses them in every block that is not
small: "Amazing Grace" recorded 500 times in one block is one core).

Which filter a block gets is a cost model measured on the benchmark catalog (``_count_is_cheaper``): a small
block is one ``process.cdist`` (C++, bit-parallel: about 10 to 15 ns a score on short titles); a big one is
scored group by group of equal query length against the cores of a possible length (``_by_length``), unless
the count filter's sparse product, estimated from the q-gram frequencies of a sample of the cores, is
cheaper. It costs about 12 ns per (query q-gram, core holding it) of the product, so it pays where titles'
q-grams are rare (real titles in many words and scripts) and not where a few hundred q-grams make up every
title (the benchmark generator's syllable words), though it scores 50 to 150 times fewer pairs there.
``MineSummary.compared`` counts the scores computed on whichever path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

Q = 3
#: Measured costs (2-core VM, CPU time, the biggest blocks of the benchmark's 5M catalog): ``_by_length``
#: 10 to 15 ns per score; ``_by_count`` about 12 ns per (query q-gram, core holding it) over the cores of
#: every length (the product, its index conversions, the bound) plus about 1 us per core (its q-grams).
_SCORE_S, _FLOP_S, _CORE_S = 11e-9, 12e-9, 1e-6
#: Cores (and queries) sampled to estimate the product's size.
_SAMPLE = 500
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


def is_small(n_queries: int, n_cores: int) -> bool:
    """Whether a block is scored whole with one ``cdist`` (no filter, and no need to collapse identical
    cores first)."""
    return n_queries * n_cores <= _SMALL


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


def _flat_grams(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(row, code) of every q-gram occurrence of each string ([m] int64 each, in row order; a string shorter
    than q has none): one UTF-32 buffer of all the strings, no padding. Codes pack three code points (21
    bits each) into an int64."""
    lens = np.fromiter(map(len, strings), np.int64, len(strings))
    n_grams = np.maximum(lens - (Q - 1), 0)
    total = int(n_grams.sum())
    if not total:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    u = np.frombuffer("".join(strings).encode("utf-32-le", "surrogatepass"), np.uint32).astype(np.int64)
    codes = (u[:-2] << 42) | (u[1:-1] << 21) | u[2:]
    rows = np.repeat(np.arange(len(strings)), n_grams)
    first = np.cumsum(lens) - lens  # where each string starts in the buffer
    pos = np.arange(total) - np.repeat(np.cumsum(n_grams) - n_grams - first, n_grams)
    return rows, codes[pos]


def count_bound(m: np.ndarray | int, n: np.ndarray | int, t: float) -> np.ndarray:
    """The fewest q-grams (counted with multiplicity) two strings of lengths ``m`` and ``n`` share when their
    ``fuzz.ratio`` is at least ``100 t``; at most 0 where the count filter cannot prune.

    ``fuzz.ratio(a, b) = 100 (1 - d / (m + n))`` with ``d`` the Indel distance (insertions and deletions
    only), so ``ratio >= 100 t`` means ``d <= D = floor((m + n)(1 - t))``. Turn ``a`` into ``b`` with ``d``
    edits: a deleted character of ``a`` lies in at most ``q`` of its ``m - q + 1`` q-gram occurrences, an
    insertion point inside at most ``q - 1``; every other occurrence of ``a`` survives whole and contiguous
    in ``b``, each at its own position of ``b``, so the multisets of q-grams share at least
    ``m - q + 1 - q d`` of them. The same argument from ``b`` (the reverse edits) gives ``n - q + 1 - q d``,
    hence ``common >= max(m, n) - q + 1 - q D``. (Ukkonen's q-gram lemma, for the Indel distance.)"""
    m, n = np.asarray(m, np.int64), np.asarray(n, np.int64)
    d = np.floor((m + n) * (1.0 - t) + 1e-9).astype(np.int64)  # + 1e-9: never below the exact bound
    return np.maximum(m, n) - Q + 1 - Q * d


def _by_count(queries: list[str], cores: list[str], thr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``candidate_pairs`` with the length filter and the q-gram count filter (``count_bound``): each group
    of equally long queries is multiplied (a sparse product, C++) with the q-gram incidence of the cores of a
    possible length, and only the pairs sharing enough q-grams are scored.

    The queries' q-grams are counted once each; a query with a repeated q-gram (``dup`` occurrences beyond
    its distinct ones) may share that many fewer distinct q-grams, so its bound is lowered by ``dup``. A core's
    repeated q-gram is counted as often as it occurs, which can only raise the count. Pairs whose bound is at
    most 0 (short titles: at 90, both at most 5 characters) are scored without the filter."""
    from scipy import sparse  # start-up speed: scipy (0.2 s) only when a block is large enough to filter

    t = thr / 100.0
    nq, nc = len(queries), len(cores)
    q_len = np.fromiter(map(len, queries), np.int64, nq)
    core_len = np.fromiter(map(len, cores), np.int64, nc)
    q_rows, q_codes = _flat_grams(queries)
    order = np.lexsort((q_codes, q_rows))
    q_rows, q_codes = q_rows[order], q_codes[order]
    first = np.ones(len(q_rows), bool)
    first[1:] = (q_rows[1:] != q_rows[:-1]) | (q_codes[1:] != q_codes[:-1])
    dup = np.bincount(q_rows, minlength=nq) - np.bincount(q_rows[first], minlength=nq)
    q_rows, q_codes = q_rows[first], q_codes[first]
    c_rows, c_codes = _flat_grams(cores)
    wanted = pd.Index(np.unique(q_codes))  # only the grams some query holds can count
    n_g = max(1, len(wanted))
    c_gram = wanted.get_indexer(c_codes)  # a hash lookup; -1: no query holds it
    hit = c_gram >= 0
    by_len = np.argsort(core_len, kind="stable")
    pos = np.empty(nc, np.int64)
    pos[by_len] = np.arange(nc)
    sorted_len = core_len[by_len]
    qm = sparse.csr_matrix((np.ones(len(q_rows), np.int32), (q_rows, wanted.get_indexer(q_codes))),
                           shape=(nq, n_g))
    # cores (sorted by length) x grams: a length range is a slice of rows
    cm = sparse.csr_matrix((np.ones(int(hit.sum()), np.int32), (pos[c_rows[hit]], c_gram[hit])), shape=(nc, n_g))
    lengths, q_group = np.unique(q_len, return_inverse=True)
    lo, hi, _ = _length_bounds(lengths.astype(np.float64), t)
    out_q, out_c = [], []
    for g, m in enumerate(lengths.tolist()):
        a, b = np.searchsorted(sorted_len, lo[g], "left"), np.searchsorted(sorted_len, hi[g], "right")
        if b <= a:
            continue
        qs = np.flatnonzero(q_group == g)
        need = count_bound(m, sorted_len[a:b], t)  # [b - a]
        prod = (cm[a:b] @ qm[qs].T.tocsr()).tocoo()  # shared q-grams: [cores of the range, queries]
        bound = need[prod.row] - dup[qs[prod.col]]
        keep = (prod.data >= bound) & (bound > 0)
        out_q.append(qs[prod.col[keep]])
        out_c.append(by_len[a + prod.row[keep]])
        for d in np.unique(dup[qs]).tolist():  # pairs the filter cannot prune: every one scored
            free = by_len[a + np.flatnonzero(need - d <= 0)]
            if len(free):
                qd = qs[dup[qs] == d]
                out_q.append(np.repeat(qd, len(free)))
                out_c.append(np.tile(free, len(qd)))
    qq = np.concatenate(out_q) if out_q else np.zeros(0, np.int64)
    cc = np.concatenate(out_c) if out_c else np.zeros(0, np.int64)
    if not len(qq):
        return qq, cc, np.zeros(0, np.float32), 0
    q_arr, c_arr = np.asarray(queries, dtype=object), np.asarray(cores, dtype=object)
    sc = process.cpdist(q_arr[qq].tolist(), c_arr[cc].tolist(), scorer=fuzz.ratio, score_cutoff=thr, dtype=np.float32)
    good = sc >= thr
    return qq[good], cc[good], sc[good], len(qq)


def _length_bounds(lengths: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(min partner length, max partner length, max edit distance k) for query lengths at ratio ``t``."""
    if t <= 0:
        big = np.full(len(lengths), 1 << 30)
        return np.zeros(len(lengths)), big, big
    lo = np.ceil(lengths * t / (2 - t) - 1e-9)
    hi = np.floor(lengths * (2 - t) / t + 1e-9)
    k = np.floor(2 * lengths * (1 - t) / t + 1e-9).astype(np.int64)
    return lo, hi, k


def _count_is_cheaper(queries: list[str], cores: list[str], thr: float) -> bool:
    """Whether ``_by_count`` is estimated cheaper than ``_by_length`` (costs measured: ``_SCORE_S``...): the
    length filter's scores are counted exactly, the product's size from the q-gram frequencies of a sample
    of ``_SAMPLE`` cores and as many queries."""
    nq, nc = len(queries), len(cores)
    core_len = np.sort(np.fromiter(map(len, cores), np.int64, nc))
    lengths, per_len = np.unique(np.fromiter(map(len, queries), np.int64, nq), return_counts=True)
    lo, hi, _ = _length_bounds(lengths.astype(np.float64), thr / 100.0)
    scores = int((per_len * (np.searchsorted(core_len, hi, "right") - np.searchsorted(core_len, lo, "left"))).sum())
    if scores * _SCORE_S <= nc * _CORE_S:  # the cores' q-grams alone would cost more
        return False
    c_sample, q_sample = cores[::max(1, nc // _SAMPLE)], queries[::max(1, nq // _SAMPLE)]
    df = pd.Series(_flat_grams(c_sample)[1]).value_counts()
    per_pair = df.reindex(_flat_grams(q_sample)[1]).fillna(0).to_numpy().sum() / (len(c_sample) * len(q_sample))
    flops = per_pair * nc * nq
    return bool(flops * _FLOP_S + nc * _CORE_S < scores * _SCORE_S)


def candidate_pairs(queries: list[str], cores: list[str], threshold: float, method: str | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Every (query, core) pair with ``fuzz.ratio >= threshold``: (query index [p], core index [p], score [p]
    float32, number of scores computed). Each core is scored once per query (collapse identical cores first).
    ``method``: "all", "length" or "count" to force a path (tests, benchmarks); None: the cost model."""
    nq, nc = len(queries), len(cores)
    empty = np.zeros(0, np.int64)
    if not nq or not nc:
        return empty, empty, np.zeros(0, np.float32), 0
    thr = float(threshold)
    if method is None:
        method = ("all" if is_small(nq, nc) else
                  "count" if _count_is_cheaper(queries, cores, thr) else "length")
    if method == "all":
        m = process.cdist(queries, cores, scorer=fuzz.ratio, score_cutoff=thr, dtype=np.float32)
        qi, ci = np.nonzero(m >= thr)
        return qi, ci, m[qi, ci], nq * nc
    if method == "count":
        return _by_count(queries, cores, thr)
    if method == "length":
        return _by_length(queries, cores, thr)
    raise ValueError(f"unknown method {method!r}: give all, length or count")
