"""The U-Net of Jansson et al. (ISMIR 2017), section 3.1.2, and its no-skip baseline.

Shapes: input magnitude patches ``[batch, 1, 512, 128]`` (frequency bins, frames), values in [0, 1];
output a soft mask of the same shape, values in (0, 1). The estimate is ``mask * input`` (equation 1).

Layout (sizes for a 512 x 128 input)::

    x [1, 512, 128] -- enc1 [16, 256, 64] ----------------------------------------- dec6 -> mask [1, 512, 128]
                        enc2 [32, 128, 32] ------------------------------- dec5 [16, 256, 64]
                          enc3 [64, 64, 16] ----------------------- dec4 [32, 128, 32]
                            enc4 [128, 32, 8] ------------- dec3 [64, 64, 16]
                              enc5 [256, 16, 4] ---- dec2 [128, 32, 8]
                                enc6 [512, 8, 2] -> dec1 [256, 16, 4]

Each ``----`` is a skip: the encoder layer's output is concatenated (channel axis) to the input of the decoder
layer that produces the next size up. ``skip=False`` (the paper's baseline) drops every skip; the decoder
layers then see only the layer below, so their input channels halve.

Encoder layer: Conv2d 5x5 stride 2 -> BatchNorm -> LeakyReLU(0.2).
Decoder layer: ConvTranspose2d 5x5 stride 2 -> BatchNorm -> ReLU (-> Dropout 0.5 in the first three);
the last decoder layer is ConvTranspose2d -> Sigmoid (the mask).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from training.config import ARCHS


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the network; stored in every checkpoint so the model is rebuilt from the file alone."""

    channels: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    kernel_size: int = 5
    leaky_slope: float = 0.2
    dropout: float = 0.5
    dropout_layers: int = 3
    skip: bool = True

    @property
    def arch(self) -> str:
        """``unet`` (with skips) or ``baseline`` (without)."""
        return "unet" if self.skip else "baseline"

    @classmethod
    def for_arch(cls, arch: str) -> "UNetConfig":
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
        return cls(skip=arch == "unet")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if "channels" in kw:
            kw["channels"] = tuple(int(c) for c in kw["channels"])
        return cls(**kw)


class UNet(nn.Module):
    """Mask estimator. ``forward(x [B, 1, F, T]) -> mask [B, 1, F, T]``; F and T divisible by 2**depth."""

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        k, pad = config.kernel_size, config.kernel_size // 2
        chans = list(config.channels)
        depth = len(chans)

        self.encoder = nn.ModuleList()
        c_in = 1
        for c_out in chans:
            self.encoder.append(
                nn.Sequential(
                    nn.Conv2d(c_in, c_out, k, stride=2, padding=pad),
                    nn.BatchNorm2d(c_out),
                    nn.LeakyReLU(config.leaky_slope),
                )
            )
            c_in = c_out

        # Decoder layer i (0 = deepest) maps to the size of encoder layer depth-2-i (or the input for the last).
        self.decoder = nn.ModuleList()
        outs = chans[-2::-1] + [1]  # 256, 128, 64, 32, 16, 1
        c_in = chans[-1]
        for i, c_out in enumerate(outs):
            if i > 0 and config.skip:
                c_in = c_in + chans[depth - 1 - i]  # concatenated encoder output of the same size
            up = nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=pad, output_padding=1)
            if i == len(outs) - 1:
                layers: list[nn.Module] = [up, nn.Sigmoid()]
            else:
                layers = [up, nn.BatchNorm2d(c_out), nn.ReLU()]
                if i < config.dropout_layers:
                    layers.append(nn.Dropout(config.dropout))
            self.decoder.append(nn.Sequential(*layers))
            c_in = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: magnitudes ``[batch, 1, bins, frames]`` -> mask ``[batch, 1, bins, frames]`` in (0, 1)."""
        skips = []
        h = x
        for layer in self.encoder:
            h = layer(h)
            skips.append(h)
        for i, layer in enumerate(self.decoder):
            if i > 0 and self.config.skip:
                h = torch.cat([h, skips[-1 - i]], dim=1)
            h = layer(h)
        return h


def masked_l1_loss(mask: torch.Tensor, mix: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Equation 1: ``|| mask * X - Y ||_{1,1}``, divided by the element count (the mean; same minimiser).

    All ``[batch, 1, bins, frames]``; returns a scalar (float32 even under autocast).
    """
    return (mask.float() * mix.float() - target.float()).abs().mean()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
