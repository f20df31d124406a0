"""Chromaprint fingerprints of decoded audio (libchromaprint through pyacoustid), cached by file content.

A raw fingerprint is a ``uint32 [items]`` array, one item every :data:`ITEM_SECONDS` (each item summarises
about 2 s of chroma). It equals what ``fpcalc -raw -length 0`` prints for the same PCM at 11025 Hz.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import chromaprint
import numpy as np

from vocalmine import storage
from vocalmine.atomic import atomic_path

log = logging.getLogger(__name__)

#: Chromaprint's analysis rate (Hz), frame and hop (samples at that rate).
CHROMAPRINT_RATE = 11025
_FRAME = 4096
_HOP = _FRAME - (_FRAME - _FRAME // 3)  # 1365: the default algorithm overlaps frames by two thirds
#: Seconds between consecutive fingerprint items.
ITEM_SECONDS = _HOP / CHROMAPRINT_RATE
ALGORITHM = chromaprint.Fingerprinter.ALGORITHM_DEFAULT


def compute_fingerprint(mono: np.ndarray, sample_rate: int = CHROMAPRINT_RATE) -> np.ndarray:
    """Raw chromaprint fingerprint of float32 mono ``[samples]`` in [-1, 1]: ``uint32 [items]``.

    Raises ``chromaprint.FingerprintError`` when the library refuses the audio (e.g. far too short).
    """
    pcm = np.clip(np.rint(mono * 32767.0), -32768, 32767).astype("<i2")
    fp = chromaprint.Fingerprinter(ALGORITHM)
    fp.start(int(sample_rate), 1)
    fp.feed(pcm.tobytes())
    encoded = fp.finish()
    raw, _algorithm = chromaprint.decode_fingerprint(encoded)
    return np.asarray(raw, dtype=np.uint32)


def similarity(a: np.ndarray, b: np.ndarray, max_shift: int, min_overlap: int = 8) -> tuple[float, int]:
    """Best share of equal bits between raw fingerprints ``a`` and ``b`` over shifts ``|s| <= max_shift``.

    Item ``j`` of ``a`` is compared with item ``j + s`` of ``b`` (so ``s * ITEM_SECONDS`` is the offset of
    ``b`` against ``a`` under the project's convention). Returns ``(similarity, s)``; similarity is 0.5 for
    unrelated audio and 1.0 for identical audio; ``(nan, 0)`` when no shift overlaps ``min_overlap`` items.
    """
    a = np.asarray(a, dtype=np.uint32)
    b = np.asarray(b, dtype=np.uint32)
    best, best_shift = np.nan, 0
    lo = max(-max_shift, -(len(a) - min_overlap))
    hi = min(max_shift, len(b) - min_overlap)
    shifts = sorted(range(lo, hi + 1), key=lambda s: (abs(s), s))  # ties go to the smallest |shift|
    for s in shifts:
        a_start, b_start = max(0, -s), max(0, s)
        n = min(len(a) - a_start, len(b) - b_start)
        if n < min_overlap:
            continue
        diff = np.bitwise_count(a[a_start : a_start + n] ^ b[b_start : b_start + n]).sum(dtype=np.int64)
        sim = 1.0 - float(diff) / (32.0 * n)
        if not sim <= best:  # strictly better; also true while best is nan
            best, best_shift = sim, s
    return best, best_shift


class FingerprintCache:
    """Raw fingerprints on disk, one ``.npy`` per file content hash, written atomically.

    ``computed`` and ``loaded`` count this instance's misses and hits (the tests read them).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = storage.path(root) / f"chromaprint-{ALGORITHM}"
        self.computed = 0
        self.loaded = 0

    def path(self, content_sha1: str) -> Path:
        return self.root / content_sha1[:2] / f"{content_sha1}.npy"

    def get(self, content_sha1: str) -> np.ndarray | None:
        path = self.path(content_sha1)
        try:
            fp = np.load(io.BytesIO(storage.read_bytes(path)) if storage.is_url(path) else path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        self.loaded += 1
        return fp.astype(np.uint32, copy=False)

    def put(self, content_sha1: str, fp: np.ndarray) -> None:
        with atomic_path(self.path(content_sha1)) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(fp, dtype=np.uint32), allow_pickle=False)

    def get_or_compute(self, content_sha1: str, mono_at_rate) -> np.ndarray:
        """The cached fingerprint, else ``compute_fingerprint(mono_at_rate())`` stored under ``content_sha1``.

        ``mono_at_rate`` is a callable returning float32 mono ``[samples]`` at :data:`CHROMAPRINT_RATE`, so
        nothing is resampled on a hit.
        """
        fp = self.get(content_sha1)
        if fp is not None:
            return fp
        fp = compute_fingerprint(mono_at_rate(), CHROMAPRINT_RATE)
        self.computed += 1
        self.put(content_sha1, fp)
        return fp
