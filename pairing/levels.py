"""Level match and trust mask of an aligned pair, on the paper's STFT magnitudes.

``x``: the original's magnitudes, ``y``: the aligned instrumental's (already divided by the main gain), both
``[bins, frames]``. The level match is what makes ``y`` equal the original's accompaniment where the voice is
silent:

1. per-band gains (a mastering EQ): the median per-frame energy ratio per band over the frames where the
   derived vocal is silent,
   bounded to +-``max_band_gain_db``, applied as a smooth curve (``features.alignmap.band_curve_db``);
2. a slowly varying gain (fades, a bus compressor, a limiter): per frame, the original-to-instrumental energy
   ratio where the voice is silent; where it sings, the ratio in the bands the voice leaves alone (a low
   quantile over bands, calibrated on the vocal-free frames) and never more than the frame's whole ratio, so
   it can never absorb the voice. Smoothed over about a second.

A frame is trusted when the instrumental covers it, the gain it needs stays within
[-``max_cut_db``, +``max_boost_db``] (a fade to silence, a section the instrumental lacks), and little of the
matched instrumental's energy exceeds the original, and subtracting it (with its phase) leaves no more energy
than the original had (out of step: an edit's boundary, a bar in one release only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from features.alignmap import BAND_EDGES_HZ, AlignmentMap, apply_level, band_of_bins, frame_times
from features.stft import StftParams
from pairing.config import PairingConfig


#: Quantile of the per-frame band ratios (over the vocal-free frames) that gives a band's gain: the median (a low
#: quantile is biased low by a codec's noise and an EQ's frame-to-frame spread: 1.5x the ideal error on the demo).
BAND_QUANTILE = 0.5


@dataclass(frozen=True)
class LevelFit:
    band_gain_db: np.ndarray  # [bands]
    frame_gain_db: np.ndarray  # [frames], smoothed
    trusted: np.ndarray  # bool [frames]
    leakage_db: float  # derived vocal's floor relative to the original in trusted frames (10th percentile), dB
    vocal_free_frames: int


def _band_energy(p: np.ndarray, band: np.ndarray, bands: int) -> np.ndarray:
    """Sum of ``p`` ``[bins, frames]`` per band: ``[bands, frames]``."""
    out = np.zeros((bands, p.shape[1]))
    present = np.unique(band)  # bands are contiguous runs of bins, in order
    starts = np.searchsorted(band, present)
    out[present] = np.add.reduceat(p, starts, axis=0)
    return out


def _vocal_free(x: np.ndarray, y: np.ndarray, ex: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Frames where the derived vocal ``max(0, x - y)`` is quietest: the lowest fifth of the active frames,
    and at most -10 dB of the original."""
    d = np.sum(np.maximum(x - y, 0.0) ** 2, axis=0) / np.maximum(ex, 1e-30)
    if not active.any():
        return active
    limit = min(float(np.quantile(d[active], 0.2)) * 1.5 + 1e-6, 0.1)
    return active & (d <= max(limit, 0.003))


def _column_quantile(values: np.ndarray, q: float) -> np.ndarray:
    """Lower ``q`` quantile (nearest rank) of each column's finite values, ``[columns]`` (0 where none)."""
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    ordered = np.sort(np.where(finite, values, np.inf), axis=0)
    rank = np.floor(q * np.maximum(count - 1, 0)).astype(int)
    out = np.take_along_axis(ordered, rank[None, :], axis=0)[0]
    return np.where(count > 0, out, 0.0)


def fit_levels(xc: np.ndarray, yc: np.ndarray, covered: np.ndarray, stft: StftParams, config: PairingConfig,
               boundaries_s: tuple[float, ...] = ()) -> LevelFit:
    """Band gains, slowly varying gain and trusted frames (see module doc). ``xc``, ``yc``: complex STFTs
    ``[bins, frames]`` of the original and the aligned instrumental; ``covered``: bool ``[frames]``, the frames
    whose whole window the instrumental covers; ``boundaries_s``: segment boundaries (frames within a window of
    one are not trusted)."""
    x, y = np.abs(xc).astype(np.float32), np.abs(yc).astype(np.float32)
    band = band_of_bins(stft, x.shape[0])
    px = x.astype(np.float64) ** 2
    ex = px.sum(axis=0)
    level = float(ex[covered].mean()) if covered.any() else 0.0
    active = covered & (ex > level * 1e-4)
    bx = _band_energy(px, band, len(BAND_EDGES_HZ))
    gains, free, enough = _band_gains(x, y, bx, ex, active, band, stft, config)
    y1 = apply_level(y, AlignmentMap(band_gain_db=tuple(gains)), stft) if np.any(gains) else y
    gain = _frame_gain(bx, ex, y1, band, free, active) if enough else np.zeros(x.shape[1])
    y2 = y1 * (10 ** (gain / 20))[None, :]
    loud = active & (ex > level * 1e-2)  # judge frames with something to judge; quiet ones follow their neighbours
    trusted = covered & ~(loud & _mismatched(xc, yc, x, y, y2, gain, ex, config))
    trusted = _guarded(trusted, covered, boundaries_s, stft)
    d2 = np.sum(np.maximum(x - y2, 0.0) ** 2, axis=0) / np.maximum(ex, 1e-30)
    judged = trusted & active
    leakage = float(10 * np.log10(max(float(np.quantile(d2[judged], 0.1)), 1e-10))) if judged.any() else float("nan")
    return LevelFit(gains, gain, trusted, leakage, int(free.sum()))


