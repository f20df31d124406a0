"""Atomic outputs: write to a temporary name in the same folder, then rename, so an interrupted run never
leaves a half file that looks whole."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error remove it."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(table: pa.Table, path: str | os.PathLike, **parquet_options: Any) -> Path:
    """Write ``table`` as Parquet atomically; returns the final path."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **parquet_options)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON atomically; returns the final path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
    return Path(path)


def update_json(path: str | os.PathLike, section: str, value: Any) -> dict:
    """Set ``section`` of the JSON object in ``path`` (created when missing) and rewrite it atomically."""
    path = Path(path)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[section] = value
    write_json(data, path)
    return data
