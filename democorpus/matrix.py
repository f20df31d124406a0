"""The release matrix (issue 18): one song per song family, each released as every kind of instrumental, with
the truth about each pair. What the audio stage's quality tests and ``benchmarks/bench_pairing_quality.py``
measure per kind and per family.

A song's instrumentals share its one original, so the audio stage must judge each kind in a run of its own
(one pair per content group is kept). Layout under ``out_dir`` (paths relative to it)::

    audio/<song_id>.flac              the original (the mixture), at the song's rate
    audio/<song_id>-<kind>.<ext>      its instrumental of each kind (``KINDS``), WAV unless a codec's
    truth/stems/<song_id>/{mixture,vocals,accompaniment}.wav
    truth/pairs.csv                   one row per pair (``MATRIX_COLUMNS``)
    matrix.json                       written last: the request (the cache key) and the pairs' count

Kinds: ``clean`` (an offset and a gain only), every release kind of ``releases`` and, with ``degraded``, the
instrumental no real release should be trusted with: ``missing-lead`` and ``missing-rhythm`` (a melodic part,
or the drums or bass, left out of the instrumental, so they stay in the derived vocal), ``ogg-lowest`` and
``mp3-mono`` (codecs at about 50 and 32 kbit/s). (Part of the vocal left in the instrumental
is no such case for a magnitude target measured up to its scale: at -10 dB it measured 0.6-0.7 times the
ideal target's error.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from democorpus.encode import write_audio
from democorpus.releases import CODEC_KINDS, RELEASE_KINDS, Release, plan_release, release_truth
from democorpus.rendering import ogg_serial, realise
from democorpus.rows import Recipe
from democorpus.song_families import SONG_FAMILIES
from democorpus.synth import Song, random_spec, render
from democorpus.tables import decimals, write_csv
from vocalmine.atomic import write_json

KINDS = ("clean", *RELEASE_KINDS)
DEGRADED_KINDS = ("missing-lead", "missing-rhythm", "ogg-lowest", "mp3-mono")
#: Degraded kinds that are a lossy file: extension, libsndfile compression level, channels (Vorbis at its lowest
#: quality, about 50 kbit/s; a mono MP3 at libsndfile's lowest level that opens, about 32 kbit/s).
DEGRADED_CODECS = {"ogg-lowest": ("ogg", 1.0, 2), "mp3-mono": ("mp3", 0.99, 1)}
#: Roles whose part a ``missing-*`` instrumental leaves out: the first the song has.
MISSING_ROLES = {"missing-lead": ("lead", "keys", "arp", "brass"), "missing-rhythm": ("drums", "bass")}
MATRIX_COLUMNS = ("pair_id", "original_id", "instrumental_id", "song_id", "song_family", "release", "offset_s",
                  "gain_db", "polarity", "release_truth", "audio_format", "sample_rate")
VERSION = 3


@dataclass(frozen=True)
class MatrixInfo:
    out_dir: Path
    pairs: int
    reused: bool

    @property
    def pairs_csv(self) -> Path:
        return self.out_dir / "truth" / "pairs.csv"


def _instrumental(song: Song, role: str | None) -> Song:
    """The song whose accompaniment stem is what the instrumental holds: without the part of ``role``."""
    if role is not None and song.parts is not None:
        return replace(song, accompaniment=song.accompaniment - song.parts[role])
    return song


def _missing_roles(kinds: tuple[str, ...], parts: tuple) -> dict[str, str]:
    """kind -> the role its instrumental leaves out, for the ``missing-*`` kinds the song has a part for."""
    roles = {p.role for p in parts}
    found = {k: next((r for r in MISSING_ROLES[k] if r in roles), None) for k in kinds if k in MISSING_ROLES}
    return {k: r for k, r in found.items() if r is not None}


def _song_pairs(out: Path, k: int, family: str, seconds: float, seed: int, kinds: tuple[str, ...]) -> list[dict]:
    """Render family ``family``'s song (the ``k``-th), write its original, stems and instrumentals; its rows."""
    song_seed = int(np.random.SeedSequence([seed, 0x3A7, k]).generate_state(1)[0])
    sid = f"m{k:02d}-{family}"
    spec = random_spec(sid, song_seed, seconds, 44100, 14994.0, song_family=family)
    missing = _missing_roles(kinds, spec.parts)
    song = render(spec, keep_roles=tuple(sorted(set(missing.values()))))
    sr = spec.sample_rate
    for name, x in (("mixture", song.mixture), ("vocals", song.vocals), ("accompaniment", song.accompaniment)):
        write_audio(out / "truth" / "stems" / sid / f"{name}.wav", x, sr)
    write_audio(out / "audio" / f"{sid}.flac", song.mixture, sr)
    rng = np.random.default_rng([seed, 0x3A8, k])
    rows = []
    for j, kind in enumerate(kinds):
        if kind in MISSING_ROLES and kind not in missing:
            continue  # the song has no such part to leave out
        release = plan_release(kind, spec.seconds, spec.bar_s, rng) if kind in RELEASE_KINDS else None
        magnitude = float(rng.uniform(0.05, 1.0))
        recipe = Recipe("accompaniment", sid, 48000 if j % 3 == 1 else sr, gain_db=round(float(rng.uniform(-4, 4)), 2),
                        offset_s=magnitude if j % 2 == 0 else -magnitude, release=release,
                        stretch=release.stretch if release else 1.0)
        ext, level, channels = DEGRADED_CODECS.get(kind, (*CODEC_KINDS.get(kind, ("wav", None)), 2))
        iid = f"{sid}-{kind}"
        content, realised = realise(recipe, _instrumental(song, missing.get(kind)), rng)
        if channels == 1:
            content = content.mean(axis=0, keepdims=True)
        write_audio(out / "audio" / f"{iid}.{ext}", content, recipe.sample_rate, serial=ogg_serial(iid),
                    compression_level=level)
        truth = release_truth(release or Release(kind), realised["offset_s"], spec.seconds, sr)
        if kind in missing:
            truth = json.dumps({**json.loads(truth), "role": missing[kind]}, sort_keys=True)
        rows.append({"pair_id": f"{sid}~{iid}", "original_id": sid, "instrumental_id": iid, "song_id": sid,
                     "song_family": family, "release": "" if kind == "clean" else kind,
                     "offset_s": decimals(realised["offset_s"], 9), "gain_db": decimals(realised["gain_db"], 2),
                     "polarity": realised["polarity"], "release_truth": "" if kind == "clean" else truth,
                     "audio_format": ext, "sample_rate": recipe.sample_rate})
    return rows


