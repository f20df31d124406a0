"""Masks: the model on overlapping patches, blended; the mask carried to another STFT grid (``--full-band``); two
models' masks combined. Each works on frames given in blocks, so a song is never held whole; the whole-array
functions (``predict_mask``, ``upsample_mask``) are the same streams fed once.

- ``MaskStream``: patches of 128 frames every 64 (50 % overlap) on the padded frame axis (64 zero frames in
  front, zeros after the last frame up to the last patch), the model run on ``batch_size`` patches at a time
  in the same groups as a whole-song pass, each patch's mask weighted by a periodic Hann window whose copies at
  50 % overlap sum to exactly 1 (a cross-fade without seams); a frame is given once both patches covering it
  are done (at most 128 frames, plus one batch, after its magnitude came in).
- ``FullBandMask``: the ``[513, frames]`` mask of the model's STFT interpolated (linearly, in seconds and Hz)
  onto the frames of the input's own-rate STFT; above the model's band each frame gets the mean of its mask
  over the top octave.
- ``combine_masks``: ``wiener`` (default), ``sum-to-one`` or ``independent`` (see its doc).
"""

from __future__ import annotations

import numpy as np
import torch

from features.stft import StftParams
from vocalmine.errors import UserInputError

PATCH_FRAMES = 128
PATCH_HOP = 64
COMBINE = ("sum-to-one", "wiener", "independent")


def patch_window(frames: int = PATCH_FRAMES) -> np.ndarray:
    """Periodic Hann window ``[frames]``: copies shifted by ``frames // 2`` sum to exactly 1."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frames) / frames)).astype(np.float32)


def with_nyquist(mask: np.ndarray) -> np.ndarray:
    """``[512, frames]`` -> ``[513, frames]``: the Nyquist bin gets the mask of the bin below it."""
    return np.concatenate([mask, mask[-1:]], axis=0)


class MaskStream:
    """Soft masks float32 ``[512, k]`` of normalised magnitude frames ``[512, m]`` pushed in blocks (module doc).

    ``model``: a ``separation.separate.LoadedModel`` (``.model``, ``.device``)."""

    def __init__(self, model, batch_size: int = 8):
        self.model, self.batch_size = model, batch_size
        self.win = patch_window()
        self.inp: np.ndarray | None = None  # padded input frames from padded index ``inp_base``
        self.inp_base = 0
        self.acc: np.ndarray | None = None  # blended masks and weights from padded index ``acc_base``
        self.weight = np.zeros(0, np.float32)
        self.acc_base = 0
        self.frames = 0  # magnitude frames pushed
        self.next_patch = 0
        self.emitted = 0  # mask frames given

    def _ensure(self, bins: int) -> None:
        if self.inp is None:
            self.inp = np.zeros((bins, PATCH_HOP), np.float32)  # the front padding
            self.acc = np.zeros((bins, 0), np.float32)

    def _run(self, upto: int) -> None:
        """Run the model on patches ``next_patch .. upto - 1`` (their frames are in ``inp``)."""
        starts = np.arange(self.next_patch, upto) * PATCH_HOP
        if not len(starts):
            return
        need = int(starts[-1]) + PATCH_FRAMES - self.acc_base
        if need > self.acc.shape[1]:
            grow = need - self.acc.shape[1]
            self.acc = np.concatenate([self.acc, np.zeros((self.acc.shape[0], grow), np.float32)], axis=1)
            self.weight = np.concatenate([self.weight, np.zeros(grow, np.float32)])
        x = np.stack([self.inp[:, s - self.inp_base : s - self.inp_base + PATCH_FRAMES] for s in starts])[:, None]
        xt = torch.from_numpy(x).to(self.model.device)
        if self.model.device.type == "cuda":
            xt = xt.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            m = self.model.model(xt).float().cpu().numpy()[:, 0]
        for s, mk in zip(starts, m):
            a = int(s) - self.acc_base
            self.acc[:, a : a + PATCH_FRAMES] += mk * self.win
            self.weight[a : a + PATCH_FRAMES] += self.win
        self.next_patch = upto
        keep = self.next_patch * PATCH_HOP - self.inp_base  # the next patch's first frame
        self.inp, self.inp_base = self.inp[:, keep:], self.inp_base + keep

    def _emit(self, upto: int) -> np.ndarray:
        """Mask frames ``emitted .. upto - 1`` (padded index + 64)."""
        if upto <= self.emitted:
            return np.zeros((self.acc.shape[0], 0), np.float32)
        a, b = self.emitted + PATCH_HOP - self.acc_base, upto + PATCH_HOP - self.acc_base
        out = self.acc[:, a:b] / np.maximum(self.weight[a:b], 1e-6)
        self.acc, self.weight, self.acc_base = self.acc[:, b:], self.weight[b:], self.acc_base + b
        self.emitted = upto
        return out.astype(np.float32)

    def push(self, mag: np.ndarray) -> np.ndarray:
        """Add magnitude frames; the mask frames that are final."""
        self._ensure(mag.shape[0])
        self.inp = np.concatenate([self.inp, mag.astype(np.float32, copy=False)], axis=1)
        self.frames += mag.shape[1]
        have = PATCH_HOP + self.frames  # padded frames received
        ready = (have - PATCH_FRAMES) // PATCH_HOP + 1 if have >= PATCH_FRAMES else 0  # patches with all frames
        full = self.next_patch + (ready - self.next_patch) // self.batch_size * self.batch_size
        for upto in range(self.next_patch + self.batch_size, full + 1, self.batch_size):
            self._run(upto)
        return self._emit(max(self.emitted, (self.next_patch - 1) * PATCH_HOP))

    def finish(self) -> np.ndarray:
        """The remaining mask frames: the zero padding after the last frame, the last patches."""
        self._ensure(512)
        n_patches = max(1, -(-(self.frames + PATCH_HOP) // PATCH_HOP))
        total = (n_patches - 1) * PATCH_HOP + PATCH_FRAMES
        tail = total - (self.inp_base + self.inp.shape[1])
        if tail > 0:
            self.inp = np.concatenate([self.inp, np.zeros((self.inp.shape[0], tail), np.float32)], axis=1)
        while self.next_patch < n_patches:
            self._run(min(n_patches, self.next_patch + self.batch_size))
        return self._emit(self.frames)


def predict_mask(model, mag: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Soft mask float32 ``[512, frames]`` for a normalised magnitude ``[512, frames]`` (any number of frames)."""
    stream = MaskStream(model, batch_size)
    return np.concatenate([stream.push(mag), stream.finish()], axis=1)


