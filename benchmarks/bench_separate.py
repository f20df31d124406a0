"""Separation speed as multiples of real time, and BSS Eval time per song, on this machine.

    .venv/bin/python benchmarks/bench_separate.py [--seconds 60] [--device cpu|cuda]

Separates a synthetic stereo 44.1 kHz song (FLAC, ``--seconds`` long) with a U-Net (random weights: the speed
does not depend on them) through ``separation.separate.separate_file`` -- decode, resample, STFT, the model on
overlapping patches, iSTFT, resample, write -- at the model's band and with ``--full-band``; then times the
model alone, and ``evaluation.evaluate.score_song`` (two ``bss_eval_sources`` calls) on songs of 30 s and 2 min.
"""

from __future__ import annotations

import argparse
import json
import platform
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
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
