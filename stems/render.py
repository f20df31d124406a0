"""One pair's waveform stems at the original's own rate and channels (``render_pair``).

1. The instrumental is matched to the original's channels, divided by the pair's main gain (with its polarity)
   and resampled once to the original's rate with the map's clock drift undone (``stems.align``).
2. Each segment is placed on the original's timeline by its lag, refined at the export rate (``refine``): lags
   of blocks of vocal-free frames, one line per segment through them with a slope shared by all segments (a
   residual drift the 8192 Hz map could not see: one sample there over the song is five at 44.1 kHz), then the
   instrumental resampled again by that slope and the lags refined once more.
3. A slowly varying gain (fades, a bus compressor: the map's, or one measured at the export rate) scales it when
   the evidence supports one (``stems.gain``); then the plain least-squares gain or the complex channel filter
   (``stems.matching.choose_filter``, kept on held-out evidence) matches it to the accompaniment.
4. ``vocals = mixture - instrumental`` in the time domain, so the stems sum to the mixture; for a lossy
   instrumental the codec post-filter (``stems.postfilter``) removes the codec's noise from the vocals first, and
   the instrumental is ``mixture - vocals``.

Shapes: ``[channels, samples]`` float32 at the original's rate; STFTs ``[channels, bins, frames]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.fft
import scipy.signal

from features.alignmap import AlignmentMap
from features.audio import Decoded
from features.stft import StftParams
from stems.align import Placement, drift_resampled, lag_correction, match_channels, place, placements
from stems.config import StemsConfig
from stems.postfilter import codec_postfilter
from stems.gain import GainChoice, choose_gain
from stems.items import item_spans
from stems.matching import BinSums, FilterChoice, FrameStats, choose_filter, filter_taps


class RenderError(Exception):
    """A pair that gives no stems; ``reason`` is a short slug for the manifest."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Rendered:
    """A pair's stems on the original's timeline: ``mixture`` (the original as decoded), ``instrumental`` and
    ``vocals`` (``mixture - instrumental``), float32 ``[channels, samples]`` at ``sample_rate``; ``trusted``:
    the sample spans ``[a, b)`` that may be exported; ``measures``: what the fit found (for metadata.json)."""

    mixture: np.ndarray
    instrumental: np.ndarray
    vocals: np.ndarray
    sample_rate: int
    trusted: list[tuple[int, int]]
    measures: dict = field(default_factory=dict)


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


#: The map's slowly varying gain is clipped to this range (dB): beyond it the audio stage trusts no frame anyway.
MAP_GAIN_DB = (-12.0, 12.0)


def slow_gain(amap: AlignmentMap, length: int, rate: int) -> np.ndarray | None:
    """The map's slowly varying gain (dB knots, clipped to ``MAP_GAIN_DB``) as a linear factor per sample
    ``[length]``; None when the map has none."""
    if not amap.gain_db or amap.gain_step_s <= 0:
        return None
    knots = np.arange(len(amap.gain_db)) * amap.gain_step_s
    t = np.arange(length) / rate
    db = np.clip(np.interp(t, knots, np.asarray(amap.gain_db)), *MAP_GAIN_DB)
    return (10 ** (db / 20)).astype(np.float32)


def trusted_spans(amap: AlignmentMap, parts: list[Placement], rate: int) -> list[tuple[int, int]]:
    """Sample spans ``[a, b)`` that are trusted by the map (every covered sample when it has no trust mask) and
    covered by a segment; in time order."""
    covered = [(p.start, p.stop) for p in parts]
    if amap.trusted is None:
        spans = covered
    else:
        spans = []
        for a_s, b_s in amap.trusted:
            a, b = int(math.ceil(a_s * rate)), int(math.floor(b_s * rate))
            for c0, c1 in covered:
                lo, hi = max(a, c0), min(b, c1)
                if hi > lo:
                    spans.append((lo, hi))
    return sorted(spans)


def window_mask(spans: list[tuple[int, int]], frames: int, params: StftParams) -> np.ndarray:
    """Frames whose whole window (centred on ``k * hop``) lies inside one of ``spans``: bool ``[frames]``."""
    centre = np.arange(frames) * params.hop
    half = params.n_fft // 2
    mask = np.zeros(frames, bool)
    for a, b in spans:
        mask |= (centre - half >= a) & (centre + half <= b)
    return mask


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


def _spectra(src: np.ndarray, parts: list[Placement], length: int, params: StftParams
             ) -> tuple[np.ndarray, np.ndarray]:
    aligned = place(src, parts, length)
    return aligned, stft_all(aligned, params)


def lag_corrections(X: np.ndarray, A: np.ndarray, usable: np.ndarray, parts: list[Placement], params: StftParams,
                    config: StemsConfig, max_lag: float, slope: bool) -> tuple[np.ndarray, float]:
    """Per-segment lag corrections (samples) and the residual slope (samples per sample; 0 unless ``slope``) of
    the instrumental whose STFT is ``A`` against the original's ``X`` (``block_lags``, ``fit_lag_lines``)."""
    return fit_lag_lines(block_lags(X, A, usable, parts, params, config, max_lag), len(parts), slope)


