"""Evaluation datasets as they ship: one reader per layout, all returning the same song record.

A song (``SongFiles``) names where its mixture, vocals and accompaniment come from, as ``Part``s: a whole
file, one audio stream of a multi-stream file (NI Stems), or one channel of a file (iKala / MIR-1K). A stem
given as several parts is their sum. ``SongFiles.load_native`` decodes them at the file's own rate and
channels (``Stems``); the scoring code (``evaluation.evaluate``) never knows where the audio came from.

Layouts (``LAYOUTS``; ``detect_layout`` picks one from the folder):

- ``shards``: a shard folder (``manifest.json``): the pairs of one split (``evaluation.evaluate.shard_songs``).
- ``stems``: an ``export-stems`` folder (its ``manifest.json``): every item, in any of the export's layouts; the
  subset is the item's split. (``musdb18hq`` reads a ``--layout musdb18hq`` export as well.)
- ``demo``: the demo corpus truth, ``truth/stems/<song>/{mixture,vocals,accompaniment}.wav`` with
  ``truth/songs.csv`` (its ``split_hint`` is the subset); DATA is the corpus, ``truth`` or ``truth/stems``.
- ``musdb18``: ``{train,test}/*.stem.mp4`` (stream 0 mixture, 1 drums, 2 bass, 3 other, 4 vocals; decoded
  with ffmpeg); accompaniment = drums + bass + other.
- ``musdb18hq`` / ``folders`` / ``medleydb``: folders holding ``mixture.*`` and ``vocals.*`` audio, with
  ``accompaniment.*`` or ``drums``/``bass``/``other`` (summed); without a mixture file the mixture is vocals +
  accompaniment (MedleyDB-style stems a user derived). The subset is the first folder below DATA.
- ``dsd100``: ``Mixtures/<Dev|Test>/<song>/mixture.wav`` and ``Sources/<Dev|Test>/<song>/{bass,drums,other,
  vocals}.wav``; subsets ``dev`` and ``test``.
- ``ikala`` / ``mir1k``: ``Wavfile/*.wav`` (or DATA/*.wav), stereo: left channel the accompaniment, right the
  voice, mixture = their sum.

Stems that differ in length by more than ``LENGTH_TOLERANCE_S`` are refused (``AudioError`` reason
``length-mismatch`` naming each length) unless ``pad`` is asked for; smaller differences (codec frames) are cut.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from features.audio import AudioError, decode, decode_stream, fit_length, resample
from stems.manifest import read_manifest
from vocalmine.errors import UserInputError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".m4a", ".aac", ".aiff", ".aif")
#: Stems may differ by this much (codec frames, encoder padding) and are cut to the shortest; more is an error.
LENGTH_TOLERANCE_S = 0.05
#: NI Stems stream order (MUSDB18).
STEM_STREAMS = {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4}


@dataclass(frozen=True)
class Part:
    """One signal: a whole file, one audio stream of it (``stream``) or one of its channels (``channel``)."""

    path: Path
    stream: int | None = None
    channel: int | None = None

    def label(self) -> str:
        where = f" stream {self.stream}" if self.stream is not None else ""
        where += f" channel {self.channel}" if self.channel is not None else ""
        return f"{self.path.name}{where}"


def _parts(x) -> tuple[Part, ...]:
    if x is None:
        return ()
    if isinstance(x, (Part, str, os.PathLike)):
        x = (x,)
    return tuple(p if isinstance(p, Part) else Part(Path(p)) for p in x)


@dataclass
class Stems:
    """Signals at one rate, all the same shape: ``[samples]`` (mono) or ``[channels, samples]``."""

    mixture: np.ndarray
    vocals: np.ndarray
    accompaniment: np.ndarray
    sample_rate: int

    def to(self, sample_rate: int, mono: bool = True) -> "Stems":
        """Resampled to ``sample_rate`` (Hz), mixed to mono ``[samples]`` when ``mono``."""
        def conv(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, np.float32)
            if mono and x.ndim == 2:
                x = x.mean(axis=0, dtype=np.float32) if x.shape[0] != 2 else (x[0] + x[1]) * np.float32(0.5)
            return resample(x, self.sample_rate, sample_rate)
        return Stems(conv(self.mixture), conv(self.vocals), conv(self.accompaniment), sample_rate)


@dataclass(frozen=True)
class SongFiles:
    """A song to evaluate: its name, its parts (Path, ``Part`` or tuples of them, summed) and its subset.

    ``accompaniment`` empty: mixture - vocals. ``mixture`` empty: vocals + accompaniment.
    """

    name: str
    mixture: object
    vocals: object
    accompaniment: object = ()
    subset: str | None = None
    problem: str = ""  # why a song folder cannot be scored (a missing stem, no audio): it fails with this
    folder: Path | None = None  # the folder of a song with a ``problem``

    def load_native(self, pad: bool = False) -> Stems:
        """Decode at the first file's rate, ``[channels, samples]`` (one channel when any part is a channel or
        the files' channel counts differ). Raises ``AudioError`` (also for lengths, see the module doc)."""
        if self.problem:
            raise AudioError("missing-file", self.problem)
        return load_parts(_parts(self.mixture), _parts(self.vocals), _parts(self.accompaniment), pad)

    def load(self, sample_rate: int = 8192, pad: bool = False) -> Stems:
        """Mono ``[samples]`` at ``sample_rate``."""
        return self.load_native(pad).to(sample_rate, mono=True)


