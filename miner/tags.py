"""What one audio file says about itself: its tags (read with mutagen) and its stream's duration.

``read_file(path)`` opens the file with ``mutagen.File`` (ID3v1/v2.2-2.4 in MP3, WAV and AIFF; Vorbis comments in
FLAC, Ogg Vorbis and Opus; MP4 atoms in M4A; APEv2 in WavPack, Monkey's Audio and Musepack; ASF in WMA) and,
for WAV, the RIFF INFO chunk as well (``riff_info``). The duration is the audio stream's, as mutagen's stream
info gives it (FLAC STREAMINFO, the MP3 frames and their Xing/LAME header, the MP4 track, the WAV data chunk):
never a length tag. A file that mutagen cannot read is a ``FileFacts`` with an ``error``, not an exception.

Each value keeps the tag kind it came from (``sources``: ``tag:id3``, ``tag:vorbis``, ...); several values of a
field (two ARTIST comments) are joined with ``; `` for the artist, which the miner splits into credits, and
reduced to the first for the other fields.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import mutagen
from mutagen.apev2 import APEv2
from mutagen.asf import ASFTags
from mutagen.flac import VCFLACDict
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags
from mutagen.oggflac import OggFLACVComment
from mutagen.oggopus import OggOpusVComment
from mutagen.oggspeex import OggSpeexVComment
from mutagen.oggvorbis import OggVCommentDict

from miner.riff_info import read_riff_info
from vocalmine import storage

#: Tag keys per tag kind and field, in order of preference (keys of Vorbis comments and APEv2 are case-blind).
TAG_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "id3": {"title": ("TIT2",), "artist": ("TPE1",), "album_artist": ("TPE2",), "album": ("TALB",),
            "track_number": ("TRCK",), "release_date": ("TDRC", "TDOR"), "isrc": ("TSRC", "TXXX:ISRC"),
            "label": ("TPUB", "TXXX:LABEL"), "genre": ("TCON",)},
    "vorbis": {"title": ("title",), "artist": ("artist",), "album_artist": ("albumartist", "album artist"),
               "album": ("album",), "track_number": ("tracknumber", "track"),
               "release_date": ("date", "originaldate", "year"), "isrc": ("isrc",),
               "label": ("label", "organization", "publisher"), "genre": ("genre",)},
    "mp4": {"title": ("\xa9nam",), "artist": ("\xa9ART",), "album_artist": ("aART",), "album": ("\xa9alb",),
            "track_number": ("trkn",), "release_date": ("\xa9day",), "isrc": ("----:com.apple.iTunes:ISRC",),
            "label": ("----:com.apple.iTunes:LABEL", "----:com.apple.iTunes:publisher"), "genre": ("\xa9gen",)},
    "ape": {"title": ("title",), "artist": ("artist",), "album_artist": ("album artist", "albumartist"),
            "album": ("album",), "track_number": ("track",), "release_date": ("year", "date"), "isrc": ("isrc",),
            "label": ("label", "publisher"), "genre": ("genre",)},
    "asf": {"title": ("Title",), "artist": ("Author",), "album_artist": ("WM/AlbumArtist",),
            "album": ("WM/AlbumTitle",), "track_number": ("WM/TrackNumber",), "release_date": ("WM/Year",),
            "isrc": ("WM/ISRC",), "label": ("WM/Publisher",), "genre": ("WM/Genre",)},
    "riff-info": {"title": ("INAM",), "artist": ("IART",), "album": ("IPRD",), "track_number": ("ITRK", "IPRT"),
                  "release_date": ("ICRD",), "genre": ("IGNR",)},
}
_VORBIS = (VCFLACDict, OggVCommentDict, OggOpusVComment, OggFLACVComment, OggSpeexVComment)
_KINDS: tuple[tuple[tuple[type, ...], str], ...] = (
    ((ID3,), "id3"), (_VORBIS, "vorbis"), ((MP4Tags,), "mp4"), ((APEv2,), "ape"), ((ASFTags,), "asf"))
_NUMBER = re.compile(r"\s*0*(\d+)")


@dataclass(frozen=True)
class FileFacts:
    """What a file says. ``values``: field -> text (``catalog_schemas.LIBRARY_FIELDS``, usable values only);
    ``sources``: field -> the tag kind that gave it; ``duration_s``: the stream's, s; ``error``: why the file
    could not be read (empty when it was)."""

    values: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    duration_s: float | None = None
    file_format: str = ""
    error: str = ""


def _clean(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text.replace("\x00", " ").strip()


def _id3(tags: Any, key: str) -> list[str]:
    out: list[str] = []
    for frame in tags.getall(key):
        out += list(frame.genres) if key == "TCON" else [str(t) for t in frame.text]
    return out


def _mp4(tags: Any, key: str) -> list[str]:
    values = tags.get(key) or []
    if key == "trkn":
        return [str(v[0]) for v in values if v and v[0]]
    return [_clean(v) for v in values]


def _ape(tags: Any, key: str) -> list[str]:
    value = tags.get(key)
    return str(value).split("\x00") if value is not None else []


def _plain(tags: Any, key: str) -> list[str]:
    value = tags.get(key)
    if value is None:
        return []
    return [str(getattr(v, "value", v)) for v in (value if isinstance(value, list) else [value])]


_READERS: dict[str, Callable[[Any, str], list[str]]] = {
    "id3": _id3, "vorbis": _plain, "mp4": _mp4, "ape": _ape, "asf": _plain, "riff-info": _plain}


def field_value(name: str, texts: list[str]) -> str | None:
    """The usable value of field ``name`` among a tag's texts: artists joined with ``; `` (repeats dropped),
    the first non-empty text of other fields; a track number's leading number (``3`` of ``03/12``)."""
    texts = [t for t in (_clean(t) for t in texts) if t]
    if not texts:
        return None
    if name == "artist":
        return "; ".join(dict.fromkeys(texts))
    if name == "track_number":
        m = _NUMBER.match(texts[0])
        return m.group(1) if m else None
    return texts[0]


