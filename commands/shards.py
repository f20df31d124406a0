"""``build-shards``: accepted pairs -> Parquet shards of spectrogram patches (``features.build_shards``)."""

from __future__ import annotations

import click

from features.shards import ShardConfig, build_shards
from features.splits import read_split_file
from commands.common import user_errors, verbose_option, writer_lock
from vocalmine.errors import UserInputError


def _ratios(value: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise UserInputError(f"--ratios wants three numbers 'train,valid,test' such as 0.8,0.1,0.1; got {value!r}")
    return parts  # type: ignore[return-value]


@click.command(
    help="Build the training set: STFT patches of each accepted pair (mix, aligned instrumental, vocal target "
    "max(0, |X| - |Y_i|)) in Parquet shards split by artist.\n\n"
    "Example: build-shards pairs/ -o shards/\n\n"
    "Re-running the same command resumes an interrupted build and does nothing when the build is complete."
)
@click.argument("pairs_dir")
@click.option("-o", "--out", "out_dir", required=True, help="Output folder or URL.")
@click.option("--patch-hop", default=128, show_default=True, type=click.IntRange(min=1),
              help="Frames between patch starts (128: no overlap).")
@click.option("--normalisation", type=click.Choice(["track", "patch"]), default="track", show_default=True,
              help="Divide a patch's magnitudes by the max of |X| over the track, or over the patch.")
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True, help="train,valid,test shares (by artist).")
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of artist,split (train/valid/test) fixing those artists' split; others follow --ratios.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split and of the row order.")
@click.option("--shard-mb", default=256.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Target shard size, MiB.")
@click.option("--row-group-size", default=32, show_default=True, type=click.IntRange(min=1),
              help="Patches per Parquet row group (the reader's shuffling unit).")
@click.option("--compression", default="none", show_default=True,
              type=click.Choice(["none", "snappy", "lz4", "zstd"]), help="Parquet codec (see docs/shards.md).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Threads of the local scheduler [default: one per core].")
@click.option("--keep-work", is_flag=True, help="Keep per-pair intermediate files in OUT/.work.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="dask.distributed scheduler (tcp://host:port); default $DASK_SCHEDULER_ADDRESS, else local.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@verbose_option
@user_errors
def main(pairs_dir: str, out_dir: str, patch_hop: int, normalisation: str, ratios: str, split_file: str | None, seed: int,
         shard_mb: float, row_group_size: int, compression: str, workers: int | None, keep_work: bool,
         scheduler: str | None, no_progress: bool) -> None:
    config = ShardConfig(
        patch_hop=patch_hop,
        normalisation=normalisation,
        ratios=_ratios(ratios),
        seed=seed,
        shard_bytes=max(1, int(shard_mb * 2**20)),
        row_group_size=row_group_size,
        compression=compression,
        workers=workers,
        keep_work=keep_work,
        fixed_splits=tuple(sorted(read_split_file(split_file).items())) if split_file else (),
    )
    with writer_lock(out_dir, "build-shards"):
        summary = build_shards(pairs_dir, out_dir, config, scheduler=scheduler, progress=not no_progress)
    for line in summary.lines():
        click.echo(line)


if __name__ == "__main__":
    main()
