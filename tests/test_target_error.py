"""The target-quality estimate downstream (issue 18): the report shows and flags it (and a correction at its bound),
draws a pair's alignment map and aligns its clips by it; build-shards skips pairs above ``--max-target-error``
with the reason in its manifest."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from click.testing import CliRunner

from catalog_schemas import PAIRS
from commands.shards import main as build_shards_command
from features.alignmap import AlignmentMap, Segment
from features.shard_config import FORMAT, ShardConfig, build_key, content_hash
from features.shard_plan import plan_jobs
from features.shards import build_shards
from features.splits import SPLIT_RULES, SplitConfig
from report.config import ReportConfig
from report.flags import flag_masks
from report.media import MEDIA_FIELDS, selected_media

SR = 8192


def _rows(errors: list[float | None], corrections: list[str]) -> pa.Table:
    rows = [{"pair_id": f"o{k}~i{k}", "original_id": f"o{k}", "instrumental_id": f"i{k}", "status": "accepted",
             "reason": "", "artist": f"Artist {k}", "artist_key": f"artist {k}", "content_group": f"o{k}",
             "original_audio_path": f"o{k}.wav", "instrumental_audio_path": f"i{k}.wav", "offset_s": 0.0,
             "gain_db": 0.0, "polarity": 1, "target_error": e, "level_corrections": c}
            for k, (e, c) in enumerate(zip(errors, corrections))]
    return pa.Table.from_pylist(rows, schema=PAIRS)


def test_report_flags_a_high_target_error_and_a_correction_at_its_bound():
    table = _rows([1.0, 1.14, 1.16, 2.5, None], ["", "eq", "", "eq at-bound", ""])
    masks = flag_masks(table, ReportConfig())
    assert masks["target-error"].tolist() == [False, False, True, True, False]
    assert masks["level-at-bound"].tolist() == [False, False, False, True, False]
    assert flag_masks(table, ReportConfig(target_error_high=2.0))["target-error"].tolist() == [False] * 3 + [True, False]


def test_build_shards_skips_pairs_above_the_limit_and_keeps_the_others_splits(tmp_path):
    table = _rows([1.0, 1.4, 3.0, None], [""] * 4)
    jobs, skipped = plan_jobs(table, tmp_path, ShardConfig(max_target_error=1.5))
    assert skipped == [("o2~i2", "target-error")]
    assert [j.pair_id for j in jobs] == ["o0~i0", "o1~i1", "o3~i3"]  # no estimate (an older table): kept
    every, _ = plan_jobs(table, tmp_path, ShardConfig())
    assert {j.pair_id: j.split for j in jobs} == {j.pair_id: j.split for j in every if j.pair_id != "o2~i2"}
    # unset, the option leaves the build key as it was before it existed; set, it is part of it
    fields = dataclasses.asdict(ShardConfig())
    del fields["max_target_error"]
    flat = {**fields.pop("patches"), **fields.pop("split"), **fields, "workers": None, "keep_work": None}
    assert build_key(ShardConfig(), "x") == content_hash([FORMAT, "x", flat, SPLIT_RULES])
    assert build_key(ShardConfig(), "x") != build_key(ShardConfig(max_target_error=1.5), "x")


def test_build_shards_option_is_checked():
    result = CliRunner().invoke(build_shards_command, ["--help"])
    assert "--max-target-error" in result.output
    bad = CliRunner().invoke(build_shards_command, ["nowhere", "-o", "out", "--max-target-error", "0.5"])
    assert bad.exit_code == 2 and "max-target-error" in bad.output


@pytest.mark.slow
def test_build_shards_manifest_names_the_pairs_it_skipped(demo_pairs, tmp_path):
    pairs = tmp_path / "pairs"
    shutil.copytree(demo_pairs, pairs)
    accepted = [r for r in pq.read_table(pairs / "pairs.parquet").to_pylist() if r["status"] == "accepted"]
    worst = max(accepted, key=lambda r: r["target_error"])
    limit = max(1.0, worst["target_error"] - 1e-6)
    summary = build_shards(pairs, tmp_path / "shards", ShardConfig(split=SplitConfig((1, 0, 0)),
                                                                   max_target_error=limit), progress=False)
    manifest = json.loads(summary.manifest_path.read_text())
    skipped = {s["pair_id"]: s["reason"] for s in manifest["skipped"]}
    assert skipped.get(worst["pair_id"]) == "target-error"
    assert all(r["pair_id"] not in skipped or r["target_error"] > limit for r in accepted)


def test_report_media_follow_the_alignment_map(tmp_path):
    """A pair whose instrumental lacks a second of the original (two segments): the page's clips and spectrograms
    are aligned by the map (the derived vocal is the voice, not the accompaniment out of step), and the map is
    drawn."""
    assert "alignment_map" in MEDIA_FIELDS
    rng = np.random.default_rng(0)
    n = 12 * SR
    acc = (rng.standard_normal(n) * 0.1).astype(np.float32)
    voice = (0.02 * np.sin(2 * np.pi * 330 * np.arange(n) / SR)).astype(np.float32)
    cut = np.concatenate([acc[: 5 * SR], acc[6 * SR :]])  # one second cut from the instrumental at 5 s
    sf.write(tmp_path / "o.wav", acc + voice, SR)
    sf.write(tmp_path / "i.wav", cut, SR)
    amap = AlignmentMap(1.0, (Segment(0.0, 5.0, 0.0), Segment(6.0, 12.0, -1.0)), trusted=((0.0, 4.9), (6.1, 12.0)))
    row = {"pair_id": "o~i", "original_audio_path": str(tmp_path / "o.wav"),
           "instrumental_audio_path": str(tmp_path / "i.wav"), "offset_s": 0.0, "gain_db": 0.0, "polarity": 1,
           "alignment_map": amap.to_json()}
    table = pa.Table.from_pylist([{c: row[c] for c in MEDIA_FIELDS}])
    media = selected_media(table, {0: ["sample"]}, ReportConfig(clip_seconds=4.0))["o~i"]
    assert media["map"].startswith("data:image/svg+xml")
    # aligned by the map, the loudest 4 s of the derived vocal hold the voice only (0.02 amplitude), not the
    # accompaniment one second out of step (0.1 standard deviation)
    from report.media import align_pair

    audio = align_pair(row["original_audio_path"], row["instrumental_audio_path"], 0.0, 0.0, 1, SR,
                       row["alignment_map"])
    covered = np.r_[0 : 5 * SR, 6 * SR : n]
    assert np.sqrt(np.mean(audio.vocal[covered] ** 2)) == pytest.approx(0.02 / np.sqrt(2), rel=0.05)
    plain = align_pair(row["original_audio_path"], row["instrumental_audio_path"], 0.0, 0.0, 1, SR)
    assert np.sqrt(np.mean(plain.vocal[6 * SR :] ** 2)) > 0.1