def load_parts(mix: tuple[Part, ...], voc: tuple[Part, ...], acc: tuple[Part, ...], pad: bool = False) -> Stems:
    """Decode and sum each stem's parts (see ``SongFiles``); lengths checked against ``LENGTH_TOLERANCE_S``."""
    cache: dict = {}

    def get(p: Part):
        key = (p.path, p.stream)
        if key not in cache:
            cache[key] = decode(p.path) if p.stream is None else decode_stream(p.path, p.stream)
        return cache[key]

    all_parts = [*mix, *voc, *acc]
    rate = get(all_parts[0]).sample_rate
    signals = []
    for p in all_parts:
        d = get(p)
        if p.channel is not None and p.channel >= d.channels:
            raise AudioError("unreadable", f"{p.path}: has {d.channels} channel(s), channel {p.channel} wanted")
        x = d.samples[p.channel: p.channel + 1] if p.channel is not None else d.samples
        signals.append(resample(x, d.sample_rate, rate) if d.sample_rate != rate else x)
    if len({s.shape[0] for s in signals}) > 1:
        signals = [s.mean(axis=0, keepdims=True, dtype=np.float32) for s in signals]
    lengths = [s.shape[1] for s in signals]
    if max(lengths) - min(lengths) > LENGTH_TOLERANCE_S * rate and not pad:
        seen = dict.fromkeys(f"{p.label()} {n / rate:.3f} s" for p, n in zip(all_parts, lengths))
        raise AudioError("length-mismatch", ", ".join(seen) + f" (more than {LENGTH_TOLERANCE_S} s apart; "
                         "--pad scores them zero-padded to the longest)")
    n = max(lengths) if pad else min(lengths)
    signals = [fit_length(s, n) for s in signals]
    it = iter(signals)
    m = [next(it) for _ in mix]
    v = [next(it) for _ in voc]
    a = [next(it) for _ in acc]
    vocals = np.sum(v, axis=0, dtype=np.float32)
    if not m:
        mixture = (vocals + np.sum(a, axis=0, dtype=np.float32)).astype(np.float32)
    else:
        mixture = np.sum(m, axis=0, dtype=np.float32)
    accompaniment = np.sum(a, axis=0, dtype=np.float32) if a else (mixture - vocals)
    return Stems(mixture, vocals, accompaniment.astype(np.float32), rate)


def _audio_by_stem(folder: Path) -> dict[str, Path]:
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS:
            files.setdefault(p.stem.lower(), p)
    return files


def _unique_names(songs: list[SongFiles], root: Path, path_of: Callable[[SongFiles], Path]) -> list[SongFiles]:
    names = [s.name for s in songs]
    if len(set(names)) == len(names):
        return songs
    return [SongFiles(str(path_of(s).relative_to(root)), s.mixture, s.vocals, s.accompaniment, s.subset, s.problem,
                      s.folder) for s in songs]


def _subset_of(folder: Path, root: Path) -> str | None:
    rel = folder.relative_to(root).parts
    return rel[0].lower() if len(rel) >= 2 else None


