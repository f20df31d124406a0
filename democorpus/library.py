"""The demo corpus as a tagged music folder (``make-demo-corpus --as-library``): what ``mine-pairs DIR`` reads.

``write_library(out)`` copies each catalog row's audio file of a finished corpus to
``library/<artist>/<album>/<NN> <title>.<ext>`` and writes its catalog values into the file's own tags with
mutagen: Vorbis comments (FLAC, Ogg), ID3 (MP3: v2.4 and v2.3 in turn; WAV: an ``id3`` chunk), title, artist,
album, track number (catalog order within the album), date, genre, label. ``truth/library.csv`` maps each
``track_id`` to its file (``library_path``, relative to the corpus folder). Rows a catalog route rejects or
cannot verify (no title, artist or duration; a missing file) get no file; a file mutagen cannot tag (the
corrupt decoy) is copied as it is. Names are made safe for file systems (``/``, ``\\``, ``:`` and the like
become ``-``) and a second file of the same name gets `` (2)``.

The folder is made from the finished corpus and remade when ``corpus.json`` changes (``library/.library.json``
records its hash; the walk skips hidden files); the corpus' own cache key does not depend on it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from pathlib import Path

from mutagen import MutagenError
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TCON, TDRC, TIT2, TPE1, TPUB, TRCK
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from democorpus.folder import MANIFEST
from democorpus.tables import write_csv

LIBRARY_DIR = "library"
LIBRARY_TABLE = "truth/library.csv"
LIBRARY_MANIFEST = ".library.json"
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f]')


def safe_name(text: str) -> str:
    """``text`` as one path component: unsafe characters as ``-``, no leading or trailing dots or spaces."""
    return _UNSAFE.sub("-", text).strip(" .")[:150] or "_"


def _vorbis_tags(row: dict[str, str], number: int) -> dict[str, str]:
    tags = {"title": row["title"], "artist": row["artist"], "album": row["album"], "tracknumber": str(number),
            "date": row["release_date"], "genre": row["genre"], "label": row["label"]}
    return {k: v for k, v in tags.items() if v}


def _id3(row: dict[str, str], number: int, tags: ID3) -> ID3:
    """``tags`` given the row's frames (an ``ID3()``, or a WAV file's own ``id3`` chunk)."""
    for frame, value in ((TIT2, row["title"]), (TPE1, row["artist"]), (TALB, row["album"]), (TRCK, str(number)),
                         (TDRC, row["release_date"]), (TCON, row["genre"]), (TPUB, row["label"])):
        if value:
            tags.add(frame(encoding=3, text=value))
    return tags


def tag_file(path: Path, row: dict[str, str], number: int) -> bool:
    """Write ``row``'s catalog values into the tags of ``path`` (by its extension); False when mutagen cannot
    read the file (it is left as it is)."""
    ext = path.suffix.lower()
    try:
        if ext in (".flac", ".ogg"):
            audio = FLAC(path) if ext == ".flac" else OggVorbis(path)
            audio.update(_vorbis_tags(row, number))
            audio.save()
        elif ext == ".mp3":
            _id3(row, number, ID3()).save(path, v2_version=4 if number % 2 else 3)
        elif ext == ".wav":
            wave = WAVE(path)
            wave.add_tags()  # the chunk inside the RIFF file: a plain ID3() would be written before "RIFF"
            _id3(row, number, wave.tags)
            wave.save(v2_version=4)
        else:
            return False
    except MutagenError:
        return False
    return True


def _corpus_hash(out: Path) -> str:
    return hashlib.sha1((out / MANIFEST).read_bytes()).hexdigest()


def write_library(out: Path) -> Path:
    """Write the music folder of the finished corpus in ``out`` (module doc), unless the one there was made from
    the same corpus; returns the folder."""
    out = Path(out)
    folder = out / LIBRARY_DIR
    key = {"corpus_sha1": _corpus_hash(out)}
    try:
        if json.loads((folder / LIBRARY_MANIFEST).read_text()) == key and (out / LIBRARY_TABLE).exists():
            return folder
    except (OSError, ValueError):
        pass
    shutil.rmtree(folder, ignore_errors=True)
    numbers: dict[tuple[str, str], int] = {}
    used: set[str] = set()
    mapping = []
    for row in csv.DictReader(open(out / "catalog.csv", newline="", encoding="utf-8")):
        source = out / row["audio_path"]
        if not (row["title"] and row["artist"] and row["duration_s"]) or not source.exists():
            continue
        album = row["album"] or "Singles"
        number = numbers[(row["artist"], album)] = numbers.get((row["artist"], album), 0) + 1
        rel = f"{safe_name(row['artist'])}/{safe_name(album)}/{number:02d} {safe_name(row['title'])}"
        base, k = rel, 2
        while rel.lower() in used:
            rel, k = f"{base} ({k})", k + 1
        used.add(rel.lower())
        target = folder / (rel + source.suffix.lower())
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        tag_file(target, row, number)
        mapping.append({"track_id": row["track_id"], "library_path": str(target.relative_to(out))})
    write_csv(out / LIBRARY_TABLE, ("track_id", "library_path"), mapping)
    (folder / LIBRARY_MANIFEST).write_text(json.dumps(key))  # last: the folder is complete
    return folder
