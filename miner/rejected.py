"""Rejected rows: the ``--strict`` error for the first bad row, and ``rejected_rows.parquet`` streamed in
catalog order from the work files (rows rejected while reading) and the later duplicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from catalog_schemas import REJECTED_ROWS
from miner.catalog_files import CatalogFile
from miner.catalog_rows import original_texts
from miner.partitions import PartSpec
from miner.work_files import REJECT_WORK, read_ipc
from vocalmine.atomic import atomic_path
from vocalmine.errors import UserInputError


def strict_error(f: CatalogFile, line: int, reason: str, track_id: str | None, detail: str = "") -> UserInputError:
    """The error that stops a ``--strict`` run at a bad row of ``f`` (``line`` -1: unknown)."""
    where = f"{f.path}:{line}" if line >= 0 else f.path
    extra = f" ({detail})" if detail else ""
    return UserInputError(f"{where}: bad row, {reason}{extra}, track_id {track_id!r}. "
                          "Stopped because of --strict; without it the row goes to rejected_rows.parquet.")


def _duplicate_rows(spec: PartSpec, mine: pa.Table, files: list[CatalogFile]) -> pa.Table:
    """``REJECT_WORK`` rows of the later duplicates ``mine`` (``duplicates.LATER`` rows) of one partition."""
    texts = original_texts(spec.file, mine.column("record").to_pylist(),
                           mine.column("offset").to_pylist(), mine.column("nbytes").to_pylist())
    first = [files[s].path for s in mine.column("first_src").to_pylist()]
    detail = [f"first seen at {p}:{ln}" for p, ln in zip(first, mine.column("first_line").to_pylist())]
    n = mine.num_rows
    return pa.table({
        "src": mine.column("src"), "record": mine.column("record"),
        "source": pa.array([spec.file.path] * n, pa.string()), "line": mine.column("line"),
        "track_id": mine.column("track_id"),
        "reason": pa.array(["duplicate-track_id"] * n, pa.string()),
        "detail": pa.array(detail, pa.string()), "original": pa.array(texts, pa.string()),
    }, schema=REJECT_WORK)


def write_rejected(path: Path, specs: list[PartSpec], results: list[dict], later: pa.Table,
                   part_of: np.ndarray, files: list[CatalogFile]) -> dict[str, int]:
    """Stream ``rejected_rows.parquet`` partition by partition, in catalog order (one partition's rejected
    rows in memory at a time); returns the count per reason. ``results``: ``prepare_partition``'s, per
    partition; ``later``: the later duplicates, ``part_of`` the partition of each."""
    counts: dict[str, int] = {}
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, REJECTED_ROWS) as writer:
        for spec, res in zip(specs, results):
            pieces = [read_ipc(res["rejected_path"])] if res["rejected_path"] else []
            mine = later.filter(pa.array(part_of == spec.index)) if later.num_rows else later
            if mine.num_rows:
                pieces.append(_duplicate_rows(spec, mine, files))
            if not pieces:
                continue
            t = pa.concat_tables(pieces).sort_by([("record", "ascending")])
            for d in pc.value_counts(t.column("reason")).to_pylist():
                counts[d["values"]] = counts.get(d["values"], 0) + int(d["counts"])
            writer.write_table(t.select(REJECTED_ROWS.names).cast(REJECTED_ROWS))
    return dict(sorted(counts.items()))
