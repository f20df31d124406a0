"""32-bit float WAV files written byte for byte the same from the same samples.

libsndfile adds a ``PEAK`` chunk with a time stamp to every float WAV it writes, so two exports of the same audio
would differ; this writer puts only what a float WAV needs: ``fmt `` (format 3, IEEE float), ``fact`` and ``data``.
Every WAV reader of the field (libsndfile/soundfile, torchaudio, scipy, ffmpeg) reads it.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np

from vocalmine import storage

#: Samples per write (and hash update), so a long song is never copied whole once more.
CHUNK = 1 << 18


def header(channels: int, rate: int, frames: int) -> bytes:
    """The 58 header bytes of a float32 WAV of ``channels`` x ``frames`` samples at ``rate`` Hz."""
    data = channels * frames * 4
    fmt = struct.pack("<HHIIHHH", 3, channels, rate, rate * channels * 4, channels * 4, 32, 0)
    return (b"RIFF" + struct.pack("<I", 4 + (8 + len(fmt)) + (8 + 4) + (8 + data)) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"fact" + struct.pack("<II", 4, frames)
            + b"data" + struct.pack("<I", data))


def write_wav(path: Any, samples: np.ndarray, rate: int) -> dict:
    """Write float32 ``[channels, samples]`` at ``rate`` to ``path`` (a local path or URL) atomically; returns
    ``{"bytes", "sha1"}`` of the file."""
    x = np.ascontiguousarray(np.asarray(samples, np.float32).T)  # interleaved [samples, channels]
    frames, channels = x.shape
    h = hashlib.sha1()
    head = header(channels, rate, frames)
    h.update(head)
    with storage.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(head)
        for start in range(0, frames, CHUNK):
            block = x[start : start + CHUNK].astype("<f4").tobytes()
            fh.write(block)
            h.update(block)
    return {"bytes": len(head) + frames * channels * 4, "sha1": h.hexdigest()}
