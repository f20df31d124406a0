"""Validate catalog rows: the reasons a row is rejected, and durations parsed to seconds.

Empty ``track_id``/``artist``/``title`` and missing, non-numeric or non-positive durations are reasons, in
that order of precedence (``validate_rows``); above them all, a non-empty ``file_error`` (a music folder's
file that could not be read, ``miner.library``) is ``unreadable-file``. A duration may be a number of seconds
(``duration_s``) or milliseconds (``duration_ms``), or a clock time ("3:35", "1:02:03") in either.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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

            def num(name: str) -> np.ndarray:
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
    bad-duration, the ``file_error`` for an unreadable-file, else empty."""
    dur_col = "duration_s" if "duration_s" in table.column_names else "duration_ms"
    bad = [i for i in rows.tolist() if reasons[i] == "bad-duration"]
    values = dict(zip(bad, table.column(dur_col).take(pa.array(bad, pa.int64())).to_pylist())) if bad else {}
    unreadable = [i for i in rows.tolist() if reasons[i] == "unreadable-file"]
    errors = (dict(zip(unreadable, table.column("file_error").take(pa.array(unreadable, pa.int64())).to_pylist()))
              if unreadable else {})
    return [bad_duration_detail(values[i], dur_col) if i in values else errors.get(i, "") for i in rows.tolist()]


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
    if "file_error" in table.column_names:
        checks.append((~_empty(table.column("file_error")), "unreadable-file"))
    for mask, reason in checks:  # lowest precedence first; later ones overwrite
        reasons[mask] = reason
    return reasons, dur
