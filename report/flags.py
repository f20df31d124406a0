"""The report's flags: accepted pairs worth a look before training on them (``ReportConfig`` holds the rules;
a rejected pair already has its reason)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from report.config import ReportConfig
from report.load import AUDIO, PairsData, float_column, str_column

FLAG_NAMES = ("low-confidence", "vocal-near-zero", "vocal-near-one", "large-offset", "clipping", "edited", "drift",
              "low-usable", "leakage", "target-error", "level-at-bound")


@dataclass(frozen=True)
class Flags:
    """The flags of a table's rows (none for a metadata-only run)."""

    masks: dict[str, np.ndarray]  # flag name -> bool [rows]; empty without an audio stage
    names: list[str]  # per row: space-separated flag names ('' when none)
    flagged: np.ndarray  # bool [rows]: at least one flag


def flag_masks(table: pa.Table, config: ReportConfig) -> dict[str, np.ndarray]:
    """Boolean ``[rows]`` mask per flag; only accepted pairs are flagged (NaN measurements flag nothing)."""
    accepted = np.array([s == "accepted" for s in str_column(table, "status")], dtype=bool)
    with np.errstate(invalid="ignore"):
        conf = float_column(table, "alignment_confidence")
        share = float_column(table, "vocal_energy_share")
        offset = float_column(table, "offset_s")
        clip = float_column(table, "clipping")
        usable_share = float_column(table, "usable_s") / float_column(table, "original_seconds")
        masks = {
            "low-confidence": conf < config.low_confidence,
            "vocal-near-zero": share < config.vocal_share_low,
            "vocal-near-one": share > config.vocal_share_high,
            "large-offset": np.abs(offset) > config.large_offset_s,
            "clipping": clip > config.clipping,
            # issue 10's alignment map: worth a look even when accepted (map drawn with the media)
            "edited": float_column(table, "segments") > 1,
            "drift": np.abs(float_column(table, "drift_ppm")) >= config.drift_ppm,
            "low-usable": usable_share < config.usable_share_low,
            "leakage": float_column(table, "leakage_db") > config.leakage_db_high,
            # issue 18: the estimated target error, and a level-match correction clipped to its bound
            "target-error": float_column(table, "target_error") > config.target_error_high,
            "level-at-bound": np.array(["at-bound" in (c or "").split() for c in str_column(table, "level_corrections")],
                                       dtype=bool),
        }
    return {k: m & accepted for k, m in masks.items()}


def flag_definitions(config: ReportConfig) -> dict[str, str]:
    """Each flag's rule in words, with the config's numbers."""
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
        "target-error": f"estimated target error above {config.target_error_high:g} times the ideal target's",
        "level-at-bound": "a level-match correction (a band gain) sits at its bound",
    }


def row_flags(masks: dict[str, np.ndarray], rows: int) -> list[str]:
    """Space-separated flag names per row ('' when none)."""
    out = [""] * rows
    for name in FLAG_NAMES:
        for i in np.flatnonzero(masks[name]):
            out[i] = f"{out[i]} {name}" if out[i] else name
    return out


def flag_rows(data: PairsData, config: ReportConfig) -> Flags:
    """The flags of ``data``'s rows (only an audio run measures what the flags test)."""
    n = data.table.num_rows
    masks = flag_masks(data.table, config) if data.mode == AUDIO else {}
    names = row_flags(masks, n) if masks else [""] * n
    flagged = np.any(list(masks.values()), axis=0) if masks else np.zeros(n, dtype=bool)
    return Flags(masks, names, flagged)


def flags_figures(flags: Flags, pair_ids: list[str], config: ReportConfig, mode: str) -> dict[str, Any]:
    """report.json's ``flags`` section: the rules, the count per flag and the flagged pairs."""
    return {
        "definitions": flag_definitions(config) if mode == AUDIO else {},
        "counts": {k: int(m.sum()) for k, m in flags.masks.items()},
        "flagged_pairs": int(flags.flagged.sum()),
        "pairs": [{"pair_id": pair_ids[i], "flags": flags.names[i]} for i in np.flatnonzero(flags.flagged)],
    }
