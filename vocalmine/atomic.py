"""Atomic outputs: an interrupted run never leaves a half file (or object) that looks whole.

A thin layer over ``vocalmine.storage``: every function takes a local path or an fsspec URL. Locally the data
goes to a temporary name in the same folder, then a rename; on an object store to a local temporary file that
is uploaded once, complete. ``provenance=`` records which run wrote the file and from which inputs
(``vocalmine.provenance``), so stale outputs of earlier runs can be found and removed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from vocalmine import provenance, storage
from vocalmine.errors import UserInputError
from vocalmine.storage import atomic_path

__all__ = ["atomic_path", "write_table", "write_json", "update_json", "read_json", "check_json_objects"]


def _record(path: Any, inputs: Sequence[str] | None, section: str | None = None) -> None:
    if inputs is None:
        return
    name = storage.name(path) + (f"#{section}" if section else "")
    provenance.record(storage.parent(path), name, inputs)


def write_table(table: pa.Table, path: str | os.PathLike, *, inputs: Sequence[str] | None = None,
                **parquet_options: Any) -> Path:
    """Write ``table`` as Parquet atomically; returns the final path (a string for a URL).

    ``inputs``: names of files in the same folder this one is made from (``()`` for none); when given, the
    write is recorded (``vocalmine.provenance``) and outputs made from an earlier version of it are removed."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **parquet_options)
    _record(path, inputs)
    return path if storage.is_url(path) else Path(path)


def write_json(obj: Any, path: str | os.PathLike, *, inputs: Sequence[str] | None = None) -> Path:
    """Write ``obj`` as indented JSON atomically; returns the final path."""
    storage.write_json(obj, path)
    _record(path, inputs)
    return path if storage.is_url(path) else Path(path)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """The JSON value in ``path``, or ``default`` when it does not exist; ``UserInputError`` when it is not
    JSON (see ``check_json_objects``)."""
    try:
        return storage.read_json(path)
    except FileNotFoundError:
        return default
    except ValueError as exc:
        raise not_json(path, exc) from None


def not_json(path: Any, exc: ValueError) -> UserInputError:
    """The error for a file vocalmine reads and rewrites that holds something else than JSON."""
    where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
    reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
    return UserInputError(f"{path} is not JSON ({reason}{where}): not a file vocalmine wrote; nothing was "
                          "changed: move it away, or choose another output folder")


def check_json_objects(folder: str | os.PathLike, names: Sequence[str]) -> None:
    """Before a run writes anything into ``folder``: each of ``names`` (JSON files the run will read and
    rewrite, such as ``summary.json`` and ``.provenance.json``) is absent or holds a JSON object; else
    ``UserInputError`` naming it, so a foreign file stops the run before it half-updates the folder."""
    for name in names:
        path = storage.join(folder, name)
        try:
            data = storage.read_json(path)
        except FileNotFoundError:
            continue
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
            raise not_json(path, exc) from None
        if not isinstance(data, dict):
            raise UserInputError(f"{path} holds a JSON {type(data).__name__}, not the object vocalmine writes: "
                                 "not a file vocalmine wrote; nothing was changed: move it away, or choose "
                                 "another output folder")


def update_json(path: str | os.PathLike, section: str, value: Any, *,
                inputs: Sequence[str] | None = None) -> dict:
    """Set ``section`` of the JSON object in ``path`` (created when missing) and rewrite it atomically.
    ``inputs`` records the section as an output ``<file>#<section>`` (see ``write_table``)."""
    data = read_json(path, {}) or {}
    data[section] = value
    write_json(data, path)
    _record(path, inputs, section)
    return data
