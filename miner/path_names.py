"""What a music file's path says when its tags do not: the naming rules of music folders.

The file name (without its extension) is tried against these rules in order; the first that matches gives what
it can, and the ``Artist/Album/`` folders above it give the artist and album it did not (rule, then name, then
what it gives):

- ``path:number-artist-title``: ``03 - Artist - Title``: track number, artist, title;
- ``path:artist-title``: ``Artist - Title``: artist, title;
- ``path:number-title``: ``03 Title``, ``03 - Title``, ``03. Title``, ``1-03 Title``: track number, title;
- ``path:title``: anything else: the whole name as the title;
- ``path:folders``: ``Artist/Album/<name>`` (two folder levels or more): artist, album.

A trailing dash marker is set aside before splitting at " - " and given back to the title, so
``Artist - Title - Instrumental`` is artist "Artist", title "Title - Instrumental", and ``Title -
Instrumental`` stays one title. A track number is one to three digits; the artist of ``Artist - Title`` is never
a number alone (``03 - Title`` is a numbered title). A title that starts with a number ("99 Problems") is read
as numbered: tags, where present, are always preferred to the path. Names are NFC-normalised (macOS writes
decomposed accents).
"""

from __future__ import annotations

import re
import unicodedata

from miner.markers import MarkerSet

_MARKERS = MarkerSet()
_NUMBER_ARTIST_TITLE = re.compile(r"^(\d{1,3})\s*[-.]\s+(.+?)\s+[-\u2013]\s+(.+)$")
_ARTIST_TITLE = re.compile(r"^(.+?)\s+[-\u2013]\s+(.+)$")
_NUMBER_TITLE = re.compile(r"^(?:\d{1,2}-)?(\d{1,3})(?:\s*[-.]\s+|[\s_]+)(.+)$")


def _split_marker(stem: str) -> tuple[str, str]:
    """(``stem`` without a trailing dash marker such as " - Instrumental", that marker as written)."""
    m = _MARKERS.find(unicodedata.normalize("NFKC", stem).lower())
    if m is None or m.group(0)[:1] in "([{" or len(unicodedata.normalize("NFKC", stem)) != len(stem):
        return stem, ""
    rest = stem[m.end():].strip()
    if rest:  # the marker is not at the end: leave the name whole
        return stem, ""
    return stem[: m.start()].rstrip(), stem[m.start():]


def _number(text: str) -> str:
    return str(int(text))


def names_from_path(rel: str) -> tuple[dict[str, str], dict[str, str]]:
    """(values, sources) the path ``rel`` gives (``/``-separated, relative to the folder walked): fields of
    ``catalog_schemas.LIBRARY_FIELDS`` -> text, and -> the rule that gave each (table in the module doc)."""
    parts = [unicodedata.normalize("NFC", p) for p in rel.split("/") if p]
    name = parts[-1]
    stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    stem = re.sub(r"\s+", " ", stem.replace("_", " ") if " " not in stem else stem).strip()
    base, marker = _split_marker(stem)
    values: dict[str, str] = {}
    rule = "path:title"
    if (m := _NUMBER_ARTIST_TITLE.match(base)) is not None:
        rule = "path:number-artist-title"
        values = {"track_number": _number(m.group(1)), "artist": m.group(2).strip(), "title": m.group(3).strip()}
    elif (m := _ARTIST_TITLE.match(base)) is not None and not m.group(1).strip().isdigit():
        rule = "path:artist-title"
        values = {"artist": m.group(1).strip(), "title": m.group(2).strip()}
    elif (m := _NUMBER_TITLE.match(base)) is not None:
        rule = "path:number-title"
        values = {"track_number": _number(m.group(1)), "title": m.group(2).strip()}
    else:
        values = {"title": base}
    if marker:
        values["title"] = f"{values['title']} {marker.strip()}"
    values = {k: v for k, v in values.items() if v}
    sources = {k: rule for k in values}
    if len(parts) >= 3:
        for key, folder in (("artist", parts[-3]), ("album", parts[-2])):
            if key not in values and folder.strip():
                values[key], sources[key] = folder.strip(), "path:folders"
    return values, sources
