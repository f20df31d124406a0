"""A music folder as a catalog: walk its audio files, read their tags, write ``catalog.parquet``.

``build_catalog(source, out_dir, config)`` lists the audio files of a folder, URL prefix or glob
(``music_files``), reads each new or changed one as a Dask task over a batch of files (``read_batch``: tags and
stream duration with mutagen, ``tags``; the path's naming rules where a tag is missing, ``path_names``) and
writes ``out_dir/catalog.parquet`` (``catalog_schemas.LIBRARY_CATALOG``: the catalog columns, the file's
format, size and read error, and the rule that gave each value), sorted by ``track_id`` (the file's path under
the folder). A file that cannot be read is a row with its ``file_error``; the walk goes on.

**Re-runs.** Each task stores its rows in ``out_dir/.cache/library/parts/`` before it returns; at the end they
are merged into ``out_dir/.cache/library/files.parquet``, keyed by the file's path, its ``track_id`` and its
stamp (size and mtime, or the object's ETag). A re-run lists the files again and reads only those whose key is
not there: new files, changed files, and the rest of an interrupted walk. Deleting ``.cache/`` only costs time.

Memory: tag reading never decodes audio (mutagen reads headers and tag blocks); the client holds the listing
and the rows (a few hundred bytes per file), the workers one batch each.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import dask
import pyarrow as pa
import pyarrow.compute as pc

from catalog_schemas import LIBRARY_CATALOG, LIBRARY_FIELDS
from miner.music_files import AUDIO_SUFFIXES, MusicFile, MusicListing, list_music
from miner.path_names import names_from_path
from miner.tags import FileFacts, read_file
from vocalmine import storage
from vocalmine.atomic import update_json, write_table
from vocalmine.errors import UserInputError
from vocalmine.scheduling import run_tasks
from vocalmine.settings import setting

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.parquet"
CACHE_DIR = ".cache/library"
#: Bump when what a file's row holds changes for the same file (tag rules, path rules): cached rows are then
#: read again.
READER_VERSION = 1
#: The cache's rows: the catalog's, the file's stamp (JSON) and the reader's version.
CACHE_SCHEMA = pa.schema(list(LIBRARY_CATALOG) + [pa.field("stamp", pa.string()), pa.field("reader", pa.int32())])


@dataclass(frozen=True)
class LibraryConfig:
    """Settings of the music-folder walk. ``files_per_task``: audio files per Dask task (their tags are read in
    one task); ``row_group_rows``: rows per Parquet row group of ``catalog.parquet`` (the metadata stage reads
    one row group per partition)."""

    files_per_task: int = setting(256, "Audio files per tag-reading task (music folders).", low=1)
    row_group_rows: int = 100_000


@dataclass(frozen=True)
class LibrarySummary:
    """What a walk did: ``files`` audio files found (``other_files`` other files left alone), of which
    ``read`` were read in this run and ``cached`` came from an earlier one; ``unreadable`` have a
    ``file_error``; ``titles_from_tags`` / ``titles_from_path`` say where the titles came from; ``seconds``:
    wall time."""

    source: str
    root: str
    files: int
    other_files: int
    read: int
    cached: int
    unreadable: int
    titles_from_tags: int
    titles_from_path: int
    seconds: float
    catalog: str
    other_examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_row(f: MusicFile) -> dict[str, Any]:
    """The ``LIBRARY_CATALOG`` row of one file: tags first, the path's rules for what the tags lack."""
    facts = read_file(f.path) if f.size else FileFacts(error="empty file (0 bytes)")
    row: dict[str, Any] = dict.fromkeys(LIBRARY_CATALOG.names)
    row.update(track_id=f.rel, audio_path=f.path, file_size=f.size, file_format=facts.file_format or None)
    if facts.error:
        row["file_error"] = facts.error
        return row
    values, sources = names_from_path(f.rel)
    values.update(facts.values)
    sources.update(facts.sources)
    for name in LIBRARY_FIELDS:
        row[name] = values.get(name)
        row[f"{name}_source"] = sources.get(name) if name in values else None
    row.update(duration_s=facts.duration_s, duration_source="stream")
    return row


def read_batch(files: list[MusicFile], parts_dir: str) -> pa.Table:
    """The rows of a batch of files (``CACHE_SCHEMA``), also stored in ``parts_dir`` before returning, so an
    interrupted walk keeps them."""
    rows = []
    for f in files:
        row = file_row(f)
        row.update(stamp=json.dumps(f.stamp), reader=READER_VERSION)
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=CACHE_SCHEMA)
    name = hashlib.sha1("\n".join(f"{f.path}\x1f{f.stamp}" for f in files).encode()).hexdigest()[:20]
    write_table(table, storage.join(parts_dir, f"part-{name}.parquet"))
    return table


