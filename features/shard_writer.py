"""Phase 2 of a shard build: one Parquet shard (rows of ``catalog_schemas.SHARD``) from the part files.

A shard is written one row group at a time, its rows gathered from memory-mapped parts (memory: one row group),
to a temporary name that is then renamed. Its plan's content hash (``ShardPlan.spec``) is stored in the footer,
so a re-run keeps an existing shard with the same hash and rewrites the others.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog_schemas import SHARD
from catalog_schemas.shards import TENSOR_BYTES, TENSOR_COLUMNS
from features.audio import file_sha1
from features.shard_config import ShardConfig
from features.shard_parts import load_part
from features.shard_plan import ShardPlan
from features.splits import SPLITS
from vocalmine import storage
from vocalmine.atomic import atomic_path

log = logging.getLogger(__name__)

#: Footer metadata key of a shard's content hash.
SHARD_SPEC_KEY = b"vocalmine.shard_spec"
#: Names of shards and of their temporary files (``vocalmine.storage.atomic_path``'s).
SHARD_NAME = re.compile(r"part-\d{5}\.parquet")
SHARD_TMP = re.compile(r"\.part-\d{5}\.parquet\.tmp-[0-9a-f]{8}")


def existing_spec(path: Path) -> str | None:
    """The content hash in the footer of the shard at ``path``; None when there is none or it is unreadable."""
    try:
        meta = storage.parquet_file(path).schema_arrow.metadata or {}
    except (pa.ArrowInvalid, OSError):
        return None
    spec = meta.get(SHARD_SPEC_KEY)
    return spec.decode() if spec else None


def binary_column(values: np.ndarray) -> pa.Array:
    """float16 ``[N, 512, 128]`` -> fixed-size binary array of N cells (one copy into a contiguous buffer)."""
    values = np.ascontiguousarray(values, dtype="<f2")
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(TENSOR_BYTES), len(values), [None, pa.py_buffer(values)])


def _write_rows(plan: ShardPlan, tmp: Path, parts_dir: str, config: ShardConfig) -> None:
    """``plan``'s rows to a new Parquet file ``tmp``, one row group at a time."""
    schema = SHARD.with_metadata({**(SHARD.metadata or {}), SHARD_SPEC_KEY: plan.spec.encode()})
    parts: dict[str, np.ndarray] = {}
    with pq.ParquetWriter(tmp, schema, **config.parquet_options()) as writer:
        for start in range(0, len(plan.rows), config.row_group_size):
            group = plan.rows[start : start + config.row_group_size]
            for key, _, _ in group:
                if key not in parts:
                    parts[key] = load_part(storage.path(parts_dir) / f"{key}.npy")
            rows = np.stack([parts[key][r] for key, _, r in group])  # PATCH_DTYPE [n]
            arrays = [
                pa.array([pair_id for _, pair_id, _ in group], pa.string()),
                pa.array(rows["start_frame"], pa.int32()),
                pa.array(rows["scale"], pa.float32()),
                pa.array(rows["vocal_energy"], pa.float32()),
            ] + [binary_column(rows[name]) for name in TENSOR_COLUMNS]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=len(group))


def write_shard(plan: ShardPlan, out_dir: str, parts_dir: str, config: ShardConfig) -> dict:
    """Dask task: write one shard (tmp + rename) unless an identical one exists. Returns its manifest entry
    (``path``, ``rows``, ``row_groups``, ``bytes``, ``sha1``) and ``written``."""
    final = storage.path(out_dir) / plan.path
    kept = final.exists() and existing_spec(final) == plan.spec
    if not kept:
        with atomic_path(final) as tmp:
            _write_rows(plan, tmp, parts_dir, config)
    meta = storage.parquet_file(final).metadata
    return {
        "path": plan.path,
        "rows": meta.num_rows,
        "row_groups": meta.num_row_groups,
        "bytes": storage.size(final),
        "sha1": file_sha1(final),
        "written": not kept,
    }


def remove_stale(out_dir: Path, plans: dict[str, list[ShardPlan]]) -> None:
    """Make the split folders; remove shards no plan names and temporary files of interrupted writes, by
    their names and (shards) the content hash in their footer: only files a build wrote
    (``features.shard_folder`` has refused a folder holding others)."""
    keep = {p.path for shards in plans.values() for p in shards}
    for split in SPLITS:
        d = out_dir / split
        d.mkdir(parents=True, exist_ok=True)
        for f in d.iterdir():
            stale_shard = (SHARD_NAME.fullmatch(f.name) and f"{split}/{f.name}" not in keep
                           and existing_spec(f) is not None)
            if stale_shard or SHARD_TMP.fullmatch(f.name):
                log.debug("removing %s", f)
                f.unlink()
