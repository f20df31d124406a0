"""Read the rows of one partition (``partitions.PartSpec``), each numbered with its record, its physical
line and where its text lies, so a rejected row can be reported with its line and its original text.

Every value is read as a string: ``track_id`` "007" stays "007" (numeric Parquet durations stay numbers).
Records the parser cannot split into the header's columns become ``wrong-column-count`` rejections;
invalid UTF-8 is read with replacement characters (with a warning) rather than stopping the run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from miner.catalog_files import CatalogFile
from miner.partitions import PartSpec, read_bytes
from miner.record_boundaries import NL, boundary_newlines, record_starts
from miner.text_encodings import decode, open_bytes
from vocalmine import storage
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)


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
            return parquet_rows_json(f, [int(self.record[i]) for i in rows]) if len(rows) else []
        out = []
        for i in rows:
            rel = int(self.offset[i]) - self.spec.start
            out.append(decode(self.data[rel: rel + int(self.nbytes[i])], f.encoding).rstrip("\r\n"))
        return out


def read_partition(spec: PartSpec, encoding: str | None = None) -> RawPart:
    """Read one partition (see ``RawPart``). A file that cannot be read is a ``UserInputError``.
    ``encoding``: of the file's bytes; default the one ``open_catalog`` found (``CatalogFile.encoding``)."""
    try:
        if spec.file.fmt == "parquet":
            return _read_parquet_part(spec)
        return _read_csv_part(spec, spec.file.encoding if spec.file.transcode_from or encoding is None
                              else encoding)
    except (OSError, EOFError, pa.ArrowException) as exc:
        raise UserInputError(f"{spec.file.path}: cannot read the file ({exc})") from None


# ------------------------------------------------------------------------------------------------ CSV/TSV


