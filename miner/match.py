"""Matching inside artist blocks: pure functions of the rows of one shuffle partition.

In a block (the rows sharing an artist key: a row credited to several artists lies in each of their
blocks), every title with an instrumental marker is paired with the titles without one that pass the rules;
``blocking.candidate_pairs`` scores only the titles that can reach the threshold, so a giant block costs
marked titles x a few, not marked titles x block size. A pair (original, instrumental) is a candidate when:

1. both cores (``normalize.title_cores`` after removing the marker) are non-empty and their rapidfuzz
   ``fuzz.ratio`` is at least ``title_threshold`` (100 when equal), either as they are or with the alternate
   titles (``alternates.without_alternates``: "(죽어도 너야)" after an English title) removed from one side;
2. unless equal, neither core starts with the other: "love me" never pairs with "love me do";
3. they hold the same numbers (digit runs without leading zeros, and Roman numerals II..XX): "part 2" never
   pairs with "part 3", "part ii" never with "part iii";
4. they carry the same version tags (``markers.version_tags``): "(Live)", "- Radio Edit", "(Acapella)"...
   on one side only rejects;
5. the durations differ by at most ``max(duration_tolerance_s, duration_tolerance_rel * longer duration)``;
6. in a block of a credit that says nothing about the performer ("Various Artists", "Traditional", a
   classical composer: ``evidence.ReleaseEvidence``), they show evidence of the same release.

"(Clean)", "(Explicit)" and "(Clean Version)" are not versions: both the clean and the explicit original pair
with the instrumental, which has no words to clean.

Titles that both carry a marker never pair (an instrumental is not an original), and every copy of an
original released twice (album and single) pairs with the instrumental.

``match_partition`` runs these steps: ``PartitionRows.of`` (what the rules read of each row),
``marked_blocks`` (the blocks with a marked title), then per block ``match_block``: ``block_variants``
(the cores to compare), ``title_hits`` (the scores that reach the threshold), the cheap rules at once and
the rest pair by pair; ``candidate_table`` writes the pairs found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz

from catalog_schemas import CANDIDATES
from miner.alternates import without_alternates
from miner.blocking import candidate_pairs, is_small, length_bucket
from miner.evidence import ReleaseEvidence
from miner.markers import MarkerSet, version_tags
from miner.normalize import fold, title_cores
from miner.title_features import TitleFeatures, core_variants, title_features

_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"\b(?:ii|iii|iv|vi|vii|viii|ix|xi|xii|xiii|xiv|xv|xvi|xvii|xviii|xix|xx)\b")

#: Columns of the rows given to ``match_partition``.
BLOCK_COLUMNS = ("track_id", "artist", "title", "duration_s", "audio_path", "genre", "label",
                 "release_date", "album", "isrc", "artist_key", "marked")
#: The columns that can show two rows are of the same release (``evidence.ReleaseEvidence.same_release``).
RELEASE_COLUMNS = ("album", "label", "release_date", "isrc")


@dataclass(frozen=True)
class MatchRules:
    """The thresholds of a match. ``title_threshold``: minimum ``fuzz.ratio`` (0-100) of the cores;
    ``duration_tolerance_s`` / ``duration_tolerance_rel``: allowed |duration difference|, seconds and
    fraction of the longer track (the larger of the two applies); ``evidence``: where a pair also needs
    evidence of the same release (``evidence.ReleaseEvidence``)."""

    markers: MarkerSet = field(default_factory=MarkerSet)
    title_threshold: float = 90.0
    duration_tolerance_s: float = 3.0
    duration_tolerance_rel: float = 0.01
    evidence: ReleaseEvidence = field(default_factory=ReleaseEvidence)

    def duration_ok(self, d_orig: np.ndarray | float, d_inst: np.ndarray | float):
        tol = np.maximum(self.duration_tolerance_s, self.duration_tolerance_rel * np.maximum(d_orig, d_inst))
        return np.abs(np.asarray(d_inst) - np.asarray(d_orig)) <= tol


def numbers(core: str) -> tuple[str, ...]:
    """The numbers in a title core, sorted: digit runs without leading zeros, and Roman numerals II..XX."""
    found = [d.lstrip("0") or "0" for d in _DIGITS.findall(core)] + _ROMAN.findall(core)
    return tuple(sorted(found))


def title_verdict(orig_core: str, inst_core: str, orig_tags: frozenset, inst_tags: frozenset,
                  score: float, threshold: float) -> str | None:
    """Why two title cores do not pair (``None``: they do). ``score``: their ``fuzz.ratio``."""
    if not orig_core or not inst_core:
        return "empty-title"
    if orig_core != inst_core:
        if orig_core.startswith(inst_core) or inst_core.startswith(orig_core):
            return "title-prefix"
        if score < threshold:
            return "title-differs"
    if numbers(orig_core) != numbers(inst_core):
        return "numbers-differ"
    if orig_tags != inst_tags:
        return "version-differs"
    return None


@dataclass(frozen=True)
class Explanation:
    """Why a pair of titles is or is not a candidate (``reason`` None: it is)."""

    reason: str | None
    title_score: float
    original_core: str
    instrumental_core: str
    marker: str
    duration_delta_s: float | None


def explain(original_title: str, instrumental_title: str, original_duration_s: float | None = None,
            instrumental_duration_s: float | None = None, rules: MatchRules = MatchRules()) -> Explanation:
    """Apply the title and duration rules to one pair of titles (the artist check is the caller's)."""
    fo, fi = fold([original_title, instrumental_title]).to_pylist()
    if rules.markers.find(fo) is not None:
        return Explanation("original-is-marked", 0.0, "", "", "", None)
    stripped, marker = rules.markers.strip(fi, instrumental_title)
    if not marker:
        return Explanation("no-marker", 0.0, "", "", "", None)
    co, ci = title_cores([fo, stripped]).to_pylist()
    score = 100.0 if co == ci else float(fuzz.ratio(co, ci))
    reason = title_verdict(co, ci, version_tags(fo), version_tags(stripped), score, rules.title_threshold)
    if reason is not None:  # the alternate title off one side
        ao, ai = without_alternates(fo), without_alternates(stripped)
        for o_text, i_text in ((ao, None), (None, ai)):
            if (o_text or i_text) is None:
                continue
            alt_o, alt_i = title_cores([o_text or fo, i_text or stripped]).to_pylist()
            alt_score = 100.0 if alt_o == alt_i else float(fuzz.ratio(alt_o, alt_i))
            if title_verdict(alt_o, alt_i, version_tags(fo), version_tags(stripped), alt_score,
                             rules.title_threshold) is None:
                reason, score, co, ci = None, alt_score, alt_o, alt_i
                break
    delta = None
    if original_duration_s is not None and instrumental_duration_s is not None:
        delta = instrumental_duration_s - original_duration_s
        if reason is None and not rules.duration_ok(original_duration_s, instrumental_duration_s):
            reason = "duration-differs"
    return Explanation(reason, score, co, ci, marker, delta)


def _string_column(t: pa.Table, name: str) -> pa.Array:
    if name not in t.column_names:
        return pa.nulls(t.num_rows, pa.string())
    col = t.column(name).combine_chunks()
    return col if col.type == pa.string() else col.cast(pa.string())


@dataclass
class PartitionRows:
    """What the rules read of each row of a partition ([n] each): ``marked``, the ``titles``
    (``TitleFeatures``), ``any_alt`` (``titles.has_alt``, None when no row has an alternate title), ``dur``
    (seconds), ``genre``, the ``release`` columns, the block ``keys`` and the length ``bucket`` of a giant
    block's row (-1: not in a giant block)."""

    marked: np.ndarray
    titles: TitleFeatures
    any_alt: np.ndarray | None
    dur: np.ndarray
    genre: list[str | None]
    release: dict[str, pa.Array]
    keys: list[str]
    bucket: np.ndarray
    _tags: dict[int, frozenset] = field(default_factory=dict)

    @classmethod
    def of(cls, t: pa.Table, markers: MarkerSet) -> "PartitionRows":
        """The rows of ``t`` (``BLOCK_COLUMNS``, optionally ``block`` and ``bucket``)."""
        marked = t.column("marked").to_numpy(zero_copy_only=False).astype(bool)
        tf = title_features(_string_column(t, "title"), marked, markers)
        bucket = (t.column("bucket").to_numpy(zero_copy_only=False) if "bucket" in t.column_names
                  else np.full(t.num_rows, -1))
        return cls(marked, tf, tf.has_alt if tf.has_alt.any() else None,
                   t.column("duration_s").to_numpy().astype(np.float64), _string_column(t, "genre").to_pylist(),
                   {c: _string_column(t, c) for c in RELEASE_COLUMNS}, _string_column(t, "artist_key").to_pylist(),
                   bucket)

    def tags(self, i: int) -> frozenset:
        """``markers.version_tags`` of row ``i``'s title (marker removed), computed once."""
        tg = self._tags.get(i)
        if tg is None:
            tg = self._tags[i] = version_tags(self.titles.folded[i])
        return tg

    def release_row(self, i: int) -> dict:
        return {c: self.release[c][i].as_py() for c in RELEASE_COLUMNS}


class TitleHits(NamedTuple):
    """Scored title pairs of a block at or above the threshold: per hit, the index of the ``query`` variant
    (an instrumental's core), of the ``entry`` (a distinct original core), its ``score``, and the index of
    the ``original`` variant."""

    query: np.ndarray
    entry: np.ndarray
    score: np.ndarray
    original: np.ndarray


def new_stats() -> dict:
    """The counts of ``match_partition`` (see there), zero."""
    return {"blocks": 0, "compared": 0, "evidence_needed": 0, "evidence_missing": 0, "block_keys": [],
            "sub_blocks": 0}


def marked_blocks(t: pa.Table, marked: np.ndarray) -> list[np.ndarray]:
    """The row indices of each block of ``t`` that holds a marked title, blocks in key order. A block is an
    artist key, or a sub-block of a giant one (column ``block``: ``giants``). Rows arrive filtered to such
    blocks, but a caller may pass any rows."""
    group = _string_column(t, "block") if "block" in t.column_names else _string_column(t, "artist_key")
    order = pc.sort_indices(group).to_numpy()
    skeys = group.take(pa.array(order))
    if len(order) > 1:
        change = pc.not_equal(skeys.slice(1), skeys.slice(0, len(order) - 1)).to_numpy(zero_copy_only=False)
        bounds = np.concatenate([[0], np.flatnonzero(change) + 1, [len(order)]])
    else:
        bounds = np.array([0, len(order)])
    block_has_mark = np.add.reduceat(marked[order].astype(np.int64), bounds[:-1]) > 0
    return [order[bounds[b]:bounds[b + 1]] for b in np.flatnonzero(block_has_mark).tolist()]


#: Core variants of some rows: (strings, row of each, whether it is the alternate-free core).
Variants = tuple[np.ndarray, np.ndarray, np.ndarray]


def block_variants(rows: PartitionRows, block: np.ndarray, stats: dict) -> tuple[Variants, Variants] | None:
    """(instrumental variants, original variants) of a block (``core_variants``: strings, row, is_alternate),
    rows without a core left out; a giant block's sub-block keeps the original variants of its length
    bucket. None when a side is empty."""
    mk = rows.marked[block]
    has_core = rows.titles.has_core
    inst, orig = block[mk], block[~mk]
    inst, orig = inst[has_core[inst]], orig[has_core[orig]]
    if not len(inst) or not len(orig):
        return None
    cores, alt_cores = rows.titles.cores, rows.titles.alt_cores
    queries = core_variants(inst, cores, alt_cores, rows.any_alt)
    o_str, o_row, o_alt = core_variants(orig, cores, alt_cores, rows.any_alt)
    b_here = int(rows.bucket[block[0]])
    if b_here >= 0:  # a sub-block of a giant block holds the original variants of its length bucket
        mine = length_bucket(np.fromiter(map(len, o_str), np.int64, len(o_str))) == b_here
        o_str, o_row, o_alt = o_str[mine], o_row[mine], o_alt[mine]
        stats["sub_blocks"] += 1
        if not len(o_str):
            return None
    return queries, (o_str, o_row, o_alt)


def title_hits(q_str: np.ndarray, o_str: np.ndarray, threshold: float, stats: dict
               ) -> tuple[TitleHits, np.ndarray] | None:
    """(the hits of the query strings ``q_str`` among the original strings ``o_str``, the entries scored);
    None when there is none. ``blocking.candidate_pairs`` scores only what can reach ``threshold``."""
    if is_small(len(q_str), len(o_str)):  # each variant its own entry
        entries, members, m_start = o_str, None, None
    else:  # identical cores scored once (a giant credit records "Amazing Grace" hundreds of times)
        entry_of, entries = pd.factorize(o_str)
        members = np.argsort(entry_of, kind="stable")
        m_start = np.concatenate([[0], np.cumsum(np.bincount(entry_of, minlength=len(entries)))])
    qi, ei, sc, n = candidate_pairs(q_str.tolist(), list(entries), threshold)
    stats["compared"] += n
    if not len(qi):
        return None
    if members is None:  # each entry is one original variant
        return TitleHits(qi, ei, sc, ei), entries
    # Each (query variant, entry) hit -> (query variant, original variant).
    cnt = m_start[ei + 1] - m_start[ei]
    mem = members[np.repeat(m_start[ei] - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))]
    return TitleHits(np.repeat(qi, cnt), np.repeat(ei, cnt), np.repeat(sc, cnt), mem), entries


