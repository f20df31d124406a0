"""Checkpoints with a known output, for the separation and evaluation tests."""

from __future__ import annotations

from pathlib import Path

import torch

from training.checkpoint import model_payload, save_checkpoint
from training.model import UNet

STFT = {"sample_rate": 8192, "n_fft": 1024, "hop": 768}


def constant_model(path: Path, value_logit: float = 0.0, target: str = "vocals") -> Path:
    """A real U-Net whose last layer is zeroed: its mask is sigmoid(value_logit) everywhere (0.5 for 0)."""
    torch.manual_seed(0)
    model = UNet()
    last = model.decoder[-1][0]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.constant_(last.bias, value_logit)
    save_checkpoint(model_payload(model, target, STFT, step=7), path)
    return path