def _interp_axis(values: np.ndarray, src: np.ndarray, dst: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``values`` along ``axis`` from positions ``src`` (increasing) to ``dst`` (clamped)."""
    idx = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, len(src) - 2)
    w = np.clip((dst - src[idx]) / (src[idx + 1] - src[idx]), 0.0, 1.0).astype(np.float32)
    lo = np.take(values, idx, axis=axis)
    hi = np.take(values, idx + 1, axis=axis)
    shape = [1] * values.ndim
    shape[axis] = len(dst)
    w = w.reshape(shape)
    return lo * (1 - w) + hi * w


def full_band_params(sample_rate: int, model_params: StftParams) -> StftParams:
    """STFT at ``sample_rate`` with the model STFT's window and hop durations (n_fft a multiple of 4)."""
    ratio = sample_rate / model_params.sample_rate
    n_fft = max(4, int(round(model_params.n_fft * ratio / 4)) * 4)
    hop = int(round(n_fft * model_params.hop / model_params.n_fft))
    return StftParams(sample_rate=sample_rate, n_fft=n_fft, hop=hop)


class FullBandMask:
    """A ``[513, F]`` mask of ``model_params`` pushed in blocks, read on the frames of ``params`` (module doc)."""

    def __init__(self, model_params: StftParams, params: StftParams):
        self.mp, self.params = model_params, params
        bins = model_params.n_fft // 2 + 1
        self.f_src = np.arange(bins) * model_params.sample_rate / model_params.n_fft
        self.f_dst = np.arange(params.bins) * params.sample_rate / params.n_fft
        self.top = self.f_src >= self.f_src[-1] / 2
        self.above = self.f_dst > self.f_src[-1]
        self.buf = np.zeros((bins, 0), np.float32)  # mask frames from ``base``
        self.base = 0
        self.total: int | None = None  # the mask's frame count, once the song ended

    def push(self, mask: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, mask], axis=1)

    def finish(self) -> None:
        self.total = self.base + self.buf.shape[1]

    def _t_src(self, idx: np.ndarray) -> np.ndarray:
        return idx * self.mp.hop / self.mp.sample_rate

    def _t_dst(self, k0: int, k1: int) -> np.ndarray:
        return np.arange(k0, k1) * self.params.hop / self.params.sample_rate

    def ready(self, k0: int, k1: int) -> int:
        """How many frames from ``k0`` (of ``k0 .. k1 - 1``) can be read now: all once the song ended, else those
        whose two neighbouring mask frames have come."""
        if self.total is not None:
            return k1 - k0
        end = self.base + self.buf.shape[1]
        if end < 2:
            return 0
        return int(np.sum(self._t_dst(k0, k1) < self._t_src(np.array(end - 1))))

    def frames(self, k0: int, k1: int) -> np.ndarray:
        """The mask on frames ``k0 .. k1 - 1`` of ``params``, float32 ``[params.bins, k1 - k0]``; mask frames that
        no later frame needs are released."""
        t_dst = self._t_dst(k0, k1)
        if self.total == 1:
            timed = np.repeat(self.buf[:, :1], k1 - k0, axis=1)
        else:
            src = self._t_src(np.arange(self.base, self.base + self.buf.shape[1]))
            idx = np.searchsorted(src, t_dst, side="right") - 1 + self.base
            if self.total is not None:
                idx = np.clip(idx, 0, self.total - 2)
            w = np.clip((t_dst - self._t_src(idx)) / (self._t_src(idx + 1) - self._t_src(idx)), 0.0, 1.0)
            w = w.astype(np.float32)[None]
            timed = self.buf[:, idx - self.base] * (1 - w) + self.buf[:, idx + 1 - self.base] * w
            if len(idx):
                drop = int(idx[-1]) - self.base  # the next frame's left neighbour is at or after this one
                self.buf, self.base = self.buf[:, drop:], self.base + drop
        out = _interp_axis(timed, self.f_src, np.minimum(self.f_dst, self.f_src[-1]), axis=0)
        out[self.above] = timed[self.top].mean(axis=0, keepdims=True)
        return out.astype(np.float32)