def match_block(rows: PartitionRows, block: np.ndarray, rules: MatchRules, found: list[tuple[int, int, float]],
                stats: dict) -> None:
    """Add to ``found`` the (original row, instrumental row, title score) of each candidate of one block
    (row indices ``block``), and count it in ``stats``."""
    stats["blocks"] += 1
    block_key = rows.keys[int(block[0])]
    stats["block_keys"].append(block_key)
    variants = block_variants(rows, block, stats)
    if variants is None:
        return
    (q_str, q_row, q_alt), (o_str, o_row, o_alt) = variants
    thr = float(rules.title_threshold)
    scored = title_hits(q_str, o_str, thr, stats)
    if scored is None:
        return
    hits, entries = scored
    ii, jj = q_row[hits.query], o_row[hits.original]
    # The cheap rules at once: the alternate title off one side only, the durations.
    ok = ~(q_alt[hits.query] & o_alt[hits.original]) & rules.duration_ok(rows.dur[jj], rows.dur[ii])
    done: set[tuple[int, int]] = set()
    for a, e, score, i, j in zip(hits.query[ok].tolist(), hits.entry[ok].tolist(), hits.score[ok].tolist(),
                                 ii[ok].tolist(), jj[ok].tolist()):
        ci, co = q_str[a], entries[e]
        score = 100.0 if ci == co else float(score)
        if (j, i) in done or title_verdict(co, ci, rows.tags(j), rows.tags(i), score, thr) is not None:
            continue
        done.add((j, i))
        if rules.evidence.applies(block_key, rows.genre[j], rows.genre[i]):
            stats["evidence_needed"] += 1
            if not rules.evidence.same_release(rows.release_row(j), rows.release_row(i)):
                stats["evidence_missing"] += 1
                continue
        found.append((j, i, score))


