"""``train(config)``: the paper's U-Net (or the baseline) on shard patches, resumable, on CPU, GPU or under torchrun.

One code path for every device: CPU in float32; CUDA with bf16 autocast (fp16 with a GradScaler where bf16 is
unsupported) and channels-last tensors. Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the model is
wrapped in ``DistributedDataParallel`` (NCCL on CUDA, gloo on CPU); each rank streams its own row groups of the
``train`` split (``iter_batches(rank=, world_size=)``), and only rank 0 writes files. Within a rank,
``loader_threads`` threads (default 1 on CPU, where cores are better spent on compute, 4 on CUDA) each read their
own share of the rank's row groups (``worker=, num_workers=``) and take turns supplying batches.

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
refusing options that change the run (``training.resume``) unless ``allow_config_change``.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import vocalmine
from training.augment import Augment, step_generator
from training.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    TARGETS,
    capture_rng_state,
    load_checkpoint,
    model_payload,
    restore_rng_state,
    save_checkpoint,
)
from training.data import Batch, DataPosition, PatchStream, Prefetcher, open_split, other_source
from training.model import ARCHS, UNet, UNetConfig, masked_l1_loss
from training.resume import run_changes
from training.schedule import SCHEDULES, lr_at
from vocalmine.atomic import atomic_path, write_json
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

LOG_COLUMNS = ("step", "loss", "lr", "patches_per_s", "data_wait_share", "valid_loss", "elapsed_s")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Defaults: the paper's optimiser (Adam, learning rate 1e-4); batch
    size 16 (the paper does not state one; see docs/training.md)."""

    shards_dir: str
    run_dir: str
    target: str = "vocals"
    arch: str = "unet"
    batch_size: int = 16
    lr: float = 1e-4
    max_steps: int = 20000
    valid_every: int = 500
    valid_patches: int = 2048
    checkpoint_every: int = 500
    log_every: int = 20
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    deterministic: bool = False
    progress: bool = True
    tensorboard: bool = True
    loader_threads: int | None = None
    prefetch: int = 4
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    remix_share: float = 0.0
    gain_db: tuple[float, float] = (0.0, 0.0)
    verify: bool = False
    allow_config_change: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "gain_db", tuple(float(g) for g in self.gain_db))
        if self.lr_schedule not in SCHEDULES:
            raise UserInputError(f"--lr-schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        if self.warmup_steps < 0:
            raise UserInputError(f"warmup-steps must be >= 0, got {self.warmup_steps}")
        if not 0 <= self.remix_share <= 1:
            raise UserInputError(f"remix-share must be between 0 and 1, got {self.remix_share}")
        if len(self.gain_db) != 2 or self.gain_db[0] > self.gain_db[1] or self.gain_db[1] > 0:
            raise UserInputError(f"gain-db must be LOW,HIGH with LOW <= HIGH <= 0, got {self.gain_db}")
        if self.target not in TARGETS:
            raise UserInputError(f"--target must be one of {TARGETS}, got {self.target!r}")
        if self.arch not in ARCHS:
            raise UserInputError(f"--arch must be one of {ARCHS}, got {self.arch!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise UserInputError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        for name in ("batch_size", "max_steps", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise UserInputError(f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.loader_threads is not None and self.loader_threads < 1:
            raise UserInputError(f"loader-threads must be >= 1, got {self.loader_threads}")
        if self.valid_every < 0 or self.valid_patches < 1:
            raise UserInputError("valid-every must be >= 0 (0: no validation) and valid-patches >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserInputError(f"learning rate must be positive, got {self.lr}")

    @property
    def augment(self) -> Augment:
        return Augment(remix_share=self.remix_share, gain_db=self.gain_db)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gain_db"] = list(self.gain_db)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


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


# ---------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _dist_from_env() -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    return _Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserInputError("--device cuda asked for, but torch sees no CUDA device (use --device cpu or auto)")
    return torch.device("cuda", local_rank)


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


def _gather(obj: Any, d: _Dist) -> list[Any]:
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world_size
    dist.all_gather_object(out, obj)
    return out


def _all_reduce_sum(values: list[float], d: _Dist, device: torch.device) -> list[float]:
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


class _CsvLog:
    """Appends rows to ``train_log.csv``; on resume first drops rows past the checkpoint's step."""

    def __init__(self, path: Path, keep_up_to_step: int | None):
        self.path = path
        if keep_up_to_step is not None and path.exists():
            with path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= keep_up_to_step]
            with atomic_path(path) as tmp, tmp.open("w", newline="") as out:
                w = csv.DictWriter(out, LOG_COLUMNS)
                w.writeheader()
                w.writerows(rows)
        new = not path.exists()
        self.fh = path.open("a", newline="")
        self.writer = csv.DictWriter(self.fh, LOG_COLUMNS)
        if new:
            self.writer.writeheader()
            self.fh.flush()

    def write(self, row: dict) -> None:
        self.writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _validate(model: nn.Module, dataset, target: str, d: _Dist, device: torch.device, config: TrainConfig,
              autocast) -> float:
    """Mean loss over at most ``valid_patches`` patches of ``valid`` (split between ranks), eval mode."""
    was_training = model.training
    model.eval()
    cap = -(-config.valid_patches // d.world_size)
    total, count = 0.0, 0
    with torch.no_grad():
        for pb in dataset.iter_batches(seed=0, epoch=0, rank=d.rank, world_size=d.world_size):
            mix = torch.tensor(pb.arrays["mix"][: cap - count, None])  # copies the read-only view
            tgt = torch.tensor(pb.arrays[target][: cap - count, None])
            for i in range(0, len(mix), config.batch_size):
                x = _to_device(mix[i : i + config.batch_size], device)
                y = _to_device(tgt[i : i + config.batch_size], device)
                with autocast():
                    mask = model(x)
                total += float(masked_l1_loss(mask, x, y)) * len(x)  # patches are all one size
                count += len(x)
            if count >= cap:
                break
    total, count = _all_reduce_sum([total, float(count)], d, device)
    model.train(was_training)
    if count == 0:
        raise UserInputError("the valid split gave no patches")
    return total / count


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    t = t.to(device, non_blocking=True).float()
    if device.type == "cuda":
        t = t.contiguous(memory_format=torch.channels_last)
    return t


# ---------------------------------------------------------------------------------------------- train


def train(config: TrainConfig) -> TrainResult:
    """Train (or resume) one model as ``config`` says; see the module doc for what is written where."""
    d = _dist_from_env()
    device = resolve_device(config.device, d.local_rank)
    if config.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    run_dir = Path(config.run_dir)
    ckpt_path = run_dir / CHECKPOINT_NAME

    # Every check that can fail on bad input runs on every rank before any collective call.
    train_set = open_split(config.shards_dir, "train", config.target, with_other=config.augment.needs_other,
                           verify=config.verify)
    valid_set = open_split(config.shards_dir, "valid", config.target, verify=config.verify) if config.valid_every else None
    if len(train_set.row_groups) < d.world_size:
        raise UserInputError(
            f"the train split has {len(train_set.row_groups)} row groups, fewer than the {d.world_size} "
            "processes; each rank needs its own"
        )
    threads = config.loader_threads or (4 if device.type == "cuda" else 1)
    threads = max(1, min(threads, len(train_set.row_groups) // d.world_size))
    stft = {"sample_rate": train_set.params.sample_rate, "n_fft": train_set.params.n_fft, "hop": train_set.params.hop}
    ckpt = None
    if ckpt_path.exists() and not config.resume:
        raise UserInputError(
            f"{run_dir} already holds a checkpoint; pass --resume to continue it, or choose another -o folder"
        )
    if config.resume:
        if not ckpt_path.exists():
            raise UserInputError(f"--resume: no checkpoint in {run_dir} to resume from")
        ckpt = load_checkpoint(ckpt_path, target=config.target, arch=config.arch)
        if ckpt["stft"] != stft:
            raise UserInputError(
                f"{ckpt_path} was trained on shards with STFT {ckpt['stft']}; {config.shards_dir} has {stft}"
            )
        changes = run_changes(ckpt.get("train_config", {}), config.to_dict(), ckpt.get("shards_build_key"),
                              train_set.manifest.get("build_key"))
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

    if d.enabled:
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    try:
        return _train(config, d, device, train_set, valid_set, stft, ckpt, run_dir, ckpt_path, threads)
    finally:
        if d.enabled and dist.is_initialized():
            dist.destroy_process_group()


def _train(config, d, device, train_set, valid_set, stft, ckpt, run_dir, ckpt_path, threads) -> TrainResult:
    torch.manual_seed(config.seed + d.rank)
    model_config = UNetConfig.for_arch(config.arch)
    model = UNet(model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    use_cuda = device.type == "cuda"
    if use_cuda:
        model = model.to(memory_format=torch.channels_last)
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        precision = "bf16" if amp_dtype == torch.bfloat16 else "fp16"
    else:
        amp_dtype, precision = None, "fp32"
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    start_step = 0
    valid_history: list[tuple[int, float]] = []
    last_loss: float | None = None
    positions = [DataPosition() for _ in range(threads)]  # per loader thread: where its next patch lies
    next_worker = 0
    best_valid: float | None = None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if "scaler" in ckpt and precision == "fp16":
            scaler.load_state_dict(ckpt["scaler"])
        start_step = int(ckpt["step"])
        best_valid = ckpt.get("best_valid_loss")
        valid_history = [(int(s), float(v)) for s, v in ckpt.get("valid_history", [])]
        last_loss = ckpt.get("last_loss")
        saved = ckpt["data_position"]
        if int(ckpt["world_size"]) == d.world_size and len(saved[d.rank]["workers"]) == threads:
            positions = [DataPosition.from_dict(p) for p in saved[d.rank]["workers"]]
            next_worker = int(saved[d.rank]["next_worker"])
            restore_rng_state(ckpt["rng"][d.rank])
        else:
            # Another split of the row groups between consumers: every rank starts at the next epoch.
            epoch = 1 + max(int(w["epoch"]) for r in saved for w in r["workers"])
            positions = [DataPosition(epoch=epoch) for _ in range(threads)]
            torch.manual_seed(config.seed + d.rank + 1000 * start_step)
            log.warning("resuming a run of %d processes x %d loader threads with %d x %d: data restarts at "
                        "epoch %d, not exactly where it stopped", int(ckpt["world_size"]),
                        len(saved[0]["workers"]), d.world_size, threads, epoch)
        log.info("resuming %s at step %d", ckpt_path, start_step)

    config_changes = list(ckpt.get("config_changes", [])) if ckpt is not None else []
    shards_build_key = train_set.manifest.get("build_key")
    augment = config.augment
    other = other_source(config.target) if augment.needs_other else None

    train_model: nn.Module = model
    if d.enabled:
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if use_cuda else None)
    model.train()

    writer = None
    csv_log = None
    if d.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        csv_log = _CsvLog(run_dir / "train_log.csv", keep_up_to_step=start_step if ckpt is not None else None)
        if config.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step or None)

    streams = [
        PatchStream(train_set, config.target, config.batch_size, seed=config.seed, rank=d.rank,
                    world_size=d.world_size, worker=w, num_workers=threads, start=positions[w],
                    pin_memory=use_cuda, other=other)
        for w in range(threads)
    ]
    batches = Prefetcher(streams, depth=config.prefetch, first=next_worker)

    def checkpoint(step: int) -> None:
        rngs = _gather(capture_rng_state(), d)
        data_position = _gather(
            {"next_worker": batches.next_index, "workers": [p.to_dict() for p in positions]}, d
        )
        if not d.is_main:
            return
        payload = model_payload(model, config.target, stft, step)
        payload.update({
            "optimizer": optimizer.state_dict(),
            "train_config": config.to_dict(),
            "rng": rngs,
            "data_position": data_position,
            "world_size": d.world_size,
            "writer_rank": d.rank,
            "best_valid_loss": best_valid,
            "valid_history": [[s, v] for s, v in valid_history],
            "last_loss": last_loss,
            "config_changes": config_changes,
        })
        if shards_build_key:
            payload["shards_build_key"] = shards_build_key
        if precision == "fp16":
            payload["scaler"] = scaler.state_dict()
        save_checkpoint(payload, ckpt_path)
        log.debug("checkpoint at step %d -> %s", step, ckpt_path)

    def save_best(step: int, valid_loss: float) -> None:
        """The model part of a checkpoint, with its validation loss, to ``best.pt`` (rank 0)."""
        if not d.is_main:
            return
        payload = model_payload(model, config.target, stft, step)
        payload.update({"valid_loss": valid_loss, "train_config": config.to_dict()})
        save_checkpoint(payload, run_dir / BEST_NAME)
        log.debug("best validation loss %.6g at step %d -> %s", valid_loss, step, run_dir / BEST_NAME)

    from tqdm import tqdm

    bar = tqdm(total=config.max_steps, initial=start_step, unit="step", dynamic_ncols=True,
               disable=not (d.is_main and config.progress), desc=f"train {config.target}/{config.arch}")
    step = start_step
    t_start = time.perf_counter()
    window_t0, window_wait0, window_steps = t_start, 0.0, 0
    window_loss = torch.zeros((), dtype=torch.float64, device=device)
    try:
        while step < config.max_steps:
            batch: Batch = next(batches)
            x = _to_device(batch.mix, device)
            y = _to_device(batch.target, device)
            if augment.enabled:
                o = _to_device(batch.other, device) if batch.other is not None else None
                x, y = augment(x, y, o, step_generator(config.seed + 7919 * d.rank, step))
            lr = lr_at(step, config.lr, config.max_steps, config.lr_schedule, config.warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast():
                mask = train_model(x)
            loss = masked_l1_loss(mask, x, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            positions[batch.worker] = batch.position
            window_loss += loss.detach().double()
            window_steps += 1
            bar.update(1)

            last = step == config.max_steps
            valid_due = bool(config.valid_every) and (step % config.valid_every == 0 or last)
            if step % config.log_every == 0 or last or valid_due:  # a validation gets its own log row
                now = time.perf_counter()
                (loss_sum,) = _all_reduce_sum([float(window_loss)], d, device)
                last_loss = loss_sum / (window_steps * d.world_size)
                elapsed_w = now - window_t0
                wait_w = batches.wait_s - window_wait0
                row = {
                    "step": step,
                    "loss": f"{last_loss:.6g}",
                    "lr": f"{optimizer.param_groups[0]['lr']:.6g}",
                    "patches_per_s": f"{window_steps * config.batch_size * d.world_size / elapsed_w:.4g}",
                    "data_wait_share": f"{wait_w / elapsed_w:.4g}",
                    "elapsed_s": f"{now - t_start:.2f}",
                }
                if valid_due:
                    v = _validate(model, valid_set, config.target, d, device, config, autocast)
                    valid_history.append((step, v))
                    if best_valid is None or v < best_valid:
                        best_valid = v
                        save_best(step, v)
                    row["valid_loss"] = f"{v:.6g}"
                    if writer:
                        writer.add_scalar("valid/loss", v, step)
                if d.is_main:
                    csv_log.write(row)
                    if writer:
                        writer.add_scalar("train/loss", last_loss, step)
                        writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
                        writer.add_scalar("train/patches_per_s", float(row["patches_per_s"]), step)
                        writer.add_scalar("train/data_wait_share", float(row["data_wait_share"]), step)
                    bar.set_postfix(loss=f"{last_loss:.4g}", refresh=False)
                window_loss.zero_()
                window_steps = 0
                window_t0, window_wait0 = time.perf_counter(), batches.wait_s

            if step % config.checkpoint_every == 0 or last:
                checkpoint(step)
    except KeyboardInterrupt:
        if not d.enabled and step > start_step:
            checkpoint(step)
            log.warning("interrupted at step %d; checkpoint written, continue with --resume", step)
        raise
    finally:
        batches.close()
        bar.close()
        if writer:
            writer.close()
        if csv_log:
            csv_log.close()

    # Whole-run figures (start-up included); train_log.csv has them per logging window.
    seconds = time.perf_counter() - t_start
    pps = (step - start_step) * config.batch_size * d.world_size / seconds if seconds > 0 else 0.0

    if d.enabled:  # BatchNorm buffers: every rank ends with rank 0's (DDP broadcasts them before each forward)
        for buf in model.buffers():
            dist.broadcast(buf, src=0)
    digests = _gather(state_digest(model.state_dict()), d)
    result = TrainResult(
        run_dir=run_dir, checkpoint=ckpt_path, start_step=start_step, steps=step, last_loss=last_loss,
        valid_history=valid_history, patches_per_s=pps,
        data_wait_share=batches.wait_s / seconds if seconds > 0 else 0.0, seconds=seconds,
        world_size=d.world_size, rank=d.rank, loader_threads=threads, device=str(device), precision=precision, weight_digests=digests,
    )
    if step == start_step and (run_dir / "train_summary.json").exists():
        if d.is_main:
            log.info("%s is already at step %d (--max-steps %d): nothing to train", ckpt_path, step,
                     config.max_steps)
        return result
    if d.is_main:
        summary = {k: v for k, v in asdict(result).items() if k not in ("run_dir", "checkpoint")}
        summary.update(run_dir=str(run_dir), checkpoint=str(ckpt_path), config=config.to_dict(),
                       code_version=vocalmine.code_version())
        write_json(summary, run_dir / "train_summary.json")
        log.info("trained %s/%s to step %d: loss %s, %.1f patches/s, data wait %.1f%%", config.target,
                 config.arch, step, f"{last_loss:.4g}" if last_loss is not None else "-", pps,
                 100 * result.data_wait_share)
    return result