def upsample_mask(mask: np.ndarray, model_params: StftParams, params: StftParams, frames: int) -> np.ndarray:
    """A ``[513, F]`` mask of ``model_params`` on the grid of ``params`` (``[params.bins, frames]``)."""
    fb = FullBandMask(model_params, params)
    fb.push(mask)
    fb.finish()
    return fb.frames(0, frames)


def combine_masks(vocals: np.ndarray, instrumental: np.ndarray, method: str = "wiener",
                  eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """The two models' masks (same shape, values in [0, 1]) -> the masks applied to the mixture.

    ``sum-to-one``: ``m_v / (m_v + m_i)`` and ``m_i / (m_v + m_i)``; ``wiener``: ``m_v^2 / (m_v^2 + m_i^2)``
    and the complement (the estimates' power ratio; ``|X|`` cancels); both sum to exactly one per bin (a bin
    where both masks are 0 is split in half). ``independent``: the masks unchanged.
    """
    if method not in COMBINE:
        raise UserInputError(f"mask combination must be one of {COMBINE}, got {method!r}")
    if method == "independent":
        return vocals, instrumental
    v = vocals.astype(np.float64)
    i = instrumental.astype(np.float64)
    if method == "wiener":
        v, i = v * v, i * i
    total = v + i
    mv = np.where(total > eps, v / np.maximum(total, eps), 0.5)
    return mv.astype(np.float32), (1.0 - mv).astype(np.float32)
