"""The page's pair table: its columns, its rows as plain lists, which rows it lists (bounded by
``max_table_rows``) and which pairs get spectrograms and clips (bounded by the sample sizes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from report.config import ReportConfig
from report.load import AUDIO, float_column, str_column

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
    ("target_error", "Target error (est.)", "num", 2, True),
    ("level_corrections", "Level match", "str", None, False),
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
    """The table's columns as the page's script reads them."""
    spec = AUDIO_COLUMNS if mode == AUDIO else METADATA_COLUMNS
    return [{"key": k, "label": label, "type": t, "digits": d, "show": show} for k, label, t, d, show in spec]


def table_rows(table: pa.Table, mode: str, flags: list[str], order: np.ndarray) -> list[list[Any]]:
    """Rows (lists in ``table_columns`` order) for the rows at ``order``; numbers rounded, NaN -> null."""
    cols: list[list[Any]] = []
    for key, _label, kind, digits, _show in (AUDIO_COLUMNS if mode == AUDIO else METADATA_COLUMNS):
        if key == "flags":
            cols.append([flags[i] for i in order])
        elif kind == "num":
            v = float_column(table, key)[order]
            rounded = np.round(v, digits)
            cols.append([None if not math.isfinite(x) else (int(x) if digits == 0 else x) for x in rounded.tolist()])
        else:
            s = str_column(table, key)
            cols.append([s[i] if s[i] is not None else "" for i in order])
    return [list(r) for r in zip(*cols)] if cols and len(order) else []


def detail_fields(table: pa.Table, i: int) -> dict[str, Any]:
    """Fields shown only in a pair's expanded detail (kept for media pairs only, so the page stays small)."""
    return {k: table.column(k)[i].as_py() for k in ("original_audio_path", "instrumental_audio_path")}


def select_media(table: pa.Table, masks: dict[str, np.ndarray], config: ReportConfig) -> dict[int, list[str]]:
    """Row indices -> roles ('sample', 'flagged') of the pairs that get thumbnails and clips (bounded)."""
    if not config.media:
        return {}
    status = np.array(str_column(table, "status"), dtype=object)
    offset = float_column(table, "offset_s")
    conf = float_column(table, "alignment_confidence")
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


def table_order(n: int, priority: list[int], cap: int) -> np.ndarray:
    """Row indices listed in the page: all when ``n <= cap``, else the priority rows and the first others."""
    if n <= cap:
        return np.arange(n)
    keep = set(priority[:cap])
    for i in range(n):
        if len(keep) >= cap:
            break
        keep.add(i)
    return np.array(sorted(keep), dtype=np.int64)
