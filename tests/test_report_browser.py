"""The pair-quality report in a real browser (headless Chromium over the DevTools protocol): it loads with no
console error, shows summary.json's funnel, lists, filters, sorts and pages the pairs, expands a row into
its spectrograms and playable clips, keeps an injected title as text, works for a metadata-only run, and
stays fast with 20,000 pairs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from report import ReportConfig, build_report
from report.browser import Chromium, find_chromium
from report.sample import INJECTED_TITLE, make_sample_pairs_dir, read_summary


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if find_chromium() is None:
        pytest.skip("no Chromium browser found: install Debian's `chromium` (scripts/install-system-deps.sh, run "
                    "by `make test`) or set VOCALMINE_CHROMIUM to a Chromium/Chrome executable")
    with Chromium(tmp_path_factory.mktemp("chromium") / "profile") as b:
        yield b


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory) -> Path:
    out = make_sample_pairs_dir(tmp_path_factory.mktemp("pairs"))
    build_report(out)
    return out


def open_report(browser, pairs_dir: Path):
    page = browser.new_page()
    page.navigate((pairs_dir / "report.html").as_uri())
    page.wait_for("document.body.dataset.ready === '1'")
    return page


def listed_ids(page) -> list[str]:
    return page.evaluate("Array.from(document.querySelectorAll('#pairs-table tbody tr.pair'))"
                         ".map(tr => tr.dataset.pairId)")


def choose(page, element_id: str, value: str) -> None:
    page.evaluate(f"(() => {{ const e = document.getElementById({json.dumps(element_id)});"
                  f" e.value = {json.dumps(value)}; e.dispatchEvent(new Event('change')); }})()")


def matching(page) -> int:
    return int(page.evaluate("document.getElementById('pairs-table').dataset.matching"))


def expand(page, pair_id: str) -> None:
    page.evaluate(f"document.querySelector('tr.pair[data-pair-id=\"' + CSS.escape({json.dumps(pair_id)}) + "
                  f"'\"] button.toggle').click()")
    page.wait_for("document.querySelector('tr.detail') !== null")


def test_page_loads_clean_and_funnel_matches_summary(browser, audio_dir):
    page = open_report(browser, audio_dir)
    summary = read_summary(audio_dir)
    assert page.console_errors() == []
    assert page.dialogs() == []
    shown = page.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('.funnel-row'))"
                          ".map(r => [r.dataset.key, r.querySelector('.value').textContent]))")
    meta = summary["metadata"]
    assert {k: int(v.replace(",", "")) for k, v in shown.items()} == {
        "rows_read": meta["rows_read"], "rows_used": meta["rows_used"], "marked": meta["marked"],
        "candidates": meta["candidates"], "accepted": summary["audio"]["accepted"]}
    reasons = page.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('#audio-reasons tr[data-reason]'))"
                            ".map(r => [r.dataset.reason, r.cells[1].textContent]))")
    expected: dict[str, int] = {}
    for k, v in summary["audio"]["rejected_by_reason"].items():
        expected[k.split(":")[0]] = expected.get(k.split(":")[0], 0) + v
    assert {k: int(v) for k, v in reasons.items()} == expected
    catalog = page.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('#catalog-reasons "
                            "tr[data-reason]')).map(r => [r.dataset.reason, r.cells[1].textContent]))")
    assert {k: int(v) for k, v in catalog.items()} == meta["rejected_by_reason"]
    hours = page.evaluate("document.querySelector('.card[data-key=hours] .value').textContent")
    assert hours == f"{summary['audio']['hours_accepted'] * 60:.1f} min"
    plots = page.evaluate("Array.from(document.querySelectorAll('#distributions img.plot'))"
                          ".map(i => [i.closest('figure').dataset.col, i.naturalWidth > 0])")
    assert sorted(plots) == sorted([[c, True] for c in (
        "title_score", "duration_delta_s", "offset_s", "gain_db", "alignment_confidence", "vocal_energy_share",
        "fingerprint_similarity", "vocal_free_correlation")])


def test_table_lists_filters_and_sorts_pairs(browser, audio_dir):
    page = open_report(browser, audio_dir)
    rows = pq.read_table(audio_dir / "pairs.parquet").to_pylist()
    assert matching(page) == len(rows) == 8
    assert sorted(listed_ids(page)) == sorted(r["pair_id"] for r in rows)
    choose(page, "f-reason", "drift")
    assert listed_ids(page) == ["t05~t05i"]
    choose(page, "f-reason", "duplicate")
    assert listed_ids(page) == ["t07~t01i"]
    choose(page, "f-reason", "")
    choose(page, "f-status", "rejected")
    assert sorted(listed_ids(page)) == sorted(r["pair_id"] for r in rows if r["status"] == "rejected")
    choose(page, "f-status", "")
    choose(page, "f-flag", "(any)")
    assert sorted(listed_ids(page)) == ["t02~t02i", "t03~t03i", "t04~t04i"]
    choose(page, "f-flag", "")
    choose(page, "f-alignment_confidence-min", "0.6")
    assert sorted(listed_ids(page)) == sorted(
        r["pair_id"] for r in rows if r["alignment_confidence"] is not None and r["alignment_confidence"] >= 0.6)
    choose(page, "f-alignment_confidence-min", "")
    # Sorting by offset: ascending with the unmeasured pair last, then descending.
    page.evaluate("document.querySelector('th[data-col=offset_s] button.sort').click()")
    measured = sorted((r for r in rows if r["offset_s"] is not None), key=lambda r: r["offset_s"])
    assert listed_ids(page)[0] == measured[0]["pair_id"] and listed_ids(page)[-1] == "t06~t06i"
    page.evaluate("document.querySelector('th[data-col=offset_s] button.sort').click()")
    assert listed_ids(page)[0] == "t04~t04i"
    assert page.console_errors() == []


def test_row_expands_with_spectrograms_and_playable_clips(browser, audio_dir):
    page = open_report(browser, audio_dir)
    expand(page, "t04~t04i")
    text = page.evaluate("document.querySelector('tr.detail').innerText")
    for expected in ("Late Train", "Late Train (Instrumental)", "Mira", "t04", "t04i", "3.200", "-3.00",
                     "low-confidence large-offset"):
        assert expected in text
    images = page.wait_for("(() => { const im = Array.from(document.querySelectorAll('tr.detail img'));"
                           " return im.length === 3 && im.every(i => i.complete && i.naturalWidth > 0) &&"
                           " im.map(i => [i.dataset.role, i.naturalWidth, i.naturalHeight]); })()")
    assert [i[0] for i in images] == ["original", "instrumental", "vocal"]
    assert all(i[2] == ReportConfig().thumb_height for i in images)
    durations = page.evaluate(
        "Promise.all(Array.from(document.querySelectorAll('tr.detail audio')).map(a => a.readyState >= 1 ?"
        " a.duration : new Promise((ok, fail) => { a.addEventListener('loadedmetadata', () => ok(a.duration));"
        " a.addEventListener('error', () => fail(new Error('audio error ' + (a.error && a.error.code))));"
        " setTimeout(() => fail(new Error('no audio metadata')), 5000); })))", await_promise=True)
    assert len(durations) == 3 and all(d == pytest.approx(6.0, abs=0.05) for d in durations)  # 6 s songs
    # A pair without media says why it has none.
    page.evaluate("document.querySelector('tr.pair.open').click()")
    expand(page, "t06~t06i")
    assert "never aligned (rejected as missing-file" in page.evaluate("document.querySelector('tr.detail').innerText")
    assert page.console_errors() == []


def test_injected_title_stays_visible_text(browser, audio_dir):
    page = open_report(browser, audio_dir)
    cells = page.evaluate(
        f"Array.from(document.querySelectorAll('td[data-col=original_title]')).filter(td => td.textContent === "
        f"{json.dumps(INJECTED_TITLE)}).map(td => {{ const r = td.getBoundingClientRect();"
        f" return [r.width > 0 && r.height > 0, getComputedStyle(td).visibility, td.children.length]; }})")
    assert cells == [[True, "visible", 0]]
    expand(page, "t02~t02i")
    assert INJECTED_TITLE in page.evaluate("document.querySelector('tr.detail').innerText")
    assert 'Tom & "Jerry"' in page.evaluate("document.body.innerText")
    assert 'Indie <Label> "B&B"' in page.evaluate("document.getElementById('group-label').innerText")
    assert page.evaluate("document.scripts.length") == 2
    assert page.evaluate("document.querySelectorAll('tbody script, #groups script').length") == 0
    assert page.dialogs() == [] and page.console_errors() == []


def test_metadata_only_report_in_the_browser(browser, tmp_path):
    out = make_sample_pairs_dir(tmp_path, metadata_only=True)
    build_report(out)
    page = open_report(browser, out)
    assert page.console_errors() == []
    notice = page.evaluate("document.getElementById('audio-absent').innerText")
    assert "No audio stage in this run" in notice and "--metadata-only" in notice
    meta = read_summary(out)["metadata"]
    shown = page.evaluate("Object.fromEntries(Array.from(document.querySelectorAll('.funnel-row'))"
                          ".map(r => [r.dataset.key, r.querySelector('.value').textContent]))")
    assert {k: int(v) for k, v in shown.items()} == {k: meta[k] for k in ("rows_read", "rows_used", "marked",
                                                                          "candidates")}
    assert matching(page) == 8
    assert page.evaluate("Array.from(document.getElementById('f-status').options).map(o => o.value)") == [
        "", "candidate"]
    unavailable = page.evaluate("document.querySelector('figure[data-col=offset_s] .unavailable').innerText")
    assert "metadata-only" in unavailable
    expand(page, "t01~t01i")
    assert "Blue Night (Instrumental)" in page.evaluate("document.querySelector('tr.detail').innerText")
    assert page.console_errors() == []


@pytest.mark.slow
def test_20000_pairs_load_fast_with_a_bounded_page(browser, tmp_path):
    out = make_sample_pairs_dir(tmp_path, extra_pairs=20_000)
    config = ReportConfig(flagged_media=4)
    build_report(out, config)
    t0 = time.monotonic()
    page = open_report(browser, out)
    load_s = time.monotonic() - t0
    assert load_s < 10, load_s  # typically ~1 s on the 2-core test machine
    assert int(page.evaluate("document.body.dataset.renderMs")) < 3000
    assert matching(page) == 20_008
    assert len(listed_ids(page)) == config.page_rows
    assert page.evaluate("document.querySelectorAll('#pairs-table tbody tr').length") == config.page_rows
    statuses = pq.read_table(out / "pairs.parquet", columns=["reason"]).column(0).to_pylist()
    choose(page, "f-reason", "drift")
    assert matching(page) == statuses.count("drift")
    page.evaluate("document.getElementById('p-last').click()")
    last = statuses.count("drift") % config.page_rows or config.page_rows
    assert len(listed_ids(page)) == last
    assert page.console_errors() == []


def test_the_harness_sees_console_errors_and_dialogs(browser, tmp_path):
    """The 'no console error, no dialog' checks above are meaningful: a page that errs and alerts is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><script>console.error("boom"); alert("x"); null.f;</script>'
                   '<img src="missing.png"></body></html>')
    page = browser.new_page()
    page.navigate(bad.as_uri())
    page.wait_for("document.readyState === 'complete'")
    errors = page.console_errors()
    assert any("boom" in e for e in errors) and any("TypeError" in e for e in errors)
    assert any("missing.png" in e or "ERR_FILE_NOT_FOUND" in e for e in errors)
    assert page.dialogs() == ["x"]


