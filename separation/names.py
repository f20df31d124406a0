"""Output folder names of ``separate``'s inputs: always one safe path component under ``-o``, never two inputs on
one name.

An input's name is its file stem, unless the stem cannot be a folder name of its own (``...wav`` has the stem
``..``, which is the parent folder; ``..wav`` has ``.``, the output folder itself): then the whole file name.
"""

from __future__ import annotations

import os
from pathlib import Path

from vocalmine import storage
from vocalmine.errors import UserInputError


def is_safe_name(name: str) -> bool:
    """True for a name that is exactly one path component below a folder (not empty, ``.``, ``..``, and without
    a separator or NUL)."""
    return name not in ("", ".", "..") and not any(c in name for c in ("/", "\\", "\0"))


def check_name(name: str) -> str:
    """``name``, or ``UserInputError`` when it is not a safe output folder name (``is_safe_name``)."""
    if not is_safe_name(name):
        raise UserInputError(f"{name!r} cannot name an output folder: it must be one folder name, not '.', '..' "
                             "or a path")
    return name


def default_name(p) -> str:
    """The output folder name of input ``p`` alone: its stem, else its file name, else ``input``."""
    for option in (p.stem, p.name):
        if is_safe_name(option):
            return option
    return "input"


def output_names(paths: list[str | os.PathLike]) -> dict[Path, str]:
    """The output folder name of each input (``Path`` as given, or a ``URLPath`` for a URL -> name), never two
    inputs on one name, each one safe path component.

    ``default_name`` when no other input has it (compared case-blind, for case-insensitive file systems); for
    inputs sharing one, the file name (``song.wav``, ``song.mp3``), else the parent folder and the file name
    (``a-song.wav``), else a number (``song-2``). The same file given twice is one input (one entry).
    """
    unique: list[Path] = []
    seen_files: set[str] = set()
    for p in map(storage.path, paths):
        real = str(p) if storage.is_url(p) else os.path.realpath(p)
        if real not in seen_files:
            seen_files.add(real)
            unique.append(p)
    base = {p: default_name(p) for p in unique}
    counts: dict[str, int] = {}
    for p in unique:
        counts[base[p].casefold()] = counts.get(base[p].casefold(), 0) + 1
    taken = {base[p].casefold() for p in unique if counts[base[p].casefold()] == 1}
    names: dict[Path, str] = {}
    for p in unique:
        if counts[base[p].casefold()] == 1:
            names[p] = base[p]
            continue
        parent = p.resolve().parent.name or "root"
        same_name = sum(q.name.casefold() == p.name.casefold() for q in unique)
        options = ([p.name] if same_name == 1 else []) + [f"{parent}-{p.name}"]
        options += [f"{base[p]}-{k}" for k in range(2, len(unique) + 2)]
        name = next(o for o in options if is_safe_name(o) and o.casefold() not in taken)
        taken.add(name.casefold())
        names[p] = name
    return names
