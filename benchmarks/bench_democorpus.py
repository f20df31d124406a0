"""Benchmark: wall time of `make-demo-corpus` for 40 songs of 30 s (target: at most 90 s on a 2-core VM, issue 11).

    python benchmarks/bench_democorpus.py [--songs 40] [--seconds 30] [--seed 0] [--workers N] [--keep DIR]

Generates into a temporary folder (or --keep DIR, emptied first), prints wall and CPU time, the time per song,
the audio written, and the machine's load before and after (other work on the machine inflates wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from democorpus import DemoConfig, make_corpus  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="generate here (emptied first) and keep the corpus")
    args = ap.parse_args()

    config = DemoConfig(songs=args.songs, seconds=args.seconds, seed=args.seed)
    tmp = None
    if args.keep is None:
        tmp = tempfile.mkdtemp(prefix="bench-democorpus-")
        out = Path(tmp) / "corpus"
    else:
        out = args.keep
        shutil.rmtree(out, ignore_errors=True)
    load_before = os.getloadavg()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    info = make_corpus(out, config, force=True, progress=False, workers=args.workers)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    load_after = os.getloadavg()
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "songs": config.songs,
        "seconds": config.seconds,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "wall_s_per_song": round(wall / config.songs, 3),
        "audio_files": info.counts["audio_files"],
        "audio_minutes": round(info.counts["audio_seconds"] / 60, 1),
        "disk_mb": round(size / 1e6, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
    }
    print(json.dumps(result, indent=2))
    print(f"{config.songs} songs x {config.seconds:g} s: {wall:.1f} s wall ({cpu:.1f} s CPU), "
          f"{result['audio_files']} audio files, {result['audio_minutes']} min of audio, {result['disk_mb']} MB")
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
