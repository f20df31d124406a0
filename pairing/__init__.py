"""The audio stage of ``mine-pairs``: verify, deduplicate and align each candidate pair by its audio.

``pair_candidates(out_dir)`` reads ``out_dir/candidates.parquet`` and writes ``out_dir/pairs.parquet``
(``catalog_schemas.PAIRS``): one verdict row per candidate. ``verify_pair`` is the pure per-pair function;
``PairingConfig`` holds every threshold.
"""

from __future__ import annotations

from pairing.config import PairingConfig
from pairing.pipeline import PairingSummary, format_summary, pair_candidates
from pairing.prepare import PreparedAudio, prepare_audio
from pairing.verify import verify_pair

__all__ = ["PairingConfig", "PairingSummary", "format_summary", "pair_candidates", "PreparedAudio",
           "prepare_audio", "verify_pair"]