def _song_of(folder: Path, root: Path, files: dict[str, Path]) -> SongFiles:
    """The song of a folder holding audio; one with a ``problem`` when a stem it needs is missing."""
    name = folder.name if folder != root else root.name
    subset = _subset_of(folder, root)
    if "accompaniment" in files:
        acc: tuple[Path, ...] = (files["accompaniment"],)
    elif all(k in files for k in ("drums", "bass", "other")):
        acc = (files["drums"], files["bass"], files["other"])
    else:
        acc = ()
    missing = [] if "vocals" in files else ["vocals.*"]
    if "mixture" not in files and not acc:
        missing.append("mixture.* or accompaniment.* (or drums/bass/other)")
    if not missing:
        return SongFiles(name, files.get("mixture", ()), files["vocals"], acc, subset)
    found = ", ".join(p.name for p in files.values())
    return SongFiles(name, (), (), (), subset, f"{folder}: no {' and no '.join(missing)} (found {found})", folder)


def find_songs(data_dir: str | os.PathLike) -> list[SongFiles]:
    """Song folders under ``data_dir`` (``folders`` layout; sorted by path). ``UserInputError`` when none.

    A folder holding audio but not the stems a song needs, and an empty folder beside song folders (a song
    whose files are gone), are songs with a ``problem``: they are listed among the failures, never dropped."""
    root = Path(data_dir)
    if not root.is_dir():
        raise UserInputError(f"{root} is not a folder")
    songs: list[SongFiles] = []
    empty: list[Path] = []
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        files = _audio_by_stem(folder)
        if files:
            songs.append(_song_of(folder, root, files))
        elif folder != root and not any(p.is_dir() for p in folder.iterdir()):
            empty.append(folder)
    if not any(not s.problem for s in songs):
        raise UserInputError(
            f"no songs under {root}: expected folders with mixture.* and vocals.* audio files "
            "(and accompaniment.*, or drums/bass/other)"
        )
    parents = {_parts(s.vocals)[0].path.parent.parent for s in songs if not s.problem}
    songs += [SongFiles(f.name, (), (), (), _subset_of(f, root), f"{f}: an empty song folder (no audio)", f)
              for f in empty if f.parent in parents]
    songs.sort(key=_song_folder)
    return _unique_names(songs, root, _song_folder)


def _song_folder(s: SongFiles) -> Path:
    return s.folder if s.folder is not None else _parts(s.vocals)[0].path.parent


def musdb_songs(data_dir: str | os.PathLike) -> list[SongFiles]:
    """MUSDB18 ``*.stem.mp4`` files under ``data_dir``; the subset is the first folder below it."""
    root = Path(data_dir)
    songs = []
    for f in sorted(root.rglob("*.stem.mp4")):
        part = {k: Part(f, stream=i) for k, i in STEM_STREAMS.items()}
        songs.append(SongFiles(f.name[: -len(".stem.mp4")], part["mixture"], part["vocals"],
                               (part["drums"], part["bass"], part["other"]), _subset_of(f, root)))
    if not songs:
        raise UserInputError(f"no songs under {root}: expected train/ and test/ folders of *.stem.mp4 files")
    return _unique_names(songs, root, lambda s: _parts(s.vocals)[0].path)


def dsd100_songs(data_dir: str | os.PathLike) -> list[SongFiles]:
    """DSD100 (``Mixtures/<subset>/<song>/mixture.wav``, ``Sources/<subset>/<song>/<source>.wav``)."""
    root = Path(data_dir)
    songs = []
    for mix in sorted((root / "Mixtures").glob("*/*/mixture.*")):
        subset, name = mix.parent.parent.name, mix.parent.name
        src = root / "Sources" / subset / name
        found = _audio_by_stem(src) if src.is_dir() else {}
        # Missing source files become per-song failures (missing-file) when decoded.
        get = lambda k: found.get(k, src / f"{k}.wav")  # noqa: E731
        songs.append(SongFiles(name, mix, get("vocals"), (get("drums"), get("bass"), get("other")), subset.lower()))
    if not songs:
        raise UserInputError(f"no songs under {root}: expected Mixtures/<Dev|Test>/<song>/mixture.wav "
                             "and Sources/<Dev|Test>/<song>/{bass,drums,other,vocals}.wav")
    return songs


