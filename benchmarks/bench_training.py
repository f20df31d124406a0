"""Training throughput, data-wait share, and the data path's patches/s per core against a GPU's appetite.

    .venv/bin/python benchmarks/bench_training.py [--steps 40] [--batch-size 16] [--device cpu|cuda]
        [--precision auto|fp32|bf16] [--channels-last]

1. Writes synthetic shards (SHARD schema, no compression, row groups of 32; contents do not change speed) to a
   temporary folder and times, on one thread: the reader (``ShardDataset.iter_batches``, zero-copy views of
   memory-mapped Parquet) and the training data path (``PatchStream``: batches of 16 float16 tensors copied out).
2. Trains the U-Net for ``--steps`` steps with ``training.train`` and reads train_log.csv: patches/s and the
   share of wall time spent waiting for data, the first logging window (start-up) left out.
3. Counts the U-Net's multiply-accumulates per patch and turns them into what one GPU consumes at an assumed
   sustained throughput (the arithmetic is printed).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog_schemas import SHARD  # noqa: E402
from catalog_schemas.shards import TENSOR_COLUMNS  # noqa: E402
from features.patches import PatchParams  # noqa: E402
from features.reader import ShardDataset  # noqa: E402
from training.data import DataPosition, PatchStream, Prefetcher  # noqa: E402
from training.model import UNet, UNetConfig  # noqa: E402
from training.config import PRECISIONS  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402


def write_synthetic_shards(root: Path, patches: int, row_group: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for split, n in (("train", patches), ("valid", row_group)):
        cols: dict[str, list] = {"pair_id": [f"p{i // 8}" for i in range(n)], "start_frame": [128 * (i % 8) for i in range(n)],
                                 "scale": [1.0] * n, "vocal_energy": [0.1] * n}
        for c in TENSOR_COLUMNS:
            cols[c] = [rng.random((512, 128), dtype=np.float32).astype(np.float16).tobytes() for _ in range(n)]
        (root / split).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols, schema=SHARD), root / split / "part-00000.parquet", row_group_size=row_group,
                       compression="none")
    manifest = {"params": PatchParams().as_dict(), "splits": {
        s: {"patches": n, "shards": [{"path": f"{s}/part-00000.parquet"}]}
        for s, n in (("train", patches), ("valid", row_group))}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def data_path_speed(shards: Path, batch_size: int, passes: int = 3) -> dict:
    torch.set_num_threads(1)
    ds = ShardDataset(shards, "train", columns=("mix", "vocals"))
    n = ds.num_patches
    reader, stream = [], []
    for epoch in range(passes):
        t = time.perf_counter()
        k = sum(len(b) for b in ds.iter_batches(epoch=epoch))
        reader.append(k / (time.perf_counter() - t))
        it = iter(PatchStream(ds, "vocals", batch_size, start=DataPosition(epoch=epoch)))
        t, m = time.perf_counter(), 0
        while m + batch_size <= n:
            next(it)
            m += batch_size
        stream.append(m / (time.perf_counter() - t))
    threaded = {}
    for threads in (1, 2):  # the trainer's loader threads, taking turns, each its own share of row groups
        best = 0.0
        for epoch in range(passes):
            streams = [PatchStream(ds, "vocals", batch_size, worker=w, num_workers=threads,
                                   start=DataPosition(epoch=epoch)) for w in range(threads)]
            it = Prefetcher(streams, depth=4)
            t, m = time.perf_counter(), 0
            while m + batch_size * threads <= n - threads * 32:
                next(it)
                m += batch_size
            best = max(best, m / (time.perf_counter() - t))
            it.close()
        threaded[str(threads)] = best
    return {"reader_patches_per_s": max(reader), "stream_patches_per_s": max(stream),
            "loader_threads_patches_per_s": threaded, "reader_all": reader, "stream_all": stream}


def unet_macs() -> int:
    total = [0]

    def hook(m, i, o):
        if isinstance(m, torch.nn.Conv2d):
            total[0] += o[0].numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.ConvTranspose2d):
            total[0] += i[0][0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]

    model = UNet(UNetConfig())
    hs = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(torch.rand(1, 1, 512, 128))
    for h in hs:
        h.remove()
    return total[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--patches", type=int, default=1024)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", choices=PRECISIONS)
    ap.add_argument("--channels-last", action="store_true", default=None)
    args = ap.parse_args()
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        shards = write_synthetic_shards(Path(tmp) / "shards", args.patches)
        data = data_path_speed(shards, args.batch_size)
        torch.set_num_threads(threads)
        log_every = 5
        res = train(TrainConfig(shards_dir=str(shards), run_dir=str(Path(tmp) / "run"), batch_size=args.batch_size,
                                max_steps=args.steps, valid_every=0, checkpoint_every=10**9, log_every=log_every,
                                device=args.device, progress=False, tensorboard=False, precision=args.precision,
                                channels_last=args.channels_last))
        with open(Path(tmp) / "run" / "train_log.csv") as fh:
            rows = list(csv.DictReader(fh))[1:]  # first window: start-up
        window_s = [log_every * args.batch_size / float(r["patches_per_s"]) for r in rows]
        wait_s = [w * float(r["data_wait_share"]) for w, r in zip(window_s, rows)]
        steady_pps = len(rows) * log_every * args.batch_size / sum(window_s)
        steady_wait = sum(wait_s) / sum(window_s)

    macs = unet_macs()
    flops = 3 * 2 * macs  # forward + backward ~ 3x forward; 2 FLOPs per MAC
    bytes_per_patch = 2 * 512 * 128 * 2  # mix + target, float16
    gpu = {}
    for name, tflops in (("H100 bf16 at 40% of 989 TFLOPS dense peak", 0.40 * 989e12),
                         ("H100 bf16 at 15% of peak (small-channel convolutions)", 0.15 * 989e12)):
        gpu[name] = tflops / flops
    out = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "train": {"device": res.device, "precision": res.precision, "batch_size": args.batch_size,
                  "steps": args.steps, "patches_per_s_steady": steady_pps, "data_wait_share_steady": steady_wait,
                  "patches_per_s_whole_run": res.patches_per_s, "data_wait_share_whole_run": res.data_wait_share},
        "data_path_one_thread": data,
        "unet_forward_gmac_per_patch": macs / 1e9,
        "train_gflop_per_patch": flops / 1e9,
        "bytes_per_patch": bytes_per_patch,
        "gpu_patches_per_s_estimates": gpu,
    }
    print(json.dumps(out, indent=2))
    print()
    print(f"CPU training ({res.device}, {res.precision}, batch {args.batch_size}): {steady_pps:.1f} patches/s, "
          f"data wait {100 * steady_wait:.2f}% of step time")
    print(f"data path per core: reader {data['reader_patches_per_s']:.0f} patches/s, "
          f"PatchStream batches {data['stream_patches_per_s']:.0f} patches/s "
          f"({data['stream_patches_per_s'] * bytes_per_patch / 1e9:.1f} GB/s); through the loader threads: "
          + ", ".join(f"{k} thread(s) {v:.0f} patches/s" for k, v in data["loader_threads_patches_per_s"].items()))
    print(f"U-Net: {macs / 1e9:.3f} GMAC forward per patch -> ~{flops / 1e9:.2f} GFLOP per training patch")
    for name, pps in gpu.items():
        print(f"  {name}: {pps:.0f} patches/s = {pps * bytes_per_patch / 1e9:.1f} GB/s of patches")


if __name__ == "__main__":
    main()