def tag_values(kind: str, tags: Any) -> dict[str, str]:
    """``{field: value}`` of the usable fields of one tag block of ``kind`` (a key of ``TAG_KEYS``)."""
    read = _READERS[kind]
    out: dict[str, str] = {}
    for name, keys in TAG_KEYS[kind].items():
        for key in keys:
            value = field_value(name, read(tags, key))
            if value is not None:
                out[name] = value
                break
    return out


def _kind_of(tags: Any) -> str | None:
    for classes, kind in _KINDS:
        if isinstance(tags, classes):
            return kind
    return None


def _merge(blocks: list[tuple[str, dict[str, str]]]) -> tuple[dict[str, str], dict[str, str]]:
    """Values and sources from tag blocks in order of preference; the album artist stands in for a missing
    artist (source ``tag:<kind>:albumartist``)."""
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for kind, found in blocks:
        for name, value in found.items():
            if name not in values:
                values[name], sources[name] = value, f"tag:{kind}"
    if "artist" not in values and "album_artist" in values:
        values["artist"] = values["album_artist"]
        sources["artist"] = sources["album_artist"] + ":albumartist"
    return values, sources


def _open(path: str) -> Any:
    """``mutagen.File`` of a path or URL (None: no format mutagen knows)."""
    if not storage.is_url(path):
        return mutagen.File(path)
    with storage.open_file(path, "rb") as fh:
        fh.name = storage.name(path)  # mutagen guesses the format from the name too
        return mutagen.File(fh)


def _riff(path: str) -> dict[str, str]:
    with storage.open_file(path, "rb") as fh:
        return read_riff_info(fh)


def _error_text(exc: Exception) -> str:
    """Why a file could not be read, in words (mutagen wraps the operating system's errors in its own)."""
    os_error = next((e for e in (exc, *exc.args, exc.__cause__, exc.__context__) if isinstance(e, OSError)), None)
    if isinstance(os_error, PermissionError):
        return "permission denied (this user may not read the file)"
    if os_error is not None:
        return f"cannot be read ({os_error.strerror or type(os_error).__name__})"
    return f"{type(exc).__name__}: {exc}"


def read_file(path: str) -> FileFacts:
    """The tags and stream duration of the audio file ``path`` (a local path or URL); a file mutagen cannot read
    (corrupt, not audio, unknown format, no permission) comes back with ``error`` set and nothing else."""
    try:
        audio = _open(path)
        if audio is None:
            return FileFacts(error="not an audio format mutagen reads (no known header)")
        fmt = type(audio).__name__.lower()
        length = getattr(audio.info, "length", None)
        if not length or not math.isfinite(length) or length <= 0:
            return FileFacts(file_format=fmt, error=f"{fmt}: no audio in the stream (length {length})")
        blocks = []
        kind = _kind_of(audio.tags)
        if kind is not None:
            blocks.append((kind, tag_values(kind, audio.tags)))
        if fmt == "wave":
            blocks.append(("riff-info", tag_values("riff-info", _riff(path))))
    except Exception as exc:  # mutagen's errors, and any parser crash on an odd file: one file never stops the walk
        return FileFacts(error=_error_text(exc))
    values, sources = _merge(blocks)
    return FileFacts(values, sources, float(length), fmt)
