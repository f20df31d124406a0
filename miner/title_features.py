"""Title cores of the rows of a block, and their variants without alternate titles.

A title's *core* (``normalize.title_cores``) is what the matching rules compare once the instrumental marker
is removed; a title with an alternate title in brackets ("Lie (죽어도 너야)") has a second core without it
(``alternates``), so it can match a title written without the alternate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from miner.alternates import alternate_free
from miner.markers import MarkerSet
from miner.normalize import fold, title_cores


def core_variants(rows: np.ndarray, cores: np.ndarray, alt_cores: np.ndarray, has_alt: np.ndarray | None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strings, row, is_alternate) of the core variants of ``rows``: each core, then the cores without the
    alternate titles of the rows that have one (``has_alt`` None: no row has one)."""
    if has_alt is None:
        return cores[rows], rows, np.zeros(len(rows), bool)
    extra = rows[has_alt[rows]]
    strings = np.concatenate([cores[rows], alt_cores[extra]]) if len(extra) else cores[rows]
    owner = np.concatenate([rows, extra]) if len(extra) else rows
    alt = np.zeros(len(owner), bool)
    alt[len(rows):] = True
    return strings, owner, alt


@dataclass
class TitleFeatures:
    """Per row: ``folded`` title with the marker removed, the ``markers`` as written, the ``cores``
    (``has_core``: non-empty) and the cores without alternate titles (``alt_cores``; ``has_alt``: present and
    different from the core)."""

    folded: list[str]
    markers: np.ndarray
    cores: np.ndarray
    has_core: np.ndarray
    alt_cores: np.ndarray
    has_alt: np.ndarray


def title_features(titles: pa.Array, marked: np.ndarray, markers: MarkerSet) -> TitleFeatures:
    """``TitleFeatures`` of raw ``titles`` ([n]) whose ``marked`` ones carry an instrumental marker."""
    n = len(titles)
    folded = fold(titles).to_pylist()
    found = np.full(n, "", dtype=object)
    marked_idx = np.flatnonzero(marked)
    raw_marked = titles.take(pa.array(marked_idx)).to_pylist()
    for i, raw in zip(marked_idx.tolist(), raw_marked):
        folded[i], found[i] = markers.strip(folded[i], raw)
    cores_arr = title_cores(pa.array(folded, pa.string()))
    has_core = pc.not_equal(cores_arr, "").to_numpy(zero_copy_only=False)
    cores = np.asarray(cores_arr.to_numpy(zero_copy_only=False), dtype=object)
    alt_free = alternate_free(folded)
    alt_idx = [i for i, a in enumerate(alt_free) if a is not None]
    alt_cores = np.full(n, None, dtype=object)
    if alt_idx:
        alt_cores[alt_idx] = title_cores(pa.array([alt_free[i] for i in alt_idx], pa.string())).to_pylist()
    has_alt = np.zeros(n, bool)
    for i in alt_idx:
        has_alt[i] = bool(alt_cores[i]) and alt_cores[i] != cores[i]
    return TitleFeatures(folded, found, cores, has_core, alt_cores, has_alt)

