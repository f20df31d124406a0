"""The recipe's ablation on the demo corpus: corpus -> candidates -> verified pairs -> shards -> one model per
recipe choice -> separation of the held-out songs -> BSS Eval against their true stems, beside REPET-SIM, the
no-skip baseline and the oracle of the training target.

    .venv/bin/python benchmarks/demo_train_eval.py --work /tmp/vocalmine-demo [--steps 400] [--write-docs]
    .venv/bin/python benchmarks/demo_train_eval.py --work W --variants paper,recipe --steps 200   # a subset

Every stage is the project's library function (``democorpus.make_corpus``, ``miner.pipeline.mine_pairs``,
``pairing.pipeline.pair_candidates``, ``features.shards.build_shards``, ``training.train.train``,
``separation.separate``), each re-runnable: a second run reuses what is done (a finished model is not retrained).
The split is the corpus' own (``--split hint``: ``truth/songs.csv``'s ``split_hint`` through
``build-shards --split-file``, the generalisation split when the generator makes one), or by artist hash
(``--split ratios``). Every variant gets the same shards, seed, batch size and number of steps; ``VARIANTS``
says what each changes. The songs scored are the test split's (``split_hint == test``), against
``truth/stems/<song>/{mixture,vocals,accompaniment}.wav``; songs with a silent true vocal stem (instrumental
only) are not scored by BSS Eval but by their vocal output's level against the mixture (dB; lower is better).

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
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from democorpus import DemoConfig, make_corpus  # noqa: E402
from features.audio import decode, load_mono, resample  # noqa: E402
from features.patches import PatchParams  # noqa: E402
from features.shards import ShardConfig, build_shards  # noqa: E402
from features.splits import SplitConfig, read_split_file  # noqa: E402
from features.stft import PAPER_STFT, istft, stft  # noqa: E402
from miner.pipeline import MinerConfig, mine_pairs  # noqa: E402
from pairing.config import PairingConfig  # noqa: E402
from pairing.pipeline import pair_candidates  # noqa: E402
from evaluation.metrics import score_song  # noqa: E402
from separation.repet import repet_sim  # noqa: E402
from separation.separate import load_model, separate_waveform  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402
from vocalmine.settings import from_flat  # noqa: E402

log = logging.getLogger("demo_train_eval")
BEGIN, END = "<!-- demo-results:begin -->", "<!-- demo-results:end -->"
SR = PAPER_STFT.sample_rate
SOURCES = ("vocals", "accompaniment")

#: The recipe choices measured: TrainConfig settings each variant sets (target vocals unless said).
RECIPE = dict(lr=3e-4, lr_schedule="cosine", warmup_steps=20, remix_share=0.5, gain_db=(-12.0, 0.0))
VARIANTS: dict[str, dict] = {
    "paper": {},  # Adam 1e-4 constant, no augmentation: the paper's recipe
    "cosine": dict(lr=3e-4, lr_schedule="cosine", warmup_steps=20),
    "gain": dict(gain_db=(-12.0, 0.0)),
    "remix": dict(remix_share=0.5),
    "recipe": RECIPE,
    "recipe-instrumental": dict(RECIPE, target="instrumental"),
    "baseline": dict(RECIPE, arch="baseline"),  # the paper's no-skip baseline, same recipe
}
#: What is scored: (label, vocals variant, instrumental variant or None, mask combination, checkpoint).
SYSTEMS = [
    ("paper recipe (Adam 1e-4)", "paper", None, None, "best"),
    ("+ cosine schedule (3e-4, warm-up 20)", "cosine", None, None, "best"),
    ("+ random gain (-12..0 dB)", "gain", None, None, "best"),
    ("+ remix (half of each batch)", "remix", None, None, "best"),
    ("recipe: all three, latest checkpoint", "recipe", None, None, "latest"),
    ("recipe: all three, best checkpoint", "recipe", None, None, "best"),
    ("recipe + instrumental model, sum-to-one", "recipe", "recipe-instrumental", "sum-to-one", "best"),
    ("recipe + instrumental model, Wiener", "recipe", "recipe-instrumental", "wiener", "best"),
    ("no-skip baseline, recipe", "baseline", None, None, "best"),
]


def test_songs(corpus_dir: Path, shards_dir: Path, split: str) -> list[str]:
    """The held-out songs: ``split_hint == test`` (``--split hint``), else the test split's originals' songs."""
    with open(corpus_dir / "truth" / "songs.csv", newline="") as fh:
        songs = list(csv.DictReader(fh))
    if split == "hint":
        return sorted(r["song_id"] for r in songs if r["split_hint"] == "test")
    manifest = json.loads((shards_dir / "manifest.json").read_text())
    originals = {pid.split("~", 1)[0] for pid in manifest["splits"]["test"]["pair_ids"]}
    with open(corpus_dir / "truth" / "tracks.csv", newline="") as fh:
        song_of = {r["track_id"]: r["song_id"] for r in csv.DictReader(fh)}
    return sorted({song_of[t] for t in originals if song_of.get(t)})


def load_song(corpus_dir: Path, song: str) -> SimpleNamespace:
    """True stems, mono at 8192 Hz, one length."""
    d = corpus_dir / "truth" / "stems" / song
    x = {name: load_mono(d / f"{name}.wav", SR) for name in ("mixture", "vocals", "accompaniment")}
    n = min(len(v) for v in x.values())
    return SimpleNamespace(**{k: v[:n] for k, v in x.items()}, sample_rate=SR, name=song, path=d)


def score(stems: SimpleNamespace, est: dict[str, np.ndarray]) -> dict:
    """BSS Eval row, or for a song without voice the vocal estimate's level against the mixture (dB)."""
    n = len(stems.mixture)
    est = {k: np.pad(v[:n], (0, max(0, n - len(v[:n])))) for k, v in est.items()}
    row = {"song": stems.name, "seconds": n / SR}
    if not np.any(stems.vocals):
        row["vocal_level_db"] = float(10 * np.log10((np.sum(est["vocals"] ** 2) + 1e-20) / np.sum(stems.mixture ** 2)))
        return row
    row.update(score_song(stems, est))
    return row


