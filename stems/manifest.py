"""An export's record (``manifest.json``, written last: what ``evaluate``, the report and a re-run trust) and the
summary ``export_stems`` returns.

Keys of the manifest: ``format``, ``export_key`` (inputs and settings; a re-run with the same key finds the export
done), ``code_version``, ``source`` (the pairs table, its SHA-1, accepted pairs), ``layout`` (its name and the file
of each role), ``config`` (every setting), ``split_rules``, ``splits`` (per split: items, pairs, seconds, hours),
``totals``, ``items`` (each item's split, folder, pair, span on the original's timeline, duration, rate, channels
and files with their bytes and SHA-1) and ``skipped`` (each pair that gave no item, with its reason and detail).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import vocalmine
from features.splits import SPLIT_RULES, SPLITS
from stems.config import FORMAT, StemsConfig
from stems.layouts import LAYOUTS
from vocalmine import storage
from vocalmine.settings import flat_dict

MANIFEST = "manifest.json"


@dataclass
class SplitStats:
    items: int
    pairs: int
    seconds: float


@dataclass
class StemsSummary:
    """What an export made. ``skipped``: (pair_id, reason) of the pairs that gave no item."""

    out_dir: Any
    manifest_path: Any
    layout: str
    splits: dict[str, SplitStats]
    skipped: list[tuple[str, str]]
    computed_pairs: int = 0
    reused_pairs: int = 0
    up_to_date: bool = False
    elapsed_s: float = 0.0
    removed_items: list[str] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(s.items for s in self.splits.values())

    @property
    def hours(self) -> float:
        return sum(s.seconds for s in self.splits.values()) / 3600

    def lines(self) -> list[str]:
        """The console summary: hours per split, then the skipped pairs with their reasons."""
        head = f"stems in {self.out_dir} ({self.layout}): {self.hours:.3f} h in {self.items} items"
        head += " (already up to date)" if self.up_to_date else (
            f" ({self.computed_pairs} pairs exported, {self.reused_pairs} reused; {self.elapsed_s:.1f} s)")
        out = [head]
        for name, s in self.splits.items():
            out.append(f"  {name:5s}: {s.pairs:6d} pairs {s.items:7d} items {s.seconds / 3600:9.3f} h")
        if self.removed_items:
            out.append(f"  removed {len(self.removed_items)} items of an earlier export no longer planned")
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


def split_stats(items: Sequence[dict]) -> dict[str, SplitStats]:
    """Per split (in ``SPLITS`` order): items, pairs and seconds of ``items`` (manifest item records)."""
    out = {}
    for split in SPLITS:
        mine = [i for i in items if i["split"] == split]
        out[split] = SplitStats(len(mine), len({i["pair_id"] for i in mine}), sum(i["seconds"] for i in mine))
    return out


def manifest_record(config: StemsConfig, key: str, source: Any, pairs_sha1: str, accepted: int,
                    items: Sequence[dict], skipped: Sequence[tuple[str, str, str]]) -> dict:
    """``manifest.json`` of an export (see the module doc); ``items`` sorted by folder."""
    items = sorted(items, key=lambda i: i["path"])
    stats = split_stats(items)
    settings = flat_dict(config)
    settings.pop("workers")  # how it ran, not what it made: two runs with other workers write the same manifest
    settings["fixed_splits"] = len(config.fixed_splits)
    return {
        "format": FORMAT,
        "export_key": key,
        "code_version": vocalmine.code_version(),
        "source": {"pairs_path": str(storage.absolute(source)), "pairs_sha1": pairs_sha1, "accepted_pairs": accepted},
        "layout": {"name": config.layout, "files": LAYOUTS[config.layout].names},
        "config": settings,
        "split_rules": SPLIT_RULES,
        "splits": {name: {"items": s.items, "pairs": s.pairs, "seconds": round(s.seconds, 4),
                          "hours": round(s.seconds / 3600, 6)} for name, s in stats.items()},
        "totals": {"items": len(items), "pairs": len({i["pair_id"] for i in items}),
                   "seconds": round(sum(i["seconds"] for i in items), 4)},
        "items": list(items),
        "skipped": [{"pair_id": pid, "reason": reason, "detail": detail} for pid, reason, detail in skipped],
    }


def read_manifest(out_dir: Any) -> dict | None:
    """The manifest of an export in ``out_dir``, or None (missing, unreadable, or another tool's)."""
    try:
        manifest = json.loads(storage.read_bytes(storage.path(out_dir) / MANIFEST))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and str(manifest.get("format", "")).startswith("vocalmine-stems") \
        else None


def summary_of(out_dir: Any, manifest: dict, **extra: Any) -> StemsSummary:
    """The summary of an export from its manifest."""
    return StemsSummary(out_dir, storage.path(out_dir) / MANIFEST, manifest["layout"]["name"],
                        split_stats(manifest["items"]), [(s["pair_id"], s["reason"]) for s in manifest["skipped"]],
                        **extra)
