"""Tiny shard sets and runs for the training tests, and where the reader stands after a number of patches.

Shards here are small real Parquet files in the SHARD schema, cut by ``features.patches.spectrogram_patches``
from synthetic signals, with a manifest the real reader (``features.reader.ShardDataset``) accepts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog_schemas import SHARD
from catalog_schemas.shards import TENSOR_COLUMNS
from features.audio import file_sha1
from features.patches import PatchParams, spectrogram_patches
from features.reader import ShardDataset
from training.config import TrainConfig

SR = 8192


def synthetic_pair(seed: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(mix, instrumental) float32 [samples] at 8192 Hz: a gliding harmonic 'voice' over noise and a bass tone."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = 220 * 2 ** (rng.uniform(-0.5, 0.5) + 0.2 * np.sin(2 * np.pi * 0.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 6)) * (np.sin(2 * np.pi * 0.25 * t) > 0)
    inst = 0.3 * rng.standard_normal(n) * np.exp(-((t % 0.5) * 8)) + 0.5 * np.sin(2 * np.pi * 55 * t)
    inst = inst.astype(np.float32)
    return (0.3 * voice + inst).astype(np.float32), inst


def write_shards(root: Path, splits: dict[str, int], row_group_size: int = 2, manifest_params: dict | None = None,
                 seconds: float = 12.0 * 2.2) -> Path:
    """``root/{split}/part-00000.parquet`` with ``splits[split]`` pairs each, and ``root/manifest.json``."""
    params = PatchParams()
    manifest = {"format": "vocalmine-shards/1", "params": manifest_params or params.as_dict(), "splits": {}}
    seed = 0
    for split, pairs in splits.items():
        rows: list[dict] = []
        pair_ids = []
        for _ in range(pairs):
            seed += 1
            pid = f"o{seed}~i{seed}"
            pair_ids.append(pid)
            mix, inst = synthetic_pair(seed, seconds)
            patches = spectrogram_patches(mix, inst, params)
            for p in patches:
                rows.append({"pair_id": pid, "start_frame": int(p["start_frame"]), "scale": float(p["scale"]),
                             "vocal_energy": float(p["vocal_energy"]),
                             **{c: np.ascontiguousarray(p[c]).tobytes() for c in TENSOR_COLUMNS}})
        path = root / split / "part-00000.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        if rows:
            cols = {f.name: [r[f.name] for r in rows] for f in SHARD}
            pq.write_table(pa.table(cols, schema=SHARD), path, row_group_size=row_group_size)
        else:
            pq.write_table(SHARD.empty_table(), path)
        manifest["splits"][split] = {"pairs": pairs, "patches": len(rows), "pair_ids": pair_ids,
                                     "shards": [{"path": f"{split}/part-00000.parquet", "rows": len(rows)}]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def record_sizes(root: Path) -> Path:
    """Add each shard's size and sha1 to ``root/manifest.json``, as build-shards records them."""
    manifest = json.loads((root / "manifest.json").read_text())
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            f = root / shard["path"]
            shard.update(bytes=f.stat().st_size, sha1=file_sha1(f))
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def expected_position(shards: Path, seed: int, patches: int, rank: int = 0, world_size: int = 1, worker: int = 0,
                      num_workers: int = 1) -> dict:
    """Position of the next unread patch after ``patches``, walking the reader's row-group order by hand."""
    ds = ShardDataset(shards, "train", columns=("mix",))
    left, epoch = patches, 0
    while True:
        for i, rg in enumerate(ds.shard_of(seed=seed, epoch=epoch, rank=rank, world_size=world_size,
                                           worker=worker, num_workers=num_workers)):
            if left < rg.num_rows:
                return {"epoch": epoch, "row_groups": i, "rows": left, "patches_read": patches}
            if left == rg.num_rows > 0:  # a batch that ends a row group: the position is past it
                return {"epoch": epoch, "row_groups": i + 1, "rows": 0, "patches_read": patches}
            left -= rg.num_rows
        epoch += 1


def tiny_train_config(shards: Path, run: Path, **kw) -> TrainConfig:
    """A few CPU steps of batch 3 on ``shards``, deterministic, validated and checkpointed every 2 steps
    (``kw`` overrides); the config of the shared ``tiny_model`` (tests/conftest.py) with max_steps=4."""
    base = dict(shards_dir=str(shards), run_dir=str(run), batch_size=3, max_steps=4, valid_every=2, loader_threads=3,
                valid_patches=2, checkpoint_every=2, log_every=1, seed=3, device="cpu", deterministic=True,
                progress=False, tensorboard=True)
    base.update(kw)
    return TrainConfig(**base)
