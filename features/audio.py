"""Decode audio files once, to float32 samples; resample; hash.

Shapes: audio is ``[samples]`` (mono) or ``[channels, samples]``; sample rates in Hz; times in seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from vocalmine import storage

#: The paper's working sample rate (Hz).
PAPER_SAMPLE_RATE = 8192


class AudioError(Exception):
    """A file that cannot give usable audio. ``reason`` is a short slug (``missing-file``, ``unreadable``, ...)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    """Decoded audio. ``samples``: float32 ``[channels, samples]`` in [-1, 1]; ``sample_rate`` in Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def seconds(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    def mono(self) -> np.ndarray:
        """Channel mean, float32 ``[samples]``."""
        if self.channels == 2:  # the usual case: same values bit for bit, about 3x faster than mean()
            return (self.samples[0] + self.samples[1]) * np.float32(0.5)
        return self.samples.mean(axis=0, dtype=np.float32)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """``x`` cut or zero-padded along its last axis to ``n`` samples (any leading shape, dtype kept)."""
    if x.shape[-1] >= n:
        return x[..., :n]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])])


def file_sha1(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """SHA-1 of the file's bytes (hex): the key of on-disk caches."""
    h = hashlib.sha1()
    with storage.open_file(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()


def _decode_ffmpeg(path: str) -> Decoded:
    """Fallback for formats libsndfile lacks (AAC/M4A, WMA, ...): ffmpeg to float32 PCM on a pipe."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError("unreadable", f"{path}: not readable by libsndfile and ffmpeg is not installed")
    probe = subprocess.run(
        [ffmpeg, "-v", "error", "-i", path, "-f", "f32le", "-acodec", "pcm_f32le", "-"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0 or not probe.stdout:
        raise AudioError("unreadable", f"{path}: {probe.stderr.decode(errors='replace').strip()[:200]}")
    # ffmpeg keeps the source's rate and channels; ask ffprobe what they are.
    meta = subprocess.run(
        [shutil.which("ffprobe") or "ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=sample_rate,channels", "-of", "csv=p=0", path],
        capture_output=True, text=True, check=False,
    )
    try:
        rate_s, channels_s = meta.stdout.strip().split(",")[:2]
        rate, channels = int(rate_s), int(channels_s)
    except ValueError as exc:
        raise AudioError("unreadable", f"{path}: ffprobe gave no stream info") from exc
    pcm = np.frombuffer(probe.stdout, dtype="<f4")
    pcm = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels).T
    return Decoded(np.ascontiguousarray(pcm, dtype=np.float32), rate)


def _check_readable(path: str) -> None:
    """``AudioError("unreadable")`` saying why a path cannot be decoded before any decoder tries (their own
    words would be "Format not recognised" or "System error.")."""
    if os.path.isdir(path):
        raise AudioError("unreadable", f"{path}: is a directory, not an audio file")
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:  # a symlink loop, no permission on a folder
        raise AudioError("unreadable", f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not stat.S_ISREG(mode):  # a FIFO blocks open() and a device reads forever: refused before opening
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device or socket"
        raise AudioError("unreadable", f"{path}: is {kind}, not an audio file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1)
    except PermissionError:
        raise AudioError("unreadable", f"{path}: permission denied (this user may not read the file)") from None
    except OSError as exc:
        raise AudioError("unreadable", f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not head:
        raise AudioError("unreadable", f"{path}: empty file (0 bytes)")


def decode(path: str | os.PathLike, *, contiguous: bool = True) -> Decoded:
    """Decode a whole file (WAV, FLAC, MP3, Ogg via libsndfile; other formats via ffmpeg).

    ``contiguous=False`` leaves libsndfile's interleaved samples where they are: ``samples`` is then a
    ``[channels, samples]`` view of them (the same values, no copy), for a reader of the mono mix or of
    sample statistics (the audio stage), spared a copy of the whole decoded file (about 2 ms per minute of
    44.1 kHz stereo here).

    Raises ``AudioError`` with reason ``missing-file`` or ``unreadable`` (the detail says why: a directory, an
    empty file, no permission, no decoder reads it, no samples, non-finite samples).
    """
    if storage.is_url(path):
        return _decode_url(str(path), contiguous)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError("missing-file", path)
    _check_readable(path)
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        decoded = Decoded(np.ascontiguousarray(data.T) if contiguous else data.T, int(rate))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        try:
            decoded = _decode_ffmpeg(path)
        except AudioError:
            raise AudioError("unreadable", f"{path}: {exc}") from exc
    if decoded.samples.shape[1] == 0:
        raise AudioError("unreadable", f"{path}: no samples")
    if not np.all(np.isfinite(decoded.samples)):
        raise AudioError("unreadable", f"{path}: non-finite samples")
    return decoded


def _decode_url(url: str, contiguous: bool) -> Decoded:
    """``decode`` of a URL (object storage): a local temporary copy, decoded, removed; messages name the URL."""
    try:
        if not storage.exists(url):
            raise AudioError("missing-file", url)
        with storage.local_copy(url) as tmp:
            try:
                return decode(tmp, contiguous=contiguous)
            except AudioError as exc:
                raise AudioError(exc.reason, exc.detail.replace(tmp, url)) from None
    except OSError as exc:
        raise AudioError("unreadable", f"{url}: {exc}") from None


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample float32 ``[samples]`` or ``[channels, samples]`` (soxr, high quality)."""
    if rate_in == rate_out:
        return samples.astype(np.float32, copy=False)
    if samples.ndim == 1:
        return soxr.resample(samples, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(soxr.resample(samples.T, rate_in, rate_out, quality="HQ").T, dtype=np.float32)


def load_mono(path: str | os.PathLike, sample_rate: int = PAPER_SAMPLE_RATE) -> np.ndarray:
    """Decode, mix to mono and resample: float32 ``[samples]`` at ``sample_rate``."""
    decoded = decode(path)
    return resample(decoded.mono(), decoded.sample_rate, sample_rate)


def shift_and_scale(samples: np.ndarray, offset_samples: int, gain: float, length: int) -> np.ndarray:
    """Align a signal: ``out[n] = samples[n + offset_samples] / gain``, zero outside, float32 ``[length]``.

    ``gain`` carries the polarity (negative for a phase-inverted signal).
    """
    out = np.zeros(length, dtype=np.float32)
    src_start = max(offset_samples, 0)
    dst_start = max(-offset_samples, 0)
    n = min(length - dst_start, len(samples) - src_start)
    if n > 0:
        out[dst_start : dst_start + n] = samples[src_start : src_start + n] / np.float32(gain)
    return out


def load_aligned(
    original_path: str | os.PathLike,
    instrumental_path: str | os.PathLike,
    offset_s: float,
    gain: float,
    sample_rate: int = PAPER_SAMPLE_RATE,
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Decode a pair to mono at ``sample_rate`` and align the instrumental onto the original (the project's
    convention, ``gain`` = polarity * 10 ** (gain_db / 20)).

    Returns (original float32 ``[samples]``, aligned instrumental float32 ``[samples]`` of the same length,
    ``(start, end)``: the span of the original the instrumental covers, in samples). Raises ``AudioError``.
    """
    original = load_mono(original_path, sample_rate)
    instrumental = load_mono(instrumental_path, sample_rate)
    shift = round(offset_s * sample_rate)
    aligned = shift_and_scale(instrumental, shift, gain, len(original))
    # shift_and_scale filled out[n] = instrumental[n + shift] / gain for 0 <= n + shift < len(instrumental).
    start = min(max(-shift, 0), len(original))
    end = max(start, min(len(original), len(instrumental) - shift))
    return original, aligned, (start, end)


def decode_stream(path: str | os.PathLike, stream: int) -> Decoded:
    """Decode audio stream ``stream`` (0-based, among the file's audio streams) of a multi-stream file such as
    an NI Stems ``.stem.mp4`` (MUSDB18: 0 mixture, 1 drums, 2 bass, 3 other, 4 vocals), with ffmpeg.

    Raises ``AudioError`` with reason ``missing-file`` or ``unreadable`` (no such stream, not decodable).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioError("missing-file", path)
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise AudioError("unreadable", f"{path}: reading stream {stream} needs ffmpeg, which is not installed")
    meta = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", f"a:{stream}", "-show_entries", "stream=sample_rate,channels",
         "-of", "csv=p=0", path], capture_output=True, text=True, check=False)
    try:
        rate_s, channels_s = meta.stdout.strip().splitlines()[0].split(",")[:2]
        rate, channels = int(rate_s), int(channels_s)
    except (ValueError, IndexError) as exc:
        raise AudioError("unreadable", f"{path}: no audio stream {stream}") from exc
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", path, "-map", f"0:a:{stream}", "-f", "f32le", "-acodec", "pcm_f32le", "-"],
        capture_output=True, check=False)
    if out.returncode != 0 or not out.stdout:
        raise AudioError("unreadable", f"{path} stream {stream}: {out.stderr.decode(errors='replace').strip()[:200]}")
    pcm = np.frombuffer(out.stdout, dtype="<f4")
    pcm = pcm[: len(pcm) - len(pcm) % channels].reshape(-1, channels).T
    if not np.all(np.isfinite(pcm)):
        raise AudioError("unreadable", f"{path} stream {stream}: non-finite samples")
    return Decoded(np.ascontiguousarray(pcm, dtype=np.float32), rate)