def make_release_matrix(out_dir: str | Path, families: tuple[str, ...] = SONG_FAMILIES, seconds: float = 24.0,
                        seed: int = 0, degraded: bool = False) -> MatrixInfo:
    """Write the release matrix of ``families`` (one song of ``seconds`` each) into ``out_dir``, or reuse the
    one there when its matrix.json matches the request. Deterministic by ``seed``."""
    out = Path(out_dir)
    kinds = KINDS + (DEGRADED_KINDS if degraded else ())
    key = {"version": VERSION, "families": list(families), "seconds": seconds, "seed": seed, "kinds": list(kinds)}
    try:
        found = json.loads((out / "matrix.json").read_text())
        if found.get("key") == key:
            return MatrixInfo(out, int(found["pairs"]), True)
    except (OSError, ValueError):
        pass
    (out / "matrix.json").unlink(missing_ok=True)
    rows = []
    for family in families:
        rows += _song_pairs(out, SONG_FAMILIES.index(family), family, seconds, seed, kinds)
    write_csv(out / "truth" / "pairs.csv", MATRIX_COLUMNS, sorted(rows, key=lambda r: r["pair_id"]))
    write_json({"key": key, "pairs": len(rows)}, out / "matrix.json")
    return MatrixInfo(out, len(rows), False)
