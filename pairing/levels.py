"""Level match and trust mask of an aligned pair, on the paper's STFT magnitudes.

``x``: the original's magnitudes, ``y``: the aligned instrumental's (already divided by the main gain), both
``[bins, frames]``. The level match makes ``y`` equal the original's accompaniment where the voice is silent,
with corrections that must each earn their place over the plain gain (``pairing.corrections``): per-band
gains (a mastering EQ) and a time-varying gain (fades, a bus compressor, a limiter) at the frame rate or
smoothed, both read as modes of the per-cell level ratios (which follow the instrumental, not the voice).

A frame is trusted when the instrumental covers it, the gain it needs stays within
[-``max_cut_db``, +``max_boost_db``] (a fade to silence, a section the instrumental lacks), and little of the
matched instrumental's energy exceeds the original, and subtracting it (with its phase) leaves no more energy
than the original had (out of step: an edit's boundary, a bar in one release only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from features.alignmap import band_curve_db, band_of_bins, frame_times
from features.stft import StftParams
from pairing.config import PairingConfig
from pairing.corrections import (BandFit, GainFit, band_gains, gain_curve, log_ratios, plain_stands,
                                 static_first_gain)


@dataclass(frozen=True)
class LevelFit:
    bands: BandFit
    gain: GainFit
    trusted: np.ndarray  # bool [frames]
    leakage_db: float  # derived vocal's floor relative to the original in trusted frames (10th percentile), dB
    matched: np.ndarray  # float32 [bins, frames]: the level-matched instrumental's magnitudes
    active: np.ndarray  # bool [frames]: covered frames with something to judge
    original: np.ndarray  # float32 [bins, frames]: the original's magnitudes
    ratios: tuple[np.ndarray, np.ndarray]  # the matched pair's level ratios (dB) and weights, [bins, frames]

    @property
    def band_gain_db(self) -> np.ndarray:
        return self.bands.gains_db

    @property
    def frame_gain_db(self) -> np.ndarray:
        return self.gain.applied_db

    @property
    def corrections(self) -> str:
        """What the level match applied, space-separated: ``eq`` (band gains), ``gain-smooth`` or ``gain-frame``
        (time-varying gain), ``at-bound`` (a band gain clipped to its bound); '' when the plain gain stands."""
        words = (["eq"] if self.bands.applied.any() else []) + (
            [f"gain-{self.gain.kind}"] if self.gain.kind != "none" else []) + (
            ["at-bound"] if self.bands.at_bound.any() else [])
        return " ".join(words)


def fit_levels(xc: np.ndarray, yc: np.ndarray, covered: np.ndarray, stft: StftParams, config: PairingConfig,
               boundaries_s: tuple[float, ...] = ()) -> LevelFit:
    """Band gains, time-varying gain and trusted frames (see module doc). ``xc``, ``yc``: complex STFTs
    ``[bins, frames]`` of the original and the aligned instrumental; ``covered``: bool ``[frames]``, the frames
    whose whole window the instrumental covers; ``boundaries_s``: segment boundaries (frames within a window of
    one are not trusted)."""
    x, y = np.abs(xc).astype(np.float32, copy=False), np.abs(yc).astype(np.float32, copy=False)
    band = band_of_bins(stft, x.shape[0])
    ex = np.sum(x.astype(np.float64) ** 2, axis=0)
    level = float(ex[covered].mean()) if covered.any() else 0.0
    active = covered & (ex > level * 1e-4)
    r, w = log_ratios(x, y, active)
    ey = np.sum(y.astype(np.float64) ** 2, axis=0)
    full_db = 10 * np.log10(np.maximum(ex, 1e-30) / np.maximum(ey, 1e-30))
    frame, static = static_first_gain(r, w, band, full_db, active)
    y1 = y
    if plain_stands(static, frame, active, config):  # the common case: nothing to correct, no tests to pay for
        n = len(static)
        bands = BandFit(np.zeros(n), static, np.zeros(n, bool), np.zeros(n, bool))
        gain = GainFit(frame, np.zeros(len(frame)), "none")
    else:
        bands, _ = band_gains(r, w, frame, band, active, config)
        if bands.applied.any():
            curve = band_curve_db(tuple(bands.gains_db), stft, x.shape[0]).astype(np.float32)
            y1 = y * (10 ** (curve / 20))[:, None]
            r = r - curve[:, None]
            full_db = 10 * np.log10(np.maximum(ex, 1e-30)
                                    / np.maximum(np.sum(y1.astype(np.float64) ** 2, axis=0), 1e-30))
        gain = gain_curve(r, w, full_db, active, config)
    y2 = y1
    if gain.kind != "none":
        y2 = y1 * (10 ** (gain.applied_db / 20)).astype(np.float32)[None, :]
        r = r - gain.applied_db[None, :].astype(np.float32)
    loud = active & (ex > level * 1e-2)  # judge frames with something to judge; quiet ones follow their neighbours
    trusted = covered & ~(loud & _mismatched(xc, yc, x, y, y2, gain.needed_db, ex, config))
    trusted = _guarded(trusted, covered, boundaries_s, stft)
    d2 = np.sum(np.maximum(x - y2, 0.0) ** 2, axis=0) / np.maximum(ex, 1e-30)
    judged = trusted & active
    leakage = float(10 * np.log10(max(float(np.quantile(d2[judged], 0.1)), 1e-10))) if judged.any() else float("nan")
    return LevelFit(bands, gain, trusted, leakage, y2, active, x, (r, w))


def _mismatched(xc: np.ndarray, yc: np.ndarray, x: np.ndarray, y: np.ndarray, y2: np.ndarray, gain: np.ndarray,
                ex: np.ndarray, config: PairingConfig) -> np.ndarray:
    """Frames (bool ``[frames]``) where the level-matched magnitudes ``y2`` do not explain the original: a gain
    out of bounds, too much energy above the original, or (out of step) subtracting the matched instrumental
    with its phase leaves more than the original had."""
    py2 = y2.astype(np.float64) ** 2
    excess = np.sum(np.maximum(y2 - x, 0.0) ** 2, axis=0) / np.maximum(py2.sum(axis=0), 1e-30)
    factor = (y2 / np.maximum(y, 1e-30)).astype(np.float32)
    residual = np.sum(np.abs(xc - factor * yc) ** 2, axis=0) / np.maximum(ex, 1e-30)
    return ((gain > config.max_boost_db) | (gain < -config.max_cut_db)
            | (excess > config.max_excess_share) | (residual > config.max_residual_ratio))


def _guarded(trusted: np.ndarray, covered: np.ndarray, boundaries_s: tuple[float, ...], stft: StftParams) -> np.ndarray:
    """``trusted`` without the frames within a window of a segment boundary, nor the neighbours of an untrusted
    covered frame (they share half its window)."""
    t = frame_times(len(trusted), stft)
    guard = stft.n_fft / stft.sample_rate
    for b in boundaries_s:
        trusted &= np.abs(t - b) > guard
    return trusted & ~scipy.ndimage.binary_dilation(covered & ~trusted, iterations=1)
