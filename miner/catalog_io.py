"""Read a catalog: CSV (also ``.gz``), TSV or Parquet, from a file, a directory of part-files or a glob.

The catalog is cut into partitions that Dask reads in parallel: a Parquet row group, a whole ``.gz`` file,
or a byte range of a plain CSV/TSV file that starts and ends on a record boundary. Real exports quote
fields that hold commas and newlines, so a boundary is a newline outside quotes; ``_boundary_newlines``
finds them with numpy (quote parity) and falls back to a sequential walk over the quotes only when a
quote appears in the middle of an unquoted field. The same scan numbers every record with the physical
line where it starts, so a rejected row is reported with the line a text editor shows, quoted newlines
included. Every value is read as a string: ``track_id`` "007" stays "007".

Text encodings: ``--encoding`` (default UTF-8) decodes the header and the rows alike. A file that starts
with a UTF-16 or UTF-32 byte-order mark is read in that encoding whatever ``--encoding`` says (spreadsheet
programs export "Unicode text" so). Encodings that are not ASCII-compatible (UTF-16/32) cannot be cut on
byte boundaries: such a file is decoded whole to UTF-8 and read as one partition, like a ``.gz`` file.

Rows are validated here too (``validate_rows``): empty id/artist/title and missing, non-numeric or
non-positive durations are reasons, in that order of precedence.
"""

from __future__ import annotations

import glob as globmod
import gzip
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from catalog_schemas import CATALOG_OPTIONAL, CATALOG_REQUIRED, DURATION_COLUMNS
from vocalmine import storage
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

QUOTE, NL, CR = 0x22, 0x0A, 0x0D

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

DEFAULT_BLOCKSIZE = 32 * 2**20


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
    encoding: str = "utf-8"  # encoding of the bytes ``_read_bytes`` returns
    transcode_from: str = ""  # non-empty: the file is in this (not ASCII-compatible) encoding, read as UTF-8


@dataclass(frozen=True)
class PartSpec:
    """One partition: a byte range ``[start, stop)`` of a CSV/TSV (``stop`` -1: to the end) or the row group
    ``start`` of a Parquet file. ``first_line``: physical line of ``start`` (Parquet: 1-based row number);
    ``first_record``: 0-based index in the file of its first data record."""

    file: CatalogFile
    index: int
    start: int
    stop: int
    first_line: int
    first_record: int


@dataclass
class RawPart:
    """A partition as read. ``table``: the known columns under their canonical names (strings, except
    numeric Parquet columns); per row of it: ``record`` (0-based in its file), ``line`` (-1: unknown),
    ``offset``/``nbytes`` (where its text lies; Parquet: row index, 0). ``malformed``: records the parser
    could not split into the header's columns (reason wrong-column-count)."""

    spec: PartSpec
    table: pa.Table
    record: np.ndarray
    line: np.ndarray
    offset: np.ndarray
    nbytes: np.ndarray
    malformed: list[dict] = field(default_factory=list)
    data: bytes | None = None

    def original_texts(self, rows: np.ndarray) -> list[str]:
        """The original records of some rows (CSV: their text without the line ending; Parquet: JSON)."""
        f = self.spec.file
        if f.fmt == "parquet":
            return _parquet_rows_json(f, [int(self.record[i]) for i in rows]) if len(rows) else []
        out = []
        for i in rows:
            rel = int(self.offset[i]) - self.spec.start
            out.append(_decode(self.data[rel: rel + int(self.nbytes[i])], f.encoding).rstrip("\r\n"))
        return out


# ----------------------------------------------------------------------------------------------- discovery


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
    raise UserInputError(f"{text}: no such file or directory")


def _find_url_files(url: str) -> list[str]:
    """``find_catalog_files`` for a URL (object stores: fsspec through ``vocalmine.storage``)."""
    if any(ch in url for ch in "*?["):
        files = [m for m in storage.glob(url) if not storage.isdir(m)]
        if not files:
            raise UserInputError(f"{url}: the pattern matches no file")
        return files
    if storage.isfile(url):
        return [url]
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


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
         (b"\xfe\xff", "utf-16"))


