"""Step 2 of the metadata stage: repeated ``track_id``s, as a hash-partitioned Dask graph.

The prepared rows (``work_files``) are cut into buckets by a hash of their ``track_id``; each bucket finds
the repeated hashes with numpy and compares those few rows by their actual ``track_id``: every occurrence
after the first in catalog order (files by name, then line) is rejected as ``duplicate-track_id``. Only
rows that passed step 1 take part, so a broken first occurrence never costs a good later one. The records
to drop from each work file are written beside it (``<path>.exclude.npy``) for step 3.
"""

from __future__ import annotations

import dask
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from miner.partitions import PartSpec
from miner.runner import Runner
from miner.work_files import read_ipc
from vocalmine import storage

#: Columns of the work files that the duplicate search reads.
DUP_COLUMNS = ["id_hash", "src", "record", "line", "offset", "nbytes", "marked", "track_id"]
#: A later occurrence: where it lies, and the file (``first_src``) and line of the first occurrence.
LATER = pa.schema([("src", pa.int32()), ("record", pa.int64()), ("line", pa.int64()), ("offset", pa.int64()),
                   ("nbytes", pa.int64()), ("marked", pa.bool_()), ("track_id", pa.string()),
                   ("first_src", pa.int32()), ("first_line", pa.int64())])


def split_by_hash(path: str, buckets: int) -> list[pa.Table]:
    """The rows of a work file (id hash, position, track_id) cut into ``buckets`` by ``hash % buckets``."""
    t = read_ipc(path, DUP_COLUMNS)
    b = t.column("id_hash").to_numpy() % np.uint64(buckets)
    order = np.argsort(b, kind="stable")
    bounds = np.searchsorted(b[order], np.arange(buckets + 1, dtype=np.uint64))
    return [t.take(pa.array(order[bounds[k]:bounds[k + 1]])) for k in range(buckets)]


def later_occurrences(*pieces: pa.Table) -> pa.Table:
    """Within one hash bucket: every row whose track_id occurred before it in catalog order (``LATER``)."""
    t = pa.concat_tables(pieces) if pieces else pa.table({c: [] for c in DUP_COLUMNS})
    h = t.column("id_hash").to_numpy()
    s = np.sort(h)
    repeated = np.unique(s[1:][s[1:] == s[:-1]])
    if not len(repeated):
        return LATER.empty_table()
    rows = t.filter(pc.is_in(t.column("id_hash"), value_set=pa.array(repeated, pa.uint64()))).to_pandas()
    rows = rows.sort_values(["src", "record"], kind="stable").reset_index(drop=True)
    first = rows.drop_duplicates("track_id", keep="first").set_index("track_id")
    later = rows[rows.duplicated("track_id", keep="first")]
    later = later.assign(first_src=first.loc[later.track_id, "src"].to_numpy(),
                         first_line=first.loc[later.track_id, "line"].to_numpy())
    return pa.Table.from_pandas(later[LATER.names], schema=LATER, preserve_index=False)


def find_duplicates(run: Runner, paths: list[str]) -> pa.Table:
    """Every occurrence of a track_id after its first in catalog order (``LATER`` rows, sorted by position).

    A hash-partitioned Dask graph: each work file's rows are cut into buckets by a hash of their track_id,
    each bucket (all the rows whose ids share that bucket, one bucket in memory at a time) finds repeated
    hashes with numpy and compares the few rows concerned by their actual track_id."""
    if not paths:
        return LATER.empty_table()
    buckets = len(paths)
    split = dask.delayed(split_by_hash, nout=buckets, pure=True)
    pieces = [split(p, buckets) for p in paths]
    find = dask.delayed(later_occurrences, pure=True)
    later = pa.concat_tables(run.compute([find(*[pc_[k] for pc_ in pieces]) for k in range(buckets)],
                                         "duplicates"))
    return later.sort_by([("src", "ascending"), ("record", "ascending")])


def partition_of(specs: list[PartSpec], later: pa.Table) -> np.ndarray:
    """The partition index of each row of ``later`` (from its file and record)."""
    src = later.column("src").to_numpy()
    rec = later.column("record").to_numpy()
    out = np.zeros(len(src), np.int64)
    for f in np.unique(src):
        mine = [s for s in specs if s.file.index == f]
        firsts = np.array([s.first_record for s in mine])
        sel = src == f
        out[sel] = np.array([s.index for s in mine])[np.searchsorted(firsts, rec[sel], side="right") - 1]
    return out


def write_exclusions(paths: list[str], later: pa.Table, part_of: np.ndarray) -> None:
    """For each work file holding later duplicates, the records to drop (``<path>.exclude.npy``)."""
    for i in np.unique(part_of):
        with storage.atomic_path(paths[i] + ".exclude.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, later.column("record").to_numpy()[part_of == i])
