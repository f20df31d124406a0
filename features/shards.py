"""``build-shards``: accepted pairs -> Parquet shards of spectrogram patches, in parallel, resumable.

Layout written under ``out_dir`` (a local folder or an object-storage URL)::

    manifest.json                       written last (atomically): parameters, sources, splits, shards, skips
    {train,valid,test}/part-NNNNN.parquet   rows of ``catalog_schemas.SHARD``; each written whole (tmp + rename)
    .work/parts/<key>.npy, <key>.json   per-pair patches (``features.patches.PATCH_DTYPE``), removed at the end

Two phases, each a set of Dask tasks (local threads by default, a ``dask.distributed`` cluster with
``scheduler``). Tasks receive paths or URLs under ``out_dir`` only, so with ``out_dir`` on object storage the
cluster's workers need no shared disk; with a local ``out_dir`` they must see it at the same path.

1. one task per pair not yet done (``features.shard_parts``): decode, align, magnitudes, patches
   (``features.patches.pair_patches``); the result goes to a per-pair part file, so a worker holds one pair at a
   time and an interrupted build keeps every finished pair. A part is named by a hash of everything it depends
   on (``features.shard_plan.part_key``), so a re-run recomputes exactly what is missing or stale.
2. one task per shard (``features.shard_writer``): the shards planned by ``features.shard_plan.plan_shards``,
   gathered from memory-mapped parts one row group at a time. A shard's content hash is stored in its footer;
   an existing shard with the same hash is kept.

Then the manifest (``features.shard_manifest``), then ``.work`` is removed (unless ``keep_work``). A re-run of a
finished build with the same inputs and config (``features.shard_config.build_key``) and the same audio files
(their sizes and times, or ETags: ``features.shard_manifest.audio_key``) is a no-op. A build removes or
replaces only files it can prove it wrote: a folder holding others is refused (``features.shard_folder``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from features.audio import file_sha1
from features.shard_config import ShardConfig, build_key
from features.shard_folder import check_shard_folder
from features.shard_manifest import (
    MANIFEST, ShardSummary, audio_key, manifest_record, split_records, split_summaries, summary_of_finished,
    up_to_date,
)
from features.shard_parts import compute_part, read_part_info
from features.shard_plan import PairJob, ShardPlan, pairs_file, plan_jobs, plan_shards, read_pairs
from features.shard_writer import remove_stale, write_shard
from features.splits import SPLITS
from vocalmine import storage
from vocalmine.atomic import write_json
from vocalmine.errors import UserInputError
from vocalmine.scheduling import run_tasks

__all__ = ["ShardConfig", "ShardSummary", "build_shards"]

log = logging.getLogger(__name__)

WORK_DIR = ".work"


@dataclass
class Parts:
    """Phase 1's outcome: ``infos`` (part key -> ``{"pair_id", "rows", "seconds"}``) of every pair with patches,
    ``failures`` (pair_id -> ``{"reason", "detail", ...}``) of the pairs computed without any, and how many
    pairs were ``computed`` now or ``reused`` from an earlier run."""

    infos: dict[str, dict]
    failures: dict[str, dict]
    computed: int
    reused: int


def _run_each(fn: Callable, items: Sequence, kwargs: dict, scheduler: str | None, workers: int | None,
              progress: bool, desc: str) -> list:
    """``[fn(item, **kwargs) for item in items]`` as Dask tasks (local threads, or the cluster), with progress."""
    import dask  # imported when tasks run, not for `build-shards --help` (start-up speed)

    tasks = [dask.delayed(fn, pure=False)(item, **kwargs) for item in items]
    return run_tasks(tasks, scheduler, workers, progress, desc)


def _start_build(out_dir: Path) -> Path:
    """Remove the manifest (no reader should trust a build being remade) and the temporary files of an
    interrupted run; returns the parts folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    parts_dir = out_dir / WORK_DIR / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    for f in parts_dir.glob(".*.tmp-*"):
        f.unlink()
    return parts_dir


