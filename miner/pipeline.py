"""The metadata stage as Dask graphs: catalog -> candidates.parquet, rejected_rows.parquet, summary.json.

1. **Read and prepare** (one task per partition, ``prepare``): parse, validate, detect markers, compute
   artist keys and a hash of each ``track_id``. The good rows go to a partition file in a work folder beside
   the outputs (``work_files``), the rejected rows to another, so later steps never hold the whole catalog.
2. **Duplicates** (hash-partitioned, ``duplicates``): every occurrence of a ``track_id`` after the first in
   catalog order is rejected as ``duplicate-track_id``.
3. **Blocks** (``block_matching``): the rows of artist keys with a marked title are shuffled by artist key,
   so each block lies whole in one partition, and ``match.match_partition`` runs on each partition.
4. **Outputs**: ``rejected_rows.parquet`` is streamed partition by partition in catalog order
   (``rejected``); ``candidates.parquet`` is sorted by (artist_key, original_id, instrumental_id).

Memory is bounded by a partition (``blocksize``) and by the largest artist block, not by the catalog.
"""

from __future__ import annotations

import logging
import os
import time

import dask
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from miner.block_matching import match_blocks
from miner.catalog_files import CatalogFile, open_catalog
from miner.config import MinerConfig, MineSummary
from miner.duplicates import find_duplicates, partition_of, write_exclusions
from miner.partitions import PartSpec, plan_partitions
from miner.prepare import prepare_partition
from miner.rejected import strict_error, write_rejected
from miner.runner import Runner, connect
from miner.work_files import new_work_dir
from vocalmine import storage
from vocalmine.atomic import update_json, write_table

log = logging.getLogger(__name__)

__all__ = ["MinerConfig", "MineSummary", "mine_pairs"]


def mine_pairs(catalog: str | os.PathLike, out_dir: str | os.PathLike, config: MinerConfig = MinerConfig(),
               scheduler: str | None = None) -> MineSummary:
    """Mine candidate (original, instrumental) pairs from ``catalog`` into ``out_dir``.

    Writes ``candidates.parquet`` (CANDIDATES), ``rejected_rows.parquet`` (REJECTED_ROWS) and the
    ``metadata`` section of ``summary.json``, each atomically; a re-run overwrites them. ``scheduler``: a
    ``dask.distributed`` address (else ``$DASK_SCHEDULER_ADDRESS``, else the local scheduler). Raises
    ``UserInputError`` for a catalog that cannot be read (missing column, no file) and, with
    ``config.strict``, for the first bad row."""
    t_start = time.perf_counter()
    files = open_catalog(catalog, config.encoding)
    specs = plan_partitions(files, config.blocksize)
    log.info("catalog: %d file(s), %d partition(s)", len(files), len(specs))
    out = storage.join(out_dir)  # a Path, or the URL of an object-store folder
    storage.makedirs(out)
    work = new_work_dir(out)
    try:
        with connect(scheduler) as client, dask.config.set(
            {"dataframe.shuffle.method": "tasks"} if client is None else {}
        ):
            run = Runner(client, config.progress)
            results, later, part_of = _read_and_dedupe(run, files, specs, config, str(work))
            cands, stats = match_blocks(run, [r["path"] for r in results], results, config)
            reason_counts = write_rejected(storage.join(out, "rejected_rows.parquet"), specs, results, later,
                                           part_of, files)
    finally:
        storage.rmtree(work)
    write_table(cands, storage.join(out, "candidates.parquet"), inputs=())  # removes outputs of the old candidates
    rows_read = sum(r["rows_read"] for r in results)
    rows_rejected = sum(reason_counts.values())
    summary = MineSummary(
        rows_read=rows_read,
        rows_used=rows_read - rows_rejected,
        rows_rejected=rows_rejected,
        rejected_by_reason=reason_counts,
        marked=sum(r["marked"] for r in results) - int(pc.sum(later.column("marked")).as_py() or 0),
        blocks=stats["blocks"],
        compared=stats["compared"],
        candidates=cands.num_rows,
        instrumentals_matched=len(pc.unique(cands.column("instrumental_id"))),
        originals_matched=len(pc.unique(cands.column("original_id"))),
        files=len(files),
        partitions=len(specs),
        seconds=round(time.perf_counter() - t_start, 3),
        catalog=str(catalog),
        out_dir=str(out),
        same_release_checked=stats["evidence_needed"],
        same_release_missing=stats["evidence_missing"],
        giant_blocks=stats["giant_blocks"],
        giant_sub_blocks=stats["sub_blocks"],
        config=config.record(),
    )
    update_json(storage.join(out, "summary.json"), "metadata", summary.to_dict())
    return summary


def _read_and_dedupe(run: Runner, files: list[CatalogFile], specs: list[PartSpec], config: MinerConfig,
                     work: str) -> tuple[list[dict], pa.Table, np.ndarray]:
    """Steps 1 and 2: ``prepare_partition``'s result per partition, the later duplicates (``duplicates.LATER``)
    and the partition of each; with ``config.strict`` the first duplicate raises ``UserInputError``."""
    prepare = dask.delayed(prepare_partition, pure=True)
    results = run.compute([prepare(s, config, work, dask_key_name=f"prepare-{s.index}") for s in specs], "read")
    paths = [r["path"] for r in results]
    later = find_duplicates(run, paths)
    part_of = partition_of(specs, later)
    if config.strict and later.num_rows:
        r = later.slice(0, 1).to_pylist()[0]
        raise strict_error(files[r["src"]], r["line"], "duplicate-track_id", r["track_id"],
                           f"first seen at {files[r['first_src']].path}:{r['first_line']}")
    write_exclusions(paths, later, part_of)
    return results, later, part_of