def summary(rows: list[dict]) -> dict:
    scored = [r for r in rows if "vocals_nsdr" in r]
    out = {f"{s}_{m}": float(np.mean([r[f"{s}_{m}"] for r in scored])) if scored else float("nan")
           for s in SOURCES for m in ("nsdr", "sir", "sar")}
    out["vocals_nsdr_median"] = float(np.median([r["vocals_nsdr"] for r in scored])) if scored else float("nan")
    out["vocals_nsdr_min"] = float(np.min([r["vocals_nsdr"] for r in scored])) if scored else float("nan")
    levels = [r["vocal_level_db"] for r in rows if "vocal_level_db" in r]
    out["instrumental_only_vocal_level_db"] = float(np.max(levels)) if levels else None
    out["songs"] = len(scored)
    return out


def run_system(songs, estimate, cache: Path | None = None) -> dict:
    """Score ``estimate`` on every song; ``cache``: a folder keeping each song's row (for the systems that do
    not depend on training: REPET-SIM takes minutes per song)."""
    rows = []
    for s in songs:
        f = cache / f"{s.name}.json" if cache else None
        if f is not None and f.exists():
            rows.append(json.loads(f.read_text()))
            continue
        rows.append(score(s, estimate(s)))
        if f is not None:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(rows[-1]))
    return {"summary": summary(rows), "songs": rows}


def repet_estimator():
    """REPET-SIM at the song's own rate (``separation.repet``)."""
    def estimate(stems):
        d = decode(stems.path / "mixture.wav")
        mono = d.mono()
        out = repet_sim(mono, d.sample_rate)
        return {"vocals": resample(out["vocals"], d.sample_rate, SR),
                "accompaniment": resample(out["accompaniment"], d.sample_rate, SR)}

    return estimate


