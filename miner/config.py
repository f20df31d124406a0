"""The settings of the metadata stage (``MinerConfig``) and what a run did (``MineSummary``).

The user settings are ``vocalmine.settings.setting`` fields: ``mine-pairs`` derives its options from them
(``commands.options.config_options``), so each default and help text is written once, here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from miner.evidence import DEFAULT_COMPOSERS, DEFAULT_GENRES, DEFAULT_KINDS, DEFAULT_UNINFORMATIVE, ReleaseEvidence
from miner.markers import DEFAULT_MARKERS, MarkerSet
from miner.match import MatchRules
from miner.partitions import DEFAULT_BLOCKSIZE
from vocalmine.settings import setting


@dataclass(frozen=True)
class MinerConfig:
    """Settings of the metadata stage.

    ``extra_markers``: marker phrases added to ``markers.DEFAULT_MARKERS``; ``title_threshold``: minimum
    rapidfuzz ratio (0-100) of the title cores; ``duration_tolerance_s``/``duration_tolerance_rel``: allowed
    duration difference (seconds, fraction of the longer track; the larger applies); ``strict``: stop at the
    first bad row; ``blocksize``: bytes of CSV per partition; ``encoding``: text encoding of CSV/TSV files,
    header included (a UTF-16/UTF-32 byte-order mark overrides it); ``progress``: show Dask progress bars on
    stderr; ``wave_rows``: catalog rows per matching wave (bounds the memory of the shuffle);
    ``uninformative_artists`` / ``uninformative_genres``: credits and genres whose pairs also need evidence of
    the same release, one of ``release_evidence`` (album, date, isrc, label), dates at most
    ``release_max_days`` apart (``evidence.ReleaseEvidence``); ``giant_rows``: an artist block of at least this
    many rows is split into sub-blocks by title length (``giants``), each its own task.

    The bounds given to ``setting`` are the command line's; the checks of ``__post_init__`` (``ValueError``)
    are the library's."""

    extra_markers: tuple[str, ...] = setting(
        (), f"Another instrumental marker phrase (repeatable), added to: {', '.join(DEFAULT_MARKERS)}.",
        flag="--marker", metavar="PHRASE")
    title_threshold: float = setting(90.0, "Minimum rapidfuzz ratio of the titles once the marker is removed.",
                                     low=0, high=100)
    duration_tolerance_s: float = setting(3.0, "Allowed duration difference, seconds.", flag="--duration-tolerance",
                                          low=0)
    duration_tolerance_rel: float = setting(
        0.01, "Allowed duration difference as a fraction of the longer track (when larger).", low=0, high=1)
    strict: bool = setting(False, "Stop at the first bad row (exit 2) instead of rejecting it.")
    blocksize: int = setting(DEFAULT_BLOCKSIZE, "CSV bytes per partition.", low=1)
    encoding: str = setting("utf-8", "Text encoding of CSV/TSV files (a UTF-16/UTF-32 byte-order mark overrides it).")
    progress: bool = setting(False, "Progress bars on stderr.")
    wave_rows: int = 2_000_000
    uninformative_artists: tuple[str, ...] = setting(
        DEFAULT_UNINFORMATIVE + DEFAULT_COMPOSERS,
        "Another credit that says nothing about the performer (repeatable), added to Various Artists, Unknown "
        "Artist, Anonymous, Traditional and common composers: its pairs need same-release evidence.",
        flag="--uninformative-artist", metavar="NAME")
    uninformative_genres: tuple[str, ...] = DEFAULT_GENRES
    release_evidence: tuple[str, ...] = setting(
        DEFAULT_KINDS, "What shows the same release in such blocks: any of album, date, isrc, label "
        "(comma-separated).", metavar="KINDS")
    release_max_days: int = setting(31, "Largest release-date difference that counts as the same release, days.",
                                    low=0)
    giant_rows: int = 50_000

    def __post_init__(self) -> None:
        if not 0 <= self.title_threshold <= 100:
            raise ValueError(f"title_threshold must be within 0..100, got {self.title_threshold}")
        if self.duration_tolerance_s < 0 or self.duration_tolerance_rel < 0:
            raise ValueError("duration tolerances must not be negative")
        if self.blocksize < 1 or self.wave_rows < 1 or self.giant_rows < 1:
            raise ValueError("blocksize, wave_rows and giant_rows must be positive")
        if self.release_max_days < 0:
            raise ValueError("release_max_days must not be negative")
        self.markers  # noqa: B018 (an empty marker phrase raises here, not in a worker)
        self.evidence  # noqa: B018 (an unknown evidence kind raises here)

    @property
    def markers(self) -> MarkerSet:
        return MarkerSet.with_extra(self.extra_markers)

    @property
    def evidence(self) -> ReleaseEvidence:
        return ReleaseEvidence.build(self.uninformative_artists, self.uninformative_genres, self.release_evidence,
                                     self.release_max_days)

    @property
    def rules(self) -> MatchRules:
        return MatchRules(self.markers, self.title_threshold, self.duration_tolerance_s, self.duration_tolerance_rel,
                          self.evidence)

    def record(self) -> dict[str, Any]:
        """What ``summary.json`` records of this config (``metadata.config``): the full marker list, the
        matching rules and the same-release rule (keys and order fixed: reports and older runs read them)."""
        return {
            "markers": list(self.markers.phrases),
            "title_threshold": self.title_threshold,
            "duration_tolerance_s": self.duration_tolerance_s,
            "duration_tolerance_rel": self.duration_tolerance_rel,
            "strict": self.strict,
            "uninformative_artists": list(self.uninformative_artists),
            "uninformative_genres": list(self.uninformative_genres),
            "release_evidence": list(self.release_evidence),
            "release_max_days": self.release_max_days,
            "giant_rows": self.giant_rows,
        }


@dataclass(frozen=True)
class MineSummary:
    """What a run did; ``to_dict()`` is the ``metadata`` section of ``summary.json``.

    Funnel: ``rows_read`` = ``rows_used`` + ``rows_rejected``; ``marked`` of the used rows carry an
    instrumental marker; ``blocks`` artist blocks hold a marked title; ``compared`` title scores were
    computed in them (``blocking.candidate_pairs``: only titles that can reach the threshold); ``candidates``
    pairs passed every rule, covering ``instrumentals_matched`` instrumentals and ``originals_matched``
    originals. ``same_release_checked`` pairs passed the title and duration rules in a block of an
    uninformative credit (``evidence``), of which ``same_release_missing`` were rejected for showing no
    evidence of the same release. ``giant_blocks`` blocks of at least ``config.giant_rows`` rows were split
    into ``giant_sub_blocks`` sub-blocks by title length (``giants``). ``seconds``: wall time of the run."""

    rows_read: int
    rows_used: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    marked: int
    blocks: int
    compared: int
    candidates: int
    instrumentals_matched: int
    originals_matched: int
    files: int
    partitions: int
    seconds: float
    catalog: str
    out_dir: str
    same_release_checked: int = 0
    same_release_missing: int = 0
    giant_blocks: int = 0
    giant_sub_blocks: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
