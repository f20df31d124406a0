"""Text encodings of catalog files, and opening their bytes.

``--encoding`` (default UTF-8) decodes the header and the rows alike. A file that starts with a UTF-16 or
UTF-32 byte-order mark is read in that encoding whatever ``--encoding`` says (spreadsheet programs export
"Unicode text" so). Encodings that are not ASCII-compatible (UTF-16/32) cannot be cut on byte boundaries:
such a file is decoded whole and re-encoded as UTF-8 in memory (``open_bytes``), and read as one partition,
like a ``.gz`` file.
"""

from __future__ import annotations

import gzip
import io
from typing import BinaryIO

from vocalmine import storage
from vocalmine.errors import UserInputError

#: Byte-order marks that decide a file's encoding (longest first: UTF-32 LE starts like UTF-16 LE).
BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"))


def ascii_compatible(encoding: str) -> bool:
    """Whether ``encoding`` writes the bytes the record scan looks for (quote, comma, tab, CR, LF) as ASCII."""
    probe = 'a,"\t;|\r\n'
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def file_encoding(path: str, gz: bool, encoding: str) -> tuple[str, str]:
    """(encoding of the bytes as read, encoding to transcode from or ""): a UTF-16/UTF-32 byte-order mark
    decides; else ``encoding``, transcoded when it is not ASCII-compatible."""
    try:
        with open_bytes(path, gz, "") as fh:
            head = fh.read(4)
    except (OSError, EOFError) as exc:
        raise UserInputError(f"{path}: cannot read the file ({exc})") from None
    for bom, name in BOMS:
        if head.startswith(bom):
            return "utf-8", name
    if ascii_compatible(encoding):
        return encoding, ""
    return "utf-8", encoding


def open_bytes(path: str, gz: bool, transcode_from: str = "") -> BinaryIO:
    """A binary file object: decompressed when ``gz``; when ``transcode_from`` names an encoding, the whole
    file decoded from it and re-encoded as UTF-8 (in memory)."""
    fh = gzip.open(storage.open_file(path, "rb"), "rb") if gz else storage.open_file(path, "rb")
    if not transcode_from:
        return fh
    with fh:
        raw = fh.read()
    try:
        text = raw.decode(transcode_from)
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path}: not valid {transcode_from} text ({exc})") from None
    return io.BytesIO(text.lstrip("\ufeff").encode("utf-8"))


def decode(b: bytes, encoding: str = "utf-8") -> str:
    """``b`` as text; undecodable bytes become replacement characters."""
    return b.decode(encoding, errors="replace")
