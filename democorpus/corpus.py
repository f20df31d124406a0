"""The demo corpus: a catalog of synthesised songs, their instrumentals and decoys, and the truth about each row.

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

import csv
import hashlib
import io
import json
import logging
import math
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import soxr
from tqdm import tqdm

from democorpus import names
from democorpus.encode import FORMATS, LOSSLESS, write_audio, write_bytes
from democorpus.releases import MP3_LOW_LEVEL, RELEASE_KINDS, Release, apply_release, plan_release, release_truth
from democorpus.split import silent_song_in_test, split_specs
from democorpus.synth import Song, SongSpec, note_name, random_spec, render, song_columns
from features.audio import resample
from vocalmine.atomic import atomic_path, write_json
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

#: Bump when the generator's output changes for the same config (the cache key also hashes this package).
GENERATOR_VERSION = 3
MANIFEST = "corpus.json"
_MARKER = ".democorpus"
SUPPORTED_RATES = (16000, 22050, 24000, 32000, 44100, 48000)

CATALOG_COLUMNS = ("track_id", "artist", "title", "duration_s", "album", "genre", "release_date", "label",
                   "audio_path")
TRACKS_COLUMNS = ("track_id", "song_id", "role", "note", "content", "source_song_id", "sample_rate", "format")
PAIRS_COLUMNS = ("pair_id", "original_id", "instrumental_id", "expected_status", "expected_reason", "offset_s",
                 "gain_db", "polarity", "duplicate_group", "song_id", "split_hint", "note", "release",
                 "release_truth")
METADATA_DECOYS_COLUMNS = ("track_id", "kind", "note")
SONGS_COLUMNS = ("song_id", "artist", "title", "key", "tempo_bpm", "voice", "voice_range", "sample_rate",
                 "duration_s", "vocal_activity", "split_hint", "genre", "instruments", "singer", "vocal_style",
                 "instrumental_only")

#: Audio decoys: instrumental-titled rows that metadata cannot tell from a real instrumental.
AUDIO_DECOYS = ("same-content", "different-recording", "drift", "too-short", "silent", "unreadable",
                "missing-file")
#: Spellings of the instrumental marker, used in turn by the true instrumentals.
MARKERS = ("{t} (Instrumental)", "{t} - Instrumental", "{t} [Instrumental Version]", "{t} (Inst.)",
           "{t} (Off Vocal)", "{t} (INSTRUMENTAL)", "{t} - Inst.", "{t} (Instrumental Mix)",
           "{t} (Official Instrumental)")


@dataclass(frozen=True)
class DemoConfig:
    """What to generate.

    ``songs``: number of synthesised songs (each has stems; most get a true instrumental).
    ``seconds``: length of a song, s (each song is 88-100 % of it).
    ``decoys``: add audio decoys, metadata decoys and bad rows; False gives only clean true pairs.
    ``sample_rates``: rates (Hz) the files use; ``formats``: file formats (wav, flac, mp3, ogg).
    """

    songs: int = 40
    seconds: float = 30.0
    seed: int = 0
    decoys: bool = True
    sample_rates: tuple[int, ...] = (44100, 48000)
    formats: tuple[str, ...] = ("wav", "flac", "mp3", "ogg")

    def __post_init__(self) -> None:  # accept lists (from JSON or a CLI) but store tuples: the config is hashable
        object.__setattr__(self, "sample_rates", tuple(int(r) for r in self.sample_rates))
        object.__setattr__(self, "formats", tuple(str(f).lower().lstrip(".") for f in self.formats))

    def validate(self) -> None:
        """Raise ``UserInputError`` naming the bad field."""
        if not 1 <= self.songs <= 500:
            raise UserInputError(f"songs must be between 1 and 500, got {self.songs}")
        if self.decoys and self.songs < 4:
            raise UserInputError(f"a corpus with decoys needs at least 4 songs, got {self.songs} "
                                 "(or turn decoys off)")
        if not 4.0 <= self.seconds <= 600.0:
            raise UserInputError(f"seconds must be between 4 and 600, got {self.seconds}")
        if not self.sample_rates or any(r not in SUPPORTED_RATES for r in self.sample_rates):
            raise UserInputError(f"sample rates must be among {SUPPORTED_RATES}, got {list(self.sample_rates)}")
        if not self.formats or any(f not in FORMATS for f in self.formats):
            raise UserInputError(f"formats must be among {sorted(FORMATS)}, got {list(self.formats)}")
        if self.decoys and not any(f in LOSSLESS for f in self.formats):
            raise UserInputError("a corpus with decoys needs a lossless format (wav or flac) for its "
                                 "identical-audio decoys")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sample_rates"] = list(self.sample_rates)
        data["formats"] = list(self.formats)
        return data


@dataclass(frozen=True)
class CorpusInfo:
    """Where a generated corpus lies, and what it holds. ``counts``: rows, songs, true_pairs, candidate_pairs,
    audio_decoys, metadata_decoys, bad_rows, audio_files, audio_seconds."""

    out_dir: Path
    config: DemoConfig
    reused: bool
    counts: dict[str, float] = field(default_factory=dict)

    @property
    def catalog(self) -> Path:
        return self.out_dir / "catalog.csv"

    @property
    def audio_dir(self) -> Path:
        return self.out_dir / "audio"

    @property
    def truth_dir(self) -> Path:
        return self.out_dir / "truth"

    @property
    def stems_dir(self) -> Path:
        return self.truth_dir / "stems"

    @property
    def tracks(self) -> Path:
        return self.truth_dir / "tracks.csv"

    @property
    def pairs(self) -> Path:
        return self.truth_dir / "pairs.csv"

    @property
    def metadata_decoys(self) -> Path:
        return self.truth_dir / "metadata_decoys.csv"

    @property
    def songs(self) -> Path:
        return self.truth_dir / "songs.csv"

    @property
    def manifest(self) -> Path:
        return self.out_dir / MANIFEST

    def stem(self, song_id: str, name: str) -> Path:
        """``truth/stems/<song_id>/<name>.wav``; ``name`` is mixture, vocals or accompaniment."""
        return self.stems_dir / song_id / f"{name}.wav"


# ---------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Recipe:
    """How a file's audio derives from a song's stems. Applied in this order: repeat, stretch, resample to
    ``sample_rate``, gain, offset (``offset_s`` > 0 adds leading silence, < 0 trims the start; whole samples
    at ``sample_rate``), tail (> 0 adds trailing silence, < 0 cuts the end), keep a fraction, fit a length."""

    content: str  # mixture | accompaniment | vocals | silence | random-bytes | none
    source: str  # song_id whose stems it is made from (for silence, bytes and none: the song it claims to be)
    sample_rate: int
    gain_db: float = 0.0
    polarity: int = 1
    offset_s: float = 0.0
    tail_s: float = 0.0
    stretch: float = 1.0
    keep_fraction: float = 1.0
    repeat: int = 1
    length_s: float | None = None
    release: Release | None = None  # how a true instrumental differs beyond offset and gain (releases.py)


@dataclass
class _Row:
    key: str  # stable internal name, e.g. "s003:instrumental"
    artist: str
    title: str
    album: str
    genre: str
    release_date: str
    label: str
    ext: str
    role: str  # original | instrumental | audio-decoy | metadata-decoy | bad-row
    song_id: str
    note: str
    recipe: _Recipe
    kind: str = ""  # metadata-decoy kind or audio-decoy reason
    blank_duration: bool = False
    track_id: str = ""
    duration_s: float | None = None  # set once the file is written (or planned, for missing files)
    realised: dict[str, float] = field(default_factory=dict)  # offset_s, gain_db, polarity as written

    @property
    def audio_path(self) -> str:
        return f"audio/{self.track_id}.{self.ext}"


@dataclass
class _Pair:
    original: _Row
    instrumental: _Row
    reason: str  # "" for a true pair
    song_id: str
    split_hint: str
    duplicate_group: str = ""
    note: str = ""
    status: str = "accepted"

    @property
    def pair_id(self) -> str:
        return f"{self.original.track_id}~{self.instrumental.track_id}"


@dataclass
class _Plan:
    specs: list[SongSpec]
    artists: list[str]  # artist credit (primary) per song
    titles: list[str]  # base title per song
    splits: dict[str, str]  # artist -> split hint
    rows: list[_Row]
    pairs: list[_Pair]


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad ``[channels, samples]`` to ``length`` samples."""
    if x.shape[1] >= length:
        return x[:, :length]
    return np.pad(x, ((0, 0), (0, length - x.shape[1])))


