"""The pair-quality report without a browser: report.json against an independent computation from the Parquet
files, the offset convention of the media, escaping in the page source, the page-size bound, the CLI."""

from __future__ import annotations

import json
import re
from html import unescape
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from report import ReportConfig, build_report
from report.media import align_pair
from report.sample import INJECTED_TITLE, make_sample_pairs_dir, read_summary
from commands.report import main as pair_report

AUDIO_URI = re.compile(r"data:audio/(?:ogg|wav);base64,[A-Za-z0-9+/]")  # a clip, not the script's prefix check
JPEG_URI = re.compile(r"data:image/jpeg;base64,[A-Za-z0-9+/]")
FLAGGED = {"t02~t02i": "clipping", "t03~t03i": "vocal-near-zero", "t04~t04i": "low-confidence large-offset"}


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    out = make_sample_pairs_dir(tmp_path_factory.mktemp("pairs"))
    build_report(out)
    return out


@pytest.fixture(scope="module")
def large_dir(tmp_path_factory) -> Path:
    out = make_sample_pairs_dir(tmp_path_factory.mktemp("pairs20k"), extra_pairs=20_000)
    build_report(out)
    return out


def _report(pairs_dir: Path) -> dict:
    return json.loads((pairs_dir / "report.json").read_text())


def test_report_json_matches_an_independent_computation(audio_dir):
    rep = _report(audio_dir)
    rows = pq.read_table(audio_dir / "pairs.parquet").to_pylist()
    summary = read_summary(audio_dir)
    accepted = [r for r in rows if r["status"] == "accepted"]
    assert rep["mode"] == "audio"
    assert rep["counts"]["accepted"] == len(accepted) == 4
    assert rep["counts"]["rejected"] == len(rows) - len(accepted) == 4
    assert rep["counts"]["rejected_by_reason"] == {"drift": 1, "duplicate": 1, "missing-file": 1, "same-content": 1}
    assert rep["counts"]["hours_accepted"] == pytest.approx(sum(r["original_seconds"] for r in accepted) / 3600, abs=1e-4)
    assert rep["counts"]["candidates"] == pq.read_metadata(audio_dir / "candidates.parquet").num_rows == 8
    assert rep["warnings"] == []

    # The funnel is what summary.json says.
    stages = {s["key"]: s["value"] for s in rep["funnel"]["stages"]}
    meta, audio = summary["metadata"], summary["audio"]
    assert stages == {"rows_read": meta["rows_read"], "rows_used": meta["rows_used"], "marked": meta["marked"],
                      "candidates": meta["candidates"], "accepted": audio["accepted"]}
    assert rep["funnel"]["hours_accepted"] == pytest.approx(audio["hours_accepted"])
    assert rep["funnel"]["catalog_rejected_by_reason"] == {"empty-title": 2, "missing-duration": 1}
    grouped = Counter()
    for k, v in audio["rejected_by_reason"].items():
        grouped[k.split(":")[0]] += v
    assert rep["funnel"]["audio_rejected_by_reason"] == dict(grouped)

    # Histograms: counts per status from the raw column, on report.json's edges.
    for column, dist in rep["distributions"].items():
        if all(r.get(column) is None for r in rows):  # a column this table leaves empty (target_error): unavailable
            assert not dist["available"], column
            continue
        values = {s: np.array([r[column] for r in rows if (r["status"] == "accepted") == (s == "accepted")
                               and r[column] is not None], dtype=float) for s in ("accepted", "rejected")}
        edges = np.array(dist["edges"])
        for s, v in values.items():
            assert dist["counts"][s] == np.histogram(v, bins=edges)[0].tolist(), (column, s)
            assert dist["n"][s] == v.size
        for t in dist["thresholds"]:
            assert edges[0] <= t["value"] <= edges[-1]

    # Thresholds come from the run's recorded configs.
    lines = {(t["column"], t["kind"], t["value"]): t["source"] for t in rep["thresholds"]}
    assert "metadata.config" in lines[("title_score", "accept", 90.0)]
    assert "audio.config" in lines[("alignment_confidence", "accept", 0.2)]
    assert ("offset_s", "flag", 2.0) in lines

    # Flags: only accepted pairs, by the config's rules.
    cfg = ReportConfig()
    expected = {}
    for r in accepted:
        names = [n for n, hit in (
            ("low-confidence", r["alignment_confidence"] < cfg.low_confidence),
            ("vocal-near-zero", r["vocal_energy_share"] < cfg.vocal_share_low),
            ("vocal-near-one", r["vocal_energy_share"] > cfg.vocal_share_high),
            ("large-offset", abs(r["offset_s"]) > cfg.large_offset_s),
            ("clipping", r["clipping"] > cfg.clipping)) if hit]
        if names:
            expected[r["pair_id"]] = " ".join(names)
    assert expected == FLAGGED
    assert {p["pair_id"]: p["flags"] for p in rep["flags"]["pairs"]} == FLAGGED
    assert rep["flags"]["counts"] == {"low-confidence": 1, "vocal-near-zero": 1, "vocal-near-one": 0,
                                      "large-offset": 1, "clipping": 1, "edited": 0, "drift": 0, "low-usable": 0,
                                      "leakage": 0, "target-error": 0, "level-at-bound": 0}

    # Genre table: share of accepted pairs per genre (Table 1 of the paper).
    by_genre = Counter(r["genre"] for r in accepted)
    genre = {g["value"]: g for g in rep["groups"]["genre"]["rows"]}
    for name, n in by_genre.items():
        assert genre[name]["accepted"] == n
        assert genre[name]["share"] == pytest.approx(100 * n / len(accepted), abs=0.01)
    assert genre["Jazz"]["accepted"] == 0 and genre["Jazz"]["candidates"] == 2
    assert {g["value"] for g in rep["groups"]["year"]["rows"]} == {"2015", "2016", "2018", "2019", "2020", "2021",
                                                                    "(none)"}


