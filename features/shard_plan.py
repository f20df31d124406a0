"""Planning a shard build: the pairs table to read, one job per accepted pair (its split and part key), and the
shards of each split (which rows, in which order). Pure functions of their inputs: the same table, files and
config give the same plan, which is what makes a build resumable and a re-run a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.patches import Alignment, alignment_of_row
from features.shard_config import FORMAT, ShardConfig, content_hash
from features.splits import SPLITS, assign_splits, pair_keys, unit_hash
from vocalmine import storage
from vocalmine.errors import UserInputError
from vocalmine.provenance import require_fresh
from vocalmine.tables import read_checked

#: Columns of pairs.parquet this stage reads.
PAIR_COLUMNS = (
    "pair_id", "status", "artist", "artist_key", "content_group", "original_audio_path",
    "instrumental_audio_path", "offset_s", "gain_db", "polarity",
)
#: Read when present: the alignment map (segments, drift, level match, trust mask; features.alignmap) and the
#: estimated target error (pairing.quality). Tables written before issues 10 and 18 lack them.
OPTIONAL_PAIR_COLUMNS = ("alignment_map", "target_error")


@dataclass(frozen=True)
class PairJob:
    """One accepted pair to turn into patches. ``key`` names its part file."""

    pair_id: str
    split: str
    artist: str
    original_path: str
    instrumental_path: str
    alignment: Alignment
    key: str


@dataclass(frozen=True)
class ShardPlan:
    """One shard: its path (relative to out_dir), rows as (part key, pair_id, row in part) in storage order, and
    ``spec``, the content hash of its rows and writer options (stored in its footer)."""

    path: str
    rows: tuple[tuple[str, str, int], ...]
    spec: str


def pairs_file(pairs_dir: str | os.PathLike) -> Path:
    """``pairs_dir/pairs.parquet`` (or ``pairs_dir`` itself when it is a file); UserInputError when missing."""
    path = storage.path(pairs_dir)  # a Path, or a URLPath on object storage
    if path.is_dir():
        path = path / "pairs.parquet"
    if not path.is_file():
        if (path.parent / "candidates.parquet").is_file():
            raise UserInputError(f"no pairs table at {path}: {path.parent} holds the candidates of a "
                                 "`mine-pairs --metadata-only` run; run mine-pairs without --metadata-only")
        raise UserInputError(f"no pairs table at {path}: run `mine-pairs` first (it writes pairs/pairs.parquet)")
    require_fresh(path.parent, path.name, ["candidates.parquet"],
                  "re-run `mine-pairs` on this folder without --metadata-only")
    return path


def read_pairs(path: Path) -> pa.Table:
    """The accepted rows of a pairs table (``catalog_schemas.PAIRS`` columns this stage needs)."""
    table = read_checked(path, PAIR_COLUMNS, "the pairs schema, see docs/schemas.md",
                         columns=PAIR_COLUMNS + OPTIONAL_PAIR_COLUMNS)
    return table.filter(pc.fill_null(pc.equal(table["status"], "accepted"), False))


def _stamp(path: str) -> list[int] | None:
    """The file's size and time (or ETag) as storage reports it; None for a missing file."""
    try:
        return storage.stamp(path)
    except OSError:
        return None


def part_key(pair_id: str, paths: list[str], alignment: Alignment, config: ShardConfig) -> str:
    """The name of a pair's part file: a hash of everything its patches depend on (paths, file sizes and times,
    alignment, patch parameters), so a re-run recomputes exactly the parts that are missing or stale."""
    aligned = [repr(alignment.offset_s), repr(alignment.gain_db), alignment.polarity]
    if alignment.map_json:
        aligned.append(alignment.map_json)
    return content_hash([FORMAT, pair_id, paths, [_stamp(p) for p in paths], aligned, config.patches.as_dict()])


def plan_jobs(accepted: pa.Table, base_dir: Path, config: ShardConfig) -> tuple[list[PairJob], list[tuple[str, str]]]:
    """Jobs for the accepted rows, each with its split; plus (pair_id, reason) of rows refused before audio
    (``duplicate-pair-id``; ``target-error`` above ``config.max_target_error``, after the splits are drawn, so
    the other pairs keep the splits they have without the limit)."""
    seen: set[str] = set()
    unique, skipped = [], []
    for row in accepted.to_pylist():
        if row["pair_id"] in seen:
            skipped.append((row["pair_id"], "duplicate-pair-id"))
            continue
        seen.add(row["pair_id"])
        unique.append(row)
    keys = pair_keys(unique)
    artist_of = {k.pair_id: k.artist_key for k in keys}
    split_of = assign_splits(keys, config.split, fixed=dict(config.fixed_splits) or None)
    jobs = []
    limit = config.max_target_error
    for r in unique:
        error = r.get("target_error")
        if limit is not None and error is not None and error > limit:
            skipped.append((r["pair_id"], "target-error"))
            continue
        paths = [str(storage.resolve(p, base_dir)) if p else "" for p in
                 (r["original_audio_path"] or "", r["instrumental_audio_path"] or "")]
        alignment = alignment_of_row(r)
        key = part_key(r["pair_id"], paths, alignment, config)
        jobs.append(PairJob(r["pair_id"], split_of[r["pair_id"]], artist_of[r["pair_id"]], paths[0], paths[1],
                            alignment, key))
    return jobs, skipped


def plan_shards(jobs: Sequence[PairJob], infos: dict[str, dict], config: ShardConfig) -> dict[str, list[ShardPlan]]:
    """Split -> shards, deterministic in (jobs, infos, config): the split's pairs with a part (``infos``: part
    key -> ``{"rows", ...}``) in a seeded hash order, their rows cut into shards of ``rows_per_shard`` rows, the
    rows of each shard in a seeded permutation (so a row group mixes pairs)."""
    options = config.parquet_options()
    seed = config.split.seed
    per_shard = config.rows_per_shard
    plans: dict[str, list[ShardPlan]] = {}
    for split_index, split in enumerate(SPLITS):
        members = [j for j in jobs if j.split == split and j.key in infos]
        members.sort(key=lambda j: (unit_hash(seed, j.pair_id), j.pair_id))
        stream = [(j.key, j.pair_id, r) for j in members for r in range(infos[j.key]["rows"])]
        shards = []
        for i, start in enumerate(range(0, len(stream), per_shard)):
            chunk = stream[start : start + per_shard]
            order = np.random.default_rng([seed, split_index, i]).permutation(len(chunk))
            rows = tuple(chunk[k] for k in order)
            spec = content_hash([FORMAT, rows, options, config.row_group_size])
            shards.append(ShardPlan(f"{split}/part-{i:05d}.parquet", rows, spec))
        plans[split] = shards
    return plans
