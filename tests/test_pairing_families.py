"""Issue 18 on the release matrix (``democorpus.matrix``, seed 1: songs the level match was not tuned on): one
song per song family (sine and sub bass, kick-heavy, sparse, continuous singing, a few phrases, a voice far under
and far over the band), each released as every kind of instrumental, measured against the true stems
(``support.pairing_truth``). Per kind and per family: accepted, at least 60 % of a clean pair's patches, the
derived target within 1.3 times the ideal target's error (clean pairs: 1.05, with no correction at its bound);
and the target-quality estimate against the truth on pairs degraded on purpose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import spearmanr

from catalog_schemas import PAIRS
from democorpus.matrix import make_release_matrix
from democorpus.releases import CODEC_KINDS, RELEASE_KINDS
from democorpus.song_families import SONG_FAMILIES
from features.alignmap import AlignmentMap
from report.config import ReportConfig
from report.flags import flag_masks
from support.release_matrix import measure_matrix, quality_set, ratio_table, run_matrix

@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    info = make_release_matrix(root / "matrix", seed=1, degraded=True)
    runs = run_matrix(info.out_dir, root / "pairs")
    return Path(info.out_dir), measure_matrix(info.out_dir, runs)


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
            # a codec's own noise can exceed it (a voice 15 dB under the band, under 60 kbit/s of noise): then the
            # best the pair allows, the decoded file aligned with the plain gain, is the bound
            bound = max(1.3, m.plain_ratio + 0.05) if kind in CODEC_KINDS else 1.3
            assert m.ratio <= bound, (kind, family, m.ratio, m.plain_ratio)
            # it can only help: no worse than the plain gain (or than the ideal, where the plain gain beats it)
            assert m.ratio <= max(m.plain_ratio, 1.0) + 0.05, (kind, family, m.ratio, m.plain_ratio)


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


@pytest.mark.slow
def test_quality_estimate_ranks_pairs_as_their_true_error_does_and_flags_the_bad_ones(matrix):
    corpus, measures = matrix
    rows = quality_set(corpus, measures)
    true = np.array([r[2] for r in rows])
    est = np.array([r[3] for r in rows])
    rho = spearmanr(est, true)[0]
    print(f"{len(rows)} pairs, Spearman {rho:.3f}")
    # measured (pairing-7) on seeds 0 and 1, the tuning seeds, and on seed 2, never tuned on: docs/pairing.md
    assert len(rows) >= 80 and rho >= 0.8, rho
    # every pair whose target is 1.5 times the ideal's error or worse is flagged by the report
    table = pa.Table.from_pylist([{"pair_id": f"{k} {f}", "status": "accepted", "target_error": e,
                                   "level_corrections": ""} for k, f, _, e in rows], schema=PAIRS)
    flagged = flag_masks(table, ReportConfig())["target-error"]
    missed = [(k, f, round(t, 2), round(e, 2)) for (k, f, t, e), hit in zip(rows, flagged) if t > 1.5 and not hit]
    assert not missed, missed
    clean = [e for k, _, _, e in rows if k == "clean"]
    assert max(clean) < ReportConfig().target_error_high, clean
