"""``pair-report PAIRS_DIR``: write report.html and report.json into a mine-pairs output directory."""

from __future__ import annotations

import click

from commands.common import echo, user_errors, verbose_option, writer_lock
from commands.options import config_from, config_options
from report import ReportConfig
from vocalmine import storage
from vocalmine.errors import UserInputError
from workflows import write_report


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("pairs_dir")
@config_options(ReportConfig)
@verbose_option
@user_errors
def main(pairs_dir: str, **options: object) -> None:
    """Write PAIRS_DIR/report.html (one self-contained page, opens offline) and PAIRS_DIR/report.json.

    Example: pair-report demo/pairs
    """
    config = config_from(ReportConfig, options)
    if not storage.isdir(pairs_dir):
        raise UserInputError(f"{pairs_dir} is not a mine-pairs output folder (no such folder)")
    with writer_lock(pairs_dir, "pair-report", json_files=("summary.json",)):
        summary = write_report(pairs_dir, config, exclude=(".cache/",))
    echo(summary.text)
