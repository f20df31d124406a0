"""Find a catalog's files and read their headers: CSV (also ``.gz``), TSV or Parquet, from a file, a
directory of part-files, a glob, or the same on object storage (URLs through ``vocalmine.storage``).

``open_catalog`` returns one ``CatalogFile`` per file, with its header, the columns vocalmine reads (found
case- and space-insensitively: "Track ID" is ``track_id``), its delimiter (a ``.csv`` that is really tab-,
semicolon- or pipe-separated is sniffed from its header) and its text encoding (``text_encodings``); a
missing required column is a ``UserInputError`` that lists the columns found.
"""

from __future__ import annotations

import errno
import glob as globmod
import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from catalog_schemas import CATALOG_OPTIONAL, CATALOG_REQUIRED, DURATION_COLUMNS
from miner.record_boundaries import NL, boundary_newlines
from miner.text_encodings import file_encoding, open_bytes
from vocalmine import storage
from vocalmine.errors import UserInputError

#: File name endings read as catalogs (a directory input reads every file with one of these, sorted by name).
SUFFIXES: dict[str, tuple[str, bool]] = {
    ".csv": ("csv", False),
    ".csv.gz": ("csv", True),
    ".tsv": ("tsv", False),
    ".tsv.gz": ("tsv", True),
    ".tab": ("tsv", False),
    ".txt": ("csv", False),
    ".parquet": ("parquet", False),
    ".pq": ("parquet", False),
}
DELIMITERS = {"csv": ",", "tsv": "\t"}
KNOWN_COLUMNS = CATALOG_REQUIRED + DURATION_COLUMNS + CATALOG_OPTIONAL


@dataclass(frozen=True)
class CatalogFile:
    """One input file. ``columns``: its header as found; ``column_map``: (canonical, as found) pairs for the
    columns vocalmine reads; ``data_start``/``data_line``: byte offset and physical line of the first data
    record (CSV; offsets count decompressed bytes for ``.gz``)."""

    index: int
    path: str
    fmt: str
    gzip: bool
    columns: tuple[str, ...]
    column_map: tuple[tuple[str, str], ...]
    data_start: int = 0
    data_line: int = 2
    size: int = 0
    delimiter: str = ","
    cr_only: bool = False  # classic-Mac line endings: read whole, with CR taken as a newline
    encoding: str = "utf-8"  # encoding of the bytes ``partitions.read_bytes`` returns
    transcode_from: str = ""  # non-empty: the file is in this (not ASCII-compatible) encoding, read as UTF-8



def _suffix_of(path: str) -> tuple[str, bool] | None:
    name = path.lower()
    for suf in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suf):
            return SUFFIXES[suf]
    return None


def find_catalog_files(catalog: str | os.PathLike) -> list[Path]:
    """The files a catalog argument names: the file itself, the catalog files of a directory (sorted, hidden
    and ``_``-prefixed names skipped), or the matches of a glob (sorted)."""
    text = str(catalog)
    if storage.is_url(text):
        return _find_url_files(text)
    p = Path(text)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(
            q for q in p.iterdir()
            if q.is_file() and not q.name.startswith((".", "_")) and _suffix_of(q.name) is not None
        )
        if not files:
            raise UserInputError(
                f"{p}: no catalog files in this directory (looked for {', '.join(sorted(SUFFIXES))})"
            )
        return files
    if any(ch in text for ch in "*?["):
        files = sorted(Path(m) for m in globmod.glob(text, recursive=True) if Path(m).is_file())
        if not files:
            raise UserInputError(f"{text}: the pattern matches no file")
        return files
    raise UserInputError(f"{text}: {_why_not_a_file(p)}")


def _why_not_a_file(p: Path) -> str:
    """Why ``p`` is neither a file nor a folder: missing, a symlink loop, no permission, a FIFO or device."""
    try:
        st = p.stat()
    except FileNotFoundError:
        return "a symbolic link to nothing (its target is missing)" if p.is_symlink() else "no such file or directory"
    except OSError as exc:  # ELOOP: "Too many levels of symbolic links"; EACCES on a folder above it
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (the link leads back to itself)"
        return (exc.strerror or type(exc).__name__).lower()
    kind = "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
    return f"{kind}, not a catalog file"


