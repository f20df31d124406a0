"""``mine-pairs`` as one library function: candidates from the catalog (``miner``), verdicts from the audio
(``pairing``), then the pair-quality report (``report``), each stage's summary passed to ``echo`` as it ends."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from miner import MinerConfig, MineSummary, mine_pairs
from miner.known_pairs import KnownPairsSummary
from miner.library import LibrarySummary
from pairing import PairingConfig, PairingSummary, format_summary, pair_candidates
from report import ReportConfig, ReportSummary, build_report
from vocalmine import provenance, storage
from vocalmine.staging import staged_folder

log = logging.getLogger(__name__)

REPORT_FILES = ("report.html", "report.json")


@dataclass(frozen=True)
class MiningResult:
    """What a ``mine-pairs`` run did: each stage's summary (None for a stage that did not run): the music-folder
    walk (``library``) or the pairs a person gave (``known_pairs``, instead of ``metadata``), the metadata stage,
    the audio stage, the report."""

    metadata: MineSummary | None
    audio: PairingSummary | None
    report: ReportSummary | None
    library: LibrarySummary | None = None
    known_pairs: KnownPairsSummary | None = None


def format_mine_summary(s: MineSummary) -> str:
    """Console lines of the metadata stage: the rows, the comparisons, the candidates."""
    rejected = f" ({', '.join(f'{k} {v:,}' for k, v in s.rejected_by_reason.items())})" if s.rows_rejected else ""
    same_release = (f"; {s.same_release_missing:,} of {s.same_release_checked:,} pairs under uninformative credits "
                    "rejected for no same-release evidence" if s.same_release_checked else "")
    return "\n".join([
        f"{s.rows_read:,} rows read: {s.rows_used:,} used, {s.rows_rejected:,} rejected" + rejected,
        f"{s.marked:,} instrumental titles in {s.blocks:,} artist blocks; {s.compared:,} title comparisons"
        + same_release,
        f"{s.candidates:,} candidate pairs ({s.instrumentals_matched:,} instrumentals, "
        f"{s.originals_matched:,} originals) in {s.seconds:.1f} s -> {storage.join(s.out_dir, 'candidates.parquet')}",
    ])


def record_report(pairs_dir: Any) -> None:
    """Record the pair-quality report as made from this run's candidates and pairs, so a later run that
    rewrites them removes the old report with them (``vocalmine.provenance``)."""
    for name in REPORT_FILES:
        if storage.exists(storage.join(pairs_dir, name)):
            provenance.record(pairs_dir, name, inputs=["candidates.parquet", "pairs.parquet"])


def write_report(pairs_dir: Any, config: ReportConfig | None = None,
                 exclude: tuple[str, ...] = (".cache/", ".mine-work")) -> ReportSummary:
    """The pair-quality report (``report.html``, ``report.json``) of a ``mine-pairs`` output folder; on object
    storage it is built in a local copy of the folder (``exclude``: what not to download)."""
    with staged_folder(pairs_dir, exclude=exclude) as local:
        summary = build_report(local, config or ReportConfig())
    record_report(pairs_dir)
    if storage.is_url(pairs_dir):  # name where the report is now (the URL), not the removed local copy
        url = str(pairs_dir).rstrip("/")
        summary = dataclasses.replace(summary, html_path=storage.join(url, REPORT_FILES[0]),
                                      json_path=storage.join(url, REPORT_FILES[1]),
                                      text=summary.text.replace(str(local), url))
    return summary


def mine_and_verify(catalog: str | Path, out_dir: str | Path, miner_config: MinerConfig,
                    pairing_config: PairingConfig | None = None, *, audio: bool = True, report: bool = True,
                    scheduler: str | None = None, echo: Callable[[str], None] = log.info) -> MiningResult:
    """``mine-pairs``: candidates of ``catalog`` into ``out_dir``, then (``audio``) their verdicts under
    ``pairing_config`` (default ``PairingConfig()``; ``mine-pairs --config`` reads one from a TOML file) and
    (``report``) the pair-quality report; each stage's console lines go to ``echo`` when it ends."""
    metadata = mine_pairs(catalog, out_dir, miner_config, scheduler=scheduler)
    echo(format_mine_summary(metadata))
    verdicts = None
    if audio:
        verdicts = pair_candidates(out_dir, pairing_config or PairingConfig(), scheduler=scheduler,
                                   progress=miner_config.progress)
        echo(format_summary(verdicts))
    summary = None
    if report:
        summary = write_report(out_dir)
        echo(summary.text)
    return MiningResult(metadata, verdicts, summary)
