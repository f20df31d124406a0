"""Streaming versions of the resampler, the STFT and the inverse STFT: each takes its input in blocks of any size
and gives what is final so far, and the concatenation of its outputs equals, sample for sample, what the
whole-signal function gives (``features.audio.resample``, ``features.stft.stft`` and ``istft``).

- ``Resampler``: soxr's streaming resampler, bit-identical to its one-shot call on float32 mono signals;
- ``StftStream``: frames of ``stft`` (``[bins, frames]`` complex64, frame ``k`` centred on sample ``k * hop``)
  as soon as their window is filled; ``finish()`` adds the end padding and gives the last ones;
- ``IstftStream``: the weighted overlap-add of ``istft`` (float64 sums, division by the summed squared window);
  samples are given once no later frame can touch them, never past ``length`` once it is set.

Memory: each holds at most one window (plus the block it was given) whatever the signal's length.
"""

from __future__ import annotations

import numpy as np
import soxr

from features.stft import StftParams


class Resampler:
    """``push(x [samples] float32) -> [samples']`` at ``rate_out``; ``finish()`` flushes the filter's tail."""

    def __init__(self, rate_in: int, rate_out: int):
        self.stream = None
        if rate_in != rate_out:
            self.stream = soxr.ResampleStream(rate_in, rate_out, 1, dtype="float32", quality="HQ")

    def push(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self.stream is None:
            return x
        return self.stream.resample_chunk(x, last=last)

    def finish(self) -> np.ndarray:
        return self.push(np.zeros(0, np.float32), last=True)


class StftStream:
    """Frames of ``features.stft.stft`` over a signal given in blocks (see the module doc)."""

    def __init__(self, params: StftParams):
        self.params = params
        self.window = params.window().astype(np.float32)
        self.buf = np.zeros(params.n_fft // 2, np.float32)  # the front padding of ``stft``
        self.buf_start = 0  # padded-signal index of buf[0]
        self.next_frame = 0
        self.samples = 0  # signal samples pushed

    def _frames(self, upto: int) -> np.ndarray:
        """Frames ``next_frame .. upto - 1`` (all inside ``buf``), complex64 ``[bins, k]``."""
        p = self.params
        k = upto - self.next_frame
        if k <= 0:
            return np.zeros((p.bins, 0), np.complex64)
        start = self.next_frame * p.hop - self.buf_start
        span = self.buf[start : start + (k - 1) * p.hop + p.n_fft]
        frames = np.lib.stride_tricks.sliding_window_view(span, p.n_fft)[:: p.hop]
        out = np.fft.rfft(frames * self.window, axis=1).T.astype(np.complex64)
        self.next_frame = upto
        drop = self.next_frame * p.hop - self.buf_start
        self.buf = self.buf[drop:]
        self.buf_start += drop
        return out

    def push(self, x: np.ndarray) -> np.ndarray:
        """The frames whose window ``x`` completes."""
        p = self.params
        self.samples += len(x)
        self.buf = np.concatenate([self.buf, np.asarray(x, np.float32)])
        end = self.buf_start + len(self.buf)
        return self._frames(max(self.next_frame, (end - p.n_fft) // p.hop + 1))

    def finish(self) -> np.ndarray:
        """The remaining frames, with ``stft``'s end padding (a full window of zeros)."""
        p = self.params
        self.buf = np.concatenate([self.buf, np.zeros(p.n_fft, np.float32)])
        return self._frames(p.frames(self.samples))


class IstftStream:
    """``features.stft.istft`` over frames given in blocks (see the module doc)."""

    def __init__(self, params: StftParams):
        self.params = params
        self.window = params.window()
        self.acc = np.zeros(0)
        self.env = np.zeros(0)
        self.base = 0  # padded-signal index of acc[0]
        self.frames = 0  # frames pushed
        self.emitted = 0  # output samples given
        self.length: int | None = None  # the signal's length, once known (output never goes past it)

    def _add(self, spec: np.ndarray) -> None:
        n_fft, hop = self.params.n_fft, self.params.hop
        frames = np.fft.irfft(spec.T.astype(np.complex128), n=n_fft, axis=1) * self.window
        m = frames.shape[0]
        first = self.frames * hop - self.base
        need = first + (m - 1) * hop + n_fft + hop
        if need > len(self.acc):
            self.acc = np.concatenate([self.acc, np.zeros(need - len(self.acc))])
            self.env = np.concatenate([self.env, np.zeros(need - len(self.env))])
        # Overlap-add in ceil(n_fft / hop) strides, as ``istft`` does.
        for k in range(-(-n_fft // hop)):
            part = frames[:, k * hop : (k + 1) * hop]
            width = part.shape[1]
            block = np.zeros((m, hop))
            block[:, :width] = part
            at = first + k * hop
            self.acc[at : at + m * hop] += block.reshape(-1)
            wblock = np.zeros(hop)
            wblock[:width] = self.window[k * hop : (k + 1) * hop] ** 2
            self.env[at : at + m * hop] += np.tile(wblock, m)
        self.frames += m

    def _emit(self, end: int) -> np.ndarray:
        """Output samples ``emitted .. end - 1`` (padded index + n_fft // 2), float32."""
        start_pad = self.emitted + self.params.n_fft // 2
        a, b = start_pad - self.base, end + self.params.n_fft // 2 - self.base
        if b <= a:
            return np.zeros(0, np.float32)
        out = (self.acc[a:b] / np.maximum(self.env[a:b], 1e-8)).astype(np.float32)
        self.emitted = end
        self.acc, self.env = self.acc[b:], self.env[b:]
        self.base += b
        return out

    def push(self, spec: np.ndarray) -> np.ndarray:
        """Add frames ``[bins, k]``; the samples no later frame will touch (never past ``length`` once set)."""
        if spec.shape[1]:
            self._add(spec)
        end = self.frames * self.params.hop - self.params.n_fft // 2  # later frames start at or after it
        if self.length is not None:
            end = min(end, self.length)
        return self._emit(max(self.emitted, end))

    def finish(self) -> np.ndarray:
        """The rest of the signal, up to ``length`` (set it first: ``istft``'s ``length``)."""
        if self.length is None:
            raise ValueError("IstftStream.finish needs its length")
        have = self.base + len(self.acc) - self.params.n_fft // 2
        if have < self.length:
            raise ValueError(f"spectrogram of {self.frames} frames is too short for {self.length} samples")
        return self._emit(max(self.emitted, self.length))
