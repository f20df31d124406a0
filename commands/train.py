"""``train``: a thin click command over ``training.train``; its options are ``training.config.TrainConfig``'s.

Under torchrun, the same command runs data-parallel::

    torchrun --nproc_per_node 2 $(which train) --target vocals --shards shards/ -o runs/vocals
    python -m torch.distributed.run --standalone --nproc_per_node 2 -m commands.train --target vocals ...
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from commands.common import user_errors, verbose_option, writer_lock
from commands.options import config_from, config_options
from training.config import TrainConfig
from vocalmine import storage
from vocalmine.errors import UserInputError
from vocalmine.staging import staged_folder


@click.command(
    help="Train the U-Net of Jansson et al. (2017), or its no-skip baseline, on shards.\n\n"
    "Example: train --target vocals --shards shards/ -o runs/vocals --max-steps 20000",
    context_settings={"show_default": True},
)
@config_options(TrainConfig)
@click.option("-o", "--out", "run_dir", required=True,
              help="Run folder or URL: checkpoint.pt, train_log.csv, tensorboard/, train_summary.json.")
@verbose_option
@user_errors
def main(**options) -> None:
    # Imported here, not above: they load torch (seconds), which `train --help` does without.
    from training.checkpoint import CHECKPOINT_NAME
    from training.train import train

    config = config_from(TrainConfig, options)
    run_dir = config.run_dir
    try:
        with writer_lock(run_dir, "train"), staged_folder(run_dir) as local_run:
            try:
                result = train(dataclasses.replace(config, run_dir=str(local_run)))
            except UserInputError as exc:  # name the run's files where they will be, not in the local copy
                if storage.is_url(run_dir):
                    raise type(exc)(str(exc).replace(str(local_run), str(run_dir))) from None
                raise
    except KeyboardInterrupt:
        ckpt = storage.join(run_dir, CHECKPOINT_NAME)
        where = f"the last checkpoint is {ckpt}" if storage.exists(ckpt) else "no checkpoint was written yet"
        again = "re-run the same command" if config.resume else "re-run the same command with --resume added"
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
