"""The demo corpus's folder: where its files lie (``CorpusInfo``), the corpus.json cache key that lets a finished
corpus be reused, and clearing a folder for a fresh one (only a folder that is empty or holds a demo corpus).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from democorpus.config import DemoConfig
from vocalmine.errors import UserInputError
from vocalmine.settings import flat_dict

#: Bump when the generator's output changes for the same config (the cache key also hashes this package).
GENERATOR_VERSION = 4
MANIFEST = "corpus.json"
MARKER = ".democorpus"
TABLES = ("catalog.csv", "truth/tracks.csv", "truth/pairs.csv", "truth/songs.csv", "truth/metadata_decoys.csv")


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


def code_hash() -> str:
    """SHA-1 of this package's source: a changed generator never reuses an old corpus."""
    h = hashlib.sha1()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(config: DemoConfig) -> dict[str, Any]:
    """What corpus.json must hold for a corpus to be reused: the generator's version and code, the config."""
    return {"generator_version": GENERATOR_VERSION, "code_sha1": code_hash(), "config": flat_dict(config)}


def reusable(out: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """corpus.json's content when the corpus in ``out`` is finished and matches ``key``, else None."""
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in key.items()):
        return None
    return data if all((out / rel).exists() for rel in TABLES) else None


MARKER_TEXT = "a vocalmine demo corpus (make-demo-corpus); its folders are regenerated\n"


def _ours(out: Path) -> bool:
    """Whether ``out`` holds a corpus this generator wrote: its marker file with the text it writes, or a
    corpus.json with the keys ``cache_key`` gives (a corpus from before the marker)."""
    try:
        if (out / MARKER).read_text() == MARKER_TEXT:
            return True
    except (OSError, UnicodeDecodeError):
        pass
    try:
        data = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"generator_version", "code_sha1", "config"} <= data.keys()


def prepare(out: Path) -> None:
    """Make ``out`` ready for a fresh corpus: refuse a folder that is not ours (saying what it holds), clear
    what an older run of ours left."""
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not _ours(out):
        held = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
        shown = ", ".join(held[:6]) + (f" and {len(held) - 6} more" if len(held) > 6 else "")
        why = (f"its {MANIFEST} is not one make-demo-corpus wrote" if (out / MANIFEST).exists()
               else "it holds no demo corpus")
        raise UserInputError(f"{out} is not empty and {why} (it holds {shown}); nothing was changed: give a "
                             "new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # invalid until this run finishes
    (out / MARKER).write_text(MARKER_TEXT)
    for sub in ("audio", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "catalog.csv").unlink(missing_ok=True)
