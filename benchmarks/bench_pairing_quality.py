"""Quality of the audio stage per release kind (issue 10), against the demo corpus' true stems.

Generates (or reuses) the demo corpus, mines and verifies its pairs, then for every true pair cuts its patches
as ``build-shards`` does and prints, per kind (clean, clock-drift, edit, fade, eq, compressor, mp3-low): pairs
accepted, patches kept against a clean pair of the same length, and the worst ratio of the derived vocal target's
error to the ideal target's (``tests/support/pairing_truth.py``). ``--code DIR`` runs another checkout's pairing and
features (e.g. the code before issue 10, from ``git archive``) on the same corpus.

    .venv/bin/python benchmarks/bench_pairing_quality.py [--songs 40] [--seconds 30] [--seed 0] [--code DIR]
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--code", default=str(ROOT), help="checkout whose pairing/features to measure")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "vocalmine-bench-quality"))
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    from democorpus import DemoConfig, make_corpus  # this checkout's generator: the same corpus for every --code

    cache = Path(args.cache)
    corpus = make_corpus(cache / f"corpus-{args.songs}x{args.seconds:g}-{args.seed}",
                         DemoConfig(songs=args.songs, seconds=args.seconds, seed=args.seed), progress=False)
    if Path(args.code).resolve() != ROOT:
        for name in [m for m in sys.modules if m.split(".")[0] in ("features", "pairing", "miner", "catalog_schemas")]:
            del sys.modules[name]
        sys.path.insert(0, str(Path(args.code).resolve()))
    from miner import MinerConfig, mine_pairs
    from pairing import pair_candidates
    from support.pairing_truth import measure_corpus, table

    out = cache / "pairs"
    shutil.rmtree(out, ignore_errors=True)
    mine_pairs(corpus.catalog, out, MinerConfig(progress=False))
    t0 = time.perf_counter()
    summary = pair_candidates(out, progress=False)
    print(f"# audio stage quality per release kind, {datetime.date.today().isoformat()}, code {args.code}")
    print(f"# corpus: {args.songs} songs x {args.seconds:g} s, seed {args.seed}; {summary.accepted} accepted, "
          f"{summary.rejected} rejected {summary.rejected_by_reason} in {time.perf_counter() - t0:.1f} s")
    print(table(measure_corpus(Path(corpus.out_dir), out / "pairs.parquet")))


if __name__ == "__main__":
    main()
