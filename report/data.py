"""Load a pairs directory and compute the report's figures (funnel, distributions, groups, flags, table rows).

Everything here is plain data (dicts of numbers and strings): ``report.json`` is ``compute_figures``' result and
the page is rendered from the same dict, so the two never disagree.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog_schemas import CANDIDATES, PAIRS
from miner.pipeline import MinerConfig
from pairing.config import PairingConfig
from pairing.dedup import reason_group
from report.config import ReportConfig
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

AUDIO = "audio"
METADATA_ONLY = "metadata-only"

FLAG_NAMES = ("low-confidence", "vocal-near-zero", "vocal-near-one", "large-offset", "clipping", "edited", "drift",
              "low-usable", "leakage")


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


@dataclass
class PairsData:
    """What a pairs directory holds. ``table`` is pairs.parquet (audio mode) or candidates.parquet."""

    pairs_dir: Path
    mode: str
    summary: dict[str, Any]
    table: pa.Table
    candidates_rows: int
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- loading


def _read_parquet(path: Path, schema: pa.Schema, required: tuple[str, ...]) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UserInputError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise UserInputError(f"{path}: missing column(s) {', '.join(missing)}; is this a mine-pairs output?")
    # Columns a newer or older writer left out become nulls, so the report reads any version.
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table


def _pair_ids(table: pa.Table) -> pa.Array:
    """``{original_id}~{instrumental_id}`` per row (the project's pair id)."""
    ids = [f"{o}~{i}" for o, i in zip(table.column("original_id").to_pylist(),
                                      table.column("instrumental_id").to_pylist())]
    return pa.array(ids, pa.string())


def load_pairs_dir(pairs_dir: str | Path) -> PairsData:
    """Read ``summary.json``, ``candidates.parquet`` and ``pairs.parquet`` (absent for ``--metadata-only``)."""
    pairs_dir = Path(pairs_dir)
    if not pairs_dir.is_dir():
        raise UserInputError(f"{pairs_dir}: no such directory (give the output directory of mine-pairs)")
    summary_path = pairs_dir / "summary.json"
    if not summary_path.exists():
        raise UserInputError(f"{summary_path}: not found; run mine-pairs first (pair-report reads its output)")
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{summary_path}: not valid JSON ({exc})") from exc
    if not isinstance(summary, dict):
        raise UserInputError(f"{summary_path}: expected a JSON object")
    cand_path = pairs_dir / "candidates.parquet"
    pairs_path = pairs_dir / "pairs.parquet"
    notes: list[str] = []
    candidates_rows = 0
    if cand_path.exists():
        candidates_rows = pq.read_metadata(cand_path).num_rows
    if pairs_path.exists():
        table = _read_parquet(pairs_path, PAIRS, ("original_id", "instrumental_id", "status", "reason"))
        if table.column("pair_id").null_count:  # _read_parquet added the column (as nulls) when it was missing
            table = table.drop_columns(["pair_id"]).append_column("pair_id", _pair_ids(table))
        if not cand_path.exists():
            candidates_rows = table.num_rows
            notes.append("candidates.parquet is missing; candidates are counted from pairs.parquet")
        return PairsData(pairs_dir, AUDIO, summary, table, candidates_rows, notes)
    if not cand_path.exists():
        raise UserInputError(f"{pairs_dir}: neither pairs.parquet nor candidates.parquet; run mine-pairs first")
    table = _read_parquet(cand_path, CANDIDATES, ("original_id", "instrumental_id"))
    table = table.append_column("pair_id", _pair_ids(table))
    table = table.append_column("status", pa.array(["candidate"] * table.num_rows, pa.string()))
    table = table.append_column("reason", pa.array([""] * table.num_rows, pa.string()))
    if "audio" in summary:
        notes.append("summary.json has an audio section but pairs.parquet is missing")
    return PairsData(pairs_dir, METADATA_ONLY, summary, table, table.num_rows, notes)


# ------------------------------------------------------------------------------------------ thresholds

# Acceptance rules of the run drawn on the plots: (column, bound, label prefix, names a config may use for it).
# Only rules that decide a verdict; search ranges (pairing's max_offset_s) are not quality thresholds.
_ACCEPT_RULES = (
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


def resolve_thresholds(summary: dict[str, Any], config: ReportConfig, mode: str) -> list[Threshold]:
    """The acceptance thresholds the run used (recorded in summary.json, else the stages' config defaults),
    and the report's own flag rules."""
    sources = _config_sources(summary)
    out: list[Threshold] = []
    for column, bound, prefix, names in _ACCEPT_RULES:
        if mode == METADATA_ONLY and column not in METADATA_QUANTITIES:
            continue
        value, source = None, ""
        for src_name, cfg in sources:
            for name in names:
                v = cfg.get(name)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    value, source = float(v), f"{src_name}: {name}"
                    break
            if value is not None:
                break
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
        ]
    return out


# ----------------------------------------------------------------------------------------------- flags


def _num(table: pa.Table, column: str) -> np.ndarray:
    """A numeric column as float64 ``[rows]`` with nulls (and a missing column) as NaN."""
    if column not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = table.column(column)
    if pa.types.is_null(col.type):
        return np.full(table.num_rows, np.nan)
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def _str(table: pa.Table, column: str) -> list[str | None]:
    if column not in table.column_names:
        return [None] * table.num_rows
    col = table.column(column)
    if pa.types.is_null(col.type):
        return [None] * table.num_rows
    return col.cast(pa.string()).to_pylist()


def flag_masks(table: pa.Table, config: ReportConfig) -> dict[str, np.ndarray]:
    """Boolean ``[rows]`` mask per flag; only accepted pairs are flagged (NaN measurements flag nothing)."""
    accepted = np.array([s == "accepted" for s in _str(table, "status")], dtype=bool)
    with np.errstate(invalid="ignore"):
        conf = _num(table, "alignment_confidence")
        share = _num(table, "vocal_energy_share")
        offset = _num(table, "offset_s")
        clip = _num(table, "clipping")
        usable_share = _num(table, "usable_s") / _num(table, "original_seconds")
        masks = {
            "low-confidence": conf < config.low_confidence,
            "vocal-near-zero": share < config.vocal_share_low,
            "vocal-near-one": share > config.vocal_share_high,
            "large-offset": np.abs(offset) > config.large_offset_s,
            "clipping": clip > config.clipping,
            # issue 10's alignment map: worth a look even when accepted (map drawn with the media)
            "edited": _num(table, "segments") > 1,
            "drift": np.abs(_num(table, "drift_ppm")) >= config.drift_ppm,
            "low-usable": usable_share < config.usable_share_low,
            "leakage": _num(table, "leakage_db") > config.leakage_db_high,
        }
    return {k: m & accepted for k, m in masks.items()}


def flag_definitions(config: ReportConfig) -> dict[str, str]:
    return {
        "low-confidence": f"alignment confidence below {config.low_confidence:g}",
        "vocal-near-zero": f"vocal energy share below {config.vocal_share_low:g}: the instrumental may still hold the voice",
        "vocal-near-one": f"vocal energy share above {config.vocal_share_high:g}: the instrumental explains little of the original",
        "large-offset": f"|offset| above {config.large_offset_s:g} s",
        "clipping": f"more than {config.clipping:.2%} of samples at or near full scale",
        "edited": "the alignment map has more than one segment (an edit, another intro)",
        "drift": f"a clock drift of {config.drift_ppm:g} ppm or more was corrected",
        "low-usable": f"less than {config.usable_share_low:.0%} of the original is trusted for training",
        "leakage": f"estimated accompaniment leakage above {config.leakage_db_high:g} dB",
    }


def row_flags(masks: dict[str, np.ndarray], rows: int) -> list[str]:
    """Space-separated flag names per row ('' when none)."""
    out = [""] * rows
    for name in FLAG_NAMES:
        for i in np.flatnonzero(masks[name]):
            out[i] = f"{out[i]} {name}" if out[i] else name
    return out


# ------------------------------------------------------------------------------------------- figures


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
    status = _str(data.table, "status")
    counts: dict[str, Any] = {"candidates": data.candidates_rows, "rows": data.table.num_rows}
    if data.mode == AUDIO:
        reasons = Counter(reason_group(r) for r, s in zip(_str(data.table, "reason"), status) if s != "accepted")
        acc = np.array([s == "accepted" for s in status], dtype=bool)
        secs = _num(data.table, "original_seconds")
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


def _series(table: pa.Table, mode: str) -> dict[str, np.ndarray]:
    status = np.array(_str(table, "status"), dtype=object)
    if mode == AUDIO:
        return {"accepted": status == "accepted", "rejected": status != "accepted"}
    return {"candidates": np.ones(table.num_rows, dtype=bool)}


def distributions(data: PairsData, thresholds: list[Threshold], config: ReportConfig) -> dict[str, Any]:
    """Histogram per quantity: shared bin edges, counts per series (accepted/rejected or candidates)."""
    series = _series(data.table, data.mode)
    out: dict[str, Any] = {}
    for dist in DISTRIBUTIONS:
        entry: dict[str, Any] = {"column": dist.column, "title": dist.title, "unit": dist.unit}
        lines = [t for t in thresholds if t.column == dist.column]
        entry["thresholds"] = [t.__dict__ for t in lines]
        if dist.stage == "audio" and data.mode != AUDIO:
            entry["available"] = False
            entry["why"] = "no audio stage in this run (--metadata-only)"
            out[dist.column] = entry
            continue
        values = _num(data.table, dist.column)
        finite = np.isfinite(values)
        entry["available"] = bool(finite.any())
        entry["missing"] = int((~finite).sum())
        if not finite.any():
            entry["why"] = "no pair has this measurement"
            out[dist.column] = entry
            continue
        lo = float(values[finite].min())
        hi = float(values[finite].max())
        if dist.lo is not None:
            lo = min(lo, dist.lo)
        if dist.hi is not None:
            hi = max(hi, dist.hi)
        for t in lines:
            lo, hi = min(lo, t.value), max(hi, t.value)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, config.bins + 1)
        entry["edges"] = [round(float(e), 6) for e in edges]
        entry["counts"] = {}
        entry["n"] = {}
        entry["median"] = {}
        for name, mask in series.items():
            v = values[mask & finite]
            entry["counts"][name] = np.histogram(v, bins=edges)[0].astype(int).tolist()
            entry["n"][name] = int(v.size)
            entry["median"][name] = round(float(np.median(v)), 6) if v.size else None
        out[dist.column] = entry
    return out


