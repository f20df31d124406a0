"""The shard reader: what it streams equals what is stored, consumers' shares are disjoint and complete,
resume with ``skip``, and clear errors for bad shard directories."""

from __future__ import annotations

import json
import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.reader import PatchBatch, RowGroupRef, ShardDataset
from features.shard_config import ROW_BYTES, ShardConfig
from features.shards import build_shards
from features.splits import SplitConfig
from support.synthetic_pairs import SongSpec, write_pairs
from vocalmine.errors import UserInputError


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    specs = [SongSpec(f"s{i}", f"s{i}i", f"artist{i % 5}", seconds=13.0 + i % 3, offset_s=0.1 * i)
             for i in range(12)]
    pairs_dir = write_pairs(root, specs)
    # Row groups of 3 patches, shards of 2 row groups; everything in train but one artist in valid, none in test.
    config = ShardConfig(split=SplitConfig((0.8, 0.2, 0.0)), row_group_size=3, shard_bytes=7 * ROW_BYTES)
    build_shards(pairs_dir, root / "out", config, progress=False)
    return root / "out"


def _key(batch: PatchBatch, i: int) -> tuple[str, int]:
    return batch.pair_id[i], int(batch.start_frame[i])


def test_batches_hold_exactly_the_stored_rows(shards):
    ds = ShardDataset(shards, "train")
    manifest = json.loads((shards / "manifest.json").read_text())
    assert ds.manifest == manifest and ds.params.hop == 768
    assert len(ds) == ds.num_patches == manifest["splits"]["train"]["patches"] > 0
    assert [rg.num_rows for rg in ds.row_groups if rg.num_rows != 3] in ([], [ds.num_patches % 3])
    stored = {}
    for shard in manifest["splits"]["train"]["shards"]:
        table = pq.read_table(shards / shard["path"])
        for i in range(table.num_rows):
            stored[(table["pair_id"][i].as_py(), table["start_frame"][i].as_py())] = (
                table["scale"][i].as_py(), {n: table[n][i].as_py() for n in ("mix", "vocals", "instrumental")})
    seen = 0
    for batch in ds.iter_batches(seed=7):
        assert batch.start_frame.dtype == np.int32 and batch.scale.dtype == np.float32
        for name, arr in batch.arrays.items():
            assert arr.dtype == np.float16 and arr.shape == (len(batch), 512, 128)
        for i in range(len(batch)):
            scale, tensors = stored[_key(batch, i)]
            assert batch.scale[i] == np.float32(scale)
            for name, raw in tensors.items():
                assert batch.arrays[name][i].tobytes() == raw
            seen += 1
    assert seen == len(stored) == ds.num_patches


def test_consumers_are_disjoint_and_complete_and_the_order_follows_seed_and_epoch(shards):
    ds = ShardDataset(shards, "train", columns=("mix",))
    all_rows = Counter(_key(b, i) for b in ds.iter_batches() for i in range(len(b)))
    assert len(all_rows) == ds.num_patches and max(all_rows.values()) == 1
    for world_size, num_workers in ((2, 1), (1, 3), (2, 2)):
        union: Counter = Counter()
        shares = []
        for rank in range(world_size):
            for worker in range(num_workers):
                refs = ds.shard_of(seed=1, epoch=2, rank=rank, world_size=world_size, worker=worker,
                                   num_workers=num_workers)
                shares.append(len(refs))
                for batch in ds.iter_batches(seed=1, epoch=2, rank=rank, world_size=world_size, worker=worker,
                                             num_workers=num_workers):
                    assert set(batch.arrays) == {"mix"}
                    union.update(_key(batch, i) for i in range(len(batch)))
        assert union == all_rows, (world_size, num_workers)
        assert max(shares) - min(shares) <= 1
    orders = {(s, e): [(r.path, r.index) for r in ds.epoch_order(s, e)] for s in (0, 1) for e in (0, 1)}
    assert orders[(0, 0)] == [(r.path, r.index) for r in ds.epoch_order(0, 0)]
    assert len({tuple(o) for o in orders.values()}) == 4
    assert sorted(orders[(0, 0)]) == sorted(orders[(1, 1)]) == sorted((r.path, r.index) for r in ds.row_groups)