def _find_url_files(url: str) -> list[str]:
    """``find_catalog_files`` for a URL (object stores: fsspec through ``vocalmine.storage``). A URL that names
    a file is that file, whatever characters it holds (a key with ``[v1]``, a presigned ``?token=``); only
    one that names nothing is read as a pattern (never an ``http(s)://`` one: a web server lists nothing)."""
    if storage.isfile(url):
        return [url]
    if any(ch in url for ch in "*?[") and storage.protocol(url) not in storage.READ_ONLY_PROTOCOLS:
        files = [m for m in storage.glob(url) if not storage.isdir(m)]
        if not files:
            raise UserInputError(f"{url}: the pattern matches no file")
        return files
    if storage.isdir(url):
        files = [storage.join(url, n) for n in storage.listdir(url)
                 if not n.startswith((".", "_")) and _suffix_of(n) is not None]
        if not files:
            raise UserInputError(f"{url}: no catalog files under this URL (looked for {', '.join(sorted(SUFFIXES))})")
        return files
    raise UserInputError(f"{url}: no such file or folder")


def _map_columns(columns: tuple[str, ...]) -> dict[str, str]:
    """canonical -> as found, exact names first, then case/space-insensitive ("Track ID" -> track_id)."""
    found: dict[str, str] = {}
    loose = {c.strip().lower().replace(" ", "_").replace("-", "_"): c for c in reversed(columns)}
    for canon in KNOWN_COLUMNS:
        if canon in columns:
            found[canon] = canon
        elif canon in loose:
            found[canon] = loose[canon]
    return found


def _check_columns(path: str, columns: tuple[str, ...], mapping: dict[str, str]) -> None:
    missing = [c for c in CATALOG_REQUIRED if c not in mapping]
    problems = [f"missing required column {c!r}" for c in missing]
    if not any(d in mapping for d in DURATION_COLUMNS):
        problems.append("missing a duration column: 'duration_s' (seconds) or 'duration_ms' (milliseconds)")
    if problems:
        shown = ", ".join(repr(c) for c in columns) if columns else "(none: the file is empty)"
        raise UserInputError(f"{path}: {'; '.join(problems)}. Columns found: {shown}")


def _check_unique(path: str, columns: tuple[str, ...], mapping: dict[str, str]) -> None:
    """``UserInputError`` when a column vocalmine reads appears twice in the header (``title,title``, or
    ``Title`` and ``title``): which one to read would be a guess."""
    for canon, actual in mapping.items():
        same = [i + 1 for i, c in enumerate(columns) if c.strip().lower().replace(" ", "_").replace("-", "_")
                == actual.strip().lower().replace(" ", "_").replace("-", "_")]
        if len(same) > 1:
            names = ", ".join(f"{columns[i - 1]!r} (column {i})" for i in same)
            raise UserInputError(f"{path}: the header names {canon} more than once: {names}; rename or remove "
                                 "all but one")


def open_catalog(catalog: str | os.PathLike, encoding: str = "utf-8") -> list[CatalogFile]:
    """Find the catalog's files, read each header or schema, and check the required columns are there.
    ``encoding``: text encoding of CSV/TSV files (a UTF-16/UTF-32 byte-order mark overrides it)."""
    return [_open_file(i, path, encoding) for i, path in enumerate(find_catalog_files(catalog))]


