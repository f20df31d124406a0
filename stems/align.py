"""The instrumental on the original's timeline at the original's own rate: channels matched, the map's clock drift
undone, each segment shifted by a lag refined to a fraction of a sample at that rate.

The pair's alignment map (``features.alignmap``) was fitted at 8192 Hz: its lags are good to about a tenth of a
sample there, half a sample at 44.1 kHz, which leaves the highs out of phase (an error of 0.02 ms is a quarter of
a period at 12 kHz). Here each segment's lag is refined on the export rate's STFT over the frames where the voice
rests: the lag ``tau`` (samples) that maximises ``Re sum_f S(f) exp(j w_f tau)``, with ``S`` the cross-spectrum of
the original and the shifted instrumental, is the band-limited cross-correlation's peak between the samples, and
the least-squares lag of the subtraction.

Also the export rate's STFT (``stft_all``, single precision) and which of its frames lie inside sample spans
(``window_mask``).

Shapes: signals ``[channels, samples]`` float32; STFTs ``[channels, bins, frames]`` complex64; lags in samples at
the export rate (``out[n] = src[n + lag]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft

from features.alignmap import AlignmentMap
from features.audio import resample
from features.stft import StftParams

#: Samples of real neighbouring audio kept on each side of a segment when it is shifted by a fraction of a sample
#: in the frequency domain (the circular wrap's error stays at the far ends, cut off afterwards).
SHIFT_MARGIN = 8192


@dataclass(frozen=True)
class Placement:
    """Where segment ``k`` of a map lands at the export rate: original samples ``[start, stop)`` (clipped to where
    the instrumental has audio) take ``src[n + lag]``."""

    start: int
    stop: int
    lag: float


def match_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """``[c, n]`` -> ``[channels, n]``: the same channels when the counts agree, a mono file repeated, otherwise
    the channel mean repeated (float32)."""
    c = samples.shape[0]
    if c == channels:
        return samples
    mono = samples.mean(axis=0, dtype=np.float32)[None, :] if c > 1 else samples
    return np.ascontiguousarray(np.broadcast_to(mono, (channels, samples.shape[1])), dtype=np.float32)


def drift_resampled(inst: np.ndarray, rate_in: int, rate_out: int, drift: float) -> np.ndarray:
    """The instrumental ``[channels, n]`` resampled once from its own rate to ``rate_out / drift`` (soxr): after
    this its sample ``n + lag`` holds the content of the original's sample ``n`` (see ``placements``)."""
    target = rate_out / drift if abs(drift - 1.0) > 1e-9 else rate_out
    if target == rate_in:
        return inst.astype(np.float32, copy=False)
    return resample(inst, rate_in, target)  # type: ignore[arg-type]  # soxr takes a fractional rate


def placements(amap: AlignmentMap, rate: int, length: int, src_length: int) -> list[Placement]:
    """Each segment of ``amap`` at ``rate``: its original samples (clipped to ``[0, length)`` and to where
    ``src`` of ``src_length`` samples has audio) and its lag ``offset_s / drift * rate``; empty ones dropped."""
    out = []
    for seg in amap.segments:
        a = max(0, int(round(seg.start_s * rate))) if math.isfinite(seg.start_s) else 0
        b = min(length, int(round(seg.end_s * rate))) if math.isfinite(seg.end_s) else length
        lag = seg.offset_s / amap.drift * rate
        a = max(a, int(math.ceil(-lag)))  # src[n + lag] exists: 0 <= n + lag <= src_length - 1
        b = min(b, int(math.floor(src_length - 1 - lag)) + 1)
        if b > a:
            out.append(Placement(a, b, lag))
    return out


def shifted(src: np.ndarray, start: int, stop: int, lag: float) -> np.ndarray:
    """``src[:, n + lag]`` for ``n`` in ``[start, stop)``, float32 ``[channels, stop - start]``: a whole-sample
    slice, then the fraction by a linear phase on the FFT of the slice and ``SHIFT_MARGIN`` samples each side
    (band-limited interpolation; zeros beyond ``src``)."""
    whole = int(math.floor(lag))
    frac = lag - whole
    lo, hi = start + whole - SHIFT_MARGIN, stop + whole + SHIFT_MARGIN
    c, m = src.shape
    piece = np.zeros((c, hi - lo), np.float64)
    a, b = max(lo, 0), min(hi, m)
    if b > a:
        piece[:, a - lo : b - lo] = src[:, a:b]
    if frac > 1e-9:
        n = scipy.fft.next_fast_len(piece.shape[1], real=True)
        spec = scipy.fft.rfft(piece, n=n, axis=1)
        spec *= np.exp(2j * np.pi * np.arange(spec.shape[1]) * frac / n)[None, :]
        piece = scipy.fft.irfft(spec, n=n, axis=1)[:, : hi - lo]
    return piece[:, SHIFT_MARGIN : SHIFT_MARGIN + stop - start].astype(np.float32)


