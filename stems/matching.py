"""Matching the aligned instrumental to the original's accompaniment at the export rate: the frames where the voice
rests, the plain least-squares gain, and the per-frequency complex channel filter of Raffel and Ellis (ICASSP 2014,
"remixavier"), each kept only when frames held out from its fit prefer it to the map's own level (the gain 1 of an
instrumental divided by the map's main gain) and, for the filter, to the plain gain.

Everything is a least-squares fit, so it needs only sums of ``|X|^2``, ``X conj(A)`` and ``|A|^2`` (``X`` the
original's STFT, ``A`` the aligned instrumental's): per frame (``FrameStats``, for gains and the vocal-free
frames) or per bin over a set of frames (``BinSums``, for the filter and its check).

Shapes: STFTs ``[channels, bins, frames]`` complex64; frame masks bool ``[frames]``; per-channel gains
``[channels]``; filters ``[channels, bins]`` complex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A frame whose derived vocal is at most this share of the original's energy may count as vocal-free (-10 dB).
VOCAL_FREE_MAX = 0.1
#: Frames below the mean energy of the usable frames by more than this (dB) are silence: never vocal-free.
SILENCE_DB = 40.0
#: Fewer vocal-free frames than this and nothing but the plain gain is fitted.
MIN_FREE_FRAMES = 16


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Re(conj(a) b)`` summed over bins: ``[channels, frames]`` float64."""
    return (np.einsum("cbt,cbt->ct", a.real, b.real, dtype=np.float64)
            + np.einsum("cbt,cbt->ct", a.imag, b.imag, dtype=np.float64))