def test_media_align_with_the_offset_convention(audio_dir):
    """Aligning each measured pair as the page does gives back the vocal share computed from the true stems,
    and a 50 ms error would not."""
    rep = _report(audio_dir)
    measured = [r for r in pq.read_table(audio_dir / "pairs.parquet").to_pylist() if r["offset_s"] is not None]
    assert {r["pair_id"] for r in measured} == set(rep["media"]["pairs"]) - {"t06~t06i"}
    for r in measured:
        args = (r["original_audio_path"], r["instrumental_audio_path"])
        a = align_pair(*args, r["offset_s"], r["gain_db"], r["polarity"], 8192)
        share = float(np.sum(a.vocal.astype(float) ** 2) / np.sum(a.original.astype(float) ** 2))
        assert share == pytest.approx(r["vocal_energy_share"], abs=0.01), r["pair_id"]
        wrong = align_pair(*args, r["offset_s"] + 0.05, r["gain_db"], r["polarity"], 8192)
        assert np.sum(wrong.vocal.astype(float) ** 2) > 2 * np.sum(a.vocal.astype(float) ** 2) + 1e-3


@pytest.mark.slow
def test_media_are_bounded_and_pick_the_most_flagged(tmp_path):
    out = make_sample_pairs_dir(tmp_path)
    summary = build_report(out, ReportConfig(sample_accepted=1, sample_rejected=0, flagged_media=1, seed=3))
    media = _report(out)["media"]["pairs"]
    assert "flagged" in media["t04~t04i"]["roles"]  # two flags: the most flagged
    assert sum("flagged" in m["roles"] for m in media.values()) == 1
    assert sum("sample" in m["roles"] for m in media.values()) == 1
    assert summary.media_pairs == len(media) <= 2
    html = (out / "report.html").read_text()
    assert len(AUDIO_URI.findall(html)) == 3 * summary.media_pairs

    none = build_report(out, ReportConfig(media=False))
    assert none.media_pairs == 0 and not AUDIO_URI.findall((out / "report.html").read_text())
    assert "media were turned off" in " ".join(_report(out)["left_out"])


