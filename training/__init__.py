"""Training stage: the paper's U-Net (``model``), batches from shards (``data``), safe checkpoints
(``checkpoint``), the training loop (``train``), separation (``separate``) and BSS Eval (``evaluate``).

Imports only earlier stages (``features``, ``catalog_schemas``) and ``vocalmine`` core utilities.
"""

from training.model import UNet, UNetConfig, count_parameters, masked_l1_loss

__all__ = ["UNet", "UNetConfig", "count_parameters", "masked_l1_loss"]
