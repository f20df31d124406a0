"""``build_report``: a pairs directory in, ``report.html`` + ``report.json`` out (both written atomically).

The figures (``report_figures``) are plain data (dicts of numbers and strings): ``report.json`` is that dict and
the page is rendered from the same dict, so the two never disagree. The steps, each in its own module: load the
directory (``report.load``), flag the rows (``report.flags``), count (``report.counts``), bin the measurements
(``report.distributions``), pick the rows the page lists and the pairs with media (``report.rows``), draw them
(``report.media``, ``report.plots``), put it in words (``report.text``) and render the page (``report.page``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from report.config import ReportConfig
from report.counts import consistency, funnel, group_tables, table_counts
from report.distributions import distributions, resolve_thresholds
from report.flags import Flags, flag_rows, flags_figures
from report.load import AUDIO, PairsData, load_pairs_dir
from report.media import selected_media
from report.page import render_page
from report.plots import histogram_svg
from report.rows import detail_fields, select_media, table_columns, table_order, table_rows
from report.stems import exported_items
from report.text import format_text, left_out
from vocalmine import code_version
from vocalmine.atomic import atomic_path, write_json

log = logging.getLogger(__name__)


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


def report_figures(data: PairsData, config: ReportConfig, flags: Flags, pair_ids: list[str],
                   media: dict[str, dict[str, Any]], listed: int) -> dict[str, Any]:
    """What ``report.json`` holds (and the page shows): ``pair_ids`` per row, ``media`` by pair id, ``listed``
    rows in the page's table."""
    thresholds = resolve_thresholds(data.summary, config, data.mode)
    funnel_ = funnel(data.summary, data.mode)
    counts = table_counts(data)
    groups = group_tables(data, config)
    resolved = data.pairs_dir.resolve()
    fig: dict[str, Any] = {
        "mode": data.mode,
        "pairs_dir": str(resolved),
        "pairs_dir_name": resolved.name,
        "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "code_version": code_version(),
        "funnel": funnel_,
        "counts": counts,
        "warnings": consistency(funnel_, counts, data.mode) + data.notes,
        "thresholds": [t.__dict__ for t in thresholds],
        "distributions": distributions(data, thresholds, config),
        "groups": groups,
        "flags": flags_figures(flags, pair_ids, config, data.mode),
        "media": {
            "pairs": {pid: {"roles": m["roles"], **({"error": m["error"]} if "error" in m else {})}
                      for pid, m in media.items()},
            "with_clips": sum(1 for m in media.values() if "thumbs" in m),
        },
        "table": {"rows_total": data.table.num_rows, "rows_listed": listed, "page_rows": config.page_rows},
    }
    fig["left_out"] = left_out(data, config, media, fig["flags"]["flagged_pairs"], listed, groups)
    return fig


def write_page(out_dir: Path, page: str, fig: dict[str, Any]) -> tuple[Path, Path, int]:
    """Write ``report.html`` and ``report.json`` into ``out_dir`` (atomically); their paths and the page's bytes."""
    html_path, json_path = out_dir / "report.html", out_dir / "report.json"
    encoded = page.encode("utf-8")
    with atomic_path(html_path) as tmp:
        tmp.write_bytes(encoded)
    write_json(fig, json_path)
    log.info("wrote %s (%.1f MB) and %s", html_path, len(encoded) / 1e6, json_path)
    return html_path, json_path, len(encoded)


def build_report(pairs_dir: str | Path, config: ReportConfig = ReportConfig()) -> ReportSummary:
    """Write ``pairs_dir/report.html`` (self-contained) and ``pairs_dir/report.json`` (same figures).

    Reads ``summary.json``, ``candidates.parquet`` and ``pairs.parquet`` (absent after ``--metadata-only``:
    the audio sections then say so). Raises ``UserInputError`` when the directory is not a mine-pairs output.
    """
    data = load_pairs_dir(pairs_dir)
    table = data.table
    pair_ids = table.column("pair_id").to_pylist()
    flags = flag_rows(data, config)
    selected = select_media(table, flags.masks, config) if data.mode == AUDIO else {}
    media = selected_media(table, selected, config)
    priority = list(selected) + [int(i) for i in np.flatnonzero(flags.flagged) if int(i) not in selected]
    order = table_order(table.num_rows, priority, config.max_table_rows)
    fig = report_figures(data, config, flags, pair_ids, media, int(len(order)))
    if config.stems_dir:
        fig["stems"] = exported_items(config.stems_dir, data.pairs_dir)

    plots = {col: histogram_svg(e) for col, e in fig["distributions"].items() if e.get("available")}
    payload = {
        "mode": data.mode,
        "page_rows": config.page_rows,
        "columns": table_columns(data.mode),
        "rows": table_rows(table, data.mode, flags.names, order),
        "media": media,
        "details": {pair_ids[i]: detail_fields(table, i) for i in selected},
        "stems": fig.get("stems", {}).get("items", {}),
    }
    html_path, json_path, html_bytes = write_page(data.pairs_dir, render_page(fig, plots, payload), fig)
    counts, hours = fig["counts"], fig["funnel"].get("hours_accepted")
    return ReportSummary(
        html_path=html_path, json_path=json_path, mode=data.mode, candidates=counts["candidates"],
        accepted=counts.get("accepted"), rejected=counts.get("rejected"),
        hours_accepted=hours if hours is not None else counts.get("hours_accepted"),
        flagged=fig["flags"]["flagged_pairs"], media_pairs=fig["media"]["with_clips"], table_rows=len(order),
        html_bytes=html_bytes, warnings=tuple(fig["warnings"]),
        text=format_text(fig, html_path, json_path, html_bytes),
    )
