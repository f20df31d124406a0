"""The plotted quantities: one histogram per measured column, with the lines drawn on it (the run's acceptance
thresholds, recorded in ``summary.json`` or else the stages' config defaults, and the report's flag rules)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from miner.pipeline import MinerConfig
from pairing.config import PairingConfig
from report.config import ReportConfig
from report.load import AUDIO, METADATA_ONLY, PairsData, float_column, str_column


@dataclass(frozen=True)
class Distribution:
    """One plotted quantity: a column of pairs.parquet (or candidates.parquet for the metadata ones)."""

    column: str
    title: str
    unit: str
    stage: str  # "metadata": in candidates.parquet too; "audio": pairs.parquet only
    lo: float | None = None  # fixed axis ends (extended when the data or a threshold lies outside)
    hi: float | None = None


DISTRIBUTIONS = (
    Distribution("title_score", "Title score", "0-100", "metadata", 0.0, 100.0),
    Distribution("duration_delta_s", "Duration difference (instrumental - original)", "s", "metadata"),
    Distribution("offset_s", "Offset", "s", "audio"),
    Distribution("gain_db", "Gain", "dB", "audio"),
    Distribution("alignment_confidence", "Alignment confidence", "0-1", "audio", 0.0, 1.0),
    Distribution("vocal_energy_share", "Vocal energy share", "0-1", "audio", 0.0, 1.0),
    Distribution("fingerprint_similarity", "Fingerprint similarity", "0.5 unrelated, 1 identical", "audio", 0.5, 1.0),
    Distribution("vocal_free_correlation", "Correlation where the vocal is silent", "-1 to 1", "audio", None, 1.0),
    Distribution("target_error", "Estimated target error", "x the ideal target's", "audio", 1.0, None),
)

METADATA_QUANTITIES = tuple(q.column for q in DISTRIBUTIONS if q.stage == "metadata")


@dataclass(frozen=True)
class Threshold:
    """A line drawn on a distribution: an acceptance threshold of the run, or a report flag rule."""

    column: str
    value: float
    kind: str  # "accept" (the run's rule) or "flag" (the report's rule)
    label: str
    source: str


# Acceptance rules of the run drawn on the plots: (column, bound, label prefix, names a config may use for it).
# Only rules that decide a verdict; search ranges (pairing's max_offset_s) are not quality thresholds.
ACCEPT_RULES = (
    ("title_score", "min", "min", ("title_threshold", "min_title_score")),
    ("duration_delta_s", "abs", "max |delta|", ("duration_tolerance_s", "max_duration_delta_s")),
    ("alignment_confidence", "min", "min", ("min_alignment_confidence",)),
    ("vocal_free_correlation", "min", "min", ("min_vocal_free_correlation",)),
    ("vocal_energy_share", "min", "same-content <=", ("same_content_max_vocal_share",)),
)


def _config_sources(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Dicts of thresholds, most authoritative first: the run's recorded configs, then package defaults."""
    sources: list[tuple[str, dict[str, Any]]] = []
    for section in ("audio", "metadata"):
        cfg = (summary.get(section) or {}).get("config") if isinstance(summary.get(section), dict) else None
        if isinstance(cfg, dict):
            sources.append((f"recorded in summary.json ({section}.config)", _flatten(cfg)))
    sources.extend(_package_defaults())
    return sources


