"""End to end on the demo corpus: corpus -> candidates -> verified pairs -> shards -> U-Net and baseline ->
separation of the held-out (test split) songs -> BSS Eval against their true stems.

    .venv/bin/python benchmarks/demo_train_eval.py --work /tmp/vocalmine-demo [--steps 400] [--write-docs]

Every stage is the project's library function (``democorpus.make_corpus``, ``miner.pipeline.mine_pairs``,
``pairing.pipeline.pair_candidates``, ``features.shards.build_shards``, ``training.train.train``,
``training.evaluate``), each re-runnable: a second run reuses what is done (training resumes its checkpoint).
Both models get the same shards, seed, batch size and number of steps. The songs scored are the test split's:
the originals of its pairs, mapped to their songs by ``truth/tracks.csv``, scored against
``truth/stems/<song>/{mixture,vocals,accompaniment}.wav`` (the true stems, not the pairs' derived targets).

Writes ``WORK/results.json`` and ``WORK/results.md``; ``--write-docs`` also replaces the block between the
``demo-results`` markers in docs/training.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from democorpus import DemoConfig, make_corpus  # noqa: E402
from features.shards import ShardConfig, build_shards  # noqa: E402
from features.stft import PAPER_STFT, istft, stft  # noqa: E402
from miner.pipeline import MinerConfig, mine_pairs  # noqa: E402
from pairing.config import PairingConfig  # noqa: E402
from pairing.pipeline import pair_candidates  # noqa: E402
from training.evaluate import SOURCES, STATS, SongFiles, evaluate_songs, model_estimator, score_song, summarize, write_report  # noqa: E402
from training.separate import load_model  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402

log = logging.getLogger("demo_train_eval")
BEGIN, END = "<!-- demo-results:begin -->", "<!-- demo-results:end -->"


def test_songs(corpus_dir: Path, shards_dir: Path) -> list[SongFiles]:
    """The test split's songs, as their true stems."""
    manifest = json.loads((shards_dir / "manifest.json").read_text())
    originals = {pid.split("~", 1)[0] for pid in manifest["splits"]["test"]["pair_ids"]}
    with open(corpus_dir / "truth" / "tracks.csv", newline="") as fh:
        song_of = {r["track_id"]: r["song_id"] for r in csv.DictReader(fh)}
    songs = sorted({song_of[t] for t in originals if song_of.get(t)})
    stems = corpus_dir / "truth" / "stems"
    return [SongFiles(s, stems / s / "mixture.wav", stems / s / "vocals.wav", (stems / s / "accompaniment.wav",))
            for s in songs]


def oracle(songs: list[SongFiles]) -> dict:
    """The paper's training target used as a mask with the true accompaniment: max(0, |X| - |A|) / |X| on the
    mixture (the upper bound of what a model of that target can reach), scored like the models."""
    rows = []
    for song in songs:
        stems = song.load(PAPER_STFT.sample_rate)
        x, a = stft(stems.mixture), stft(stems.accompaniment)
        mask = np.maximum(np.abs(x) - np.abs(a), 0) / np.maximum(np.abs(x), 1e-12)
        voc = istft(x * mask, len(stems.mixture))
        row = {"song": song.name, "seconds": len(stems.mixture) / PAPER_STFT.sample_rate}
        row.update(score_song(stems, {"vocals": voc, "accompaniment": stems.mixture - voc}))
        rows.append(row)
    return {"summary": summarize(rows), "songs": rows}