def wavfile_songs(data_dir: str | os.PathLike) -> list[SongFiles]:
    """iKala / MIR-1K: stereo WAVs in ``Wavfile/`` (or DATA itself); left accompaniment, right voice."""
    root = Path(data_dir)
    folder = root / "Wavfile" if (root / "Wavfile").is_dir() else root
    songs = [SongFiles(f.stem, (Part(f, channel=0), Part(f, channel=1)), Part(f, channel=1), (Part(f, channel=0),))
             for f in sorted(folder.iterdir()) if f.is_file() and f.suffix.lower() == ".wav"]
    if not songs:
        raise UserInputError(f"no songs under {root}: expected Wavfile/*.wav (stereo: left accompaniment, right voice)")
    return songs


def _demo_truth(root: Path) -> tuple[Path, Path] | None:
    """(stems folder, songs.csv) of a demo corpus given as the corpus, its truth or its truth/stems folder."""
    for stems in (root / "truth" / "stems", root / "stems", root):
        if stems.is_dir() and (stems.parent / "songs.csv").is_file() and stems.name == "stems":
            return stems, stems.parent / "songs.csv"
    return None


def demo_songs(data_dir: str | os.PathLike) -> list[SongFiles]:
    """The demo corpus truth stems, the subset of each song from ``truth/songs.csv``'s ``split_hint``."""
    root = Path(data_dir)
    found = _demo_truth(root)
    if found is None:
        raise UserInputError(f"{root} is not a demo corpus: expected truth/stems/ and truth/songs.csv")
    stems, songs_csv = found
    with open(songs_csv, newline="", encoding="utf-8") as fh:
        hint = {r["song_id"]: (r.get("split_hint") or "").lower() or None for r in csv.DictReader(fh)}
    return [SongFiles(s.name, s.mixture, s.vocals, s.accompaniment, hint.get(s.name), s.problem, s.folder)
            for s in find_songs(stems)]


def stems_songs(data_dir: str | os.PathLike) -> list[SongFiles]:
    """The items of an ``export-stems`` folder, named by item, the subset their split; the mixture is the
    layout's mixture file, or vocals + accompaniment in a layout without one (Open-Unmix's)."""
    root = Path(data_dir)
    manifest = read_manifest(root)
    if manifest is None:
        raise UserInputError(f"{root} is not an export-stems folder: expected its manifest.json")
    files = manifest["layout"]["files"]
    songs = [SongFiles(item["item"], root / item["path"] / files["mixture"] if "mixture" in files else (),
                       root / item["path"] / files["vocals"], root / item["path"] / files["instrumental"],
                       item["split"]) for item in manifest["items"]]
    if not songs:
        raise UserInputError(f"no songs under {root}: its manifest lists no item")
    return songs


#: Layout name -> reader (``shards`` is handled by ``evaluation.evaluate``: its songs are pairs).
READERS: dict[str, Callable[[Path], list]] = {
    "stems": stems_songs, "demo": demo_songs, "musdb18": musdb_songs, "musdb18hq": find_songs, "folders": find_songs,
    "medleydb": find_songs, "dsd100": dsd100_songs, "ikala": wavfile_songs, "mir1k": wavfile_songs,
}
LAYOUTS = ("auto", "shards", *READERS)


def detect_layout(data_dir: str | os.PathLike) -> str:
    """The layout of ``data_dir`` (see the module doc), checked in this order: an export's or a shard build's
    manifest, DSD100, iKala/MIR-1K, MUSDB18 (any ``*.stem.mp4``), demo truth, song folders."""
    root = Path(data_dir)
    if (root / "manifest.json").is_file():
        return "stems" if read_manifest(root) is not None else "shards"
    if (root / "Mixtures").is_dir() and (root / "Sources").is_dir():
        return "dsd100"
    if (root / "Wavfile").is_dir():
        return "ikala"
    if next(root.rglob("*.stem.mp4"), None) is not None:
        return "musdb18"
    if _demo_truth(root) is not None:
        return "demo"
    return "folders"


def select_subset(songs: list, subset: str | None) -> list:
    """Songs whose subset is ``subset`` (case-insensitive); all when None. ``UserInputError`` when none match."""
    if subset is None:
        return songs
    chosen = [s for s in songs if (getattr(s, "subset", None) or "").lower() == subset.lower()]
    if not chosen:
        have = sorted({str(getattr(s, "subset", None)) for s in songs})
        raise UserInputError(f"no songs in subset {subset!r} (subsets here: {', '.join(have)})")
    return chosen
