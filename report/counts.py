"""The report's counts: the funnel as ``summary.json`` states it, the same counts from the Parquet files (and
where the two disagree), and the share of pairs per genre, label and year."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np

from pairing.dedup import reason_group
from report.config import ReportConfig
from report.load import AUDIO, PairsData, float_column, str_column


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _reasons(d: Any) -> dict[str, int]:
    """A ``rejected_by_reason`` dict with ``duplicate-of:*`` grouped, sorted by count (desc)."""
    grouped: Counter[str] = Counter()
    if isinstance(d, dict):
        for k, v in d.items():
            n = _int(v)
            if n is not None:
                grouped[reason_group(str(k))] += n
    return dict(sorted(grouped.items(), key=lambda kv: (-kv[1], kv[0])))


def funnel(summary: dict[str, Any], mode: str) -> dict[str, Any]:
    """The funnel as summary.json states it."""
    meta = summary.get("metadata") if isinstance(summary.get("metadata"), dict) else {}
    audio = summary.get("audio") if isinstance(summary.get("audio"), dict) else None
    stages = [
        {"key": "rows_read", "label": "catalog rows", "value": _int(meta.get("rows_read"))},
        {"key": "rows_used", "label": "catalog rows used", "value": _int(meta.get("rows_used"))},
        {"key": "marked", "label": "marked instrumentals", "value": _int(meta.get("marked"))},
        {"key": "candidates", "label": "candidate pairs", "value": _int(meta.get("candidates"))},
    ]
    out: dict[str, Any] = {
        "stages": stages,
        "catalog_rejected_by_reason": _reasons(meta.get("rejected_by_reason")),
        "metadata_extra": {k: _int(meta.get(k)) for k in ("rows_rejected", "blocks", "compared") if k in meta},
    }
    if mode == AUDIO and audio is not None:
        stages.append({"key": "accepted", "label": "accepted pairs", "value": _int(audio.get("accepted"))})
        hours = audio.get("hours_accepted")
        out["hours_accepted"] = float(hours) if isinstance(hours, (int, float)) else None
        out["audio_rejected"] = _int(audio.get("rejected"))
        out["audio_candidates"] = _int(audio.get("candidates"))
        out["audio_rejected_by_reason"] = _reasons(audio.get("rejected_by_reason"))
        out["audio_rejected_by_reason_raw"] = {str(k): v for k, v in (audio.get("rejected_by_reason") or {}).items()}
    else:
        out["hours_accepted"] = None
        out["audio_rejected_by_reason"] = {}
    return out


def table_counts(data: PairsData) -> dict[str, Any]:
    """Counts computed from the Parquet files themselves (checked against summary.json)."""
    status = str_column(data.table, "status")
    counts: dict[str, Any] = {"candidates": data.candidates_rows, "rows": data.table.num_rows}
    if data.mode == AUDIO:
        reasons = Counter(reason_group(r) for r, s in zip(str_column(data.table, "reason"), status)
                          if s != "accepted")
        acc = np.array([s == "accepted" for s in status], dtype=bool)
        secs = float_column(data.table, "original_seconds")
        counts.update(
            accepted=int(acc.sum()),
            rejected=int((~acc).sum()),
            rejected_by_reason=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            hours_accepted=round(float(np.nansum(secs[acc])) / 3600.0, 4),
        )
    return counts


def consistency(funnel_: dict[str, Any], counts: dict[str, Any], mode: str) -> list[str]:
    """Disagreements between summary.json and the Parquet files, in words."""
    out = []
    by_key = {s["key"]: s["value"] for s in funnel_["stages"]}
    if by_key.get("candidates") is not None and by_key["candidates"] != counts["candidates"]:
        out.append(f"summary.json says {by_key['candidates']} candidates; candidates.parquet has {counts['candidates']}")
    if mode == AUDIO:
        if by_key.get("accepted") is not None and by_key["accepted"] != counts["accepted"]:
            out.append(f"summary.json says {by_key['accepted']} accepted pairs; pairs.parquet has {counts['accepted']}")
        h = funnel_.get("hours_accepted")
        if h is not None and abs(h - counts["hours_accepted"]) > max(0.01 * h, 0.01):
            out.append(f"summary.json says {h:.2f} h accepted; pairs.parquet's original_seconds add up to "
                       f"{counts['hours_accepted']:.2f} h")
    return out


def _year(value: str | None) -> str | None:
    m = re.match(r"\s*(\d{4})", value or "")
    return m.group(1) if m else None


def group_tables(data: PairsData, config: ReportConfig) -> dict[str, Any]:
    """Share of pairs per genre (the paper's Table 1), label and year, when the catalog has those columns."""
    status = str_column(data.table, "status")
    columns = {
        "genre": str_column(data.table, "genre"),
        "label": str_column(data.table, "label"),
        "year": [_year(v) for v in str_column(data.table, "release_date")],
    }
    out: dict[str, Any] = {}
    accepted_total = sum(1 for s in status if s == "accepted")
    for name, values in columns.items():
        if not any(v not in (None, "") for v in values):
            continue
        cand: Counter[str] = Counter()
        acc: Counter[str] = Counter()
        for v, s in zip(values, status):
            key = v if v not in (None, "") else "(none)"
            cand[key] += 1
            if s == "accepted":
                acc[key] += 1
        rows = []
        order = sorted(cand, key=lambda k: (-acc[k], -cand[k], k))
        shown, rest = order[: config.group_rows], order[config.group_rows:]
        base = accepted_total if data.mode == AUDIO else len(values)
        for k in shown:
            count = acc[k] if data.mode == AUDIO else cand[k]
            rows.append({"value": k, "candidates": cand[k], "accepted": acc[k] if data.mode == AUDIO else None,
                         "share": round(100.0 * count / base, 2) if base else 0.0})
        if rest:
            c = sum(cand[k] for k in rest)
            a = sum(acc[k] for k in rest)
            count = a if data.mode == AUDIO else c
            rows.append({"value": f"(other: {len(rest)} values)", "candidates": c,
                         "accepted": a if data.mode == AUDIO else None,
                         "share": round(100.0 * count / base, 2) if base else 0.0})
        out[name] = {"rows": rows, "values": len(order),
                     "share_of": "accepted pairs" if data.mode == AUDIO else "candidates"}
    return out
