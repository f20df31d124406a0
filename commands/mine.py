"""``mine-pairs``: find (original, instrumental) candidate pairs in a catalog, then verify them by audio.

The metadata stage's options come from ``MinerConfig``'s settings (``commands.options.config_options``):
defaults, help and bounds are written there once. Where an option's form differs from its field (a
repeatable ``--marker``, a size such as ``32MB``, a comma-separated ``--release-evidence``), the override
below only parses and checks the text.
"""

from __future__ import annotations

import codecs
import logging
import sys
from typing import Any

import click

from commands.common import echo, user_errors, verbose_option, writer_lock
from commands.options import config_from, config_options
from miner.config import MinerConfig
from miner.evidence import EVIDENCE_KINDS
from miner.library import LibraryConfig
from pairing import PairingConfig
from vocalmine.settings import leaves, load_toml
from workflows import mine_source, verify_known_pairs

log = logging.getLogger(__name__)

_SETTINGS = {leaf.name: leaf for leaf in leaves(MinerConfig)}
_SIZE_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30}


def _size_text(size: int) -> str:
    """``32MB`` for 32 * 2**20 bytes (the largest unit that divides it), else the number of bytes."""
    for unit in "gmk":
        if size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit.upper()}B"
    return str(size)


def _parse_size(ctx: click.Context, param: click.Parameter, text: str) -> int:
    """Bytes in a size such as ``32MB``, ``512k`` or ``1000000``; not a positive size -> ``BadParameter``."""
    t = text.strip().lower().rstrip("b")
    try:
        size = int(float(t[:-1]) * _SIZE_UNITS[t[-1]]) if t and t[-1] in _SIZE_UNITS else int(t)
    except ValueError:
        size = 0
    if size < 1:
        raise click.BadParameter(f"{text!r} is not a positive size such as 32MB", param_hint="--blocksize")
    return size


def _marker_phrases(ctx: click.Context, param: click.Parameter, phrases: tuple[str, ...]) -> tuple[str, ...]:
    if any(not m.strip(" .-") for m in phrases):
        raise click.BadParameter("a marker phrase must have a word in it", param_hint="--marker")
    return tuple(phrases)


def _with_default_credits(ctx: click.Context, param: click.Parameter, names: tuple[str, ...]) -> tuple[str, ...]:
    """The default uninformative credits, then those given."""
    return _SETTINGS["uninformative_artists"].default + tuple(names)


def _known_encoding(ctx: click.Context, param: click.Parameter, encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise click.BadParameter(f"unknown encoding {encoding!r}", param_hint="--encoding") from None
    return encoding


def _release_kinds(ctx: click.Context, param: click.Parameter, text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds or any(k not in EVIDENCE_KINDS for k in kinds):
        raise click.BadParameter(f"{text!r}: give one or more of {', '.join(EVIDENCE_KINDS)}",
                                 param_hint="--release-evidence")
    return kinds


def _progress(ctx: click.Context, param: click.Parameter, shown: bool | None) -> bool:
    return sys.stderr.isatty() if shown is None else shown


_OPTION_FORMS: dict[str, dict[str, Any]] = {
    "extra_markers": {"multiple": True, "default": (), "show_default": False, "callback": _marker_phrases},
    "uninformative_artists": {"multiple": True, "default": (), "show_default": False,
                              "callback": _with_default_credits},
    "blocksize": {"type": str, "default": _size_text(_SETTINGS["blocksize"].default), "callback": _parse_size},
    "encoding": {"callback": _known_encoding},
    "release_evidence": {"callback": _release_kinds},
}


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    epilog="Examples: mine-pairs exports/catalog.csv.gz -o pairs/ --metadata-only --marker karaoke; "
           "mine-pairs ~/Music -o pairs/; mine-pairs --pairs pairs.csv -o pairs/; "
           "mine-pairs --pairs-from dataset/mixtures dataset/instruments -o pairs/",
)
@click.argument("catalog", required=False)
@click.option("-o", "--out", "out_dir", default="pairs",
              help="Output folder or URL: candidates.parquet, rejected_rows.parquet, summary.json.")
@click.option("--metadata-only", is_flag=True, help="Stop after the metadata stage (no audio verification).")
@click.option("--report/--no-report", default=True,
              help="Write the pair-quality report (report.html, report.json) at the end.")
@config_options(MinerConfig, skip=("progress",), overrides=_OPTION_FORMS)
@click.option("--library", "force_library", is_flag=True,
              help="Walk the audio files of the CATALOG folder even when its top level holds catalog files.")
@config_options(LibraryConfig)
@click.option("--pairs", "pair_list", default=None, metavar="PAIRS.csv",
              help="Verify pairs you already have (CSV: original, instrumental; optional ids, artist, titles, "
                   "durations): no metadata stage. Instead of CATALOG.")
@click.option("--pairs-from", nargs=2, default=None, metavar="MIXTURES INSTRUMENTS",
              help="Verify the files of two folders paired by name (01_foo_mix.wav with 01_foo_inst.wav). "
                   "Instead of CATALOG.")
@click.option("--config", "config_file", default=None, metavar="FILE.toml",
              help="Settings of the audio stage: a TOML file of PairingConfig names (docs/pairing.md).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="dask.distributed scheduler (default: $DASK_SCHEDULER_ADDRESS, else this machine).")
@click.option("--progress/--no-progress", "progress", default=None, callback=_progress,
              help=_SETTINGS["progress"].info.help + " [default: when stderr is a terminal]")
@verbose_option
@user_errors
def main(catalog: str | None, out_dir: str, metadata_only: bool, report: bool, force_library: bool,
         pair_list: str | None, pairs_from: tuple[str, str] | None, config_file: str | None, scheduler: str | None,
         **settings: Any) -> None:
    """Find (original, instrumental) pairs in CATALOG: a CSV/TSV/Parquet file, a folder of part-files, or a
    glob (quote it), with columns track_id, artist, title, duration_s or duration_ms; or a music folder (audio
    files with their tags; a folder whose top level holds catalog files is read as a catalog). Or verify pairs
    you already have: --pairs, --pairs-from."""
    config = config_from(MinerConfig, settings)
    library_config = config_from(LibraryConfig, settings)
    pairing_config = load_toml(PairingConfig, config_file) if config_file else None
    known = pair_list is not None or pairs_from is not None
    if known and (catalog is not None or metadata_only or force_library):
        raise click.UsageError("--pairs and --pairs-from replace CATALOG and the metadata stage: give no CATALOG, "
                               "--metadata-only or --library with them")
    if not known and catalog is None:
        raise click.UsageError("give a CATALOG (a catalog or a music folder), --pairs or --pairs-from")
    with writer_lock(out_dir, "mine-pairs", json_files=("summary.json",)):
        if known:
            verify_known_pairs(out_dir, pair_list, pairs_from, pairing_config, report=report, scheduler=scheduler,
                               progress=config.progress, echo=echo)
        else:
            mine_source(catalog, out_dir, config, pairing_config, library_config, force_library=force_library,
                        audio=not metadata_only, report=report, scheduler=scheduler, echo=echo)

if __name__ == "__main__":
    main()
