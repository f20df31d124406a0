"""Write audio files (WAV, FLAC, MP3, Ogg Vorbis) atomically and reproducibly.

libsndfile's MP3 (LAME + mpg123) round trip is gapless: the decoder trims the encoder delay and padding, so
a decoded MP3 has exactly the samples written, at the same positions (checked by the tests). Its Ogg
writer draws a random stream serial number from the clock; ``write_audio`` rewrites it from a seed and
fixes the page checksums, so Ogg files are byte-identical from run to run like the others.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from vocalmine.atomic import atomic_path

#: extension -> (libsndfile format, subtype, compression level or None)
FORMATS: dict[str, tuple[str, str, float | None]] = {
    "wav": ("WAV", "PCM_16", None),
    "flac": ("FLAC", "PCM_16", None),
    "mp3": ("MP3", "MPEG_LAYER_III", 0.1),  # about 300 kbit/s CBR
    "ogg": ("OGG", "VORBIS", 0.2),  # Vorbis quality about 8
}
LOSSLESS = ("wav", "flac")
_BLOCK = 1 << 15  # frames per write call

_BIT_REVERSED = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum: CRC-32, polynomial 0x04C11DB7, no reflection, zero initial value and final XOR.

    zlib computes the reflected CRC; reversing the bits of every byte and of the result converts one to the
    other, so the work stays in C.
    """
    reflected = zlib.crc32(data.translate(_BIT_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def set_ogg_serial(path: str | os.PathLike, serial: int) -> None:
    """Rewrite the stream serial number of every page of the single-stream Ogg file ``path``, in place."""
    data = bytearray(Path(path).read_bytes())
    pos = 0
    serial_bytes = (serial & 0xFFFFFFFF).to_bytes(4, "little")
    while pos < len(data):
        if data[pos : pos + 4] != b"OggS":
            raise ValueError(f"{path}: no Ogg page at byte {pos}")
        segments = data[pos + 26]
        length = 27 + segments + sum(data[pos + 27 : pos + 27 + segments])
        data[pos + 14 : pos + 18] = serial_bytes
        data[pos + 22 : pos + 26] = b"\0\0\0\0"
        data[pos + 22 : pos + 26] = ogg_crc(bytes(data[pos : pos + length])).to_bytes(4, "little")
        pos += length
    Path(path).write_bytes(bytes(data))


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, serial: int = 1,
                compression_level: float | None = None) -> Path:
    """Write float ``[channels, samples]`` to ``path`` in the format its extension names, atomically.

    16-bit files hold ``round(x * 32768)``, so WAV and FLAC copies of the same signal decode identically and
    a decoder's ``int / 32768`` gives back ``x`` to within half a step.

    ``serial``: the Ogg stream serial number (ignored for other formats). ``compression_level``: overrides the
    format's (lossy formats; 1.0 is libsndfile's lowest bitrate).
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    fmt, subtype, level = FORMATS[ext]
    level = level if compression_level is None or level is None else compression_level
    data = np.ascontiguousarray(np.asarray(samples, dtype=np.float32).T)
    if subtype == "PCM_16":  # quantise here: libsndfile's WAV and FLAC writers round float input differently
        data = np.clip(np.round(data * 32768.0), -32768, 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        kwargs = {} if level is None else {"compression_level": level}
        with sf.SoundFile(tmp, "w", sample_rate, data.shape[1], subtype, format=fmt, **kwargs) as fh:
            for start in range(0, len(data), _BLOCK):  # libsndfile's Vorbis encoder can crash on one huge write
                fh.write(data[start : start + _BLOCK])
        if fmt == "OGG":
            set_ogg_serial(tmp, serial)
    return path


def write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write raw bytes atomically (the corrupt-file decoy)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)
