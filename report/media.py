"""Spectrogram thumbnails and short audio clips of a pair, as data URIs for the self-contained page.

For a pair the three signals are, at ``config.clip_sample_rate`` Hz, mono float32 ``[samples]``:
the original, the instrumental aligned to it with the project's convention
(``features.audio.shift_and_scale(inst, round(offset_s * sr), g, len(original))``, with the gain
``g = features.patches.Alignment(offset_s, gain_db, polarity).gain``; by the pair's alignment map, its
segments and drift, when the row has one) and the derived vocal ``original - aligned instrumental``. Spectrograms use the project's one STFT path
(``features.stft.magnitude``, the paper's parameters), so what the page shows is what training sees.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import soundfile as sf
from matplotlib import colormaps
from PIL import Image
from tqdm import tqdm

from features.alignmap import AlignmentMap, load_aligned_map
from features.audio import AudioError, load_aligned
from features.patches import Alignment
from features.stft import PAPER_STFT, StftParams, magnitude
from report.config import ReportConfig
from report.plots import alignment_map_svg

log = logging.getLogger(__name__)

ROLES = ("original", "instrumental", "vocal")
DYNAMIC_RANGE_DB = 70.0
#: The pairs.parquet columns ``selected_media`` passes to ``pair_media``.
MEDIA_FIELDS = ("pair_id", "original_audio_path", "instrumental_audio_path", "offset_s", "gain_db", "polarity",
                "alignment_map")


@dataclass(frozen=True)
class PairAudio:
    """The aligned signals of one pair, float32 ``[samples]`` each, at ``sample_rate`` Hz."""

    original: np.ndarray
    instrumental: np.ndarray  # aligned to the original and divided by the gain
    vocal: np.ndarray  # original - aligned instrumental
    sample_rate: int


def align_pair(original_path: str, instrumental_path: str, offset_s: float, gain_db: float, polarity: int,
               sample_rate: int, map_json: str | None = None) -> PairAudio:
    """Decode both files and align the instrumental on the original (raises ``AudioError``); with the pair's
    alignment map (``features.alignmap``), its segments and drift (the level match acts on magnitudes only)."""
    gain = Alignment(offset_s, gain_db, -1 if polarity == -1 else 1).gain
    if map_json:
        original, aligned, _, _ = load_aligned_map(original_path, instrumental_path, map_json, gain, sample_rate)
    else:
        original, aligned, _ = load_aligned(original_path, instrumental_path, offset_s, gain, sample_rate)
    return PairAudio(original, aligned, (original - aligned).astype(np.float32), sample_rate)


def _pool(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Average ``x`` down to at most ``n`` groups along ``axis`` (nearly equal groups)."""
    size = x.shape[axis]
    if size <= n:
        return x
    starts = np.linspace(0, size, n + 1).astype(int)[:-1]
    sums = np.add.reduceat(x, starts, axis=axis)
    widths = np.diff(np.append(starts, size)).astype(x.dtype)
    shape = [1, 1]
    shape[axis] = -1
    return sums / widths.reshape(shape)


