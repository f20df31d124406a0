"""Reader throughput of ``features.reader.ShardDataset``: patches per second on one core, as float16 arrays.

Builds one set of per-pair patches from generated audio (``bench_shards.make_pairs``), cuts it into shards
with each Parquet codec and row-group size asked for (``keep_work`` reuses the patches), and times one
process reading a whole split with ``iter_batches`` (one thread; page cache warm: a first pass reads the files),
for the column sets the trainer uses. Also reports bytes per patch on disk, for docs/shards.md.

    .venv/bin/python benchmarks/bench_reader.py [--pairs 40] [--seconds 60] [--codecs none,lz4,snappy,zstd]
        [--row-groups 16,32,64,128] [--object-store] [--train-steps 30]

``--object-store`` also reads the default shards (uncompressed, row groups of 32) from an S3-compatible server
on loopback (moto's standalone server in its own process, through s3fs and ``vocalmine.storage``), beside the
same files on local disk; ``--train-steps N`` then trains N CPU steps streaming those shards from the server
and prints the trainer's data-wait share.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_shards import make_pairs  # noqa: E402
from features.reader import ShardDataset  # noqa: E402
from features.shards import ShardConfig, build_shards  # noqa: E402
from features.splits import SplitConfig  # noqa: E402

COLUMN_SETS = (("mix", "vocals"), ("mix", "vocals", "instrumental"), ("mix",))


def read_rate(out: Path, columns: tuple[str, ...], repeats: int = 3) -> tuple[float, int]:
    """Best of ``repeats`` full passes over the train split: (patches/s, patches).

    Each batch's arrays are copied once into a preallocated float16 buffer (as a trainer concatenating them
    into a tensor does), so every byte is really read.
    """
    best, n = 0.0, 0
    ds = ShardDataset(out, "train", columns=columns)
    sink = np.empty((max(rg.num_rows for rg in ds.row_groups), 512, 128), np.float16)
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        n = 0
        for batch in ds.iter_batches(seed=0, epoch=rep):
            n += len(batch)
            for arr in batch.arrays.values():
                np.copyto(sink[: len(arr)], arr)
        rate = n / (time.perf_counter() - t0)
        if rep:  # the first pass warms the page cache
            best = max(best, rate)
    return best, n


def start_object_store() -> tuple[subprocess.Popen, str]:
    """moto's S3 server on loopback in its own process (not competing with the reader for the GIL)."""
    code = ("from moto.server import ThreadedMotoServer; import time\n"
            "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start()\n"
            "print(s.get_host_and_port()[1], flush=True)\n"
            "while True: time.sleep(3600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    endpoint = f"http://127.0.0.1:{int(proc.stdout.readline())}"
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    return proc, endpoint


def object_store_rows(work: Path, pairs_dir: Path, train_steps: int) -> None:
    """Local disk and the loopback object store, same shards, one thread: patches/s per column set."""
    from vocalmine import storage

    out = work / "shards"
    build_shards(pairs_dir, out, ShardConfig(split=SplitConfig((1, 0, 0)), keep_work=True), progress=False)
    proc, endpoint = start_object_store()
    try:
        fs, _ = storage.filesystem("s3://bench")
        fs.mkdir("bench")
        for dirpath, _, files in os.walk(out):
            for name in files:
                if ".work" not in dirpath:
                    path = os.path.join(dirpath, name)
                    fs.put_file(path, "bench/shards/" + os.path.relpath(path, out))
        print(f"object store: moto server at {endpoint} (loopback), s3fs, no compression, row groups of 32")
        for label, where in (("local disk", out), ("loopback S3", "s3://bench/shards")):
            rates = [read_rate(where, cols, repeats=2) for cols in COLUMN_SETS]
            print(f"{label:12s} " + " ".join(f"{'+'.join(c)} {r:,.0f} p/s" for c, (r, _) in zip(COLUMN_SETS, rates)),
                  flush=True)
        if train_steps:
            from training.train import TrainConfig, train

            run = work / "run-s3"
            import shutil

            shutil.rmtree(run, ignore_errors=True)
            res = train(TrainConfig(shards_dir="s3://bench/shards", run_dir=str(run), max_steps=train_steps,
                                    valid_every=0, progress=False, device="cpu"))
            print(f"train from loopback S3: {train_steps} steps, {res.patches_per_s:.1f} patches/s, "
                  f"data wait {100 * res.data_wait_share:.2f} % of step time", flush=True)
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--codecs", default="none,lz4,snappy,zstd")
    ap.add_argument("--row-groups", default="16,32,64,128")
    ap.add_argument("--workdir", default="/tmp/bench_reader")
    ap.add_argument("--object-store", action="store_true", help="only the local disk / loopback S3 comparison")
    ap.add_argument("--train-steps", type=int, default=0, help="with --object-store: train steps from S3")
    args = ap.parse_args()
    work = Path(args.workdir)
    pairs_dir = work / "pairs"
    if not (pairs_dir / "pairs.parquet").exists():
        make_pairs(work, args.pairs, args.seconds)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    uptime = lambda: subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()  # noqa: E731
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}; uptime: {uptime()}")
    print("one reader process, one thread, warm page cache; float16 [N, 512, 128] arrays via np.frombuffer")
    if args.object_store:
        object_store_rows(work, pairs_dir, args.train_steps)
        print(f"uptime after: {uptime()}")
        return
    print(f"{'codec':7s} {'rows/rg':>7s} {'KB/patch':>9s} " + " ".join(f"{'+'.join(c):>26s}" for c in COLUMN_SETS))
    for codec in args.codecs.split(","):
        for rg in (int(x) for x in args.row_groups.split(",")):
            out = work / "shards"  # one directory: keep_work lets every build after the first reuse the patches
            build_shards(pairs_dir, out, ShardConfig(split=SplitConfig((1, 0, 0)), row_group_size=rg,
                                                     compression=codec, keep_work=True), progress=False)
            manifest = json.loads((out / "manifest.json").read_text())
            shards = manifest["splits"]["train"]["shards"]
            kb = sum(s["bytes"] for s in shards) / manifest["splits"]["train"]["patches"] / 1e3
            rates = [read_rate(out, cols) for cols in COLUMN_SETS]
            print(f"{codec:7s} {rg:7d} {kb:9.0f} " + " ".join(f"{r:20,.0f} p/s" + " " * 2 for r, _ in rates),
                  flush=True)
    print(f"patches per split: {rates[0][1]}; uptime after: {uptime()}")


if __name__ == "__main__":
    main()