def oracle_estimate(stems) -> dict[str, np.ndarray]:
    """The paper's training target used as a mask with the true accompaniment: max(0, |X| - |A|) / |X| on the
    mixture (the ceiling of what a model of that target can reach)."""
    x, a = stft(stems.mixture), stft(stems.accompaniment)
    mask = np.maximum(np.abs(x) - np.abs(a), 0) / np.maximum(np.abs(x), 1e-12)
    voc = istft(x * mask, len(stems.mixture))
    return {"vocals": voc, "accompaniment": stems.mixture - voc}


def model_estimate(vocals, instrumental=None, combine="sum-to-one"):
    def estimate(stems):
        sep = separate_waveform(stems.mixture[None], SR, vocals, instrumental, combine=combine)
        return {"vocals": sep.vocals[0], "accompaniment": sep.instrumental[0]}

    return estimate


def table(results: dict) -> str:
    """Markdown: one row per system, mean (and median, min) vocal NSDR, SIR, SAR, accompaniment NSDR."""
    levels = any(r["summary"]["instrumental_only_vocal_level_db"] is not None for r in results["systems"].values())
    lines = ["| system | vocal NSDR mean | median | min | vocal SIR | vocal SAR | accomp. NSDR |"
             + (" vocal output on instrumental-only songs (dB re mix, worst) |" if levels else ""),
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if levels else "")]
    for name, r in results["systems"].items():
        s = r["summary"]
        cells = [s["vocals_nsdr"], s["vocals_nsdr_median"], s["vocals_nsdr_min"], s["vocals_sir"], s["vocals_sar"],
                 s["accompaniment_nsdr"]]
        line = f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " |"
        if levels:
            lv = s["instrumental_only_vocal_level_db"]
            line += f" {lv:.1f} |" if lv is not None else " - |"
        lines.append(line)
    return "\n".join(lines)