def candidate_table(t: pa.Table, rows: PartitionRows, found: list[tuple[int, int, float]]) -> pa.Table:
    """The CANDIDATES rows of the (original row, instrumental row, title score) triples ``found``."""
    pairs_o, pairs_i, scores = (list(x) for x in zip(*found))
    po, pi = pa.array(pairs_o, pa.int64()), pa.array(pairs_i, pa.int64())
    d_o, d_i = rows.dur[pairs_o], rows.dur[pairs_i]

    def col(name: str, idx: pa.Array) -> pa.Array:
        return _string_column(t, name).take(idx)

    out = pa.table({
        "original_id": col("track_id", po),
        "instrumental_id": col("track_id", pi),
        "artist": col("artist", po),
        "artist_key": col("artist_key", po),
        "original_title": col("title", po),
        "instrumental_title": col("title", pi),
        "marker": pa.array(rows.titles.markers[pairs_i].tolist(), pa.string()),
        "title_score": pa.array(scores, pa.float64()),
        "original_duration_s": pa.array(d_o),
        "instrumental_duration_s": pa.array(d_i),
        "duration_delta_s": pa.array(d_i - d_o),
        "original_audio_path": col("audio_path", po),
        "instrumental_audio_path": col("audio_path", pi),
        "genre": col("genre", po),
        "label": col("label", po),
        "release_date": col("release_date", po),
    })
    return out.cast(CANDIDATES)


def match_partition(rows: pd.DataFrame | pa.Table, rules: MatchRules) -> tuple[pa.Table, dict]:
    """Candidates (CANDIDATES columns, unsorted) of every artist block in ``rows`` (``BLOCK_COLUMNS``; each
    block whole), and counts: ``blocks`` (artist keys with a marked title), ``compared`` (title scores
    computed: ``blocking.candidate_pairs``), ``evidence_needed`` / ``evidence_missing`` (pairs that passed
    every other rule in a block where ``rules.evidence`` applies / of them, those rejected for lack of
    same-release evidence), ``block_keys`` (the keys of the blocks, to count them once across partitions),
    ``sub_blocks`` (sub-blocks of giant blocks)."""
    t = pa.Table.from_pandas(rows, preserve_index=False) if isinstance(rows, pd.DataFrame) else rows
    stats = new_stats()
    if t.num_rows == 0:
        return CANDIDATES.empty_table(), stats
    part = PartitionRows.of(t, rules.markers)
    found: list[tuple[int, int, float]] = []
    for block in marked_blocks(t, part.marked):
        match_block(part, block, rules, found, stats)
    if not found:
        return CANDIDATES.empty_table(), stats
    return candidate_table(t, part, found), stats