def render_pair(original: Decoded, instrumental: Decoded, amap: AlignmentMap, gain: float,
                config: StemsConfig, lossy: bool = False) -> Rendered:
    """The stems of one pair (see the module doc). ``gain``: the pair's main gain with its polarity
    (``features.patches.Alignment.gain``); ``lossy``: the instrumental file is lossy (the codec post-filter,
    ``stems.postfilter``, then cleans the vocals). Raises ``RenderError`` (``no-overlap``,
    ``too-little-trusted``)."""
    rate, mix = original.sample_rate, original.samples
    channels, length = mix.shape
    params = StftParams(rate, config.n_fft, config.n_fft // 4)
    inst = match_channels(instrumental.samples, channels)
    drift = amap.drift
    src = drift_resampled(inst, instrumental.sample_rate, rate, drift) / np.float32(gain)
    parts = placements(amap, rate, length, src.shape[1])
    if not parts:
        raise RenderError("no-overlap", "the alignment map's segments cover none of the original")
    spans = trusted_spans(amap, parts, rate)
    X = stft_all(mix, params)
    # Fit on what may be exported: runs of trusted audio long enough to be items (a short trusted island, e.g.
    # after a fade, says little and can hold a gain the map could not measure).
    usable = window_mask(item_spans(spans, rate, config.min_item_s), X.shape[2], params)
    if not usable.any():
        raise RenderError("too-little-trusted", f"no run of trusted audio of at least {config.min_item_s:g} s")
    curve = slow_gain(amap, length, rate)
    map_lags = [p.lag for p in parts]
    # How far the map's lags may be off: a fraction of its own sample, plus its drift's error over the song.
    reach = config.max_lag_change * rate / 8192
    wide = reach + (config.drift_error_ppm * 1e-6 * length if abs(amap.drift - 1) > 1e-9 else 0.0)
    icpt, slope = lag_corrections(X, _spectra(src, parts, length, params)[1], usable, parts, params, config,
                                  wide, slope=True)
    parts = [replace(p, lag=p.lag + float(icpt[k])) for k, p in enumerate(parts)]
    slope_samples = slope * length
    if abs(slope_samples) >= config.min_drift_samples:  # resample by the residual drift, then the lags again
        drift = drift * (1 + slope)
        src = drift_resampled(inst, instrumental.sample_rate, rate, drift) / np.float32(gain)
        parts = [replace(p, lag=p.lag / (1 + slope)) for p in parts]
        icpt, _ = lag_corrections(X, _spectra(src, parts, length, params)[1], usable, parts, params, config,
                                  reach, slope=False)
        parts = [replace(p, lag=p.lag + float(icpt[k])) for k, p in enumerate(parts)]
    else:
        slope_samples = 0.0
    aligned, A = _spectra(src, parts, length, params)
    centres = np.minimum(np.arange(X.shape[2]) * params.hop, length - 1)
    if config.slow_gain:
        gains = choose_gain(X, A, usable, None if curve is None else curve[centres], config.holdout_block_frames,
                            config.filter_min_gain_db)
    else:
        gains = GainChoice(None, "none", FrameStats.of(X, A).vocal_free(np.ones(channels), usable), {})
    scale, free = gains.curve, gains.free
    if gains.source == "map":
        aligned *= curve[None, :]
    elif gains.source == "export":
        aligned *= np.interp(np.arange(length), centres, gains.curve).astype(np.float32)[None, :]
    if config.channel_filter:
        choice = choose_filter(X, A, free, config.holdout_block_frames, config.filter_smoothing,
                               config.filter_min_bins, config.filter_min_gain_db, scale)
    else:
        choice = FilterChoice(BinSums.of(X, A, free, scale).gain(), None, float("nan"), float("nan"), 0)
    del X, A
    matched = apply_matching(aligned, choice, params.n_fft)
    codec_db = None
    if lossy and config.codec_postfilter:
        vocals, codec_db = codec_postfilter(mix, matched, free, params, config.filter_smoothing,
                                            config.filter_min_bins)
        if codec_db is not None:
            matched = (mix - vocals).astype(np.float32)
    else:
        vocals = (mix - matched).astype(np.float32)
    measures = {
        "sample_rate": rate, "channels": channels, "drift": drift, "drift_refined_ppm": (drift / amap.drift - 1) * 1e6,
        "lags_samples": [round(p.lag, 4) for p in parts],
        "lag_change_samples": [round(p.lag - m, 4) for p, m in zip(parts, map_lags)],
        "residual_drift_samples": round(slope_samples, 4),
        "gain_db": [round(20 * math.log10(max(abs(x), 1e-12)), 4) for x in choice.gain],
        "channel_filter": choice.filter is not None,
        "heldout_residual_db": {"plain": _round(choice.plain_heldout_db), "filter": _round(choice.filter_heldout_db),
                                "frames": choice.heldout_frames},
        "slow_gain": gains.source,
        "slow_gain_evidence": gains.figures,
        "vocal_free_frames": int(free.sum()),
        "codec_postfilter": codec_db is not None,
        "codec_noise_db": None if codec_db is None else round(codec_db, 2),
    }
    return Rendered(mix, matched, vocals, rate, spans, measures)


def _round(x: float) -> float | None:
    return None if not math.isfinite(x) else round(x, 3)


def apply_matching(aligned: np.ndarray, choice: FilterChoice, n_fft: int) -> np.ndarray:
    """The aligned instrumental ``[channels, samples]`` through the chosen matching: the channel filter as an FIR
    (``stems.matching.filter_taps``, delay compensated), else the plain per-channel gain."""
    if choice.filter is None:
        return (aligned * choice.gain[:, None].astype(np.float32)).astype(np.float32)
    taps = filter_taps(choice.filter, n_fft)
    half = n_fft // 2
    out = np.empty_like(aligned)
    for c in range(aligned.shape[0]):
        full = scipy.signal.oaconvolve(aligned[c].astype(np.float64), taps[c], mode="full")
        out[c] = full[half : half + aligned.shape[1]]
    return out
