"""``TrainConfig``: every setting of a training run, declared once (``vocalmine.settings``); the ``train``
command's options, their defaults and limits are derived from it (``commands.options``).

The augmentation settings are ``training.augment.Augment``'s own (composed: ``config.augment``), flat on the
command line and in the record. ``to_dict()`` is the record every run keeps (the checkpoint's ``train_config``,
``train_summary.json``'s ``config``, what ``--resume`` compares): the flat ``{setting: value}`` form, in field
order, without ``UNRECORDED`` (settings of how a run executes, added after runs were recorded; the checkpoint
records the precision it resolved to beside the config).

Imports no torch (nor a module that does), so that the ``train`` command's ``--help`` starts at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from training.augment import Augment
from training.schedule import SCHEDULES
from vocalmine.errors import UserInputError
from vocalmine.settings import check, flat_dict, setting

#: What a model's mask extracts (one model per target).
TARGETS = ("vocals", "instrumental")
#: The paper's U-Net and its no-skip baseline (``training.model``).
ARCHS = ("unet", "baseline")
DEVICES = ("auto", "cpu", "cuda")
#: ``auto``: bf16 autocast on CUDA (fp16 with a gradient scaler where bf16 is unsupported), fp32 on the CPU.
PRECISIONS = ("auto", "fp32", "bf16")
#: Settings kept out of ``to_dict()`` (see the module doc), so records keep the keys they always had.
UNRECORDED = ("precision", "channels_last")
#: The largest ``--lr``: Adam's first update is ``lr / (1 - 0.9)``, ten times it, and torch refuses (with a
#: traceback) an update beyond the largest float32, 3.4e38.
MAX_LR = 1e37


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults: the paper's optimiser (Adam, learning rate 1e-4); batch
    size 16 (the paper does not state one; see docs/training.md)."""

    shards_dir: str = setting(help="Shard folder or URL written by build-shards (reads its train and valid "
                              "splits).", flag="--shards")
    run_dir: str = setting(help="Run folder or URL: checkpoint.pt, train_log.csv, tensorboard/, "
                           "train_summary.json.", cli=False)  # the command's -o/--out
    target: str = setting("vocals", "What the mask extracts (one model per target).", choices=TARGETS)
    arch: str = setting("unet", "unet: the paper's model; baseline: the same network without skip connections.",
                        choices=ARCHS)
    batch_size: int = setting(16, "Patches per step (per process).", low=1)
    lr: float = setting(1e-4, "Adam learning rate (the paper's).", low=0, open_low=True)
    max_steps: int = setting(20000, "Optimizer steps to train to.", low=1)
    valid_every: int = setting(500, "Steps between validations on the valid split (0: never).", low=0)
    valid_patches: int = setting(2048, "Patches per validation (at most).", low=1)
    checkpoint_every: int = setting(500, "Steps between checkpoints.", low=1)
    log_every: int = setting(20, "Steps between log rows.", low=1)
    seed: int = setting(0, "Seed of initialisation, dropout and data order.")
    device: str = setting("auto", "auto: CUDA when available, else CPU.", choices=DEVICES)
    resume: bool = setting(False, "Continue the checkpoint in the run folder (same options).")
    deterministic: bool = setting(False, "Deterministic algorithms (bit-exact resume; slower on GPU).")
    progress: bool = setting(True, "Show a progress bar.")
    tensorboard: bool = setting(True, "Write TensorBoard scalars to RUN/tensorboard/.", cli=False)
    loader_threads: int | None = setting(None, "Threads reading shards, each its own share of row groups "
                                         "[default: 1 on CPU, 4 on CUDA].", low=1)
    prefetch: int = setting(4, "Batches each loader thread reads ahead.", low=1, cli=False)
    lr_schedule: str = setting("constant", "constant: the paper's; cosine: decay to 5% of --lr at --max-steps.",
                               choices=SCHEDULES)
    warmup_steps: int = setting(0, "Linear learning-rate warm-up steps.", low=0)
    augment: Augment = field(default_factory=Augment)  # --remix-share, --gain-db
    verify: bool = setting(False, "Check every shard's sha1 against the manifest (sizes always are).")
    allow_config_change: bool = setting(False, "With --resume: accept options that differ from the "
                                        "checkpoint's (logged).")
    precision: str = setting("auto", "Autocast precision: bf16 (CUDA, or the CPU's bfloat16 autocast) or fp32 "
                             "[auto: bf16 on CUDA, fp32 on CPU].", choices=PRECISIONS)
    channels_last: bool | None = setting(None, "Channels-last tensors (NHWC) for the model and its batches "
                                         "[default: on CUDA, off on CPU].")

    def __post_init__(self) -> None:
        check(self)
        if not (math.isfinite(self.lr) and self.lr <= MAX_LR):
            raise UserInputError(f"learning rate must be positive and at most {MAX_LR:g} (Adam's first update, ten "
                                 f"times it, must fit a 32-bit float), got {self.lr:g}")

    def to_dict(self) -> dict:
        """The recorded form (see the module doc): flat, in field order, tuples as lists."""
        return {k: v for k, v in flat_dict(self).items() if k not in UNRECORDED}
