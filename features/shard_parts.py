"""Phase 1 of a shard build: one pair's patches in a part file under ``.work/parts``.

A part is ``<key>.npy`` (a ``features.patches.PATCH_DTYPE`` array ``[patches]``, written tmp + rename) and
``<key>.json`` (``{"pair_id", "rows", "seconds"}``, written last: the done mark). ``<key>`` is
``features.shard_plan.part_key``; phase 2 (``features.shard_writer``) gathers shard rows from the parts.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from features.patches import PairError, PatchParams, pair_patches
from features.shard_plan import PairJob
from vocalmine import storage
from vocalmine.atomic import atomic_path, write_json

log = logging.getLogger(__name__)


def compute_part(job: PairJob, parts_dir: str, params: PatchParams) -> dict:
    """Dask task: one pair's patches to ``parts_dir/<key>.npy`` (+ ``.json``, written last as the done mark).

    Returns ``{"pair_id", "rows", "seconds"}``, or ``{"pair_id", "reason", "detail"}`` when the pair gives no
    patches; never raises for a bad pair.
    """
    try:
        patches, seconds = pair_patches(job.original_path, job.instrumental_path, job.alignment, params)
    except PairError as exc:
        log.warning("skipping %s: %s", job.pair_id, exc)
        return {"pair_id": job.pair_id, "reason": exc.reason, "detail": exc.detail}
    except Exception as exc:  # one bad pair never stops the build; its reason goes to the manifest
        log.exception("skipping %s: unexpected error", job.pair_id)
        return {"pair_id": job.pair_id, "reason": "error", "detail": f"{type(exc).__name__}: {exc}"}
    base = storage.path(parts_dir) / job.key
    with atomic_path(base.with_suffix(".npy")) as tmp, open(tmp, "wb") as fh:
        np.save(fh, patches)
    info = {"pair_id": job.pair_id, "rows": int(len(patches)), "seconds": float(seconds)}
    write_json(info, base.with_suffix(".json"))
    return info


def read_part_info(parts_dir: Path, job: PairJob) -> dict | None:
    """The done mark of ``job``'s part (``compute_part``'s result), or None when the part is missing or partial."""
    done = parts_dir / f"{job.key}.json"
    if not done.exists() or not (parts_dir / f"{job.key}.npy").exists():
        return None
    try:
        return json.loads(done.read_text())
    except (OSError, ValueError):
        return None


def load_part(path: Any) -> np.ndarray:
    """A part file's patches: memory-mapped locally, downloaded from object storage."""
    if storage.is_url(path):
        return np.load(io.BytesIO(path.read_bytes()))
    return np.load(path, mmap_mode="r")
