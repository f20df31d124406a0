"""The report in words: what the page leaves out (and why), and the console version of the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from report.config import ReportConfig
from report.load import AUDIO, METADATA_ONLY, PairsData


def left_out(data: PairsData, config: ReportConfig, media: dict[str, dict[str, Any]], flagged: int,
             listed: int, groups: dict[str, Any]) -> list[str]:
    """Sentences saying what the page leaves out: media beyond the sample, table rows beyond the cap, group
    values beyond ``group_rows``, rejected catalog rows (``flagged``: flagged pairs; ``listed``: table rows)."""
    n = data.table.num_rows
    out = []
    if data.mode == METADATA_ONLY:
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
    if fig["mode"] == AUDIO:
        h = fig["funnel"].get("hours_accepted")
        lines.append(f"  {'hours of paired audio':<22}{'-' if h is None else f'{h:,.2f}':>10}")
        reasons = fig["funnel"]["audio_rejected_by_reason"]
        lines.append("  rejected by audio: " + (", ".join(f"{k} {v:,}" for k, v in reasons.items()) or "none"))
    else:
        lines.append("  audio: not run (--metadata-only); the report shows metadata candidates only")
    cat = fig["funnel"]["catalog_rejected_by_reason"]
    lines.append("  catalog rows rejected: " + (", ".join(f"{k} {v:,}" for k, v in cat.items()) or "none"))
    if fig["mode"] == AUDIO:
        fl = fig["flags"]["counts"]
        lines.append(f"  flagged accepted pairs: {fig['flags']['flagged_pairs']:,} ("
                     + ", ".join(f"{k} {v:,}" for k, v in fl.items() if v) + ")" if fig["flags"]["flagged_pairs"]
                     else "  flagged accepted pairs: 0")
    for w in fig["warnings"]:
        lines.append(f"  warning: {w}")
    lines.append(f"report: {html_path} ({html_bytes / 1e6:.1f} MB), {json_path.name}")
    return "\n".join(lines)
