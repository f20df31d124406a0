"""Align an instrumental with its original and measure how well it explains it.

All signals are float32 mono ``[samples]`` at one rate ``sr`` (the config's ``align_rate``, 8192 Hz by
default). Lags follow the project's convention: ``lag = offset_s * sr`` and ``inst[t + lag] ~= g * acc[t]``.

Steps: a global FFT cross-correlation gives the lag to a fraction of a sample (parabolic interpolation of
the peak); local windows across the song must find the same lag (an edit or a drift makes them disagree);
the instrumental is shifted by the fractional lag in the frequency domain; least squares gives the gain
(re-fitted on the frames where the derived vocal is silent); per-frame energies give the quality measures.
Local lags (``window_lags``, ``peak_lag``) also serve the alignment map's search (``pairing.mapping``) and
the second look after a change of speed (``pairing.stretch``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.signal

#: Pre-emphasis coefficient: whitens music's low-frequency tilt so correlation peaks are sharp.
PREEMPHASIS = 0.95


def preemphasis(x: np.ndarray, coef: float = PREEMPHASIS) -> np.ndarray:
    """``y[n] = x[n] - coef * x[n-1]``, float32 ``[samples]`` (same length; ``y[0] = x[0]``)."""
    y = np.empty_like(x, dtype=np.float32)
    y[0] = x[0]
    np.subtract(x[1:], np.float32(coef) * x[:-1], out=y[1:])
    return y


def _parabolic(y_minus: float, y0: float, y_plus: float) -> float:
    """Offset in (-0.5, 0.5) of the vertex of the parabola through three equally spaced points."""
    denom = y_minus - 2.0 * y0 + y_plus
    if denom >= 0 or not np.isfinite(denom):
        return 0.0
    return float(np.clip(0.5 * (y_minus - y_plus) / denom, -0.5, 0.5))


@dataclass(frozen=True)
class Spectra:
    """Real FFTs of both signals, zero-padded to ``n`` (>= max(len(o), len(i)) + max_lag + 1, so no lag
    within ``+-max_lag`` wraps around): shared by the global correlation and the fractional shift."""

    o: np.ndarray
    i: np.ndarray
    n: int
    len_o: int
    len_i: int
    max_lag: int


def spectra(o: np.ndarray, i: np.ndarray, max_lag: int) -> Spectra:
    max_lag = int(min(max_lag, max(len(o), len(i))))
    n = scipy.fft.next_fast_len(max(len(o), len(i)) + max_lag + 1, real=True)
    return Spectra(scipy.fft.rfft(o, n), scipy.fft.rfft(i, n), n, len(o), len(i), max_lag)


@functools.lru_cache(maxsize=8)
def _emphasis(n: int) -> np.ndarray:
    """``|1 - a e^{-jw}|^2`` on the ``n // 2 + 1`` bins of a real FFT of size ``n``: pre-emphasis of both
    signals, applied to their cross-spectrum. float32, read-only (shared between calls)."""
    w = np.arange(n // 2 + 1) * (2 * np.pi / n)
    out = (1 + PREEMPHASIS**2 - 2 * PREEMPHASIS * np.cos(w)).astype(np.float32)
    out.flags.writeable = False
    return out


def _plain_xcorr(o: np.ndarray, i: np.ndarray, lag: int) -> float:
    """``sum_t o[t] * i[t + lag]`` over the overlap (float32 BLAS dot: ample for locating a peak)."""
    start, stop = max(0, -lag), min(len(o), len(i) - lag)
    if stop <= start:
        return 0.0
    return float(np.dot(o[start:stop], i[start + lag : stop + lag]))


def global_lag(spec: Spectra, o: np.ndarray, i: np.ndarray, min_overlap: int) -> tuple[float, float]:
    """Lag (samples, fractional) of ``i`` against ``o`` (the signals ``spec`` was made from).

    The integer peak of ``|sum_t o[t] * i[t + lag]|`` on pre-emphasised signals (sharp, so the search is
    safe), among lags with ``|lag| <= max_lag`` and at least ``min_overlap`` overlapping samples; then the
    plain correlation within two samples of it, and a parabola through the plain peak (smooth, so the
    fraction is accurate; the pre-emphasised peak can sit a sample off for a fractional lag). The raw (not
    overlap-normalised) correlation favours the lag that explains the most energy, which keeps a loop-based
    song from locking one repetition early or late. Returns ``(lag, peak)``, ``peak`` the pre-emphasised
    correlation divided by both norms (0-1).
    """
    n = spec.n
    emphasis = _emphasis(n)
    r = scipy.fft.irfft(np.conj(spec.o) * spec.i * emphasis, n)
    lo = max(-spec.max_lag, -(spec.len_o - min_overlap))
    hi = min(spec.max_lag, spec.len_i - min_overlap)
    if hi < lo:
        return float("nan"), 0.0
    values = np.abs(_wrapped(r, lo, hi - lo + 1))  # lags lo..hi; a phase-inverted instrumental peaks negative
    best = int(np.argmax(values))
    coarse = lo + best
    norm_o = np.sqrt(np.sum(np.abs(spec.o) ** 2 * emphasis) * 2 / n)
    norm_i = np.sqrt(np.sum(np.abs(spec.i) ** 2 * emphasis) * 2 / n)
    peak = float(values[best] / (norm_o * norm_i)) if norm_o > 0 and norm_i > 0 else 0.0
    near = np.arange(coarse - 4, coarse + 5)
    plain = np.abs([_plain_xcorr(o, i, int(k)) for k in near])
    j = 2 + int(np.argmax(plain[2:-2]))
    return float(near[j]) + _refine(plain[j - 2 : j + 3]), peak


def _refine(y: np.ndarray) -> float:
    """Fractional position in [-0.5, 0.5] of the maximum of a smooth peak sampled at -2..2 (quartic fit)."""
    scale = float(np.max(np.abs(y))) or 1.0
    coef = np.polyfit(np.arange(-2.0, 3.0), y / scale, 4)
    grid = np.linspace(-0.5, 0.5, 1001)
    return float(grid[int(np.argmax(np.polyval(coef, grid)))])


def shifted(spec: Spectra, lag: float) -> np.ndarray:
    """The instrumental shifted onto the original's time axis: ``out[t] = i[t + lag]`` (fractional lag by
    a frequency-domain phase ramp), float32 ``[len(o)]``, zero where the instrumental has no samples."""
    n = spec.n
    whole = int(np.floor(lag))
    phase = np.arange(spec.i.shape[0], dtype=np.float32) * np.float32(2 * np.pi * (lag - whole) / n)
    ramp = np.empty(spec.i.shape[0], np.complex64)  # e^{j w frac}: the fraction here, the whole samples below
    ramp.real = np.cos(phase)
    ramp.imag = np.sin(phase)
    full = scipy.fft.irfft(spec.i * ramp, n)
    out = _wrapped(full, whole, spec.len_o)
    start, stop = overlap(spec.len_o, spec.len_i, lag)
    out[:start] = 0
    out[stop:] = 0
    return out.astype(np.float32, copy=False)


def _wrapped(x: np.ndarray, start: int, count: int) -> np.ndarray:
    """``x[(start + k) % len(x)]`` for ``k < count <= len(x)``: a new array, from two slices (an index array of a
    song's length and its modulo cost more than the values)."""
    k = start % len(x)
    head = x[k : k + count]
    return np.concatenate([head, x[: count - len(head)]])


def overlap(len_o: int, len_i: int, lag: float) -> tuple[int, int]:
    """Sample range ``[start, stop)`` of the original that the instrumental covers at ``lag``."""
    start = int(np.ceil(max(0.0, -lag)))
    stop = int(np.floor(min(float(len_o), len_i - lag)))
    return start, max(start, stop)


def search_ncc(iw: np.ndarray, ow: np.ndarray, ow_energy: float) -> np.ndarray:
    """``|normalised correlation|`` of window ``ow`` with each ``len(ow)``-sample slice of ``iw``:
    float64 ``[len(iw) - len(ow) + 1]``. ``ow_energy = sum(ow**2)``.

    The correlation comes from float32 FFTs, whose rounding leaves about ``1e-6 * |iw| * |ow|`` where the true
    value is 0; a slice too quiet to rise above that (digital silence, e.g. an instrumental's silent intro)
    scores 0, not rounding noise divided by a vanishing norm.
    """
    window = len(ow)
    num = scipy.signal.correlate(iw, ow, mode="valid", method="fft")
    energy = np.concatenate([[0.0], np.cumsum(iw.astype(np.float64) ** 2)])
    den = np.sqrt(np.maximum(energy[window:] - energy[:-window], 0.0) * ow_energy)
    floor = 1e-6 * np.sqrt(energy[-1] * ow_energy)
    return np.where(den > floor, np.abs(num) / np.maximum(den, 1e-300), 0.0)


def peak_lag(iw: np.ndarray, ow: np.ndarray, ow_energy: float, lo: int, p: int) -> tuple[float, float]:
    """Lag (samples, fractional) of the original's window ``ow``, which starts at sample ``p``, searched in
    ``iw``, the instrumental from sample ``lo`` on: the peak of :func:`search_ncc`, refined by a parabola
    through its neighbours; and that peak's ``|normalised correlation|`` (0-1)."""
    ncc = search_ncc(iw, ow, ow_energy)
    best = int(np.argmax(ncc))
    frac = _parabolic(ncc[best - 1], ncc[best], ncc[best + 1]) if 0 < best < len(ncc) - 1 else 0.0
    return lo + best + frac - p, float(ncc[best])


@dataclass(frozen=True)
class WindowLags:
    """Local lags of windows across the overlap. Arrays are ``[windows]``."""

    centres_s: np.ndarray  # window centres in the original, s
    lags: np.ndarray  # local lag, samples (fractional); nan where the window is silent
    peaks: np.ndarray  # peak normalised correlation of the window (0-1); nan where silent

    def confident(self, min_peak: float) -> np.ndarray:
        return np.nan_to_num(self.peaks, nan=0.0) >= min_peak


def window_lags(o_pre: np.ndarray, i_pre: np.ndarray, lag: float, window: int, search: int, max_windows: int,
                sr: int) -> WindowLags:
    """Local lags of up to ``max_windows`` windows of ``window`` samples spread over the overlap, each
    searched ``+-search`` samples around ``lag``, on pre-emphasised signals ``o_pre`` and ``i_pre``."""
    start, stop = overlap(len(o_pre), len(i_pre), lag)
    base = int(round(lag))
    count = int(min(max_windows, max(0, (stop - start) // window)))
    empty = np.empty(0)
    if count == 0:
        return WindowLags(empty, empty, empty)
    positions = np.linspace(start, stop - window, count).astype(int)
    level = float(np.mean(o_pre[start:stop] ** 2)) + 1e-20
    lags = np.full(count, np.nan)
    peaks = np.full(count, np.nan)
    for k, p in enumerate(positions):
        ow = o_pre[p : p + window]
        lo = max(0, p + base - search)
        hi = min(len(i_pre), p + base + window + search)
        iw = i_pre[lo:hi]
        if len(iw) < window + 2 or float(np.mean(ow**2)) < level * 1e-3:
            continue
        lags[k], peaks[k] = peak_lag(iw, ow, float(np.sum(ow.astype(np.float64) ** 2)), lo, p)
    return WindowLags((positions + window / 2) / sr, lags, peaks)


@dataclass(frozen=True)
class WindowCheck:
    """Windows across the overlap, and whether the global lag explains each. Masks are ``[windows]``."""

    centres_s: np.ndarray
    correlation: np.ndarray  # normalised correlation at the global lag (nan: silent window)
    agree: np.ndarray  # the global lag explains the window
    disagree: np.ndarray  # it does not, but another lag within the search range does
    other_lags: np.ndarray  # that lag's distance from the global one, samples (nan elsewhere)

    @property
    def windows(self) -> int:
        return len(self.correlation)


def window_check(o_pre: np.ndarray, s_pre: np.ndarray, i_pre: np.ndarray, lag: float, start: int, stop: int,
                 window: int, search: int, max_windows: int, min_correlation: float, tolerance: float,
                 sr: int) -> WindowCheck:
    """Check up to ``max_windows`` windows of ``window`` samples spread over ``[start, stop)``.

    ``o_pre``: pre-emphasised original; ``s_pre``: pre-emphasised instrumental shifted by ``lag`` onto the
    original's axis; ``i_pre``: pre-emphasised instrumental. A window agrees when its normalised
    correlation at the global lag reaches ``min_correlation``; only the others are searched ``+-search``
    samples around it (cheap for a true pair), and disagree when a lag further than ``tolerance`` reaches it.
    """
    count = int(min(max_windows, max(0, (stop - start) // window)))
    if count == 0:
        empty = np.empty(0)
        return WindowCheck(empty, empty, empty.astype(bool), empty.astype(bool), empty)
    positions = np.linspace(start, stop - window, count).astype(int)
    idx = positions[:, None] + np.arange(window)[None, :]
    ow, sw = o_pre[idx].astype(np.float64), s_pre[idx].astype(np.float64)
    e_o, e_s = np.einsum("ij,ij->i", ow, ow), np.einsum("ij,ij->i", sw, sw)
    corr = np.abs(np.einsum("ij,ij->i", ow, sw)) / np.sqrt(np.maximum(e_o * e_s, 1e-30))
    silent = e_o < 1e-3 * e_o.mean() + 1e-30
    corr[silent] = np.nan
    agree = np.nan_to_num(corr, nan=0.0) >= min_correlation
    disagree = np.zeros(count, bool)
    other = np.full(count, np.nan)
    base = int(round(lag))
    for k in np.flatnonzero(~agree & ~silent):
        p = positions[k]
        lo = max(0, p + base - search)
        hi = min(len(i_pre), p + base + window + search)
        iw = i_pre[lo:hi]
        if len(iw) < window + 2:
            continue
        ncc = search_ncc(iw, o_pre[p : p + window], float(e_o[k]))
        best = int(np.argmax(ncc))
        if ncc[best] >= min_correlation and abs(lo + best - p - lag) > tolerance:
            disagree[k] = True
            other[k] = lo + best - p - lag
    return WindowCheck((positions + window / 2) / sr, corr, agree, disagree, other)


@dataclass(frozen=True)
class Quality:
    """What the aligned instrumental explains of the original (frames of the overlap)."""

    scale: float  # c in o ~= c * shifted(i) + vocal; the instrumental's gain is 1 / c
    alignment_confidence: float
    vocal_free_correlation: float
    vocal_energy_share: float
    vocal_activity: float
    misaligned_share: float
    vocal_free_frames: int
    active_frames: int


def quality(o: np.ndarray, s: np.ndarray, start: int, stop: int, frame: int, vocal_free_db: float,
            silence_db: float) -> Quality:
    """Gain and quality measures of ``o`` against the shifted instrumental ``s`` over ``[start, stop)``.

    Frame energies (``frame`` samples) of ``o``, ``s`` and their product give every measure without
    materialising the derived vocal ``d = o - c * s``: ``E_d = E_o - 2 c E_os + c^2 E_s``.
    """
    nan = float("nan")
    frames = (stop - start) // frame
    if frames < 1:
        return Quality(nan, nan, nan, nan, nan, nan, 0, 0)
    seg_o = o[start : start + frames * frame].astype(np.float64).reshape(frames, frame)
    seg_s = s[start : start + frames * frame].astype(np.float64).reshape(frames, frame)
    e_o = np.einsum("ij,ij->i", seg_o, seg_o)
    e_s = np.einsum("ij,ij->i", seg_s, seg_s)
    e_os = np.einsum("ij,ij->i", seg_o, seg_s)
    active = e_o > e_o.mean() * 10 ** (-silence_db / 10)
    n_active = int(active.sum())
    tot_s = float(e_s.sum())
    if n_active == 0 or tot_s <= 0:
        return Quality(nan, 0.0, 0.0, nan, nan, nan, 0, n_active)

    def derived(c: float) -> np.ndarray:
        return np.maximum(e_o - 2 * c * e_os + c * c * e_s, 0.0)

    # First fit on the frames where the two correlate best (the voice is quietest there, and frames out of
    # step, after an edit, are left out); then re-fit on every frame where the derived vocal is silent.
    rho = np.where(active, np.abs(e_os) / np.sqrt(np.maximum(e_o * e_s, 1e-30)), -1.0)
    best = np.argsort(-rho, kind="stable")[: max(1, int(np.ceil(0.1 * n_active)))]
    c = float(e_os[best].sum() / e_s[best].sum()) if e_s[best].sum() > 0 else float(e_os.sum()) / tot_s
    ratio_limit = 10 ** (-vocal_free_db / 10)
    free = active & (derived(c) <= e_o * ratio_limit)
    if free.sum() >= max(3, 0.1 * n_active) and e_s[free].sum() > 0:
        c = float(e_os[free].sum() / e_s[free].sum())  # re-fit where the voice is silent: no vocal bias
    e_d = derived(c)
    free = active & (e_d <= e_o * ratio_limit)
    n_free = int(free.sum())
    # Correlation where the voice is silent; when it never is, the tenth of frames it is quietest in.
    chosen = free
    if n_free < max(1, 0.1 * n_active):
        ratio = np.where(active, e_d / np.maximum(e_o, 1e-30), np.inf)
        chosen = np.zeros(frames, bool)
        chosen[np.argsort(ratio, kind="stable")[: max(1, int(np.ceil(0.1 * n_active)))]] = True
    sign = 1.0 if c >= 0 else -1.0
    den = np.sqrt(float(e_o[chosen].sum()) * float(e_s[chosen].sum()))
    vfc = sign * float(e_os[chosen].sum()) / den if den > 0 else 0.0
    conf = abs(float(e_os.sum())) / np.sqrt(float(e_o.sum()) * tot_s)
    share = float(e_d[active].sum() / max(float(e_o[active].sum()), 1e-30))
    misaligned = active & (e_d > e_o * 10 ** (1.0 / 10))  # louder after subtracting: out of step there
    return Quality(
        scale=c,
        alignment_confidence=float(conf),
        vocal_free_correlation=float(vfc),
        vocal_energy_share=share,
        vocal_activity=float(1.0 - n_free / n_active),
        misaligned_share=float(misaligned.sum() / n_active),
        vocal_free_frames=n_free,
        active_frames=n_active,
    )
