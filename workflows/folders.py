"""``mine-pairs`` on what people have instead of a catalog: a music folder, or pairs they already know.

- ``mine_source``: what ``mine-pairs SOURCE`` runs. ``SOURCE`` is told apart by ``miner.music_files.input_kind``
  (a folder whose top level holds catalog files is a catalog, read as before; a folder of audio files is a music
  folder); a catalog goes to ``mine_and_verify``, a music folder to ``mine_folder``.
- ``mine_folder``: the folder walked into ``catalog.parquet`` (``miner.library``), then the metadata stage on
  that catalog, the audio stage and the report, as for any catalog.
- ``verify_known_pairs``: ``mine-pairs --pairs pairs.csv`` or ``--pairs-from mixtures/ instruments/``: the pairs
  written as candidates (``miner.known_pairs``), no metadata stage, then the audio stage and the report.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any, Callable

from miner import MinerConfig
from miner.known_pairs import KnownPairsSummary, match_folders, read_pair_list, write_candidates
from miner.library import LibraryConfig, LibrarySummary, build_catalog
from miner.music_files import first_audio_file, input_kind
from pairing import PairingConfig, format_summary, pair_candidates
from vocalmine import storage
from vocalmine.errors import UserInputError
from workflows.mining import MiningResult, mine_and_verify, write_report

log = logging.getLogger(__name__)


def format_library_summary(s: LibrarySummary) -> str:
    """Console lines of a music-folder walk: the files, where their titles came from, what was read."""
    others = f" ({s.other_files:,} other files left alone, e.g. {s.other_examples[0]})" if s.other_files else ""
    return "\n".join([
        f"{s.files:,} audio files under {s.root}{others}",
        f"  titles from tags {s.titles_from_tags:,}, from file names {s.titles_from_path:,}, unreadable "
        f"{s.unreadable:,}; read {s.read:,} ({s.cached:,} unchanged, from the cache) in {s.seconds:.1f} s "
        f"-> {s.catalog}",
    ])


def format_known_summary(s: KnownPairsSummary) -> str:
    """Console lines of the pairs given: how many, and each row or file that gave none, with why."""
    pairs = f"{s.pairs:,} pair{'' if s.pairs == 1 else 's'}"
    lines = [f"{pairs} from {s.source} -> {storage.join(s.out_dir, 'candidates.parquet')}"]
    for skip in s.skipped[:20]:
        lines.append(f"  skipped {skip['where']}: {skip['reason']} ({skip['detail']})")
    if len(s.skipped) > 20:
        lines.append(f"  ... {len(s.skipped) - 20} more skipped (summary.json, section known_pairs)")
    return "\n".join(lines)


def mine_folder(source: Any, out_dir: Any, miner_config: MinerConfig, pairing_config: PairingConfig | None = None,
                library_config: LibraryConfig = LibraryConfig(), *, audio: bool = True, report: bool = True,
                scheduler: str | None = None, echo: Callable[[str], None] = log.info) -> MiningResult:
    """The music folder (URL prefix, glob) ``source`` walked into ``out_dir/catalog.parquet``, then mined as
    ``mine_and_verify`` mines a catalog."""
    library = build_catalog(source, out_dir, library_config, scheduler, miner_config.progress)
    echo(format_library_summary(library))
    result = mine_and_verify(library.catalog, out_dir, miner_config, pairing_config, audio=audio, report=report,
                             scheduler=scheduler, echo=echo)
    return replace(result, library=library)


def mine_source(source: Any, out_dir: Any, miner_config: MinerConfig, pairing_config: PairingConfig | None = None,
                library_config: LibraryConfig = LibraryConfig(), *, force_library: bool = False, audio: bool = True,
                report: bool = True, scheduler: str | None = None,
                echo: Callable[[str], None] = log.info) -> MiningResult:
    """``mine-pairs SOURCE``: a catalog (file, folder of part-files, glob) mined by ``mine_and_verify``, a music
    folder by ``mine_folder`` (``force_library``: walk a folder's audio files whatever its top level holds)."""
    kind = input_kind(source, force_library)
    if kind.kind == "library":
        echo(f"{source}: a music folder ({kind.reason}); reading its tags")
        return mine_folder(source, out_dir, miner_config, pairing_config, library_config, audio=audio,
                           report=report, scheduler=scheduler, echo=echo)
    log.info("%s: read as a catalog (%s)", source, kind.reason)
    try:
        return mine_and_verify(source, out_dir, miner_config, pairing_config, audio=audio, report=report,
                               scheduler=scheduler, echo=echo)
    except UserInputError as exc:
        text = os.fspath(source)
        if storage.isdir(text) and first_audio_file(storage.absolute(text)) is not None:
            raise UserInputError(f"{exc}\n{text} was read as a catalog ({kind.reason}); it also holds audio "
                                 "files: pass --library to walk them instead") from None
        raise


def verify_known_pairs(out_dir: Any, pair_list: Any = None, folders: tuple[Any, Any] | None = None,
                       pairing_config: PairingConfig | None = None, *, report: bool = True,
                       scheduler: str | None = None, progress: bool = False,
                       echo: Callable[[str], None] = log.info) -> MiningResult:
    """``mine-pairs --pairs pair_list`` or ``--pairs-from MIXTURES INSTRUMENTS`` (``folders``): the pairs as
    candidates (no metadata stage), their verdicts, maps and measures, and the report."""
    if (pair_list is None) == (folders is None):
        raise UserInputError("give either a pair list (--pairs) or two folders (--pairs-from), not both")
    if pair_list is not None:
        pairs, skipped = read_pair_list(pair_list)
        source = os.fspath(pair_list)
    else:
        pairs, skipped = match_folders(*folders)
        source = f"{os.fspath(folders[0])} + {os.fspath(folders[1])} (paired by name)"
    known = write_candidates(pairs, skipped, out_dir, source, scheduler, progress)
    echo(format_known_summary(known))
    verdicts = pair_candidates(out_dir, pairing_config or PairingConfig(), scheduler=scheduler, progress=progress)
    echo(format_summary(verdicts))
    summary = None
    if report:
        summary = write_report(out_dir)
        echo(summary.text)
    return MiningResult(None, verdicts, summary, known_pairs=known)