@pytest.fixture(scope="module")
def pipeline_dir(demo_pairs, tmp_path_factory) -> Path:
    """A real run: the demo corpus through the miner and the audio stage (shared: tests/conftest.py), then the
    report, written into a copy."""
    out = tmp_path_factory.mktemp("pipeline") / "pairs"
    shutil.copytree(demo_pairs, out)
    build_report(out)
    return out


def test_report_of_a_real_pipeline_run_agrees_with_its_files(pipeline_dir):
    rep = json.loads((pipeline_dir / "report.json").read_text())
    summary = read_summary(pipeline_dir)
    rows = pq.read_table(pipeline_dir / "pairs.parquet").to_pylist()
    assert rep["warnings"] == []
    assert rep["counts"]["accepted"] == summary["audio"]["accepted"] == sum(r["status"] == "accepted" for r in rows)
    assert rep["counts"]["candidates"] == summary["metadata"]["candidates"] == len(rows)
    assert rep["funnel"]["audio_rejected_by_reason"] == dict(
        sorted(summary["audio"]["rejected_by_reason"].items(), key=lambda kv: (-kv[1], kv[0])))
    assert rep["counts"]["rejected_by_reason"] == rep["funnel"]["audio_rejected_by_reason"]
    assert rep["table"]["rows_listed"] == len(rows)
    with_clips = [p for p, m in rep["media"]["pairs"].items() if "error" not in m]
    assert with_clips and all(next(r for r in rows if r["pair_id"] == p)["offset_s"] is not None for p in with_clips)


def test_real_run_page_in_the_browser(browser, pipeline_dir):
    page = open_report(browser, pipeline_dir)
    summary = read_summary(pipeline_dir)
    assert page.console_errors() == [] and page.dialogs() == []
    shown = page.evaluate("document.querySelector('.funnel-row[data-key=accepted] .value').textContent")
    assert int(shown) == summary["audio"]["accepted"]
    assert matching(page) == summary["metadata"]["candidates"]
    page.evaluate("document.getElementById('f-media').click()")
    first = listed_ids(page)[0]
    expand(page, first)
    assert page.wait_for("(() => { const a = Array.from(document.querySelectorAll('tr.detail audio'));"
                         " return a.length === 3 && a.every(x => x.readyState >= 1); })()")
    assert page.console_errors() == []
