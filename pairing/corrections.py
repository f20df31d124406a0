"""The level match's corrections, each a model that must earn its place over the plain gain (issue 18).

``x``: the original's STFT magnitudes, ``y``: the aligned instrumental's divided by the main gain, both
``[bins, frames]``. Every correction is read from the per-cell level ratios ``r = 20 log10(x / y)`` (dB) of
the cells that carry the instrumental (within 30 dB of their frame's loudest bin), as a *mode*, not a mean
or a quantile: cells the voice leaves alone sit exactly at the level the instrumental needs there, cells the
voice shares scatter (above it, and below where they interfere), so the mode follows the instrumental and
never the voice, whether or not the song has vocal-free frames (no frame selection, which a correction could
move: cutting the bass made the bass frames look sung, and the low bands were then fitted on bass-free
frames' noise).

The model is ``r(bin, frame) = G[band] + g[frame]``:

- **Band gains** ``G`` (a mastering EQ): per band, the mode of ``r - g`` over all the band's cells, less the
  bands' weighted median (a level common to every band belongs to ``g``). A band's gain is applied only when
  the band holds enough cells (``MIN_BAND_CELLS``, ``MIN_BAND_SHARE``), its modes in time blocks agree (their
  confidence interval excludes 0 dB) and, fitted on alternate blocks, it agrees with more held-out cells than
  0 dB does, both ways. A gain beyond ``max_band_gain_db`` is clipped and reported.
- **A time-varying gain** ``g`` (fades, a bus compressor, a limiter): per frame, the mode of ``r - G``.
  Applied at the frame rate (hop 94 ms: a bus compressor's attack and release), smoothed over about a second,
  or not at all: whichever agrees best with held-out bins (fitted on interleaved blocks of bins, scored on
  the others, both ways); the plain gain stands unless a curve wins by ``CURVE_MARGIN``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from pairing.config import PairingConfig

#: Two-sided 97.5 % Student t quantiles by degrees of freedom (1-7), for the band gains' confidence intervals.
T975 = (12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36)
#: A correction must agree with this much more held-out weight than the simpler model, in both folds.
CURVE_MARGIN = 0.03
BAND_MARGIN = 0.03
#: Per-cell ratios are binned at this step (dB) for the modes, over +-MODE_SPAN_DB (beyond: left out).
MODE_STEP_DB = 0.25
MODE_SPAN_DB = 24.0
#: Smoothing kernel of the histograms (+-0.5 dB).
TRIANGLE = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0
#: A held-out cell agrees with a model when its ratio lies within this (dB) of it.
AGREE_DB = 1.0
#: A band gain needs this many cells carrying the instrumental, and this share of all such cells.
MIN_BAND_CELLS = 64
MIN_BAND_SHARE = 0.002
TIME_BLOCKS = 8


@dataclass(frozen=True)
class BandFit:
    gains_db: np.ndarray  # applied gain per band (0 where rejected), [bands]
    estimate_db: np.ndarray  # fitted gain per band (nan where the band has too few cells), [bands]
    applied: np.ndarray  # bool [bands]
    at_bound: np.ndarray  # bool [bands]: applied, but clipped to +-max_band_gain_db


@dataclass(frozen=True)
class GainFit:
    needed_db: np.ndarray  # [frames]: the gain each frame needs (its mode, lightly smoothed), for the trust mask
    applied_db: np.ndarray  # [frames]: the correction applied (zeros when the plain gain stands)
    kind: str  # "none", "smooth" or "frame"


def log_ratios(x: np.ndarray, y: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell level ratios ``20 log10(x / y)`` (dB) and weights (1 for cells of ``active`` frames carrying
    the instrumental: within 30 dB of the frame's loudest bin of ``y``; else 0), float32 ``[bins, frames]``."""
    peak = y.max(axis=0, keepdims=True)
    carry = (y > peak * np.float32(10 ** (-30 / 20))) & (x > 0) & active[None, :]
    order = "F" if carry.flags.f_contiguous and not carry.flags.c_contiguous else "C"  # memory order (STFT: F)
    cells = np.flatnonzero(carry.ravel(order))
    r = np.zeros(carry.size, np.float32)  # 0 dB where the weight is 0; the logarithm only where it counts
    r[cells] = 20 * np.log10(x.ravel(order)[cells] / y.ravel(order)[cells])
    return r.reshape(carry.shape, order=order), carry.astype(np.float32)


