"""Training stage: the paper's U-Net (``model``), batches from shards (``data``, ``augment``), the learning-rate
schedule (``schedule``), safe checkpoints (``checkpoint``), what a resumed run may change (``resume``) and the
training loop (``train``). Separation and evaluation live beside it (``separation``, ``evaluation``).

Imports only earlier stages (``features``, ``catalog_schemas``) and the foundation (``vocalmine``).
"""

from training.model import UNet, UNetConfig, count_parameters, masked_l1_loss

__all__ = ["UNet", "UNetConfig", "count_parameters", "masked_l1_loss"]