def _plan(config: DemoConfig) -> _Plan:  # noqa: C901 - one recipe, read top to bottom
    """Everything about the corpus but the audio: songs, artists, titles, roles, recipes, expected pairs."""
    rng = np.random.default_rng([config.seed, 0xC0_DE])
    n = config.songs
    width = max(3, len(str(n - 1)))
    ids = [f"s{i:0{width}d}" for i in range(n)]
    band = min(15000.0, 0.34 * min(config.sample_rates))
    rate_order = rng.permutation(len(config.sample_rates))
    specs = []
    for i, sid in enumerate(ids):
        song_seed = int(np.random.SeedSequence([config.seed, i]).generate_state(1)[0])
        seconds = round(config.seconds * float(np.random.default_rng(song_seed).uniform(0.88, 1.0)), 2)
        rate = config.sample_rates[int(rate_order[i % len(rate_order)])]
        specs.append(random_spec(sid, song_seed, seconds, rate, band))

    # artists of 2 to 5 songs (consecutive song ids), each with an album, genre, label and split
    sizes: list[int] = []
    while sum(sizes) < n:
        left = n - sum(sizes)
        size = int(rng.integers(2, 5))
        if not sizes and n >= 4:
            size = min(size, n - 2)  # at least two artists
        sizes.append(left if left - size < 2 else size)
    if n == 1:
        sizes = [1]
    artist_names = [f"{a} {b}" for a in names.ARTIST_FIRST for b in names.ARTIST_SECOND]
    picked = rng.choice(len(artist_names), size=len(sizes), replace=False)
    artist_list = [artist_names[int(k)] for k in picked]
    song_artist: list[int] = [a for a, size in enumerate(sizes) for _ in range(size)]
    artists = [artist_list[a] for a in song_artist]
    albums = [f"{rng.choice(names.ADJECTIVES)} {rng.choice(names.NOUNS)}" for _ in artist_list]
    genres = [str(rng.choice(names.GENRES)) for _ in artist_list]
    labels = [str(rng.choice(names.LABELS)) for _ in artist_list]
    dates = [f"{rng.integers(2008, 2025)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}" for _ in artist_list]
    order = [int(k) for k in rng.permutation(len(artist_list))]
    splits: dict[str, str] = {}
    n_test = n_valid = 0
    if len(artist_list) >= 3:
        n_test = n_valid = max(1, round(0.15 * len(artist_list)))
    elif len(artist_list) == 2:
        n_test = 1
    for rank, a in enumerate(order):
        splits[artist_list[a]] = "test" if rank < n_test else "valid" if rank < n_test + n_valid else "train"

    # titles: adjective + noun, no word shared within an artist, words unique across the corpus while they last
    adjectives = [names.ADJECTIVES[int(k)] for k in rng.permutation(len(names.ADJECTIVES))]
    nouns = [names.NOUNS[int(k)] for k in rng.permutation(len(names.NOUNS))]
    titles: list[str] = []
    used: dict[int, set[str]] = {}
    all_titles: set[str] = set()
    for i in range(n):
        taken = used.setdefault(song_artist[i], set())
        for j in range(len(adjectives) * len(nouns)):
            adj, noun = adjectives[(i + j) % len(adjectives)], nouns[(i + 3 * j) % len(nouns)]
            title = f"{adj} {noun}"
            if adj not in taken and noun not in taken and title not in all_titles:
                break
        taken.update((adj, noun))
        all_titles.add(title)
        titles.append(title)

    # roles: which songs get a true instrumental, which host the audio decoys, which is released twice
    song_order = [int(k) for k in rng.permutation(n)]
    if config.decoys:
        n_true = max(2, math.ceil(0.65 * n))
        n_hosts = min(len(AUDIO_DECOYS), n - n_true)
        duplicate_song = song_order[0]
        hosts = song_order[1 : 1 + n_hosts]
        true_songs = sorted([duplicate_song] + song_order[1 + n_hosts :])
    else:
        duplicate_song, hosts, true_songs = -1, [], sorted(song_order)
    plain_true = [s for s in true_songs if s != duplicate_song]
    decoy_host = {kind: hosts[k] if k < len(hosts) else plain_true[(k - len(hosts)) % len(plain_true)]
                  for k, kind in enumerate(AUDIO_DECOYS)} if config.decoys else {}
    silent_song_in_test(splits, artists, decoy_host, hosts)
    specs = split_specs(config.seed, specs, [splits[a] for a in artists], decoy_host, hosts)
    meta_pool = [plain_true[int(k)] for k in rng.permutation(len(plain_true))] if config.decoys else []
    meta_kinds = ["orphan-instrumental", "other-artist", "other-version:live", "other-version:remix",
                  "other-version:remix-original", "numbered-sibling", "duration-far-off", "acapella",
                  "title-prefix"]
    if n >= 20:
        meta_kinds.append("orphan-instrumental")
    meta_song = {k: meta_pool[k % len(meta_pool)] for k in range(len(meta_kinds))} if config.decoys else {}

    # spelling variety real catalogs have (decoy corpora only): featured credits, "The", accents, part numbers
    display_title = list(titles)
    display_artist = list(artists)
    inst_title_base = list(titles)
    inst_artist = list(artists)
    if config.decoys:
        numbered = meta_song[meta_kinds.index("numbered-sibling")]
        titles[numbered] = display_title[numbered] = inst_title_base[numbered] = f"{titles[numbered]}, Part 2"
        variety = [s for s in plain_true if s != numbered]
        variety = [variety[int(k)] for k in rng.permutation(len(variety))]
        guests = [str(g) for g in rng.permutation(names.GUESTS)]
        if len(variety) >= 1:  # featured artist in the original's title only
            s = variety[0]
            display_title[s] = f"{titles[s]} (feat. {guests[0]})"
        if len(variety) >= 2:  # featured artist in the original's artist credit only
            s = variety[1]
            display_artist[s] = f"{artists[s]} feat. {guests[1]}"
        if len(variety) >= 3:  # accented title; the instrumental's spelling drops the accent
            s = variety[2]
            word = list(names.ACCENTED)[int(rng.integers(len(names.ACCENTED)))]
            titles[s] = display_title[s] = f"{word} {titles[s].split(' ', 1)[1]}"
            inst_title_base[s] = f"{names.ACCENTED[word]} {titles[s].split(' ', 1)[1]}"
        if len(variety) >= 4:  # "The X" on the instrumental's credit (only when the artist is not split)
            s = variety[3]
            inst_artist[s] = f"The {artists[s]}"

    rows: list[_Row] = []
    pairs: list[_Pair] = []
    lossless = [f for f in config.formats if f in LOSSLESS]

    def fmt_for(i: int, avoid: str = "", need_lossless: bool = False) -> str:
        pool = lossless if need_lossless else list(config.formats)
        options = [f for f in pool if f != avoid] or pool
        return options[i % len(options)]

    def meta(song: int, instrumental: bool = False) -> dict[str, str]:
        a = song_artist[song]
        album = albums[a] + (" (Deluxe Edition)" if instrumental else "")
        return {"album": album, "genre": genres[a], "release_date": dates[a], "label": labels[a]}

    def other_rate(rate: int) -> int:
        others = [r for r in config.sample_rates if r != rate]
        return others[0] if others else rate

    # originals
    originals: dict[int, list[_Row]] = {}
    fmt_cycle = [config.formats[int(k)] for k in rng.permutation(len(config.formats))]
    for i, spec in enumerate(specs):
        need_lossless = i == duplicate_song or (config.decoys and i == decoy_host.get("same-content"))
        ext = fmt_for(i, need_lossless=need_lossless) if need_lossless else fmt_cycle[i % len(fmt_cycle)]
        recipe = _Recipe("mixture", ids[i], spec.sample_rate)
        row = _Row(f"{ids[i]}:original", display_artist[i], display_title[i], ext=ext, role="original",
                   song_id=ids[i], note="the song's mix", recipe=recipe, **meta(i))
        originals[i] = [row]
        rows.append(row)
        if i == duplicate_song:
            row.note = "album release; the single has identical audio"
            other = [f for f in lossless if f != ext]
            single = _Row(f"{ids[i]}:single", display_artist[i], display_title[i], album=f"{titles[i]} - Single",
                          genre=row.genre, release_date=row.release_date, label=row.label,
                          ext=other[0] if other else ext, role="original", song_id=ids[i],
                          note="single release; identical audio to the album release", recipe=recipe)
            originals[i].append(single)
            rows.append(single)

    # true instrumentals; from 9 of them on, some differ as real releases do (releases.py), twice each at most
    release_kinds = [k for k in RELEASE_KINDS if k != "mp3-low" or "mp3" in config.formats]
    release_slots = [k for k in range(3, len(true_songs)) if k % 10 not in (5, 6)] if len(true_songs) >= 9 else []
    release_slots = release_slots[: 2 * len(release_kinds)]
    for idx, i in enumerate(true_songs):
        spec = specs[i]
        orig = originals[i][0]
        rate = other_rate(spec.sample_rate) if idx % 3 == 1 else spec.sample_rate
        magnitude = float(rng.uniform(0.05, 1.0))
        offset = magnitude if idx % 2 == 0 else -magnitude
        if idx in (1, 2) or idx % 10 in (5, 6):
            shorter = (idx == 2 or idx % 10 == 6) and spec.seconds >= 6.0
            delta = float(rng.uniform(2.0, 2.8))
            if shorter:
                offset = -abs(offset)
                tail = -(delta + offset)  # file = seconds + offset + tail = seconds - delta
            else:
                tail = delta - offset
            duration_note = f"catalog duration {'shorter' if shorter else 'longer'} by {delta:.2f} s"
        else:
            tail, duration_note = 0.0, ""
        release = None
        if idx in release_slots:
            kind = release_kinds[release_slots.index(idx) % len(release_kinds)]
            release = plan_release(kind, spec.seconds, float(getattr(spec, "bar_s", 2.0)), rng)
        recipe = _Recipe("accompaniment", ids[i], rate, gain_db=round(float(rng.uniform(-4.0, 4.0)), 2),
                         polarity=-1 if idx == 2 else 1, offset_s=offset, tail_s=tail, release=release,
                         stretch=release.stretch if release else 1.0)
        marker = MARKERS[idx % len(MARKERS)]
        ext = "mp3" if release is not None and release.kind == "mp3-low" else fmt_for(idx, avoid=orig.ext)
        row = _Row(f"{ids[i]}:instrumental", inst_artist[i], marker.format(t=inst_title_base[i]),
                   ext=ext, role="instrumental", song_id=ids[i],
                   note="; ".join(x for x in ("the accompaniment, shifted and scaled", duration_note,
                                              f"release: {release.kind}" if release else "") if x),
                   recipe=recipe, **meta(i, instrumental=True))
        rows.append(row)
        group = f"dup-{ids[i]}" if len(originals[i]) > 1 else ""
        for o in originals[i]:
            pairs.append(_Pair(o, row, "", ids[i], splits[artists[i]], duplicate_group=group,
                               note="true pair" + (f"; {duration_note}" if duration_note else "")))

    if config.decoys:
        _plan_decoys(config, rng, rows, pairs, specs, ids, artists, titles, inst_title_base, song_artist,
                     originals, decoy_host, meta_kinds, meta_song, splits, meta, fmt_for, artist_list)
    return _Plan(specs, artists, display_title, splits, rows, pairs)


