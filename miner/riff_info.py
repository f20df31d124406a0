"""The RIFF ``LIST``/``INFO`` chunk of a WAV file: the tags most WAV writers use (libsndfile, Windows, DAWs).

mutagen reads a WAV file's ``id3 `` chunk but not its INFO chunk, so this module reads those few strings itself:
chunk headers are read and skipped with ``seek``, never the audio. Text is UTF-8 when it decodes as such
(libsndfile writes UTF-8), else Windows-1252, the encoding of older writers.

INFO's ``ISRC`` is the *source* (who supplied the recording), not an International Standard Recording Code: it
is never read as one.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

#: The INFO ids read: ``INAM`` title, ``IART`` artist, ``IPRD`` album, ``ICRD`` date, ``IGNR`` genre, ``ITRK`` or
#: ``IPRT`` track number. INFO has no standard label field.
INFO_IDS = (b"INAM", b"IART", b"IPRD", b"ICRD", b"IGNR", b"ITRK", b"IPRT")
_MAX_CHUNKS = 256  # a sane WAV has a handful; a damaged one must not loop for long
_MAX_INFO_BYTES = 1 << 20


def _text(raw: bytes) -> str:
    raw = raw.split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace").strip()


def _parse_info(body: bytes) -> dict[str, str]:
    """``{id: text}`` of the sub-chunks of an INFO list's body (after the ``INFO`` type)."""
    out: dict[str, str] = {}
    pos = 0
    while pos + 8 <= len(body):
        cid, size = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
        if cid in INFO_IDS and cid.decode() not in out:
            text = _text(body[pos + 8:pos + 8 + size])
            if text:
                out[cid.decode()] = text
        pos += 8 + size + (size & 1)
    return out


def read_riff_info(fh: BinaryIO) -> dict[str, str]:
    """The INFO strings of the WAV file open in ``fh`` (``{"INAM": "Title", ...}``); empty when the file is not
    RIFF/WAVE or has no INFO list. Reads chunk headers from the start of the file; ``fh`` must be seekable."""
    fh.seek(0)
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return {}
    for _ in range(_MAX_CHUNKS):
        header = fh.read(8)
        if len(header) < 8:
            break
        cid, size = header[:4], struct.unpack("<I", header[4:])[0]
        if cid == b"LIST" and 4 <= size <= _MAX_INFO_BYTES:
            body = fh.read(size)
            if body[:4] == b"INFO":
                return _parse_info(body[4:])
            if size & 1:
                fh.seek(1, 1)
            continue
        fh.seek(size + (size & 1), 1)
    return {}