def _band_gains(x: np.ndarray, y: np.ndarray, bx: np.ndarray, ex: np.ndarray, active: np.ndarray, band: np.ndarray,
                stft: StftParams, config: PairingConfig) -> tuple[np.ndarray, np.ndarray, bool]:
    """Step 1: per-band gains (dB, ``[bands]``) of magnitudes ``y`` to ``x`` ``[bins, frames]`` (``bx``: the
    original's band energies, ``ex``: its frame energies). Returns the gains, the vocal-free frames (bool
    ``[frames]``, re-selected with the gains applied) and whether there are enough of them to fit on."""
    n_bands = len(BAND_EDGES_HZ)
    py = y.astype(np.float64) ** 2
    gains = np.zeros(n_bands)
    free = _vocal_free(x, y, ex, active)
    enough = free.sum() >= max(8, 0.05 * active.sum())
    for _ in range(2):  # fit, re-select the vocal-free frames with the fitted EQ, fit again
        if not enough:
            break
        by = _band_energy(py, band, n_bands)
        num, den = bx[:, free].sum(axis=1), by[:, free].sum(axis=1)
        ok = (den > 1e-9 * den.sum()) & (num > 0)
        # per band, a low quantile of the per-frame ratios, not the pooled energy ratio: a voice quiet in the
        # whole frame (a reverb tail, a soft line under a dense mix) can still be loud in its own bands and
        # raises their ratio in some frames only; an EQ raises it in every frame
        per_frame = np.where((by[:, free] > 0) & (bx[:, free] > 0),
                             10 * np.log10(np.maximum(bx[:, free], 1e-30) / np.maximum(by[:, free], 1e-30)), np.nan)
        g = np.where(ok, _column_quantile(per_frame.T, BAND_QUANTILE), np.nan)
        if not np.isfinite(g).any():
            break
        idx = np.arange(n_bands)
        g = np.interp(idx, idx[np.isfinite(g)], g[np.isfinite(g)])
        gains = np.clip(g, -config.max_band_gain_db, config.max_band_gain_db)
        y1 = apply_level(y, AlignmentMap(band_gain_db=tuple(gains)), stft)
        free = _vocal_free(x, y1, ex, active)
        enough = free.sum() >= max(8, 0.05 * active.sum())
    return gains, free, enough


def _frame_gain(bx: np.ndarray, ex: np.ndarray, y1: np.ndarray, band: np.ndarray, free: np.ndarray,
                active: np.ndarray) -> np.ndarray:
    """Step 2: the slowly varying gain (dB, ``[frames]``) of the band-matched magnitudes ``y1``: the whole
    frame's ratio where the voice is silent, a low quantile over the bands that carry the instrumental where
    it sings (calibrated on the vocal-free frames); smoothed."""
    frames = y1.shape[1]
    py1 = y1.astype(np.float64) ** 2
    ey1 = py1.sum(axis=0)
    by1 = _band_energy(py1, band, len(BAND_EDGES_HZ))
    full = 10 * np.log10(np.maximum(ex, 1e-30) / np.maximum(ey1, 1e-30))
    significant = by1 > 1e-3 * np.maximum(by1.max(axis=0, keepdims=True), 1e-30)
    ratio = np.where(significant, 10 * np.log10(np.maximum(bx, 1e-30) / np.maximum(by1, 1e-30)), np.nan)
    low = _column_quantile(ratio, 0.1)
    bias = float(np.median((full - low)[free])) if free.sum() >= 8 else 0.0
    raw = np.where(free, full, np.minimum(full, low + bias))
    have = active & np.isfinite(raw) & (ey1 > 0)
    if have.sum() < 2:
        return np.zeros(frames)
    k = np.arange(frames)
    raw = np.interp(k, k[have], raw[have])
    gain = scipy.ndimage.median_filter(raw, size=9, mode="nearest")
    return scipy.ndimage.uniform_filter1d(gain, size=5, mode="nearest")


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
