"""A pair's alignment map: how the instrumental lines up with the original, how to match its level, and which
frames to trust. Estimated by the audio stage (``pairing.mapping``), stored in ``pairs.parquet`` as JSON
(column ``alignment_map``), applied here by the shard builder (and by the audio stage itself, so both see the
same signals).

Times are seconds on the original's timeline. Within segment ``k`` (``start_s <= t < end_s``) the
instrumental's content for original time ``t`` is at instrumental time ``offset_s[k] + drift * t`` (a clock
drift: ``drift`` instrumental seconds per original second, 1 when none). The level match multiplies the aligned
instrumental's STFT magnitudes by a per-band gain (a mastering EQ) and a slowly varying gain (fades, a bus
compressor), both in dB, on top of the pair's main ``gain_db``. ``trusted`` lists the spans whose frames
(by their centre) may give patches; None trusts every frame the instrumental covers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from features.audio import load_mono, resample
from features.stft import StftParams

#: Edges (Hz) of the level match's bands; the last band runs to Nyquist.
BAND_EDGES_HZ = (0.0, 60.0, 120.0, 180.0, 250.0, 350.0, 500.0, 700.0, 1000.0, 1400.0, 2000.0, 2800.0, 4000.0)


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    offset_s: float  # instrumental time at original time 0 on this segment's line, s


@dataclass(frozen=True)
class AlignmentMap:
    drift: float = 1.0
    segments: tuple[Segment, ...] = ()
    band_gain_db: tuple[float, ...] = ()  # one per band of BAND_EDGES_HZ (empty: none)
    gain_step_s: float = 0.0
    gain_db: tuple[float, ...] = ()  # slowly varying gain at t = k * gain_step_s (empty: none)
    trusted: tuple[tuple[float, float], ...] | None = None

    def to_json(self) -> str:
        return json.dumps({
            "drift": self.drift,
            "segments": [[round(s.start_s, 6), round(s.end_s, 6), round(s.offset_s, 9)] for s in self.segments],
            "band_gain_db": [round(g, 2) for g in self.band_gain_db],
            "gain_step_s": self.gain_step_s,
            "gain_db": [round(g, 2) for g in self.gain_db],
            "trusted": None if self.trusted is None else [[round(a, 4), round(b, 4)] for a, b in self.trusted],
        }, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> AlignmentMap:
        d = json.loads(text)
        return AlignmentMap(
            float(d.get("drift", 1.0)),
            tuple(Segment(float(a), float(b), float(o)) for a, b, o in d.get("segments", [])),
            tuple(float(g) for g in d.get("band_gain_db", [])),
            float(d.get("gain_step_s", 0.0)),
            tuple(float(g) for g in d.get("gain_db", [])),
            None if d.get("trusted") is None else tuple((float(a), float(b)) for a, b in d["trusted"]),
        )

    @property
    def trusted_s(self) -> float | None:
        return None if self.trusted is None else float(sum(b - a for a, b in self.trusted))


def single(offset_s: float) -> AlignmentMap:
    """The map of a plain pair: one segment over everything, no drift, no level match, no trust mask."""
    return AlignmentMap(1.0, (Segment(0.0, float("inf"), offset_s),))


def aligned_instrumental(inst: np.ndarray, sr: int, amap: AlignmentMap, gain: float, length: int
                         ) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The instrumental on the original's timeline: float32 ``[length]``, ``out[t] = inst(map(t)) / gain``
    (``gain`` carries the polarity), zero where it has no audio; plus the sample spans ``[a, b)`` it covers.

    Drift is undone by resampling the whole instrumental once (soxr); each segment is then a whole-sample shift.
    """
    src = inst
    if abs(amap.drift - 1.0) > 1e-9:
        src = resample(inst, sr, sr / amap.drift)
    out = np.zeros(length, np.float32)
    spans = []
    for seg in amap.segments:
        a = max(0, int(round(seg.start_s * sr))) if np.isfinite(seg.start_s) else 0
        b = min(length, int(round(seg.end_s * sr))) if np.isfinite(seg.end_s) else length
        lag = int(round(seg.offset_s / amap.drift * sr))
        a, b = max(a, -lag), min(b, len(src) - lag)
        if b > a:
            out[a:b] = src[a + lag : b + lag] / np.float32(gain)
            spans.append((a, b))
    return out, spans


