"""The paper's STFT (8192 Hz, Hann 1024, hop 768) and its inverse, in NumPy.

Shapes: a signal is ``[samples]``; a spectrogram is ``[bins, frames]`` with ``bins = n_fft // 2 + 1``.

Padding (see FIELD_NOTES): hop 768 is three quarters of the window, so overlapping Hann windows do not sum
to a constant and the inverse divides by the summed squared window. To keep that envelope away from zero
at the ends, the signal gets ``n_fft // 2`` zeros in front (frame ``k`` is centred on sample ``k * hop``)
and a full window of zeros at the end; the inverse trims both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StftParams:
    """STFT parameters; the defaults are the paper's (Jansson et al. 2017, section 3.2)."""

    sample_rate: int = 8192
    n_fft: int = 1024
    hop: int = 768

    @property
    def bins(self) -> int:
        """Frequency bins of the full spectrum, Nyquist included (513 at the defaults)."""
        return self.n_fft // 2 + 1

    def frames(self, samples: int) -> int:
        """Number of frames ``stft`` gives for a signal of ``samples`` samples."""
        return 1 + (samples + self.n_fft // 2) // self.hop

    def window(self) -> np.ndarray:
        """Periodic Hann window, float64 ``[n_fft]``."""
        return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(self.n_fft) / self.n_fft)


PAPER_STFT = StftParams()


def stft(signal: np.ndarray, params: StftParams = PAPER_STFT) -> np.ndarray:
    """Complex spectrogram, complex64 ``[bins, frames]`` of a float ``[samples]`` signal."""
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"stft expects a mono signal [samples], got shape {signal.shape}")
    padded = np.concatenate(
        [np.zeros(params.n_fft // 2, np.float32), signal, np.zeros(params.n_fft, np.float32)]
    )
    frames = np.lib.stride_tricks.sliding_window_view(padded, params.n_fft)[:: params.hop]
    windowed = frames * params.window().astype(np.float32)
    return np.fft.rfft(windowed, axis=1).T.astype(np.complex64)


def istft(spectrogram: np.ndarray, length: int, params: StftParams = PAPER_STFT) -> np.ndarray:
    """Inverse of ``stft``: float32 ``[length]`` from complex ``[bins, frames]`` (weighted overlap-add)."""
    n_fft, hop = params.n_fft, params.hop
    window = params.window()
    frames = np.fft.irfft(spectrogram.T.astype(np.complex128), n=n_fft, axis=1) * window
    n_frames = frames.shape[0]
    total = (n_frames - 1) * hop + n_fft
    out = np.zeros(total + hop)
    envelope = np.zeros(total + hop)
    # Overlap-add in ceil(n_fft / hop) vectorised strides instead of a loop over frames.
    for k in range(-(-n_fft // hop)):
        part = frames[:, k * hop : (k + 1) * hop]
        width = part.shape[1]
        block = np.zeros((n_frames, hop))
        block[:, :width] = part
        out[k * hop : k * hop + n_frames * hop] += block.reshape(-1)
        wblock = np.zeros(hop)
        wblock[:width] = window[k * hop : (k + 1) * hop] ** 2
        envelope[k * hop : k * hop + n_frames * hop] += np.tile(wblock, n_frames)
    start = n_fft // 2
    out = out[start : start + length]
    envelope = envelope[start : start + length]
    if out.shape[0] < length:
        raise ValueError(f"spectrogram of {n_frames} frames is too short for {length} samples")
    return (out / np.maximum(envelope, 1e-8)).astype(np.float32)


def magnitude(signal: np.ndarray, params: StftParams = PAPER_STFT, drop_nyquist: bool = True) -> np.ndarray:
    """Magnitude spectrogram, float32 ``[bins - 1, frames]`` (Nyquist dropped, as the paper's 512 bins) or ``[bins, frames]``."""
    mag = np.abs(stft(signal, params))
    return mag[:-1] if drop_nyquist else mag
