"""Processes and devices of a run: which rank this process is (``torchrun`` sets ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``), the collectives the training loop needs (no-ops in a single process), and the device, precision
and memory format it computes with.

``Compute`` is the one place that decides how tensors look on the device: ``auto`` keeps what CUDA always got
(bf16 autocast, fp16 with a gradient scaler where bf16 is unsupported, channels-last tensors) and what the CPU
always got (fp32, contiguous); ``precision="bf16"`` and ``channels_last=True`` ask for the same on the CPU
(torch's CPU autocast with bfloat16), so the GPU's code path runs on any machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from vocalmine.errors import UserInputError


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: ``rank`` of ``world_size``, and its GPU index on the node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        """From torchrun's environment variables; a single process without them."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def gather(obj: Any, d: Dist) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (picklable objects)."""
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(values: list[float], d: Dist, device: torch.device) -> list[float]:
    """Each value summed over the ranks (float64)."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_buffers(module: torch.nn.Module, d: Dist) -> None:
    """Every rank takes rank 0's buffers (BatchNorm statistics; DDP broadcasts them before each forward)."""
    if d.enabled:
        for buf in module.buffers():
            dist.broadcast(buf, src=0)


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserInputError("--device cuda asked for, but torch sees no CUDA device (use --device cpu or auto)")
    return torch.device("cuda", local_rank)


@dataclass(frozen=True)
class Compute:
    """How a device computes: ``precision`` (``fp32``, ``bf16`` or ``fp16``: the autocast dtype; fp16 only on
    CUDA without bf16, with a gradient scaler) and ``channels_last`` (NHWC tensors for the model and batches)."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False

    @classmethod
    def resolve(cls, device: torch.device, precision: str = "auto", channels_last: bool | None = None) -> "Compute":
        """``precision`` ``auto``/``fp32``/``bf16`` and ``channels_last`` (None: on CUDA only) on ``device``."""
        cuda = device.type == "cuda"
        if precision == "auto":
            precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
        elif precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
            raise UserInputError("--precision bf16: this GPU does not support bfloat16 (use --precision auto)")
        return cls(device, precision, cuda if channels_last is None else bool(channels_last))

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The forward pass's autocast context (disabled in fp32)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that only scales in fp16 (bf16 and fp32 need none)."""
        return torch.amp.GradScaler("cuda", enabled=self.precision == "fp16")

    def model(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` on the device, in the memory format."""
        module = module.to(self.device)
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def batch(self, t: torch.Tensor) -> torch.Tensor:
        """A ``[batch, 1, 512, 128]`` tensor on the device, float32, in the memory format."""
        t = t.to(self.device, non_blocking=True).float()
        return t.contiguous(memory_format=torch.channels_last) if self.channels_last else t


def state_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-1 over every tensor of a state dict (names, shapes, float32 CPU bytes): equal weights, equal digest."""
    h = hashlib.sha1()
    for name in sorted(state_dict):
        t = state_dict[name].detach().to("cpu")
        if t.is_floating_point():
            t = t.float()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()
