"""A music folder's audio files, and the rule that tells a music folder from a catalog.

**The rule** (``input_kind``), for what ``mine-pairs`` is given:

- a folder (or URL prefix) whose top level holds catalog files (``.csv``, ``.csv.gz``, ``.tsv``, ``.tab``,
  ``.txt``, ``.parquet``, ...; hidden and ``_``-prefixed names aside) is a catalog, read as before; otherwise a
  folder with audio files at any depth under it is a music folder;
- a glob is a catalog unless what it matches holds audio files and no catalog file (both: an error);
- a single file is a catalog, or a music folder of one file when its name ends like an audio file;
- ``--library`` (``force_library``) walks the audio files of a folder whatever its top level holds.

Audio files are found by their name's ending (``AUDIO_SUFFIXES``); other files (cover art, playlists, notes) are
counted and left alone. Listings carry each file's stamp (``vocalmine.storage.stamp``: size and mtime, or the
object's ETag), so a re-run reads only new or changed files.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from miner.catalog_files import SUFFIXES as CATALOG_SUFFIXES
from vocalmine import storage
from vocalmine.errors import UserInputError

#: Name endings read as audio files (lower case). Not ``.mp4``: in a music folder that is usually a video.
AUDIO_SUFFIXES = (".flac", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".wave", ".aif", ".aiff",
                  ".aifc", ".wv", ".ape", ".mpc", ".wma", ".dsf", ".tta")
_WILDCARDS = "*?["


def is_audio_name(name: str) -> bool:
    return name.lower().endswith(AUDIO_SUFFIXES)


def _is_catalog_name(name: str) -> bool:
    low = name.lower()
    return not name.startswith((".", "_")) and any(low.endswith(s) for s in CATALOG_SUFFIXES)


@dataclass(frozen=True)
class InputKind:
    """What ``mine-pairs`` was given: ``kind`` is ``catalog`` or ``library``; ``reason`` says why, in words."""

    kind: str
    reason: str


@dataclass(frozen=True)
class MusicFile:
    """One audio file: ``path`` (absolute path or URL), ``rel`` (``/``-separated, under the folder walked),
    ``stamp`` (``[size, mtime_ns]`` or ``[size, ETag]``)."""

    path: str
    rel: str
    stamp: list = field(compare=False)

    @property
    def size(self) -> int:
        return int(self.stamp[0])


@dataclass(frozen=True)
class MusicListing:
    """The audio files under ``root`` (sorted by ``rel``) and how many other files were left alone."""

    root: str
    files: list[MusicFile]
    other_files: int
    other_examples: tuple[str, ...] = ()


def _has_wildcard(text: str) -> bool:
    return any(ch in text for ch in _WILDCARDS)


def _shown(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def first_audio_file(folder: str) -> str | None:
    """The first audio file met walking ``folder`` (local: stops there; a URL: one listing)."""
    if storage.is_url(folder):
        return next((p for p, _ in storage.find(folder) if is_audio_name(storage.name(p))), None)
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if is_audio_name(f) and not f.startswith("."):
                return os.path.join(parent, f)
    return None


def input_kind(source: str | os.PathLike, force_library: bool = False) -> InputKind:
    """Whether ``source`` is a catalog or a music folder (the rule in the module doc). Raises ``UserInputError``
    for a folder that holds neither, and for a glob that matches both."""
    text = os.fspath(source)
    if force_library:
        return InputKind("library", "--library: its audio files are walked")
    if storage.isdir(text):
        top = [n for n in storage.listdir(text) if _is_catalog_name(n) and storage.isfile(storage.join(text, n))]
        if top:
            return InputKind("catalog", f"its top level holds catalog files ({_shown(top)})")
        found = first_audio_file(storage.absolute(text))
        if found is None:
            raise UserInputError(
                f"{text}: neither catalog files at its top level ({', '.join(sorted(CATALOG_SUFFIXES))}) nor audio "
                f"files under it ({', '.join(AUDIO_SUFFIXES)})")
        return InputKind("library", "no catalog files at its top level, audio files under it")
    if storage.isfile(text) or not _has_wildcard(text):
        if is_audio_name(storage.name(text)):
            return InputKind("library", "an audio file")
        return InputKind("catalog", "a file")
    matches = [storage.name(m) for m in storage.glob(text)]
    audio = [m for m in matches if is_audio_name(m)]
    catalogs = [m for m in matches if _is_catalog_name(m)]
    if audio and catalogs:
        raise UserInputError(f"{text}: the pattern matches catalog files ({_shown(catalogs)}) and audio files "
                             f"({_shown(audio)}); narrow it to one kind")
    if audio:
        return InputKind("library", "the pattern matches audio files")
    return InputKind("catalog", "the pattern matches no audio file")


def _glob_root(pattern: str) -> str:
    """The folder above a glob's first wildcard (``music/*/x*.flac`` -> ``music``)."""
    parts = pattern.split("/")
    fixed = []
    for p in parts[:-1]:
        if _has_wildcard(p):
            break
        fixed.append(p)
    return "/".join(fixed) or "."


def _relative(path: str, root: str) -> str:
    if storage.is_url(path):
        return path[len(root.rstrip("/")) + 1:] if path.startswith(root.rstrip("/") + "/") else storage.name(path)
    return posixpath.join(*os.path.relpath(path, root).split(os.sep))


def list_music(source: str | os.PathLike) -> MusicListing:
    """The audio files of a folder, URL prefix, glob or single file, with their stamps, sorted by ``rel``; a
    missing source is a ``UserInputError``."""
    text = os.fspath(source)
    if storage.isdir(text):
        root = storage.absolute(text)
        found = storage.find(root)
    elif storage.isfile(text):
        root = storage.parent(storage.absolute(text))
        found = [(storage.absolute(text), storage.stamp(text))]
    elif _has_wildcard(text):
        if storage.is_url(text):  # one listing of the prefix rather than a request per object
            root, wanted = _glob_root(text), {str(m) for m in storage.glob(text)}
            found = [(p, s) for p, s in storage.find(root, skip_hidden=False) if str(p) in wanted]
        else:  # not resolved: a matched link keeps its own path
            root = os.path.abspath(_glob_root(text))
            found = [(os.path.abspath(m), storage.stamp(m)) for m in storage.glob(text) if os.path.isfile(m)]
        if not found:
            raise UserInputError(f"{text}: the pattern matches no file")
    else:
        raise UserInputError(f"{text}: no such file or folder")
    root = str(root)
    files, others = [], []
    for path, stamp in found:
        path = str(path)
        (files if is_audio_name(storage.name(path)) else others).append((path, stamp))
    music = sorted((MusicFile(p, _relative(p, root), s) for p, s in files), key=lambda f: f.rel)
    return MusicListing(root, music, len(others), tuple(_relative(p, root) for p, _ in others[:5]))
