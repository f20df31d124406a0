"""Cut a catalog into partitions that Dask reads in parallel: a Parquet row group, a whole ``.gz`` (or
transcoded, or CR-only) file, or a byte range of a plain CSV/TSV file that starts and ends on a record
boundary (a newline outside quotes: ``record_boundaries``). The same scan numbers every range with the
physical line and the record where it starts, so a rejected row is reported with the line a text editor
shows, quoted newlines included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miner.catalog_files import CatalogFile
from miner.record_boundaries import NL, boundary_newlines, record_starts
from miner.text_encodings import open_bytes
from vocalmine import storage

#: Bytes of CSV/TSV per partition (``--blocksize``).
DEFAULT_BLOCKSIZE = 32 * 2**20


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
            ends, inside = boundary_newlines(buf, nl, delim, inside)
            rec += len(record_starts(buf, ends, first_is_start=not was_inside))
            line += len(nl)
            pos += len(chunk)
            if not inside:
                out.append((part[0], pos, part[1], part[2]))
                part = (pos, line, rec)
        if pos > part[0]:
            out.append((part[0], pos, part[1], part[2]))
    return out


def read_bytes(f: CatalogFile, start: int, stop: int) -> bytes:
    """The bytes ``[start, stop)`` of ``f`` as read (decompressed, transcoded; ``stop`` -1: to the end), CRs
    taken as newlines in a CR-only file."""
    with open_bytes(f.path, f.gzip, f.transcode_from) as fh:
        if f.gzip or f.transcode_from:
            data = fh.read()[start: None if stop < 0 else stop]
        else:
            fh.seek(start)
            data = fh.read() if stop < 0 else fh.read(stop - start)
    return data.replace(b"\r", b"\n") if f.cr_only else data
