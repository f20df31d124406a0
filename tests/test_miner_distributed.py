"""The same graph on a real ``dask.distributed`` cluster of worker processes gives the same tables."""

from __future__ import annotations

import csv
import random

import pyarrow.parquet as pq
import pytest

from miner import MinerConfig, mine_pairs

distributed = pytest.importorskip("distributed")


def _catalog(path, n_rows: int = 3000, seed: int = 0) -> None:
    rng = random.Random(seed)
    words = ["love", "night", "fire", "dance", "dream", "rain", "gold", "summer", "home", "light", "café", "part"]
    artists = [f"Artist {i}" for i in range(60)] + ["The Band", "Band", "Jay-Z", "JAY Z"]
    rows = []
    for i in range(n_rows):
        artist = rng.choice(artists[: 1 + int(rng.paretovariate(1.2)) % len(artists)])
        title = " ".join(rng.sample(words, rng.choice((1, 2, 3)))).title()
        if rng.random() < 0.08:
            title += rng.choice([" (Instrumental)", " - Inst.", " (Live)", ", Part 2", " (Off Vocal)"])
        dur = "" if rng.random() < 0.01 else f"{rng.uniform(100, 110):.1f}"
        tid = f"{rng.randrange(n_rows * 3):06d}"  # some ids repeat, across partitions too
        rows.append((tid, artist, title, dur, "Album,\nwith a newline" if i % 97 == 0 else "Album"))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["track_id", "artist", "title", "duration_s", "album"])
        w.writerows(rows)


@pytest.mark.slow
def test_distributed_run_equals_local_run(tmp_path, monkeypatch):
    cat = tmp_path / "catalog.csv"
    _catalog(cat)
    config = MinerConfig(blocksize=40_000)  # several partitions, so the shuffle and the duplicates are real
    local = mine_pairs(cat, tmp_path / "local", config)
    assert local.partitions >= 3 and local.candidates > 100
    assert local.rejected_by_reason.get("duplicate-track_id", 0) > 10
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                                  dashboard_address=None) as cluster:
        # found through $DASK_SCHEDULER_ADDRESS; two matching waves on the cluster, one locally: the waves
        # must not change the result either
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        remote = mine_pairs(cat, tmp_path / "remote", MinerConfig(blocksize=40_000, wave_rows=1500))
        monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
        with distributed.Client(cluster) as client:  # the work ran there
            keys = client.run_on_scheduler(lambda dask_scheduler: [str(t[0]) for t in dask_scheduler.transition_log])
        assert any(k.startswith("prepare-") for k in keys)
    for name in ("candidates.parquet", "rejected_rows.parquet"):
        a = pq.read_table(tmp_path / "local" / name)
        b = pq.read_table(tmp_path / "remote" / name)
        assert a.equals(b), name
    same = ("rows_read", "rows_used", "rows_rejected", "rejected_by_reason", "marked", "blocks", "compared",
            "candidates")
    assert {k: getattr(local, k) for k in same} == {k: getattr(remote, k) for k in same}


def test_matching_in_waves_gives_the_same_tables(tmp_path):
    cat = tmp_path / "catalog.csv"
    _catalog(cat, seed=1)
    one = mine_pairs(cat, tmp_path / "one", MinerConfig(blocksize=40_000))
    many = mine_pairs(cat, tmp_path / "many", MinerConfig(blocksize=40_000, wave_rows=300))
    assert one.candidates > 100
    for name in ("candidates.parquet", "rejected_rows.parquet"):
        assert pq.read_table(tmp_path / "one" / name).equals(pq.read_table(tmp_path / "many" / name)), name
    assert (one.blocks, one.compared) == (many.blocks, many.compared)
