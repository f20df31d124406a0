"""``train(config)``: the paper's U-Net (or the baseline) on shard patches, resumable, on CPU, GPU or under torchrun.

One code path for every device (``training.distributed.Compute``): by default CPU in float32, CUDA with bf16
autocast (fp16 with a GradScaler where bf16 is unsupported) and channels-last tensors; ``precision`` and
``channels_last`` choose the same on the CPU. Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the
model is wrapped in ``DistributedDataParallel`` (NCCL on CUDA, gloo on CPU); each rank streams its own row
groups of the ``train`` split (``iter_batches(rank=, world_size=)``), and only rank 0 writes files. Within a
rank, ``loader_threads`` threads (default 1 on CPU, where cores are better spent on compute, 4 on CUDA) each
read their own share of the rank's row groups (``worker=, num_workers=``) and take turns supplying batches.

Run folder (``config.run_dir``)::

    checkpoint.pt        latest checkpoint (every ``checkpoint_every`` steps and at the end), see training.checkpoint
    best.pt              the weights with the lowest validation loss so far (model part only); what
                         ``separate`` and ``evaluate`` load from a run folder by default
    train_log.csv        step, loss, lr, patches_per_s, data_wait_share, valid_loss, elapsed_s
    tensorboard/         the same scalars for TensorBoard
    train_summary.json   the finished run: steps, losses, throughput, per-rank weight digests

Loss (equation 1): mean over elements of ``|mask * X - Y|`` with X the mix patch and Y the target patch.
The recipe around it: a learning-rate schedule (``training.schedule``), augmentation of each batch
(``training.augment``: remixing, random gain; drawn from a generator seeded by ``(seed, step)``), and ``--resume``
refusing options that change the run (``training.resume``) unless ``allow_config_change``. The loop itself is
``training.trainer.Trainer``; this module wires the config, the data, the devices and the checkpoint to it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

import vocalmine
from training.checkpoint import CHECKPOINT_NAME, load_checkpoint
from training.config import TrainConfig
from training.data import RunData, open_run_data
from training.distributed import Compute, Dist, resolve_device
from training.resume import run_changes
from training.trainer import Trainer, TrainResult
from vocalmine.atomic import write_json
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

SUMMARY_NAME = "train_summary.json"

__all__ = ["TrainConfig", "TrainResult", "train"]


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume) one model as ``config`` says; see the module doc for what is written where."""
    d = Dist.from_env()
    device = resolve_device(config.device, d.local_rank)
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    run_dir = Path(config.run_dir)

    # Every check that can fail on bad input runs on every rank before any collective call.
    data = open_run_data(config.shards_dir, config.target, with_other=config.augment.needs_other,
                         validate=bool(config.valid_every), verify=config.verify, world_size=d.world_size,
                         threads=config.loader_threads or (4 if device.type == "cuda" else 1))
    ckpt = _checkpoint_to_resume(config, data, run_dir / CHECKPOINT_NAME)
    compute = Compute.resolve(device, config.precision, config.channels_last)

    if d.enabled:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        trainer = Trainer(config, d, compute, data, run_dir)
        if ckpt is not None:
            trainer.restore(ckpt)
        trainer.fit()
        return _finish(trainer)
    finally:
        if d.enabled and dist.is_initialized():
            dist.destroy_process_group()


def _checkpoint_to_resume(config: TrainConfig, data: RunData, ckpt_path: Path) -> dict | None:
    """The checkpoint ``--resume`` continues (None for a new run), with the options changed by
    ``--allow-config-change`` appended to its ``config_changes``; ``UserInputError`` for a run folder that
    already holds a checkpoint without ``--resume``, or a resume that would be another run."""
    if ckpt_path.exists() and not config.resume:
        raise UserInputError(
            f"{ckpt_path.parent} already holds a checkpoint; pass --resume to continue it, or choose another -o "
            "folder"
        )
    if not config.resume:
        return None
    if not ckpt_path.exists():
        raise UserInputError(f"--resume: no checkpoint in {ckpt_path.parent} to resume from")
    ckpt = load_checkpoint(ckpt_path, target=config.target, arch=config.arch)
    if ckpt["stft"] != data.stft:
        raise UserInputError(
            f"{ckpt_path} was trained on shards with STFT {ckpt['stft']}; {config.shards_dir} has {data.stft}"
        )
    changes = run_changes(ckpt.get("train_config", {}), config.to_dict(), ckpt.get("shards_build_key"),
                          data.build_key)
    if changes and not config.allow_config_change:
        raise UserInputError(
            f"--resume with other options than {ckpt_path} was trained with: " + "; ".join(changes)
            + ". A resumed run must be the same run: use the checkpoint's options, another -o folder, or "
            "--allow-config-change if the change is meant"
        )
    if changes:
        log.warning("resuming %s with changed options (--allow-config-change): %s", ckpt_path, "; ".join(changes))
        ckpt["config_changes"] = list(ckpt.get("config_changes", [])) + [
            {"step": int(ckpt["step"]), "changes": changes}]
    return ckpt


def _finish(trainer: Trainer) -> TrainResult:
    """The run's result; ``train_summary.json`` written by rank 0 (not again for a run that had nothing left
    to train)."""
    config, d = trainer.config, trainer.d
    result = trainer.result()
    run_dir, ckpt_path = result.run_dir, result.checkpoint
    if result.steps == result.start_step and (run_dir / SUMMARY_NAME).exists():
        if d.is_main:
            log.info("%s is already at step %d (--max-steps %d): nothing to train", ckpt_path, result.steps,
                     config.max_steps)
        return result
    if d.is_main:
        summary = {k: v for k, v in asdict(result).items() if k not in ("run_dir", "checkpoint")}
        summary.update(run_dir=str(run_dir), checkpoint=str(ckpt_path), config=config.to_dict(),
                       code_version=vocalmine.code_version())
        write_json(summary, run_dir / SUMMARY_NAME)
        log.info("trained %s/%s to step %d: loss %s, %.1f patches/s, data wait %.1f%%", config.target,
                 config.arch, result.steps, f"{result.last_loss:.4g}" if result.last_loss is not None else "-",
                 result.patches_per_s, 100 * result.data_wait_share)
    return result
