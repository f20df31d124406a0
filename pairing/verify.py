"""The per-pair verdict: the pure function that judges one candidate from its two prepared files.

``verify_pair`` compares two ``PreparedAudio`` (``pairing.prepare``) and returns one verdict row (a dict with
the audio columns of ``catalog_schemas.PAIRS`` and the reason); it touches no other file or table. Its steps,
each of which may reject the pair, in order: the files themselves (no path, unreadable, silent, too short);
the same decoded audio; one global offset and the quality measures it gives (``pairing.align``); the same
content (the instrumental explains the whole original); windows across the song that must agree with the
offset, else an alignment map (``pairing.mapping``); when nothing aligns, an undone change of speed
(``pairing.stretch``); the verdict thresholds; the level match and trust mask (``pairing.levels``); the
target-quality estimate (``pairing.quality``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from features.alignmap import AlignmentMap, Segment, aligned_instrumental, frame_times, spans_of
from features.audio import AudioError, resample
from features.patches import valid_frames
from features.stft import PAPER_STFT, StftParams
from features.stft import stft as stft_of
from pairing import align
from pairing.config import PairingConfig
from pairing.fingerprint import ITEM_SECONDS, similarity
from pairing.levels import fit_levels
from pairing.mapping import fit_map
from pairing.prepare import PreparedAudio
from pairing.quality import estimate
from pairing.stretch import SpeedFit, undo_speed

#: Audio columns of a verdict row (the rest of a PAIRS row comes from the candidate).
VERDICT_COLUMNS = (
    "status", "reason", "detail", "offset_s", "gain_db", "polarity", "fingerprint_similarity",
    "alignment_confidence", "vocal_free_correlation", "vocal_energy_share", "vocal_activity", "clipping",
    "original_sha1", "instrumental_sha1", "original_seconds", "instrumental_seconds",
    "alignment_map", "segments", "drift_ppm", "usable_s", "leakage_db", "level_corrections", "target_error",
)


class _Rejection(Exception):
    """A step's finding that the pair is rejected: the row's ``reason`` and ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


@dataclass
class _Alignment:
    """How the instrumental lines up so far (the map search and the speed step update it). ``lag``: the global
    offset, samples; ``q``: quality measures of the instrumental aligned by ``amap`` over the samples
    ``[start, stop)`` of the original it covers; ``n_agree``: windows that agree with it; ``windows_disagree``:
    windows saw another lag that no map explains."""

    lag: float
    amap: AlignmentMap
    q: align.Quality
    start: int
    stop: int
    n_agree: int = 0
    windows_disagree: bool = False


def _empty_verdict() -> dict[str, Any]:
    return {c: None for c in VERDICT_COLUMNS}


def _rejected(reason: str, detail: str, **values: Any) -> dict[str, Any]:
    row = _empty_verdict()
    row.update(status="rejected", reason=reason, detail=detail, **values)
    return row


def verify_pair(candidate: dict[str, Any], original: PreparedAudio | AudioError | None,
                instrumental: PreparedAudio | AudioError | None, config: PairingConfig) -> dict[str, Any]:
    """One verdict row for ``candidate`` (a CANDIDATES row as a dict) given its two prepared files.

    A side is ``None`` when the catalog gives no audio path, an ``AudioError`` when the file could not be
    prepared. Returns a dict with :data:`VERDICT_COLUMNS`; ``reason`` is '' when accepted.
    """
    measured: dict[str, Any] = {}  # the row's measures, filled step by step; a rejection keeps them
    try:
        original, instrumental = _usable_files(candidate, original, instrumental, measured, config)
        measured["fingerprint_similarity"] = _fingerprint_similarity(original, instrumental, config)
        _same_decoded_audio(original, instrumental, measured)
        o, i = original.mono, instrumental.mono
        a, shifted = _global_alignment(o, i, measured, config)
        _same_content(o, shifted, a, config)
        o_pre, i_pre = align.preemphasis(o), align.preemphasis(i)
        windows = _windows_or_map(o, i, o_pre, i_pre, align.preemphasis(shifted), a, measured, config)
        del shifted
        if a.n_agree < config.min_agreeing_windows:
            _speed_change(o, i, o_pre, a, windows, measured, config)
        _verdict_thresholds(o, a, config)
        return _level_and_trust(o, i, a.amap, a.q.scale, measured, config)
    except _Rejection as rejection:
        return _rejected(rejection.reason, rejection.detail, **measured)