def _plan_decoys(  # noqa: C901 - one recipe per decoy kind, read top to bottom
    config: DemoConfig, rng: np.random.Generator, rows: list[_Row], pairs: list[_Pair], specs: list[SongSpec],
    ids: list[str], artists: list[str], titles: list[str], inst_title_base: list[str], song_artist: list[int],
    originals: dict[int, list[_Row]], decoy_host: dict[str, int], meta_kinds: list[str], meta_song: dict[int, int],
    splits: dict[str, str], meta: Callable[..., dict[str, str]], fmt_for: Callable[..., str], artist_list: list[str],
) -> None:
    """Append the audio decoys (candidates by metadata, wrong by audio) with their pairs, the metadata decoys
    and the bad rows to ``rows`` / ``pairs``. Song arguments are indices into ``specs``."""
    lossless = [f for f in config.formats if f in LOSSLESS]
    taken_markers: dict[int, set[str]] = {}
    for row in rows:
        if row.role == "instrumental":
            taken_markers.setdefault(int(row.song_id[1:]), set()).add(row.title)

    def marked(song: int, base: str | None = None) -> str:
        base = inst_title_base[song] if base is None else base
        for k in range(len(MARKERS)):
            title = MARKERS[(song + 2 * k + 1) % len(MARKERS)].format(t=base)
            if title not in taken_markers.setdefault(song, set()):
                taken_markers[song].add(title)
                return title
        return MARKERS[0].format(t=base)

    def sibling(song: int) -> int:
        same = [s for s in range(len(ids)) if song_artist[s] == song_artist[song] and s != song]
        return same[int(rng.integers(len(same)))]

    # audio decoys: each one a candidate of its host's original
    for k, kind in enumerate(AUDIO_DECOYS):
        host = decoy_host[kind]
        spec = specs[host]
        orig = originals[host][0]
        gain = round(float(rng.uniform(-3.0, 3.0)), 2)
        offset = float(rng.uniform(-0.5, 0.5))
        source, content, note = ids[host], "accompaniment", ""
        recipe_kw: dict[str, Any] = {"gain_db": gain, "offset_s": offset}
        ext = fmt_for(k, avoid=orig.ext)
        if kind == "same-content":
            content, recipe_kw, ext = "mixture", {}, fmt_for(k, avoid=orig.ext, need_lossless=True)
            note = "the file is the original mix itself (identical decoded audio)"
        elif kind == "different-recording":
            other = sibling(host)
            source = ids[other]
            recipe_kw["length_s"] = spec.seconds + float(rng.uniform(-0.4, 0.4))
            note = f"the accompaniment of another song of the artist ({ids[other]}), cut to this title's length"
        elif kind == "drift":
            change = min(float(rng.uniform(0.02, 0.03)), 2.0 / spec.seconds)
            recipe_kw["stretch"] = round(1.0 + (change if k % 2 == 0 else -change), 4)
            note = f"the accompaniment time-stretched by a factor of {recipe_kw['stretch']:.4f} (varispeed)"
        elif kind == "too-short":
            recipe_kw["keep_fraction"] = 0.25
            note = "only the first quarter of the accompaniment; the catalog gives the full duration"
        elif kind == "silent":
            content, recipe_kw, ext = "silence", {}, fmt_for(k, need_lossless=True)
            note = "digital silence of the right length"
        elif kind == "unreadable":
            content, recipe_kw, ext = "random-bytes", {}, ("flac" if k % 2 else "wav")
            note = "random bytes, not audio"
        elif kind == "missing-file":
            content, recipe_kw = "none", {}
            note = "audio_path points to a file that does not exist"
        recipe = _Recipe(content, source, specs[host].sample_rate, **recipe_kw)
        row = _Row(f"{ids[host]}:decoy:{kind}", artists[host], marked(host), ext=ext, role="audio-decoy",
                   song_id=ids[host], note=note, recipe=recipe, kind=kind, **meta(host, instrumental=True))
        rows.append(row)
        for o in originals[host]:
            pairs.append(_Pair(o, row, kind, ids[host], splits[artists[host]], note=note, status="rejected"))

    # metadata decoys: rows no correct miner pairs
    for k, kind in enumerate(meta_kinds):
        s = meta_song[k]
        spec = specs[s]
        inst_row = next(r for r in rows if r.key == f"{ids[s]}:instrumental")
        gain = round(float(rng.uniform(-3.0, 3.0)), 2)
        ext = fmt_for(k + 1, need_lossless=True)  # never decoded by a correct pipeline: cheap to write
        artist = artists[s]
        recipe = _Recipe("accompaniment", ids[s], spec.sample_rate, gain_db=gain)
        if kind == "orphan-instrumental":
            used = {w for t in (titles[x] for x in range(len(ids)) if song_artist[x] == song_artist[s])
                    for w in t.split()}
            adj = [a for a in names.ADJECTIVES[::-1] if a not in used][k % 7]
            noun = [w for w in names.NOUNS[::-1] if w not in used][k % 7]
            title = f"{adj} {noun} (Instrumental)"
            note = "an instrumental whose original is not in the catalog"
        elif kind == "other-artist":
            words = set(titles[s].split())
            others = [a for a in artist_list if a != artist]
            clear = [a for a in others if not any(words & set(titles[x].split()) for x in range(len(ids))
                                                  if artists[x] == a)]
            artist = (clear or others)[0]
            title = marked(s)
            note = f"same title as {ids[s]}'s original, credited to another artist"
        elif kind == "other-version:live":
            title = f"{inst_title_base[s]} (Live) - Instrumental"
            note = "instrumental of a live version the catalog does not have"
        elif kind == "other-version:remix":
            title = f"{inst_title_base[s]} (Remix) [Instrumental]"
            note = "instrumental of a remix the catalog does not have"
        elif kind == "other-version:remix-original":
            title = f"{titles[s]} (Remix)"
            closer = spec.seconds + inst_row.recipe.offset_s + inst_row.recipe.tail_s + float(rng.uniform(-0.2, 0.2))
            recipe = _Recipe("mixture", ids[s], spec.sample_rate, gain_db=gain, length_s=closer)
            note = "a remix (no marker) whose duration is as close to the instrumental as the original's"
        elif kind == "numbered-sibling":
            title = marked(s, base=titles[s].replace("Part 2", "Part 3"))
            recipe = replace(recipe, source=ids[sibling(s)], length_s=spec.seconds + float(rng.uniform(-1, 1)))
            note = "Part 3 instrumental beside a Part 2 original"
        elif kind == "duration-far-off":
            title = marked(s)
            recipe = replace(recipe, repeat=2)
            note = "an extended instrumental, twice the original's length"
        elif kind == "acapella":
            title = f"{titles[s]} (Acapella)"
            recipe = _Recipe("vocals", ids[s], spec.sample_rate)
            note = "the vocal stem, with exactly the original's duration"
        elif kind == "title-prefix":
            title = marked(s, base=f"{titles[s]} {names.PREFIX_WORDS[k % len(names.PREFIX_WORDS)]}")
            recipe = replace(recipe, source=ids[sibling(s)], length_s=spec.seconds + float(rng.uniform(-1, 1)))
            note = "a longer title that starts with the original's title"
        else:  # pragma: no cover - the list above is the registry
            raise AssertionError(kind)
        rows.append(_Row(f"{ids[s]}:meta:{k}:{kind}", artist, title, ext=ext, role="metadata-decoy",
                         song_id=ids[s], note=note, recipe=recipe, kind=kind.split(":")[0],
                         **meta(s, instrumental=True)))

    # bad rows: what real exports leave empty
    pool = sorted(meta_song.values())
    for k, reason in enumerate(("empty-title", "missing-duration", "empty-artist")):
        s = pool[(k * 3 + 1) % len(pool)]
        recipe = _Recipe("mixture" if reason == "empty-title" else "accompaniment", ids[s], specs[s].sample_rate)
        row = _Row(f"{ids[s]}:bad:{reason}", "" if reason == "empty-artist" else artists[s],
                   "" if reason == "empty-title" else marked(s), ext=lossless[k % len(lossless)], role="bad-row",
                   song_id=ids[s], note=f"the miner rejects it: {reason}", recipe=recipe, kind=reason,
                   blank_duration=reason == "missing-duration", **meta(s))
        rows.append(row)


