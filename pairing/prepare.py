"""Decode-once file preparation: a file turned into what every per-pair check needs.

``prepare_audio`` decodes a file once and keeps its mono signal at the alignment rate, its chromaprint
fingerprint (cached by file content), its clipping and level, and the hash of its decoded audio; the verdict
(``pairing.verify``) compares two such files and never decodes again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from features.audio import AudioError, decode, resample
from pairing.config import PairingConfig
from pairing.fingerprint import CHROMAPRINT_RATE, FingerprintCache

log = logging.getLogger(__name__)


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