def _too_short(side: str, audio: PreparedAudio, catalog_s: float | None, config: PairingConfig) -> str | None:
    if audio.seconds < config.min_seconds:
        return f"{side}: {audio.seconds:.2f} s decoded < {config.min_seconds:g} s"
    if catalog_s is not None and np.isfinite(catalog_s) and audio.seconds < config.too_short_ratio * catalog_s:
        return f"{side}: {audio.seconds:.2f} s decoded, catalog says {catalog_s:.2f} s"
    return None


def _usable_files(candidate: dict[str, Any], original: PreparedAudio | AudioError | None,
                  instrumental: PreparedAudio | AudioError | None, measured: dict[str, Any],
                  config: PairingConfig) -> tuple[PreparedAudio, PreparedAudio]:
    """Both sides prepared and long enough (``no-audio-path``, the file's own reason, ``too-short``)."""
    sides = (("original", original), ("instrumental", instrumental))
    for side, audio in sides:
        if isinstance(audio, PreparedAudio):  # what is known of a good side is kept, even if the other is bad
            measured.update({f"{side}_sha1": audio.content_sha1, f"{side}_seconds": audio.seconds})
    for side, audio in sides:
        if audio is None:
            raise _Rejection("no-audio-path", f"{side}: the catalog gives no audio_path")
        if isinstance(audio, AudioError):
            raise _Rejection(audio.reason, f"{side}: {audio.detail or audio.reason}")
    assert isinstance(original, PreparedAudio) and isinstance(instrumental, PreparedAudio)
    measured["clipping"] = max(original.clipping, instrumental.clipping)
    for side, audio, catalog_s in (
        ("original", original, candidate.get("original_duration_s")),
        ("instrumental", instrumental, candidate.get("instrumental_duration_s")),
    ):
        problem = _too_short(side, audio, catalog_s, config)
        if problem:
            raise _Rejection("too-short", problem)
    return original, instrumental


def _fingerprint_similarity(original: PreparedAudio, instrumental: PreparedAudio, config: PairingConfig) -> float:
    """Chromaprint similarity (0-1) within ``+-max_offset_s``; nan when either side has no fingerprint."""
    if not (len(original.fingerprint) and len(instrumental.fingerprint)):
        return float("nan")
    sim, _shift = similarity(original.fingerprint, instrumental.fingerprint,
                             max_shift=int(np.ceil(config.max_offset_s / ITEM_SECONDS)))
    return sim


def _same_decoded_audio(original: PreparedAudio, instrumental: PreparedAudio, measured: dict[str, Any]) -> None:
    """``same-content`` when both files decode to the same samples."""
    if original.content_sha1 == instrumental.content_sha1:
        measured.update(offset_s=0.0, gain_db=0.0, polarity=1, alignment_confidence=1.0,
                        vocal_free_correlation=1.0, vocal_energy_share=0.0, vocal_activity=0.0)
        raise _Rejection("same-content", "the instrumental decodes to the original's exact audio")


def _min_overlap(o: np.ndarray, i: np.ndarray, config: PairingConfig) -> int:
    """Fewest overlapping samples an offset must leave."""
    return int(min(len(o), len(i), config.min_seconds * config.align_rate))


def _quality_columns(q: align.Quality) -> dict[str, Any]:
    """The verdict columns of the quality measures: the gain (dB) and polarity of the instrumental, and more."""
    c = q.scale
    return dict(gain_db=float(-20 * np.log10(abs(c))) if np.isfinite(c) and c != 0 else None,
                polarity=(1 if c >= 0 else -1) if np.isfinite(c) else None,
                alignment_confidence=q.alignment_confidence, vocal_free_correlation=q.vocal_free_correlation,
                vocal_energy_share=q.vocal_energy_share, vocal_activity=q.vocal_activity)


