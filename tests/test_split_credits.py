"""Splits that hold out every credited artist (issue 18): a catalog with featured and multi-artist credits ("JIN; V",
"A feat. C", "C & D"), mined by the metadata stage, its candidates given audio and accepted, then split by
build-shards and export-stems: no artist key the miner emits for a credit, primary or featured, lands in two
splits; a split file that names a featured artist pulls that artist's whole group."""

from __future__ import annotations

import csv
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from catalog_schemas import PAIRS
from features.shard_config import ShardConfig, build_key
from features.shards import build_shards
from features.splits import SPLITS, PairKeys, SplitConfig, assign_splits, pair_keys
from miner import MinerConfig, mine_pairs
from miner.normalize import credit_keys
from stems import StemsConfig, export_stems
from vocalmine.atomic import write_table

CREDITS = [("JIN; V", "JIN", "Awake"), ("V", "V", "Singularity"), ("A feat. C", "C", "Hit"), ("C & D", "C & D", "Duo"),
           ("D", "D", "Solo")] + [(name, name, f"Song {name}") for name in ("E", "F", "G", "H", "I", "J", "K", "L")]
SPLIT = SplitConfig((0.5, 0.25, 0.25), seed=3)


@pytest.fixture(scope="module")
def credited(tmp_path_factory):
    """The catalog mined, every candidate accepted with audio (a 3 s tone mix and its accompaniment)."""
    root = tmp_path_factory.mktemp("credits")
    rows = []
    for k, (artist, inst_artist, title) in enumerate(CREDITS):
        rows.append((f"o{k:02d}", artist, title))
        rows.append((f"i{k:02d}", inst_artist, f"{title} (Instrumental)"))
    with open(root / "catalog.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["track_id", "artist", "title", "duration_s", "audio_path"])
        for tid, artist, title in rows:
            w.writerow([tid, artist, title, "3", f"audio/{tid}.wav"])
    pairs = root / "pairs"
    mine_pairs(root / "catalog.csv", pairs, MinerConfig(progress=False))
    candidates = pq.read_table(pairs / "candidates.parquet").to_pylist()
    assert len(candidates) == len(CREDITS)
    (root / "audio").mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(3 * 8192) / 8192
    out = []
    for c in candidates:
        acc = 0.2 * np.sin(2 * np.pi * rng.uniform(80, 200) * t) + 0.05 * rng.standard_normal(len(t))
        voice = 0.2 * np.sin(2 * np.pi * rng.uniform(300, 600) * t) * (t % 1 < 0.5)
        sf.write(c["original_audio_path"], (acc + voice).astype(np.float32), 8192, subtype="FLOAT")
        sf.write(c["instrumental_audio_path"], acc.astype(np.float32), 8192, subtype="FLOAT")
        out.append({**{k: c[k] for k in c if k in PAIRS.names}, "pair_id": f"{c['original_id']}~{c['instrumental_id']}",
                    "status": "accepted", "reason": "", "offset_s": 0.0, "gain_db": 0.0, "polarity": 1,
                    "content_group": c["original_id"]})
    # recorded as made from these candidates, as the audio stage records it
    write_table(pa.Table.from_pylist(out, schema=PAIRS), pairs / "pairs.parquet", inputs=["candidates.parquet"])
    return root, pairs, out


def _keys_by_split(rows: list[dict], split_of: dict[str, str]) -> dict[str, set[str]]:
    """Every credit key of each split's pairs, split as the miner splits credits."""
    primary, others = credit_keys([r["artist"] for r in rows])
    out: dict[str, set[str]] = {s: set() for s in SPLITS}
    for r, p, o in zip(rows, primary.to_pylist(), others.to_pylist()):
        out[split_of[r["pair_id"]]] |= {p, *o, r["artist_key"]}
    return out


def _assert_disjoint(keys: dict[str, set[str]]) -> None:
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not keys[a] & keys[b], (a, b, keys[a] & keys[b])


def test_the_miner_blocked_the_featured_pairs_on_a_shared_key_and_the_old_rule_split_them(credited):
    _, _, rows = credited
    by_title = {r["original_title"]: r for r in rows}
    assert (by_title["Awake"]["artist_key"], by_title["Hit"]["artist_key"]) == ("jin", "c")
    # the rule before issue 18 (the blocked key and content groups only) puts a featured artist in two splits
    old = assign_splits([PairKeys(r["pair_id"], r["artist_key"], r["content_group"]) for r in rows], SPLIT)
    with pytest.raises(AssertionError):
        _assert_disjoint(_keys_by_split(rows, old))


def test_build_shards_and_export_stems_hold_out_every_credited_artist(credited, tmp_path):
    _, pairs, rows = credited
    build_shards(pairs, tmp_path / "shards", ShardConfig(split=SPLIT), progress=False)
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    shard_split = {pid: s for s in SPLITS for pid in manifest["splits"][s]["pair_ids"]}
    assert set(shard_split) == {r["pair_id"] for r in rows} and set(shard_split.values()) == set(SPLITS)
    _assert_disjoint(_keys_by_split(rows, shard_split))
    export_stems(pairs, tmp_path / "stems", StemsConfig(split=SPLIT, min_item_s=1.0), progress=False)
    items = json.loads((tmp_path / "stems" / "manifest.json").read_text())["items"]
    stems_split = {i["pair_id"]: i["split"] for i in items}
    assert stems_split == shard_split  # the same split logic
    groups = {frozenset({"o00~i00", "o01~i01"}), frozenset({"o02~i02", "o03~i03", "o04~i04"})}
    for g in groups:
        assert len({shard_split[p] for p in g}) == 1, g


def test_a_split_file_naming_a_featured_artist_pulls_its_whole_group(credited):
    _, _, rows = credited
    keys = pair_keys(rows)
    split = assign_splits(keys, SPLIT, fixed={"v": "test", "d": "valid"})
    assert split["o00~i00"] == split["o01~i01"] == "test"  # "JIN; V" goes where V is pinned
    assert split["o02~i02"] == split["o03~i03"] == split["o04~i04"] == "valid"  # A feat. C -> C & D -> D


def test_the_build_key_carries_the_split_rules():
    import features.shard_config as sc

    before = build_key(ShardConfig(), "0" * 40)
    original = sc.SPLIT_RULES
    try:
        sc.SPLIT_RULES = "splits/1: blocked artist key, content group"
        assert build_key(ShardConfig(), "0" * 40) != before  # a build under other rules is remade, not reused
    finally:
        sc.SPLIT_RULES = original
