"""A shard build's record: ``manifest.json`` (written last; what the reader and a re-run trust) and the summary
a build returns. The manifest's keys are documented in docs/shards.md; they and their order are part of the
format, so an existing build keeps reading the same.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import vocalmine
from catalog_schemas import SHARD
from features.shard_config import FORMAT, ShardConfig, content_hash
from features.shard_plan import PairJob, ShardPlan
from features.splits import SPLITS
from vocalmine import storage

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
#: The keys of a shard's manifest entry (``write_shard`` returns these and ``written``).
SHARD_ENTRY_KEYS = ("path", "rows", "row_groups", "bytes", "sha1")


@dataclass
class SplitSummary:
    pairs: int
    patches: int
    seconds: float
    shards: int


@dataclass
class ShardSummary:
    """What a build made. ``skipped``: (pair_id, reason) of the pairs that gave no patches."""

    out_dir: Path
    manifest_path: Path
    splits: dict[str, SplitSummary]
    skipped: list[tuple[str, str]]
    computed_pairs: int = 0
    reused_pairs: int = 0
    written_shards: int = 0
    reused_shards: int = 0
    up_to_date: bool = False
    elapsed_s: float = 0.0

    @property
    def patches(self) -> int:
        return sum(s.patches for s in self.splits.values())

    @property
    def hours(self) -> float:
        return sum(s.seconds for s in self.splits.values()) / 3600

    def lines(self) -> list[str]:
        """The console summary."""
        out = [
            f"shards in {self.out_dir}: {self.hours:.3f} h of audio, {self.patches} patches"
            + (" (already up to date)" if self.up_to_date else
               f" ({self.computed_pairs} pairs computed, {self.reused_pairs} reused; "
               f"{self.written_shards} shards written, {self.reused_shards} kept; {self.elapsed_s:.1f} s)"),
        ]
        for name, s in self.splits.items():
            out.append(f"  {name:5s}: {s.pairs:6d} pairs {s.patches:8d} patches {s.seconds / 3600:9.3f} h "
                       f"{s.shards:4d} shards")
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason in self.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            out.append(f"  skipped {len(self.skipped)} pairs: "
                       + ", ".join(f"{r} x{n}" for r, n in sorted(reasons.items())))
            out += [f"    {pid}: {reason}" for pid, reason in self.skipped[:20]]
            if len(self.skipped) > 20:
                out.append(f"    ... {len(self.skipped) - 20} more in {self.manifest_path}")
        return out


def split_summaries(manifest: dict) -> dict[str, SplitSummary]:
    """``split -> SplitSummary`` of a manifest's ``splits``."""
    return {name: SplitSummary(s["pairs"], s["patches"], s["seconds"], len(s["shards"]))
            for name, s in manifest["splits"].items()}


def audio_key(jobs: Sequence[PairJob]) -> str:
    """A hash of every job's part key, which holds its audio files' paths and stamps (size and time, or ETag):
    audio replaced in place (same paths, same pairs table) changes it."""
    return content_hash(sorted(j.key for j in jobs))


def up_to_date(out_dir: Path, build_key: str, audio: str) -> dict | None:
    """The manifest of a finished build in ``out_dir`` with ``build_key`` and ``audio`` (``audio_key``) whose
    shards are all there with their recorded sizes; None otherwise (no manifest, another key, audio files
    changed since, a shard missing or changed; a manifest written before the audio key was recorded)."""
    path = out_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("build_key") != build_key:
        return None
    if manifest.get("audio_key") != audio:
        log.info("%s: the audio files changed since this build (or it predates audio keys): building again", path)
        return None
    for s in manifest["splits"].values():
        for shard in s["shards"]:
            f = out_dir / shard["path"]
            if not f.exists() or storage.size(f) != shard["bytes"]:
                return None
    return manifest


def summary_of_finished(out_dir: Path, manifest: dict) -> ShardSummary:
    """The summary of an up-to-date build (nothing computed or written)."""
    skipped = [(s["pair_id"], s["reason"]) for s in manifest["skipped"]]
    return ShardSummary(out_dir, out_dir / MANIFEST, split_summaries(manifest), skipped, up_to_date=True)


def split_records(jobs: Sequence[PairJob], infos: dict[str, dict], plans: dict[str, list[ShardPlan]],
                  entries: dict[str, dict]) -> dict[str, dict]:
    """The manifest's ``splits``: per split, its pairs that gave patches (``infos``: part key -> part info), their
    patches, seconds and artists, and its shards (``entries``: shard path -> ``write_shard``'s entry)."""
    out: dict[str, dict] = {}
    for split in SPLITS:
        done = [j for j in jobs if j.split == split and j.key in infos]
        out[split] = {
            "pairs": len(done),
            "patches": sum(infos[j.key]["rows"] for j in done),
            "seconds": round(sum(infos[j.key]["seconds"] for j in done), 4),
            "artists": len({j.artist for j in done}),
            "pair_ids": sorted(j.pair_id for j in done),
            "shards": [{k: entries[p.path][k] for k in SHARD_ENTRY_KEYS} for p in plans[split]],
        }
    return out


def manifest_record(config: ShardConfig, build_key: str, source: Path, pairs_sha1: str, accepted_pairs: int,
                    splits: dict[str, dict], skipped: Sequence[tuple[str, str]],
                    details: dict[str, str], audio: str = "") -> dict:
    """``manifest.json`` of a build (keys in the recorded order; see docs/shards.md). ``splits``:
    ``split_records``; ``skipped``: (pair_id, reason); ``details``: pair_id -> what failed, for pairs that failed
    in phase 1; ``audio``: ``audio_key`` of the jobs."""
    return {
        "format": FORMAT,
        "build_key": build_key,
        "audio_key": audio,
        "code_version": vocalmine.code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": {
            "pairs_path": str(source.resolve()),
            "pairs_sha1": pairs_sha1,
            "accepted_pairs": accepted_pairs,
        },
        "params": config.patches.as_dict(),
        "config": {
            "ratios": list(config.split.ratios),
            "fixed_split_artists": len(config.fixed_splits),
            "seed": config.split.seed,
            "shard_bytes": config.shard_bytes,
            "rows_per_shard": config.rows_per_shard,
            "row_group_size": config.row_group_size,
            "parquet": config.parquet_options(),
        },
        "columns": {f.name: str(f.type) for f in SHARD},
        "splits": splits,
        "totals": {
            "pairs": sum(s["pairs"] for s in splits.values()),
            "patches": sum(s["patches"] for s in splits.values()),
            "seconds": round(sum(s["seconds"] for s in splits.values()), 4),
        },
        "skipped": [{"pair_id": pid, "reason": reason, "detail": details.get(pid, "")} for pid, reason in skipped],
    }