def _flatten(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(_flatten(v))
        else:
            out[k] = v
    return out


def _package_defaults() -> list[tuple[str, dict[str, Any]]]:
    """Defaults of the stages' config dataclasses (what a run used when it recorded no config)."""
    return [("pairing.PairingConfig default", dataclasses.asdict(PairingConfig())),
            ("miner.MinerConfig default", dataclasses.asdict(MinerConfig()))]


def _first_number(sources: list[tuple[str, dict[str, Any]]], names: tuple[str, ...]) -> tuple[float | None, str]:
    """The first finite number under one of ``names`` in the most authoritative source, and where it was found."""
    for src_name, cfg in sources:
        for name in names:
            v = cfg.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                return float(v), f"{src_name}: {name}"
    return None, ""


def resolve_thresholds(summary: dict[str, Any], config: ReportConfig, mode: str) -> list[Threshold]:
    """The acceptance thresholds the run used (recorded in summary.json, else the stages' config defaults),
    and the report's own flag rules."""
    sources = _config_sources(summary)
    out: list[Threshold] = []
    for column, bound, prefix, names in ACCEPT_RULES:
        if mode == METADATA_ONLY and column not in METADATA_QUANTITIES:
            continue
        value, source = _first_number(sources, names)
        if value is None:
            continue
        if bound == "abs":
            label = f"{prefix} {value:g}"
            rel = next((c.get("duration_tolerance_rel") for n, c in sources if source.startswith(n)), None)
            if column == "duration_delta_s" and isinstance(rel, (int, float)) and rel > 0:
                label += f" s or {rel:.0%} of the longer track"
            out.append(Threshold(column, value, "accept", label, source))
            out.append(Threshold(column, -value, "accept", "", source))
        else:
            out.append(Threshold(column, value, "accept", f"{prefix} {value:g}", source))
    if mode == AUDIO:
        src = "report flag rule (ReportConfig)"
        out += [
            Threshold("alignment_confidence", config.low_confidence, "flag", f"flag < {config.low_confidence:g}", src),
            Threshold("vocal_energy_share", config.vocal_share_low, "flag", f"flag < {config.vocal_share_low:g}", src),
            Threshold("vocal_energy_share", config.vocal_share_high, "flag", f"flag > {config.vocal_share_high:g}", src),
            Threshold("offset_s", config.large_offset_s, "flag", f"flag |offset| > {config.large_offset_s:g}", src),
            Threshold("offset_s", -config.large_offset_s, "flag", "", src),
            Threshold("target_error", config.target_error_high, "flag", f"flag > {config.target_error_high:g}", src),
        ]
    return out


def _series(table: pa.Table, mode: str) -> dict[str, np.ndarray]:
    """Boolean ``[rows]`` mask per plotted series: accepted and rejected pairs, or all metadata candidates."""
    status = np.array(str_column(table, "status"), dtype=object)
    if mode == AUDIO:
        return {"accepted": status == "accepted", "rejected": status != "accepted"}
    return {"candidates": np.ones(table.num_rows, dtype=bool)}


def _bin_edges(values: np.ndarray, dist: Distribution, lines: list[Threshold], bins: int) -> np.ndarray:
    """``bins + 1`` edges over the finite ``values``, the quantity's fixed axis ends and its threshold lines."""
    lo, hi = float(values.min()), float(values.max())
    if dist.lo is not None:
        lo = min(lo, dist.lo)
    if dist.hi is not None:
        hi = max(hi, dist.hi)
    for t in lines:
        lo, hi = min(lo, t.value), max(hi, t.value)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def distributions(data: PairsData, thresholds: list[Threshold], config: ReportConfig) -> dict[str, Any]:
    """Histogram per quantity: shared bin edges, counts per series (accepted/rejected or candidates)."""
    series = _series(data.table, data.mode)
    out: dict[str, Any] = {}
    for dist in DISTRIBUTIONS:
        entry: dict[str, Any] = {"column": dist.column, "title": dist.title, "unit": dist.unit}
        lines = [t for t in thresholds if t.column == dist.column]
        entry["thresholds"] = [t.__dict__ for t in lines]
        out[dist.column] = entry
        if dist.stage == "audio" and data.mode != AUDIO:
            entry["available"] = False
            entry["why"] = "no audio stage in this run (--metadata-only)"
            continue
        values = float_column(data.table, dist.column)
        finite = np.isfinite(values)
        entry["available"] = bool(finite.any())
        entry["missing"] = int((~finite).sum())
        if not finite.any():
            entry["why"] = "no pair has this measurement"
            continue
        edges = _bin_edges(values[finite], dist, lines, config.bins)
        entry["edges"] = [round(float(e), 6) for e in edges]
        entry["counts"] = {}
        entry["n"] = {}
        entry["median"] = {}
        for name, mask in series.items():
            v = values[mask & finite]
            entry["counts"][name] = np.histogram(v, bins=edges)[0].astype(int).tolist()
            entry["n"][name] = int(v.size)
            entry["median"][name] = round(float(np.median(v)), 6) if v.size else None
    return out
