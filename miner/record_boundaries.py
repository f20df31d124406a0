"""Where the records of CSV/TSV bytes start and end: a record ends at a newline outside quotes.

Real exports quote fields that hold commas and newlines. ``boundary_newlines`` finds the record-ending
newlines with numpy (quote parity) and falls back to a sequential walk over the quotes only when a quote
appears in the middle of an unquoted field (``exact_toggles``). Buffers are ``np.uint8`` views of bytes;
positions are byte offsets into them.
"""

from __future__ import annotations

import numpy as np

QUOTE, NL, CR = 0x22, 0x0A, 0x0D


def exact_toggles(buf: np.ndarray, quotes: np.ndarray, delimiter: int, inside: bool) -> np.ndarray:
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


def boundary_newlines(buf: np.ndarray, newlines: np.ndarray, delimiter: int, inside: bool
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
    toggles = quotes if not stray.any() else exact_toggles(buf, quotes, delimiter, inside)
    before = np.searchsorted(toggles, newlines)
    outside = ((before & 1) == 1) == inside
    return newlines[outside], inside ^ bool(toggles.size & 1)


def record_starts(buf: np.ndarray, ends: np.ndarray, first_is_start: bool = True) -> np.ndarray:
    """Byte offsets where non-empty records start, given the record-ending newlines."""
    cand = ends + 1
    if first_is_start:
        cand = np.concatenate([np.zeros(1, np.int64), cand])
    cand = cand[cand < len(buf)]
    first = buf[cand]
    return cand[(first != NL) & (first != CR)]

