"""``Trainer``: one rank's training run, the loop around the paper's loss (like Demucs' ``Solver``).

``restore(checkpoint)`` takes up a saved run, ``fit()`` loops ``step()`` (augment, forward under autocast,
``|mask * X - Y|``, Adam) to ``max_steps`` with a log row every ``log_every`` steps (``training.runlog``),
``validate()`` every ``valid_every`` (``best.pt`` when it improves, ``save_best``) and ``save()`` (the
checkpoint) every ``checkpoint_every``, and ``result()`` says what was done. Under DDP every rank runs the same
calls in the same order (the collectives of ``training.distributed``), and only rank 0 writes files.
``training.guard`` stops a run whose loss or weights become non-finite before anything non-finite is saved, and
makes each step whole with respect to Ctrl-C (weights, step count and data position move together).
"""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from training.augment import step_generator
from training.checkpoint import (BEST_NAME, CHECKPOINT_NAME, capture_rng_state, model_payload, restore_rng_state,
                                 save_checkpoint)
from training.config import TrainConfig
from training.data import Batch, DataPosition, PatchStream, Prefetcher, RunData, other_source
from training.distributed import Compute, Dist, all_reduce_sum, broadcast_buffers, gather, state_digest
from training.guard import FiniteGuard, StepInterrupts
from training.model import UNet, UNetConfig, masked_l1_loss
from training.runlog import LogWindow, RunLog
from training.schedule import lr_at
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished ``train`` call reports (rank 0's view; every rank returns one)."""

    run_dir: Path
    checkpoint: Path
    start_step: int
    steps: int
    last_loss: float | None
    valid_history: list[tuple[int, float]] = field(default_factory=list)
    patches_per_s: float = 0.0
    data_wait_share: float = 0.0
    seconds: float = 0.0
    world_size: int = 1
    rank: int = 0
    loader_threads: int = 1
    device: str = "cpu"
    precision: str = "fp32"
    weight_digests: list[str] = field(default_factory=list)


class Trainer:
    """The model, optimizer and data of one rank, and the run state a checkpoint keeps."""

    def __init__(self, config: TrainConfig, d: Dist, compute: Compute, data: RunData, run_dir: Path):
        self.config, self.d, self.compute, self.data, self.run_dir = config, d, compute, data, run_dir
        torch.manual_seed(config.seed + d.rank)
        self.model = compute.model(UNet(UNetConfig.for_arch(config.arch)))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.scaler = compute.grad_scaler()
        self.start_step = self.step_count = 0
        self.valid_history: list[tuple[int, float]] = []
        self.last_loss: float | None = None
        self.best_valid: float | None = None
        self.config_changes: list = []
        self.positions = [DataPosition() for _ in range(data.threads)]  # per loader thread: its next patch
        self.next_worker = 0
        self.resumed = False
        self.batches: Prefetcher | None = None
        self.seconds = 0.0
        self.guard = FiniteGuard(compute.device)
        self.saved_step: int | None = None  # the step of the checkpoint on disk (every one written is finite)
        self.valid_damaged = False  # the last validation read patches holding NaN or inf

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    # ------------------------------------------------------------------------------------------ restore, save

    def restore(self, ckpt: dict) -> None:
        """Continue ``ckpt`` (``train --resume``): weights, optimizer, run state; the data position and RNG
        states exactly when the run has as many processes and loader threads, else from the next epoch."""
        d, threads = self.d, self.data.threads
        self.resumed = True
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if "scaler" in ckpt and self.compute.precision == "fp16":
            self.scaler.load_state_dict(ckpt["scaler"])
        self.start_step = self.step_count = self.saved_step = int(ckpt["step"])
        self.best_valid = ckpt.get("best_valid_loss")
        self.valid_history = [(int(s), float(v)) for s, v in ckpt.get("valid_history", [])]
        self.last_loss = ckpt.get("last_loss")
        self.config_changes = list(ckpt.get("config_changes", []))
        saved = ckpt["data_position"]
        if int(ckpt["world_size"]) == d.world_size and len(saved[d.rank]["workers"]) == threads:
            self.positions = [DataPosition.from_dict(p) for p in saved[d.rank]["workers"]]
            self.next_worker = int(saved[d.rank]["next_worker"])
            restore_rng_state(ckpt["rng"][d.rank])
        else:
            # Another split of the row groups between consumers: every rank starts at the next epoch.
            epoch = 1 + max(int(w["epoch"]) for r in saved for w in r["workers"])
            self.positions = [DataPosition(epoch=epoch) for _ in range(threads)]
            torch.manual_seed(self.config.seed + d.rank + 1000 * self.start_step)
            log.warning("resuming a run of %d processes x %d loader threads with %d x %d: data restarts at "
                        "epoch %d, not exactly where it stopped", int(ckpt["world_size"]),
                        len(saved[0]["workers"]), d.world_size, threads, epoch)
        log.info("resuming %s at step %d", self.checkpoint_path, self.start_step)

    def save(self) -> None:
        """The checkpoint (``training.checkpoint``): every rank's RNG and data position, written by rank 0."""
        rngs = gather(capture_rng_state(), self.d)
        data_position = gather(
            {"next_worker": self.next_worker, "workers": [p.to_dict() for p in self.positions]}, self.d
        )
        if not self.d.is_main:
            self.saved_step = self.step_count
            return
        payload = model_payload(self.model, self.config.target, self.data.stft, self.step_count)
        payload.update({
            "optimizer": self.optimizer.state_dict(),
            "train_config": self.config.to_dict(),
            "rng": rngs,
            "data_position": data_position,
            "world_size": self.d.world_size,
            "writer_rank": self.d.rank,
            "best_valid_loss": self.best_valid,
            "valid_history": [[s, v] for s, v in self.valid_history],
            "last_loss": self.last_loss,
            "config_changes": self.config_changes,
            "precision": self.compute.precision,
            "channels_last": self.compute.channels_last,
        })
        if self.data.build_key:
            payload["shards_build_key"] = self.data.build_key
        if self.compute.precision == "fp16":
            payload["scaler"] = self.scaler.state_dict()
        save_checkpoint(payload, self.checkpoint_path)
        self.saved_step = self.step_count
        log.debug("checkpoint at step %d -> %s", self.step_count, self.checkpoint_path)

    def save_best(self, valid_loss: float) -> None:
        """The model part of a checkpoint, with its validation loss, to ``best.pt`` (rank 0)."""
        if not self.d.is_main:
            return
        payload = model_payload(self.model, self.config.target, self.data.stft, self.step_count)
        payload.update({"valid_loss": valid_loss, "train_config": self.config.to_dict()})
        save_checkpoint(payload, self.run_dir / BEST_NAME)
        log.debug("best validation loss %.6g at step %d -> %s", valid_loss, self.step_count, self.run_dir / BEST_NAME)

    # ------------------------------------------------------------------------------------------ step, validate

    def step(self, batch: Batch, train_model: nn.Module) -> torch.Tensor:
        """One optimizer step of ``train_model`` (the model, or its DDP wrapper) on ``batch``, augmented first;
        the loss, a device scalar (no host sync)."""
        c, config = self.compute, self.config
        x, y = c.batch(batch.mix), c.batch(batch.target)
        if config.augment.enabled:
            o = c.batch(batch.other) if batch.other is not None else None
            x, y = config.augment(x, y, o, step_generator(config.seed + 7919 * self.d.rank, self.step_count))
        lr = lr_at(self.step_count, config.lr, config.max_steps, config.lr_schedule, config.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with c.autocast():
            mask = train_model(x)
        loss = masked_l1_loss(mask, x, y)
        self.guard.observe(self.step_count + 1, loss, (x, y))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step_count += 1
        return loss

    def validate(self) -> float:
        """Mean loss over at most ``valid_patches`` patches of ``valid`` (split between ranks), eval mode;
        ``valid_damaged`` notes whether any of them held NaN or inf (the same on every rank)."""
        model, d, c, config = self.model, self.d, self.compute, self.config
        was_training = model.training
        model.eval()
        cap = -(-config.valid_patches // d.world_size)
        total, count, damaged = 0.0, 0, 0
        with torch.no_grad():
            for pb in self.data.valid.iter_batches(seed=0, epoch=0, rank=d.rank, world_size=d.world_size):
                mix = torch.tensor(pb.arrays["mix"][: cap - count, None])  # copies the read-only view
                tgt = torch.tensor(pb.arrays[config.target][: cap - count, None])
                damaged += int(not (bool(torch.isfinite(mix).all()) and bool(torch.isfinite(tgt).all())))
                for i in range(0, len(mix), config.batch_size):
                    x = c.batch(mix[i : i + config.batch_size])
                    y = c.batch(tgt[i : i + config.batch_size])
                    with c.autocast():
                        mask = model(x)
                    total += float(masked_l1_loss(mask, x, y)) * len(x)  # patches are all one size
                    count += len(x)
                if count >= cap:
                    break
        total, count, damaged = all_reduce_sum([total, float(count), float(damaged)], d, c.device)
        self.valid_damaged = damaged > 0
        model.train(was_training)
        if count == 0:
            raise UserInputError("the valid split gave no patches")
        return total / count

    # ------------------------------------------------------------------------------------------ the loop

    def _open_batches(self) -> Prefetcher:
        config, d, threads = self.config, self.d, self.data.threads
        other = other_source(config.target) if config.augment.needs_other else None
        streams = [
            PatchStream(self.data.train, config.target, config.batch_size, seed=config.seed, rank=d.rank,
                        world_size=d.world_size, worker=w, num_workers=threads, start=self.positions[w],
                        pin_memory=self.compute.device.type == "cuda", other=other)
            for w in range(threads)
        ]
        return Prefetcher(streams, depth=config.prefetch, first=self.next_worker)

    def fit(self) -> None:
        """Train from the current step to ``max_steps`` (see the module doc). Ctrl-C in a single process saves
        a checkpoint first."""
        config, d = self.config, self.d
        train_model: nn.Module = self.model
        if d.enabled:
            device_ids = [self.compute.device.index] if self.compute.device.type == "cuda" else None
            train_model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        self.model.train()
        runlog = RunLog(self.run_dir, max_steps=config.max_steps, start_step=self.start_step,
                        resumed=self.resumed,
                        is_main=d.is_main, tensorboard=config.tensorboard, progress=config.progress,
                        desc=f"train {config.target}/{config.arch}")
        self.batches = batches = self._open_batches()
        t_start = time.perf_counter()
        window = LogWindow(self.compute.device)
        try:
            with StepInterrupts() as interrupts:
                try:
                    while self.step_count < config.max_steps:
                        batch: Batch = next(batches)
                        with interrupts.step():  # the update, the count and the data position move together
                            loss = self.step(batch, train_model)
                            self.positions[batch.worker] = batch.position
                            self.next_worker = (batch.worker + 1) % self.data.threads
                        window.add(loss)
                        runlog.step()
                        self._after_step(runlog, window, t_start)
                except KeyboardInterrupt:
                    self._save_interrupted(interrupts.torn)
                    raise
        finally:
            batches.close()
            runlog.close()
        self.seconds = time.perf_counter() - t_start  # whole-run figures (start-up included)

    def _after_step(self, runlog: RunLog, window: LogWindow, t_start: float) -> None:
        """The log row, validation and checkpoint due after the step just taken."""
        config, step = self.config, self.step_count
        last = step == config.max_steps
        valid_due = bool(config.valid_every) and (step % config.valid_every == 0 or last)
        if step % config.log_every == 0 or last or valid_due:  # a validation gets its own row
            self._log_row(runlog, window, t_start, valid_due)
        if step % config.checkpoint_every == 0 or last:
            self._check_finite()
            self._write(self.save, self.checkpoint_path, "the checkpoint")

    def _save_interrupted(self, torn: bool) -> None:
        """Ctrl-C in a single process: the checkpoint of the last whole step, unless the step was torn (a second
        Ctrl-C) or the weights are not finite."""
        if self.d.enabled or self.step_count == self.start_step or self.saved_step == self.step_count:
            return
        bad_loss, bad_input, finite = self.guard.local_state(self.model)
        if torn or bad_loss >= 0 or bad_input >= 0 or not finite:
            log.warning("interrupted at step %d; no checkpoint written (%s)", self.step_count,
                        "stopped inside a step" if torn else "non-finite loss or weights")
            return
        self._write(self.save, self.checkpoint_path, "the checkpoint")
        log.warning("interrupted at step %d; checkpoint written, continue with --resume", self.step_count)

    def _check_finite(self, valid_loss: float | None = None) -> None:
        """``training.guard.Diverged`` when a loss, batch or weight since the start (or ``valid_loss``) is not
        finite; called on every rank at the same points."""
        kept = (f"The last finite checkpoint is {self.checkpoint_path} (step {self.saved_step})"
                if self.saved_step is not None
                else f"No checkpoint was written before it (--checkpoint-every {self.config.checkpoint_every})")
        self.guard.check(self.model, self.d, self.step_count, kept, valid_loss,
                         valid_damaged=valid_loss is not None and self.valid_damaged)

    def _write(self, save, path: Path, what: str) -> None:
        """``save()``; an OS error (a full disk) becomes one line saying what was not written and what is kept."""
        try:
            save()
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
            where = f"no space left on the device holding {path}" if full else f"cannot write {path} ({exc.strerror})"
            one = "the one" if what == "the checkpoint" else "the checkpoint"
            kept = (f"{one} of step {self.saved_step} is kept; free some space, then re-run the same command with "
                    "--resume" if self.saved_step is not None else "no earlier checkpoint exists")
            raise UserInputError(f"{where}: {what} of step {self.step_count} was not written; {kept}") from exc

    def _log_row(self, runlog: RunLog, window: LogWindow, t_start: float, valid_due: bool) -> None:
        """A log row over the window (loss averaged over its steps and the ranks), with a validation when due."""
        d, step = self.d, self.step_count
        self._check_finite()
        now = time.perf_counter()
        (loss_sum,) = all_reduce_sum([float(window.loss)], d, self.compute.device)
        self.last_loss = loss_sum / (window.steps * d.world_size)
        elapsed = now - window.t0
        lr = self.optimizer.param_groups[0]["lr"]
        row = {
            "step": step,
            "loss": f"{self.last_loss:.6g}",
            "lr": f"{lr:.6g}",
            "patches_per_s": f"{window.steps * self.config.batch_size * d.world_size / elapsed:.4g}",
            "data_wait_share": f"{(self.batches.wait_s - window.wait0) / elapsed:.4g}",
            "elapsed_s": f"{now - t_start:.2f}",
        }
        if valid_due:
            v = self.validate()
            self._check_finite(valid_loss=v)
            self.valid_history.append((step, v))
            if self.best_valid is None or v < self.best_valid:
                self.best_valid = v
                self._write(lambda: self.save_best(v), self.run_dir / BEST_NAME, "best.pt")
            row["valid_loss"] = f"{v:.6g}"
            runlog.valid(step, v)
        runlog.row(row, self.last_loss, lr)
        window.reset(self.batches.wait_s)

    def result(self) -> TrainResult:
        """What was done; every rank's weight digest (equal under DDP: rank 0's BatchNorm buffers are taken)."""
        broadcast_buffers(self.model, self.d)
        digests = gather(state_digest(self.model.state_dict()), self.d)
        steps, seconds = self.step_count - self.start_step, self.seconds
        pps = steps * self.config.batch_size * self.d.world_size / seconds if seconds > 0 else 0.0
        return TrainResult(
            run_dir=self.run_dir, checkpoint=self.checkpoint_path, start_step=self.start_step,
            steps=self.step_count, last_loss=self.last_loss, valid_history=self.valid_history, patches_per_s=pps,
            data_wait_share=self.batches.wait_s / seconds if seconds > 0 else 0.0, seconds=seconds,
            world_size=self.d.world_size, rank=self.d.rank, loader_threads=self.data.threads,
            device=str(self.compute.device), precision=self.compute.precision, weight_digests=digests,
        )
