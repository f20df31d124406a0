"""Mixing and mastering with Spotify's pedalboard, keeping exact stems.

Each instrument gets its level, pan and EQ (drums and bass a compressor); the lead voice a high-pass,
presence EQ, a compressor and a reverb (a send: the wet signal is part of the vocal stem). Mastering is per
release: an EQ (linear and time-invariant, so it is applied to each stem and their sum stays the mix), then a
bus compressor and a look-ahead limiter whose gain curves are computed on the *mix* and applied to both stems
alike, so ``mixture == vocals + accompaniment`` holds exactly after mastering as before.

Shapes and units: stems float64 ``[2, samples]``; gains dB; times s.
"""

from __future__ import annotations

import numpy as np
import pedalboard as pb
import soxr
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter

from democorpus.arrangement import Part

#: Rate (Hz) at which reverbs run.
REVERB_RATE = 24000
#: Mix level (dB) per role before the per-song spread; the lead voice is levelled against the band later.
ROLE_LEVEL_DB = {"drums": 0.0, "bass": -1.0, "comp": -4.0, "keys": -5.0, "pad": -6.0, "arp": -8.0, "lead": -3.0,
                 "brass": -5.0, "choir": -4.0}


def _board(x: np.ndarray, sr: int, plugins: list) -> np.ndarray:
    y = pb.Pedalboard(plugins)(np.ascontiguousarray(x, dtype=np.float32), float(sr), reset=True)
    return y.astype(np.float64)


def _at_rate(x: np.ndarray, sr: int, rate: int, effect) -> np.ndarray:
    """``effect`` applied at ``rate`` (cheaper; air damps a reverb's highs anyway), back at ``sr``: ``[2, n]``."""
    if sr == rate:
        return effect(x)
    low = soxr.resample(np.ascontiguousarray(x.T), sr, rate, quality="HQ").T
    y = soxr.resample(np.ascontiguousarray(effect(low).T), rate, sr, quality="HQ").T
    out = np.zeros_like(x)
    out[:, : min(x.shape[1], y.shape[1])] = y[:, : x.shape[1]]
    return out


def _pan_gains(position: float) -> np.ndarray:
    """Constant-power pan gains ``[2, 1]``, ``position`` in [-1 (left), 1 (right)]."""
    angle = (position + 1.0) * np.pi / 4.0
    return np.array([[np.cos(angle)], [np.sin(angle)]]) * np.sqrt(2.0)


def mix_part(x: np.ndarray, sr: int, part: Part, rng: np.random.Generator) -> np.ndarray:
    """An instrument's track ``[2, n]`` leveled, panned and equalised for the mix."""
    plugins: list = [pb.PeakFilter(float(rng.uniform(300, 3000)), float(rng.uniform(-4, 4)), 1.0)]
    if part.role in ("drums", "bass"):
        plugins.append(pb.Compressor(float(rng.uniform(-24, -14)), float(rng.uniform(2, 4)), 5.0, 120.0))
    if part.role not in ("bass",):
        plugins.append(pb.HighpassFilter(float(rng.uniform(60, 140))))
    level = ROLE_LEVEL_DB.get(part.role, -5.0) + float(rng.uniform(-2, 2))
    pan = 0.0 if part.role in ("drums", "bass") else float(rng.uniform(-0.6, 0.6))
    y = _board(x, sr, plugins)
    mono = y.mean(axis=0, keepdims=True)
    spread = float(rng.uniform(0.3, 1.0))  # keep some of the instrument's own stereo image
    y = spread * y + (1 - spread) * mono * _pan_gains(pan)
    rms = np.sqrt(np.mean(y**2)) + 1e-12
    return y * (10 ** (level / 20) * 0.1 / rms)


