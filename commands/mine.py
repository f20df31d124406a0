"""``mine-pairs``: find (original, instrumental) candidate pairs in a catalog, then verify them by audio."""

from __future__ import annotations

import codecs
import logging
import sys

import click

from commands.common import user_errors, verbose_option, writer_lock
from miner.evidence import EVIDENCE_KINDS
from miner.pipeline import MinerConfig
from pairing import PairingConfig
from vocalmine.settings import load_toml
from workflows import mine_and_verify

log = logging.getLogger(__name__)


def _parse_size(text: str) -> int:
    """Bytes in a size such as ``32MB``, ``512k`` or ``1000000``; not a positive size -> ``BadParameter``."""
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    t = text.strip().lower().rstrip("b")
    try:
        size = int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except ValueError:
        size = 0
    if size < 1:
        raise click.BadParameter(f"{text!r} is not a positive size such as 32MB", param_hint="--blocksize")
    return size


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    epilog="Example: mine-pairs exports/catalog.csv.gz -o pairs/ --metadata-only --marker karaoke",
)
@click.argument("catalog")
@click.option("-o", "--out", "out_dir", default="pairs",
              help="Output folder or URL: candidates.parquet, rejected_rows.parquet, summary.json.")
@click.option("--metadata-only", is_flag=True, help="Stop after the metadata stage (no audio verification).")
@click.option("--report/--no-report", default=True,
              help="Write the pair-quality report (report.html, report.json) at the end.")
@click.option("--strict", is_flag=True, help="Stop at the first bad row (exit 2) instead of rejecting it.")
@click.option("--marker", "markers", multiple=True, metavar="PHRASE",
              help="Another instrumental marker phrase (repeatable), added to: instrumental, instr, inst, off vocal.")
@click.option("--title-threshold", type=click.FloatRange(0, 100), default=90.0,
              help="Minimum rapidfuzz ratio of the titles once the marker is removed.")
@click.option("--duration-tolerance", type=click.FloatRange(min=0), default=3.0,
              help="Allowed duration difference, seconds.")
@click.option("--duration-tolerance-rel", type=click.FloatRange(0, 1), default=0.01,
              help="Allowed duration difference as a fraction of the longer track (when larger).")
@click.option("--config", "config_file", default=None, metavar="FILE.toml",
              help="Settings of the audio stage: a TOML file of PairingConfig names (docs/pairing.md).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="dask.distributed scheduler (default: $DASK_SCHEDULER_ADDRESS, else this machine).")
@click.option("--blocksize", default="32MB", help="CSV bytes per partition.")
@click.option("--encoding", default="utf-8",
              help="Text encoding of CSV/TSV files (a UTF-16/UTF-32 byte-order mark overrides it).")
@click.option("--uninformative-artist", "uninformative", multiple=True, metavar="NAME",
              help="Another credit that says nothing about the performer (repeatable), added to Various Artists, "
                   "Unknown Artist, Anonymous, Traditional and common composers: its pairs need same-release evidence.")
@click.option("--release-evidence", default="album,date,isrc", metavar="KINDS",
              help="What shows the same release in such blocks: any of album, date, isrc, label (comma-separated).")
@click.option("--release-max-days", type=click.IntRange(min=0), default=31,
              help="Largest release-date difference that counts as the same release, days.")
@click.option("--progress/--no-progress", default=None, help="Progress bars [default: when stderr is a terminal].")
@verbose_option
@user_errors
def main(catalog: str, out_dir: str, metadata_only: bool, report: bool, strict: bool, markers: tuple[str, ...],
         title_threshold: float, duration_tolerance: float, duration_tolerance_rel: float, config_file: str | None,
         scheduler: str | None, blocksize: str, encoding: str, uninformative: tuple[str, ...],
         release_evidence: str, release_max_days: int, progress: bool | None) -> None:
    """Find (original, instrumental) pairs in CATALOG: a CSV/TSV/Parquet file, a folder of part-files, or a
    glob (quote it). Required columns: track_id, artist, title, duration_s or duration_ms."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {encoding!r}", param_hint="--encoding") from None

    if any(not m.strip(" .-") for m in markers):
        raise click.BadParameter("a marker phrase must have a word in it", param_hint="--marker")
    kinds = tuple(k.strip() for k in release_evidence.split(",") if k.strip())
    if not kinds or any(k not in EVIDENCE_KINDS for k in kinds):
        raise click.BadParameter(f"{release_evidence!r}: give one or more of {', '.join(EVIDENCE_KINDS)}",
                                 param_hint="--release-evidence")
    config = MinerConfig(
        extra_markers=tuple(markers),
        uninformative_artists=MinerConfig.uninformative_artists + tuple(uninformative),
        release_evidence=kinds,
        release_max_days=release_max_days,
        title_threshold=title_threshold,
        duration_tolerance_s=duration_tolerance,
        duration_tolerance_rel=duration_tolerance_rel,
        strict=strict,
        blocksize=_parse_size(blocksize),
        encoding=encoding,
        progress=sys.stderr.isatty() if progress is None else progress,
    )
    pairing_config = load_toml(PairingConfig, config_file) if config_file else None
    with writer_lock(out_dir, "mine-pairs"):
        mine_and_verify(catalog, out_dir, config, pairing_config, audio=not metadata_only, report=report,
                        scheduler=scheduler, echo=click.echo)


if __name__ == "__main__":
    main()