# ---------------------------------------------------------------------------------------------- rendering


def _realise(recipe: _Recipe, song: Song, rng: np.random.Generator) -> tuple[np.ndarray | bytes | None, dict]:
    """The file's content: float64 ``[2, samples]`` at ``recipe.sample_rate``, bytes, or None (no file)."""
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
        x = _fit(x, int(round(recipe.length_s * sr)))
    return x, {"offset_s": k / sr, "gain_db": gain_db, "polarity": recipe.polarity}


def _ogg_serial(track_id: str) -> int:
    return int.from_bytes(hashlib.sha1(track_id.encode()).digest()[:4], "little") & 0x7FFFFFFF


def _write_song_files(out: Path, song: Song, rows: list[_Row], seed: int) -> int:
    """Write the song's stems and every file made from it; fill each row's duration. Returns files written."""
    sid = song.spec.song_id
    stem_dir = out / "truth" / "stems" / sid
    sr0 = song.spec.sample_rate
    write_audio(stem_dir / "mixture.wav", song.mixture, sr0)
    write_audio(stem_dir / "vocals.wav", song.vocals, sr0)
    write_audio(stem_dir / "accompaniment.wav", song.accompaniment, sr0)
    written = 0
    for row in rows:
        rng = np.random.default_rng([seed, int(hashlib.sha1(row.key.encode()).hexdigest()[:8], 16)])
        content, realised = _realise(row.recipe, song, rng)
        path = out / row.audio_path
        if content is None:
            row.duration_s = round(song.spec.seconds + float(rng.uniform(-0.5, 0.5)), 3)
            continue
        if isinstance(content, bytes):
            write_bytes(path, content)
            row.duration_s = round(song.spec.seconds + float(rng.uniform(-0.5, 0.5)), 3)
        else:
            low = row.recipe.release is not None and row.recipe.release.kind == "mp3-low"
            write_audio(path, content, row.recipe.sample_rate, serial=_ogg_serial(row.track_id),
                        compression_level=MP3_LOW_LEVEL if low else None)
            row.duration_s = round(content.shape[1] / row.recipe.sample_rate, 3)
            if row.role == "audio-decoy" and row.kind == "too-short":
                row.duration_s = round(song.spec.seconds + row.recipe.offset_s, 3)  # what the full file would be
        row.realised = realised
        written += 1
    return written


