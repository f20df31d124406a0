"""Render the demo corpus's audio: each song's stems and every file a row's recipe makes from them, written
reproducibly (``encode``), songs in parallel threads.

A file's content is float64 ``[2, samples]`` at the recipe's rate, random bytes (an unreadable file) or nothing
(a missing file); each row gets its own generator, seeded by the corpus seed and the row's key, so the files do
not depend on the order or the threads they are written in.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soxr
from tqdm import tqdm

from democorpus.encode import write_audio, write_bytes
from democorpus.releases import CODEC_KINDS, apply_release
from democorpus.rows import Plan, Recipe, Row
from democorpus.synth import Song, render
from democorpus.tables import song_record
from features.audio import fit_length, resample


def realise(recipe: Recipe, song: Song, rng: np.random.Generator) -> tuple[np.ndarray | bytes | None, dict]:
    """The file's content: float64 ``[2, samples]`` at ``recipe.sample_rate``, bytes, or None (no file); and
    the offset (s), gain (dB) and polarity as realised (the gain is lowered to keep the file clear of clipping)."""
    sr0, sr = song.spec.sample_rate, recipe.sample_rate
    if recipe.content == "none":
        return None, {}
    if recipe.content == "random-bytes":
        return rng.bytes(int(song.spec.seconds * 16000)), {}
    if recipe.content == "silence":
        return np.zeros((2, int(round(song.spec.seconds * sr)))), {}
    x = {"mixture": song.mixture, "accompaniment": song.accompaniment, "vocals": song.vocals}[recipe.content]
    x = np.tile(x.astype(np.float64), (1, recipe.repeat))
    if recipe.release is not None:
        x = apply_release(x, song.vocals.astype(np.float64), sr0, recipe.release)
    if recipe.stretch != 1.0:  # varispeed: the same samples played over a longer (or shorter) time
        x = np.ascontiguousarray(soxr.resample(x.T, sr0, sr0 * recipe.stretch, quality="HQ").T)
    if sr != sr0:
        x = resample(x.astype(np.float32), sr0, sr).astype(np.float64)
    gain_db = recipe.gain_db
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0 and peak * 10 ** (gain_db / 20) > 0.9:  # keep every file clear of clipping
        gain_db = math.floor(20 * math.log10(0.9 / peak) * 100) / 100
    x = x * (recipe.polarity * 10 ** (gain_db / 20))
    k = int(round(recipe.offset_s * sr))
    x = np.pad(x, ((0, 0), (k, 0))) if k >= 0 else x[:, -k:]
    t = int(round(recipe.tail_s * sr))
    x = np.pad(x, ((0, 0), (0, t))) if t >= 0 else x[:, : x.shape[1] + t]
    if recipe.keep_fraction < 1.0:
        x = x[:, : int(x.shape[1] * recipe.keep_fraction)]
    if recipe.length_s is not None:
        x = fit_length(x, int(round(recipe.length_s * sr)))
    return x, {"offset_s": k / sr, "gain_db": gain_db, "polarity": recipe.polarity}


def ogg_serial(track_id: str) -> int:
    """The Ogg stream serial number of a track: from its id, so the file is the same from run to run."""
    return int.from_bytes(hashlib.sha1(track_id.encode()).digest()[:4], "little") & 0x7FFFFFFF


def write_song_files(out: Path, song: Song, rows: list[Row], seed: int) -> int:
    """Write the song's stems and every file made from it; fill each row's duration. Returns files written."""
    stem_dir = out / "truth" / "stems" / song.spec.song_id
    sr0 = song.spec.sample_rate
    write_audio(stem_dir / "mixture.wav", song.mixture, sr0)
    write_audio(stem_dir / "vocals.wav", song.vocals, sr0)
    write_audio(stem_dir / "accompaniment.wav", song.accompaniment, sr0)
    written = 0
    for row in rows:
        rng = np.random.default_rng([seed, int(hashlib.sha1(row.key.encode()).hexdigest()[:8], 16)])
        content, realised = realise(row.recipe, song, rng)
        path = out / row.audio_path
        if content is None:
            row.duration_s = round(song.spec.seconds + float(rng.uniform(-0.5, 0.5)), 3)
            continue
        if isinstance(content, bytes):
            write_bytes(path, content)
            row.duration_s = round(song.spec.seconds + float(rng.uniform(-0.5, 0.5)), 3)
        else:
            codec = CODEC_KINDS.get(row.recipe.release.kind) if row.recipe.release is not None else None
            write_audio(path, content, row.recipe.sample_rate, serial=ogg_serial(row.track_id),
                        compression_level=codec[1] if codec else None)
            row.duration_s = round(content.shape[1] / row.recipe.sample_rate, 3)
            if row.role == "audio-decoy" and row.kind == "too-short":
                row.duration_s = round(song.spec.seconds + row.recipe.offset_s, 3)  # what the full file would be
        row.realised = realised
        written += 1
    return written


@dataclass
class Rendered:
    """What rendering wrote: truth/songs.csv's rows by song id, audio files, and seconds of audio in them."""

    songs: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: int = 0
    seconds: float = 0.0


def render_all(out: Path, plan: Plan, seed: int, workers: int, progress: bool | None) -> Rendered:
    """Render every song of ``plan`` and write its stems and files under ``out`` with ``workers`` threads
    (rows of distinct songs are disjoint, so songs run in parallel; NumPy, soxr and libsndfile release the GIL).
    ``progress``: a progress bar on stderr (None: only on a terminal)."""
    by_source: dict[str, list[Row]] = {}
    for row in plan.rows:
        by_source.setdefault(row.recipe.source, []).append(row)

    def one_song(i: int) -> tuple[dict[str, Any], int, float]:
        song = render(plan.specs[i])
        rows = sorted(by_source.get(song.spec.song_id, []), key=lambda r: r.key)
        files = write_song_files(out, song, rows, seed)
        seconds = sum(r.duration_s or 0.0 for r in rows if r.recipe.content not in ("none", "random-bytes"))
        return song_record(plan, i, song), files, seconds

    done = Rendered()
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(plan.specs), desc="demo songs", unit="song", disable=None if progress is None else not progress
    ) as bar:
        for record, files, seconds in pool.map(one_song, range(len(plan.specs))):
            done.songs[record["song_id"]] = record
            done.files += files
            done.seconds += seconds
            bar.update(1)
    return done