def table(results: dict) -> str:
    """Markdown: one row per (model, source, metric)."""
    lines = ["| model | source | metric | mean | SD | min | max | median |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for arch, r in list(results["models"].items()) + [("oracle target", results["oracle"])]:
        for s in SOURCES:
            for m in ("nsdr", "sir", "sar"):
                st = r["summary"][s][m]
                lines.append(f"| {arch} | {s} | {m.upper()} | " + " | ".join(f"{st[k]:.2f}" for k in STATS) + " |")
    return "\n".join(lines)


def per_song(results: dict) -> str:
    cols = {**results["models"], "oracle target": results["oracle"]}
    lines = ["| song | s | " + " | ".join(f"{a} vocal NSDR" for a in cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    by_song = {a: {row["song"]: row for row in r["songs"]} for a, r in cols.items()}
    for row in results["oracle"]["songs"]:
        s = row["song"]
        lines.append(f"| {s} | {row['seconds']:.1f} | " + " | ".join(
            f"{by_song[a][s]['vocals_nsdr']:.2f}" if s in by_song[a] else "-" for a in cols) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--songs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--patch-hop", type=int, default=32, help="Frames between patch starts in the shards.")
    ap.add_argument("--ratios", default="0.6,0.1,0.3", help="train,valid,test shares of the split (by artist).")
    ap.add_argument("--archs", default="unet,baseline")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    work = args.work
    timings: dict[str, float] = {}

    t = time.perf_counter()
    corpus = make_corpus(work / "corpus", DemoConfig(songs=args.songs, seconds=args.seconds, seed=args.seed),
                         progress=False)
    timings["corpus_s"] = time.perf_counter() - t
    t = time.perf_counter()
    mine_pairs(corpus.catalog, work / "pairs", MinerConfig())
    timings["mine_s"] = time.perf_counter() - t
    t = time.perf_counter()
    pair_candidates(work / "pairs", PairingConfig(), progress=False)
    timings["pairing_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ratios = tuple(float(r) for r in args.ratios.split(","))
    shard_summary = build_shards(work / "pairs", work / "shards",
                                 ShardConfig(patch_hop=args.patch_hop, ratios=ratios, seed=args.seed), progress=False)
    timings["shards_s"] = time.perf_counter() - t
    manifest = json.loads((work / "shards" / "manifest.json").read_text())
    split_sizes = {s: {"pairs": v["pairs"], "patches": v["patches"], "seconds": v["seconds"]}
                   for s, v in manifest["splits"].items()}
    log.info("shards: %s", split_sizes)

    songs = test_songs(work / "corpus", work / "shards")
    log.info("test songs: %s", [s.name for s in songs])
    results: dict = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "splits": split_sizes, "skipped_pairs": len(shard_summary.skipped), "timings": timings,
        "test_songs": [s.name for s in songs], "models": {}, "oracle": oracle(songs),
    }
    for arch in args.archs.split(","):
        run = work / "runs" / manifest["build_key"][:12] / arch  # other shards, other runs: never resume across
        cfg = TrainConfig(shards_dir=str(work / "shards"), run_dir=str(run), target="vocals", arch=arch,
                          batch_size=args.batch_size, max_steps=args.steps, valid_every=100, checkpoint_every=100,
                          log_every=20, seed=args.seed, device=args.device, progress=False,
                          resume=(run / "checkpoint.pt").exists())
        t = time.perf_counter()
        res = train(cfg)
        summary = json.loads((run / "train_summary.json").read_text())
        model = load_model(run, target="vocals", device=args.device)
        report = evaluate_songs(songs, model_estimator(model), progress=False)
        write_report(report, work / "eval" / arch, {"model": str(run), "arch": arch}, title=f"{arch} on demo test songs")
        results["models"][arch] = {
            "train_seconds_this_call": time.perf_counter() - t,
            "steps": res.steps, "last_loss": summary["last_loss"], "valid_history": summary["valid_history"],
            "patches_per_s": summary["patches_per_s"], "summary": report.summary, "songs": report.rows,
            "failures": report.failures,
        }
        log.info("%s: vocal NSDR mean %.2f dB over %d songs", arch, report.summary["vocals"]["nsdr"]["mean"],
                 len(report.rows))

    md = "\n".join([
        f"Demo corpus: {args.songs} songs x {args.seconds:g} s (seed {args.seed}); shards with patch hop "
        f"{args.patch_hop} frames, split {args.ratios} by artist: " + ", ".join(f"{s} {v['pairs']} pairs / {v['patches']} patches"
                                                  for s, v in split_sizes.items()) + ".",
        f"Training: {args.steps} steps of {args.batch_size} patches, Adam 1e-4, seed {args.seed}, "
        f"{results['machine']}, {results['date']}.",
        "Scored: the " + str(len(songs)) + " test-split songs against their true stems (BSS Eval v3 via mir_eval, "
        "8192 Hz mono, whole songs), dB. 'oracle target': the paper's vocal target max(0, |X| - |A|) computed "
        "from the true accompaniment and applied to the mixture, a ceiling for a model trained on that target.",
        "",
        table(results),
        "",
        per_song(results),
        "",
        "Training: " + "; ".join(
            f"{a} final train loss {r['last_loss']:.4g}, valid loss "
            + (f"{r['valid_history'][-1][1]:.4g}" if r["valid_history"] else "-")
            + f", {r['patches_per_s']:.1f} patches/s" for a, r in results["models"].items()) + ".",
    ])
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (work / "results.md").write_text(md + "\n")
    print(md)
    if args.write_docs:
        doc = ROOT / "docs" / "training.md"
        text = doc.read_text()
        if BEGIN not in text or END not in text:
            raise SystemExit(f"{doc} lacks the {BEGIN} ... {END} markers")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(head + BEGIN + "\n" + md + "\n" + END + tail)


if __name__ == "__main__":
    main()