def spectrogram_thumbnails(audio: PairAudio, config: ReportConfig,
                           params: StftParams = PAPER_STFT) -> dict[str, str]:
    """JPEG data URIs of the three magnitude spectrograms, dB on one scale (the original's peak = 0 dB).

    Pooled from ``[512, frames]`` to at most ``[thumb_height, thumb_max_width]``; low frequencies at the bottom.
    """
    pooled = {}
    for role in ROLES:
        power = magnitude(getattr(audio, role), params).astype(np.float64) ** 2  # [512, frames]
        power = _pool(_pool(power, config.thumb_height, 0), config.thumb_max_width, 1)
        pooled[role] = 10 * np.log10(power + 1e-12)
    ref = float(pooled["original"].max())
    out = {}
    for role, db in pooled.items():
        level = np.clip((db - ref + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB, 0.0, 1.0)
        out[role] = "data:image/jpeg;base64," + base64.b64encode(_jpeg(level[::-1])).decode("ascii")
    return out


def _jpeg(level: np.ndarray, quality: int = 75) -> bytes:
    """A JPEG (magma colours) of ``level`` in [0, 1], ``[rows, columns]``, top row first: about half the
    bytes of an indexed PNG for a noisy spectrogram, with no visible loss at thumbnail size."""
    rgb = np.ascontiguousarray((colormaps["magma"](level)[:, :, :3] * 255).round().astype(np.uint8))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def loudest_vocal_window(vocal: np.ndarray, sample_rate: int, seconds: float) -> int:
    """Start sample of the ``seconds`` window where the derived vocal has the most energy (start on a 0.25 s grid)."""
    n = int(round(seconds * sample_rate))
    if len(vocal) <= n:
        return 0
    step = max(1, sample_rate // 4)
    energy = np.concatenate([[0.0], np.cumsum(vocal.astype(np.float64) ** 2)])
    starts = np.arange(0, len(vocal) - n + 1, step)
    return int(starts[np.argmax(energy[starts + n] - energy[starts])])


def encode_clip(samples: np.ndarray, sample_rate: int, fmt: str) -> str:
    """An audio data URI: Ogg Vorbis or 16-bit PCM WAV of float32 ``[samples]`` in [-1, 1]."""
    buf = io.BytesIO()
    if fmt == "ogg":
        sf.write(buf, samples, sample_rate, format="OGG", subtype="VORBIS", compression_level=0.9)
        mime = "audio/ogg"
    else:
        sf.write(buf, samples, sample_rate, format="WAV", subtype="PCM_16")
        mime = "audio/wav"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def audio_clips(audio: PairAudio, config: ReportConfig) -> tuple[dict[str, str], float]:
    """Clips of the three signals over the loudest-vocal window, one common gain (levels stay comparable).

    Returns the data URIs by role and the window's start in seconds.
    """
    start = loudest_vocal_window(audio.vocal, audio.sample_rate, config.clip_seconds)
    stop = start + int(round(config.clip_seconds * audio.sample_rate))
    parts = {role: getattr(audio, role)[start:stop] for role in ROLES}
    peak = max(float(np.max(np.abs(p))) if p.size else 0.0 for p in parts.values())
    scale = 0.9 / peak if peak > 1e-6 else 1.0
    clips = {role: encode_clip(np.clip(p * scale, -1.0, 1.0).astype(np.float32), audio.sample_rate,
                               config.clip_format) for role, p in parts.items()}
    return clips, start / audio.sample_rate


def pair_media(row: dict[str, Any], config: ReportConfig) -> dict[str, Any]:
    """Thumbnails and clips of one pair (``row``: a pairs.parquet row as a dict); ``{"error": ...}`` when the
    audio cannot be read or the pair was never aligned. Never raises for a bad pair."""
    offset, gain = row.get("offset_s"), row.get("gain_db")
    if offset is None or not math.isfinite(offset):
        return {"error": "no alignment for this pair (rejected before it was measured)"}
    gain = gain if gain is not None and math.isfinite(gain) else 0.0
    if not row.get("original_audio_path") or not row.get("instrumental_audio_path"):
        return {"error": "no audio path in the catalog"}
    try:
        audio = align_pair(row["original_audio_path"], row["instrumental_audio_path"], float(offset), float(gain),
                           int(row.get("polarity") or 1), config.clip_sample_rate, row.get("alignment_map"))
        thumbs = spectrogram_thumbnails(audio, config)
        clips, start_s = audio_clips(audio, config)
    except AudioError as exc:
        return {"error": f"audio unavailable: {exc}"}
    except (ValueError, RuntimeError, sf.LibsndfileError) as exc:  # a bad file must not stop the report
        log.warning("media for %s failed: %s", row.get("pair_id"), exc)
        return {"error": f"media failed: {exc}"}
    seconds = len(audio.original) / audio.sample_rate
    out = {"thumbs": thumbs, "clips": clips, "clip_start_s": round(start_s, 3),
           "clip_seconds": round(min(config.clip_seconds, seconds - start_s), 3), "seconds": round(seconds, 3)}
    if row.get("alignment_map"):
        out["map"] = alignment_map_svg(AlignmentMap.from_json(row["alignment_map"]), seconds)
    return out


def selected_media(table: pa.Table, selected: dict[int, list[str]], config: ReportConfig) -> dict[str, dict[str, Any]]:
    """``pair_media`` of the ``selected`` rows (row index -> roles), by pair id, each with its ``roles``."""
    media: dict[str, dict[str, Any]] = {}
    if not selected:
        return media
    columns = {c: table.column(c) for c in MEDIA_FIELDS}
    for i, roles in tqdm(selected.items(), desc="report media", unit="pair", file=sys.stderr, disable=None,
                         leave=False):
        row = {c: col[i].as_py() for c, col in columns.items()}
        media[row["pair_id"]] = {**pair_media(row, config), "roles": roles}
    return media
