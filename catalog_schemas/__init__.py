"""Arrow schemas of every table vocalmine reads or writes: the one place that says what the tables are.

Each schema's fields carry a ``doc`` metadata entry; ``python -m catalog_schemas`` renders them into
``docs/schemas.md`` (a test checks that file is current).

Conventions used across the project:
- ids are the catalog's ``track_id`` values, as strings;
- durations and times are seconds (``_s``), gains are decibels (``_db``);
- ``offset_s`` of a pair: the instrumental's content starts ``offset_s`` seconds later in the instrumental
  file than the same content in the original file, i.e. ``instrumental[t + offset_s] ~= g * accompaniment[t]``
  with ``g = polarity * 10 ** (gain_db / 20)``. To align, drop ``offset_s`` seconds from the instrumental's
  start (or pad when negative) and divide by ``g``.
"""

from __future__ import annotations

import pyarrow as pa

from catalog_schemas._fields import field, schema
from catalog_schemas.catalog import (
    CATALOG,
    CATALOG_OPTIONAL,
    CATALOG_REQUIRED,
    DURATION_COLUMNS,
    REJECTED_ROWS,
)
from catalog_schemas.candidates import CANDIDATES
from catalog_schemas.library import KNOWN_PAIRS, LIBRARY_CATALOG, LIBRARY_FIELDS
from catalog_schemas.pairs import PAIRS
from catalog_schemas.shards import PATCH_BINS, PATCH_FRAMES, SHARD, TENSOR_COLUMNS

__all__ = [
    "field",
    "schema",
    "CATALOG",
    "CATALOG_OPTIONAL",
    "CATALOG_REQUIRED",
    "DURATION_COLUMNS",
    "REJECTED_ROWS",
    "CANDIDATES",
    "KNOWN_PAIRS",
    "LIBRARY_CATALOG",
    "LIBRARY_FIELDS",
    "PAIRS",
    "SHARD",
    "PATCH_BINS",
    "PATCH_FRAMES",
    "TENSOR_COLUMNS",
    "ALL_SCHEMAS",
]


ALL_SCHEMAS: dict[str, pa.Schema] = {
    "catalog": CATALOG,
    "rejected_rows": REJECTED_ROWS,
    "library_catalog": LIBRARY_CATALOG,
    "known_pairs": KNOWN_PAIRS,
    "candidates": CANDIDATES,
    "pairs": PAIRS,
    "shard": SHARD,
}
