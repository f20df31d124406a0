"""Issue 18 on the release matrix (``democorpus.matrix``, seed 1: songs the level match was not tuned on): one
song per song family (sine and sub bass, kick-heavy, sparse, continuous singing, a few phrases, a voice far under
and far over the band), each released as every kind of instrumental, measured against the true stems
(``support.pairing_truth``). Per kind and per family: accepted, at least 60 % of a clean pair's patches, the
derived target within 1.3 times the ideal target's error (clean pairs: 1.05, with no correction at its bound);
and the target-quality estimate against the truth on pairs degraded on purpose."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import spearmanr

from catalog_schemas import PAIRS
from democorpus.matrix import make_release_matrix
from democorpus.releases import RELEASE_KINDS
from democorpus.song_families import SONG_FAMILIES
from features.alignmap import AlignmentMap, Segment
from pairing.quality import estimate_row
from report.config import ReportConfig
from report.flags import flag_masks
from support.pairing_truth import PairMeasure, measure_pair
from support.release_matrix import matrix_truth, measure_matrix, ratio_table, run_matrix

#: Map degradations of each family's clean pair: a band's gain changed (band index, dB), one half of the song
#: a few milliseconds out of step (ms).
BAND_CHANGES = ((4, -3.0), (6, -6.0), (2, -10.0), (8, 6.0))
SHIFTS_MS = (2.0, 5.0, 10.0)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    info = make_release_matrix(root / "matrix", seed=1, degraded=True)
    runs = run_matrix(info.out_dir, root / "pairs")
    return Path(info.out_dir), measure_matrix(info.out_dir, runs)


def degraded_row(row: dict, band: tuple[int, float] | None = None, shift_ms: float | None = None) -> dict:
    """``row`` with its map degraded: one band's gain changed, or the second half of its main segment moved."""
    amap = AlignmentMap.from_json(row["alignment_map"])
    if band is not None:
        gains = list(amap.band_gain_db) or [0.0] * 13
        gains[band[0]] += band[1]
        amap = replace(amap, band_gain_db=tuple(gains))
    if shift_ms is not None:
        main = max(amap.segments, key=lambda s: s.end_s - s.start_s)
        mid = (main.start_s + min(main.end_s, row["original_seconds"])) / 2
        halves = (Segment(main.start_s, mid, main.offset_s), Segment(mid, main.end_s, main.offset_s + shift_ms / 1000))
        amap = replace(amap, segments=tuple(sorted([s for s in amap.segments if s is not main] + list(halves),
                                                   key=lambda s: s.start_s)))
    return dict(row, alignment_map=amap.to_json(), pair_id=f"{row['pair_id']}#{band or ''}{shift_ms or ''}")


@pytest.mark.slow
def test_every_release_kind_on_every_song_family(matrix):
    _, measures = matrix
    got = {(m.kind, m.family): m for m in measures}
    print(ratio_table(measures))
    for kind in ("clean", *RELEASE_KINDS):
        for family in SONG_FAMILIES:
            m = got[(kind, family)]
            assert m.status == "accepted", (kind, family, m.reason, m.row["detail"])
            assert m.kept_share >= 0.6, (kind, family, m.patches, m.clean_patches)
            assert m.ratio <= 1.3, (kind, family, m.ratio)
            assert m.ratio <= m.plain_ratio + 0.05, (kind, family, m.ratio, m.plain_ratio)  # it can only help


@pytest.mark.slow
def test_clean_pairs_keep_their_target_and_no_correction_at_its_bound(matrix):
    _, measures = matrix
    for m in measures:
        if m.kind != "clean":
            continue
        assert m.ratio <= 1.05, (m.family, m.ratio)
        assert "at-bound" not in m.row["level_corrections"].split(), (m.family, m.row["level_corrections"])
        gains = AlignmentMap.from_json(m.row["alignment_map"]).band_gain_db
        assert all(abs(g) < 12.0 for g in gains), (m.family, gains)
        assert m.row["target_error"] < ReportConfig().target_error_high, (m.family, m.row["target_error"])


def _degraded_set(corpus: Path, measures: list[PairMeasure]) -> list[tuple[str, str, float, float]]:
    """(kind, family, true error / ideal, target_error) of every pair of the quality test set: each family's
    clean pair, its map degraded (``BAND_CHANGES``, ``SHIFTS_MS``), and the instrumentals without the drums or
    bass or through a codec at 32-50 kbit/s."""
    truth = {t["pair_id"]: t for t in matrix_truth(corpus)}
    out = []
    for m in measures:
        if m.kind in ("clean", "missing-rhythm", "mp3-mono", "ogg-lowest") and m.status == "accepted":
            out.append((m.kind, m.family, m.ratio, m.row["target_error"]))
        if m.kind != "clean":
            continue
        song = truth[m.row["pair_id"]]["song_id"]
        for row, kind in [(degraded_row(m.row, band=b), f"band {b}") for b in BAND_CHANGES] + [
                (degraded_row(m.row, shift_ms=s), f"shift {s} ms") for s in SHIFTS_MS]:
            out.append((kind, m.family, measure_pair(corpus, row, song, kind, family=m.family).ratio,
                        estimate_row(row)))
    return out


@pytest.mark.slow
def test_quality_estimate_ranks_pairs_as_their_true_error_does_and_flags_the_bad_ones(matrix):
    corpus, measures = matrix
    rows = _degraded_set(corpus, measures)
    true = np.array([r[2] for r in rows])
    est = np.array([r[3] for r in rows])
    rho = spearmanr(est, true)[0]
    print(f"{len(rows)} pairs, Spearman {rho:.3f}")
    assert len(rows) >= 80 and rho >= 0.7, rho  # measured 0.76 (seed 0, tuning) and 0.76 (seed 1)
    # every pair whose target is 1.5 times the ideal's error or worse is flagged by the report
    table = pa.Table.from_pylist([{"pair_id": f"{k} {f}", "status": "accepted", "target_error": e,
                                   "level_corrections": ""} for k, f, _, e in rows], schema=PAIRS)
    flagged = flag_masks(table, ReportConfig())["target-error"]
    missed = [(k, f, round(t, 2), round(e, 2)) for (k, f, t, e), hit in zip(rows, flagged) if t > 1.5 and not hit]
    # a part missing above the voice floor (high-passed drums) looks like the voice: docs/pairing.md
    assert all(k == "missing-rhythm" for k, *_ in missed), missed
    assert len(missed) <= 1, missed
    clean = [e for k, _, _, e in rows if k == "clean"]
    assert max(clean) < ReportConfig().target_error_high, clean