def load_aligned_map(original_path: str, instrumental_path: str, map_json: str, gain: float, sample_rate: int
                     ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]], AlignmentMap]:
    """Decode a pair to mono at ``sample_rate`` and align the instrumental by its map (the counterpart of
    ``features.audio.load_aligned`` for a pairs.parquet row with an ``alignment_map``): (original float32
    ``[samples]``, aligned instrumental of the same length, the sample spans it covers, the map). Raises
    ``AudioError``, or ``ValueError`` for an unreadable map."""
    amap = AlignmentMap.from_json(map_json)
    original = load_mono(original_path, sample_rate)
    aligned, spans = aligned_instrumental(load_mono(instrumental_path, sample_rate), sample_rate, amap, gain,
                                          len(original))
    return original, aligned, spans, amap


def band_of_bins(stft: StftParams, bins: int) -> np.ndarray:
    """Band index (into BAND_EDGES_HZ) of each of the first ``bins`` STFT bins, int ``[bins]``."""
    freqs = np.arange(bins) * stft.sample_rate / stft.n_fft
    return np.searchsorted(np.asarray(BAND_EDGES_HZ), freqs, side="right") - 1


def band_curve_db(band_gain_db: tuple[float, ...] | np.ndarray, stft: StftParams, bins: int) -> np.ndarray:
    """Per-bin gain (dB) ``[bins]``: the band gains at their (geometric) centres, interpolated in log frequency."""
    edges = np.asarray(BAND_EDGES_HZ + (stft.sample_rate / 2,))
    centres = np.sqrt(np.maximum(edges[:-1], 20.0) * edges[1:])
    freqs = np.maximum(np.arange(bins) * stft.sample_rate / stft.n_fft, 20.0)
    return np.interp(np.log(freqs), np.log(centres), np.asarray(band_gain_db, np.float64))


def frame_times(frames: int, stft: StftParams) -> np.ndarray:
    """Centre (s) of each STFT frame ``[frames]``."""
    return np.arange(frames) * stft.hop / stft.sample_rate


def apply_level(y_mag: np.ndarray, amap: AlignmentMap, stft: StftParams) -> np.ndarray:
    """The aligned instrumental's magnitudes ``[bins, frames]`` with the map's per-band and slowly varying gains."""
    bins, frames = y_mag.shape
    db = np.zeros((bins, 1)) if not amap.band_gain_db else band_curve_db(amap.band_gain_db, stft, bins)[:, None]
    if amap.gain_db and amap.gain_step_s > 0:
        knots = np.arange(len(amap.gain_db)) * amap.gain_step_s
        db = db + np.interp(frame_times(frames, stft), knots, np.asarray(amap.gain_db))[None, :]
    if not np.any(db):
        return y_mag
    return (y_mag * (10 ** (db / 20))).astype(np.float32)


def trusted_frames(amap: AlignmentMap, frames: int, stft: StftParams) -> np.ndarray | None:
    """bool ``[frames]``: frames whose centre lies in a trusted span (None when the map has no trust mask)."""
    if amap.trusted is None:
        return None
    t = frame_times(frames, stft)
    mask = np.zeros(frames, bool)
    for a, b in amap.trusted:
        mask |= (t >= a) & (t < b)
    return mask


def spans_of(mask: np.ndarray, stft: StftParams) -> tuple[tuple[float, float], ...]:
    """Trusted spans (s) of a frame mask: each run ``[k0, k1)`` as ``[(k0 - 0.5) hop, (k1 - 0.5) hop] / sr``."""
    step = stft.hop / stft.sample_rate
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return tuple((max(0.0, (k0 - 0.5) * step), (k1 - 0.5) * step) for k0, k1 in zip(edges[::2], edges[1::2]))
