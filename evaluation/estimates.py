"""Separations made by other tools, read from a folder, to be scored beside the project's model.

``DIR/<song>/vocals.*`` and one of ``accompaniment.*`` (Spleeter 2stems, museval estimate folders),
``instrumental.*`` (this project's ``separate``), ``no_vocals.*`` (Demucs ``--two-stems vocals``),
``residual.*`` (Open-Unmix ``--residual``), or ``drums``/``bass``/``other`` (4-stem Open-Unmix and Demucs,
summed); with none of them the accompaniment is the mixture minus the vocals. ``<song>`` may sit at any
depth (``DIR/test/<song>``, museval's layout; ``DIR/<model>/<song>``, Demucs'); it is matched by the song's
name, then case-insensitively.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from features.audio import AudioError, decode, fit_length, resample
from evaluation.layouts import AUDIO_EXTENSIONS
from vocalmine.errors import UserInputError

ACCOMPANIMENT_NAMES = ("accompaniment", "instrumental", "no_vocals", "residual")
FOUR_STEMS = ("drums", "bass", "other")


def _audio(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS:
            out.setdefault(p.stem.lower(), p)
    return out


class FolderEstimates:
    """``(mixture [channels, samples], rate, song) -> {"vocals", "accompaniment"}`` at ``rate`` from ``root``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserInputError(f"--estimates {self.root} is not a folder")
        self.folders: dict[str, Path] = {}
        for d in sorted([self.root, *(p for p in self.root.rglob("*") if p.is_dir())]):
            if "vocals" in _audio(d):
                self.folders.setdefault(d.name, d)
                self.folders.setdefault(str(d.relative_to(self.root)), d)
        if not self.folders:
            raise UserInputError(f"no estimates under {self.root}: expected <song>/vocals.* (and accompaniment.*)")
        self.lower = {k.lower(): v for k, v in reversed(list(self.folders.items()))}

    def folder(self, song: str) -> Path:
        found = self.folders.get(song) or self.lower.get(song.lower())
        if found is None:
            raise AudioError("missing-file", f"no estimates for {song} under {self.root} (expected {song}/vocals.*)")
        return found

    def __call__(self, mixture: np.ndarray, rate: int, song: str) -> dict[str, np.ndarray]:
        files = _audio(self.folder(song))
        mix = np.atleast_2d(np.asarray(mixture, np.float32))

        def load(path: Path) -> np.ndarray:
            d = decode(path)
            return resample(d.samples, d.sample_rate, rate)

        vocals = load(files["vocals"])
        acc_name = next((n for n in ACCOMPANIMENT_NAMES if n in files), None)
        if acc_name is not None:
            acc = load(files[acc_name])
        elif all(n in files for n in FOUR_STEMS):
            parts = [load(files[n]) for n in FOUR_STEMS]
            n = min(p.shape[1] for p in parts)
            acc = np.sum([p[:, :n] for p in parts], axis=0, dtype=np.float32)
        else:
            if vocals.shape[0] != mix.shape[0]:
                vocals = np.broadcast_to(vocals.mean(axis=0, keepdims=True), mix.shape).copy()
            n = mix.shape[1]
            acc = mix - fit_length(vocals, n)
        return {"vocals": vocals, "accompaniment": acc}
