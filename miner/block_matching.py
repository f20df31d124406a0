"""Step 3 of the metadata stage: the rows of marked artist blocks, shuffled by artist key and matched.

Only rows whose artist key has a marked title anywhere in the catalog can take part in a pair; the others
are dropped before the shuffle (``load_block_rows``). The rest is shuffled by artist key, so each block lies
whole in one partition, and ``match.match_partition`` runs on each partition. The marked artist keys are cut
into waves of about ``MinerConfig.wave_rows`` catalog rows (by a CRC of the key), each wave shuffled and
matched on its own: the local scheduler holds a wave's shuffle in memory, never the whole catalog's. Giant
blocks (``giants``) are split into sub-blocks by title length, each its own task.
"""

from __future__ import annotations

import io
import logging
import zlib

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from catalog_schemas import CANDIDATES
from miner.config import MinerConfig
from miner.giants import split_giants
from miner.match import BLOCK_COLUMNS, MatchRules, match_partition
from miner.runner import Runner
from miner.work_files import WORK_SCHEMA, read_ipc
from vocalmine import storage

log = logging.getLogger(__name__)

#: The counts of ``match_blocks``, summed over the partitions (``blocks``: distinct artist keys).
STAT_KEYS = ("blocks", "compared", "evidence_needed", "evidence_missing", "giant_blocks", "sub_blocks")


def _block_frame(t: pa.Table, giants: bool = False) -> pd.DataFrame:
    t = t.select(list(BLOCK_COLUMNS))
    if giants:
        t = t.append_column("block", t.column("artist_key")).append_column(
            "bucket", pa.array(np.zeros(t.num_rows, np.int64)))
    return t.to_pandas()


def load_block_rows(path: str, marked_keys: pa.Array, giant_keys: pa.Array, rules: MatchRules) -> pd.DataFrame:
    """Rows of a work file whose artist key has a marked title, minus its later duplicates (the records
    listed in ``<path>.exclude.npy`` when there is one). A row credited to several artists comes once per
    credited artist whose key has a marked title, with ``artist_key`` set to that key. Columns
    ``BLOCK_COLUMNS`` plus ``block`` and ``bucket`` (``giants.split_giants``: the rows of ``giant_keys``
    split by title length)."""
    t = read_ipc(path)
    if storage.exists(path + ".exclude.npy"):
        excluded = np.load(io.BytesIO(storage.read_bytes(path + ".exclude.npy")))
        t = t.filter(pa.array(~np.isin(t.column("record").to_numpy(), excluded)))
    keep = pc.is_in(t.column("artist_key"), value_set=marked_keys)
    pieces = [t.filter(keep)]
    others = t.column("other_keys").combine_chunks()
    if len(pc.list_flatten(others)):
        flat = pc.list_flatten(others)
        parent = pc.list_parent_indices(others)
        hit = pc.is_in(flat, value_set=marked_keys)
        if pc.any(hit).as_py():
            extra = t.take(parent.filter(hit))
            pieces.append(extra.set_column(extra.schema.get_field_index("artist_key"), "artist_key",
                                           flat.filter(hit)))
    t = pa.concat_tables(pieces).select(list(BLOCK_COLUMNS))
    if not rules.evidence.genres:  # album and isrc matter only in the blocks of uninformative credits
        plain = pc.invert(pc.is_in(t.column("artist_key"), value_set=pa.array(sorted(rules.evidence.keys),
                                                                               pa.string())))
        for name in ("album", "isrc"):
            col = t.column(name)
            t = t.set_column(t.schema.get_field_index(name), name,
                             pc.if_else(plain, pa.scalar(None, pa.string()), col))
    if len(giant_keys):
        t = split_giants(t, giant_keys, rules)
    return t.to_pandas()