def _ascii_compatible(encoding: str) -> bool:
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
        with _open_bytes(path, gz, "") as fh:
            head = fh.read(4)
    except (OSError, EOFError) as exc:
        raise UserInputError(f"{path}: cannot read the file ({exc})") from None
    for bom, name in _BOMS:
        if head.startswith(bom):
            return "utf-8", name
    if _ascii_compatible(encoding):
        return encoding, ""
    return "utf-8", encoding


def open_catalog(catalog: str | os.PathLike, encoding: str = "utf-8") -> list[CatalogFile]:
    """Find the catalog's files, read each header or schema, and check the required columns are there.
    ``encoding``: text encoding of CSV/TSV files (a UTF-16/UTF-32 byte-order mark overrides it)."""
    out = []
    for i, path in enumerate(find_catalog_files(catalog)):
        kind = _suffix_of(storage.name(path))
        fmt, gz = kind if kind else ("csv", False)
        apath = storage.absolute(path)
        if fmt == "parquet":
            try:
                columns = tuple(storage.parquet_file(apath).schema_arrow.names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise UserInputError(f"{path}: not a readable Parquet file ({exc})") from None
            data_start, data_line = 0, 1
        else:
            delimiter = DELIMITERS[fmt]
            enc, transcode = file_encoding(apath, gz, encoding)
            columns, data_start, data_line, cr_only = _read_header(apath, delimiter, gz, enc, transcode)
            if len(columns) <= 1:  # a ".csv" that is really tab-, semicolon- or pipe-separated
                for other in ("\t", ";", ",", "|"):
                    if other != delimiter and other in (columns[0] if columns else ""):
                        columns, data_start, data_line, cr_only = _read_header(apath, other, gz, enc, transcode)
                        delimiter = other
                        break
        mapping = _map_columns(columns)
        _check_columns(str(path), columns, mapping)
        text = fmt != "parquet"
        out.append(CatalogFile(i, apath, fmt, gz, columns, tuple(mapping.items()), data_start, data_line,
                               storage.size(apath), "," if fmt == "parquet" else delimiter,
                               text and cr_only, enc if text else "utf-8", transcode if text else ""))
    return out


def _open_bytes(path: str, gz: bool, transcode_from: str = ""):
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


def _read_header(path: str, delimiter: str, gz: bool, encoding: str = "utf-8", transcode_from: str = ""
                 ) -> tuple[tuple[str, ...], int, int, bool]:
    """(column names, byte offset of the first data record, its physical line, whether the file ends its
    lines with CR alone). ``encoding``: of the bytes read (after transcoding from ``transcode_from``)."""
    cr_only = False
    with _open_bytes(path, gz, transcode_from) as fh:
        try:
            head = fh.read(1 << 20)
            if b"\r" in head and b"\n" not in head:
                cr_only = True
                head = head.replace(b"\r", b"\n")
            while True:
                start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
                buf = np.frombuffer(head, np.uint8)
                nl = np.flatnonzero(buf == NL)
                ends, _ = _boundary_newlines(buf[start:], nl[nl >= start] - start, ord(delimiter), False)
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


# ------------------------------------------------------------------------------------ record boundaries


def _exact_toggles(buf: np.ndarray, quotes: np.ndarray, delimiter: int, inside: bool) -> np.ndarray:
    """Positions where a quoted field opens or closes, walking the quotes as the CSV parser does: a quote
    opens a field only at a field start; inside, a doubled quote is an escaped quote, a single one closes."""
    out: list[int] = []
    n = len(buf)
    ql = quotes.tolist()
    data = buf.tobytes()  # bytes index to Python ints, much faster than numpy scalars
    i = 0
    while i < len(ql):
        p = ql[i]
        if inside:
            if p + 1 < n and data[p + 1] == QUOTE:
                i += 2
                continue
            inside = False
            out.append(p)
        else:
            prev = data[p - 1] if p else NL
            if prev == delimiter or prev == NL or prev == CR:
                inside = True
                out.append(p)
        i += 1
    return np.asarray(out, dtype=np.int64)


def _boundary_newlines(buf: np.ndarray, newlines: np.ndarray, delimiter: int, inside: bool
                       ) -> tuple[np.ndarray, bool]:
    """The newlines of ``buf`` that end a record (outside quotes), and whether ``buf`` ends inside quotes.
    ``inside``: whether ``buf`` starts inside a quoted field. ``buf`` must not start in the middle of a
    quote pair."""
    quotes = np.flatnonzero(buf == QUOTE)
    if quotes.size == 0:
        return (newlines[:0] if inside else newlines), inside
    inside_before = ((np.arange(quotes.size) & 1) == 1) ^ inside
    prev = np.where(quotes > 0, buf[np.maximum(quotes - 1, 0)], NL)
    stray = ~inside_before & (prev != delimiter) & (prev != NL) & (prev != CR) & (prev != QUOTE)
    toggles = quotes if not stray.any() else _exact_toggles(buf, quotes, delimiter, inside)
    before = np.searchsorted(toggles, newlines)
    outside = ((before & 1) == 1) == inside
    return newlines[outside], inside ^ bool(toggles.size & 1)


def _record_starts(buf: np.ndarray, ends: np.ndarray, first_is_start: bool = True) -> np.ndarray:
    """Byte offsets where non-empty records start, given the record-ending newlines."""
    cand = ends + 1
    if first_is_start:
        cand = np.concatenate([np.zeros(1, np.int64), cand])
    cand = cand[cand < len(buf)]
    first = buf[cand]
    return cand[(first != NL) & (first != CR)]


def plan_partitions(files: list[CatalogFile], blocksize: int = DEFAULT_BLOCKSIZE) -> list[PartSpec]:
    """Cut the files into partitions of about ``blocksize`` bytes (CSV/TSV) or one row group (Parquet)."""
    parts: list[PartSpec] = []
    for f in files:
        if f.fmt == "parquet":
            md = storage.parquet_file(f.path).metadata
            row = 0
            for rg in range(md.num_row_groups):
                parts.append(PartSpec(f, len(parts), rg, -1, row + 1, row))
                row += md.row_group(rg).num_rows
        elif f.gzip or f.cr_only or f.transcode_from or f.size - f.data_start <= blocksize:
            parts.append(PartSpec(f, len(parts), f.data_start, -1, f.data_line, 0))
        else:
            for start, stop, line, rec in _split_csv(f, blocksize):
                parts.append(PartSpec(f, len(parts), start, stop, line, rec))
    return parts


def _split_csv(f: CatalogFile, blocksize: int) -> list[tuple[int, int, int, int]]:
    """(start, stop, first line, first record) of each byte range; one pass over the file."""
    out = []
    delim = ord(f.delimiter)
    with storage.open_file(f.path, "rb") as fh:
        fh.seek(f.data_start)
        pos, line, rec, inside = f.data_start, f.data_line, 0, False
        part = (pos, line, rec)
        while True:
            pieces = [fh.read(blocksize)]
            if not pieces[0]:
                break
            while not pieces[-1].endswith(b"\n"):  # end every chunk on a newline
                more = fh.readline()
                if not more:
                    break
                pieces.append(more)
            chunk = b"".join(pieces)
            buf = np.frombuffer(chunk, np.uint8)
            nl = np.flatnonzero(buf == NL)
            was_inside = inside
            ends, inside = _boundary_newlines(buf, nl, delim, inside)
            rec += len(_record_starts(buf, ends, first_is_start=not was_inside))
            line += len(nl)
            pos += len(chunk)
            if not inside:
                out.append((part[0], pos, part[1], part[2]))
                part = (pos, line, rec)
        if pos > part[0]:
            out.append((part[0], pos, part[1], part[2]))
    return out


# --------------------------------------------------------------------------------------------- reading


def _decode(b: bytes, encoding: str = "utf-8") -> str:
    return b.decode(encoding, errors="replace")


def _read_bytes(f: CatalogFile, start: int, stop: int) -> bytes:
    with _open_bytes(f.path, f.gzip, f.transcode_from) as fh:
        if f.gzip or f.transcode_from:
            data = fh.read()[start: None if stop < 0 else stop]
        else:
            fh.seek(start)
            data = fh.read() if stop < 0 else fh.read(stop - start)
    return data.replace(b"\r", b"\n") if f.cr_only else data


def _unique_names(columns: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        k = seen.get(c, 0)
        out.append(c if k == 0 else f"{c}.{k}")
        seen[c] = k + 1
    return out


def _parse_csv(data: bytes, f: CatalogFile, encoding: str, binary: bool = False):
    invalid: list[tuple[int | None, int, str]] = []

    def on_invalid(row) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    names = _unique_names(f.columns)
    wanted = [names[f.columns.index(actual)] for _, actual in f.column_map]
    table = pcsv.read_csv(
        pa.BufferReader(data),
        read_options=pcsv.ReadOptions(column_names=names, use_threads=False, block_size=4 << 20,
                                      encoding=encoding),
        parse_options=pcsv.ParseOptions(delimiter=f.delimiter, newlines_in_values=True,
                                        invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(
            include_columns=wanted,
            column_types={n: (pa.binary() if binary else pa.string()) for n in wanted},
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )
    canon = [c for c, _ in f.column_map]
    return table.rename_columns(canon), invalid


def _fix_encoding(table: pa.Table, path: str) -> pa.Table:
    cols = []
    for col in table.columns:
        try:
            cols.append(col.cast(pa.string()))
        except pa.ArrowInvalid:
            cols.append(pa.array([None if v is None else v.decode("utf-8", errors="replace")
                                  for v in col.to_pylist()], pa.string()))
    log.warning("%s: invalid UTF-8 in some fields; read with replacement characters", path)
    return pa.table(cols, names=table.column_names)


def read_partition(spec: PartSpec, encoding: str | None = None) -> RawPart:
    """Read one partition (see ``RawPart``). A file that cannot be read is a ``UserInputError``.
    ``encoding``: of the file's bytes; default the one ``open_catalog`` found (``CatalogFile.encoding``)."""
    try:
        return _read_partition(spec, spec.file.encoding if spec.file.transcode_from or encoding is None
                               else encoding)
    except (OSError, EOFError, pa.ArrowException) as exc:
        raise UserInputError(f"{spec.file.path}: cannot read the file ({exc})") from None


def _read_partition(spec: PartSpec, encoding: str) -> RawPart:
    f = spec.file
    if f.fmt == "parquet":
        return _read_parquet_part(spec)
    data = _read_bytes(f, spec.start, spec.stop)
    buf = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(buf == NL)
    ends, _ = _boundary_newlines(buf, nl, ord(f.delimiter), False)
    starts = _record_starts(buf, ends)
    lines = spec.first_line + np.searchsorted(nl, starts)
    stops = np.append(starts[1:], len(buf)).astype(np.int64)
    if not data.strip(b"\r\n"):
        table = pa.table({c: pa.array([], pa.string()) for c, _ in f.column_map})
        return RawPart(spec, table, *(np.zeros(0, np.int64) for _ in range(4)), data=data)
    try:
        table, invalid = _parse_csv(data, f, encoding)
    except pa.ArrowInvalid as exc:
        if "utf8" not in str(exc).lower() and "utf-8" not in str(exc).lower():
            raise UserInputError(f"{f.path}: cannot parse the CSV near line {spec.first_line} ({exc})") from None
        table, invalid = _parse_csv(data, f, encoding, binary=True)
        table = _fix_encoding(table, f.path)
    n = len(starts)
    if table.num_rows + len(invalid) != n or any(num is None for num, _, _ in invalid):
        log.warning("%s: lines from byte %d: record count differs from the parser's (%d vs %d); "
                    "line numbers of this part are unknown", f.path, spec.start, n, table.num_rows + len(invalid))
        approx = spec.first_record + np.arange(table.num_rows, dtype=np.int64)
        unknown = np.full(table.num_rows, -1, np.int64)
        malformed = [dict(record=-1, line=-1, reason="wrong-column-count",
                          detail=f"expected {len(f.columns)} fields, found {k}", original=text)
                     for _, k, text in invalid]
        return RawPart(spec, table, approx, unknown, unknown, np.zeros(table.num_rows, np.int64), malformed, data)
    keep = np.ones(n, bool)
    malformed = []
    for num, k, text in invalid:
        r = num - 1  # 1-based record number within this chunk
        keep[r] = False
        malformed.append(dict(record=spec.first_record + r, line=int(lines[r]), reason="wrong-column-count",
                              detail=f"expected {len(f.columns)} fields, found {k}",
                              original=_decode(data[starts[r]:stops[r]], f.encoding).rstrip("\r\n")))
    idx = np.flatnonzero(keep)
    return RawPart(
        spec, table,
        record=(spec.first_record + idx).astype(np.int64),
        line=lines[idx].astype(np.int64),
        offset=(spec.start + starts[idx]).astype(np.int64),
        nbytes=(stops[idx] - starts[idx]).astype(np.int64),
        malformed=malformed, data=data,
    )


def _read_parquet_part(spec: PartSpec) -> RawPart:
    f = spec.file
    pf = storage.parquet_file(f.path)
    t = pf.read_row_group(spec.start, columns=[a for _, a in f.column_map])
    t = t.rename_columns([c for c, _ in f.column_map])
    cols = []
    for name, col in zip(t.column_names, t.columns):
        if name in ("duration_s", "duration_ms") and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            cols.append(col.cast(pa.float64()))
        elif pa.types.is_dictionary(col.type):
            cols.append(col.cast(col.type.value_type).cast(pa.string()))
        else:
            cols.append(col.cast(pa.string()))
    t = pa.table(cols, names=t.column_names)
    rec = spec.first_record + np.arange(t.num_rows, dtype=np.int64)
    return RawPart(spec, t, rec, rec + 1, rec, np.zeros(t.num_rows, np.int64))


def _parquet_rows_json(f: CatalogFile, rows: list[int]) -> list[str]:
    """The given 0-based rows of a Parquet file as JSON objects of all their columns."""
    pf = storage.parquet_file(f.path)
    md = pf.metadata
    bounds = np.cumsum([0] + [md.row_group(i).num_rows for i in range(md.num_row_groups)])
    out = {}
    rows_arr = np.asarray(rows, np.int64)
    for rg in np.unique(np.searchsorted(bounds, rows_arr, side="right") - 1):
        mine = rows_arr[(rows_arr >= bounds[rg]) & (rows_arr < bounds[rg + 1])]
        t = pf.read_row_group(int(rg)).take(pa.array(mine - bounds[rg]))
        for r, d in zip(mine.tolist(), t.to_pylist()):
            out[r] = json.dumps(d, ensure_ascii=False, default=str)
    return [out[r] for r in rows]


def original_texts(f: CatalogFile, records: list[int], offsets: list[int], nbytes: list[int]) -> list[str]:
    """Original text of some records of ``f`` (CSV: their text; Parquet: JSON), for rows rejected after the
    read (duplicates)."""
    if f.fmt == "parquet":
        return _parquet_rows_json(f, records)
    order = np.argsort(offsets, kind="stable")
    out = [""] * len(offsets)
    with _open_bytes(f.path, f.gzip, f.transcode_from) as fh:
        for i in order:
            if offsets[i] < 0:
                continue
            fh.seek(offsets[i])
            out[i] = _decode(fh.read(nbytes[i]), f.encoding).rstrip("\r\n")
    return out


# ------------------------------------------------------------------------------------------ validation

_NUMBER = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_CLOCK = r"^(?:(?P<h>\d+):(?P<m2>[0-5]?\d)|(?P<m>\d+)):(?P<s>[0-5]?\d(?:\.\d+)?)$"


def parse_durations(col: pa.Array, milliseconds: bool) -> tuple[np.ndarray, np.ndarray]:
    """Durations in seconds ([n] float64, NaN where unusable) and a status per row: 0 ok, 1 missing,
    2 not a number, 3 zero or negative. Text may be a number ("215", "215.4", "2.15e2") or a clock time
    ("3:35", "1:02:03", never scaled by ``milliseconds``)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    n = len(col)
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
        v = col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        status = np.where(np.isnan(v), 1, 0).astype(np.int8)
        status[np.isinf(v)] = 2
        clock = np.zeros(n, bool)
    else:
        s = pc.utf8_trim_whitespace(pc.fill_null(col.cast(pa.string()), ""))
        missing = pc.equal(s, "").to_numpy(zero_copy_only=False)
        is_num = pc.match_substring_regex(s, _NUMBER).to_numpy(zero_copy_only=False)
        clock = pc.match_substring_regex(s, _CLOCK).to_numpy(zero_copy_only=False)
        v = np.full(n, np.nan)
        if is_num.any():
            v[is_num] = pc.cast(s.filter(pa.array(is_num)), pa.float64()).to_numpy(zero_copy_only=False)
        if clock.any():
            parts = pc.extract_regex(s.filter(pa.array(clock)), _CLOCK)
            def num(name):
                a = pc.struct_field(parts, name)
                return pc.cast(pc.if_else(pc.equal(a, ""), "0", a), pa.float64()).to_numpy(zero_copy_only=False)
            v[clock] = num("h") * 3600 + (num("m2") + num("m")) * 60 + num("s")
        status = np.where(missing, 1, np.where(is_num | clock, 0, 2)).astype(np.int8)
        status[(status == 0) & ~np.isfinite(v)] = 2
    if milliseconds:
        v = np.where(clock, v, v / 1000.0)
    status[(status == 0) & (v <= 0)] = 3
    return v, status


def _empty(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    s = pc.utf8_trim_whitespace(pc.fill_null(col, ""))
    return pc.equal(s, "").to_numpy(zero_copy_only=False)


#: The ``detail`` of a ``bad-duration`` row: the formats a duration may be written in.
DURATION_FORMATS = ("accepted: seconds (215 or 215.4) in duration_s, milliseconds (215400) in duration_ms, "
                    "m:ss (3:35) or h:mm:ss (1:02:03) in either")


def bad_duration_detail(value: str | None, column: str) -> str:
    """The ``detail`` of a ``bad-duration`` row whose ``column`` holds ``value``."""
    return f"{column} {value!r} is not a duration; {DURATION_FORMATS}"


def row_details(table: pa.Table, reasons: np.ndarray, rows: np.ndarray) -> list[str]:
    """The ``detail`` of each of ``rows`` (rejected for ``reasons[rows]``): the accepted formats for a
    bad-duration, else empty."""
    dur_col = "duration_s" if "duration_s" in table.column_names else "duration_ms"
    bad = [i for i in rows.tolist() if reasons[i] == "bad-duration"]
    values = dict(zip(bad, table.column(dur_col).take(pa.array(bad, pa.int64())).to_pylist())) if bad else {}
    return [bad_duration_detail(values[i], dur_col) if i in values else "" for i in rows.tolist()]


def validate_rows(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(reason per row: object array, None where the row is good; duration in seconds per row)."""
    n = table.num_rows
    dur_col = "duration_s" if "duration_s" in table.column_names else "duration_ms"
    dur, status = parse_durations(table.column(dur_col), milliseconds=dur_col == "duration_ms")
    reasons = np.full(n, None, dtype=object)
    checks = [
        (status == 3, "nonpositive-duration"),
        (status == 2, "bad-duration"),
        (status == 1, "missing-duration"),
        (_empty(table.column("title")), "empty-title"),
        (_empty(table.column("artist")), "empty-artist"),
        (_empty(table.column("track_id")), "empty-track_id"),
    ]
    for mask, reason in checks:  # lowest precedence first; later ones overwrite
        reasons[mask] = reason
    return reasons, dur
