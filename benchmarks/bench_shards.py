"""Build throughput of `build-shards`: seconds of audio per wall second per core.

Generates N pairs of S seconds (44.1 kHz stereo originals as FLAC, 48 kHz stereo instrumentals as FLAC, a
known offset and gain), then times, on one core and on all cores:
- decoding + mono + resampling to 8192 Hz of both files of every pair (``features.audio.load_mono``), the floor;
- the whole ``build_shards`` (patches, part files, shards, manifest).

Throughput counts the originals' seconds (one pair = its original's duration), per core used.

    .venv/bin/python benchmarks/bench_shards.py [--pairs 24] [--seconds 60] [--workdir /tmp/bench_shards]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog_schemas import PAIRS  # noqa: E402
from features.audio import load_mono  # noqa: E402
from features.shards import ShardConfig, build_shards  # noqa: E402


def synth(seconds: float, sr: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(accompaniment, vocals) float64 [samples]: chords, bass, noise hits; a vibrato voice in phrases."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    roots = rng.integers(45, 57, size=int(seconds * 2) + 2)[(t * 2).astype(int)]
    acc = sum(a * np.sin(2 * np.pi * np.cumsum(440.0 * 2 ** ((roots + iv - 69) / 12)) / sr)
              for iv, a in ((0, 0.12), (4, 0.08), (7, 0.08), (-12, 0.15)))
    acc = acc + np.exp(-((t % 0.5) / 0.03)) * rng.standard_normal(n) * 0.15
    f0 = 440.0 * 2 ** ((rng.integers(62, 76, size=int(seconds) + 2)[t.astype(int)] - 69) / 12)
    ph = 2 * np.pi * np.cumsum(f0 * (1 + 0.012 * np.sin(2 * np.pi * 5.5 * t))) / sr
    voc = sum(0.25 / k * np.sin(k * ph) for k in range(1, 9)) * (np.sin(2 * np.pi * t / 4) > -0.3)
    return 0.4 * acc / np.abs(acc).max(), 0.3 * voc / np.abs(voc).max()


def make_pairs(root: Path, pairs: int, seconds: float) -> Path:
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(pairs):
        acc, voc = synth(seconds, 44100, i)
        shift = int(0.25 * 44100)
        orig, inst = audio / f"o{i}.flac", audio / f"i{i}.flac"
        sf.write(orig, np.stack([acc + voc, acc + 0.9 * voc], 1).astype(np.float32), 44100, subtype="PCM_16")
        inst_sig = np.concatenate([np.zeros(shift), 0.8 * acc])
        sf.write(inst, np.stack([inst_sig, inst_sig], 1).astype(np.float32), 44100, subtype="PCM_16")
        rows.append({"pair_id": f"o{i}~i{i}", "original_id": f"o{i}", "instrumental_id": f"i{i}",
                     "status": "accepted", "reason": "", "offset_s": 0.25, "gain_db": 20 * np.log10(0.8),
                     "polarity": 1, "artist": f"artist{i % 10}", "artist_key": f"artist{i % 10}",
                     "content_group": f"o{i}", "original_audio_path": str(orig), "instrumental_audio_path": str(inst)})
    (root / "pairs").mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PAIRS), root / "pairs" / "pairs.parquet")
    return root / "pairs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workdir", default="/tmp/bench_shards")
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    pairs_dir = make_pairs(work, args.pairs, args.seconds)
    table = pq.read_table(pairs_dir / "pairs.parquet").to_pylist()
    audio_s = args.pairs * args.seconds
    cores = os.cpu_count() or 1
    print(f"machine: {platform.machine()}, {cores} cores, {platform.python_version()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}; uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"input: {args.pairs} pairs x {args.seconds:.0f} s (44.1 kHz stereo 16-bit FLAC, both files) = {audio_s / 3600:.2f} h")

    load_mono(table[0]["original_audio_path"])  # warm the page cache and the libraries
    t0, c0 = time.perf_counter(), time.process_time()
    for row in table:
        load_mono(row["original_audio_path"])
        load_mono(row["instrumental_audio_path"])
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"decode+resample both files, 1 core: {dt:.2f} s -> {audio_s / dt:.0f}x real time per core "
          f"({audio_s / cpu:.0f}x per CPU second)")

    for workers in sorted({1, cores}):
        out = work / f"shards-{workers}"
        t0, c0 = time.perf_counter(), time.process_time()
        summary = build_shards(pairs_dir, out, ShardConfig(workers=workers), progress=False)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"build_shards, {workers} worker thread(s): {dt:.2f} s, {summary.patches} patches -> "
              f"{audio_s / dt:.0f}x real time, {audio_s / dt / workers:.0f}x per core "
              f"({audio_s / cpu:.0f}x per CPU second; the machine's other load shares the cores)")
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