def test_skip_resumes_where_a_consumer_stopped(shards):
    ds = ShardDataset(shards, "train", columns=("vocals",))
    kw = dict(seed=3, epoch=1, rank=1, world_size=2)
    full = [[_key(b, i) for i in range(len(b))] for b in ds.iter_batches(**kw)]
    assert len(full) >= 3
    resumed = [[_key(b, i) for i in range(len(b))] for b in ds.iter_batches(skip=2, **kw)]
    assert resumed == full[2:]
    assert list(ds.iter_batches(skip=len(full), **kw)) == []


def test_pickles_for_data_loader_workers(shards):
    ds = ShardDataset(shards, "valid")
    first = next(ds.iter_batches())
    clone = pickle.loads(pickle.dumps(ds))
    again = next(clone.iter_batches())
    assert again.pair_id == first.pair_id
    assert np.array_equal(again.arrays["vocals"], first.arrays["vocals"])
    assert ds.row_groups[0] == RowGroupRef(ds.row_groups[0].path, 0, ds.row_groups[0].num_rows)


def test_errors_say_what_is_wrong(shards, tmp_path):
    with pytest.raises(UserInputError, match="does not exist: build it with `build-shards"):
        ShardDataset(tmp_path / "nowhere", "train")
    with pytest.raises(UserInputError, match="manifest.json is missing: .* is not a finished shard build"):
        ShardDataset(tmp_path, "train")
    with pytest.raises(UserInputError, match=r"split 'dev' is not in .*manifest.json \(splits: train, valid, test\)"):
        ShardDataset(shards, "dev")
    with pytest.raises(UserInputError, match="split 'test' of .* is empty"):
        ShardDataset(shards, "test")
    with pytest.raises(UserInputError, match="columns must be a non-empty subset"):
        ShardDataset(shards, "train", columns=("mixture",))

    def altered(change) -> str:
        copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(shards, copy)
        manifest = json.loads((copy / "manifest.json").read_text())
        change(manifest)
        (copy / "manifest.json").write_text(json.dumps(manifest))
        return str(copy)

    with pytest.raises(UserInputError, match="sample_rate=16000, n_fft=1024, hop=768; this reader expects"):
        ShardDataset(altered(lambda m: m["params"].update(sample_rate=16000)), "train")
    with pytest.raises(UserInputError, match=r"patch shape is \[512, 64\], expected \[512, 128\]"):
        ShardDataset(altered(lambda m: m["params"].update(tensor_shape=[512, 64])), "train")
    foreign = altered(lambda m: None)
    first_shard = json.loads((shards / "manifest.json").read_text())["splits"]["train"]["shards"][0]["path"]
    table = pq.read_table(shards / first_shard)
    table = table.set_column(table.schema.get_field_index("mix"), "mix",
                             pa.array([b"x" * 16] * table.num_rows, pa.binary(16)))
    pq.write_table(table, f"{foreign}/{first_shard}")
    manifest = json.loads(Path(foreign, "manifest.json").read_text())  # a consistent manifest: the schema is what is wrong
    manifest["splits"]["train"]["shards"][0]["bytes"] = Path(foreign, first_shard).stat().st_size
    Path(foreign, "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UserInputError, match=r"column 'mix' must be fixed_size_binary\[131072\] .* found fixed_size_binary\[16\]"):
        ShardDataset(foreign, "train")
    broken = altered(lambda m: None)
    first = json.loads((shards / "manifest.json").read_text())["splits"]["train"]["shards"][0]["path"]
    (tmp_path / broken / first).unlink()
    with pytest.raises(UserInputError, match=f"shard .*{first} listed in .* is missing"):
        ShardDataset(broken, "train")


def test_one_dataset_can_be_read_from_several_threads_at_once(shards):
    """Each iterator opens its own files, so threads sharing one dataset (loader threads) need no copies."""
    from concurrent.futures import ThreadPoolExecutor

    ds = ShardDataset(shards, "train", columns=("mix", "vocals"))

    def digest(worker: int) -> list[tuple[str, int, bytes, bytes]]:
        out = []
        for _ in range(3):
            for b in ds.iter_batches(seed=worker % 2, epoch=worker):
                out += [(b.pair_id[i], int(b.start_frame[i]), b.arrays["mix"][i].tobytes(),
                         b.arrays["vocals"][i].tobytes()) for i in range(len(b))]
        return out

    expected = [digest(w) for w in range(6)]
    pool = ThreadPoolExecutor(6)
    try:  # shared open Parquet files once deadlocked here: fail instead of hanging
        got = list(pool.map(digest, range(6), timeout=60))
    finally:
        pool.shutdown(wait=False)
    assert got == expected
    assert len(expected[0]) == 3 * ds.num_patches
