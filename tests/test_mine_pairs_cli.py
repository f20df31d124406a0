"""`mine-pairs` end to end through its command: metadata stage, audio stage and report in one run."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from commands.mine import main
from support.catalogs import one_pair_catalog


def test_mine_pairs_runs_audio_stage_and_report_and_counts_every_reason(tmp_path, demo_corpus):
    info = demo_corpus  # 4 songs with decoys (tests/conftest.py)
    out = tmp_path / "pairs"
    result = CliRunner().invoke(main, [str(info.catalog), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output

    truth = list(csv.DictReader(info.pairs.open()))
    pairs = pq.read_table(out / "pairs.parquet").to_pylist()
    assert sorted(p["pair_id"] for p in pairs) == sorted(t["pair_id"] for t in truth)
    accepted = sorted(p["pair_id"] for p in pairs if p["status"] == "accepted")
    assert accepted == sorted(t["pair_id"] for t in truth if t["expected_status"] == "accepted")

    summary = json.loads((out / "summary.json").read_text())
    assert summary["audio"]["accepted"] == len(accepted)
    assert summary["metadata"]["candidates"] == len(truth)
    # the console counts every rejection reason of the audio stage
    for reason, count in summary["audio"]["rejected_by_reason"].items():
        assert f"rejected {reason}: {count}" in result.output
    funnel = {s["key"]: s["value"] for s in json.loads((out / "report.json").read_text())["funnel"]["stages"]}
    assert funnel["accepted"] == len(accepted) and funnel["candidates"] == len(truth)
    assert "report.html" in result.output.splitlines()[-1]


def test_metadata_only_writes_candidates_and_a_metadata_report_but_no_verdicts(tmp_path, clean_corpus):
    info = clean_corpus  # 3 songs without decoys (tests/conftest.py)
    out = tmp_path / "pairs"
    result = CliRunner().invoke(main, [str(info.catalog), "-o", str(out), "--metadata-only", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert not (out / "pairs.parquet").exists()
    assert "audio" not in json.loads((out / "summary.json").read_text())
    assert pq.read_metadata(out / "candidates.parquet").num_rows == 3
    assert (out / "report.html").exists()


def test_a_blocksize_that_is_not_a_positive_size_is_a_usage_error(tmp_path):
    cat = one_pair_catalog(tmp_path / "catalog.csv")
    for size in ("0", "-5", "0.0001kb", "lots"):
        result = CliRunner().invoke(main, [str(cat), "-o", str(tmp_path / "out"), "--metadata-only",
                                           "--no-report", "--blocksize", size])
        assert result.exit_code == 2, (size, result.output)
        assert f"Invalid value for --blocksize: {size!r} is not a positive size such as 32MB" in result.output
    assert not (tmp_path / "out" / "candidates.parquet").exists()
