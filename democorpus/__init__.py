"""The demo corpus: synthesised songs with known stems, a catalog of originals, instrumentals and decoys, and
the truth about every row. A user-facing generator (``make-demo-corpus``) and the factory tests build data with.

    from democorpus import DemoConfig, make_corpus
    info = make_corpus(out_dir, DemoConfig(songs=4, seconds=8.0, seed=0))  # deterministic by seed

See ``democorpus.corpus`` for the layout and ``democorpus.tables`` for the truth tables. The modules, in the
order a corpus is made: ``config`` (what to make), ``planning`` and ``decoys`` (every row and pair, as the
values of ``rows``), the songs (``synth``: ``arrangement``, ``instruments``, ``voice``, ``speech``, ``mixing``,
``split``, ``song_families``), the files (``rendering``, ``releases``, ``encode``), the tables (``tables``) and
the folder with its corpus.json cache key (``folder``). ``matrix`` writes the release matrix the audio stage's
quality is measured on (one song per song family, released as every kind of instrumental).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from democorpus.config import DemoConfig

if TYPE_CHECKING:
    from democorpus.corpus import make_corpus
    from democorpus.folder import GENERATOR_VERSION, CorpusInfo
    from democorpus.rows import AUDIO_DECOYS
    from democorpus.tables import (
        CATALOG_COLUMNS,
        METADATA_DECOYS_COLUMNS,
        PAIRS_COLUMNS,
        SONGS_COLUMNS,
        TRACKS_COLUMNS,
    )

#: The generator's public names and their modules, imported on first use (``__getattr__``).
_LAZY = {
    "make_corpus": "democorpus.corpus",
    "CorpusInfo": "democorpus.folder",
    "GENERATOR_VERSION": "democorpus.folder",
    "AUDIO_DECOYS": "democorpus.rows",
    "CATALOG_COLUMNS": "democorpus.tables",
    "METADATA_DECOYS_COLUMNS": "democorpus.tables",
    "PAIRS_COLUMNS": "democorpus.tables",
    "SONGS_COLUMNS": "democorpus.tables",
    "TRACKS_COLUMNS": "democorpus.tables",
}


def __getattr__(name: str) -> Any:
    """The generator's names, imported on first use for start-up speed: ``make-demo-corpus --help`` needs only
    ``DemoConfig``, and the generator imports scipy.signal and pedalboard (about 2 s)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'democorpus' has no attribute {name!r}")


__all__ = [
    "AUDIO_DECOYS",
    "CATALOG_COLUMNS",
    "GENERATOR_VERSION",
    "METADATA_DECOYS_COLUMNS",
    "PAIRS_COLUMNS",
    "SONGS_COLUMNS",
    "TRACKS_COLUMNS",
    "CorpusInfo",
    "DemoConfig",
    "make_corpus",
]