def _unique_names(columns: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        k = seen.get(c, 0)
        out.append(c if k == 0 else f"{c}.{k}")
        seen[c] = k + 1
    return out


def _parse_csv(data: bytes, f: CatalogFile, encoding: str, binary: bool = False
               ) -> tuple[pa.Table, list[tuple[int | None, int, str]]]:
    """(the known columns of ``data`` under their canonical names, (record number in ``data`` 1-based,
    fields found, text) of each record with the wrong number of fields)."""
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


def _parse_or_replace(data: bytes, spec: PartSpec, encoding: str) -> tuple[pa.Table, list]:
    """``_parse_csv``, read again as bytes with replacement characters when a field is not valid UTF-8."""
    f = spec.file
    try:
        return _parse_csv(data, f, encoding)
    except pa.ArrowInvalid as exc:
        if "utf8" not in str(exc).lower() and "utf-8" not in str(exc).lower():
            raise UserInputError(f"{f.path}: cannot parse the CSV near line {spec.first_line} ({exc})") from None
        table, invalid = _parse_csv(data, f, encoding, binary=True)
        return _fix_encoding(table, f.path), invalid


def _read_csv_part(spec: PartSpec, encoding: str) -> RawPart:
    f = spec.file
    data = read_bytes(f, spec.start, spec.stop)
    buf = np.frombuffer(data, np.uint8)
    nl = np.flatnonzero(buf == NL)
    ends, _ = boundary_newlines(buf, nl, ord(f.delimiter), False)
    starts = record_starts(buf, ends)
    lines = spec.first_line + np.searchsorted(nl, starts)
    stops = np.append(starts[1:], len(buf)).astype(np.int64)
    if not data.strip(b"\r\n"):
        table = pa.table({c: pa.array([], pa.string()) for c, _ in f.column_map})
        return RawPart(spec, table, *(np.zeros(0, np.int64) for _ in range(4)), data=data)
    table, invalid = _parse_or_replace(data, spec, encoding)
    n = len(starts)
    if table.num_rows + len(invalid) != n or any(num is None for num, _, _ in invalid):
        log.warning("%s: lines from byte %d: record count differs from the parser's (%d vs %d); "
                    "line numbers of this part are unknown", f.path, spec.start, n, table.num_rows + len(invalid))
        return _unnumbered(spec, table, invalid, data)
    keep = np.ones(n, bool)
    malformed = []
    for num, k, text in invalid:
        r = num - 1  # 1-based record number within this chunk
        keep[r] = False
        malformed.append(dict(record=spec.first_record + r, line=int(lines[r]), reason="wrong-column-count",
                              detail=f"expected {len(f.columns)} fields, found {k}",
                              original=decode(data[starts[r]:stops[r]], f.encoding).rstrip("\r\n")))
    idx = np.flatnonzero(keep)
    return RawPart(
        spec, table,
        record=(spec.first_record + idx).astype(np.int64),
        line=lines[idx].astype(np.int64),
        offset=(spec.start + starts[idx]).astype(np.int64),
        nbytes=(stops[idx] - starts[idx]).astype(np.int64),
        malformed=malformed, data=data,
    )


def _unnumbered(spec: PartSpec, table: pa.Table, invalid: list, data: bytes) -> RawPart:
    """A ``RawPart`` whose records the scan and the parser counted differently: records numbered in order,
    lines and offsets unknown (-1)."""
    approx = spec.first_record + np.arange(table.num_rows, dtype=np.int64)
    unknown = np.full(table.num_rows, -1, np.int64)
    malformed = [dict(record=-1, line=-1, reason="wrong-column-count",
                      detail=f"expected {len(spec.file.columns)} fields, found {k}", original=text)
                 for _, k, text in invalid]
    return RawPart(spec, table, approx, unknown, unknown, np.zeros(table.num_rows, np.int64), malformed, data)


# ------------------------------------------------------------------------------------------------ Parquet


def _read_parquet_part(spec: PartSpec) -> RawPart:
    f = spec.file
    pf = storage.parquet_file(f.path)
    t = pf.read_row_group(spec.start, columns=[a for _, a in f.column_map])
    t = t.rename_columns([c for c, _ in f.column_map])
    cols = []
    for name, col in zip(t.column_names, t.columns):
        if name in ("duration_s", "duration_ms") and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            cols.append(col.cast(pa.float64()))
            continue
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols.append(_parquet_text(col, f.path, name))
    t = pa.table(cols, names=t.column_names)
    rec = spec.first_record + np.arange(t.num_rows, dtype=np.int64)
    return RawPart(spec, t, rec, rec + 1, rec, np.zeros(t.num_rows, np.int64))


def _parquet_text(col: pa.ChunkedArray, path: str, name: str) -> pa.ChunkedArray:
    """A Parquet column as text; bytes that are not UTF-8 (in a binary column, or a string column a sloppy
    writer filled) read with replacement characters and a warning, as a CSV's are."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:
            col.validate(full=True)
            return col.cast(pa.string())
        except pa.ArrowInvalid:
            col = col.cast(pa.binary()) if pa.types.is_string(col.type) else col.cast(pa.large_binary())
    if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
        try:
            return col.cast(pa.string())
        except pa.ArrowInvalid:
            log.warning("%s: invalid UTF-8 in column %r; read with replacement characters", path, name)
            return pa.chunked_array([pa.array([None if v is None else v.decode("utf-8", errors="replace")
                                               for v in col.to_pylist()], pa.string())])
    return col.cast(pa.string())


def parquet_rows_json(f: CatalogFile, rows: list[int]) -> list[str]:
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
        return parquet_rows_json(f, records)
    order = np.argsort(offsets, kind="stable")
    out = [""] * len(offsets)
    with open_bytes(f.path, f.gzip, f.transcode_from) as fh:
        for i in order:
            if offsets[i] < 0:
                continue
            fh.seek(offsets[i])
            out[i] = decode(fh.read(nbytes[i]), f.encoding).rstrip("\r\n")
    return out
