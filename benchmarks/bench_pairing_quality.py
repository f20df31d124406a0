"""Quality of the audio stage per release kind (issues 10 and 18), against true stems.

Default: generates (or reuses) the demo corpus, mines and verifies its pairs, then for every true pair cuts its
patches as ``build-shards`` does and prints, per kind (clean, clock-drift, edit, fade, eq, compressor, mp3-low,
ogg-low): pairs accepted, patches kept against a clean pair of the same length, and the worst ratio of the
derived vocal target's error to the ideal target's (``tests/support/pairing_truth.py``), then the same per
song family.

``--matrix``: the release matrix instead (``democorpus.matrix``: one song per song family, each released as
every kind, with the degraded kinds), run kind by kind (``tests/support/release_matrix.py``): the error ratio per
kind and family, the plain gain's (the map's alignment without its level match) and, for this checkout, the
target-quality estimate against the truth on the quality test set (Spearman, and the pairs above 1.5 left
unflagged).

``--code DIR`` runs another checkout's pairing and features (e.g. the code before issue 18, from ``git archive``)
on the same corpus (the generator and the measures are this checkout's).

    .venv/bin/python benchmarks/bench_pairing_quality.py [--songs 40] [--seconds 30] [--seed 0] [--code DIR]
    .venv/bin/python benchmarks/bench_pairing_quality.py --matrix [--seconds 24] [--seed 1] [--code DIR]
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
    ap.add_argument("--matrix", action="store_true", help="measure the release matrix instead of the demo corpus")
    args = ap.parse_args()
    if args.matrix:
        matrix(args)
        return

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
    from support.release_matrix import ratio_table

    out = cache / "pairs"
    shutil.rmtree(out, ignore_errors=True)
    mine_pairs(corpus.catalog, out, MinerConfig(progress=False))
    t0 = time.perf_counter()
    summary = pair_candidates(out, progress=False)
    print(f"# audio stage quality per release kind, {datetime.date.today().isoformat()}, code {args.code}")
    print(f"# corpus: {args.songs} songs x {args.seconds:g} s, seed {args.seed}; {summary.accepted} accepted, "
          f"{summary.rejected} rejected {summary.rejected_by_reason} in {time.perf_counter() - t0:.1f} s")
    measures = measure_corpus(Path(corpus.out_dir), out / "pairs.parquet")
    print(table(measures))
    print("\nerror ratio (target / ideal) per release kind and song family:")
    print(ratio_table(measures))


def _use_code(code: str) -> None:
    """Import pairing and features (and what they import) from checkout ``code`` from now on."""
    if Path(code).resolve() != ROOT:
        for name in [m for m in sys.modules if m.split(".")[0] in ("features", "pairing", "miner", "catalog_schemas")]:
            del sys.modules[name]
        sys.path.insert(0, str(Path(code).resolve()))


def matrix(args: argparse.Namespace) -> None:
    """The ``--matrix`` measures (see module doc)."""
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    from democorpus.matrix import make_release_matrix

    seconds = args.seconds if args.seconds != 30.0 else 24.0
    info = make_release_matrix(Path(args.cache) / f"matrix-{seconds:g}-{args.seed}", seconds=seconds,
                               seed=args.seed, degraded=True)
    _use_code(args.code)
    import numpy as np
    from scipy.stats import spearmanr

    from support.release_matrix import measure_matrix, quality_set, ratio_table, run_matrix

    out = Path(args.cache) / "matrix-pairs"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    runs = run_matrix(info.out_dir, out)
    measures = measure_matrix(info.out_dir, runs)
    print(f"# release matrix, {datetime.date.today().isoformat()}, code {args.code}: {info.pairs} pairs, songs of "
          f"{seconds:g} s, seed {args.seed}; audio stage and measures {time.perf_counter() - t0:.0f} s")
    print("\nerror ratio (target / ideal), or the verdict:")
    print(ratio_table(measures))
    plain = [dataclass_replace(m) for m in measures]
    print("\nthe plain gain's error ratio (the map's alignment, no level match), same frames:")
    print(ratio_table(plain))
    if Path(args.code).resolve() == ROOT:
        rows = quality_set(info.out_dir, measures)
        true, est = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
        print(f"\nquality test set: {len(rows)} pairs, Spearman {spearmanr(est, true)[0]:.3f}")
        for kind, family, t, e in sorted(rows, key=lambda r: -r[2]):
            if t > 1.5:
                print(f"  true {t:.2f} estimate {e:.2f}: {kind}, {family}")


def dataclass_replace(m):
    """A measure whose ratio is its plain-gain ratio (for ``ratio_table``)."""
    import dataclasses

    return dataclasses.replace(m, error=m.plain_error)


if __name__ == "__main__":
    main()
