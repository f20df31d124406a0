"""``build_report``: a pairs directory in, ``report.html`` + ``report.json`` out (both written atomically)."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from report import data as d
from report.config import ReportConfig
from report.media import pair_media
from report.page import render_page
from report.plots import histogram_svg
from vocalmine import code_version
from vocalmine.atomic import atomic_path, write_json

log = logging.getLogger(__name__)

_MEDIA_FIELDS = ("pair_id", "original_audio_path", "instrumental_audio_path", "offset_s", "gain_db", "polarity")


@dataclass(frozen=True)
class ReportSummary:
    """What ``build_report`` wrote and the headline figures (``text`` is the console version)."""

    html_path: Path
    json_path: Path
    mode: str  # "audio" or "metadata-only"
    candidates: int
    accepted: int | None
    rejected: int | None
    hours_accepted: float | None
    flagged: int
    media_pairs: int
    table_rows: int
    html_bytes: int
    warnings: tuple[str, ...]
    text: str


def _table_order(n: int, priority: list[int], cap: int) -> np.ndarray:
    """Row indices listed in the page: all when ``n <= cap``, else the priority rows and the first others."""
    if n <= cap:
        return np.arange(n)
    keep = set(priority[:cap])
    for i in range(n):
        if len(keep) >= cap:
            break
        keep.add(i)
    return np.array(sorted(keep), dtype=np.int64)


def _left_out(data: d.PairsData, config: ReportConfig, media: dict[str, dict[str, Any]], flagged: int,
              listed: int, groups: dict[str, Any]) -> list[str]:
    n = data.table.num_rows
    out = []
    if data.mode == d.METADATA_ONLY:
        out.append("No audio stage in this run (--metadata-only): verdicts, alignments, audio measurements, flags, "
                   "hours of audio, spectrograms and clips are absent; the table lists metadata candidates.")
    elif not config.media:
        out.append(f"No spectrograms or audio clips: media were turned off; all {n:,} pairs have numbers only.")
    else:
        with_clips = sum(1 for m in media.values() if "thumbs" in m)
        failed = sum(1 for m in media.values() if "error" in m)
        flagged_media = sum(1 for m in media.values() if "flagged" in m["roles"])
        out.append(
            f"Spectrograms and {config.clip_seconds:g} s clips ({config.clip_sample_rate} Hz mono) exist for "
            f"{with_clips:,} of {n:,} pairs: a random sample of up to {config.sample_accepted} accepted and "
            f"{config.sample_rejected} measured rejected pairs (seed {config.seed}) and "
            + (f"the {flagged_media:,} most flagged accepted pairs (at most {config.flagged_media})" if flagged_media
               else "the flagged accepted pairs (none in this run)")
            + f"; the other {n - with_clips:,} pairs have numbers only, so the page's size stays bounded."
        )
        if flagged > flagged_media:
            out.append(f"{flagged - flagged_media:,} of the {flagged:,} flagged pairs have no clips (over the bound); "
                       "filter the table by flag to list them all.")
        if failed:
            out.append(f"Media failed for {failed} selected pairs (their details say why).")
        out.append("Audio file paths are shown only in the details of pairs with clips (all are in pairs.parquet).")
    if listed < n:
        out.append(f"The table lists {listed:,} of {n:,} rows (flagged and sampled pairs first, then in file "
                   f"order; max_table_rows = {config.max_table_rows:,}); the rest are in the Parquet file only.")
    else:
        out.append(f"The table lists all {n:,} rows, {config.page_rows} per page.")
    for name, g in groups.items():
        if g["values"] > config.group_rows:
            out.append(f"The {name} table shows the {config.group_rows} values with the most pairs; "
                       f"the other {g['values'] - config.group_rows} are summed in one row.")
    out.append("Rejected catalog rows are counted, not listed (see rejected_rows.parquet).")
    return out


def format_text(fig: dict[str, Any], html_path: Path, json_path: Path, html_bytes: int) -> str:
    """The console version of the report."""
    lines = [f"Pair-quality report ({fig['mode']}): {fig['pairs_dir']}"]
    for s in fig["funnel"]["stages"]:
        v = "-" if s["value"] is None else f"{s['value']:,}"
        lines.append(f"  {s['label']:<22}{v:>10}")
    if fig["mode"] == d.AUDIO:
        h = fig["funnel"].get("hours_accepted")
        lines.append(f"  {'hours of paired audio':<22}{'-' if h is None else f'{h:,.2f}':>10}")
        reasons = fig["funnel"]["audio_rejected_by_reason"]
        lines.append("  rejected by audio: " + (", ".join(f"{k} {v:,}" for k, v in reasons.items()) or "none"))
    else:
        lines.append("  audio: not run (--metadata-only); the report shows metadata candidates only")
    cat = fig["funnel"]["catalog_rejected_by_reason"]
    lines.append("  catalog rows rejected: " + (", ".join(f"{k} {v:,}" for k, v in cat.items()) or "none"))
    if fig["mode"] == d.AUDIO:
        fl = fig["flags"]["counts"]
        lines.append(f"  flagged accepted pairs: {fig['flags']['flagged_pairs']:,} ("
                     + ", ".join(f"{k} {v:,}" for k, v in fl.items() if v) + ")" if fig["flags"]["flagged_pairs"]
                     else "  flagged accepted pairs: 0")
    for w in fig["warnings"]:
        lines.append(f"  warning: {w}")
    lines.append(f"report: {html_path} ({html_bytes / 1e6:.1f} MB), {json_path.name}")
    return "\n".join(lines)


def build_report(pairs_dir: str | Path, config: ReportConfig = ReportConfig()) -> ReportSummary:
    """Write ``pairs_dir/report.html`` (self-contained) and ``pairs_dir/report.json`` (same figures).

    Reads ``summary.json``, ``candidates.parquet`` and ``pairs.parquet`` (absent after ``--metadata-only``:
    the audio sections then say so). Raises ``UserInputError`` when the directory is not a mine-pairs output.
    """
    data = d.load_pairs_dir(pairs_dir)
    table, n = data.table, data.table.num_rows
    thresholds = d.resolve_thresholds(data.summary, config, data.mode)
    masks = d.flag_masks(table, config) if data.mode == d.AUDIO else {}
    flags = d.row_flags(masks, n) if masks else [""] * n
    flagged_mask = np.any(list(masks.values()), axis=0) if masks else np.zeros(n, dtype=bool)
    pair_ids = table.column("pair_id").to_pylist()

    funnel = d.funnel(data.summary, data.mode)
    counts = d.table_counts(data)
    groups = d.group_tables(data, config)
    selected = d.select_media(table, masks, config) if data.mode == d.AUDIO else {}

    media: dict[str, dict[str, Any]] = {}
    details: dict[str, dict[str, Any]] = {}
    if selected:
        columns = {c: table.column(c) for c in _MEDIA_FIELDS}
        for i, roles in tqdm(selected.items(), desc="report media", unit="pair", file=sys.stderr,
                             disable=None, leave=False):
            row = {c: col[i].as_py() for c, col in columns.items()}
            media[pair_ids[i]] = {**pair_media(row, config), "roles": roles}
            details[pair_ids[i]] = d.detail_fields(table, i)

    priority = [i for i in selected] + [int(i) for i in np.flatnonzero(flagged_mask) if int(i) not in selected]
    order = _table_order(n, priority, config.max_table_rows)
    fig: dict[str, Any] = {
        "mode": data.mode,
        "pairs_dir": str(Path(pairs_dir).resolve()),
        "pairs_dir_name": Path(pairs_dir).resolve().name,
        "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "code_version": code_version(),
        "funnel": funnel,
        "counts": counts,
        "warnings": d.consistency(funnel, counts, data.mode) + data.notes,
        "thresholds": [t.__dict__ for t in thresholds],
        "distributions": d.distributions(data, thresholds, config),
        "groups": groups,
        "flags": {
            "definitions": d.flag_definitions(config) if data.mode == d.AUDIO else {},
            "counts": {k: int(m.sum()) for k, m in masks.items()},
            "flagged_pairs": int(flagged_mask.sum()),
            "pairs": [{"pair_id": pair_ids[i], "flags": flags[i]} for i in np.flatnonzero(flagged_mask)],
        },
        "media": {
            "pairs": {pid: {"roles": m["roles"], **({"error": m["error"]} if "error" in m else {})}
                      for pid, m in media.items()},
            "with_clips": sum(1 for m in media.values() if "thumbs" in m),
        },
        "table": {"rows_total": n, "rows_listed": int(len(order)), "page_rows": config.page_rows},
    }
    fig["left_out"] = _left_out(data, config, media, fig["flags"]["flagged_pairs"], len(order), groups)

    plots = {col: histogram_svg(e) for col, e in fig["distributions"].items() if e.get("available")}
    payload = {
        "mode": data.mode,
        "page_rows": config.page_rows,
        "columns": d.table_columns(data.mode),
        "rows": d.table_rows(table, data.mode, flags, order),
        "media": media,
        "details": details,
    }
    page = render_page(fig, plots, payload)
    out_dir = Path(pairs_dir)
    html_path, json_path = out_dir / "report.html", out_dir / "report.json"
    encoded = page.encode("utf-8")
    with atomic_path(html_path) as tmp:
        tmp.write_bytes(encoded)
    write_json(fig, json_path)
    text = format_text(fig, html_path, json_path, len(encoded))
    log.info("wrote %s (%.1f MB) and %s", html_path, len(encoded) / 1e6, json_path)
    return ReportSummary(
        html_path=html_path, json_path=json_path, mode=data.mode, candidates=counts["candidates"],
        accepted=counts.get("accepted"), rejected=counts.get("rejected"),
        hours_accepted=funnel.get("hours_accepted") if funnel.get("hours_accepted") is not None
        else counts.get("hours_accepted"),
        flagged=fig["flags"]["flagged_pairs"], media_pairs=fig["media"]["with_clips"], table_rows=len(order),
        html_bytes=len(encoded), warnings=tuple(fig["warnings"]), text=text,
    )
