"""The catalog (input) and the rows rejected from it."""

from __future__ import annotations

import pyarrow as pa

from catalog_schemas._fields import field, schema

CATALOG_REQUIRED = ("track_id", "artist", "title")
DURATION_COLUMNS = ("duration_s", "duration_ms")
CATALOG_OPTIONAL = ("album", "isrc", "genre", "release_date", "audio_path", "label", "file_error")

CATALOG = schema(
    [
        field("track_id", pa.string(), "Unique id of the track in the catalog (any string).", nullable=False),
        field("artist", pa.string(), "Artist credit as the catalog spells it.", nullable=False),
        field("title", pa.string(), "Track title as the catalog spells it.", nullable=False),
        field("duration_s", pa.float64(), "Duration in seconds (or give `duration_ms` in milliseconds instead)."),
        field("album", pa.string(), "Optional: release title."),
        field("isrc", pa.string(), "Optional: ISRC code."),
        field("genre", pa.string(), "Optional: genre, used by the report's genre table."),
        field("release_date", pa.string(), "Optional: release date as written (ISO 8601 preferred)."),
        field("label", pa.string(), "Optional: record label, used by the report."),
        field("audio_path", pa.string(), "Optional: path of the audio file, absolute or relative to the catalog file."),
        field("file_error", pa.string(), "Optional: why the audio file could not be read (the music-folder walk writes "
              "it); a non-empty value rejects the row as `unreadable-file`, with this as its detail."),
    ],
    "The catalog a user gives to `mine-pairs`: CSV (also .csv.gz), TSV or Parquet, a file, a directory of "
    "part-files or a glob. Required: track_id, artist, title and one of duration_s / duration_ms. "
    "Other columns pass through untouched.",
)

REJECTED_ROWS = schema(
    [
        field("source", pa.string(), "The file the row came from.", nullable=False),
        field("line", pa.int64(), "1-based line (CSV/TSV: physical line where the record starts) or row number (Parquet)."),
        field("track_id", pa.string(), "The row's track_id as read (may be empty)."),
        field("reason", pa.string(),
              "Why the row was not used (the first that applies): wrong-column-count, empty-track_id, "
              "empty-artist, empty-title, missing-duration, bad-duration, nonpositive-duration, unreadable-file "
              "(a music folder's file that could not be read: `file_error`), "
              "duplicate-track_id (every occurrence of a track_id after the first in catalog order: files "
              "by name, then line).", nullable=False),
        field("detail", pa.string(),
              "More about the reason: for duplicate-track_id where the first occurrence is (file:line), "
              "for wrong-column-count the field counts, for bad-duration the value and the accepted formats "
              "(seconds, milliseconds, m:ss, h:mm:ss); empty otherwise."),
        field("original", pa.string(),
              "The original record: CSV/TSV its text as in the file (without the line ending), "
              "Parquet a JSON object of its column values."),
    ],
    "`rejected_rows.parquet`: every catalog row that was not used, with the reason. "
    "rows read = rows used + rows rejected.",
)
