"""``train``: a thin click command over ``training.train``.

Under torchrun, the same command runs data-parallel::

    torchrun --nproc_per_node 2 $(which train) --target vocals --shards shards/ -o runs/vocals
    python -m torch.distributed.run --standalone --nproc_per_node 2 -m commands.train --target vocals ...
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from commands.common import DEVICE, user_errors, verbose_option, writer_lock
from vocalmine import storage


@click.command(
    help="Train the U-Net of Jansson et al. (2017), or its no-skip baseline, on shards.\n\n"
    "Example: train --target vocals --shards shards/ -o runs/vocals --max-steps 20000",
    context_settings={"show_default": True},
)
@click.option("--target", type=click.Choice(["vocals", "instrumental"]), default="vocals",
              help="What the mask extracts (one model per target).")
@click.option("--shards", "shards_dir", required=True,
              help="Shard folder or URL written by build-shards (reads its train and valid splits).")
@click.option("-o", "--out", "run_dir", required=True,
              help="Run folder or URL: checkpoint.pt, train_log.csv, tensorboard/, train_summary.json.")
@click.option("--arch", type=click.Choice(["unet", "baseline"]), default="unet",
              help="unet: the paper's model; baseline: the same network without skip connections.")
@click.option("--max-steps", default=20000, type=click.IntRange(min=1), help="Optimizer steps to train to.")
@click.option("--batch-size", default=16, type=click.IntRange(min=1), help="Patches per step (per process).")
@click.option("--lr", default=1e-4, type=click.FloatRange(min=0, min_open=True), help="Adam learning rate (the paper's).")
@click.option("--valid-every", default=500, type=click.IntRange(min=0),
              help="Steps between validations on the valid split (0: never).")
@click.option("--valid-patches", default=2048, type=click.IntRange(min=1), help="Patches per validation (at most).")
@click.option("--checkpoint-every", default=500, type=click.IntRange(min=1), help="Steps between checkpoints.")
@click.option("--log-every", default=20, type=click.IntRange(min=1), help="Steps between log rows.")
@click.option("--loader-threads", type=click.IntRange(min=1), default=None,
              help="Threads reading shards, each its own share of row groups [default: 1 on CPU, 4 on CUDA].")
@click.option("--seed", default=0, type=int, help="Seed of initialisation, dropout and data order.")
@click.option("--device", type=DEVICE, default="auto", help="auto: CUDA when available, else CPU.")
@click.option("--lr-schedule", type=click.Choice(["constant", "cosine"]), default="constant",
              help="constant: the paper's; cosine: decay to 5% of --lr at --max-steps.")
@click.option("--warmup-steps", default=0, type=click.IntRange(min=0), help="Linear learning-rate warm-up steps.")
@click.option("--remix-share", default=0.0, type=click.FloatRange(0, 1),
              help="Share of each batch remixed: a patch's target plus another patch's other source (magnitudes).")
@click.option("--gain-db", default="0,0", metavar="LOW,HIGH",
              help="Random gain per patch, uniform in [LOW, HIGH] dB (e.g. -12,0; 0,0: off).")
@click.option("--verify", is_flag=True, help="Check every shard's sha1 against the manifest (sizes always are).")
@click.option("--resume", is_flag=True, help="Continue the checkpoint in the run folder (same options).")
@click.option("--allow-config-change", is_flag=True,
              help="With --resume: accept options that differ from the checkpoint's (logged).")
@click.option("--deterministic", is_flag=True, help="Deterministic algorithms (bit-exact resume; slower on GPU).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@verbose_option
@user_errors
def main(shards_dir: str, run_dir: str, no_progress: bool, gain_db: str, **options) -> None:
    from training.checkpoint import CHECKPOINT_NAME
    from training.train import TrainConfig, train
    from vocalmine.errors import UserInputError
    from vocalmine.staging import staged_folder

    try:
        gains = tuple(float(g) for g in gain_db.split(","))
    except ValueError:
        gains = ()
    if len(gains) != 2:
        raise UserInputError(f"--gain-db wants LOW,HIGH in dB such as -12,0; got {gain_db!r}")
    try:
        with writer_lock(run_dir, "train"), staged_folder(run_dir) as local_run:
            result = train(TrainConfig(shards_dir=shards_dir, run_dir=str(local_run), progress=not no_progress,
                                       gain_db=gains, **options))
    except KeyboardInterrupt:
        ckpt = storage.join(run_dir, CHECKPOINT_NAME)
        where = f"the last checkpoint is {ckpt}" if storage.exists(ckpt) else "no checkpoint was written yet"
        again = "re-run the same command" if options.get("resume") else "re-run the same command with --resume added"
        click.echo(f"Interrupted: {where}; to continue, {again}.", err=True)
        raise SystemExit(130) from None
    if storage.is_url(run_dir):  # name the run's files where they now are
        result = dataclasses.replace(result, checkpoint=storage.join(run_dir, Path(result.checkpoint).name))
    if result.rank == 0:
        loss = f"{result.last_loss:.5g}" if result.last_loss is not None else "-"
        valid = f", valid loss {result.valid_history[-1][1]:.5g}" if result.valid_history else ""
        if result.steps == result.start_step:
            click.echo(f"{result.checkpoint}: already at step {result.steps}, nothing to train "
                       f"(train loss {loss}{valid})")
            return
        click.echo(f"{result.checkpoint}: step {result.steps}, train loss {loss}{valid}; "
                   f"{result.patches_per_s:.1f} patches/s on {result.world_size} x {result.device} "
                   f"({result.precision}), data wait {100 * result.data_wait_share:.1f}%")


if __name__ == "__main__":  # python -m commands.train ... (e.g. under torch.distributed.run)
    main()