def voice_chain(dry: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """The lead voice, mono ``[n]`` -> stereo ``[2, n]``: high-pass, presence, compressor, and a reverb send."""
    stereo = np.stack([dry, dry])
    shaped = _board(stereo, sr, [
        pb.HighpassFilter(float(rng.uniform(80, 140))),
        pb.PeakFilter(float(rng.uniform(2500, 4500)), float(rng.uniform(1, 4)), 0.9),
        pb.Compressor(float(20 * np.log10(np.max(np.abs(dry)) + 1e-9) - rng.uniform(8, 16)),
                      float(rng.uniform(2.5, 5)), 4.0, 90.0),
    ])
    reverb = pb.Reverb(room_size=float(rng.uniform(0.3, 0.85)), damping=float(rng.uniform(0.3, 0.7)),
                       wet_level=1.0, dry_level=0.0, width=1.0)
    wet = _at_rate(shaped, sr, REVERB_RATE, lambda x: _board(x, REVERB_RATE, [reverb]))
    send = float(rng.uniform(0.12, 0.35))
    if rng.random() < 0.3:  # a slap-back delay on some voices
        wet = wet + _board(shaped, sr, [pb.Delay(float(rng.uniform(0.09, 0.16)), 0.15, 1.0)]) * 0.25
    return shaped + send * wet


def backing_chain(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Choir-patch backing vocals ``[2, n]``: a wide, wetter reverb."""
    wet = _board(x, sr, [pb.Reverb(room_size=float(rng.uniform(0.6, 0.9)), wet_level=1.0, dry_level=0.0)])
    return x + float(rng.uniform(0.2, 0.4)) * wet


# ---------------------------------------------------------------------------------------------- mastering


def _one_pole(x: np.ndarray, tau_s: float, sr: int) -> np.ndarray:
    a = float(np.exp(-1.0 / max(tau_s * sr, 1.0)))
    y, _ = lfilter([1.0 - a], [1.0, -a], x, zi=[x[0] * a])
    return y


def bus_compressor_gain(mix: np.ndarray, sr: int, threshold_db: float, ratio: float) -> np.ndarray:
    """Gain curve ``[n]`` of a feed-forward RMS compressor on ``mix`` ``[2, n]`` (50 ms detector, 40 ms gain
    smoothing); ``threshold_db`` relative to full scale."""
    power = _one_pole(np.mean(mix**2, axis=0), 0.05, sr)
    level_db = 10 * np.log10(power + 1e-12)
    reduction_db = -np.maximum(level_db - threshold_db, 0.0) * (1.0 - 1.0 / ratio)
    return 10 ** (_one_pole(reduction_db, 0.04, sr) / 20)


def limiter_gain(mix: np.ndarray, sr: int, ceiling: float, lookahead_s: float = 0.005) -> np.ndarray:
    """Gain curve ``[n]`` of a look-ahead brick-wall limiter: ``|gain * mix| <= ceiling`` at every sample.

    The required gain is min-filtered over twice the look-ahead and then box-averaged over the look-ahead:
    every average only holds values at or below the requirement of its centre sample."""
    w = max(int(lookahead_s * sr), 1)
    need = np.minimum(1.0, ceiling / (np.max(np.abs(mix), axis=0) + 1e-12))
    held = minimum_filter1d(need, size=2 * w + 1, mode="nearest")
    return np.minimum(uniform_filter1d(held, size=w | 1, mode="nearest"), need)


def master(vocals: np.ndarray, acc: np.ndarray, sr: int, rng: np.random.Generator,
           *parts: np.ndarray) -> tuple[np.ndarray, ...]:
    """A release's mastering applied to both stems: EQ on each, bus compression and limiting by curves
    computed on their sum. Returns ``(vocals, accompaniment)``; their sum is the mastered mix. ``parts``
    (shares of a stem, ``[2, n]`` each) get the same EQ and gain curve and follow, mastered, in the result."""
    eq = [pb.LowShelfFilter(float(rng.uniform(80, 200)), float(rng.uniform(-2, 3)), 0.7),
          pb.HighShelfFilter(float(rng.uniform(6000, 10000)), float(rng.uniform(-2, 3)), 0.7)]
    vocals, acc = _board(vocals, sr, eq), _board(acc, sr, eq)
    parts = tuple(_board(p, sr, eq) for p in parts)
    mix = vocals + acc
    loud_db = float(np.percentile(10 * np.log10(_one_pole(np.mean(mix**2, axis=0), 0.05, sr) + 1e-12), 90))
    gain = bus_compressor_gain(mix, sr, loud_db - float(rng.uniform(3, 8)), float(rng.uniform(1.5, 4)))
    drive = 10 ** (float(rng.uniform(2, 6)) / 20)  # push into the limiter
    gain = gain * drive
    ceiling = float(np.percentile(np.max(np.abs(mix * gain), axis=0), 99.95))  # shave the highest peaks
    gain = gain * limiter_gain(mix * gain, sr, ceiling)
    return (vocals * gain, acc * gain, *(p * gain for p in parts))


def band_limit(x: np.ndarray, sr: int, band_hz: float) -> np.ndarray:
    """``x`` ``[channels, n]`` with nothing above ``band_hz`` (a raised-cosine edge over its top 5 %): linear,
    so applying it to each stem keeps their sum the band-limited mix."""
    f = np.fft.rfftfreq(x.shape[-1], 1.0 / sr)
    lo = 0.95 * band_hz
    gain = np.where(f <= lo, 1.0, np.where(f >= band_hz, 0.0, 0.5 + 0.5 * np.cos(np.pi * (f - lo) / (band_hz - lo))))
    return np.fft.irfft(np.fft.rfft(x, axis=-1) * gain, x.shape[-1], axis=-1)

