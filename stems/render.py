"""One pair's waveform stems at the original's own rate and channels (``render_pair``).

1. The instrumental is matched to the original's channels, divided by the pair's main gain (with its polarity)
   and resampled once to the original's rate with the map's clock drift undone (``stems.align``).
2. Each segment is placed on the original's timeline by its lag, refined at the export rate
   (``stems.lags.refine_alignment``: lags of blocks of frames, one line per segment with one slope for a residual
   drift, the instrumental resampled again when the slope matters), or by the map's lag rounded to whole samples
   when the refinement does not beat it on held-out frames.
3. A slowly varying gain (fades, a bus compressor: the map's, or one measured at the export rate) scales it when
   the evidence supports one (``stems.gain``); then the map's level, the plain least-squares gain or the complex
   channel filter (``stems.matching.choose_filter``, each fitted one kept only on held-out evidence) matches it to
   the accompaniment.
4. ``vocals = mixture - instrumental`` in the time domain, so the stems sum to the mixture; for a lossy
   instrumental the codec post-filter (``stems.postfilter``) removes the codec's noise from the vocals first, and
   the instrumental is ``mixture - vocals``.

Shapes: ``[channels, samples]`` float32 at the original's rate; STFTs ``[channels, bins, frames]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.signal

from features.alignmap import AlignmentMap
from features.audio import Decoded
from features.stft import StftParams
from stems.align import (Placement, drift_resampled, match_channels, placed_spectra, placements, stft_all,
                         window_mask)
from stems.config import StemsConfig
from stems.gain import GainChoice, choose_gain
from stems.items import item_spans
from stems.lags import refine_alignment
from stems.matching import FilterChoice, FrameStats, choose_filter, filter_taps
from stems.postfilter import codec_postfilter


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


def _matched(X: np.ndarray, A: np.ndarray, aligned: np.ndarray, usable: np.ndarray, curve: np.ndarray | None,
             params: StftParams, config: StemsConfig) -> tuple[np.ndarray, GainChoice, FilterChoice]:
    """The aligned instrumental ``[channels, samples]`` (STFT ``A``) matched to the original (STFT ``X``): the
    slowly varying gain chosen (``stems.gain``; ``curve``: the map's, per sample), then the channel filter or the
    plain gain (``stems.matching.choose_filter``). Returns (matched, the gain's choice, the filter's choice)."""
    channels, length = aligned.shape
    centres = np.minimum(np.arange(X.shape[2]) * params.hop, length - 1)
    if config.slow_gain:
        gains = choose_gain(X, A, usable, None if curve is None else curve[centres], config.holdout_block_frames,
                            config.filter_min_gain_db)
    else:
        gains = GainChoice(None, "none", FrameStats.of(X, A).vocal_free(np.ones(channels), usable), {})
    if gains.source == "map":
        aligned = aligned * curve[None, :]
    elif gains.source == "export":
        aligned = aligned * np.interp(np.arange(length), centres, gains.curve).astype(np.float32)[None, :]
    choice = choose_filter(X, A, gains.free, config.holdout_block_frames, config.filter_smoothing,
                           config.filter_min_bins, config.filter_min_gain_db, gains.curve, config.channel_filter)
    return apply_matching(aligned, choice, params.n_fft), gains, choice


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
    src = drift_resampled(inst, instrumental.sample_rate, rate, amap.drift) / np.float32(gain)
    parts = placements(amap, rate, length, src.shape[1])
    if not parts:
        raise RenderError("no-overlap", "the alignment map's segments cover none of the original")
    spans = trusted_spans(amap, parts, rate)
    if not item_spans(spans, rate, config.min_item_s):
        raise RenderError("too-little-trusted", f"no run of trusted audio of at least {config.min_item_s:g} s")
    X = stft_all(mix, params)
    # Fit on every trusted frame, the runs too short to be items too: they show the same lags and level, and a
    # bus compressor's ride may lie mostly there (the map trusts those frames; it no longer invents a level).
    usable = window_mask(spans, X.shape[2], params)
    refined = refine_alignment(X, inst, instrumental.sample_rate, src, parts, usable, amap.drift, gain, length,
                               params, config)
    aligned, A = placed_spectra(refined.src, refined.parts, length, params)
    matched, gains, choice = _matched(X, A, aligned, usable, slow_gain(amap, length, rate), params, config)
    del X, A, aligned
    codec_db = None
    if lossy and config.codec_postfilter:
        vocals, codec_db = codec_postfilter(mix, matched, gains.free, params, config.filter_smoothing,
                                            config.filter_min_bins)
        if codec_db is not None:
            matched = (mix - vocals).astype(np.float32)
    else:
        vocals = (mix - matched).astype(np.float32)
    measures = {
        "sample_rate": rate, "channels": channels, "drift": refined.drift,
        "drift_refined_ppm": (refined.drift / amap.drift - 1) * 1e6,
        "lag_route": refined.route,
        "lag_heldout_db": refined.heldout_db,
        "lags_samples": [round(p.lag, 4) for p in refined.parts],
        "lag_change_samples": [round(p.lag - m.lag, 4) for p, m in zip(refined.parts, parts)],
        "residual_drift_samples": round(refined.residual_drift_samples, 4),
        "gain_db": [round(20 * math.log10(max(abs(x), 1e-12)), 4) for x in choice.gain],
        "gain_source": choice.gain_source,
        "channel_filter": choice.filter is not None,
        "heldout_residual_db": {"map": _round(choice.map_heldout_db), "plain": _round(choice.plain_heldout_db),
                                "filter": _round(choice.filter_heldout_db), "frames": choice.heldout_frames},
        "slow_gain": gains.source,
        "slow_gain_evidence": gains.figures,
        "vocal_free_frames": int(gains.free.sum()),
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
