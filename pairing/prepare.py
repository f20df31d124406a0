"""Decode-once file preparation: a file turned into what every per-pair check needs.

``read_audio`` hashes a file's bytes where they are decoded (in the worker's task): the bytes hashed are the
bytes decoded, a URL is downloaded once for both, and a local file that changes while it is read is an
``error`` (never cached). ``prepare_audio`` decodes a file once and keeps its mono signal at the alignment
rate, its chromaprint fingerprint (cached by file content), its clipping and level, and the hash of its decoded
audio; the verdict (``pairing.verify``) compares two such files and never decodes again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from features.audio import AudioError, Decoded, decode, resample
from pairing.config import PairingConfig
from pairing.fingerprint import CHROMAPRINT_RATE, FingerprintCache
from vocalmine import storage

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


@dataclass(frozen=True)
class ReadAudio:
    """A file as read once: its decoded audio (or the ``AudioError`` saying why its bytes give none), the SHA-1
    of the bytes decoded, and the stamp it had (``vocalmine.storage.stamp``: ``[size, mtime_ns]``, or
    ``[size, ETag]`` on a store)."""

    decoded: Decoded | AudioError
    sha1: str
    stamp: list


_KINDS = ((stat.S_ISDIR, "is a directory"), (stat.S_ISFIFO, "is a FIFO (named pipe)"),
          (stat.S_ISCHR, "is a character device"), (stat.S_ISBLK, "is a block device"),
          (stat.S_ISSOCK, "is a socket"))


def _not_regular(mode: int) -> str | None:
    """What a file of ``mode`` is when it is not a regular file (``is a FIFO (named pipe)``), else None."""
    return next((what for test, what in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "is not a regular file")


def _hash_local(path: str) -> tuple[str, os.stat_result]:
    """SHA-1 of a local regular file's bytes, reading at most the size it had when opened (a file that grows
    while read, or a device, never makes this read forever); a FIFO or device is refused before it is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AudioError("missing-file", path) from None
    except OSError as exc:  # a symlink loop, a too-long name, no permission on a folder
        raise AudioError("unreadable", f"{path}: {exc.strerror or type(exc).__name__}") from None
    if (what := _not_regular(st.st_mode)) is not None:
        raise AudioError("unreadable", f"{path}: {what}, not an audio file")
    h = hashlib.sha1()
    try:  # O_NONBLOCK: a FIFO put there since the stat opens at once (and is refused below) instead of waiting
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        raise AudioError("unreadable", f"{path}: permission denied (this user may not read the file)") from None
    except OSError as exc:
        raise AudioError("unreadable", f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    with os.fdopen(fd, "rb") as fh:
        opened = os.fstat(fh.fileno())
        if (what := _not_regular(opened.st_mode)) is not None:
            raise AudioError("unreadable", f"{path}: {what}, not an audio file")
        left = opened.st_size
        while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest(), opened


def _decode(path: str, shown: str) -> Decoded | AudioError:
    try:
        return decode(path, contiguous=False)  # only its mono mix and sample statistics are read
    except AudioError as exc:
        return AudioError(exc.reason, exc.detail.replace(path, shown)) if path != shown else exc


def read_audio(path: str) -> ReadAudio:
    """Hash and decode ``path`` (a local path or URL) from the same bytes: the hash a verdict is cached under is
    the hash of the audio it was computed on. Bytes that no decoder reads still have a hash (``decoded`` is
    then the ``AudioError``).

    Raises ``AudioError`` when the bytes cannot be read: ``missing-file``, ``unreadable`` (also a FIFO, device
    or folder, refused before it is opened), or ``error`` when a local file changed while it was read (a re-run
    reads it again).
    """
    if storage.is_url(path):
        try:
            stamp = storage.stamp(path)
            with storage.local_copy(path) as tmp:  # one download, hashed and decoded
                sha1, _ = _hash_local(tmp)
                decoded = _decode(tmp, path)
        except FileNotFoundError:
            raise AudioError("missing-file", path) from None
        except OSError as exc:
            raise AudioError("unreadable", f"{path}: {exc}") from None
        return ReadAudio(decoded, sha1, stamp)
    sha1, before = _hash_local(path)
    decoded = _decode(path, path)
    try:
        after = os.stat(path)
    except OSError:
        after = None
    if after is None or (after.st_ino, after.st_size, after.st_mtime_ns) != (before.st_ino, before.st_size,
                                                                               before.st_mtime_ns):
        raise AudioError("error", f"{path}: changed while it was read; a re-run verifies it again")
    return ReadAudio(decoded, sha1, [before.st_size, before.st_mtime_ns])


def prepare_audio(path: str, file_sha1: str, fingerprints: FingerprintCache, config: PairingConfig,
                  stats: PrepareStats | None = None, clock: Callable[[], float] | None = None,
                  decoded: Decoded | None = None) -> PreparedAudio:
    """Decode ``path`` once (or take its ``decoded`` audio, from ``read_audio``) and derive the mono signal,
    fingerprint (cached under ``file_sha1``) and levels.

    Raises ``AudioError`` with reason ``missing-file``, ``unreadable`` or ``silent``.
    """
    clock = clock or time.perf_counter
    t0 = clock()
    decoded = decoded if decoded is not None else decode(path, contiguous=False)
    t1 = clock()
    samples = decoded.samples
    peak_hits = 0
    if samples.max() >= config.clip_level or samples.min() <= -config.clip_level:  # two passes, no temporaries
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