def _keys(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """Cache key per row: path, track_id and stamp."""
    return pc.binary_join_element_wise(table.column("audio_path"), table.column("track_id"), table.column("stamp"),
                                       "\x1f")


def _cached_rows(cache: Any) -> pa.Table:
    """Every row stored under ``cache`` (files.parquet and the parts of an unfinished walk) of this reader
    version; unreadable cache files are skipped."""
    paths = [storage.join(cache, "files.parquet")] + sorted(storage.glob(storage.join(cache, "parts", "*.parquet")))
    tables = []
    for p in paths:
        if not storage.exists(p):
            continue
        try:
            t = storage.read_parquet(p).cast(CACHE_SCHEMA)
        except (OSError, pa.ArrowInvalid, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable cache file %s: %s", p, exc)
            continue
        tables.append(t.filter(pc.equal(t.column("reader"), READER_VERSION)))
    return pa.concat_tables(tables) if tables else CACHE_SCHEMA.empty_table()


def _listing_table(listing: MusicListing) -> pa.Table:
    return pa.table({"audio_path": [f.path for f in listing.files], "track_id": [f.rel for f in listing.files],
                     "stamp": [json.dumps(f.stamp) for f in listing.files]})


def _read_new(listing: MusicListing, cached: pa.Table, cache: Any, config: LibraryConfig, scheduler: str | None,
              progress: bool) -> tuple[pa.Table, int]:
    """(the rows of every listed file: cached ones reused, the others read as Dask tasks; files read)."""
    keys = _keys(_listing_table(listing)).to_pylist()
    first: dict[str, int] = {}  # key -> its first cached row (a part and files.parquet may both hold a file)
    for i, k in enumerate(_keys(cached).to_pylist()):
        first.setdefault(k, i)
    listed = set(keys)
    reuse = cached.take(pa.array(sorted(i for k, i in first.items() if k in listed), pa.int64()))
    todo = [f for f, k in zip(listing.files, keys) if k not in first]
    parts = storage.join(cache, "parts")
    storage.makedirs(parts)
    step = max(1, config.files_per_task)
    task = dask.delayed(read_batch, pure=True)
    tasks = [task(todo[i:i + step], str(parts),
                  dask_key_name="read-tags-" + hashlib.sha1(todo[i].path.encode()).hexdigest()[:16] + f"-{i}")
             for i in range(0, len(todo), step)]
    tables = run_tasks(tasks, scheduler, None, progress, desc="files")
    rows = pa.concat_tables([reuse, *tables]) if tables else reuse
    return rows.sort_by("track_id"), len(todo)


def _summary(source: str, listing: MusicListing, rows: pa.Table, read: int, seconds: float,
             catalog: str) -> LibrarySummary:
    title_sources = rows.column("title_source").to_pylist()
    return LibrarySummary(
        source=source, root=listing.root, files=rows.num_rows, other_files=listing.other_files, read=read,
        cached=rows.num_rows - read, unreadable=rows.num_rows - rows.column("file_error").null_count,
        titles_from_tags=sum(1 for s in title_sources if s and s.startswith("tag:")),
        titles_from_path=sum(1 for s in title_sources if s and s.startswith("path:")),
        seconds=round(seconds, 3), catalog=catalog, other_examples=list(listing.other_examples))


def build_catalog(source: Any, out_dir: Any, config: LibraryConfig = LibraryConfig(), scheduler: str | None = None,
                  progress: bool = False) -> LibrarySummary:
    """Walk the music folder (or URL prefix, glob, audio file) ``source`` and write ``out_dir/catalog.parquet``
    and the ``library`` section of ``out_dir/summary.json``; re-runs read only new or changed files (module
    doc). Raises ``UserInputError`` when ``source`` is missing or holds no audio file."""
    t0 = time.perf_counter()
    listing = list_music(source)
    if not listing.files:
        raise UserInputError(f"{source}: no audio files found (names ending in {', '.join(AUDIO_SUFFIXES)})")
    out = storage.join(storage.absolute(out_dir))
    cache = storage.join(out, CACHE_DIR)
    storage.makedirs(cache)
    log.info("%s: %d audio files, %d other files", source, len(listing.files), listing.other_files)
    rows, read = _read_new(listing, _cached_rows(cache), cache, config, scheduler, progress)
    write_table(rows, storage.join(cache, "files.parquet"))
    storage.rmtree(storage.join(cache, "parts"))
    catalog = write_table(rows.select(LIBRARY_CATALOG.names).cast(LIBRARY_CATALOG), storage.join(out, CATALOG_FILE),
                          inputs=(), row_group_size=config.row_group_rows)
    summary = _summary(str(source), listing, rows, read, time.perf_counter() - t0, str(catalog))
    update_json(storage.join(out, "summary.json"), "library", summary.to_dict())
    return summary
