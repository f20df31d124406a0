"""The metadata stage of ``mine-pairs``: catalog rows -> candidate (original, instrumental) pairs.

``mine_pairs(catalog, out_dir, config, scheduler)`` runs the Dask pipeline (``pipeline``) and writes
``candidates.parquet``, ``rejected_rows.parquet`` and the ``metadata`` section of ``summary.json``.
Modules: ``catalog_io`` (reading, partitioning, row validation), ``normalize`` (artist keys, title cores),
``markers`` (instrumental markers, version tags), ``alternates`` (alternate titles in brackets),
``blocking`` (which titles of a block to score), ``evidence`` (the same-release rule for uninformative
credits), ``giants`` (giant blocks split by title length), ``match`` (the pure per-block matching function).
"""

from __future__ import annotations

from miner.markers import DEFAULT_MARKERS, MarkerSet, version_tags
from miner.match import MatchRules, explain, match_partition
from miner.normalize import artist_key, title_core
from miner.pipeline import MinerConfig, MineSummary, mine_pairs

__all__ = ["DEFAULT_MARKERS", "MarkerSet", "MatchRules", "MinerConfig", "MineSummary", "artist_key", "explain",
           "match_partition", "mine_pairs", "title_core", "version_tags"]
