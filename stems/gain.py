"""The slowly varying gain of an export: none, the alignment map's (fitted at 8192 Hz), or one measured here at the
export rate; each must earn its place, because a gain that wobbles by tenths of a dB where nothing changes costs a
clean pair its last 10 dB.

- The map's curve (``features.alignmap``: dB knots) is kept when the plain gain's residual on held-out vocal-free
  frames is lower with it (a fade).
- The export-rate curve: per STFT frame, the weighted median over channels and bins of ``Re(X conj(A)) / |A|^2``
  (weights ``|A|^2``), median-filtered over ``SMOOTH_FRAMES`` frames. A voice, independent of the accompaniment,
  scatters the per-bin ratios symmetrically about the true gain, so the median follows a bus compressor that rides
  on the voice (the vocal-free frames never see it) without taking the voice in.
- A curve measured on the same frames it is judged on would always look better, so the curves are compared on
  held-out frequencies: the bins fall into alternate bands of ``BAND_BINS`` bins; a curve estimated on one set is
  judged on the other (the gain of a compressor or a fade is the same at every frequency). A curve is chosen when
  it lowers that residual, block by block, by ``MIN_T`` standard errors over no curve (a t statistic), the lowest
  residual winning.

On the demo corpus the export-rate curve takes a bus-compressed pair from 13.5 to 28.8 dB SDR (the map's curve:
18.1), and a fade from 13.9 to 62.6 (the map's: 58.4).

Shapes: STFTs ``[channels, bins, frames]``; curves ``[frames]`` (linear factors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from stems.matching import MIN_FREE_FRAMES, FrameStats, heldout_db, holdout_halves, vocal_free_frames

#: Bins per band of the alternation between estimating and judging a curve.
BAND_BINS = 32
#: Frames of the median filter of the export-rate curve (about 0.2 s at 44.1 kHz, hop 1024).
SMOOTH_FRAMES = 9
#: A curve is kept when it lowers the held-out residual by this many standard errors (blocks of frames): the map's
#: by 4 (on clean pairs of the demo corpus its t reaches 1.6, on an EQ pair 3.1); the export-rate curve by 2 (its
#: estimation noise only adds to a residual, so on clean pairs its t stays below 0).
MIN_T = {"map": 4.0, "export": 2.0}


def framewise_gain(X: np.ndarray, A: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Per frame, the ``|A|^2``-weighted median of ``Re(X conj(A)) / |A|^2`` over channels and ``bins`` (bool
    ``[bins]``), median-filtered over ``SMOOTH_FRAMES`` frames; frames where ``A`` is silent take their
    neighbours' value (1 when all are). ``[frames]``."""
    x, a = X[:, bins, :], A[:, bins, :]
    w = (a.real**2 + a.imag**2).astype(np.float32)
    r = (x.real * a.real + x.imag * a.imag) / np.maximum(w, 1e-30)
    frames = X.shape[2]
    r = np.moveaxis(r, 2, 0).reshape(frames, -1)
    w = np.moveaxis(w, 2, 0).reshape(frames, -1)
    order = np.argsort(r, axis=1)
    rs, ws = np.take_along_axis(r, order, 1), np.take_along_axis(w, order, 1)
    cw = np.cumsum(ws, axis=1, dtype=np.float64)
    total = cw[:, -1]
    pick = np.minimum((cw < total[:, None] / 2).sum(axis=1), rs.shape[1] - 1)
    est = rs[np.arange(frames), pick].astype(np.float64)
    ok = total > 0
    if not ok.any():
        return np.ones(frames)
    est = np.interp(np.arange(frames), np.flatnonzero(ok), est[ok])
    return scipy.ndimage.median_filter(est, SMOOTH_FRAMES, mode="nearest")


