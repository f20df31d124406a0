"""Reading a Parquet table another stage wrote: one message for an unreadable file, one for missing columns."""

from __future__ import annotations

from typing import Any, Sequence

import pyarrow as pa

from vocalmine import storage
from vocalmine.errors import UserInputError


def read_checked(path: Any, required: Sequence[str], expected: str, columns: Sequence[str] | None = None) -> pa.Table:
    """The Parquet table at ``path`` (a local path or URL), reading only ``columns`` when given.

    Raises ``UserInputError``: ``<path>: not a readable Parquet file (...)`` or ``<path> lacks the column(s) a, b
    (expected <expected>)``, where ``expected`` names what the file should be ("the pairs schema, see
    docs/schemas.md")."""
    try:
        names = storage.parquet_file(path).schema_arrow.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserInputError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [c for c in required if c not in names]
    if missing:
        raise UserInputError(f"{path} lacks the column(s) {', '.join(missing)} (expected {expected})")
    try:
        return storage.read_parquet(path, columns=[c for c in columns if c in names] if columns else None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserInputError(f"{path}: not a readable Parquet file ({exc})") from exc
