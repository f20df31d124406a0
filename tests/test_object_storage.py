"""Issue 13: every stage from and to an S3 bucket (a real S3 server on loopback: moto's standalone server), on
a dask.distributed cluster whose workers share no folder with the client; the verdicts and shards equal those
of the same run on local files. And the errors a user meets: missing bucket, refused credentials, an
unreachable endpoint, each one line naming the URL, exit code 2."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from democorpus import DemoConfig, make_corpus
from features.patches import PatchParams
from features.shards import ShardConfig, build_shards
from features.splits import SplitConfig
from miner.pipeline import MinerConfig, mine_pairs
from pairing import PairingConfig, pair_candidates
from support.catalogs import one_pair_catalog
from vocalmine import storage
from vocalmine.atomic import read_json, update_json, write_json, write_table
from commands.mine import main as mine_main
from commands.shards import main as shards_main
from commands.train import main as train_main

VERDICT_COLUMNS = ["pair_id", "status", "reason", "offset_s", "gain_db", "polarity", "content_group",
                   "fingerprint_similarity", "alignment_confidence", "original_sha1", "instrumental_sha1"]


def _upload(local_dir, url) -> None:
    fs, root = storage.filesystem(url)
    for dirpath, _, files in os.walk(local_dir):
        for name in files:
            path = os.path.join(dirpath, name)
            fs.put_file(path, root + "/" + os.path.relpath(path, local_dir))


def test_storage_layer_on_s3(s3):
    write_table(pa.table({"x": [1, 2]}), f"{s3}/out/t.parquet", inputs=())
    update_json(f"{s3}/out/summary.json", "audio", {"n": 1}, inputs=["t.parquet"])
    assert storage.read_parquet(f"{s3}/out/t.parquet").column("x").to_pylist() == [1, 2]
    assert storage.listdir(f"{s3}/out") == [".provenance.json", "summary.json", "t.parquet"]
    # rewriting the input removes what was made from its earlier version, on the bucket too
    write_table(pa.table({"x": [3]}), f"{s3}/out/t.parquet", inputs=())
    assert read_json(f"{s3}/out/summary.json") == {}
    assert storage.resolve("audio/a.wav", f"{s3}/corpus") == f"{s3}/corpus/audio/a.wav"
    # an atomic write that fails leaves no object behind
    with pytest.raises(RuntimeError):
        with storage.atomic_path(f"{s3}/out/half.json") as tmp:
            tmp.write_text("{")
            raise RuntimeError("interrupted")
    assert not storage.exists(f"{s3}/out/half.json")


@pytest.mark.slow
def test_every_stage_from_a_bucket_on_a_cluster_without_shared_disk_equals_the_local_run(s3, tmp_path):
    from distributed import LocalCluster

    info = make_corpus(tmp_path / "corpus", DemoConfig(songs=6, seconds=6.0, seed=5, decoys=False), progress=False)
    shard_config = ShardConfig(patches=PatchParams(patch_hop=32), split=SplitConfig((0.4, 0.3, 0.3)), workers=1)

    # The same run on local files.
    local = tmp_path / "local"
    mine_pairs(info.catalog, local / "pairs", MinerConfig(progress=False))
    pair_candidates(local / "pairs", PairingConfig(), progress=False)
    build_shards(local / "pairs", local / "shards", shard_config, progress=False)

    corpus = f"{s3}/corpus"
    _upload(info.out_dir / "audio", f"{corpus}/audio")
    storage.write_bytes(info.catalog.read_bytes(), f"{corpus}/catalog.csv")
    shutil.rmtree(info.out_dir)  # nothing of the corpus left on local disk: the run below can only use URLs
    # Workers in their own processes, each with its own scratch folder; the client passes them only URLs.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(tmp_path / "workers")) as cluster:
        sched = cluster.scheduler_address
        r = CliRunner().invoke(mine_main, [f"{corpus}/catalog.csv", "-o", f"{s3}/pairs", "--no-progress",
                                           "--scheduler", sched])
        assert r.exit_code == 0, r.output + repr(r.exception)
        r = CliRunner().invoke(shards_main, [f"{s3}/pairs", "-o", f"{s3}/shards", "--no-progress", "--scheduler",
                                             sched, "--patch-hop", "32", "--ratios", "0.4,0.3,0.3"])
        assert r.exit_code == 0, r.output + repr(r.exception)

    ours = storage.read_parquet(f"{s3}/pairs/pairs.parquet")
    ref = pq.read_table(local / "pairs" / "pairs.parquet")
    assert ours.select(VERDICT_COLUMNS).equals(ref.select(VERDICT_COLUMNS))
    assert all(p.startswith(f"{corpus}/audio/") for p in ours.column("original_audio_path").to_pylist())
    assert storage.isfile(f"{s3}/pairs/report.html")
    manifest = storage.read_json(f"{s3}/shards/manifest.json")
    ref_manifest = json.loads((local / "shards" / "manifest.json").read_text())
    # the same shards, rows and patches (the sha1s differ: each shard records its build key, which names the
    # source files, URLs here and local paths there)
    for split, ref_split in ref_manifest["splits"].items():
        mine = manifest["splits"][split]
        assert {k: v for k, v in mine.items() if k != "shards"} == {k: v for k, v in ref_split.items() if k != "shards"}
        assert [s["rows"] for s in mine["shards"]] == [s["rows"] for s in ref_split["shards"]]
        for shard, ref_shard in zip(mine["shards"], ref_split["shards"]):
            assert storage.read_parquet(f"{s3}/shards/{shard['path']}").equals(
                pq.read_table(local / "shards" / ref_shard["path"]))
    assert manifest["totals"]["patches"] > 0 and not storage.exists(f"{s3}/shards/.work")

    # A few training steps streaming the shards from the bucket, the run folder in the bucket.
    run = f"{s3}/runs/vocals"
    args = ["--shards", f"{s3}/shards", "-o", run, "--max-steps", "2", "--batch-size", "2", "--valid-every", "0",
            "--no-progress", "--device", "cpu"]
    r = CliRunner().invoke(train_main, args)
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert r.output.startswith(f"{run}/checkpoint.pt: step 2")
    assert {"checkpoint.pt", "train_log.csv", "train_summary.json"} <= set(storage.listdir(run))
    r = CliRunner().invoke(train_main, [*args[:5], "3", *args[6:], "--resume"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert r.output.startswith(f"{run}/checkpoint.pt: step 3")


def test_missing_bucket_refused_credentials_and_unreachable_endpoint_are_one_line_errors(s3, tmp_path,
                                                                                       monkeypatch):
    write_json({}, f"{s3}/x.json")
    cat = one_pair_catalog(tmp_path / "catalog.csv")
    runner = CliRunner()

    r = runner.invoke(mine_main, [str(cat), "-o", "s3://no-such-bucket-vm/pairs", "--metadata-only"])
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1].startswith("Error: not found: s3://no-such-bucket-vm/pairs")
    assert "check the URL and that the bucket exists" in r.output

    import moto.settings

    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # the server now checks keys
    storage.forget_filesystems()
    r = runner.invoke(shards_main, [f"{s3}/pairs", "-o", str(tmp_path / "shards")])
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert line.startswith(f"Error: access denied: {s3}/pairs") and "check the credentials" in line, r.output
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("VOCALMINE_STORAGE_OPTIONS", "")
    monkeypatch.setattr(storage.backends, "_options", None)
    storage.forget_filesystems()
    r = runner.invoke(mine_main, [f"{s3}/catalog.csv", "-o", str(tmp_path / "out"), "--storage-options",
                                  '{"config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}'])
    assert r.exit_code == 2
    line = r.output.strip().splitlines()[-1]
    assert line.startswith(f"Error: {s3}/catalog.csv: cannot reach the storage endpoint") and \
        "check AWS_ENDPOINT_URL" in line, r.output
    r = runner.invoke(mine_main, [str(cat), "-o", str(tmp_path / "o2"), "--storage-options", "{nope"])
    assert r.exit_code == 2 and "Error: --storage-options is not valid JSON" in r.output
    storage.forget_filesystems()


def test_a_url_folder_lock_held_elsewhere_stops_a_second_run_and_a_stale_one_is_taken_over(s3, tmp_path):
    import time

    cat = one_pair_catalog(tmp_path / "catalog.csv")
    note = {"command": "mine-pairs", "host": "elsewhere", "pid": 4242, "started": "2026-12-01T00:00:00Z",
            "token": "x"}
    storage.write_bytes(json.dumps(note | {"heartbeat": time.time()}).encode(), f"{s3}/pairs/.vocalmine.lock")
    args = [str(cat), "-o", f"{s3}/pairs", "--metadata-only", "--no-progress", "--no-report"]
    r = CliRunner().invoke(mine_main, args)
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1].startswith(
        f"Error: {s3}/pairs is being written by mine-pairs (host elsewhere, pid 4242, since 2026-12-01T00:00:00Z)")
    assert not storage.exists(f"{s3}/pairs/candidates.parquet")
    # a holder whose heartbeat stopped long ago is gone: the next run takes the lock over
    storage.write_bytes(json.dumps(note | {"heartbeat": time.time() - 3600}).encode(), f"{s3}/pairs/.vocalmine.lock")
    r = CliRunner().invoke(mine_main, args)
    assert r.exit_code == 0, r.output
    assert storage.exists(f"{s3}/pairs/candidates.parquet") and not storage.exists(f"{s3}/pairs/.vocalmine.lock")


@pytest.mark.slow
def test_separate_and_evaluate_read_and_write_urls(s3, tmp_path):
    import io

    import numpy as np
    import soundfile as sf

    from support.models import constant_model
    from commands.evaluate import main as evaluate_main
    from commands.separate import main as separate_main

    model = constant_model(tmp_path / "half.pt")
    rng = np.random.default_rng(0)
    voc, acc = rng.standard_normal((2, 8192 * 2 + 301)).astype(np.float32) * 0.1
    song = tmp_path / "songs" / "s1"
    song.mkdir(parents=True)
    for stem, x in (("vocals", voc), ("accompaniment", acc), ("mixture", voc + acc)):
        sf.write(song / f"{stem}.wav", x, 8192)
    storage.write_bytes((song / "mixture.wav").read_bytes(), f"{s3}/in/song.wav")

    r = CliRunner().invoke(separate_main, [f"{s3}/in/song.wav", "-o", f"{s3}/sep", "--model", str(model),
                                           "--device", "cpu"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert r.output.strip() == f"{s3}/in/song.wav -> {s3}/sep/song"
    vocals, rate = sf.read(io.BytesIO(storage.read_bytes(f"{s3}/sep/song/vocals.wav")))
    assert rate == 8192 and len(vocals) == len(voc)

    # the model itself from the bucket: a run folder URL (train -o s3://... writes one) gives its checkpoint
    storage.write_bytes(model.read_bytes(), f"{s3}/runs/half/checkpoint.pt")
    r = CliRunner().invoke(evaluate_main, [str(tmp_path / "songs"), "--model", f"{s3}/runs/half", "-o", f"{s3}/eval",
                                           "--device", "cpu", "--no-progress", "--write-audio", f"{s3}/est"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    result = storage.read_json(f"{s3}/eval/evaluation.json")
    assert [row["song"] for row in result["songs"]] == ["s1"]
    assert storage.isfile(f"{s3}/eval/evaluation.md") and storage.isfile(f"{s3}/est/s1/vocals.wav")
    assert result["meta"]["model"].startswith(f"{s3}/runs/half")

    r = CliRunner().invoke(separate_main, [f"{s3}/in/song.wav", "-o", str(tmp_path / "sep2"), "--model",
                                           f"{s3}/runs/nothing-here", "--device", "cpu"])
    assert r.exit_code == 2 and f"no checkpoint at {s3}/runs/nothing-here " in r.output


def test_a_parquet_catalog_in_a_bucket_is_mined_like_the_same_file_on_disk(s3, tmp_path):
    rows = [("1", "Ann Lee", "Blue Sky", "200"), ("2", "Ann Lee", "Blue Sky (Instrumental)", "201"),
            ("3", "Bo Kay", "Red Road", "180"), ("4", "Bo Kay", "Red Road - Instrumental", "179.5"),
            ("5", "Bo Kay", "Green Hill (Instrumental)", "150")]
    table = pa.table({name: [r[i] for r in rows] for i, name in enumerate(("track_id", "artist", "title",
                                                                             "duration_s"))})
    pq.write_table(table, tmp_path / "catalog.parquet", row_group_size=2)  # three row groups: three partitions
    storage.write_bytes((tmp_path / "catalog.parquet").read_bytes(), f"{s3}/cat/catalog.parquet")
    config = MinerConfig()
    local = mine_pairs(tmp_path / "catalog.parquet", tmp_path / "out", config)
    remote = mine_pairs(f"{s3}/cat/catalog.parquet", f"{s3}/out", config)
    assert (local.partitions, remote.partitions) == (3, 3)
    ids = [("1", "2"), ("3", "4")]
    for out in (tmp_path / "out", f"{s3}/out"):
        cand = storage.read_parquet(storage.join(out, "candidates.parquet"))
        assert list(zip(cand["original_id"].to_pylist(), cand["instrumental_id"].to_pylist())) == ids
