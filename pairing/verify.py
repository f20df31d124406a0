"""The per-pair verdict: decode-once file preparation and the pure function that judges one candidate.

``prepare_audio`` turns a file into what every check needs (mono at the alignment rate, its fingerprint,
clipping, content hash); ``verify_pair`` compares two prepared files and returns one verdict row (a dict with
the audio columns of ``catalog_schemas.PAIRS`` and the reason). Neither touches any other file or table.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from features.alignmap import AlignmentMap, Segment, aligned_instrumental, frame_times, spans_of
from features.audio import AudioError, decode, resample
from features.patches import valid_frames
from features.stft import PAPER_STFT, StftParams
from features.stft import stft as stft_of
from pairing import align
from pairing.levels import fit_levels
from pairing.mapping import fit_map
from pairing.config import PairingConfig
from pairing.fingerprint import CHROMAPRINT_RATE, ITEM_SECONDS, FingerprintCache, similarity

log = logging.getLogger(__name__)

#: Audio columns of a verdict row (the rest of a PAIRS row comes from the candidate).
VERDICT_COLUMNS = (
    "status", "reason", "detail", "offset_s", "gain_db", "polarity", "fingerprint_similarity",
    "alignment_confidence", "vocal_free_correlation", "vocal_energy_share", "vocal_activity", "clipping",
    "original_sha1", "instrumental_sha1", "original_seconds", "instrumental_seconds",
    "alignment_map", "segments", "drift_ppm", "usable_s", "leakage_db",
)


@dataclass(frozen=True)
class PreparedAudio:
    """One decoded file, reduced to what the checks need. ``mono``: float32 ``[samples]`` at ``rate``."""

    path: str
    mono: np.ndarray
    rate: int
    seconds: float  # decoded duration, s
    content_sha1: str  # SHA-1 of ``mono``'s bytes: equal for files with the same decoded audio
    fingerprint: np.ndarray  # raw chromaprint, uint32 [items] (empty when chromaprint refused the audio)
    clipping: float  # share of samples (all channels, native rate) at or above the clip level
    rms_db: float  # mono RMS, dBFS


@dataclass
class PrepareStats:
    """Seconds spent per step and audio seconds decoded (the benchmark reads them)."""

    decode_s: float = 0.0
    resample_s: float = 0.0
    fingerprint_s: float = 0.0
    audio_s: float = 0.0
    files: int = 0


def prepare_audio(path: str, file_sha1: str, fingerprints: FingerprintCache, config: PairingConfig,
                  stats: PrepareStats | None = None, clock: Callable[[], float] | None = None) -> PreparedAudio:
    """Decode ``path`` once and derive the mono signal, fingerprint (cached under ``file_sha1``) and levels.

    Raises ``AudioError`` with reason ``missing-file``, ``unreadable`` or ``silent``.
    """
    import time

    clock = clock or time.perf_counter
    t0 = clock()
    decoded = decode(path)
    t1 = clock()
    samples = decoded.samples
    peak_hits = np.count_nonzero(samples >= config.clip_level) + np.count_nonzero(samples <= -config.clip_level)
    clipping = peak_hits / samples.size
    native_mono = decoded.mono()
    seconds = decoded.seconds
    rate = decoded.sample_rate
    del decoded, samples
    mono = resample(native_mono, rate, config.align_rate)
    t2 = clock()
    rms = float(np.sqrt(np.mean(mono.astype(np.float64) ** 2))) if len(mono) else 0.0
    rms_db = 20 * np.log10(max(rms, 1e-12))
    if stats is not None:
        stats.decode_s += t1 - t0
        stats.resample_s += t2 - t1
        stats.audio_s += seconds
        stats.files += 1
    if rms_db < config.silent_rms_db:
        raise AudioError("silent", f"{path}: RMS {rms_db:.1f} dBFS < {config.silent_rms_db:g}")
    content_sha1 = hashlib.sha1(mono.tobytes()).hexdigest()

    def at_chromaprint_rate() -> np.ndarray:
        return resample(native_mono, rate, CHROMAPRINT_RATE)

    try:
        fp = fingerprints.get_or_compute(file_sha1, at_chromaprint_rate)
    except Exception as exc:  # chromaprint refuses some audio (a fraction of a second): no fingerprint
        log.debug("no fingerprint for %s: %s", path, exc)
        fp = np.zeros(0, np.uint32)
    if stats is not None:
        stats.fingerprint_s += clock() - t2
    return PreparedAudio(os.fspath(path), mono, config.align_rate, seconds, content_sha1, fp, float(clipping),
                         float(rms_db))


def _empty_verdict() -> dict[str, Any]:
    return {c: None for c in VERDICT_COLUMNS}


def _rejected(reason: str, detail: str, **values: Any) -> dict[str, Any]:
    row = _empty_verdict()
    row.update(status="rejected", reason=reason, detail=detail, **values)
    return row


def _too_short(side: str, audio: PreparedAudio, catalog_s: float | None, config: PairingConfig) -> str | None:
    if audio.seconds < config.min_seconds:
        return f"{side}: {audio.seconds:.2f} s decoded < {config.min_seconds:g} s"
    if catalog_s is not None and np.isfinite(catalog_s) and audio.seconds < config.too_short_ratio * catalog_s:
        return f"{side}: {audio.seconds:.2f} s decoded, catalog says {catalog_s:.2f} s"
    return None


def verify_pair(candidate: dict[str, Any], original: PreparedAudio | AudioError | None,
                instrumental: PreparedAudio | AudioError | None, config: PairingConfig) -> dict[str, Any]:
    """One verdict row for ``candidate`` (a CANDIDATES row as a dict) given its two prepared files.

    A side is ``None`` when the catalog gives no audio path, an ``AudioError`` when the file could not be
    prepared. Returns a dict with :data:`VERDICT_COLUMNS`; ``reason`` is '' when accepted.
    """
    measured: dict[str, Any] = {}
    for side, audio in (("original", original), ("instrumental", instrumental)):
        if isinstance(audio, PreparedAudio):  # what is known of a good side is kept, even if the other is bad
            measured.update({f"{side}_sha1": audio.content_sha1, f"{side}_seconds": audio.seconds})
    for side, audio in (("original", original), ("instrumental", instrumental)):
        if audio is None:
            return _rejected("no-audio-path", f"{side}: the catalog gives no audio_path", **measured)
        if isinstance(audio, AudioError):
            return _rejected(audio.reason, f"{side}: {audio.detail or audio.reason}", **measured)
    assert isinstance(original, PreparedAudio) and isinstance(instrumental, PreparedAudio)
    measured["clipping"] = max(original.clipping, instrumental.clipping)
    for side, audio, catalog_s in (
        ("original", original, candidate.get("original_duration_s")),
        ("instrumental", instrumental, candidate.get("instrumental_duration_s")),
    ):
        problem = _too_short(side, audio, catalog_s, config)
        if problem:
            return _rejected("too-short", problem, **measured)

    sr = config.align_rate
    fp_sim, _fp_shift = (float("nan"), 0)
    if len(original.fingerprint) and len(instrumental.fingerprint):
        fp_sim, _fp_shift = similarity(original.fingerprint, instrumental.fingerprint,
                                       max_shift=int(np.ceil(config.max_offset_s / ITEM_SECONDS)))
    measured["fingerprint_similarity"] = fp_sim

    if original.content_sha1 == instrumental.content_sha1:
        return _rejected("same-content", "the instrumental decodes to the original's exact audio",
                         offset_s=0.0, gain_db=0.0, polarity=1, alignment_confidence=1.0,
                         vocal_free_correlation=1.0, vocal_energy_share=0.0, vocal_activity=0.0, **measured)

    o, i = original.mono, instrumental.mono
    spec = align.spectra(o, i, int(config.max_offset_s * sr))
    min_overlap = int(min(len(o), len(i), config.min_seconds * sr))
    lag, _peak = align.global_lag(spec, o, i, min_overlap)
    if not np.isfinite(lag):
        return _rejected("low-confidence", "no offset leaves enough overlap", **measured)
    start, stop = align.overlap(len(o), len(i), lag)
    s = align.shifted(spec, lag)
    del spec
    q = align.quality(o, s, start, stop, int(config.frame_s * sr), config.vocal_free_db, config.frame_silence_db)

    c = q.scale
    gain_db = float(-20 * np.log10(abs(c))) if np.isfinite(c) and c != 0 else None
    measured.update(
        offset_s=lag / sr,
        gain_db=gain_db,
        polarity=(1 if c >= 0 else -1) if np.isfinite(c) else None,
        alignment_confidence=q.alignment_confidence,
        vocal_free_correlation=q.vocal_free_correlation,
        vocal_energy_share=q.vocal_energy_share,
        vocal_activity=q.vocal_activity,
    )

    # Same content: the instrumental explains the whole original, the parts it does not cover included.
    total = float(np.dot(o, o)) or 1e-30
    uncovered = (float(np.dot(o[:start], o[:start])) + float(np.dot(o[stop:], o[stop:]))) / total
    if (np.isfinite(q.vocal_energy_share) and q.vocal_energy_share <= config.same_content_max_vocal_share
            and uncovered <= config.same_content_max_vocal_share):
        return _rejected("same-content",
                         f"derived vocal holds {q.vocal_energy_share:.4f} of the energy "
                         f"(<= {config.same_content_max_vocal_share:g}): the instrumental is the original",
                         **measured)

    o_pre, i_pre = align.preemphasis(o), align.preemphasis(i)
    # at least four windows, shorter ones (down to a quarter second) when the overlap is short
    window = int(max(min(config.window_s * sr, (stop - start) / 4), 0.25 * sr))
    windows = align.window_check(o_pre, align.preemphasis(s), i_pre, lag, start, stop, window,
                                 int(config.window_search_s * sr), config.max_windows, config.window_min_correlation,
                                 config.drift_tolerance_s * sr, sr)
    n_agree, n_disagree = int(windows.agree.sum()), int(windows.disagree.sum())
    n_conf = n_agree + n_disagree
    windows_disagree = n_disagree > 0
    amap = AlignmentMap(1.0, (Segment(0.0, len(o) / sr, lag / sr),))
    # One offset does not explain every window (a drift, an edit): search the alignment map. A pair whose
    # windows all agree never pays for this search. Nor does one offset when (almost) no window agrees with it:
    # a clock drift smears the global correlation's peak over its whole range of lags (90 samples for 0.05 %
    # over 22 s), and on loop-based music another beat's peak can then win; the map's local windows, searched
    # +-map_search_s, find the true lags (an unrelated recording finds no map and keeps its verdict below).
    if (((n_disagree > 0 or q.misaligned_share > config.map_trigger_misaligned)
            and (n_agree >= config.min_agreeing_windows or n_disagree >= config.drift_min_windows))
            or n_agree < config.min_agreeing_windows):
        fit = fit_map(o_pre, i_pre, lag, sr, config)
        if fit.amap is not None:
            amap = fit.amap
            q, start, stop = _measure_map(o, i, amap, measured, config)
            n_disagree = 0  # the map explains the windows that disagreed with one offset
            windows_disagree = False
            n_agree = max(n_agree, fit.segment_windows)
    if n_disagree >= config.drift_min_windows and n_disagree >= config.drift_min_share * n_conf:
        worst = float(np.nanmax(np.abs(windows.other_lags))) / sr
        return _rejected("drift", f"{n_disagree} of {n_conf} matching windows are off the global offset by up "
                                  f"to {worst * 1000:.1f} ms", **measured)

    if n_agree < config.min_agreeing_windows:
        tried = ""
        stretch = align.stretch_search(o, i, sr, config.max_stretch, config.max_offset_s)
        if abs(stretch.factor - 1.0) >= config.min_stretch:
            # Undo the speed change and look again in short windows around the envelope's lag: the same
            # recording then aligns in most of them, on one straight line whose slope is what is left of the
            # speed error (the envelope resolves it only to a frame); undo that too and count again.
            factor, window = stretch.factor, int(config.stretch_window_s * sr)
            for attempt in range(2):
                i2 = resample(i, sr, sr / factor)
                w2 = align.window_lags(o_pre, align.preemphasis(i2), stretch.lag_s * sr, window,
                                       int(config.window_search_s * sr), config.max_windows, sr)
                ok = w2.confident(config.window_min_correlation * (0.75 if attempt == 0 else 1.0))
                tolerance = config.stretch_tolerance_s * sr * (2 if attempt == 0 else 1)
                inliers, slope = align.line_inliers(w2.centres_s[ok] * sr, w2.lags[ok], tolerance)
                factor *= 1.0 + slope
            same = (inliers >= max(3, config.stretch_min_window_share * len(w2.lags))
                    and abs(factor - 1.0) >= config.min_stretch)
            if same and abs(factor - 1.0) <= config.max_drift:
                # a clock drift small enough to be real (another transfer): resample and align again
                i2 = resample(i, sr, sr / factor)
                spec2 = align.spectra(o, i2, int(config.max_offset_s * sr))
                lag2, _ = align.global_lag(spec2, o, i2, min_overlap)
                if np.isfinite(lag2):
                    amap = AlignmentMap(factor, (Segment(0.0, len(o) / sr, factor * lag2 / sr),))
                    q, start, stop = _measure_map(o, i, amap, measured, config)
                    windows_disagree, n_agree = False, inliers
            elif same:
                return _rejected("drift", f"the instrumental runs {100 * (factor - 1):+.2f} % longer: "
                                          f"with that undone the waveform aligns in {inliers} of {len(w2.lags)} "
                                          f"windows, without it in {n_agree} of {windows.windows}", **measured)
            tried = (f"; undoing the likeliest speed change ({100 * (factor - 1):+.2f} %) aligns "
                     f"{inliers} of {len(w2.lags)} windows")
        if n_agree < config.min_agreeing_windows:
            return _rejected("different-recording", f"the waveform aligns in {n_agree} of {windows.windows} "
                                                    f"windows (need {config.min_agreeing_windows}){tried}", **measured)

    if q.alignment_confidence < config.min_alignment_confidence:
        return _rejected("different-recording", f"alignment confidence {q.alignment_confidence:.3f} < "
                                                f"{config.min_alignment_confidence:g}", **measured)
    if not q.vocal_free_correlation >= config.min_vocal_free_correlation:
        return _rejected("different-recording", f"vocal-free correlation {q.vocal_free_correlation:.3f} < "
                                                f"{config.min_vocal_free_correlation:g}", **measured)
    # Out of step in many frames: a drift when windows saw another lag (and no map explained them); otherwise
    # (a section in one release only) the trust mask below leaves those frames out, or rejects the pair.
    if q.misaligned_share > config.misaligned_max_share and windows_disagree:
        return _rejected("drift", f"the aligned instrumental is out of step in {q.misaligned_share:.0%} of the "
                                  f"frames (> {config.misaligned_max_share:.0%})", **measured)
    coverage = (stop - start) / len(o)
    if coverage < config.min_coverage:
        return _rejected("low-confidence", f"the instrumental covers {coverage:.0%} of the original "
                                           f"(< {config.min_coverage:.0%})", **measured)
    if not (np.isfinite(q.scale) and q.scale != 0):
        return _rejected("low-confidence", "no gain fits the aligned instrumental", **measured)
    return _level_and_trust(o, i, amap, q.scale, measured, config)


def _measure_map(o: np.ndarray, i: np.ndarray, amap: AlignmentMap, measured: dict[str, Any],
                 config: PairingConfig) -> tuple[align.Quality, int, int]:
    """Quality measures of the instrumental aligned by ``amap``; fills ``measured`` (offset and gain of the main,
    longest, segment). Returns (quality, start, stop): the sample range the instrumental covers."""
    sr = config.align_rate
    s, spans = aligned_instrumental(i, sr, amap, 1.0, len(o))
    start, stop = (min(a for a, _ in spans), max(b for _, b in spans)) if spans else (0, 0)
    q = align.quality(o, s, start, stop, int(config.frame_s * sr), config.vocal_free_db, config.frame_silence_db)
    main = max(amap.segments, key=lambda seg: seg.end_s - seg.start_s)
    c = q.scale
    measured.update(
        offset_s=main.offset_s, gain_db=float(-20 * np.log10(abs(c))) if np.isfinite(c) and c != 0 else None,
        polarity=(1 if c >= 0 else -1) if np.isfinite(c) else None,
        alignment_confidence=q.alignment_confidence, vocal_free_correlation=q.vocal_free_correlation,
        vocal_energy_share=q.vocal_energy_share, vocal_activity=q.vocal_activity,
        segments=len(amap.segments), drift_ppm=(amap.drift - 1.0) * 1e6)
    return q, start, stop


def _level_and_trust(o: np.ndarray, i: np.ndarray, amap: AlignmentMap, c: float, measured: dict[str, Any],
                     config: PairingConfig) -> dict[str, Any]:
    """Level match and trust mask of an aligned pair on the paper's STFT (``pairing.levels``); the verdict row:
    accepted with the full alignment map, or ``too-little-trusted``."""
    sr = config.align_rate
    stft = PAPER_STFT if sr == PAPER_STFT.sample_rate else StftParams(sample_rate=sr)
    y_sig, spans = aligned_instrumental(i, sr, amap, 1.0 / c, len(o))  # what the shard builder will compute
    x, y = stft_of(o, stft)[:-1], stft_of(y_sig, stft)[:-1]  # the paper's 512 bins (Nyquist dropped)
    covered = np.zeros(x.shape[1], bool)
    for span in spans:
        k0, k1 = valid_frames(span, len(o), stft)
        covered[k0:k1] = True
    bounds = tuple(seg.start_s for seg in amap.segments[1:])
    fit = fit_levels(x, y, covered, stft, config, bounds)
    step = config.gain_step_s
    knots = np.arange(0.0, len(o) / sr + step, step)
    curve = np.interp(knots, frame_times(x.shape[1], stft), fit.frame_gain_db)
    flat = np.all(np.abs(curve) < 0.05)
    amap = AlignmentMap(amap.drift, amap.segments,
                        tuple(float(g) for g in fit.band_gain_db) if np.any(np.abs(fit.band_gain_db) >= 0.05) else (),
                        0.0 if flat else step, () if flat else tuple(float(g) for g in curve),
                        spans_of(fit.trusted, stft))
    usable = float(fit.trusted.sum()) * stft.hop / sr
    measured.update(alignment_map=amap.to_json(), segments=len(amap.segments), drift_ppm=(amap.drift - 1.0) * 1e6,
                    usable_s=usable, leakage_db=fit.leakage_db if np.isfinite(fit.leakage_db) else None)
    if usable < config.min_trusted_share * len(o) / sr:
        return _rejected("too-little-trusted", f"{usable:.1f} s of the original's {len(o) / sr:.1f} s are trusted "
                                               f"(< {config.min_trusted_share:.0%}): the aligned, level-matched "
                                               "instrumental does not match the accompaniment elsewhere", **measured)
    row = _empty_verdict()
    row.update(status="accepted", reason="", detail="", **measured)
    return row