def per_song(results: dict, names: list[str]) -> str:
    cols = [n for n in names if n in results["systems"]]
    lines = ["| song | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    by = {c: {r["song"]: r for r in results["systems"][c]["songs"]} for c in cols}
    for song in results["test_songs"]:
        cells = []
        for c in cols:
            r = by[c].get(song, {})
            cells.append(f"{r['vocals_nsdr']:.2f}" if "vocals_nsdr" in r else
                         f"({r['vocal_level_db']:.1f} dB)" if "vocal_level_db" in r else "-")
        lines.append(f"| {song} | " + " | ".join(cells) + " |")
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
    ap.add_argument("--split", choices=["hint", "ratios"], default="hint",
                    help="hint: the corpus' split_hint (truth/songs.csv) as --split-file; ratios: hashed by artist.")
    ap.add_argument("--ratios", default="0.6,0.1,0.3", help="train,valid,test shares with --split ratios.")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="Which models to train (names of VARIANTS).")
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
    fixed = tuple(sorted(read_split_file(work / "corpus" / "truth" / "songs.csv").items())) if args.split == "hint" else ()
    ratios = tuple(float(r) for r in args.ratios.split(","))
    shard_config = ShardConfig(patches=PatchParams(patch_hop=args.patch_hop), split=SplitConfig(ratios, args.seed),
                               fixed_splits=fixed)
    shard_summary = build_shards(work / "pairs", work / "shards", shard_config, progress=False)
    timings["shards_s"] = time.perf_counter() - t
    manifest = json.loads((work / "shards" / "manifest.json").read_text())
    split_sizes = {s: {"pairs": v["pairs"], "patches": v["patches"], "seconds": v["seconds"]}
                   for s, v in manifest["splits"].items()}
    log.info("shards: %s", split_sizes)

    song_ids = test_songs(work / "corpus", work / "shards", args.split)
    songs = [load_song(work / "corpus", s) for s in song_ids]
    log.info("test songs: %s", song_ids)
    results: dict = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "splits": split_sizes, "skipped_pairs": len(shard_summary.skipped), "timings": timings,
        "test_songs": song_ids, "variants": {}, "systems": {},
    }
    wanted = [v for v in args.variants.split(",") if v]
    unknown = [v for v in wanted if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    runs = {}
    for name in wanted:
        run = work / "runs" / manifest["build_key"][:12] / name  # other shards, other runs: never resume across
        overrides = {k: v for k, v in VARIANTS[name].items()}
        cfg = from_flat(TrainConfig, dict(
            shards_dir=str(work / "shards"), run_dir=str(run), batch_size=args.batch_size, max_steps=args.steps,
            valid_every=50, valid_patches=256, checkpoint_every=100, log_every=20, seed=args.seed,
            device=args.device, progress=False, tensorboard=False, resume=(run / "checkpoint.pt").exists(),
            **overrides))
        t = time.perf_counter()
        res = train(cfg)
        summ = json.loads((run / "train_summary.json").read_text())
        results["variants"][name] = {
            "config": overrides, "train_seconds_this_call": time.perf_counter() - t, "steps": res.steps,
            "last_loss": summ["last_loss"], "valid_history": summ["valid_history"],
            "patches_per_s": summ["patches_per_s"],
        }
        runs[name] = run
        log.info("%s: trained to step %d", name, res.steps)

    systems = {"mixture as estimate": lambda st: {"vocals": st.mixture, "accompaniment": st.mixture}}
    systems["REPET-SIM (librosa example, song's rate)"] = repet_estimator()
    for label, voc, inst, combine, which in SYSTEMS:
        if voc not in runs or (inst and inst not in runs):
            continue
        v = load_model(runs[voc], target="vocals", device=args.device, which=which)
        if which == "latest" and v.step == load_model(runs[voc], device=args.device).step:
            log.info("%s: the latest checkpoint is the best one (step %d): not scored twice", label, v.step)
            continue
        i = load_model(runs[inst], target="instrumental", device=args.device, which=which) if inst else None
        systems[f"{label} (step {v.step})"] = model_estimate(v, i, combine or "sum-to-one")
    systems["oracle: the vocal target from the true accompaniment"] = oracle_estimate
    fixed_systems = {"REPET-SIM (librosa example, song's rate)", "mixture as estimate"}
    # The models first, then the training-free systems (another run may be filling REPET-SIM's cache). Every
    # system's rows are cached by its label (which names the checkpoint step): delete WORK/scores to rescore.
    for label in sorted(systems, key=lambda name: name in fixed_systems):
        t = time.perf_counter()
        slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
        cache = work / "scores" / manifest["build_key"][:12] / slug
        results["systems"][label] = run_system(songs, systems[label], cache)
        log.info("%s: vocal NSDR %.2f dB (%.0f s)", label, results["systems"][label]["summary"]["vocals_nsdr"],
                 time.perf_counter() - t)
    results["systems"] = {label: results["systems"][label] for label in systems}

    train_lines = [f"{n}: {r['steps']} steps, valid loss best "
                   + (f"{min(v for _, v in r['valid_history']):.4g} at step "
                      f"{min(r['valid_history'], key=lambda sv: sv[1])[0]}" if r["valid_history"] else "-")
                   + f", {r['patches_per_s']:.1f} patches/s" for n, r in results["variants"].items()]
    md = "\n".join([
        f"Demo corpus: {args.songs} songs x {args.seconds:g} s (seed {args.seed}); shards with patch hop "
        f"{args.patch_hop} frames, split "
        + ("by the corpus' split_hint (--split-file truth/songs.csv)" if args.split == "hint" else f"{args.ratios} by artist")
        + ": " + ", ".join(f"{s} {v['pairs']} pairs / {v['patches']} patches" for s, v in split_sizes.items()) + ".",
        f"Training: {args.steps} steps of {args.batch_size} patches per model, seed {args.seed}, validation every 50 "
        f"steps on 256 patches, {results['machine']}, {results['date']}.",
        f"Scored: the {len(songs)} held-out songs ({', '.join(song_ids)}) against their true stems (BSS Eval v3 via "
        "mir_eval, 8192 Hz mono, whole songs), dB; mean over the songs with a voice.",
        "",
        table(results),
        "",
        per_song(results, [n for n in results["systems"] if n.startswith(("REPET", "paper", "recipe: all three, best",
                                                                         "recipe + instrumental model, sum", "no-skip"))]),
        "",
        "Models: " + "; ".join(train_lines) + ".",
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