def giant_keys(results: list[dict], marked_keys: list[str], giant_rows: int) -> list[str]:
    """The marked artist keys holding at least ``giant_rows`` rows, summed over the partitions' ``big_keys``
    (``prepare.prepare_partition``), sorted."""
    sizes: dict[str, int] = {}
    for r in results:
        for k, c in r["big_keys"].items():
            sizes[k] = sizes.get(k, 0) + c
    marked_set = set(marked_keys)
    return sorted(k for k, c in sizes.items() if c >= giant_rows and k in marked_set)


def key_waves(keys: list[str], rows_used: int, wave_rows: int) -> list[list[str]]:
    """``keys`` cut into about ``rows_used / wave_rows`` groups by a CRC of the key (stable across runs)."""
    n = max(1, -(-rows_used // wave_rows))
    groups: list[list[str]] = [[] for _ in range(n)]
    for k in keys:
        groups[zlib.crc32(k.encode()) % n].append(k)
    return groups


def _match_wave(run: Runner, paths: list[str], group: list[str], giants: list[str], rules: MatchRules,
                wave: int, waves: int) -> list[tuple[pa.Table, dict]]:
    """``match_partition``'s results on the rows of the artist keys ``group`` (wave ``wave`` of ``waves``),
    shuffled by block."""
    import dask.dataframe as dd  # start-up speed: about 1 s to import, needed only when there is a match

    meta = _block_frame(pa.Table.from_pylist([], schema=WORK_SCHEMA), bool(giants))
    args = [pa.array(group, pa.string()), pa.array(giants, pa.string()), rules]
    rows = dd.from_map(load_block_rows, paths, args=args, meta=meta, enforce_metadata=False,
                       label=f"block-rows-{wave}")
    rows = rows.shuffle(on="block" if giants else "artist_key", npartitions=max(1, len(paths)))
    match = dask.delayed(match_partition, pure=True)
    return run.compute([match(p, rules) for p in rows.to_delayed()], f"match {wave + 1}/{waves}")


def _first_of_each_pair(tables: list[pa.Table]) -> pa.Table:
    """The candidates sorted by (artist_key, original_id, instrumental_id); a pair whose credits share several
    artists is found in each of their blocks: the first is kept."""
    table = pa.concat_tables(tables)
    table = table.sort_by([("artist_key", "ascending"), ("original_id", "ascending"),
                           ("instrumental_id", "ascending")])
    ids = pa.Table.from_arrays([table.column("original_id"), table.column("instrumental_id")], ["o", "i"])
    first = ~ids.to_pandas().duplicated().to_numpy()
    if not first.all():
        table = table.filter(pa.array(first))
    return table.replace_schema_metadata(CANDIDATES.metadata)


def match_blocks(run: Runner, paths: list[str], results: list[dict], config: MinerConfig
                 ) -> tuple[pa.Table, dict[str, int]]:
    """Step 3 on the work files ``paths`` (``results``: ``prepare_partition``'s): the candidates
    (CANDIDATES, sorted) and the counts ``STAT_KEYS``."""
    keys = sorted(set().union(*[r["marked_keys"] for r in results])) if results else []
    stats = dict.fromkeys(STAT_KEYS, 0)
    if not keys:
        return CANDIDATES.empty_table(), stats
    giants = giant_keys(results, keys, config.giant_rows)
    stats["giant_blocks"] = len(giants)
    if giants:
        log.info("%d giant artist block(s) split by title length: %s", len(giants), ", ".join(giants[:5]))
    groups = key_waves(keys, sum(r["rows_used"] for r in results), config.wave_rows)
    rules = config.rules
    tables = [CANDIDATES.empty_table()]
    block_keys: set[str] = set()
    for w, group in enumerate(groups):
        if not group:
            continue
        for table, st in _match_wave(run, paths, group, giants, rules, w, len(groups)):
            tables.append(table)
            block_keys.update(st["block_keys"])
            for k in ("compared", "evidence_needed", "evidence_missing", "sub_blocks"):
                stats[k] += st[k]
    stats["blocks"] = len(block_keys)
    return _first_of_each_pair(tables), stats