def test_page_source_escapes_catalog_strings(audio_dir):
    html = (audio_dir / "report.html").read_text()
    assert INJECTED_TITLE not in html
    assert len(re.findall(r"<script\b", html)) == 2  # the JSON block and the page's own script
    block = re.search(r'<script type="application/json" id="pair-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and "&" not in block
    data = json.loads(block)
    titles = [r[[c["key"] for c in data["columns"]].index("original_title")] for r in data["rows"]]
    assert INJECTED_TITLE in titles and 'Say "Hello" & Goodbye' in titles
    # Static sections escape: the label with < " & from the catalog appears only escaped.
    assert "Indie &lt;Label&gt; &quot;B&amp;B&quot;" in html and 'Indie <Label>' not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'$", unescape(csp))


def test_page_size_stays_bounded_with_20000_pairs(audio_dir, large_dir):
    small, large = _report(audio_dir), _report(large_dir)
    cfg = ReportConfig()
    bound = cfg.sample_accepted + cfg.sample_rejected + cfg.flagged_media
    assert large["table"]["rows_total"] == large["table"]["rows_listed"] == 20_008
    assert len(large["media"]["pairs"]) <= bound
    html = (large_dir / "report.html").read_text()
    assert len(AUDIO_URI.findall(html)) <= 3 * bound and len(JPEG_URI.findall(html)) <= 3 * bound
    # Beyond the fixed part (plots, media of the small report), each pair costs a bounded row of numbers.
    per_row = ((large_dir / "report.html").stat().st_size - (audio_dir / "report.html").stat().st_size) / 20_000
    assert per_row < 320, per_row
    assert large["counts"]["accepted"] == sum(1 for s in pq.read_table(large_dir / "pairs.parquet",
                                                                      columns=["status"]).column(0).to_pylist()
                                              if s == "accepted")
    # Many genres: the table keeps the top ones and sums the rest, and says so.
    assert large["groups"]["genre"]["rows"][-1]["value"].startswith("(other:")
    assert any("genre table shows" in s for s in large["left_out"])


def test_table_row_cap_keeps_flagged_pairs_and_says_so(large_dir, tmp_path):
    import shutil
    out = tmp_path / "capped"
    shutil.copytree(large_dir, out)
    summary = build_report(out, ReportConfig(max_table_rows=1000, media=False))
    rep = _report(out)
    assert summary.table_rows == rep["table"]["rows_listed"] == 1000
    assert any("lists 1,000 of 20,008" in s for s in rep["left_out"])


def test_metadata_only_report(tmp_path):
    out = make_sample_pairs_dir(tmp_path, metadata_only=True)
    assert not (out / "pairs.parquet").exists()
    summary = build_report(out)
    rep = _report(out)
    assert summary.mode == rep["mode"] == "metadata-only"
    assert summary.accepted is None and summary.media_pairs == 0
    assert rep["counts"] == {"candidates": 8, "rows": 8}
    assert [s["key"] for s in rep["funnel"]["stages"]] == ["rows_read", "rows_used", "marked", "candidates"]
    assert rep["distributions"]["offset_s"]["available"] is False
    assert "metadata-only" in rep["distributions"]["offset_s"]["why"]
    assert rep["distributions"]["title_score"]["counts"] == {"candidates": [0] * 39 + [8]}
    assert {t["column"] for t in rep["thresholds"]} == {"title_score", "duration_delta_s"}
    assert "No audio stage" in rep["left_out"][0]
    assert "audio: not run (--metadata-only)" in summary.text


def test_cli_prints_the_text_version_and_the_report_path(audio_dir):
    result = CliRunner().invoke(pair_report, [str(audio_dir), "--no-media"])
    assert result.exit_code == 0, result.output
    assert re.search(r"accepted pairs\s+4\n", result.output)
    assert "rejected by audio: drift 1, duplicate 1, missing-file 1, same-content 1" in result.output
    assert f"report: {audio_dir / 'report.html'}" in result.output


def test_cli_bad_input_is_a_message_and_exit_code_2(tmp_path):
    result = CliRunner().invoke(pair_report, [str(tmp_path)])
    assert result.exit_code == 2
    assert "summary.json: not found; run mine-pairs first" in result.output
    out = make_sample_pairs_dir(tmp_path / "p")
    (out / "pairs.parquet").write_bytes(b"not parquet")
    result = CliRunner().invoke(pair_report, [str(out)])
    assert result.exit_code == 2 and "pairs.parquet: not a readable Parquet file" in result.output
    assert not (out / "report.html").exists()