def _open_file(index: int, path: str | Path, encoding: str) -> CatalogFile:
    """The ``CatalogFile`` of one file (the ``index``-th of its catalog)."""
    kind = _suffix_of(storage.name(path))
    fmt, gz = kind if kind else ("csv", False)
    apath = storage.absolute(path)
    types: dict[str, pa.DataType] = {}
    if fmt == "parquet":
        try:
            schema = storage.parquet_file(apath).schema_arrow
        except (pa.ArrowInvalid, OSError) as exc:
            raise UserInputError(f"{path}: not a readable Parquet file ({exc})") from None
        columns = tuple(schema.names)
        types = {fld.name: fld.type for fld in schema}
        layout = dict(data_start=0, data_line=1)
    else:
        layout = _text_layout(apath, DELIMITERS[fmt], gz, encoding)
        columns = layout.pop("columns")
    mapping = _map_columns(columns)
    _check_columns(str(path), columns, mapping)
    _check_unique(str(path), columns, mapping)
    for canon, actual in mapping.items():
        kind = types.get(actual)
        if kind is not None and pa.types.is_dictionary(kind):
            kind = kind.value_type
        if kind is not None and pa.types.is_nested(kind):
            raise UserInputError(f"{path}: column {actual!r} holds {kind}, a nested type; the catalog's "
                                 f"{canon} must be text (or a number for a duration): flatten it first")
    return CatalogFile(index, apath, fmt, gz, columns, tuple(mapping.items()), size=storage.size(apath), **layout)


def _text_layout(path: str, delimiter: str, gz: bool, encoding: str) -> dict:
    """``CatalogFile`` fields of a CSV/TSV file, from its header: ``columns``, ``data_start``, ``data_line``,
    ``delimiter`` (the suffix's, unless the header holds only another one), ``cr_only``, ``encoding`` and
    ``transcode_from``."""
    enc, transcode = file_encoding(path, gz, encoding)
    columns, data_start, data_line, cr_only = _read_header(path, delimiter, gz, enc, transcode)
    if len(columns) <= 1:  # a ".csv" that is really tab-, semicolon- or pipe-separated
        for other in ("\t", ";", ",", "|"):
            if other != delimiter and other in (columns[0] if columns else ""):
                columns, data_start, data_line, cr_only = _read_header(path, other, gz, enc, transcode)
                delimiter = other
                break
    return dict(columns=columns, data_start=data_start, data_line=data_line, delimiter=delimiter, cr_only=cr_only,
                encoding=enc, transcode_from=transcode)


def _read_header(path: str, delimiter: str, gz: bool, encoding: str = "utf-8", transcode_from: str = ""
                 ) -> tuple[tuple[str, ...], int, int, bool]:
    """(column names, byte offset of the first data record, its physical line, whether the file ends its
    lines with CR alone). ``encoding``: of the bytes read (after transcoding from ``transcode_from``)."""
    cr_only = False
    with open_bytes(path, gz, transcode_from) as fh:
        try:
            head = fh.read(1 << 20)
            if b"\r" in head and b"\n" not in head:
                cr_only = True
                head = head.replace(b"\r", b"\n")
            while True:
                start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
                buf = np.frombuffer(head, np.uint8)
                nl = np.flatnonzero(buf == NL)
                ends, _ = boundary_newlines(buf[start:], nl[nl >= start] - start, ord(delimiter), False)
                ends = ends + start
                more = b"" if len(ends) else fh.read(1 << 20)
                if not more:
                    break
                head += more.replace(b"\r", b"\n") if cr_only else more
        except (OSError, EOFError) as exc:
            raise UserInputError(f"{path}: cannot read the file ({exc})") from None
    end = int(ends[0]) if len(ends) else len(head)
    header = head[start:end]
    if not header.strip():
        return (), end + 1, 2, cr_only
    if b"\x00" in header:
        raise UserInputError(f"{path}: the header line holds NUL bytes: UTF-16 or UTF-32 text without a "
                             "byte-order mark? give the file's encoding with --encoding (e.g. utf-16-le)")
    try:
        t = pcsv.read_csv(
            io.BytesIO(header + b"\n"),
            read_options=pcsv.ReadOptions(use_threads=False, encoding=encoding),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types={}, strings_can_be_null=False),
        )
        names = tuple(n.strip() for n in t.column_names)  # pyarrow checks the UTF-8 of names here
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read the header line as {encoding} ({exc}); "
                             "give the file's encoding with --encoding") from None
    return names, end + 1, 2 + header.count(b"\n"), cr_only
