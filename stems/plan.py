"""Planning an export: the accepted pairs of a pairs table, each a job with its split (the same split logic as
``build-shards``: ``features.splits``) and a key naming everything its items depend on. Pure functions of their
inputs, which is what makes an export resumable and a re-run a no-op.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from features.patches import Alignment, alignment_of_row
from features.shard_config import content_hash
from features.splits import SPLIT_RULES, assign_splits, pair_keys
from stems.config import FORMAT, StemsConfig
from vocalmine import storage
from vocalmine.tables import read_checked

#: Columns of pairs.parquet an export needs.
REQUIRED = ("pair_id", "status", "artist", "artist_key", "content_group", "original_audio_path",
            "instrumental_audio_path", "offset_s", "gain_db", "polarity")
#: Read when present and recorded in each item's metadata.json.
DESCRIPTIVE = ("original_id", "instrumental_id", "original_title", "instrumental_title")
MEASURES = ("alignment_map", "fingerprint_similarity", "alignment_confidence", "vocal_free_correlation",
            "vocal_energy_share", "vocal_activity", "clipping", "segments", "drift_ppm", "usable_s", "leakage_db",
            "original_seconds", "instrumental_seconds")


@dataclass(frozen=True)
class StemJob:
    """One accepted pair to export: its split, files, alignment, what its metadata records (``info``), and
    ``key``, a hash of everything its items depend on."""

    pair_id: str
    split: str
    original_path: str
    instrumental_path: str
    alignment: Alignment
    info: dict
    key: str


def read_accepted(path: Any) -> pa.Table:
    """The accepted rows of a pairs table (the columns an export reads)."""
    table = read_checked(path, REQUIRED, "the pairs schema, see docs/schemas.md",
                         columns=REQUIRED + DESCRIPTIVE + MEASURES)
    return table.filter(pc.fill_null(pc.equal(table["status"], "accepted"), False))


def _stamp(path: str) -> list[int] | None:
    try:
        return storage.stamp(path)
    except OSError:
        return None


def job_key(pair_id: str, split: str, paths: list[str], alignment: Alignment, config: StemsConfig) -> str:
    """A hash of what a pair's items depend on and where they go: its split, its files (paths, sizes and times),
    its alignment, the export's settings (the split's own are in ``split``)."""
    settings = {k: v for k, v in config.key_fields().items() if k not in ("ratios", "seed", "fixed_splits")}
    aligned = [repr(alignment.offset_s), repr(alignment.gain_db), alignment.polarity, alignment.map_json or ""]
    return content_hash([FORMAT, pair_id, split, paths, [_stamp(p) for p in paths], aligned, settings])


def export_key(config: StemsConfig, pairs_sha1: str) -> str:
    """The key of an export of the pairs table with SHA-1 ``pairs_sha1``: a finished export whose manifest has it
    is up to date."""
    return content_hash([FORMAT, pairs_sha1, config.key_fields(), SPLIT_RULES])


def _plain(value: Any) -> Any:
    """A table value as JSON takes it: a non-finite number becomes None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _info(row: dict) -> dict:
    """What an item's metadata.json says about its pair: ids, artist, titles, the pair's measures and map."""
    info = {k: row.get(k) for k in ("pair_id", *DESCRIPTIVE, "artist")}
    names = ("offset_s", "gain_db", "polarity", *(m for m in MEASURES if m != "alignment_map"))
    measures = {k: _plain(row.get(k)) for k in names if row.get(k) is not None}
    info["pair_measures"] = measures
    info["alignment_map"] = json.loads(row["alignment_map"]) if row.get("alignment_map") else None
    return info


def plan_jobs(accepted: pa.Table, base_dir: Path | Any, config: StemsConfig
              ) -> tuple[list[StemJob], list[tuple[str, str, str]]]:
    """Jobs for the accepted rows in table order, each with its split; plus (pair_id, reason, detail) of rows
    refused before any audio is read (a repeated pair id)."""
    seen: set[str] = set()
    unique, skipped = [], []
    for row in accepted.to_pylist():
        if row["pair_id"] in seen:
            skipped.append((row["pair_id"], "duplicate-pair-id", "the pairs table lists this pair id twice"))
            continue
        seen.add(row["pair_id"])
        unique.append(row)
    split_of = assign_splits(pair_keys(unique), config.split, fixed=dict(config.fixed_splits) or None)
    jobs = []
    for r in unique:
        paths = [str(storage.resolve(p, base_dir)) if p else "" for p in
                 (r["original_audio_path"] or "", r["instrumental_audio_path"] or "")]
        alignment = alignment_of_row(r)
        jobs.append(StemJob(r["pair_id"], split_of[r["pair_id"]], paths[0], paths[1], alignment, _info(r),
                            job_key(r["pair_id"], split_of[r["pair_id"]], paths, alignment, config)))
    return jobs, skipped