def _year(value: str | None) -> str | None:
    m = re.match(r"\s*(\d{4})", value or "")
    return m.group(1) if m else None


def group_tables(data: PairsData, config: ReportConfig) -> dict[str, Any]:
    """Share of pairs per genre (the paper's Table 1), label and year, when the catalog has those columns."""
    status = _str(data.table, "status")
    columns = {
        "genre": _str(data.table, "genre"),
        "label": _str(data.table, "label"),
        "year": [_year(v) for v in _str(data.table, "release_date")],
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


# ---------------------------------------------------------------------------------------- table rows

#: Columns of the page's pair table: key, label, type, decimals (numbers), shown (else only in the details).
AUDIO_COLUMNS = (
    ("original_id", "Original id", "str", None, False),
    ("instrumental_id", "Instrumental id", "str", None, False),
    ("artist", "Artist", "str", None, True),
    ("original_title", "Original title", "str", None, True),
    ("instrumental_title", "Instrumental title", "str", None, True),
    ("status", "Status", "str", None, True),
    ("reason", "Reason", "str", None, True),
    ("detail", "Verdict detail", "str", None, False),
    ("flags", "Flags", "str", None, True),
    ("title_score", "Title score", "num", 1, True),
    ("duration_delta_s", "Δ duration (s)", "num", 2, True),
    ("offset_s", "Offset (s)", "num", 3, True),
    ("gain_db", "Gain (dB)", "num", 2, True),
    ("alignment_confidence", "Confidence", "num", 3, True),
    ("vocal_energy_share", "Vocal share", "num", 3, True),
    ("fingerprint_similarity", "Fingerprint", "num", 3, True),
    ("vocal_free_correlation", "Vocal-free corr.", "num", 3, True),
    ("vocal_activity", "Vocal activity", "num", 3, True),
    ("clipping", "Clipping", "num", 5, True),
    ("segments", "Segments", "num", 0, True),
    ("drift_ppm", "Drift (ppm)", "num", 0, True),
    ("usable_s", "Usable (s)", "num", 1, True),
    ("leakage_db", "Leakage (dB)", "num", 1, True),
    ("polarity", "Polarity", "num", 0, False),
    ("marker", "Marker", "str", None, False),
    ("original_duration_s", "Original duration (s)", "num", 2, False),
    ("instrumental_duration_s", "Instrumental duration (s)", "num", 2, False),
    ("original_seconds", "Decoded original (s)", "num", 2, False),
    ("instrumental_seconds", "Decoded instrumental (s)", "num", 2, False),
    ("genre", "Genre", "str", None, False),
    ("label", "Label", "str", None, False),
    ("release_date", "Release date", "str", None, False),
    ("content_group", "Content group", "str", None, False),
)

METADATA_COLUMNS = tuple(
    c for c in AUDIO_COLUMNS
    if c[0] in ("original_id", "instrumental_id", "artist", "original_title", "instrumental_title", "status", "title_score",
                "duration_delta_s", "marker", "original_duration_s", "instrumental_duration_s", "genre", "label",
                "release_date")
)


def table_columns(mode: str) -> list[dict[str, Any]]:
    spec = AUDIO_COLUMNS if mode == AUDIO else METADATA_COLUMNS
    return [{"key": k, "label": label, "type": t, "digits": d, "show": show} for k, label, t, d, show in spec]


def table_rows(table: pa.Table, mode: str, flags: list[str], order: np.ndarray) -> list[list[Any]]:
    """Rows (lists in ``table_columns`` order) for the rows at ``order``; numbers rounded, NaN -> null."""
    cols: list[list[Any]] = []
    for key, _label, kind, digits, _show in (AUDIO_COLUMNS if mode == AUDIO else METADATA_COLUMNS):
        if key == "flags":
            cols.append([flags[i] for i in order])
        elif kind == "num":
            v = _num(table, key)[order]
            rounded = np.round(v, digits)
            cols.append([None if not math.isfinite(x) else (int(x) if digits == 0 else x) for x in rounded.tolist()])
        else:
            s = _str(table, key)
            cols.append([s[i] if s[i] is not None else "" for i in order])
    return [list(r) for r in zip(*cols)] if cols and len(order) else []


def detail_fields(table: pa.Table, i: int) -> dict[str, Any]:
    """Fields shown only in a pair's expanded detail (kept for media pairs only, so the page stays small)."""
    return {k: table.column(k)[i].as_py() for k in ("original_audio_path", "instrumental_audio_path")}


def select_media(table: pa.Table, masks: dict[str, np.ndarray], config: ReportConfig) -> dict[int, list[str]]:
    """Row indices -> roles ('sample', 'flagged') of the pairs that get thumbnails and clips (bounded)."""
    if not config.media:
        return {}
    status = np.array(_str(table, "status"), dtype=object)
    offset = _num(table, "offset_s")
    conf = _num(table, "alignment_confidence")
    rng = np.random.default_rng(config.seed)
    roles: dict[int, list[str]] = {}
    flag_count = np.sum([m for m in masks.values()], axis=0) if masks else np.zeros(table.num_rows, int)
    flagged = np.flatnonzero(flag_count > 0)
    if flagged.size:
        key = np.lexsort((np.nan_to_num(conf[flagged], nan=2.0), -flag_count[flagged]))
        for i in flagged[key][: config.flagged_media]:
            roles.setdefault(int(i), []).append("flagged")
    acc = np.flatnonzero(status == "accepted")
    rej = np.flatnonzero((status == "rejected") & np.isfinite(offset))  # measured, so it can be aligned
    for pool, n in ((acc, config.sample_accepted), (rej, config.sample_rejected)):
        for i in sorted(rng.choice(pool, size=min(n, pool.size), replace=False).tolist()) if pool.size else []:
            roles.setdefault(int(i), []).append("sample")
    return dict(sorted(roles.items()))
