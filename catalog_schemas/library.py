"""A music folder read as a catalog (``catalog.parquet``) and a list of pairs a person already has."""

from __future__ import annotations

import pyarrow as pa

from catalog_schemas._fields import field, schema
from catalog_schemas.catalog import CATALOG

#: The fields a music file's tags or path may give, in the catalog's column order; each has a ``<name>_source``.
LIBRARY_FIELDS = ("artist", "title", "album", "isrc", "genre", "release_date", "label", "album_artist",
                  "track_number")

_SOURCE_DOC = ("Which rule gave `{name}`: `tag:id3`, `tag:vorbis`, `tag:mp4`, `tag:ape`, `tag:asf` or `tag:riff-info` "
               "(the file's tags){extra}, `path:number-artist-title` (`NN - Artist - Title.ext`), "
               "`path:artist-title` (`Artist - Title.ext`), `path:number-title` (`NN Title.ext`), `path:title` "
               "(the whole file name), `path:folders` (`Artist/Album/` folders); empty when none did.")

LIBRARY_CATALOG = schema(
    [
        field("track_id", pa.string(), "The file's path under the folder given to `mine-pairs`, `/`-separated "
              "(`Artist/Album/01 Title.flac`).", nullable=False),
        *[f.with_nullable(True) for f in CATALOG if f.name not in ("track_id", "file_error")],
        field("album_artist", pa.string(), "Album artist (ID3 TPE2, ALBUMARTIST, aART).", ),
        field("track_number", pa.string(), "Track number as written, without the total (`3` of `3/12`)."),
        field("file_error", pa.string(), "Why the file could not be read (null when it was): the row's tags, "
              "duration and sources are then null, and the metadata stage rejects it as `unreadable-file` with this "
              "detail."),
        field("file_format", pa.string(),
              "The container mutagen read: flac, mp3, mp4, oggvorbis, oggopus, wave, aiff, ..."),
        field("file_size", pa.int64(), "Bytes."),
        *[field(f"{name}_source", pa.string(), _SOURCE_DOC.format(
            name=name, extra="; for `artist`, `tag:<kind>:albumartist` when only the album artist was tagged"
            if name == "artist" else ""))
          for name in LIBRARY_FIELDS],
        field("duration_source", pa.string(), "`stream`: the duration is the audio stream's (mutagen's stream "
              "info: FLAC STREAMINFO, the MP3 frames and their Xing/LAME header, the MP4 track, the WAV data chunk), "
              "never a tag such as ID3 TLEN."),
    ],
    "`catalog.parquet` of a music folder (`mine-pairs DIR`): one row per audio file found under DIR, the catalog "
    "columns read from its tags (mutagen) or, where a tag is missing, from its path, with the rule that gave each "
    "value. Edit it and mine it again as a catalog: `mine-pairs pairs/catalog.parquet -o pairs2/`.",
)

KNOWN_PAIRS = schema(
    [
        field("original", pa.string(), "Path or URL of the original (the mix), absolute or relative to the list's "
              "folder.", nullable=False),
        field("instrumental", pa.string(), "Path or URL of its instrumental.", nullable=False),
        field("original_id", pa.string(), "Optional: the original's id (default: `original` as written)."),
        field("instrumental_id", pa.string(), "Optional: the instrumental's id (default: `instrumental` as written)."),
        field("artist", pa.string(), "Optional: the artist credit (default: the original's tags or path)."),
        field("original_title", pa.string(), "Optional: title of the original (default: its tags or path)."),
        field("instrumental_title", pa.string(), "Optional: title of the instrumental (default: its tags or path)."),
        field("original_duration_s", pa.float64(), "Optional: the original's expected duration, s (default: its "
              "stream's); the audio stage rejects a file decoding to under 75 % of it as `too-short`."),
        field("instrumental_duration_s", pa.float64(), "Optional: the instrumental's expected duration, s."),
    ],
    "`mine-pairs --pairs pairs.csv`: pairs a person already has (CSV with a header; other columns are ignored). "
    "The metadata stage is skipped: each row becomes a candidate of the audio stage.",
)
