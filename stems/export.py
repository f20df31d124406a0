"""``export-stems``: accepted pairs -> waveform stems at the original's rate and channels, in a trainer's layout.

Layout written under ``out_dir`` (a local folder or an object-storage URL)::

    manifest.json                        written last: settings, sources, splits, every item's files and SHA-1,
                                         the skipped pairs with their reasons (``stems.manifest``)
    {train,valid,test}/<item>/           one folder per item (``<pair_id>-<k>``): the layout's WAVs
                                         (``stems.layouts``), vocal_activity.csv, metadata.json (written last)
    .stems-export.json                   while a run works: marks the folder as an export's
    .work/pairs/<key>.json               per pair: its items, written when they all are; removed at the end

One Dask task per pair (``stems.task.export_pair``: local threads by default, a ``dask.distributed`` cluster with
``scheduler``); tasks receive paths or URLs under ``out_dir``. An interrupted export keeps every finished item
and pair; a re-run does the rest, and a finished one with the same inputs and settings does nothing.

The command deletes or overwrites only what it can prove it wrote: an output folder that is not empty must hold
an export's manifest or mark, and only items whose ``metadata.json`` says they are an export's, and only the file
names an export writes, are ever removed (items an earlier run planned and this one does not).
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable, Sequence

from features.audio import file_sha1
from features.shard_plan import pairs_file
from features.splits import SPLITS
from stems.config import FORMAT, StemsConfig
from stems.layouts import ACTIVITY, METADATA, OWN_NAMES
from stems.manifest import MANIFEST, StemsSummary, manifest_record, read_manifest, split_stats, summary_of
from stems.plan import StemJob, export_key, plan_jobs, read_accepted
from stems.task import WORK_DIR, dumps, export_pair, record_path
from vocalmine import storage
from vocalmine.atomic import write_json
from vocalmine.errors import UserInputError
from vocalmine.scheduling import run_tasks

__all__ = ["StemsConfig", "StemsSummary", "export_stems"]

log = logging.getLogger(__name__)

#: Written first by every run: this folder is an export (before any item, so a killed run's folder is known).
MARK = ".stems-export.json"
#: Names another part of the project puts in any output folder (the writer's lock, the provenance record).
SHARED_NAMES = frozenset({".vocalmine.lock", ".provenance.json"})


def claim_folder(out: Any) -> None:
    """Refuse an output folder that is not empty and holds neither an export's manifest nor its mark
    (``UserInputError`` naming what it found)."""
    names = [n for n in storage.listdir(out) if n not in SHARED_NAMES]
    if not names or MARK in names or read_manifest(out) is not None:
        return
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    raise UserInputError(f"{out} is not empty and was not written by export-stems (it holds {shown}); "
                         "choose a new or empty folder, or the folder of an earlier export-stems run")


def up_to_date(out: Any, key: str) -> dict | None:
    """The manifest of a finished export in ``out`` with ``key`` whose files are all there at their sizes."""
    manifest = read_manifest(out)
    if manifest is None or manifest.get("export_key") != key:
        return None
    for item in manifest["items"]:
        for f in item["files"].values():
            try:
                if storage.size(storage.path(out) / item["path"] / f["file"]) != f["bytes"]:
                    return None
            except OSError:
                return None
    return manifest


def _done(out: Any, job: StemJob) -> dict | None:
    """A pair's done record whose items' files are all there at their sizes (None otherwise)."""
    try:
        record = json.loads(storage.read_bytes(record_path(out, job)))
    except (OSError, ValueError):
        return None
    for item in record.get("items", []):
        for f in item["files"].values():
            try:
                if storage.size(storage.path(out) / item["path"] / f["file"]) != f["bytes"]:
                    return None
            except OSError:
                return None
    return record


def _own(name: str) -> bool:
    """A file name an export writes into an item folder, or one of their temporary names (``.<name>.tmp-*``)."""
    return name in OWN_NAMES or any(name.startswith(f".{own}.tmp-") for own in OWN_NAMES)


def _remove_own_files(folder: Any, keep: frozenset[str] = frozenset()) -> None:
    """Remove the files of ``folder`` an export writes (``_own``) but ``keep``; the folder too when empty."""
    for name in storage.listdir(folder):
        if _own(name) and name not in keep:
            storage.remove(storage.path(folder) / name)
    if not storage.is_url(folder) and not storage.listdir(folder):
        os.rmdir(storage.local(folder))


def remove_stale(out: Any, planned: set[str]) -> list[str]:
    """Remove the items (``split/item`` folders) an export wrote that ``planned`` does not hold; in planned items,
    the files an export writes that the item's ``metadata.json`` does not list (another layout's, a killed run's
    temporary files). Folders without an export's ``metadata.json`` are left alone. Returns the removed items'
    paths."""
    removed = []
    for split in SPLITS:
        for name in storage.listdir(storage.path(out) / split):
            folder = storage.path(out) / split / name
            try:
                meta = json.loads(storage.read_bytes(folder / METADATA))
            except (OSError, ValueError):
                meta = None
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                log.warning("leaving %s alone: not an item of an export", folder)
                continue
            rel = f"{split}/{name}"
            if rel in planned:
                listed = {f["file"] for f in meta.get("files", {}).values()}
                _remove_own_files(folder, keep=frozenset(listed | {METADATA, ACTIVITY}))
                continue
            _remove_own_files(folder)
            removed.append(rel)
    return removed


def _run_each(fn: Callable, items: Sequence, kwargs: dict, scheduler: str | None, workers: int | None,
              progress: bool, desc: str) -> list:
    import dask  # imported when tasks run, not for `export-stems --help` (start-up speed)

    tasks = [dask.delayed(fn, pure=False)(item, **kwargs) for item in items]
    return run_tasks(tasks, scheduler, workers, progress, desc)


def export_stems(
    pairs_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: StemsConfig = StemsConfig(),
    scheduler: str | None = None,
    progress: bool = True,
) -> StemsSummary:
    """Export the waveform stems of ``pairs_dir/pairs.parquet``'s accepted pairs into ``out_dir`` (see the module
    doc). Re-runnable. Raises ``UserInputError`` for a missing or malformed pairs table, one without accepted
    pairs, or an output folder another tool wrote."""
    t0 = time.perf_counter()
    source = pairs_file(pairs_dir)
    out = storage.path(out_dir)
    claim_folder(out)
    pairs_sha1 = file_sha1(source)
    key = export_key(config, pairs_sha1)
    finished = up_to_date(out, key)
    if finished is not None:
        log.info("%s is up to date", out / MANIFEST)
        return summary_of(out, finished, up_to_date=True)
    accepted = read_accepted(source)
    if accepted.num_rows == 0:
        raise UserInputError(f"{source} has no accepted pairs: nothing to export")
    jobs, skipped = plan_jobs(accepted, source.parent, config)

    storage.makedirs(out)
    storage.write_bytes(dumps({"format": FORMAT, "note": "an export-stems run works in this folder"}), out / MARK)
    storage.remove(out / MANIFEST)  # no reader trusts an export being remade
    records = {j.key: r for j in jobs if (r := _done(out, j)) is not None}
    todo = [j for j in jobs if j.key not in records]
    log.info("%d accepted pairs: %d to export, %d already done", len(jobs), len(todo), len(records))
    results = _run_each(export_pair, todo, {"out_dir": str(out), "config": config}, scheduler, config.workers,
                        progress, "pairs")
    records.update({j.key: r for j, r in zip(todo, results)})
    items, failed = [], []
    for job in jobs:
        result = records[job.key]
        if "reason" in result:
            failed.append((job.pair_id, result["reason"], result.get("detail", "")))
        else:
            items += result["items"]
    skipped = skipped + failed
    removed = remove_stale(out, {i["path"] for i in items})
    manifest = manifest_record(config, key, source, pairs_sha1, accepted.num_rows, items, skipped)
    write_json(manifest, out / MANIFEST, inputs=())  # recorded: which run wrote this export
    storage.rmtree(out / WORK_DIR)
    storage.remove(out / MARK)
    return StemsSummary(out, out / MANIFEST, config.layout, split_stats(manifest["items"]),
                        [(pid, reason) for pid, reason, _ in skipped],
                        computed_pairs=sum(1 for r in results if "reason" not in r),
                        reused_pairs=len(jobs) - len(todo), elapsed_s=time.perf_counter() - t0,
                        removed_items=removed)
