"""The global step after per-pair verdicts: group originals with the same audio, keep one pair per group.

Two originals are the same audio when their decoded content hashes are equal, or when (within one artist
block) their chromaprint fingerprints agree at or above ``duplicate_min_similarity`` and their durations
are within ``duplicate_max_duration_delta_s``. Groups are the connected components of that relation; a
group's id is its smallest ``original_id``. Among a group's accepted pairs the one with the smallest
``pair_id`` stays accepted, the others become ``duplicate-of:<that pair_id>``.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np

from pairing.config import PairingConfig
from pairing.fingerprint import ITEM_SECONDS, similarity
from vocalmine.unionfind import SmallestRootUnionFind

log = logging.getLogger(__name__)

DUPLICATE_PREFIX = "duplicate-of:"


def reason_group(reason: str | None) -> str:
    """``duplicate-of:<pair_id>`` -> ``duplicate`` (how summaries count it); other reasons unchanged."""
    reason = reason or ""
    return "duplicate" if reason.startswith(DUPLICATE_PREFIX) else reason


def content_groups(originals: Iterable[dict[str, Any]], fingerprint_of: Callable[[str], np.ndarray | None],
                   config: PairingConfig) -> dict[str, str]:
    """``original_id -> content_group`` for originals with audio.

    ``originals``: dicts with ``original_id``, ``content_sha1`` (decoded audio), ``file_sha1`` (the
    fingerprint cache key), ``seconds`` and ``block`` (e.g. the artist key; only originals in one block are
    compared by fingerprint). ``fingerprint_of(file_sha1)`` returns the cached raw fingerprint or None.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for o in originals:
        if o.get("content_sha1"):
            by_id.setdefault(o["original_id"], o)
    uf = SmallestRootUnionFind()
    by_hash: dict[str, list[str]] = defaultdict(list)
    by_block: dict[Any, list[str]] = defaultdict(list)
    for oid in sorted(by_id):
        uf.find(oid)
        by_hash[by_id[oid]["content_sha1"]].append(oid)
        by_block[by_id[oid].get("block")].append(oid)
    for ids in by_hash.values():
        for other in ids[1:]:
            uf.union(ids[0], other)
    max_shift = int(np.ceil((config.duplicate_max_duration_delta_s + 1.0) / ITEM_SECONDS))
    fps: dict[str, np.ndarray | None] = {}
    for ids in by_block.values():
        for a, b in itertools.combinations(ids, 2):
            oa, ob = by_id[a], by_id[b]
            if uf.find(a) == uf.find(b):
                continue
            if abs(float(oa["seconds"]) - float(ob["seconds"])) > config.duplicate_max_duration_delta_s:
                continue
            for o in (oa, ob):
                if o["file_sha1"] not in fps:
                    fps[o["file_sha1"]] = fingerprint_of(o["file_sha1"]) if o["file_sha1"] else None
            fa, fb = fps[oa["file_sha1"]], fps[ob["file_sha1"]]
            if fa is None or fb is None or not len(fa) or not len(fb):
                continue
            sim, _ = similarity(fa, fb, max_shift=max_shift)
            if sim >= config.duplicate_min_similarity:
                log.debug("originals %s and %s are the same audio (fingerprint similarity %.3f)", a, b, sim)
                uf.union(a, b)
    return {oid: uf.find(oid) for oid in by_id}


def mark_duplicates(rows: list[dict[str, Any]], groups: dict[str, str]) -> list[dict[str, Any]]:
    """Fill ``content_group`` and turn all but one accepted pair per group into ``duplicate-of:<pair_id>``.

    ``rows`` are verdict rows (dicts with ``pair_id``, ``original_id``, ``status``, ``reason``, ``detail``);
    returns new dicts in the same order.
    """
    out = [dict(r, content_group=groups.get(r["original_id"]) if r.get("original_sha1") else None) for r in rows]
    keeper: dict[str, str] = {}
    for r in sorted((r for r in out if r["status"] == "accepted" and r["content_group"]), key=lambda r: r["pair_id"]):
        keeper.setdefault(r["content_group"], r["pair_id"])
    for r in out:
        group = r["content_group"]
        if r["status"] == "accepted" and group and keeper[group] != r["pair_id"]:
            r.update(status="rejected", reason=f"{DUPLICATE_PREFIX}{keeper[group]}",
                     detail=f"original {r['original_id']} has the same audio as the originals of content group "
                            f"{group}; one pair per group is kept")
    return out