def modes(r: np.ndarray, w: np.ndarray, label: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group of cells (``label``: int, broadcast to ``r``'s shape; ``groups`` of them), the mode (dB) of the
    ratios ``r`` of the cells with weight (``w``: 0 or 1): the peak of their histogram (``MODE_STEP_DB`` steps,
    smoothed over +-0.5 dB, the peak refined by a parabola); and the group's count of cells. ``[groups]`` each;
    the mode is nan for a group without cells."""
    g = int(round(2 * MODE_SPAN_DB / MODE_STEP_DB)) + 1
    # only the cells with weight (often a sixth of them) are binned: taken in memory order, no full-size temporaries
    order = "F" if r.flags.f_contiguous and not r.flags.c_contiguous else "C"
    cells = np.flatnonzero(np.broadcast_to(w, r.shape).ravel(order) > 0)
    idx = r.ravel(order)[cells]
    idx += np.float32(MODE_SPAN_DB)  # the same float32 steps as (r + span) / step + 0.5, in place
    idx *= np.float32(1 / MODE_STEP_DB)
    idx += np.float32(0.5)
    np.clip(idx, 0, g - 1, out=idx)
    cell = idx.astype(np.intp)
    cell += np.broadcast_to(label, r.shape).ravel(order)[cells].astype(np.intp) * g
    hist = np.bincount(cell, minlength=groups * g).reshape(groups, g).astype(np.float64)
    hist[:, 0] = hist[:, -1] = 0.0  # the span's edges gather what lies beyond it: left out
    # a triangular kernel (a box would turn a one-bin spike into a plateau whose left end argmax would pick)
    smooth = scipy.ndimage.correlate1d(hist, TRIANGLE, axis=1, mode="constant")
    total = hist.sum(axis=1)
    best = np.clip(smooth.argmax(axis=1), 1, g - 2)
    rows = np.arange(groups)
    lo, mid, hi = smooth[rows, best - 1], smooth[rows, best], smooth[rows, best + 1]
    curve = lo - 2 * mid + hi
    frac = np.where(curve < 0, 0.5 * (lo - hi) / np.where(curve < 0, curve, -1.0), 0.0)  # parabola's vertex
    mode = (best + np.clip(frac, -0.5, 0.5)) * MODE_STEP_DB - MODE_SPAN_DB
    return np.where(total > 0, mode, np.nan), total


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return 0.0
    order = np.argsort(values[ok])
    cum = np.cumsum(weights[ok][order])
    return float(values[ok][order][np.searchsorted(cum, cum[-1] / 2)])


def _t_interval(values: np.ndarray) -> float:
    """Half width of the 95 % confidence interval of the mean of ``values`` (Student t)."""
    n = len(values)
    return T975[min(n - 2, len(T975) - 1)] * float(values.std(ddof=1)) / np.sqrt(n) if n >= 2 else np.inf


def band_gains(r: np.ndarray, w: np.ndarray, g: np.ndarray, band: np.ndarray, active: np.ndarray,
               config: PairingConfig) -> tuple[BandFit, float]:
    """Band gains (see module doc) of ratios ``r`` (weights ``w``) less the frame gains ``g`` ``[frames]``;
    ``band``: band index per bin. Returns the fit and the level common to every band (dB, for ``g``)."""
    n = int(band.max()) + 1
    dev = r - g[None, :].astype(np.float32)
    estimate, total = modes(dev, w, band[:, None], n)
    common = _weighted_median(estimate, total)
    estimate = estimate - common
    dev -= np.float32(common)
    enough = (total >= MIN_BAND_CELLS) & (total >= MIN_BAND_SHARE * total.sum())
    estimate = np.where(enough, estimate, np.nan)
    frames = np.flatnonzero(active)
    count = int(np.clip(len(frames) // 8, 2, TIME_BLOCKS))
    block = np.full(r.shape[1], -1)
    for j, part in enumerate(np.array_split(frames, count)):
        block[part] = j
    wb = w * (block >= 0)[None, :]
    per_block, block_total = modes(dev, wb, band[:, None] * count + np.maximum(block, 0)[None, :], n * count)
    per_block, block_total = per_block.reshape(n, count), block_total.reshape(n, count)
    bound = config.max_band_gain_db
    gains, applied, at_bound = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
    for b in np.flatnonzero(enough & (np.abs(np.nan_to_num(estimate)) >= config.min_band_gain_db)):
        seen = block_total[b] > 0
        if seen.sum() < 2 or abs(float(np.mean(per_block[b, seen]))) <= _t_interval(per_block[b, seen]):
            continue  # no consistent ratio over time: the plain gain stands
        if not all(_band_helps(dev, wb, band, block, b, per_block[b], seen, fold) for fold in (0, 1)):
            continue  # fitted on half the blocks, it does not explain the other half better than 0 dB
        gains[b], applied[b], at_bound[b] = float(np.clip(estimate[b], -bound, bound)), True, abs(estimate[b]) > bound
    return BandFit(gains, estimate, applied, at_bound), common


def _band_helps(dev: np.ndarray, w: np.ndarray, band: np.ndarray, block: np.ndarray, b: int, per_block: np.ndarray,
                seen: np.ndarray, fold: int) -> bool:
    """Whether band ``b``'s gain fitted on the blocks of parity ``fold`` (the median of their modes) agrees with
    more of the other blocks' cells than 0 dB does (by ``BAND_MARGIN``; a cell agrees within half the gain, at
    most ``AGREE_DB``)."""
    fit = seen & (np.arange(len(per_block)) % 2 == fold)
    if not fit.any():
        return False
    gain = float(np.median(per_block[fit]))
    test = (block >= 0) & (block % 2 != fold)
    d, wt = dev[band == b][:, test], w[band == b][:, test]
    tol = min(AGREE_DB, abs(gain) / 2)  # a cell halfway between the two models agrees with neither
    with_gain = float((wt * (np.abs(d - gain) < tol)).sum())
    plain = float((wt * (np.abs(d) < tol)).sum())
    return with_gain > plain * (1 + BAND_MARGIN)


def frame_gain(r: np.ndarray, w: np.ndarray, full_db: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Each frame's mode of ``r`` ``[bins, frames]`` (dB; its whole energy ratio ``full_db`` where no cell has
    weight; inactive frames follow their neighbours), median-filtered over 3 frames: ``[frames]``."""
    frames = r.shape[1]
    mode, _ = modes(r, w, np.arange(frames)[None, :], frames)
    raw = np.where(np.isfinite(mode), mode, full_db)
    have = active & np.isfinite(raw)
    if have.sum() < 2:
        return np.zeros(frames)
    k = np.arange(frames)
    return scipy.ndimage.median_filter(np.interp(k, k[have], raw[have]), size=3, mode="nearest")


def static_first_gain(r: np.ndarray, w: np.ndarray, band: np.ndarray, full_db: np.ndarray,
                      active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frame gains ``[frames]`` with every band's static level (its mode over the whole song, less the
    bands' weighted median) taken out first: with an EQ, which band's cells a frame's mode follows changes
    from frame to frame (a hi-hat's frames follow the high shelf), so the frame gains alone would carry the EQ
    in and out. The band gains are then fitted (and judged) against these frame gains. Returns the frame
    gains and the static levels ``[bands]`` (0 for a band without cells)."""
    n = int(band.max()) + 1
    est, total = modes(r, w, band[:, None], n)
    est = np.nan_to_num(est - _weighted_median(est, total))
    return frame_gain(r - est[band][:, None].astype(np.float32), w, full_db, active), est


def plain_stands(static: np.ndarray, frame: np.ndarray, active: np.ndarray, config: PairingConfig) -> bool:
    """Whether no correction is worth testing: every band's static level under ``min_band_gain_db`` and the
    frame gains within +-``AGREE_DB`` / 2 in all but 3 % of the active frames (a pair whose instrumental is the
    accompaniment at one gain: the common case pays for no tests)."""
    off = np.abs(frame[active]) > AGREE_DB / 2
    return bool(np.all(np.abs(static) < config.min_band_gain_db) and off.mean() <= 0.03) if active.any() else True


def _smooth(raw: np.ndarray) -> np.ndarray:
    return scipy.ndimage.uniform_filter1d(scipy.ndimage.median_filter(raw, size=9, mode="nearest"), size=5,
                                          mode="nearest")


def _weighted_cells(r: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cells of ``r`` ``[bins, frames]`` with weight: their ratios, weights and frames, ``[cells]`` each."""
    cells = np.flatnonzero(np.broadcast_to(w, r.shape).ravel() > 0)  # row-major: cell = bin * frames + frame
    return r.ravel()[cells], np.broadcast_to(w, r.shape).ravel()[cells], cells % r.shape[1]


def _agreement(cells: tuple[np.ndarray, np.ndarray, np.ndarray], curve: np.ndarray) -> float:
    """Weight of the cells (``_weighted_cells``) whose ratio lies within ``AGREE_DB`` of ``curve`` ``[frames]``
    (only the cells with weight are tested, with the same float32 steps; their 0/1 weights sum to an exact count)."""
    ratio, weight, frames = cells
    return float(weight[np.abs(ratio - curve.astype(np.float32)[frames]) <= AGREE_DB].sum())


def gain_curve(r: np.ndarray, w: np.ndarray, full_db: np.ndarray, active: np.ndarray,
               config: PairingConfig) -> GainFit:
    """The time-varying gain (see module doc) from ratios ``r`` (weights ``w``) with the band gains taken out;
    ``full_db``: each frame's whole energy ratio (dB). The applied curve is clipped to the trust mask's bounds
    (``-max_cut_db``, ``+max_boost_db``): frames beyond them are not trusted anyway."""
    needed = frame_gain(r, w, full_db, active)
    lo, hi = -config.max_cut_db, config.max_boost_db
    zero = np.zeros(len(needed))
    if active.sum() < 8:
        return GainFit(needed, zero, "none")
    fold = ((np.arange(r.shape[0]) // 8) % 2).astype(bool)  # interleaved blocks of 8 bins (a bin leaks into 3)
    wins = {"smooth": True, "frame": True}
    halves = [(r[part], w[part]) for part in (~fold, fold)]
    held_out = [_weighted_cells(*half) for half in halves]
    for k in (0, 1):  # fitted on one half of the bins, scored on the other
        fast = frame_gain(*halves[k], full_db, active)
        plain, smooth, quick = (_agreement(held_out[1 - k], c) for c in (zero, _smooth(fast), fast))
        wins["smooth"] &= smooth > plain * (1 + CURVE_MARGIN)
        wins["frame"] &= quick > max(smooth, plain) * (1 + CURVE_MARGIN)
    if wins["frame"]:
        return GainFit(needed, np.clip(needed, lo, hi), "frame")
    if wins["smooth"]:
        return GainFit(needed, np.clip(_smooth(needed), lo, hi), "smooth")
    return GainFit(needed, zero, "none")