def _global_alignment(o: np.ndarray, i: np.ndarray, measured: dict[str, Any],
                      config: PairingConfig) -> tuple[_Alignment, np.ndarray]:
    """One offset for the whole song (``low-confidence`` when none leaves enough overlap) and the quality
    measures of the instrumental shifted by it; returns the alignment and that shifted instrumental
    (float32 ``[len(o)]``)."""
    sr = config.align_rate
    spec = align.spectra(o, i, int(config.max_offset_s * sr))
    lag, _peak = align.global_lag(spec, o, i, _min_overlap(o, i, config))
    if not np.isfinite(lag):
        raise _Rejection("low-confidence", "no offset leaves enough overlap")
    start, stop = align.overlap(len(o), len(i), lag)
    s = align.shifted(spec, lag)
    q = align.quality(o, s, start, stop, int(config.frame_s * sr), config.vocal_free_db, config.frame_silence_db)
    measured.update(offset_s=lag / sr, **_quality_columns(q))
    return _Alignment(lag, AlignmentMap(1.0, (Segment(0.0, len(o) / sr, lag / sr),)), q, start, stop), s


def _same_content(o: np.ndarray, s: np.ndarray, a: _Alignment, config: PairingConfig) -> None:
    """``same-content`` when the instrumental explains the whole original, the parts it does not cover included:
    the derived vocal ``o - c * s`` (``s``: the instrumental shifted onto the original) holds little energy, and
    even in its loudest tenth of frames the magnitude-derived vocal stays ``same_content_max_vocal_db`` under
    the original (a lossy re-encode's noise is spread evenly; a voice far under the band rises in its
    phrases: measured -18.9 to -23.5 dB for 52-64 kbit/s re-encodes, -14.6 to -15.1 dB for a voice 15 dB
    under the accompaniment, whose time-domain share, 1-2.4 %, a re-encode reaches too)."""
    q = a.q
    total = float(np.dot(o, o)) or 1e-30
    uncovered = (float(np.dot(o[: a.start], o[: a.start])) + float(np.dot(o[a.stop :], o[a.stop :]))) / total
    if not (np.isfinite(q.vocal_energy_share) and q.vocal_energy_share <= config.same_content_max_vocal_share
            and uncovered <= config.same_content_max_vocal_share):
        return
    loudest = _loudest_vocal_db(o[a.start : a.stop], q.scale * s[a.start : a.stop], config.align_rate)
    if loudest <= config.same_content_max_vocal_db:
        raise _Rejection("same-content", f"derived vocal holds {q.vocal_energy_share:.4f} of the energy "
                                         f"(<= {config.same_content_max_vocal_share:g}) and its loudest tenth of "
                                         f"frames sits {-loudest:.1f} dB under the original (>= "
                                         f"{-config.same_content_max_vocal_db:g} dB): the instrumental is the "
                                         "original")


def _loudest_vocal_db(o: np.ndarray, s: np.ndarray, sr: int) -> float:
    """Level (dB, relative to the original's frame) of the magnitude-derived vocal ``max(0, |O| - |S|)`` in the
    loudest tenth of the original's active frames (``o``, ``s``: aligned and scaled, float32 ``[samples]``)."""
    stft = PAPER_STFT if sr == PAPER_STFT.sample_rate else StftParams(sample_rate=sr)
    if len(o) < stft.n_fft:
        return 0.0
    x, y = np.abs(stft_of(o, stft)), np.abs(stft_of(np.asarray(s, np.float32), stft))
    ex = np.sum(x.astype(np.float64) ** 2, axis=0)
    active = ex > 1e-3 * ex.mean()
    if not active.any():
        return 0.0
    d = np.sum(np.maximum(x - y, 0.0).astype(np.float64) ** 2, axis=0)[active] / ex[active]
    return float(10 * np.log10(max(float(np.quantile(d, 0.9)), 1e-12)))


def _map_needed(n_agree: int, n_disagree: int, misaligned_share: float, config: PairingConfig) -> bool:
    """One offset does not explain every window (a drift, an edit): search the alignment map. A pair whose
    windows all agree never pays for this search. Nor does one offset when (almost) no window agrees with it: a
    clock drift smears the global correlation's peak over its whole range of lags (90 samples for 0.05 % over
    22 s), and on loop-based music another beat's peak can then win; the map's local windows, searched
    +-map_search_s, find the true lags (an unrelated recording finds no map and keeps its verdict)."""
    off = n_disagree > 0 or misaligned_share > config.map_trigger_misaligned
    counted = n_agree >= config.min_agreeing_windows or n_disagree >= config.drift_min_windows
    return (off and counted) or n_agree < config.min_agreeing_windows


