"""What `evaluate`'s options cost and change: BSS Eval v3 / v4 at the model's rate (8192 Hz mono) and at the
song's own rate (--native-rate), and REPET-SIM's run time, on synthetic stereo songs at 44.1 kHz.

Songs: a harmonic voice with vibrato and syllable envelope (right-of-centre), a noise-and-tone band (left-of-
centre) with a repeating 2 s pattern (what REPET-SIM looks for); REPET-SIM's estimates are scored in each
setting, so the table shows how the same separation scores under each protocol.

    .venv/bin/python benchmarks/bench_evaluate.py --songs 3 --seconds 20
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.layouts import Stems  # noqa: E402
from evaluation.metrics import score_song  # noqa: E402
from separation.repet import repet_sim  # noqa: E402


def song(seconds: float, seed: int, rate: int = 44100) -> Stems:
    """Stereo ``[2, samples]`` stems of a synthetic song (see the module doc)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 220 * 2 ** (rng.integers(0, 12, size=int(seconds * 2) + 1) / 12)[(t * 2).astype(int)]
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))) / rate
    env = np.clip(np.sin(np.pi * (t * 2 % 1)), 0, 1) ** 0.5
    voice = 0.15 * env * sum(np.sin(k * phase) / k for k in range(1, 8))
    bar = rng.standard_normal(int(2 * rate)) * np.exp(-(np.arange(int(2 * rate)) % (rate // 2)) / (0.05 * rate))
    band = 0.1 * np.resize(bar, len(t)) + 0.1 * np.sin(2 * np.pi * 55 * 2 ** (np.floor(t / 2) % 4 / 12) * t)
    v = np.stack([0.8 * voice, voice]).astype(np.float32)
    a = np.stack([band, 0.7 * band]).astype(np.float32)
    return Stems(v + a, v, a, rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--songs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    rows: dict[str, list] = {}
    repet_s = []
    for i in range(args.songs):
        native = song(args.seconds, i)
        t = time.perf_counter()
        est = repet_sim(native.mixture, native.sample_rate)
        repet_s.append(time.perf_counter() - t)
        est_st = Stems(native.mixture, est["vocals"], est["accompaniment"], native.sample_rate)
        for label, metrics, rate, mono in (("v3, 8192 Hz mono (default)", "v3", 8192, True),
                                           ("v3, 44.1 kHz mono (--native-rate)", "v3", 44100, True),
                                           ("v4, 8192 Hz mono", "v4", 8192, True),
                                           ("v4, 44.1 kHz stereo (--native-rate)", "v4", 44100, False)):
            ref, e = native.to(rate, mono), est_st.to(rate, mono)
            t = time.perf_counter()
            r = score_song(ref, {"vocals": e.vocals, "accompaniment": e.accompaniment}, metrics)
            rows.setdefault(label, []).append((r["vocals_sdr"], r["vocals_nsdr"], r["accompaniment_sdr"],
                                               time.perf_counter() - t))
    print(f"{args.songs} synthetic songs x {args.seconds:g} s, 44.1 kHz stereo; REPET-SIM estimates; "
          f"{platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print(f"REPET-SIM at 44.1 kHz: {np.mean(repet_s):.2f} s per song (mean)\n")
    print("| scoring | vocals SDR (median) | vocals NSDR (median) | acc. SDR (median) | scoring time per song (s) |")
    print("|---|---:|---:|---:|---:|")
    for label, v in rows.items():
        a = np.array(v)
        print(f"| {label} | {np.median(a[:, 0]):.2f} | {np.median(a[:, 1]):.2f} | {np.median(a[:, 2]):.2f} | "
              f"{a[:, 3].mean():.1f} |")


if __name__ == "__main__":
    main()
