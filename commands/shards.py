"""``build-shards``: accepted pairs -> Parquet shards of spectrogram patches (``features.shards.build_shards``).

The options are ``ShardConfig``'s settings (``commands.options.config_options``), plus ``--shard-mb`` (the
config's ``shard_bytes`` in MiB) and ``--split-file``, which the command turns into config values.
"""

from __future__ import annotations

from typing import Any

import click

from commands.common import echo, user_errors, verbose_option, writer_lock
from commands.options import config_from, config_options
from features.shard_config import MIB, ShardConfig
from features.shards import build_shards
from features.splits import read_split_file


@click.command(
    help="Build the training set: STFT patches of each accepted pair (mix, aligned instrumental, vocal target "
    "max(0, |X| - |Y_i|)) in Parquet shards split by artist.\n\n"
    "Example: build-shards pairs/ -o shards/\n\n"
    "Re-running the same command resumes an interrupted build and does nothing when the build is complete."
)
@click.argument("pairs_dir")
@click.option("-o", "--out", "out_dir", required=True, help="Output folder or URL.")
@config_options(ShardConfig, skip=("row_group_size", "compression", "workers", "keep_work"))
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of artist,split (train/valid/test) fixing those artists' split; others follow --ratios.")
@click.option("--shard-mb", default=ShardConfig().shard_bytes / MIB, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Target shard size, MiB.")
@config_options(ShardConfig, only=("row_group_size", "compression", "workers", "keep_work"))
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="dask.distributed scheduler (tcp://host:port); default $DASK_SCHEDULER_ADDRESS, else local.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@verbose_option
@user_errors
def main(pairs_dir: str, out_dir: str, split_file: str | None, shard_mb: float, scheduler: str | None,
         no_progress: bool, **options: Any) -> None:
    fixed_splits = tuple(sorted(read_split_file(split_file).items())) if split_file else ()
    options["shard_bytes"] = max(1, int(shard_mb * MIB))
    config = config_from(ShardConfig, options, fixed_splits=fixed_splits)
    with writer_lock(out_dir, "build-shards"):
        summary = build_shards(pairs_dir, out_dir, config, scheduler=scheduler, progress=not no_progress)
    for line in summary.lines():
        echo(line)


if __name__ == "__main__":
    main()
