"""Load a ``mine-pairs`` output directory (``summary.json``, ``candidates.parquet``, ``pairs.parquet``) and read
its table's columns as numbers or strings, missing values as NaN or None."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog_schemas import CANDIDATES, PAIRS
from vocalmine.errors import UserInputError
from vocalmine.tables import read_checked

AUDIO = "audio"
METADATA_ONLY = "metadata-only"


@dataclass
class PairsData:
    """What a pairs directory holds. ``table`` is pairs.parquet (audio mode) or candidates.parquet."""

    pairs_dir: Path
    mode: str  # AUDIO or METADATA_ONLY
    summary: dict[str, Any]
    table: pa.Table
    candidates_rows: int
    notes: list[str] = field(default_factory=list)


def read_table(path: Path, schema: pa.Schema, required: tuple[str, ...], expected: str) -> pa.Table:
    """The Parquet table at ``path`` with every column of ``schema``: columns a newer or older writer left out
    become nulls, so the report reads any version (``UserInputError`` when unreadable or ``required`` is missing)."""
    table = read_checked(path, required, expected)
    for f in schema:
        if f.name not in table.column_names:
            table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table


def pair_ids(table: pa.Table) -> pa.Array:
    """``{original_id}~{instrumental_id}`` per row (the project's pair id)."""
    ids = [f"{o}~{i}" for o, i in zip(table.column("original_id").to_pylist(),
                                      table.column("instrumental_id").to_pylist())]
    return pa.array(ids, pa.string())


def load_summary(pairs_dir: Path) -> dict[str, Any]:
    """``summary.json`` of a pairs directory as a dict (``UserInputError`` when absent or not a JSON object)."""
    summary_path = pairs_dir / "summary.json"
    if not summary_path.exists():
        raise UserInputError(f"{summary_path}: not found; run mine-pairs first (pair-report reads its output)")
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{summary_path}: not valid JSON ({exc})") from exc
    if not isinstance(summary, dict):
        raise UserInputError(f"{summary_path}: expected a JSON object")
    return summary


def load_pairs_dir(pairs_dir: str | Path) -> PairsData:
    """Read ``summary.json``, ``candidates.parquet`` and ``pairs.parquet`` (absent for ``--metadata-only``)."""
    pairs_dir = Path(pairs_dir)
    if not pairs_dir.is_dir():
        raise UserInputError(f"{pairs_dir}: no such directory (give the output directory of mine-pairs)")
    summary = load_summary(pairs_dir)
    cand_path = pairs_dir / "candidates.parquet"
    pairs_path = pairs_dir / "pairs.parquet"
    notes: list[str] = []
    candidates_rows = 0
    if cand_path.exists():
        candidates_rows = pq.read_metadata(cand_path).num_rows
    if pairs_path.exists():
        table = read_table(pairs_path, PAIRS, ("original_id", "instrumental_id", "status", "reason"),
                           "the pairs schema of mine-pairs, see docs/schemas.md")
        if table.column("pair_id").null_count:  # read_table added the column (as nulls) when it was missing
            table = table.drop_columns(["pair_id"]).append_column("pair_id", pair_ids(table))
        if not cand_path.exists():
            candidates_rows = table.num_rows
            notes.append("candidates.parquet is missing; candidates are counted from pairs.parquet")
        return PairsData(pairs_dir, AUDIO, summary, table, candidates_rows, notes)
    if not cand_path.exists():
        raise UserInputError(f"{pairs_dir}: neither pairs.parquet nor candidates.parquet; run mine-pairs first")
    table = read_table(cand_path, CANDIDATES, ("original_id", "instrumental_id"),
                       "the candidates schema of mine-pairs, see docs/schemas.md")
    table = table.append_column("pair_id", pair_ids(table))
    table = table.append_column("status", pa.array(["candidate"] * table.num_rows, pa.string()))
    table = table.append_column("reason", pa.array([""] * table.num_rows, pa.string()))
    if "audio" in summary:
        notes.append("summary.json has an audio section but pairs.parquet is missing")
    return PairsData(pairs_dir, METADATA_ONLY, summary, table, table.num_rows, notes)


def float_column(table: pa.Table, column: str) -> np.ndarray:
    """A numeric column as float64 ``[rows]`` with nulls (and a missing column) as NaN."""
    if column not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = table.column(column)
    if pa.types.is_null(col.type):
        return np.full(table.num_rows, np.nan)
    return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def str_column(table: pa.Table, column: str) -> list[str | None]:
    """A column as strings ``[rows]`` with nulls (and a missing column) as None."""
    if column not in table.column_names:
        return [None] * table.num_rows
    col = table.column(column)
    if pa.types.is_null(col.type):
        return [None] * table.num_rows
    return col.cast(pa.string()).to_pylist()