def _windows_or_map(o: np.ndarray, i: np.ndarray, o_pre: np.ndarray, i_pre: np.ndarray, s_pre: np.ndarray,
                    a: _Alignment, measured: dict[str, Any], config: PairingConfig) -> align.WindowCheck:
    """Windows across the overlap checked against the global offset (``s_pre``: the pre-emphasised instrumental
    shifted by it), the alignment map searched when they call for it; ``drift`` when windows that disagree
    remain. Updates ``a``; returns the window check."""
    sr = config.align_rate
    # at least four windows, shorter ones (down to a quarter second) when the overlap is short
    window = int(max(min(config.window_s * sr, (a.stop - a.start) / 4), 0.25 * sr))
    windows = align.window_check(o_pre, s_pre, i_pre, a.lag, a.start, a.stop, window,
                                 int(config.window_search_s * sr), config.max_windows, config.window_min_correlation,
                                 config.drift_tolerance_s * sr, sr)
    a.n_agree, n_disagree = int(windows.agree.sum()), int(windows.disagree.sum())
    n_conf = a.n_agree + n_disagree
    a.windows_disagree = n_disagree > 0
    if _map_needed(a.n_agree, n_disagree, a.q.misaligned_share, config):
        fit = fit_map(o_pre, i_pre, a.lag, sr, config)
        if fit.amap is not None:
            _follow_map(o, i, fit.amap, a, measured, config)
            n_disagree = 0  # the map explains the windows that disagreed with one offset
            a.n_agree = max(a.n_agree, fit.segment_windows)
    if n_disagree >= config.drift_min_windows and n_disagree >= config.drift_min_share * n_conf:
        worst = float(np.nanmax(np.abs(windows.other_lags))) / sr
        raise _Rejection("drift", f"{n_disagree} of {n_conf} matching windows are off the global offset by up to "
                                  f"{worst * 1000:.1f} ms")
    return windows


def _follow_map(o: np.ndarray, i: np.ndarray, amap: AlignmentMap, a: _Alignment, measured: dict[str, Any],
                config: PairingConfig) -> None:
    """Align by ``amap`` from now on: ``a`` takes the map, the quality measures of the instrumental aligned by it
    and the sample range it covers; ``measured`` the offset and gain of its main (longest) segment."""
    sr = config.align_rate
    s, spans = aligned_instrumental(i, sr, amap, 1.0, len(o))
    start, stop = (min(lo for lo, _ in spans), max(hi for _, hi in spans)) if spans else (0, 0)
    q = align.quality(o, s, start, stop, int(config.frame_s * sr), config.vocal_free_db, config.frame_silence_db)
    main = max(amap.segments, key=lambda seg: seg.end_s - seg.start_s)
    measured.update(offset_s=main.offset_s, **_quality_columns(q), segments=len(amap.segments),
                    drift_ppm=(amap.drift - 1.0) * 1e6)
    a.amap, a.q, a.start, a.stop, a.windows_disagree = amap, q, start, stop, False


def _speed_change(o: np.ndarray, i: np.ndarray, o_pre: np.ndarray, a: _Alignment, windows: align.WindowCheck,
                  measured: dict[str, Any], config: PairingConfig) -> None:
    """Too few windows agree with any offset: undo the likeliest change of speed (``pairing.stretch``). A clock
    drift small enough to be real (another transfer) is resampled away and the pair aligned again; a larger one
    is ``drift``; a pair that still aligns nowhere is a ``different-recording``."""
    tried = ""
    speed = undo_speed(o, i, o_pre, config)
    if speed is not None:
        change = f"{100 * (speed.factor - 1):+.2f} %"
        if speed.same and abs(speed.factor - 1.0) <= config.max_drift:
            _align_resampled(o, i, speed, a, measured, config)
        elif speed.same:
            raise _Rejection("drift", f"the instrumental runs {change} longer: with that undone the waveform aligns "
                                      f"in {speed.inliers} of {speed.windows} windows, without it in {a.n_agree} of "
                                      f"{windows.windows}")
        tried = f"; undoing the likeliest speed change ({change}) aligns {speed.inliers} of {speed.windows} windows"
    if a.n_agree < config.min_agreeing_windows:
        raise _Rejection("different-recording", f"the waveform aligns in {a.n_agree} of {windows.windows} windows "
                                                f"(need {config.min_agreeing_windows}){tried}")


