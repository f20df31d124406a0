"""The demo corpus: a catalog of synthesised songs, their instrumentals and decoys, and the truth about each row.
``make_corpus`` plans it (``planning``, ``decoys``), renders its audio (``rendering``), writes its tables
(``tables``) and its corpus.json (``folder``).

Layout written under ``out_dir`` (every path in the tables is relative to ``out_dir``)::

    catalog.csv                      the catalog (track_id, artist, title, duration_s, album, genre,
                                     release_date, label, audio_path)
    audio/<track_id>.<ext>           WAV, FLAC, MP3 and Ogg Vorbis files, stereo, 44.1 or 48 kHz
    truth/stems/<song_id>/{mixture,vocals,accompaniment}.wav
                                     clean stems at the original's rate, aligned with the original file
    truth/songs.csv                  one row per song (key, tempo, voice, rate, split hint)
    truth/tracks.csv                 one row per catalog row: what it really is
    truth/pairs.csv                  one row per candidate pair a correct miner proposes, with the verdict
                                     the audio stage should reach and the true alignment
    truth/metadata_decoys.csv        rows the miner must not pair, and why
    corpus.json                      written last: config, generator version, counts (the cache key)

Offsets and gains follow the project's convention (``catalog_schemas``):
``instrumental[t + offset_s] ~= g * accompaniment[t]`` with ``g = polarity * 10 ** (gain_db / 20)``, where
``accompaniment`` is the accompaniment stem as it appears in the original file.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from democorpus.config import DemoConfig
from democorpus.folder import MANIFEST, CorpusInfo, cache_key, prepare, reusable
from democorpus.library import write_library
from democorpus.planning import plan
from democorpus.rendering import Rendered, render_all
from democorpus.rows import Plan
from democorpus.tables import write_tables
from vocalmine import code_version
from vocalmine.atomic import write_json

log = logging.getLogger(__name__)


def number_rows(plan: Plan, seed: int) -> None:
    """Give the rows their track ids (``t0001``, ...) in catalog order: the rows shuffled, so an original and
    its instrumental are rarely neighbours."""
    order = np.random.default_rng([seed, 0x1D]).permutation(len(plan.rows))
    width = max(4, len(str(len(plan.rows))))
    for rank, k in enumerate(order):
        plan.rows[int(k)].track_id = f"t{rank + 1:0{width}d}"


def counts(config: DemoConfig, plan: Plan, rendered: Rendered) -> dict[str, float]:
    """corpus.json's counts (``CorpusInfo.counts``)."""
    roles = [r.role for r in plan.rows]
    return {
        "songs": config.songs,
        "rows": len(plan.rows),
        "true_pairs": sum(1 for p in plan.pairs if p.instrumental.role == "instrumental" and p.status == "accepted"),
        "candidate_pairs": len(plan.pairs),
        "audio_decoys": roles.count("audio-decoy"),
        "metadata_decoys": roles.count("metadata-decoy"),
        "bad_rows": roles.count("bad-row"),
        "audio_files": rendered.files,
        "audio_seconds": round(rendered.seconds, 1),
    }


def make_corpus(out_dir: str | Path, config: DemoConfig = DemoConfig(), *, force: bool = False,
                progress: bool | None = None, workers: int | None = None) -> CorpusInfo:
    """Generate the demo corpus in ``out_dir``, or reuse the one there when its ``corpus.json`` matches
    ``config`` and this generator's code (``force`` regenerates anyway). Deterministic by ``config.seed``,
    whatever the number of ``workers`` (threads; default: the CPU count, at most 4).

    ``progress``: show a progress bar on stderr (None: only on a terminal). ``config.as_library``: the corpus,
    then its tagged music folder (``democorpus.library``).
    """
    config.validate()
    if config.as_library:  # the music folder is made from the finished corpus, whose cache key it leaves alone
        info = make_corpus(out_dir, replace(config, as_library=False), force=force, progress=progress,
                           workers=workers)
        write_library(info.out_dir)
        return replace(info, config=config)
    out = Path(out_dir)
    key = cache_key(config)
    if not force and (found := reusable(out, key)) is not None:
        log.info("reusing the demo corpus in %s", out)
        return CorpusInfo(out, config, True, found.get("counts", {}))

    start = time.perf_counter()
    prepare(out)
    corpus = plan(config)
    number_rows(corpus, config.seed)
    workers = max(1, min(workers or (os.cpu_count() or 1), 4, len(corpus.specs)))
    rendered = render_all(out, corpus, config.seed, workers, progress)
    write_tables(out, corpus, rendered.songs)
    found = counts(config, corpus, rendered)
    write_json({**key, "code_version": code_version(), "counts": found}, out / MANIFEST)  # last: the corpus is done
    log.info("demo corpus: %d songs, %d rows, %d files in %.1f s", config.songs, len(corpus.rows), rendered.files,
             time.perf_counter() - start)
    return CorpusInfo(out, config, False, found)
