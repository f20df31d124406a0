"""The whole-song separation as it was before separation streamed (issue 22, point 19), kept verbatim as the
reference the streaming separation is compared with: decode everything, one mask over the whole song, each
channel masked whole. ``reference_separate(mixture, rate, vocals_model, instrumental_model=None, ...)``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from features.audio import fit_length, resample
from features.stft import StftParams, istft, stft
from vocalmine.errors import UserInputError

PATCH_FRAMES = 128
PATCH_HOP = 64
COMBINE = ("sum-to-one", "wiener", "independent")


def patch_window(frames: int = PATCH_FRAMES) -> np.ndarray:
    """Periodic Hann window ``[frames]``: copies shifted by ``frames // 2`` sum to exactly 1."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frames) / frames)).astype(np.float32)


def predict_mask(model, mag: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Soft mask float32 ``[512, frames]`` for a normalised magnitude ``[512, frames]`` (any number of frames).

    Patches of 128 frames every 64, blended with ``patch_window`` (see the module doc).
    """
    bins, frames = mag.shape
    pad = PATCH_HOP
    n_patches = max(1, -(-(frames + pad) // PATCH_HOP))  # the last patch starts at or after frame frames-1+pad-64
    total = (n_patches - 1) * PATCH_HOP + PATCH_FRAMES
    padded = np.zeros((bins, total), np.float32)
    padded[:, pad : pad + frames] = mag
    starts = np.arange(n_patches) * PATCH_HOP
    acc = np.zeros((bins, total), np.float32)
    weight = np.zeros(total, np.float32)
    win = patch_window()
    with torch.inference_mode():
        for i in range(0, n_patches, batch_size):
            chunk = starts[i : i + batch_size]
            x = np.stack([padded[:, s : s + PATCH_FRAMES] for s in chunk])[:, None]
            xt = torch.from_numpy(x).to(model.device)
            if model.device.type == "cuda":
                xt = xt.contiguous(memory_format=torch.channels_last)
            m = model.model(xt).float().cpu().numpy()[:, 0]
            for s, mk in zip(chunk, m):
                acc[:, s : s + PATCH_FRAMES] += mk * win
                weight[s : s + PATCH_FRAMES] += win
    out = acc[:, pad : pad + frames] / np.maximum(weight[pad : pad + frames], 1e-6)
    return out.astype(np.float32)


def with_nyquist(mask: np.ndarray) -> np.ndarray:
    """``[512, frames]`` -> ``[513, frames]``: the Nyquist bin gets the mask of the bin below it."""
    return np.concatenate([mask, mask[-1:]], axis=0)


def song_mask(model, mono: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Mask ``[513, frames]`` of a mono signal at the model's rate (``[samples]``)."""
    spec = stft(mono, model.params)
    mag = np.abs(spec[:-1])
    scale = float(mag.max())
    if scale <= 0:
        return np.zeros((spec.shape[0], spec.shape[1]), np.float32)  # silence: nothing to separate
    return with_nyquist(predict_mask(model, mag / scale, batch_size))


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


def upsample_mask(mask: np.ndarray, model_params: StftParams, params: StftParams, frames: int) -> np.ndarray:
    """A ``[513, F]`` mask of ``model_params`` on the grid of ``params`` (``[params.bins, frames]``).

    Linear in time (frame centres in s) and frequency (Hz); above the model's Nyquist frequency, the per-frame
    mean of the mask over the model's top octave.
    """
    t_src = np.arange(mask.shape[1]) * model_params.hop / model_params.sample_rate
    t_dst = np.arange(frames) * params.hop / params.sample_rate
    f_src = np.arange(mask.shape[0]) * model_params.sample_rate / model_params.n_fft
    f_dst = np.arange(params.bins) * params.sample_rate / params.n_fft
    if mask.shape[1] == 1:
        timed = np.repeat(mask, frames, axis=1)
    else:
        timed = _interp_axis(mask, t_src, t_dst, axis=1)  # [513, frames]
    out = _interp_axis(timed, f_src, np.minimum(f_dst, f_src[-1]), axis=0)  # [bins, frames]
    top = f_src >= f_src[-1] / 2
    above = f_dst > f_src[-1]
    out[above] = timed[top].mean(axis=0, keepdims=True)
    return out.astype(np.float32)


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


@dataclass
class Separated:
    """Separated stems, float32 ``[channels, samples]`` at ``sample_rate`` (the input's)."""

    vocals: np.ndarray
    instrumental: np.ndarray
    sample_rate: int


def reference_separate(
    mixture: np.ndarray,
    sample_rate: int,
    vocals_model,
    instrumental_model=None,
    *,
    full_band: bool = False,
    batch_size: int = 8,
    combine: str = "wiener",
) -> Separated:
    """Vocals and instrumental of ``mixture`` float32 ``[channels, samples]`` (or ``[samples]``) at ``sample_rate``.

    ``combine``: how the two masks are combined when ``instrumental_model`` is given (``combine_masks``)."""
    if combine not in COMBINE:
        raise UserInputError(f"mask combination must be one of {COMBINE}, got {combine!r}")
    mix = np.atleast_2d(np.asarray(mixture, np.float32))
    n = mix.shape[1]
    mp = vocals_model.params
    if instrumental_model is not None and instrumental_model.params != mp:
        raise UserInputError("the vocals and instrumental models were trained on different STFT parameters")
    mono_lo = resample(mix.mean(axis=0), sample_rate, mp.sample_rate)
    masks = {"vocals": song_mask(vocals_model, mono_lo, batch_size)}
    if instrumental_model is not None:
        masks["instrumental"] = song_mask(instrumental_model, mono_lo, batch_size)
        masks["vocals"], masks["instrumental"] = combine_masks(masks["vocals"], masks["instrumental"], combine)

    out: dict[str, list[np.ndarray]] = {"vocals": [], "instrumental": []}
    for ch in mix:
        if full_band:
            params = full_band_params(sample_rate, mp)
            spec = stft(ch, params)
            for name, mask in masks.items():
                m = upsample_mask(mask, mp, params, spec.shape[1])
                out[name].append(istft(spec * m, n, params))
            if instrumental_model is None:
                out["instrumental"].append(ch - out["vocals"][-1])
        else:
            lo = resample(ch, sample_rate, mp.sample_rate)
            spec = stft(lo, mp)
            est = {name: istft(spec * mask, len(lo), mp) for name, mask in masks.items()}
            if instrumental_model is None:
                est["instrumental"] = lo - est["vocals"]
            for name in out:
                out[name].append(fit_length(resample(est[name], mp.sample_rate, sample_rate), n))
    return Separated(np.stack(out["vocals"]), np.stack(out["instrumental"]), sample_rate)
