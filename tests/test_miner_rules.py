"""Each matching rule on its own small catalog, through ``mine_pairs``: the exact candidate ids."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from miner import MinerConfig, mine_pairs


def write_catalog(path: Path, rows: list[tuple], header=("track_id", "artist", "title", "duration_s")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def mine(tmp_path: Path, rows: list[tuple], config: MinerConfig = MinerConfig(), **kw):
    cat = write_catalog(tmp_path / "catalog.csv", rows, **kw)
    summary = mine_pairs(cat, tmp_path / "out", config)
    t = pq.read_table(tmp_path / "out" / "candidates.parquet")
    return {(o, i) for o, i in zip(t.column("original_id").to_pylist(), t.column("instrumental_id").to_pylist())}, summary


CASES = {
    "marker spellings": (
        [("o1", "A", "Song", 200), ("i1", "A", "Song (Instrumental)", 201),
         ("o2", "B", "Song", 200), ("i2", "B", "Song - Instrumental", 200),
         ("o3", "C", "Song", 200), ("i3", "C", "Song [Instrumental Version]", 200),
         ("o4", "D", "Song", 200), ("i4", "D", "Song (Official Instrumental)", 200),
         ("o5", "E", "Song", 200), ("i5", "E", "Song (Instrumental Mix)", 200),
         ("o6", "F", "Song", 200), ("i6", "F", "Song (Inst.)", 200),
         ("o7", "G", "Song", 200), ("i7", "G", "Song (Instr.)", 200),
         ("o8", "H", "Song", 200), ("i8", "H", "Song (Off Vocal)", 200),
         ("o9", "I", "Song", 200), ("i9", "I", "song - inst.", 200),
         ("o10", "J", "Song", 200), ("i10", "J", "Song (Acapella)", 200)],  # a cappella is no marker
        {("o1", "i1"), ("o2", "i2"), ("o3", "i3"), ("o4", "i4"), ("o5", "i5"), ("o6", "i6"), ("o7", "i7"),
         ("o8", "i8"), ("o9", "i9")},
    ),
    "numbers": (
        [("p2", "A", "Part 2", 200), ("p3i", "A", "Part 3 (Instrumental)", 200), ("p2i", "A", "Part 2 (Instrumental)", 200),
         ("s2", "B", "Song 2", 180), ("s3i", "B", "Song 3 (Instrumental)", 180),
         ("l2", "C", "The Long Journey Home Part 2", 300), ("l3i", "C", "The Long Journey Home Part 3 (Instrumental)", 300),
         ("r2", "D", "Chapter II", 200), ("r3i", "D", "Chapter III (Instrumental)", 200)],
        {("p2", "p2i")},
    ),
    "prefixes": (
        [("lm", "A", "Love Me", 200), ("lmdi", "A", "Love Me Do (Instrumental)", 200),
         ("lmd", "A", "Love Me Do", 200), ("lmi", "B", "Love Me (Instrumental)", 200),
         ("lmd2", "B", "Love Me Do", 200)],
        {("lmd", "lmdi")},
    ),
    "versions": (
        [("s", "A", "Song", 200), ("live", "A", "Song (Live)", 200.5), ("rmx", "A", "Song (Remix)", 200.2),
         ("ac", "A", "Song (Acoustic)", 199), ("acap", "A", "Song (Acapella)", 200), ("ext", "A", "Song (Extended Mix)", 200),
         ("demo", "A", "Song (Demo)", 200), ("si", "A", "Song (Instrumental)", 200),
         ("livei", "A", "Song (Live) (Instrumental)", 201)],
        {("s", "si"), ("live", "livei")},
    ),
    "radio edits": (
        [("h", "A", "Hit", 240), ("hre", "A", "Hit - Radio Edit", 239), ("hrei", "A", "Hit - Radio Edit (Instrumental)", 239),
         ("hi", "A", "Hit (Instrumental)", 241), ("h2i", "A", "Hit (Instrumental Radio Edit)", 238)],
        {("h", "hi"), ("hre", "hrei"), ("hre", "h2i")},
    ),
    "other artists": (
        [("a", "Artist One", "Shared Title", 200), ("b", "Artist Two", "Shared Title (Instrumental)", 200),
         ("c", "Artist Two", "Other Song", 200)],
        set(),
    ),
    "featured credits": (
        [("f1", "A", "Song (feat. Guest)", 200), ("f1i", "A", "Song (Instrumental)", 200),
         ("f2", "B", "Tune ft. Guest", 200), ("f2i", "B", "Tune (Instrumental)", 200),
         ("f3", "C", "Track (with Guest)", 200), ("f3i", "C", "Track (Instrumental)", 200),
         ("f4", "D feat. Guest", "Piece", 200), ("f4i", "D", "Piece (Instrumental)", 200)],
        {("f1", "f1i"), ("f2", "f2i"), ("f3", "f3i"), ("f4", "f4i")},
    ),
    "both titles marked": (
        [("m1", "A", "Song (Instrumental)", 200), ("m2", "A", "Song (Inst.)", 200)],
        set(),
    ),
    "orphan instrumentals": (
        [("o", "A", "Song", 200), ("orph", "A", "Another Song (Instrumental)", 200), ("orph2", "B", "Alone (Instrumental)", 100)],
        set(),
    ),
    "unicode and punctuation": (
        [("c", "A", "Café del Mar", 200), ("ci", "A", "Cafe Del Mar (Instrumental)", 200),
         ("s", "A", "Señorita", 200), ("si", "A", "SENORITA (Instrumental)", 200),
         ("d", "A", "Don't Stop", 200), ("di", "A", "Dont Stop (Instrumental)", 200),
         ("la", "A", "L.A. Nights", 200), ("lai", "A", "LA Nights (Instrumental)", 200),
         ("m", "A", "Me & You", 200), ("mi", "A", "Me and You (Instrumental)", 200),
         ("k", "방탄소년단", "상남자 (Boy In Luv)", 200), ("ki", "방탄소년단", "상남자 (Boy In Luv) (Inst.)", 200)],
        {("c", "ci"), ("s", "si"), ("d", "di"), ("la", "lai"), ("m", "mi"), ("k", "ki")},
    ),
    "artist credits": (
        [("t", "The Band", "Song", 200), ("ti", "Band", "Song (Instrumental)", 200),
         ("j", "Jay-Z", "Song", 200), ("ji", "JAY Z", "Song (Instrumental)", 200),
         ("ab", "Alpha & Beta", "Tune", 200), ("abi", "Alpha", "Tune (Instrumental)", 200),
         ("af", "Gamma feat. Delta", "Tune", 200), ("afi", "Gamma", "Tune (Instrumental)", 200),
         ("d", "Delta", "Tune", 200)],
        {("t", "ti"), ("j", "ji"), ("ab", "abi"), ("af", "afi")},
    ),
    "durations": (
        [("a", "A", "Near", 200), ("ai", "A", "Near (Instrumental)", 202.9),
         ("b", "A", "Far", 200), ("bi", "A", "Far (Instrumental)", 203.5),
         ("c", "A", "Epic", 700), ("ci", "A", "Epic (Instrumental)", 706.5),
         ("d", "A", "Shorter", 200), ("di", "A", "Shorter (Instrumental)", 197.2)],
        {("a", "ai"), ("c", "ci"), ("d", "di")},
    ),
    "album and single": (
        [("alb", "A", "Hit", 200.0), ("sgl", "A", "Hit", 200.2), ("cmp", "A", "Hit", 200.1),
         ("hi", "A", "Hit (Instrumental)", 202.0), ("hi2", "A", "Hit - Instrumental", 199.0)],
        {("alb", "hi"), ("sgl", "hi"), ("cmp", "hi"), ("alb", "hi2"), ("sgl", "hi2"), ("cmp", "hi2")},
    ),
    "small spelling differences": (
        [("a", "A", "Somebody That I Used To Know", 240), ("ai", "A", "Somebody That I Usde To Know (Instrumental)", 240),
         ("b", "A", "Colour Of Love", 200), ("bi", "A", "Color Of Love (Instrumental)", 200),
         ("c", "A", "Grey", 200), ("ci", "A", "Gray (Instrumental)", 200)],  # too short to be sure
        {("a", "ai"), ("b", "bi")},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_rule(tmp_path, case):
    rows, expected = CASES[case]
    found, summary = mine(tmp_path, rows)
    assert found == expected
    assert summary.candidates == len(expected)
    assert summary.rows_read == len(rows) == summary.rows_used + summary.rows_rejected


def test_extra_marker_and_thresholds_are_configurable(tmp_path):
    rows = [("k", "A", "Song", 200), ("ki", "A", "Song (Karaoke Version)", 200),
            ("g", "A", "Grey", 200), ("gi", "A", "Gray (Instrumental)", 200),
            ("d", "A", "Drift", 200), ("di", "A", "Drift (Instrumental)", 205)]
    assert mine(tmp_path, rows)[0] == set()
    config = MinerConfig(extra_markers=("karaoke",), title_threshold=70, duration_tolerance_s=6.0)
    assert mine(tmp_path, rows, config)[0] == {("k", "ki"), ("g", "gi"), ("d", "di")}


def test_candidate_columns_scores_and_funnel(tmp_path):
    rows = [("o", "The Band", "Song", 200.0), ("i", "Band", "Song (Official Instrumental)", 202.5),
            ("x", "Band", "Unrelated", 100.0), ("y", "Solo", "Alone", 100.0)]
    _, s = mine(tmp_path, rows)
    t = pq.read_table(tmp_path / "out" / "candidates.parquet").to_pylist()
    assert t == [{
        "original_id": "o", "instrumental_id": "i", "artist": "The Band", "artist_key": "band",
        "original_title": "Song", "instrumental_title": "Song (Official Instrumental)",
        "marker": "(Official Instrumental)", "title_score": 100.0, "original_duration_s": 200.0,
        "instrumental_duration_s": 202.5, "duration_delta_s": 2.5, "original_audio_path": None,
        "instrumental_audio_path": None, "genre": None, "label": None, "release_date": None,
    }]
    # One marked title; its block holds 3 rows ("Solo" is dropped before matching): 1 x 2 comparisons.
    assert (s.marked, s.blocks, s.compared, s.candidates) == (1, 1, 2, 1)
    assert (s.instrumentals_matched, s.originals_matched) == (1, 1)


def test_candidates_are_sorted_by_artist_key_then_ids(tmp_path):
    rows = [("z2", "Zed", "B", 100), ("z1", "Zed", "A", 100), ("zb", "Zed", "B (Instrumental)", 100),
            ("za", "Zed", "A (Instrumental)", 100), ("a9", "Abe", "Q", 100), ("a1", "Abe", "Q", 100),
            ("aq", "Abe", "Q (Inst.)", 100)]
    mine(tmp_path, rows)
    t = pq.read_table(tmp_path / "out" / "candidates.parquet")
    got = list(zip(t.column("artist_key").to_pylist(), t.column("original_id").to_pylist(),
                   t.column("instrumental_id").to_pylist()))
    assert got == [("abe", "a1", "aq"), ("abe", "a9", "aq"), ("zed", "z1", "za"), ("zed", "z2", "zb")]