def _align_resampled(o: np.ndarray, i: np.ndarray, speed: SpeedFit, a: _Alignment, measured: dict[str, Any],
                     config: PairingConfig) -> None:
    """The instrumental resampled by the speed factor and aligned again: a one-segment map with that drift."""
    sr, factor = config.align_rate, speed.factor
    i2 = resample(i, sr, sr / factor)
    spec2 = align.spectra(o, i2, int(config.max_offset_s * sr))
    lag2, _ = align.global_lag(spec2, o, i2, _min_overlap(o, i, config))
    if np.isfinite(lag2):
        _follow_map(o, i, AlignmentMap(factor, (Segment(0.0, len(o) / sr, factor * lag2 / sr),)), a, measured,
                    config)
        a.n_agree = speed.inliers


def _verdict_thresholds(o: np.ndarray, a: _Alignment, config: PairingConfig) -> None:
    """The aligned pair's measures against the thresholds: ``different-recording``, ``drift``,
    ``low-confidence``."""
    q = a.q
    if q.alignment_confidence < config.min_alignment_confidence:
        raise _Rejection("different-recording", f"alignment confidence {q.alignment_confidence:.3f} < "
                                                f"{config.min_alignment_confidence:g}")
    if not q.vocal_free_correlation >= config.min_vocal_free_correlation:
        raise _Rejection("different-recording", f"vocal-free correlation {q.vocal_free_correlation:.3f} < "
                                                f"{config.min_vocal_free_correlation:g}")
    # Out of step in many frames: a drift when windows saw another lag (and no map explained them); otherwise
    # (a section in one release only) the trust mask leaves those frames out, or rejects the pair.
    if q.misaligned_share > config.misaligned_max_share and a.windows_disagree:
        raise _Rejection("drift", f"the aligned instrumental is out of step in {q.misaligned_share:.0%} of the "
                                  f"frames (> {config.misaligned_max_share:.0%})")
    coverage = (a.stop - a.start) / len(o)
    if coverage < config.min_coverage:
        raise _Rejection("low-confidence", f"the instrumental covers {coverage:.0%} of the original "
                                           f"(< {config.min_coverage:.0%})")
    if not (np.isfinite(q.scale) and q.scale != 0):
        raise _Rejection("low-confidence", "no gain fits the aligned instrumental")


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
    # a frame-rate gain is stored at the frames themselves (knots one hop apart), a smooth one every gain_step_s
    step = stft.hop / sr if fit.gain.kind == "frame" else config.gain_step_s
    knots = np.arange(0.0, len(o) / sr + step, step)
    curve = np.interp(knots, frame_times(x.shape[1], stft), fit.frame_gain_db)
    flat = np.all(np.abs(curve) < 0.05)
    amap = AlignmentMap(amap.drift, amap.segments,
                        tuple(float(g) for g in fit.band_gain_db) if np.any(np.abs(fit.band_gain_db) >= 0.05) else (),
                        0.0 if flat else step, () if flat else tuple(float(g) for g in curve),
                        spans_of(fit.trusted, stft))
    usable = float(fit.trusted.sum()) * stft.hop / sr
    measured.update(alignment_map=amap.to_json(), segments=len(amap.segments), drift_ppm=(amap.drift - 1.0) * 1e6,
                    usable_s=usable, leakage_db=fit.leakage_db if np.isfinite(fit.leakage_db) else None,
                    level_corrections=fit.corrections)
    quality = estimate(fit.original, fit.matched, fit.trusted, stft, fit.ratios, bounds)
    measured["target_error"] = quality if np.isfinite(quality) else None
    if usable < config.min_trusted_share * len(o) / sr:
        raise _Rejection("too-little-trusted", f"{usable:.1f} s of the original's {len(o) / sr:.1f} s are trusted "
                                               f"(< {config.min_trusted_share:.0%}): the aligned, level-matched "
                                               "instrumental does not match the accompaniment elsewhere")
    row = _empty_verdict()
    row.update(status="accepted", reason="", detail="", **measured)
    return row
