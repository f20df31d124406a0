"""`export-stems` on the demo corpus: quality against the true stems per release kind, and speed.

Uses `make demo`'s corpus and pairs when they exist (else generates the same corpus, 40 songs x 30 s, seed 0, in
WORKDIR and mines it; `--corpus`, `--pairs` name others), then runs `export-stems PAIRS -o OUT` as a fresh process
and reports its wall time, its CPU time (the child's user + system) and peak memory, and the export's speed in
seconds of originals per CPU second (x real time per core). Then it measures every exported pair against the corpus' true stems (`tests/support/stems_truth.py`):
the exported vocals' SDR and SI-SDR beside (a) the paper's magnitude target rendered with the mixture's phase and
(b) plain subtraction with the 8192 Hz map, per release kind, and prints the Markdown table of docs/stems.md.

    .venv/bin/python benchmarks/bench_stems.py [--corpus demo/corpus] [--pairs demo/pairs] [--workdir /tmp/bench_stems]
        [--workers N] [--layout musdb18hq]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from democorpus import DemoConfig, make_corpus  # noqa: E402
from miner import MinerConfig, mine_pairs  # noqa: E402
from pairing import pair_candidates  # noqa: E402
from support.stems_truth import measure_export, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=None, help="a demo corpus (default: generate one in WORKDIR)")
    ap.add_argument("--pairs", type=Path, default=None, help="its mine-pairs output (default: mine it in WORKDIR)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_stems"))
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--layout", default="musdb18hq")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    demo = ROOT / "demo"
    made = (demo / "corpus" / "corpus.json").exists() and (demo / "pairs" / "pairs.parquet").exists()
    if args.corpus is None and made:
        args.corpus, args.pairs = demo / "corpus", args.pairs or demo / "pairs"  # make demo's, when it ran
    corpus = args.corpus or Path(make_corpus(args.workdir / "corpus", DemoConfig(songs=40, seconds=30.0, seed=0),
                                             progress=False).out_dir)
    pairs = args.pairs
    if pairs is None:
        pairs = args.workdir / "pairs"
        if not (pairs / "pairs.parquet").exists():
            mine_pairs(corpus / "catalog.csv", pairs, MinerConfig(progress=False))
            pair_candidates(pairs, progress=False)
    out = args.workdir / "stems"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(ROOT / ".venv" / "bin" / "export-stems"), str(pairs), "-o", str(out), "--layout", args.layout,
           "--no-progress"] + (["--workers", str(args.workers)] if args.workers else [])
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        sys.exit(run.stderr[-3000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    manifest = json.loads((out / "manifest.json").read_text())
    import pyarrow.parquet as pq

    accepted = [r for r in pq.read_table(pairs / "pairs.parquet").to_pylist() if r["status"] == "accepted"]
    originals_s = sum(r["original_seconds"] or 0.0 for r in accepted)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}, load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f}")
    print(f"export-stems: {len(accepted)} accepted pairs, {originals_s:.0f} s of originals -> "
          f"{manifest['totals']['items']} items, {manifest['totals']['seconds']:.0f} s exported, "
          f"{size / 2**20:.0f} MiB")
    print(f"wall {wall:.1f} s, CPU {cpu:.1f} s, peak RSS of a child {after.ru_maxrss / 1024:.0f} MiB, "
          f"{originals_s / cpu:.1f}x real time per core (CPU), {originals_s / wall:.1f}x real time (wall)")
    print(run.stdout)
    measures = measure_export(corpus, out, pairs / "pairs.parquet")
    print(table(measures))
    for m in measures:
        print(f"  {m.pair_id:14s} {m.group:40s} SDR {m.sdr:6.2f}  (a) {m.sdr_a:6.2f}  (b) {m.sdr_b:6.2f}  "
              f"oracle {m.oracle:6.1f}")


if __name__ == "__main__":
    main()
