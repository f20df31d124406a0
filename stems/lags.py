"""Each segment's lag refined at the export rate (``refine_alignment``): lags of blocks of frames, one line per
segment through them with one slope for all segments (a residual clock drift the 8192 Hz map could not see: one
sample there over a song is five at 44.1 kHz), then, when the slope matters, the instrumental resampled again by it
and the lags refined once more.

The refinement must earn its place (``lag_route``): lines fitted on one half of every block's frames (alternate
runs of ``holdout_block_frames``) are judged on the other half against the map's own route, its lags rounded to
whole samples and no residual drift; when the refined lines do not lower that held-out residual, both ways round,
the map's route is taken. (A clean pair whose lag is a whole number of samples loses 5 to 20 dB to a refinement
0.002 to 0.015 samples off: the sung blocks' lags scatter by a tenth of a sample.)

Shapes: STFTs ``[channels, bins, frames]``; lags in samples at the export rate (``stems.align.Placement``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from features.stft import StftParams
from stems.align import Placement, drift_resampled, lag_correction, placed_spectra
from stems.config import StemsConfig
from stems.matching import FrameStats, vocal_free_frames


@dataclass(frozen=True)
class BlockLag:
    part: int
    time: float  # centre, samples
    lag: float  # correction, samples
    weight: float  # curvature of the correlation at its peak


@dataclass(frozen=True)
class BlockSums:
    """One block of ``lag_block_frames`` frames of segment ``part``, per holdout half ``h`` (alternate runs of
    ``holdout_block_frames`` frames): over its usable frames (the lag fits), ``cross[h]`` ``sum conj(X) A`` per bin
    ``[bins]`` (channels summed), ``time[h]`` their mean centre (samples), ``frames[h]`` their count; over its
    vocal-free frames (the judge), ``free_cross[h]``, and the energies ``xx[h]``, ``aa[h]``."""

    part: int
    cross: tuple[np.ndarray, np.ndarray]
    time: tuple[float, float]
    frames: tuple[int, int]
    free_cross: tuple[np.ndarray, np.ndarray]
    xx: tuple[float, float]
    aa: tuple[float, float]


def block_sums(X: np.ndarray, A: np.ndarray, usable: np.ndarray, free: np.ndarray, energy: np.ndarray,
               parts: list[Placement], params: StftParams, config: StemsConfig) -> list[BlockSums]:
    """The ``BlockSums`` of each block of each segment that holds at least 4 usable frames (``free``: the
    vocal-free ones among them; ``energy``: ``[2, frames]``, each frame's ``|X|^2`` and ``|A|^2``). All usable
    frames count in the fits, the sung ones too: a voice is uncorrelated with the accompaniment, so it adds noise
    to the correlation but does not move its peak (the vocal-free frames of a pair whose lags drift apart are too
    few to measure the drift with). The judge takes the vocal-free frames: over the sung ones the voice's energy
    buries a lag's hundredth of a sample."""
    out = []
    centre = np.arange(X.shape[2]) * params.hop
    half_of = (np.arange(X.shape[2]) // config.holdout_block_frames) % 2
    for k, p in enumerate(parts):
        inside = np.flatnonzero((centre >= p.start) & (centre < p.stop))
        for b0 in range(0, len(inside), config.lag_block_frames):
            idx = inside[b0 : b0 + config.lag_block_frames]
            k0, k1 = int(idx[0]), int(idx[-1]) + 1  # a run of frames: slices, no copies
            if usable[k0:k1].sum() < 4:
                continue
            fit = [usable[k0:k1] & (half_of[k0:k1] == h) for h in (0, 1)]
            masks = np.array(fit + [m & free[k0:k1] for m in fit])  # [4, frames]: fit 0, fit 1, judge 0, judge 1
            per_frame = np.einsum("cbt,cbt->bt", X[:, :, k0:k1].conj(), A[:, :, k0:k1])  # [bins, frames]
            cross = (per_frame @ masks.T.astype(per_frame.dtype)).T  # [4, bins]
            sums = energy[:, k0:k1] @ masks[2:].T  # [2 (xx, aa), 2 (judge halves)]
            out.append(BlockSums(
                k, (cross[0], cross[1]),
                tuple(float(centre[k0:k1][m].mean()) if m.any() else math.nan for m in fit),
                tuple(int(m.sum()) for m in fit), (cross[2], cross[3]),
                (float(sums[0, 0]), float(sums[0, 1])), (float(sums[1, 0]), float(sums[1, 1]))))
    return out


def block_lags(sums: list[BlockSums], params: StftParams, max_lag: float, half: int | None = None
               ) -> list[BlockLag]:
    """The lag correction (within ``+-max_lag`` samples) of each block, from both halves of its frames (``half``
    None) or from one, with the curvature of its correlation peak as its weight; blocks with fewer than 4 frames
    there, or no peak, are left out."""
    out = []
    w = 2 * np.pi * np.arange(params.bins) / params.n_fft
    for s in sums:
        hs = (0, 1) if half is None else (half,)
        frames = sum(s.frames[h] for h in hs)
        if frames < 4:
            continue
        cross = sum(s.cross[h] for h in hs)
        time = sum(s.time[h] * s.frames[h] for h in hs if s.frames[h]) / frames
        tau = lag_correction(cross, params.n_fft, max_lag)
        weight = float((w * w * (cross * np.exp(1j * w * tau)).real).sum())
        if weight > 0:
            out.append(BlockLag(s.part, time, tau, weight))
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


def lag_lines(blocks: list[BlockLag], parts: int, length: int, config: StemsConfig) -> tuple[np.ndarray, float]:
    """``fit_lag_lines`` with a slope; a slope worth less than ``min_drift_samples`` over the song's ``length``
    samples is dropped and the intercepts are refitted without it (an intercept at time 0 under a dropped slope
    would be off by the slope times the song's middle)."""
    icpt, slope = fit_lag_lines(blocks, parts, slope=True)
    if abs(slope * length) < config.min_drift_samples:
        return fit_lag_lines(blocks, parts, slope=False)[0], 0.0
    return icpt, slope


def lag_route(sums: list[BlockSums], parts: list[Placement], length: int, params: StftParams, max_lag: float,
              config: StemsConfig) -> tuple[str, dict]:
    """``export`` when lag lines (``lag_lines``) fitted on one half of the blocks' frames lower the residual
    ``|X - g A|^2`` (``A`` shifted by a linear phase, ``g`` the best common gain) on the other half's vocal-free
    frames, both ways round, below the map's whole-sample lags'; else ``map``. Returns the route and the held-out
    residuals (dB re the original's energy there)."""
    w = 2 * np.pi * np.arange(params.bins) / params.n_fft
    whole = np.array([round(p.lag) - p.lag for p in parts])
    res, ref = {"export": 0.0, "map": 0.0}, 0.0
    for h in (0, 1):
        icpt, slope = lag_lines(block_lags(sums, params, max_lag, half=1 - h), len(parts), length, config)
        judged = [s for s in sums if s.aa[h] > 0]
        xx, aa = sum(s.xx[h] for s in judged), sum(s.aa[h] for s in judged)
        ref += xx
        for name, shift in (("export", lambda s: icpt[s.part] + slope * s.time[h]),
                            ("map", lambda s: whole[s.part])):
            p = sum(float((s.free_cross[h] * np.exp(1j * w * shift(s))).real.sum()) for s in judged)
            res[name] += xx - max(p, 0.0) ** 2 / aa if aa > 0 else xx
    if ref <= 0:
        return "map", {}
    db = {k: round(10 * math.log10(max(v, 1e-30) / ref), 4) for k, v in res.items()}
    return ("export" if res["export"] < res["map"] else "map"), db


@dataclass(frozen=True)
class Refined:
    """The instrumental resampled to the export rate (``src``, ``[channels, samples]``, divided by the main gain),
    the placements, the drift it was resampled with, the residual drift found (samples over the song; 0 when too
    small to correct), the route taken (``export``: refined lags; ``map``: the map's lags rounded to whole
    samples) and the held-out residuals that chose it."""

    src: np.ndarray
    parts: list[Placement]
    drift: float
    residual_drift_samples: float
    route: str = "export"
    heldout_db: dict | None = None


def refine_alignment(X: np.ndarray, inst: np.ndarray, inst_rate: int, src: np.ndarray, parts: list[Placement],
                     usable: np.ndarray, drift: float, gain: float, length: int, params: StftParams,
                     config: StemsConfig) -> Refined:
    """Refine ``parts`` (placements of ``src``, the instrumental ``inst`` at ``inst_rate`` resampled with the map's
    ``drift`` and divided by ``gain``) against the original's STFT ``X`` (``length`` samples) over the ``usable``
    frames, or keep the map's whole-sample lags when the refinement does not earn its place (see the module
    doc)."""
    rate = params.sample_rate
    # How far the map's lags may be off: a fraction of its own sample, plus its drift's error over the song.
    reach = config.max_lag_change * rate / 8192
    wide = reach + (config.drift_error_ppm * 1e-6 * length if abs(drift - 1) > 1e-9 else 0.0)
    A = placed_spectra(src, parts, length, params)[1]
    stats = FrameStats.of(X, A)
    sums = block_sums(X, A, usable, vocal_free_frames(stats, usable), np.stack([stats.xx.sum(0), stats.aa.sum(0)]),
                      parts, params, config)
    del A
    route, heldout = lag_route(sums, parts, length, params, wide, config)
    if route == "map":
        return Refined(src, [replace(p, lag=float(round(p.lag))) for p in parts], drift, 0.0, route, heldout)
    icpt, slope = lag_lines(block_lags(sums, params, wide), len(parts), length, config)
    parts = [replace(p, lag=p.lag + float(icpt[k])) for k, p in enumerate(parts)]
    if slope == 0.0:
        return Refined(src, parts, drift, 0.0, route, heldout)
    drift = drift * (1 + slope)  # resample by the residual drift, then the lags again
    src = drift_resampled(inst, inst_rate, rate, drift) / np.float32(gain)
    parts = [replace(p, lag=p.lag / (1 + slope)) for p in parts]
    none = np.zeros(len(usable), bool)  # lags only: nothing to judge
    sums = block_sums(X, placed_spectra(src, parts, length, params)[1], usable, none, np.zeros((2, len(usable))),
                      parts, params, config)
    icpt, _ = fit_lag_lines(block_lags(sums, params, reach), len(parts), slope=False)
    return Refined(src, [replace(p, lag=p.lag + float(icpt[k])) for k, p in enumerate(parts)], drift,
                   slope * length, route, heldout)