@dataclass(frozen=True)
class FrameStats:
    """Per channel and frame ``[channels, frames]``: ``xx = sum_f |X|^2``, ``xa = sum_f Re(conj(X) A)``,
    ``aa = sum_f |A|^2``."""

    xx: np.ndarray
    xa: np.ndarray
    aa: np.ndarray

    @staticmethod
    def of(X: np.ndarray, A: np.ndarray) -> FrameStats:
        return FrameStats(_dot(X, X), _dot(X, A), _dot(A, A))

    def scaled(self, factor: np.ndarray) -> FrameStats:
        """The stats of ``A`` scaled by ``factor`` ``[frames]`` (a slowly varying gain, one value per frame)."""
        return FrameStats(self.xx, self.xa * factor[None, :], self.aa * (factor * factor)[None, :])

    def frame_residual(self, gain: np.ndarray) -> np.ndarray:
        """``|X - g A|^2`` per frame ``[frames]``, channels summed."""
        g = gain[:, None]
        return np.sum(self.xx - 2 * g * self.xa + g * g * self.aa, axis=0)

    def residual(self, gain: np.ndarray, frames: np.ndarray) -> float:
        """``sum |X - g A|^2`` over ``frames``."""
        g = gain[:, None]
        return float(np.sum((self.xx - 2 * g * self.xa + g * g * self.aa)[:, frames]))

    def gain(self, frames: np.ndarray) -> np.ndarray:
        """Per channel, the real gain ``g`` minimising ``|X - g A|^2`` over ``frames`` ``[channels]`` (1 when ``A``
        is silent there)."""
        num, den = self.xa[:, frames].sum(axis=1), self.aa[:, frames].sum(axis=1)
        return np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)

    def residual_ratio(self, gain: np.ndarray) -> np.ndarray:
        """``|X - g A|^2 / |X|^2`` per frame ``[frames]`` (inf where the original is silent)."""
        g = gain[:, None]
        r = np.maximum(self.xx - 2 * g * self.xa + g * g * self.aa, 0.0).sum(axis=0)
        ex = self.xx.sum(axis=0)
        return np.where(ex > 0, r / np.maximum(ex, 1e-30), np.inf)

    def vocal_free(self, gain: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """Frames where the voice rests: usable, not silent, and with the quietest residual ``X - g A`` (within
        1.5 times the lowest fifth's bound, at most ``VOCAL_FREE_MAX``); when that leaves fewer than
        ``MIN_FREE_FRAMES``, the tenth of the usable frames with the quietest residual."""
        ex = self.xx.sum(axis=0)
        if not usable.any():
            return usable
        active = usable & (ex > ex[usable].mean() * 10 ** (-SILENCE_DB / 10))
        if not active.any():
            return active
        r = self.residual_ratio(gain)
        limit = min(float(np.quantile(r[active], 0.2)) * 1.5 + 1e-6, VOCAL_FREE_MAX)
        free = active & (r <= max(limit, 0.003))
        if free.sum() >= MIN_FREE_FRAMES:
            return free
        order = np.argsort(np.where(active, r, np.inf), kind="stable")
        free = np.zeros_like(active)
        free[order[: max(1, int(np.ceil(0.1 * active.sum())))]] = True
        return free & active


def vocal_free_frames(stats: FrameStats, usable: np.ndarray) -> np.ndarray:
    """``FrameStats.vocal_free`` under the plain gain of the usable frames, then again under the plain gain of
    the frames it found (a voice in the first gain's frames pulls it up)."""
    free = stats.vocal_free(stats.gain(usable), usable)
    return stats.vocal_free(stats.gain(free), usable)


@dataclass(frozen=True)
class BinSums:
    """Per channel and bin ``[channels, bins]`` over a set of frames: ``xx = sum_t |X|^2``, ``xa = sum_t X conj(A)``
    (complex), ``aa = sum_t |A|^2``."""

    xx: np.ndarray
    xa: np.ndarray
    aa: np.ndarray

    @staticmethod
    def of(X: np.ndarray, A: np.ndarray, frames: np.ndarray, scale: np.ndarray | None = None) -> BinSums:
        """Sums over ``frames``; ``scale`` ``[frames]``: ``A`` scaled per frame first (a slowly varying gain)."""
        x, a = X[:, :, frames], A[:, :, frames]
        if scale is not None:
            a = a * scale[frames][None, None, :].astype(np.float32)
        return BinSums(np.einsum("cbt,cbt->cb", x.real, x.real, dtype=np.float64)
                       + np.einsum("cbt,cbt->cb", x.imag, x.imag, dtype=np.float64),
                       np.einsum("cbt,cbt->cb", x, a.conj(), dtype=np.complex128),
                       np.einsum("cbt,cbt->cb", a.real, a.real, dtype=np.float64)
                       + np.einsum("cbt,cbt->cb", a.imag, a.imag, dtype=np.float64))

    def __add__(self, other: BinSums) -> BinSums:
        return BinSums(self.xx + other.xx, self.xa + other.xa, self.aa + other.aa)

    def gain(self) -> np.ndarray:
        """The plain least-squares gain per channel ``[channels]``."""
        den = self.aa.sum(axis=1)
        return np.where(den > 0, self.xa.real.sum(axis=1) / np.maximum(den, 1e-30), 1.0)

    def filter(self, relative: float, minimum: int) -> np.ndarray:
        """Raffel and Ellis's least-squares transfer function ``H = smooth(sum X conj(A)) / smooth(sum |A|^2)``,
        smoothed over frequency (``smooth_bins``), ``[channels, bins]``."""
        num, den = smooth_bins(self.xa, relative, minimum), smooth_bins(self.aa, relative, minimum)
        return np.where(den > 0, num / np.maximum(den, 1e-30), 0.0)

    def residual(self, model: np.ndarray) -> float:
        """``sum |X - M A|^2`` over these frames for a filter ``M`` ``[channels, bins]`` or gains ``[channels]``."""
        m = model if model.ndim == 2 else np.broadcast_to(model[:, None], self.aa.shape)
        return float(np.sum(self.xx - 2 * (np.conj(m) * self.xa).real + (m.real**2 + m.imag**2) * self.aa))


def smooth_bins(values: np.ndarray, relative: float, minimum: int) -> np.ndarray:
    """A moving average over frequency bins (last axis) whose half-width grows with the bin, ``max(minimum,
    relative * k)`` bins at bin ``k`` (constant-Q smoothing), edges averaging what they have."""
    bins = values.shape[-1]
    k = np.arange(bins)
    half = np.maximum(minimum, np.round(relative * k)).astype(int)
    lo, hi = np.maximum(k - half, 0), np.minimum(k + half + 1, bins)
    zero = np.zeros(values.shape[:-1] + (1,), values.dtype)
    cs = np.concatenate([zero, np.cumsum(values, axis=-1)], axis=-1)
    return (cs[..., hi] - cs[..., lo]) / (hi - lo)


def holdout_halves(frames: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint masks of the True frames of ``frames``: alternate blocks of ``block`` frames (neighbouring
    frames overlap and share notes: a fit and its check must not see the same sounds)."""
    idx = np.arange(len(frames))
    first = frames & ((idx // block) % 2 == 0)
    return first, frames & ~first


@dataclass(frozen=True)
class FilterChoice:
    """The matching chosen for a pair: ``filter`` ``[channels, bins]`` (None: the per-channel ``gain``
    ``[channels]``), where the gain came from (``gain_source``: ``export``, the plain least-squares gain, or
    ``map``, 1: the map's main gain), with the held-out residuals (dB re the original's energy on those frames)
    that decided it."""

    gain: np.ndarray
    filter: np.ndarray | None
    plain_heldout_db: float
    filter_heldout_db: float
    heldout_frames: int
    gain_source: str = "export"
    map_heldout_db: float = float("nan")


def heldout_db(stats: FrameStats, halves: tuple[np.ndarray, np.ndarray]) -> float:
    """The plain gain's residual on each half when fitted on the other, dB re the original's energy there."""
    res = sum(stats.residual(stats.gain(fit), check) for fit, check in (halves, halves[::-1]))
    ref = float(stats.xx[:, halves[0] | halves[1]].sum())
    return float(10 * np.log10(max(res, 1e-30) / max(ref, 1e-30)))


def choose_filter(X: np.ndarray, A: np.ndarray, free: np.ndarray, block: int, relative: float, minimum: int,
                  min_gain_db: float, scale: np.ndarray | None = None, fit_filter: bool = True) -> FilterChoice:
    """Fit the channel filter and the plain gain on half of the vocal-free frames (alternate blocks) and compare
    their residuals on the other half, both ways round, with the map's own level (gain 1: ``A`` is divided by the
    map's main gain); the plain gain replaces it only when it lowers that held-out residual, and the filter
    (re-fitted on all of them; ``fit_filter``) is kept only when it lowers it below both by at least
    ``min_gain_db`` dB. Too few vocal-free frames: the map's level. ``scale``: a per-frame gain ``[frames]``
    applied to ``A`` first."""
    nan = float("nan")
    halves = holdout_halves(free, block)
    unit = np.ones(X.shape[0])
    if min(int(h.sum()) for h in halves) < MIN_FREE_FRAMES:
        return FilterChoice(unit, None, nan, nan, 0, "map")
    sums = [BinSums.of(X, A, h, scale) for h in halves]
    plain = filt = level = ref = 0.0
    for fit, check in ((sums[0], sums[1]), (sums[1], sums[0])):
        plain += check.residual(fit.gain())
        level += check.residual(unit)
        if fit_filter:
            filt += check.residual(fit.filter(relative, minimum))
        ref += float(check.xx.sum())
    plain_db, map_db = (10 * np.log10(max(v, 1e-30) / max(ref, 1e-30)) for v in (plain, level))
    filt_db = 10 * np.log10(max(filt, 1e-30) / max(ref, 1e-30)) if fit_filter else nan
    both = sums[0] + sums[1]
    source = "export" if plain_db < map_db else "map"
    keep = fit_filter and filt_db <= min(plain_db, map_db) - min_gain_db
    return FilterChoice(both.gain() if source == "export" else unit,
                        both.filter(relative, minimum) if keep else None, float(plain_db), float(filt_db),
                        int(free.sum()), source, float(map_db))


def filter_taps(H: np.ndarray, n_fft: int) -> np.ndarray:
    """A filter ``[channels, bins]`` on an ``n_fft`` grid as an FIR ``[channels, n_fft]``: its impulse response
    (``irfft``) rolled to the middle and tapered by a Hann window; tap ``n_fft // 2`` is lag 0."""
    h = np.fft.irfft(H, n=n_fft, axis=-1)
    h = np.roll(h, n_fft // 2, axis=-1)
    return (h * np.hanning(n_fft + 1)[:-1][None, :]).astype(np.float64)
