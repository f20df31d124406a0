"""Separation speed as multiples of real time, and BSS Eval time per song, on this machine; with ``--memory``,
the peak resident memory of separating songs of several lengths.

    .venv/bin/python benchmarks/bench_separate.py [--seconds 60] [--device cpu|cuda]
    .venv/bin/python benchmarks/bench_separate.py --memory [--minutes 2,20] [--full-band]

``--memory``: for each length, a stereo 44.1 kHz FLAC of noise is written, then separated by
``separation.separate.separate_file`` in a fresh process, which reports its own peak RSS (``ru_maxrss``) and the
RSS it had before separating (Python, torch and the model loaded); the ratio of the longest to the shortest
song's peak is the figure issue 22 asks to stay under 1.5. ``--code DIR`` runs the separation with another
checkout's code (e.g. a worktree of an earlier commit, to measure the whole-song separation it replaced).

Separates a synthetic stereo 44.1 kHz song (FLAC, ``--seconds`` long) with a U-Net (random weights: the speed
does not depend on them) through ``separation.separate.separate_file`` -- decode, resample, STFT, the model on
overlapping patches, iSTFT, resample, write -- at the model's band and with ``--full-band``; then times the
model alone, and ``evaluation.evaluate.score_song`` (two ``bss_eval_sources`` calls) on songs of 30 s and 2 min.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.checkpoint import model_payload, save_checkpoint  # noqa: E402
from evaluation.layouts import Stems  # noqa: E402
from evaluation.metrics import score_song  # noqa: E402
from training.model import UNet  # noqa: E402
from separation.separate import load_model, predict_mask, separate_file  # noqa: E402

STFT = {"sample_rate": 8192, "n_fft": 1024, "hop": 768}


def best_of(fn, repeats: int = 2) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


_CHILD = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from separation.separate import load_model, separate_file
model = load_model(sys.argv[2], device="cpu")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
separate_file(sys.argv[3], sys.argv[4], model, full_band=sys.argv[5] == "1")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rss_before_mb": before / 1024, "peak_rss_mb": peak / 1024}))
"""


def write_song(path: Path, seconds: float, rate: int = 44100, chunk_s: float = 30.0) -> None:
    """A stereo FLAC of noise with a slow level envelope, written in chunks (the parent never holds it)."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=rate, channels=2, format="FLAC") as f:
        done = 0
        total = int(seconds * rate)
        while done < total:
            n = min(int(chunk_s * rate), total - done)
            t = (done + np.arange(n)) / rate
            level = 0.05 + 0.1 * (1 + np.sin(2 * np.pi * t / 7.0))
            f.write((rng.standard_normal((n, 2)) * level[:, None] * 0.5).astype(np.float32))
            done += n


def memory(minutes: list[float], full_band: bool, code: Path) -> dict:
    """Peak RSS of separating songs of ``minutes`` (see the module doc)."""
    out: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
                 "date": time.strftime("%Y-%m-%d"), "full_band": full_band, "code": str(code), "songs": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        save_checkpoint(model_payload(UNet(), "vocals", STFT), tmp / "model.pt")
        for m in minutes:
            song = tmp / f"song-{m:g}min.flac"
            write_song(song, m * 60)
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-c", _CHILD, str(code), str(tmp / "model.pt"), str(song),
                                str(tmp / "out"), "1" if full_band else "0"], capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(r.stderr[-2000:])
            row = json.loads(r.stdout.strip().splitlines()[-1])
            row.update(minutes=m, seconds=round(time.perf_counter() - t, 1))
            out["songs"].append(row)
            song.unlink()
            print(json.dumps(row), file=sys.stderr)
    peaks = [r["peak_rss_mb"] for r in out["songs"]]
    out["peak_ratio_longest_to_shortest"] = round(peaks[-1] / peaks[0], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--memory", action="store_true", help="peak RSS per song length instead of speed")
    ap.add_argument("--minutes", default="2,20", help="with --memory: song lengths in minutes")
    ap.add_argument("--full-band", action="store_true", help="with --memory: separate with --full-band")
    ap.add_argument("--code", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="with --memory: the checkout whose separation runs")
    args = ap.parse_args()
    if args.memory:
        minutes = [float(m) for m in args.minutes.split(",")]
        print(json.dumps(memory(minutes, args.full_band, args.code.resolve()), indent=2))
        return
    rate = 44100
    out: dict = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
                 "date": time.strftime("%Y-%m-%d"), "song_seconds": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        save_checkpoint(model_payload(UNet(), "vocals", STFT), tmp / "model.pt")
        model = load_model(tmp / "model.pt", device=args.device)
        n = int(args.seconds * rate)
        x = (0.1 * np.random.default_rng(0).standard_normal((n, 2))).astype(np.float32)
        sf.write(tmp / "song.flac", x, rate)
        for full in (False, True):
            s = best_of(lambda: separate_file(tmp / "song.flac", tmp / "out", model, full_band=full))
            out[f"separate_file{'_full_band' if full else ''}_s"] = s
            out[f"separate_file{'_full_band' if full else ''}_x_realtime"] = args.seconds / s
        frames = int(args.seconds * 8192 / 768) + 1
        mag = np.random.default_rng(1).uniform(size=(512, frames)).astype(np.float32)
        s = best_of(lambda: predict_mask(model, mag))
        out["model_only_s"] = s
        out["model_only_x_realtime"] = args.seconds / s
    for secs in (30, 120):
        rng = np.random.default_rng(secs)
        v, a = (rng.standard_normal(secs * 8192).astype(np.float32) for _ in range(2))
        stems = Stems(v + a, v, a, 8192)
        est = {"vocals": v + 0.3 * a, "accompaniment": a + 0.3 * v}
        out[f"bss_eval_song_{secs}s_s"] = best_of(lambda: score_song(stems, est), repeats=1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