def _compute_parts(jobs: list[PairJob], parts_dir: Path, config: ShardConfig, scheduler: str | None,
                   progress: bool) -> Parts:
    """Phase 1: the part of every job that has none yet."""
    infos = {j.key: info for j in jobs if (info := read_part_info(parts_dir, j)) is not None}
    todo = [j for j in jobs if j.key not in infos]
    log.info("%d accepted pairs: %d to compute, %d already done", len(jobs), len(todo), len(infos))
    results = _run_each(compute_part, todo, {"parts_dir": str(parts_dir), "params": config.patches},
                        scheduler, config.workers, progress, "pairs")
    failures: dict[str, dict] = {}
    for job, result in zip(todo, results):
        if "reason" in result:
            failures[job.pair_id] = result
        else:
            infos[job.key] = result
    return Parts(infos, failures, computed=len(todo) - len(failures), reused=len(jobs) - len(todo))


def _write_shards(plans: dict[str, list[ShardPlan]], out_dir: Path, parts_dir: Path, config: ShardConfig,
                  scheduler: str | None, progress: bool) -> list[dict]:
    """Phase 2: every planned shard not already there (stale ones removed first); their manifest entries."""
    remove_stale(out_dir, plans)
    flat = [p for split in SPLITS for p in plans[split]]
    return _run_each(write_shard, flat, {"out_dir": str(out_dir), "parts_dir": str(parts_dir), "config": config},
                     scheduler, config.workers, progress, "shards")


def build_shards(
    pairs_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ShardConfig = ShardConfig(),
    scheduler: str | None = None,
    progress: bool = True,
) -> ShardSummary:
    """Build the shard dataset of ``pairs_dir/pairs.parquet``'s accepted pairs into ``out_dir``.

    Re-runnable: finds what is done (part files, identical shards, an up-to-date manifest) and does the rest.
    Raises ``UserInputError`` for a missing or malformed pairs table, or one without accepted pairs.
    """
    t0 = time.perf_counter()
    source = pairs_file(pairs_dir)
    out_dir = storage.path(out_dir)
    check_shard_folder(out_dir)  # a folder holding files of another tool is refused before anything changes
    pairs_sha1 = file_sha1(source)
    key = build_key(config, pairs_sha1)
    accepted = read_pairs(source)
    if accepted.num_rows == 0:
        raise UserInputError(f"{source} has no accepted pairs: nothing to build")
    jobs, skipped = plan_jobs(accepted, source.parent, config)  # part keys: paths and the audio's stamps
    audio = audio_key(jobs)
    finished = up_to_date(out_dir, key, audio)
    if finished is not None:
        log.info("%s is up to date", out_dir / MANIFEST)
        return summary_of_finished(out_dir, finished)

    parts_dir = _start_build(out_dir)
    parts = _compute_parts(jobs, parts_dir, config, scheduler, progress)
    skipped += [(pid, f["reason"]) for pid, f in parts.failures.items()]
    plans = plan_shards(jobs, parts.infos, config)
    entries = _write_shards(plans, out_dir, parts_dir, config, scheduler, progress)

    splits = split_records(jobs, parts.infos, plans, {e["path"]: e for e in entries})
    details = {pid: f["detail"] for pid, f in parts.failures.items()}
    manifest = manifest_record(config, key, source, pairs_sha1, accepted.num_rows, splits, skipped, details, audio)
    write_json(manifest, out_dir / MANIFEST, inputs=())  # recorded: which run wrote this build
    if not config.keep_work:
        storage.rmtree(out_dir / WORK_DIR)

    summary = ShardSummary(
        out_dir, out_dir / MANIFEST, split_summaries(manifest), skipped,
        computed_pairs=parts.computed,
        reused_pairs=parts.reused,
        written_shards=sum(e["written"] for e in entries),
        reused_shards=sum(not e["written"] for e in entries),
        elapsed_s=time.perf_counter() - t0,
    )
    log.debug("%s", "\n".join(summary.lines()))
    return summary
