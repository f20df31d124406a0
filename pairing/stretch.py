"""A change of speed: the stretch that best lines up two onset envelopes, and a line through local lags.

Used when the waveform aligns nowhere (``verify.verify_pair``): onset envelopes tolerate a change of speed, so
the factor found here can be undone and the waveform looked at again in short windows (``undo_speed``): a
drifting copy then aligns on one straight line of local lags (``line_inliers``), an unrelated recording does
not. Signals are float32 mono ``[samples]`` at ``sr``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal

from features.audio import resample
from features.stft import StftParams, stft
from pairing import align
from pairing.config import PairingConfig

ENVELOPE_STFT = StftParams(sample_rate=8192, n_fft=256, hop=64)


def onset_envelope(x: np.ndarray) -> np.ndarray:
    """Spectral flux of the log magnitude, float64 ``[frames]`` at ``sr / 64`` frames per second."""
    mag = np.abs(stft(x, ENVELOPE_STFT))
    mag /= max(float(mag.mean()), 1e-12)
    logmag = np.log1p(10.0 * mag)
    flux = np.maximum(np.diff(logmag, axis=1), 0.0).sum(axis=0)
    return np.concatenate([[0.0], flux])


@dataclass(frozen=True)
class Stretch:
    """The speed change that best lines up two onset envelopes."""

    factor: float  # the instrumental's content lasts ``factor`` times as long as the original's
    correlation: float  # normalised envelope correlation at that factor (0-1)
    correlation_at_1: float  # the same without a speed change
    lag_s: float  # envelope lag at that factor, s, on the time axis of the instrumental sped up by it


def _envelope_peak(eo: np.ndarray, ei: np.ndarray, factor: float, max_lag: int) -> tuple[float, int]:
    """Peak correlation (over ``|lag| <= max_lag``) of ``eo`` with ``ei`` read ``factor`` times faster, and
    its lag (frames). Both are zero-mean, unit-variance; normalised by the full norms, so a partial overlap
    scores less."""
    n = max(2, int(len(ei) / factor))
    w = np.interp(np.arange(n) * factor, np.arange(len(ei)), ei)
    r = scipy.signal.correlate(w, eo, mode="full", method="fft")
    lags = np.arange(len(r)) - (len(eo) - 1)
    keep = np.abs(lags) <= max_lag
    if not keep.any():
        return 0.0, 0
    k = int(np.argmax(r[keep]))
    return float(r[keep][k] / np.sqrt(float(eo @ eo) * float(w @ w) + 1e-30)), int(lags[keep][k])


def _pool(x: np.ndarray, factor: int) -> np.ndarray:
    n = len(x) // factor
    return x[: n * factor].reshape(n, factor).sum(axis=1) if factor > 1 else x


def stretch_search(o: np.ndarray, i: np.ndarray, sr: int, max_stretch: float, max_offset_s: float) -> Stretch:
    """The speed factor within ``1 +- max_stretch`` that best lines up the onset envelopes of ``o`` and ``i``
    (full signals at ``sr``): coarse on envelopes pooled to at most 512 frames, then refined at full
    resolution in steps of a quarter of the coarse step."""
    fps = sr / ENVELOPE_STFT.hop
    eo, ei = onset_envelope(o), onset_envelope(i)

    def normalise(x: np.ndarray) -> np.ndarray:
        return (x - x.mean()) / (x.std() + 1e-12)

    pool = max(1, int(np.ceil(len(eo) / 512)))
    po, pi = normalise(_pool(eo, pool)), normalise(_pool(ei, pool))
    step = 1.0 / max(len(po), 16)
    coarse = np.arange(1.0 - max_stretch, 1.0 + max_stretch + step / 2, step)
    scores = [_envelope_peak(po, pi, f, int(max_offset_s * fps / pool) + 1)[0] for f in coarse]
    best = float(coarse[int(np.argmax(scores))])
    eo, ei = normalise(eo), normalise(ei)
    max_lag = int(max_offset_s * fps)
    fine = best + np.arange(-4, 5) * (step / 4)
    fine_scores = [_envelope_peak(eo, ei, f, max_lag) for f in fine]
    k = int(np.argmax([score for score, _ in fine_scores]))
    return Stretch(float(fine[k]), fine_scores[k][0], _envelope_peak(eo, ei, 1.0, max_lag)[0],
                   fine_scores[k][1] / fps)


def line_inliers(centres: np.ndarray, lags: np.ndarray, tolerance: float) -> tuple[int, float]:
    """The straight line through two of the points ``(centres, lags)`` with the most points within
    ``tolerance`` of it: ``(inliers, slope)``, the slope re-fitted by least squares on its inliers (lag
    units per centre unit; 0 with fewer than two points)."""
    best, best_mask = min(len(lags), 1), None
    for a in range(len(lags)):
        for b in range(a + 1, len(lags)):
            if centres[b] == centres[a]:
                continue
            slope = (lags[b] - lags[a]) / (centres[b] - centres[a])
            mask = np.abs(lags - (lags[a] + slope * (centres - centres[a]))) <= tolerance
            if mask.sum() > best or best_mask is None:
                best, best_mask = int(mask.sum()), mask
    if best_mask is None or best_mask.sum() < 2:
        return best, 0.0
    return best, float(np.polyfit(centres[best_mask], lags[best_mask], 1)[0])


@dataclass(frozen=True)
class SpeedFit:
    """The likeliest change of speed, undone: does the waveform then align?"""

    factor: float  # the instrumental's content lasts ``factor`` times as long as the original's
    inliers: int  # windows whose lags lie on one straight line with the change undone
    windows: int  # windows looked at
    same: bool  # enough inliers, and still a change of speed of at least ``min_stretch``: the same recording


def undo_speed(o: np.ndarray, i: np.ndarray, o_pre: np.ndarray, config: PairingConfig) -> SpeedFit | None:
    """The speed change that best lines up the onset envelopes of ``o`` and ``i`` (``stretch_search``), undone,
    and the waveform looked at again in ``stretch_window_s`` windows around the envelope's lag: the same
    recording then aligns in most of them, on one straight line whose slope is what is left of the speed error
    (the envelope resolves it only to a frame); that is undone too and the windows counted again. ``o_pre``:
    the pre-emphasised original. None when no change of at least ``min_stretch`` lines the envelopes up best."""
    sr = config.align_rate
    stretch = stretch_search(o, i, sr, config.max_stretch, config.max_offset_s)
    if not abs(stretch.factor - 1.0) >= config.min_stretch:
        return None
    factor, window = stretch.factor, int(config.stretch_window_s * sr)
    for attempt in range(2):  # the first look is lenient (a quarter lower peak, twice the tolerance)
        i2 = resample(i, sr, sr / factor)
        w2 = align.window_lags(o_pre, align.preemphasis(i2), stretch.lag_s * sr, window,
                               int(config.window_search_s * sr), config.max_windows, sr)
        ok = w2.confident(config.window_min_correlation * (0.75 if attempt == 0 else 1.0))
        tolerance = config.stretch_tolerance_s * sr * (2 if attempt == 0 else 1)
        inliers, slope = line_inliers(w2.centres_s[ok] * sr, w2.lags[ok], tolerance)
        factor *= 1.0 + slope
    same = (inliers >= max(3, config.stretch_min_window_share * len(w2.lags))
            and abs(factor - 1.0) >= config.min_stretch)
    return SpeedFit(factor, inliers, len(w2.lags), same)
