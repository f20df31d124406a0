"""Each segment's lag refined at the export rate (``refine_alignment``): lags of blocks of frames, one line per
segment through them with one slope for all segments (a residual clock drift the 8192 Hz map could not see: one
sample there over a song is five at 44.1 kHz), then, when the slope matters, the instrumental resampled again by it
and the lags refined once more.

Shapes: STFTs ``[channels, bins, frames]``; lags in samples at the export rate (``stems.align.Placement``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from features.stft import StftParams
from stems.align import Placement, drift_resampled, lag_correction, placed_spectra
from stems.config import StemsConfig


@dataclass(frozen=True)
class BlockLag:
    part: int
    time: float  # centre, samples
    lag: float  # correction, samples
    weight: float  # curvature of the correlation at its peak


def block_lags(X: np.ndarray, A: np.ndarray, usable: np.ndarray, parts: list[Placement], params: StftParams,
               config: StemsConfig, max_lag: float) -> list[BlockLag]:
    """The lag correction (within ``+-max_lag`` samples) of each block of ``config.lag_block_frames`` consecutive
    frames of each segment that holds at least 4 usable frames, with the curvature of its correlation peak as
    its weight. All usable frames count, the sung ones too: a voice is uncorrelated with the accompaniment, so it
    adds noise to the correlation but does not move its peak (the vocal-free frames of a pair whose lags drift
    apart are too few to measure the drift with)."""
    out = []
    centre = np.arange(X.shape[2]) * params.hop
    w = 2 * np.pi * np.arange(X.shape[1]) / params.n_fft
    for k, p in enumerate(parts):
        inside = np.flatnonzero((centre >= p.start) & (centre < p.stop))
        for b0 in range(0, len(inside), config.lag_block_frames):
            idx = inside[b0 : b0 + config.lag_block_frames]
            k0, k1 = int(idx[0]), int(idx[-1]) + 1  # a run of frames: slices, no copies
            mask = usable[k0:k1].astype(np.float32)
            if mask.sum() < 4:
                continue
            cross = np.einsum("cbt,cbt,t->b", X[:, :, k0:k1].conj(), A[:, :, k0:k1], mask)
            idx = idx[usable[idx]]
            tau = lag_correction(cross, params.n_fft, max_lag)
            weight = float((w * w * (cross * np.exp(1j * w * tau)).real).sum())
            if weight > 0:
                out.append(BlockLag(k, float(centre[idx].mean()), tau, weight))
    return out


def fit_lag_lines(blocks: list[BlockLag], parts: int, slope: bool) -> tuple[np.ndarray, float]:
    """Per-segment corrections (samples at time 0) and one shared slope (samples per sample) by weighted least
    squares through the blocks' lags; blocks off the line by more than three robust deviations are left out and
    the fit redone. A segment without blocks gets 0; without ``slope`` (or blocks in fewer than 2 spots) the
    slope is 0."""
    keep = np.ones(len(blocks), bool)
    icpt, s = np.zeros(parts), 0.0
    for _ in range(2):
        rows = [b for b, k in zip(blocks, keep) if k]
        if not rows:
            return np.zeros(parts), 0.0
        t = np.array([b.time for b in rows])
        use_slope = slope and len(rows) >= 3 and np.ptp(t) > 0
        cols = parts + (1 if use_slope else 0)
        M = np.zeros((len(rows), cols))
        for i, b in enumerate(rows):
            M[i, b.part] = 1.0
            if use_slope:
                M[i, -1] = b.time
        sw = np.sqrt(np.array([b.weight for b in rows]))
        y = np.array([b.lag for b in rows])
        sol = np.linalg.lstsq(M * sw[:, None], y * sw, rcond=None)[0]
        icpt, s = sol[:parts], (float(sol[-1]) if use_slope else 0.0)
        pred = np.array([icpt[b.part] + s * b.time for b in blocks])
        resid = np.abs(np.array([b.lag for b in blocks]) - pred)
        spread = 1.4826 * float(np.median(resid)) if len(resid) else 0.0
        keep = resid <= max(3 * spread, 0.05)
    present = {b.part for b in blocks}
    icpt = np.array([icpt[k] if k in present else 0.0 for k in range(parts)])
    return icpt, s


def lag_corrections(X: np.ndarray, A: np.ndarray, usable: np.ndarray, parts: list[Placement], params: StftParams,
                    config: StemsConfig, max_lag: float, slope: bool) -> tuple[np.ndarray, float]:
    """Per-segment lag corrections (samples) and the residual slope (samples per sample; 0 unless ``slope``) of
    the instrumental whose STFT is ``A`` against the original's ``X`` (``block_lags``, ``fit_lag_lines``)."""
    return fit_lag_lines(block_lags(X, A, usable, parts, params, config, max_lag), len(parts), slope)


@dataclass(frozen=True)
class Refined:
    """The instrumental resampled to the export rate (``src``, ``[channels, samples]``, divided by the main gain),
    the refined placements, the drift it was resampled with, and the residual drift found (samples over the song;
    0 when too small to correct)."""

    src: np.ndarray
    parts: list[Placement]
    drift: float
    residual_drift_samples: float


def refine_alignment(X: np.ndarray, inst: np.ndarray, inst_rate: int, src: np.ndarray, parts: list[Placement],
                     usable: np.ndarray, drift: float, gain: float, length: int, params: StftParams,
                     config: StemsConfig) -> Refined:
    """Refine ``parts`` (placements of ``src``, the instrumental ``inst`` at ``inst_rate`` resampled with the map's
    ``drift`` and divided by ``gain``) against the original's STFT ``X`` (``length`` samples) over the ``usable``
    frames (see the module doc)."""
    rate = params.sample_rate
    # How far the map's lags may be off: a fraction of its own sample, plus its drift's error over the song.
    reach = config.max_lag_change * rate / 8192
    wide = reach + (config.drift_error_ppm * 1e-6 * length if abs(drift - 1) > 1e-9 else 0.0)
    icpt, slope = lag_corrections(X, placed_spectra(src, parts, length, params)[1], usable, parts, params, config,
                                  wide, slope=True)
    parts = [replace(p, lag=p.lag + float(icpt[k])) for k, p in enumerate(parts)]
    if abs(slope * length) < config.min_drift_samples:
        return Refined(src, parts, drift, 0.0)
    drift = drift * (1 + slope)  # resample by the residual drift, then the lags again
    src = drift_resampled(inst, inst_rate, rate, drift) / np.float32(gain)
    parts = [replace(p, lag=p.lag / (1 + slope)) for p in parts]
    icpt, _ = lag_corrections(X, placed_spectra(src, parts, length, params)[1], usable, parts, params, config,
                              reach, slope=False)
    return Refined(src, [replace(p, lag=p.lag + float(icpt[k])) for k, p in enumerate(parts)], drift,
                   slope * length)