def band_sets(bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Two complementary bin masks ``[bins]``: alternate bands of ``BAND_BINS`` bins."""
    first = (np.arange(bins) // BAND_BINS) % 2 == 0
    return first, ~first


def _band_residual(X: np.ndarray, A: np.ndarray, bins: np.ndarray, curve: np.ndarray, gain: np.ndarray
                   ) -> np.ndarray:
    """``|X - g c_t A|^2`` per frame over ``bins``, channels summed ``[frames]``."""
    stats = FrameStats.of(X[:, bins, :], A[:, bins, :]).scaled(curve)
    return stats.frame_residual(gain)


def _t(gain_per_frame: np.ndarray, ref_per_frame: np.ndarray, usable: np.ndarray, block: int) -> float:
    """t statistic of the per-block residual reduction ``gain_per_frame`` (relative to ``ref_per_frame``)."""
    idx = np.flatnonzero(usable)
    blocks = idx // block
    red = np.bincount(blocks, gain_per_frame[idx])
    ref = np.bincount(blocks, ref_per_frame[idx])
    share = red[ref > 0] / ref[ref > 0]
    if len(share) < 3:
        return 0.0
    return float(share.mean() / max(share.std(ddof=1) / np.sqrt(len(share)), 1e-30))


@dataclass(frozen=True)
class GainChoice:
    """The chosen curve (``None``: none) ``[frames]``, its source (``none``, ``map``, ``export``), the vocal-free
    frames under it, and the figures that decided (for metadata.json)."""

    curve: np.ndarray | None
    source: str
    free: np.ndarray
    figures: dict


def _fade_evidence(stats: FrameStats, curve: np.ndarray, free: np.ndarray, usable: np.ndarray, block: int,
                   min_gain_db: float, figures: dict) -> bool:
    """Whether the plain gain's residual on held-out vocal-free frames is lower by ``min_gain_db`` dB with the
    map's ``curve`` (a fade: there the vocal-free frames see the curve)."""
    curved = stats.scaled(curve)
    halves = holdout_halves(vocal_free_frames(curved, usable) | free, block)
    if min(int(h.sum()) for h in halves) < MIN_FREE_FRAMES:
        return False
    with_db, without_db = heldout_db(curved, halves), heldout_db(stats, halves)
    figures.update(map_heldout_db=round(with_db, 3), none_heldout_db=round(without_db, 3))
    return with_db <= without_db - min_gain_db


def choose_gain(X: np.ndarray, A: np.ndarray, usable: np.ndarray, map_curve: np.ndarray | None, block: int,
                min_gain_db: float) -> GainChoice:
    """Choose the slowly varying gain (see the module doc). ``map_curve``: the map's curve at each frame
    ``[frames]`` (None when it has none or it is not wanted); ``block``: frames per block of the held-out
    alternation and of the t statistic; ``min_gain_db``: how much the map's curve must lower the held-out
    vocal-free residual."""
    stats = FrameStats.of(X, A)
    free = vocal_free_frames(stats, usable)
    g = stats.gain(free)
    ones = np.ones(X.shape[2])
    sets = band_sets(X.shape[1])
    base = sum(_band_residual(X, A, s, ones, g) for s in sets)
    figures: dict = {}
    candidates: dict[str, np.ndarray] = {} if map_curve is None else {"map": map_curve}
    held = [framewise_gain(X, A, s) for s in sets]  # estimated on one set, judged on the other
    unit = np.ones(X.shape[0])  # the export-rate curve holds the gain itself
    residuals = {"export": _band_residual(X, A, sets[0], held[1], unit) + _band_residual(X, A, sets[1], held[0], unit)}
    if map_curve is not None:
        residuals["map"] = sum(_band_residual(X, A, s, map_curve, stats.scaled(map_curve).gain(free)) for s in sets)
    scores = {"none": float(base[usable].sum())}
    for name, res in residuals.items():
        t = _t(base - res, stats.xx.sum(axis=0), usable, block)
        figures[f"{name}_t"] = round(t, 2)
        if t >= MIN_T[name] or (name == "map" and _fade_evidence(stats, map_curve, free, usable, block, min_gain_db,
                                                             figures)):
            scores[name] = float(res[usable].sum())
    source = min(scores, key=lambda k: scores[k])
    if source == "export":
        candidates["export"] = framewise_gain(X, A, np.ones(X.shape[1], bool))
    curve = candidates.get(source)
    chosen = stats if curve is None else stats.scaled(curve)
    return GainChoice(curve, source, vocal_free_frames(chosen, usable), figures)
