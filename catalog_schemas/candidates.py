"""Candidate pairs found from metadata alone (the miner's output)."""

from __future__ import annotations

import pyarrow as pa

from catalog_schemas._fields import field, schema

CANDIDATES = schema(
    [
        field("original_id", pa.string(), "track_id of the original (the title without the marker).", nullable=False),
        field("instrumental_id", pa.string(), "track_id of the instrumental (the title with the marker).", nullable=False),
        field("artist", pa.string(), "Artist credit of the original, as the catalog spells it."),
        field("artist_key", pa.string(), "Normalised key of the artist the pair was blocked on: one the original's and the "
              "instrumental's credits share (the first in key order when they share several)."),
        field("original_title", pa.string(), "Title of the original, as in the catalog."),
        field("instrumental_title", pa.string(), "Title of the instrumental, as in the catalog."),
        field("marker", pa.string(), "The instrumental marker found in the instrumental's title, as written."),
        field("title_score", pa.float64(), "rapidfuzz similarity (0-100) of the normalised titles after removing the marker "
              "(and, where that made them pair, an alternate title in brackets from one side)."),
        field("original_duration_s", pa.float64(), "Catalog duration of the original, seconds."),
        field("instrumental_duration_s", pa.float64(), "Catalog duration of the instrumental, seconds."),
        field("duration_delta_s", pa.float64(), "instrumental_duration_s - original_duration_s."),
        field("original_audio_path", pa.string(), "Absolute audio path of the original (null when the catalog has none)."),
        field("instrumental_audio_path", pa.string(), "Absolute audio path of the instrumental (null when the catalog has none)."),
        field("genre", pa.string(), "Genre of the original, when the catalog has one."),
        field("label", pa.string(), "Label of the original, when the catalog has one."),
        field("release_date", pa.string(), "Release date of the original, when the catalog has one."),
    ],
    "`candidates.parquet`: one row per (original, instrumental) candidate pair from metadata, sorted by "
    "(artist_key, original_id, instrumental_id).",
)
