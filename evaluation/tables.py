"""What an evaluation wrote: ``evaluation.json`` (everything) and ``evaluation.md`` (the tables)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.metrics import METRICS, SOURCES, summary_markdown
from vocalmine import storage
from vocalmine.atomic import atomic_path, write_json


@dataclass
class EvalReport:
    """Per-song rows, failures (song, reason), the summary, and where they were written.

    ``rows`` / ``summary``: the primary system's (the model's); ``systems``: ``{name: {"rows", "summary",
    "instrumental_only", "levels"}}`` for every system, the primary included.
    """

    rows: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0
    json_path: Path | None = None
    markdown_path: Path | None = None
    metrics: str = "v3"
    systems: dict = field(default_factory=dict)
    primary: str = ""


def finite(value):
    """``value`` with every NaN or infinite float replaced by None (JSON ``null``): strict JSON parsers refuse
    a bare ``NaN``. Dicts, lists and tuples are copied; other values kept."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():  # a numpy scalar
        return finite(value.item())
    return value


def _f(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def comparison_markdown(report: EvalReport) -> str:
    """One row per system: vocal and accompaniment NSDR and SDR (mean and median), and instrumental-only levels."""
    med = "median of medians" if report.metrics == "v4" else "median"
    lines = [f"All systems on the same songs (BSS Eval {report.metrics}, dB; {med} over songs):", "",
             "| system | songs | vocals NSDR mean | vocals NSDR median | vocals SDR median | acc. NSDR mean "
             "| acc. SDR median | instrumental-only songs: vocals level mean / max (dB re mix) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, s in report.systems.items():
        sm, lv = s["summary"], s["levels"]
        levels = f"{_f(lv['mean_db'])} / {_f(lv['max_db'])} ({lv['songs']} songs)" if lv["songs"] else "-"
        lines.append(f"| {name} | {len(s['rows'])} | {_f(sm['vocals']['nsdr']['mean'])} | "
                     f"{_f(sm['vocals']['nsdr']['median'])} | {_f(sm['vocals']['sdr']['median'])} | "
                     f"{_f(sm['accompaniment']['nsdr']['mean'])} | {_f(sm['accompaniment']['sdr']['median'])} | "
                     f"{levels} |")
    return "\n".join(lines) + "\n"


def write_report(report: EvalReport, out_dir: str | os.PathLike, meta: dict | None = None, title: str = "") -> EvalReport:
    """``out_dir/evaluation.json`` (meta, the primary's summary and songs, failures, every system; strict JSON:
    an undefined score is ``null``, never ``NaN``) and
    ``out_dir/evaluation.md`` (summary, comparison, per-song and instrumental-only tables, failures)."""
    out = storage.path(out_dir)  # a Path, or a URL (vocalmine.storage.urlpath.URLPath)
    out.mkdir(parents=True, exist_ok=True)
    report.json_path = write_json(
        finite({"meta": meta or {}, "metrics": report.metrics, "summary": report.summary, "songs": report.rows,
                "failures": report.failures, "systems": report.systems, "seconds": report.seconds}),
        out / "evaluation.json",
    )
    kind = f"BSS Eval {report.metrics}" + (", per song the median over 1 s windows, so the median column is the "
                                           "median of medians" if report.metrics == "v4" else "")
    md = [summary_markdown(report.summary, len(report.rows), f"{title} [{kind}]" if title else kind)]
    others = [n for n in report.systems if n != report.primary]
    if report.systems and (others or any(s["instrumental_only"] for s in report.systems.values())):
        md += [comparison_markdown(report)]
    md += ["Per song (dB):", "",
           "| song | s | vocals NSDR | vocals SDR | vocals SIR | vocals SAR | acc. NSDR | acc. SDR | acc. SIR | acc. SAR |"
           + "".join(f" {n} vocals NSDR |" for n in others),
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(others)]
    by_song = {n: {r["song"]: r for r in report.systems[n]["rows"]} for n in others}
    for r in report.rows:
        md.append(f"| {r['song']} | {r['seconds']:.1f} | " + " | ".join(
            _f(r[f"{s}_{m}"]) for s in SOURCES for m in METRICS) + " |"
            + "".join(f" {_f(by_song[n].get(r['song'], {}).get('vocals_nsdr'))} |" for n in others))
    inst = {n: {r["song"]: r for r in s["instrumental_only"]} for n, s in report.systems.items()}
    songs = list(inst.get(report.primary, {}))
    if songs:
        md += ["", "Instrumental-only songs (silent true vocals): vocal estimate level relative to the mixture (dB; "
               "lower is better, -10 dB or below wanted):", "",
               "| song | s | " + " | ".join(inst) + " |", "|---|---:|" + "---:|" * len(inst)]
        for song in songs:
            md.append(f"| {song} | {inst[report.primary][song]['seconds']:.1f} | "
                      + " | ".join(_f(inst[n].get(song, {}).get("vocals_level_db")) for n in inst) + " |")
    if report.failures:
        md += ["", "Not scored:", ""] + [f"- {f['song']}: {f['reason']}" for f in report.failures]
    report.markdown_path = out / "evaluation.md"
    with atomic_path(report.markdown_path) as tmp:
        tmp.write_text("\n".join(md) + "\n")
    return report
