"""``pair-report PAIRS_DIR``: write report.html and report.json into a mine-pairs output directory."""

from __future__ import annotations

import click

from commands.common import user_errors, verbose_option, writer_lock
from report import ReportConfig
from vocalmine import storage
from vocalmine.errors import UserInputError
from workflows import write_report

_DEFAULTS = ReportConfig()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("pairs_dir")
@click.option("--sample", "sample_accepted", type=click.IntRange(min=0), default=_DEFAULTS.sample_accepted,
              show_default=True, help="Accepted pairs drawn at random that get spectrograms and clips.")
@click.option("--sample-rejected", type=click.IntRange(min=0), default=_DEFAULTS.sample_rejected,
              show_default=True, help="Measured rejected pairs drawn at random that get spectrograms and clips.")
@click.option("--flagged", "flagged_media", type=click.IntRange(min=0), default=_DEFAULTS.flagged_media,
              show_default=True, help="Most flagged accepted pairs that get spectrograms and clips.")
@click.option("--clip-seconds", type=click.FloatRange(min=1.0, max=60.0), default=_DEFAULTS.clip_seconds,
              show_default=True, help="Length of each audio clip (s).")
@click.option("--clip-format", type=click.Choice(["ogg", "wav"]), default=_DEFAULTS.clip_format,
              show_default=True, help="Ogg Vorbis (small) or 16-bit WAV clips.")
@click.option("--no-media", is_flag=True, help="No spectrograms or clips (numbers only; fastest).")
@click.option("--seed", type=int, default=_DEFAULTS.seed, show_default=True, help="Seed of the media sample.")
@verbose_option
@user_errors
def main(pairs_dir: str, sample_accepted: int, sample_rejected: int, flagged_media: int, clip_seconds: float,
         clip_format: str, no_media: bool, seed: int) -> None:
    """Write PAIRS_DIR/report.html (one self-contained page, opens offline) and PAIRS_DIR/report.json.

    Example: pair-report demo/pairs
    """
    config = ReportConfig(sample_accepted=sample_accepted, sample_rejected=sample_rejected,
                          flagged_media=flagged_media, clip_seconds=clip_seconds, clip_format=clip_format,
                          media=not no_media, seed=seed)
    if not storage.isdir(pairs_dir):
        raise UserInputError(f"{pairs_dir} is not a mine-pairs output folder (no such folder)")
    with writer_lock(pairs_dir, "pair-report"):
        summary = write_report(pairs_dir, config, exclude=(".cache/",))
    click.echo(summary.text)
