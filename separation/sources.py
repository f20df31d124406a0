"""Audio read in blocks, for a separation that never holds a song whole.

``open_source(path)`` gives a ``FileSource``: a local file (a URL is copied to a local temporary file first), read
by libsndfile (WAV, FLAC, MP3, Ogg), else streamed out of ffmpeg as float32 PCM on a pipe, the decoders and the
samples of ``features.audio.decode``. ``source.blocks()`` yields float32 ``[channels, m]`` blocks and can be
called again (the separation reads a song twice); ``ArraySource`` does the same for a song already in memory.
Problems are ``features.audio.AudioError``s with decode's reasons and words: ``missing-file``, ``unreadable``
(a directory, an empty file, no permission, no decoder reads it, no samples, non-finite samples).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from typing import Any, Iterator

import numpy as np
import soundfile as sf

from features.audio import AudioError
from vocalmine import storage

#: Samples per channel of a block (about 3 s at 44.1 kHz).
BLOCK = 1 << 17


class RestartScan(Exception):
    """libsndfile failed inside the file: read it again, now through ffmpeg (as ``decode`` falls back)."""


class ArraySource:
    """A song in memory, float32 ``[channels, samples]``."""

    def __init__(self, samples: np.ndarray, rate: int, block: int = BLOCK):
        self.samples = np.atleast_2d(np.asarray(samples, np.float32))
        self.rate, self.channels, self.block = int(rate), self.samples.shape[0], block

    def blocks(self) -> Iterator[np.ndarray]:
        n = self.samples.shape[1]
        for a in range(0, max(n, 1), self.block):
            yield self.samples[:, a : a + self.block]


def _check_readable(path: str, shown: str) -> None:
    """Why a path cannot be decoded, before any decoder tries (theirs would say "Format not recognised")."""
    if not os.path.exists(path):
        raise AudioError("missing-file", shown)
    if os.path.isdir(path):
        raise AudioError("unreadable", f"{shown}: is a directory, not an audio file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1)
    except PermissionError:
        raise AudioError("unreadable", f"{shown}: permission denied (this user may not read the file)") from None
    except OSError as exc:
        raise AudioError("unreadable", f"{shown}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not head:
        raise AudioError("unreadable", f"{shown}: empty file (0 bytes)")


class FileSource:
    """A local audio file read in blocks (see the module doc); ``shown`` is the name messages give it."""

    def __init__(self, path: str, shown: str | None = None, block: int = BLOCK):
        self.path, self.shown, self.block = path, shown or path, block
        _check_readable(path, self.shown)
        self.sf_error: str | None = None
        try:
            info = sf.info(path)
            self.kind, self.rate, self.channels = "soundfile", int(info.samplerate), int(info.channels)
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
            self.sf_error = str(exc)
            self._use_ffmpeg()

    def _use_ffmpeg(self) -> None:
        """Switch to ffmpeg: its rate and channels (ffprobe); ``unreadable`` when it is missing or fails."""
        ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
        if ffmpeg is None or ffprobe is None:
            raise AudioError("unreadable", f"{self.shown}: {self.sf_error or 'not readable by libsndfile'}"
                             + ("" if ffmpeg else " (and ffmpeg is not installed)"))
        meta = subprocess.run(
            [ffprobe, "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,channels",
             "-of", "csv=p=0", self.path], capture_output=True, text=True, check=False)
        try:
            rate_s, channels_s = meta.stdout.strip().split(",")[:2]
            self.rate, self.channels = int(rate_s), int(channels_s)
        except ValueError:
            raise AudioError("unreadable", f"{self.shown}: {self.sf_error or 'ffprobe gave no stream info'}") from None
        if self.rate <= 0 or self.channels <= 0:
            raise AudioError("unreadable", f"{self.shown}: ffprobe reports {self.rate} Hz, {self.channels} channels")
        self.kind = "ffmpeg"

    def blocks(self) -> Iterator[np.ndarray]:
        """float32 ``[channels, m]`` blocks; ``AudioError`` for non-finite samples or a failing decoder."""
        reader = self._soundfile_blocks() if self.kind == "soundfile" else self._ffmpeg_blocks()
        for block in reader:
            if not np.all(np.isfinite(block)):
                raise AudioError("unreadable", f"{self.shown}: non-finite samples")
            yield block

    def _soundfile_blocks(self) -> Iterator[np.ndarray]:
        try:
            with sf.SoundFile(self.path) as f:
                while True:
                    data = f.read(self.block, dtype="float32", always_2d=True)
                    if not len(data):
                        return
                    yield np.ascontiguousarray(data.T)
        except (sf.LibsndfileError, RuntimeError) as exc:
            self.sf_error = str(exc)
            self._use_ffmpeg()
            raise RestartScan(str(exc)) from exc

    def _ffmpeg_blocks(self) -> Iterator[np.ndarray]:
        frame = 4 * self.channels
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([shutil.which("ffmpeg") or "ffmpeg", "-v", "error", "-i", self.path, "-f",
                                     "f32le", "-acodec", "pcm_f32le", "-"], stdout=subprocess.PIPE, stderr=err)
            finished = False
            try:
                while data := proc.stdout.read(self.block * frame):
                    usable = len(data) - len(data) % frame
                    yield np.frombuffer(data[:usable], "<f4").reshape(-1, self.channels).T.copy()
                finished = True
            finally:
                proc.stdout.close()
                if not finished:
                    proc.kill()
                proc.wait()
            if proc.returncode != 0:
                err.seek(0)
                text = err.read().decode(errors="replace").strip()[:200]
                raise AudioError("unreadable", f"{self.shown}: {self.sf_error or text or 'ffmpeg failed'}")


@contextlib.contextmanager
def open_source(path: Any, block: int = BLOCK) -> Iterator[FileSource]:
    """A ``FileSource`` for a local path or a URL (copied to a local temporary file while the block runs;
    messages name the URL)."""
    if not storage.is_url(path):
        yield FileSource(os.fspath(path), block=block)
        return
    url = str(path)
    with contextlib.ExitStack() as stack:
        try:
            if not storage.exists(url):
                raise AudioError("missing-file", url)
            tmp = stack.enter_context(storage.local_copy(url))
        except OSError as exc:
            raise AudioError("unreadable", f"{url}: {exc}") from None
        yield FileSource(tmp, shown=url, block=block)
