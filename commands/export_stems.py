"""``export-stems``: accepted pairs -> waveform stems in a trainer's layout (``stems.export_stems``).

The options are ``StemsConfig``'s settings (``commands.options.config_options``), plus ``--split-file``, which the
command turns into config values.
"""

from __future__ import annotations

from typing import Any

import click

from commands.common import user_errors, verbose_option, writer_lock
from commands.options import config_from, config_options
from features.splits import read_split_file
from stems import StemsConfig, export_stems


@click.command(
    help="Export waveform stems of every accepted pair, at the original's own rate and channels: the original "
    "(mixture), the instrumental aligned and matched to it, and vocals = mixture - instrumental; one item per run "
    "of trusted audio, split by artist as build-shards splits, with metadata.json and vocal_activity.csv.\n\n"
    "Examples: export-stems pairs/ -o stems/\n\n"
    "export-stems pairs/ -o stems-msst/ --layout msst\n\n"
    "Re-running the same command resumes an interrupted export and does nothing when it is complete."
)
@click.argument("pairs_dir")
@click.option("-o", "--out", "out_dir", required=True, help="Output folder or URL (new, empty, or an earlier "
              "export-stems output).")
@config_options(StemsConfig, skip=("workers",))
@click.option("--split-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV of artist,split (train/valid/test) fixing those artists' split; others follow --ratios.")
@config_options(StemsConfig, only=("workers",))
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="dask.distributed scheduler (tcp://host:port); default $DASK_SCHEDULER_ADDRESS, else local.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@verbose_option
@user_errors
def main(pairs_dir: str, out_dir: str, split_file: str | None, scheduler: str | None, no_progress: bool,
         **options: Any) -> None:
    fixed_splits = tuple(sorted(read_split_file(split_file).items())) if split_file else ()
    config = config_from(StemsConfig, options, fixed_splits=fixed_splits)
    with writer_lock(out_dir, "export-stems"):
        summary = export_stems(pairs_dir, out_dir, config, scheduler=scheduler, progress=not no_progress)
    for line in summary.lines():
        click.echo(line)


if __name__ == "__main__":
    main()