# ---------------------------------------------------------------------------------------------- tables


def _csv_text(columns: tuple[str, ...], records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for rec in records:
        writer.writerow(["" if rec.get(c) is None else rec.get(c) for c in columns])
    return buf.getvalue()


def _write_csv(path: Path, columns: tuple[str, ...], records: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(_csv_text(columns, records), encoding="utf-8")


def _fmt(x: float, digits: int) -> str:
    return f"{x:.{digits}f}"


def _write_tables(out: Path, plan: _Plan, songs_meta: dict[str, dict[str, Any]]) -> None:
    rows = sorted(plan.rows, key=lambda r: r.track_id)
    _write_csv(out / "catalog.csv", CATALOG_COLUMNS, [
        {"track_id": r.track_id, "artist": r.artist, "title": r.title,
         "duration_s": None if r.blank_duration else _fmt(r.duration_s, 3), "album": r.album, "genre": r.genre,
         "release_date": r.release_date, "label": r.label, "audio_path": r.audio_path}
        for r in rows
    ])
    _write_csv(out / "truth" / "tracks.csv", TRACKS_COLUMNS, [
        {"track_id": r.track_id, "song_id": r.song_id, "role": r.role, "note": r.note,
         "content": r.recipe.content, "source_song_id": r.recipe.source,
         "sample_rate": r.recipe.sample_rate if r.recipe.content not in ("none", "random-bytes") else None,
         "format": r.ext}
        for r in rows
    ])
    _write_csv(out / "truth" / "metadata_decoys.csv", METADATA_DECOYS_COLUMNS, [
        {"track_id": r.track_id, "kind": r.kind, "note": r.note} for r in rows if r.role == "metadata-decoy"
    ])
    records = []
    groups: dict[str, list[_Pair]] = {}
    for p in plan.pairs:
        if p.duplicate_group:
            groups.setdefault(p.duplicate_group, []).append(p)
    for members in groups.values():  # the pair with the smallest pair_id is kept, the others point at it
        members.sort(key=lambda p: p.pair_id)
        kept = members[0].pair_id
        for p in members[1:]:
            p.status, p.reason = "rejected", f"duplicate-of:{kept}"
    for p in plan.pairs:
        true = p.instrumental.role == "instrumental"
        real = p.instrumental.realised
        records.append({
            "pair_id": p.pair_id,
            "original_id": p.original.track_id, "instrumental_id": p.instrumental.track_id,
            "expected_status": p.status, "expected_reason": p.reason,
            "offset_s": _fmt(real["offset_s"], 9) if true else None,
            "gain_db": _fmt(real["gain_db"], 2) if true else None,
            "polarity": real["polarity"] if true else None,
            "duplicate_group": p.duplicate_group, "song_id": p.song_id, "split_hint": p.split_hint, "note": p.note,
            "release": p.instrumental.recipe.release.kind if true and p.instrumental.recipe.release else "",
            "release_truth": release_truth(p.instrumental.recipe.release, real["offset_s"],
                                           p.original.duration_s or 0.0, p.original.recipe.sample_rate)
            if true else "",
        })
    records.sort(key=lambda r: r["pair_id"])
    _write_csv(out / "truth" / "pairs.csv", PAIRS_COLUMNS, records)
    _write_csv(out / "truth" / "songs.csv", SONGS_COLUMNS, [songs_meta[s.song_id] for s in plan.specs])


# ---------------------------------------------------------------------------------------------- entry point


def _code_hash() -> str:
    """SHA-1 of this package's source: a changed generator never reuses an old corpus."""
    h = hashlib.sha1()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _cache_key(config: DemoConfig) -> dict[str, Any]:
    return {"generator_version": GENERATOR_VERSION, "code_sha1": _code_hash(), "config": config.to_json()}


def _reusable(out: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in key.items()):
        return None
    needed = [out / "catalog.csv"] + [out / "truth" / f for f in ("tracks.csv", "pairs.csv", "songs.csv",
                                                                   "metadata_decoys.csv")]
    return data if all(p.exists() for p in needed) else None


def _prepare(out: Path) -> None:
    """Make ``out`` ready for a fresh corpus: refuse a folder that is not ours, clear what an older run left."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not ((out / _MARKER).exists() or (out / MANIFEST).exists()):
        raise UserInputError(f"{out} is not empty and holds no demo corpus; give a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # invalid until this run finishes
    (out / _MARKER).write_text("a vocalmine demo corpus (make-demo-corpus); its folders are regenerated\n")
    for sub in ("audio", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "catalog.csv").unlink(missing_ok=True)


def make_corpus(out_dir: str | Path, config: DemoConfig = DemoConfig(), *, force: bool = False,
                progress: bool | None = None, workers: int | None = None) -> CorpusInfo:
    """Generate the demo corpus in ``out_dir``, or reuse the one there when its ``corpus.json`` matches
    ``config`` and this generator's code (``force`` regenerates anyway). Deterministic by ``config.seed``,
    whatever the number of ``workers`` (threads; default: the CPU count, at most 4).

    ``progress``: show a progress bar on stderr (None: only on a terminal).
    """
    config.validate()
    out = Path(out_dir)
    key = _cache_key(config)
    if not force and (found := _reusable(out, key)) is not None:
        log.info("reusing the demo corpus in %s", out)
        return CorpusInfo(out, config, True, found.get("counts", {}))

    start = time.perf_counter()
    _prepare(out)
    plan = _plan(config)
    # ids in catalog order: the rows shuffled, so an original and its instrumental are rarely neighbours
    order = np.random.default_rng([config.seed, 0x1D]).permutation(len(plan.rows))
    width = max(4, len(str(len(plan.rows))))
    for rank, k in enumerate(order):
        plan.rows[int(k)].track_id = f"t{rank + 1:0{width}d}"
    by_source: dict[str, list[_Row]] = {}
    for row in plan.rows:
        by_source.setdefault(row.recipe.source, []).append(row)

    def one_song(i: int) -> tuple[dict[str, Any], int, float]:
        """Render song ``i`` and write its stems and every file made from it (rows of distinct songs are
        disjoint, so songs run in parallel threads; NumPy, soxr and libsndfile release the GIL)."""
        spec = plan.specs[i]
        song = render(spec)
        rows = sorted(by_source.get(spec.song_id, []), key=lambda r: r.key)
        files = _write_song_files(out, song, rows, config.seed)
        seconds = sum(r.duration_s or 0.0 for r in rows if r.recipe.content not in ("none", "random-bytes"))
        meta = {
            "song_id": spec.song_id, "artist": plan.artists[i], "title": plan.titles[i], "key": spec.key,
            "tempo_bpm": _fmt(spec.tempo_bpm, 1), "voice": spec.voice,
            "voice_range": f"{note_name(spec.voice_low)}-{note_name(spec.voice_high)}" if spec.voice_params else "",
            "sample_rate": spec.sample_rate, "duration_s": _fmt(spec.samples / spec.sample_rate, 3),
            "vocal_activity": _fmt(song.vocal_activity, 3), "split_hint": plan.splits[plan.artists[i]],
            **song_columns(song),
        }
        return meta, files, seconds

    songs_meta: dict[str, dict[str, Any]] = {}
    files = 0
    audio_seconds = 0.0
    workers = max(1, min(workers or (os.cpu_count() or 1), 4, len(plan.specs)))
    with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(
        total=len(plan.specs), desc="demo songs", unit="song", disable=None if progress is None else not progress
    ) as bar:
        for meta, n_files, seconds in pool.map(one_song, range(len(plan.specs))):
            songs_meta[meta["song_id"]] = meta
            files += n_files
            audio_seconds += seconds
            bar.update(1)
    _write_tables(out, plan, songs_meta)

    roles = [r.role for r in plan.rows]
    counts = {
        "songs": config.songs,
        "rows": len(plan.rows),
        "true_pairs": sum(1 for p in plan.pairs if p.instrumental.role == "instrumental" and p.status == "accepted"),
        "candidate_pairs": len(plan.pairs),
        "audio_decoys": roles.count("audio-decoy"),
        "metadata_decoys": roles.count("metadata-decoy"),
        "bad_rows": roles.count("bad-row"),
        "audio_files": files,
        "audio_seconds": round(audio_seconds, 1),
    }
    from vocalmine import code_version  # the git lookup only when writing

    write_json({**key, "code_version": code_version(), "counts": counts}, out / MANIFEST)  # last: the corpus is done
    log.info("demo corpus: %d songs, %d rows, %d files in %.1f s", config.songs, len(plan.rows), files,
             time.perf_counter() - start)
    return CorpusInfo(out, config, False, counts)
