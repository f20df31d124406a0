"""What the model part of a loaded checkpoint must hold before a model is built from it.

A checkpoint that loads safely (plain data only) can still hold content no model can be built from: a string
where the architecture should be, an STFT hop of 0, a negative sample rate, channel counts that would allocate
terabytes, a weight of the wrong shape, NaN weights from a run that diverged. ``model_part_problem(ckpt)`` says
what the first such problem is (``None`` when there is none), in words a user can act on; ``training.checkpoint``
refuses the file with it. The expected weight shapes come from the model the config describes, built on torch's
``meta`` device (no memory is allocated).
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any, Mapping

import torch

from training.config import ARCHS, TARGETS
from training.model import UNet, UNetConfig

#: Bounds that keep a model buildable: the paper's net has 6 layers of 16..512 channels; a patch of 128 frames
#: halves 7 times at most.
MAX_LAYERS = 7
MAX_CHANNELS = 4096
MAX_KERNEL = 15
MAX_SAMPLE_RATE = 384_000
MAX_N_FFT = 1 << 16


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(value: Any) -> str:
    return type(value).__name__


def stft_problem(stft: Any, depth: int) -> str | None:
    """What is wrong with ``{"sample_rate", "n_fft", "hop"}`` for a model of ``depth`` layers (None: nothing)."""
    if not isinstance(stft, Mapping):
        return f"stft is {_kind(stft)}, expected a mapping with sample_rate, n_fft and hop"
    rate, n_fft, hop = (stft.get(k) for k in ("sample_rate", "n_fft", "hop"))
    if not _whole(rate) or not 0 < rate <= MAX_SAMPLE_RATE:
        return f"stft.sample_rate is {rate!r} (expected a positive whole number of Hz up to {MAX_SAMPLE_RATE})"
    step = 2 * 2**depth  # the model sees n_fft // 2 bins, halved ``depth`` times
    if not _whole(n_fft) or not step <= n_fft <= MAX_N_FFT or n_fft % step:
        return (f"stft.n_fft is {n_fft!r} (expected a multiple of {step} up to {MAX_N_FFT}, so that a model of "
                f"{depth} layers sees a whole number of bins at each)")
    if not _whole(hop) or not 1 <= hop <= n_fft:
        return f"stft.hop is {hop!r} (expected a whole number from 1 to n_fft = {n_fft})"
    return None


def config_problem(config: Any) -> str | None:
    """What is wrong with a ``UNetConfig.to_dict()`` (None: nothing)."""
    if not isinstance(config, Mapping):
        return f"model_config is {_kind(config)}, expected a mapping"
    defaults = UNetConfig()
    get = {f.name: config.get(f.name, getattr(defaults, f.name)) for f in fields(UNetConfig)}
    chans = get["channels"]
    if (not isinstance(chans, (list, tuple)) or not 1 <= len(chans) <= MAX_LAYERS
            or not all(_whole(c) and 1 <= c <= MAX_CHANNELS for c in chans)):
        shown = list(chans) if isinstance(chans, (list, tuple)) else chans
        return (f"model_config.channels is {shown!r} (expected 1 to {MAX_LAYERS} layers of 1 to {MAX_CHANNELS} "
                "channels)")
    k = get["kernel_size"]
    if not _whole(k) or not 1 <= k <= MAX_KERNEL or k % 2 == 0:
        return f"model_config.kernel_size is {k!r} (expected an odd whole number from 1 to {MAX_KERNEL})"
    if not _number(get["leaky_slope"]):
        return f"model_config.leaky_slope is {get['leaky_slope']!r} (expected a finite number)"
    if not _number(get["dropout"]) or not 0 <= get["dropout"] < 1:
        return f"model_config.dropout is {get['dropout']!r} (expected a number from 0 to below 1)"
    if not _whole(get["dropout_layers"]) or not 0 <= get["dropout_layers"] <= len(chans):
        return f"model_config.dropout_layers is {get['dropout_layers']!r} (expected 0 to {len(chans)})"
    if not isinstance(get["skip"], bool):
        return f"model_config.skip is {get['skip']!r} (expected true or false)"
    return None


def weights_problem(weights: Any, config: UNetConfig) -> str | None:
    """What is wrong with a state dict for a ``UNet(config)``: keys, shapes, kinds, finiteness (None: nothing)."""
    if not isinstance(weights, Mapping):
        return f"model is {_kind(weights)}, expected a mapping of weight names to tensors"
    with torch.device("meta"):
        expected = UNet(config).state_dict()
    for name, want in expected.items():
        if name not in weights:
            return f"model lacks {name!r}, which its model_config needs"
        got = weights[name]
        if not isinstance(got, torch.Tensor):
            return f"model[{name!r}] is {_kind(got)}, expected a tensor"
        if tuple(got.shape) != tuple(want.shape):
            return (f"model[{name!r}] has shape {list(got.shape)}; its model_config gives {list(want.shape)}")
        if got.is_floating_point() != want.is_floating_point():
            return f"model[{name!r}] holds {got.dtype}, expected {want.dtype}"
    extra = sorted(set(weights) - set(expected))
    if extra:
        return f"model holds {extra[0]!r}, which its model_config has no place for"
    for name, t in weights.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return (f"non-finite weights (NaN or inf) in model[{name!r}]: the run that wrote it diverged; use an "
                    "earlier checkpoint, or train again with a lower --lr")
    return None


def model_part_problem(ckpt: Mapping) -> str | None:
    """The first problem of a checkpoint's model part (target, arch, model_config, stft, model, step), or None."""
    target, arch, step = ckpt.get("target"), ckpt.get("arch"), ckpt.get("step", 0)
    if target not in TARGETS:
        return f"target is {target!r} (expected one of {', '.join(TARGETS)})"
    if arch not in ARCHS:
        return f"arch is {arch!r} (expected one of {', '.join(ARCHS)})"
    if not _whole(step) or step < 0:
        return f"step is {step!r} (expected a whole number of steps, 0 or more)"
    problem = config_problem(ckpt.get("model_config"))
    if problem:
        return problem
    config = UNetConfig.from_dict(ckpt["model_config"])
    if config.arch != arch:
        has = "has skip connections" if config.skip else "has none"
        return f"arch is {arch!r} but its model_config {has}"
    problem = stft_problem(ckpt.get("stft"), len(config.channels))
    if problem:
        return problem
    return weights_problem(ckpt.get("model"), config)