def place(src: np.ndarray, parts: list[Placement], length: int) -> np.ndarray:
    """The instrumental on the original's timeline, float32 ``[channels, length]``, zero where no segment is."""
    out = np.zeros((src.shape[0], length), np.float32)
    for p in parts:
        out[:, p.start : p.stop] = shifted(src, p.start, p.stop, p.lag)
    return out


def lag_correction(cross: np.ndarray, n_fft: int, max_lag: float, step: float = 0.05) -> float:
    """The lag ``tau`` (samples, within ``+-max_lag``) maximising ``C(tau) = Re sum_k cross[k] exp(2j pi k tau /
    n_fft)``: ``cross`` ``[bins]`` is ``sum conj(X) A`` over the chosen frames, so ``A`` advanced by ``tau``
    matches ``X`` best in the least-squares sense. The best whole lag from the inverse FFT of ``cross`` (the
    cross-correlation), then a grid of ``step`` samples within one sample of it, then Newton steps on ``C``."""
    w = 2 * np.pi * np.arange(len(cross)) / n_fft
    corr = np.fft.irfft(np.conj(cross), n=n_fft)  # corr[m] = C(-m) (circular): C(tau) at whole lags
    reach = int(min(np.floor(max_lag), n_fft // 2 - 1))
    lags = np.arange(-reach, reach + 1)
    whole = float(lags[int(np.argmax(corr[(-lags) % n_fft]))])
    grid = np.arange(max(-max_lag, whole - 1), min(max_lag, whole + 1) + step / 2, step)
    term, turn = cross * np.exp(1j * w * grid[0]), np.exp(1j * w * step)  # C on the grid, one rotation a step
    score = np.empty(len(grid))
    for i in range(len(grid)):
        score[i] = term.real.sum()
        term = term * turn
    tau = float(grid[int(np.argmax(score))])
    for _ in range(8):
        e = cross * np.exp(1j * w * tau)
        d1 = float(-(w * e.imag).sum())
        d2 = float(-(w * w * e.real).sum())
        if d2 >= 0:
            break
        new = tau - d1 / d2
        if abs(new - tau) > step:  # Newton left the grid cell: keep the grid's answer
            break
        tau = new
        if abs(d1 / d2) < 1e-6:
            break
    return tau


#: Frames per FFT call of ``stft_all`` (bounds the windowed copy: 1024 x 4096 float32 = 16 MB).
STFT_CHUNK = 1024


def stft_all(signal: np.ndarray, params: StftParams) -> np.ndarray:
    """The STFT of each channel, ``[channels, bins, frames]`` complex64, framed as ``features.stft.stft`` frames
    (frame ``k`` centred on sample ``k * hop``, periodic Hann), in single precision with scipy's FFT (the
    export's fits are least squares over many frames: float32 rounding is far below what they resolve)."""
    channels, n = signal.shape
    half, hop = params.n_fft // 2, params.hop
    frames = params.frames(n)
    window = params.window().astype(np.float32)
    out = np.empty((channels, params.bins, frames), np.complex64)
    for c in range(channels):
        padded = np.concatenate([np.zeros(half, np.float32), signal[c].astype(np.float32, copy=False),
                                 np.zeros(params.n_fft, np.float32)])
        view = np.lib.stride_tricks.sliding_window_view(padded, params.n_fft)[::hop]
        for k0 in range(0, frames, STFT_CHUNK):
            block = view[k0 : k0 + STFT_CHUNK] * window
            out[c, :, k0 : k0 + len(block)] = scipy.fft.rfft(block, axis=1).T
    return out


def window_mask(spans: list[tuple[int, int]], frames: int, params: StftParams) -> np.ndarray:
    """Frames whose whole window (centred on ``k * hop``) lies inside one of ``spans``: bool ``[frames]``."""
    centre = np.arange(frames) * params.hop
    half = params.n_fft // 2
    mask = np.zeros(frames, bool)
    for a, b in spans:
        mask |= (centre - half >= a) & (centre + half <= b)
    return mask


def placed_spectra(src: np.ndarray, parts: list[Placement], length: int, params: StftParams
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The instrumental placed on the original's timeline (``place``) and its STFT (``stft_all``)."""
    aligned = place(src, parts, length)
    return aligned, stft_all(aligned, params)
