"""The work folder of a run (``.mine-work-<id>`` beside the outputs): one Arrow IPC file of prepared rows
(``WORK_SCHEMA``) and one of rejected rows (``REJECT_WORK``) per partition, so later steps never hold the
whole catalog. On object storage the folder is shared by the workers through ``vocalmine.storage``.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa

from catalog_schemas import REJECTED_ROWS
from vocalmine import storage

log = logging.getLogger(__name__)

WORK_PREFIX = ".mine-work-"

#: A prepared catalog row: where it came from (file ``src``, 0-based ``record``, physical ``line``, its text
#: at ``offset`` for ``nbytes``), its values, its artist keys, whether its title is ``marked`` and a 64-bit
#: hash of its ``track_id``.
WORK_SCHEMA = pa.schema([
    ("src", pa.int32()), ("record", pa.int64()), ("line", pa.int64()), ("offset", pa.int64()),
    ("nbytes", pa.int64()), ("track_id", pa.string()), ("artist", pa.string()), ("title", pa.string()),
    ("duration_s", pa.float64()), ("audio_path", pa.string()), ("genre", pa.string()), ("label", pa.string()),
    ("release_date", pa.string()), ("album", pa.string()), ("isrc", pa.string()), ("artist_key", pa.string()),
    ("other_keys", pa.list_(pa.string())), ("marked", pa.bool_()), ("id_hash", pa.uint64()),
])
#: A rejected row: ``REJECTED_ROWS`` and where it came from (to stream them in catalog order).
REJECT_WORK = pa.schema([pa.field("src", pa.int32()), pa.field("record", pa.int64())] + list(REJECTED_ROWS))


def new_work_dir(out: Any) -> Any:
    """A fresh work folder in ``out`` (a Path, or an object-store URL), after removing those that
    interrupted runs left."""
    for d in storage.glob(storage.join(out, WORK_PREFIX + "*")):
        if storage.isdir(d):
            log.warning("removing %s left by an interrupted run", d)
            storage.rmtree(d)
    work = storage.join(storage.absolute(out), f"{WORK_PREFIX}{uuid.uuid4().hex[:8]}")
    storage.makedirs(work)
    return work


def write_ipc(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` as an Arrow IPC file, atomically."""
    with storage.atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, \
            pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_ipc(path: str, columns: list[str] | None = None) -> pa.Table:
    """An Arrow IPC work file (memory-mapped when local), or some of its ``columns``."""
    if storage.is_url(path):  # work files on object storage: no folder shared by the workers
        t = pa.ipc.open_file(pa.BufferReader(storage.read_bytes(path))).read_all()
        return t.select(columns) if columns else t
    with pa.memory_map(path) as src:
        t = pa.ipc.open_file(src).read_all()
    return t.select(columns) if columns else t
