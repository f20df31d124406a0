"""Throughput of the audio stage (``pairing.pair_candidates``) on the demo corpus, and where its time goes.

Generates (or reuses) the demo corpus, mines its candidates with the metadata stage, then verifies them by
audio from a cold cache (no fingerprints, no verdicts), once per worker count, and once more warm (everything
cached). Prints, per run:

- audio seconds decoded (each file once per task) and the wall time of the stage;
- throughput: audio seconds per CPU second of the process (``x real time per core``, target >= 100; CPU time,
  so a machine shared with other work does not flatter or spoil it) and per wall second;
- the share of the tasks' time spent decoding (file -> PCM), and decoding plus resampling (target: decoding
  at least half; the rest is cheap next to it), then resampling, fingerprinting and the rest (alignment,
  checks, writing the verdict cache).

``--code DIR`` verifies with another checkout's pairing (and what it imports: features, catalog_schemas), e.g.
the code before a change from ``git archive``, on the same corpus and candidates (this checkout's generator and
miner).

    .venv/bin/python benchmarks/bench_pairing.py [--songs 40] [--seconds 30] [--seed 0] [--workers 1 2]
        [--cache DIR] [--repeat 3] [--code DIR]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from democorpus import DemoConfig, make_corpus  # noqa: E402
from miner import MinerConfig, mine_pairs  # noqa: E402


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GB"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()}-core {platform.machine()} ({cpu}{mem})"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--repeat", type=int, default=3, help="cold runs per worker count (the best is reported)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "vocalmine-bench-pairing"),
                    help="where the demo corpus is kept between runs")
    ap.add_argument("--code", default=str(ROOT), help="checkout whose pairing to measure")
    args = ap.parse_args()

    cache = Path(args.cache)
    corpus = make_corpus(cache / f"corpus-{args.songs}x{args.seconds:g}-{args.seed}",
                         DemoConfig(songs=args.songs, seconds=args.seconds, seed=args.seed), progress=False)
    out = cache / "pairs"
    shutil.rmtree(out, ignore_errors=True)
    mined = mine_pairs(corpus.catalog, out, MinerConfig(progress=False))
    if Path(args.code).resolve() != ROOT:  # the other checkout's stages from here on
        for name in [m for m in sys.modules if m.split(".")[0] in ("features", "pairing", "catalog_schemas")]:
            del sys.modules[name]
        sys.path.insert(0, str(Path(args.code).resolve()))
    from pairing import PairingConfig, pair_candidates
    print(f"# audio stage benchmark: {_machine()}, {datetime.date.today().isoformat()}, code {args.code}")
    print(f"# load before: {_uptime()}")
    print(f"# corpus: {args.songs} songs x {args.seconds:g} s, seed {args.seed}: {mined.candidates} candidates")
    print("| workers | run | audio s | wall s | CPU s | x real time per core | x real time (wall) | decode "
          "| decode+resample | resample | fingerprint | rest |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for workers in args.workers:
        best = None
        for _ in range(args.repeat):
            shutil.rmtree(out / ".cache", ignore_errors=True)
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            s = pair_candidates(out, PairingConfig(workers=workers), progress=False)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
            wall = s.timings["verify_s"] + s.timings["plan_s"] + s.timings["finish_s"]
            if best is None or wall < best[1]:
                best = (s, wall, cpu)
        s, wall, cpu = best
        task = max(s.task_seconds, 1e-9)
        rest = task - s.decode_seconds - s.resample_seconds - s.fingerprint_seconds
        print(f"| {workers} | cold | {s.audio_seconds_decoded:.0f} | {wall:.2f} | {cpu:.2f} | "
              f"{s.audio_seconds_decoded / cpu:.0f} | {s.audio_seconds_decoded / wall:.0f} | {s.decode_seconds / task:.0%} | "
              f"{(s.decode_seconds + s.resample_seconds) / task:.0%} | {s.resample_seconds / task:.0%} | "
              f"{s.fingerprint_seconds / task:.0%} | {rest / task:.0%} |")
    warm = pair_candidates(out, PairingConfig(workers=args.workers[-1]), progress=False)
    print(f"| {args.workers[-1]} | warm (all cached) | 0 | {warm.seconds:.2f} | - | - | - | - | - | - | - | - |")
    print(f"# verdicts: {warm.accepted} accepted, {warm.rejected} rejected {warm.rejected_by_reason}")
    print(f"# load after: {_uptime()}")


if __name__ == "__main__":
    main()
