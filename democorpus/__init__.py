"""The demo corpus: synthesised songs with known stems, a catalog of originals, instrumentals and decoys, and
the truth about every row. A user-facing generator (``make-demo-corpus``) and the factory tests build data with.

    from democorpus import DemoConfig, make_corpus
    info = make_corpus(out_dir, DemoConfig(songs=4, seconds=8.0, seed=0))  # deterministic by seed

See ``democorpus.corpus`` for the layout and the truth tables.
"""

from democorpus.corpus import (
    AUDIO_DECOYS,
    CATALOG_COLUMNS,
    GENERATOR_VERSION,
    METADATA_DECOYS_COLUMNS,
    PAIRS_COLUMNS,
    SONGS_COLUMNS,
    TRACKS_COLUMNS,
    CorpusInfo,
    DemoConfig,
    make_corpus,
)

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
