"""What a re-run of the audio stage reuses: file content hashes, verdict cache keys and verdict part-files.

A verdict is cached under a key made of the pair id, both files' content hashes, their catalog durations and
the config's verdict hash (``PairingConfig.verdict_hash``), in Parquet part-files under ``.cache/verdicts/``,
one per task; file hashes, made by the tasks where they decode each file, are remembered in
``.cache/file_hashes.json`` with the stamp (size and mtime, or ETag) the file had.
Paths are ``Path``s or ``URLPath``s (``vocalmine.storage``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa

from catalog_schemas import PAIRS
from pairing.verify import VERDICT_COLUMNS
from vocalmine import storage
from vocalmine.atomic import atomic_path, write_table

log = logging.getLogger(__name__)

#: Verdict part-files: the cache key plus the verdict columns, typed as in PAIRS.
_SCHEMA = pa.schema([pa.field("cache_key", pa.string(), nullable=False)]
                    + [PAIRS.field(c).with_nullable(True) for c in VERDICT_COLUMNS])
#: Reasons never cached: a re-run tries again.
UNCACHED_REASONS = frozenset({"error"})


def _memo(memo_path: Path) -> dict[str, list]:
    try:
        memo = json.loads(memo_path.read_text())  # memo_path: a Path or a URLPath (vocalmine.storage.urlpath)
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def known_hashes(paths: list[str], memo_path: Path) -> dict[str, str | None]:
    """The content SHA-1 of each path whose stamp (size and mtime, or ETag) is the one remembered in
    ``memo_path`` with its hash, and None for each path that does not exist; paths not in the answer must be
    read (and hashed where they are decoded, ``pairing.prepare.read_audio``). Reads no file's content."""
    memo = _memo(memo_path)
    out: dict[str, str | None] = {}
    for path in paths:
        try:
            stamp = storage.stamp(path)  # [size, mtime] (or the object's ETag)
        except FileNotFoundError:
            out[path] = None
            continue
        except OSError:
            continue
        known = memo.get(path)
        if isinstance(known, list) and len(known) == 3 and known[:2] == stamp and known[2]:
            out[path] = known[2]
    return out


def remember_hashes(found: dict[str, list], memo_path: Path) -> None:
    """Add ``path -> [*stamp, sha1]`` entries (what the tasks hashed) to ``memo_path``; the driver alone writes it."""
    if not found:
        return
    memo = _memo(memo_path)
    memo.update(found)
    with atomic_path(memo_path) as tmp:
        tmp.write_text(json.dumps(memo))


def cache_key(rec: dict[str, Any], config_hash: str) -> str:
    """The key of a candidate's verdict: its pair id, the config's verdict hash, and per side the file's content
    hash (or that it has no path, or cannot be read) and the catalog duration."""
    parts = [rec["pair_id"], config_hash]
    for side in ("original", "instrumental"):
        path = rec.get(f"{side}_audio_path")
        parts.append("no-path" if path is None else (rec.get(f"{side}_file_sha1") or "unreadable-file"))
        parts.append(repr(rec.get(f"{side}_duration_s")))
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def write_verdicts(rows: list[dict[str, Any]], cache_root: Path) -> None:
    """One part-file of the verdict rows (with their ``cache_key``) but those of :data:`UNCACHED_REASONS`."""
    keep = [r for r in rows if r["reason"] not in UNCACHED_REASONS]
    if keep:
        table = pa.Table.from_pylist(keep, schema=_SCHEMA)
        name = hashlib.sha1("\n".join(r["cache_key"] for r in keep).encode()).hexdigest()[:20]
        write_table(table, cache_root / "verdicts" / f"part-{name}.parquet")


def read_verdicts(cache_root: Path) -> dict[str, dict[str, Any]]:
    """``cache_key -> verdict row`` of every part-file under ``cache_root/verdicts`` (unreadable ones skipped)."""
    cached: dict[str, dict[str, Any]] = {}
    for part in sorted((cache_root / "verdicts").glob("part-*.parquet")):
        try:
            for row in storage.read_parquet(part).to_pylist():
                cached[row.pop("cache_key")] = row
        except (OSError, pa.ArrowInvalid, KeyError) as exc:
            log.warning("ignoring unreadable cache part %s: %s", part, exc)
    return cached
