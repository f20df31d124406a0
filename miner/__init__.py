"""The metadata stage of ``mine-pairs``: catalog rows -> candidate (original, instrumental) pairs.

``mine_pairs(catalog, out_dir, config, scheduler)`` runs the Dask pipeline (``pipeline``) and writes
``candidates.parquet``, ``rejected_rows.parquet`` and the ``metadata`` section of ``summary.json``.

Modules, in the order a row meets them:

- reading the catalog: ``catalog_files`` (discovery, headers, columns), ``text_encodings`` (byte-order
  marks, transcoding), ``record_boundaries`` (quote-aware record ends), ``partitions`` (byte ranges and row
  groups), ``catalog_rows`` (parsing one partition), ``row_validation`` (rejection reasons, durations);
- the rules: ``normalize`` (artist keys, title cores), ``markers`` (instrumental markers, version tags),
  ``alternates`` (alternate titles in brackets), ``blocking`` (which titles of a block to score),
  ``evidence`` (the same-release rule for uninformative credits), ``giants`` (giant blocks split by title
  length), ``match`` (the pure per-block matching function);
- the run: ``config`` (``MinerConfig``, ``MineSummary``), ``work_files`` (the work folder), ``prepare``
  (step 1), ``duplicates`` (step 2), ``block_matching`` (step 3), ``rejected`` (rejected_rows.parquet),
  ``runner`` (Dask), ``pipeline`` (``mine_pairs``).;
- what people have instead of a catalog: ``music_files`` (a music folder's audio files, and the rule that
  tells it from a catalog), ``tags`` (a file's tags and stream duration, with mutagen; ``riff_info`` for WAV
  INFO chunks), ``path_names`` (the naming rules of music folders), ``library`` (``build_catalog``: the folder
  walked into catalog.parquet, as Dask tasks over file batches, re-reading only changed files),
  ``known_pairs`` (a pair list, or two folders paired by name, written as candidates for the audio stage).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from miner.config import MinerConfig, MineSummary
from miner.markers import DEFAULT_MARKERS, MarkerSet, version_tags
from miner.match import MatchRules, explain, match_partition
from miner.normalize import artist_key, title_core

if TYPE_CHECKING:
    from miner.pipeline import mine_pairs


def __getattr__(name: str) -> Any:
    """``mine_pairs``, imported on first use for start-up speed: the Dask pipeline loads pandas and
    dask.dataframe (about 4 s), which a stage that only needs the artist keys (``features.splits``) or a
    command's ``--help`` should not pay."""
    if name == "mine_pairs":
        from miner.pipeline import mine_pairs

        return mine_pairs
    raise AttributeError(f"module 'miner' has no attribute {name!r}")


__all__ = ["DEFAULT_MARKERS", "MarkerSet", "MatchRules", "MinerConfig", "MineSummary", "artist_key", "explain",
           "match_partition", "mine_pairs", "title_core", "version_tags"]
