"""The metadata stage as a Dask graph: catalog -> candidates.parquet, rejected_rows.parquet, summary.json.

1. **Read and prepare** (one task per partition, ``catalog_io``): parse, validate, detect markers, compute
   artist keys and a hash of each ``track_id``. The good rows go to a partition file in a work folder beside
   the outputs (Arrow IPC), the rejected rows to another, so later steps never hold the whole catalog; the
   task returns its counts and the artist keys of its marked titles.
2. **Duplicates** (hash-partitioned): the rows are cut into buckets by a hash of their ``track_id``; each
   bucket finds the repeated hashes with numpy and compares those few rows by their actual ``track_id``:
   every occurrence after the first in catalog order (files by name, then line) is rejected as
   ``duplicate-track_id``. Only rows that passed step 1 take part, so a broken first occurrence never
   costs a good later one.
3. **Blocks**: only rows whose artist key has a marked title anywhere in the catalog can take part in a
   pair; the others are dropped before the shuffle. The rest is shuffled by artist key, so each block
   lies whole in one partition, and ``match.match_partition`` runs on each partition.
4. **Outputs**: ``rejected_rows.parquet`` is streamed partition by partition in catalog order;
   ``candidates.parquet`` is sorted by (artist_key, original_id, instrumental_id).

Memory is bounded by a partition (``blocksize``) and by the largest artist block, not by the catalog.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os

import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from catalog_schemas import CANDIDATES, REJECTED_ROWS
from miner.catalog_io import (
    DEFAULT_BLOCKSIZE,
    CatalogFile,
    PartSpec,
    open_catalog,
    original_texts,
    plan_partitions,
    read_partition,
    row_details,
    validate_rows,
)
from miner.evidence import DEFAULT_COMPOSERS, DEFAULT_GENRES, DEFAULT_KINDS, DEFAULT_UNINFORMATIVE, ReleaseEvidence
from miner.giants import split_giants
from miner.markers import MarkerSet
from miner.match import BLOCK_COLUMNS, MatchRules, match_partition
from miner.normalize import credit_keys, fold
from vocalmine import storage
from vocalmine.atomic import atomic_path, update_json, write_table
from vocalmine.errors import UserInputError
from vocalmine.scheduling import dask_client, scheduler_address

log = logging.getLogger(__name__)

WORK_PREFIX = ".mine-work-"
#: A partition reports the row count of each artist key that holds at least this many of its rows (giant
#: blocks are found from their sum; smaller counts cannot add up to ``MinerConfig.giant_rows`` unnoticed
#: unless a catalog has more than giant_rows / _BIG_IN_PART partitions).
_BIG_IN_PART = 1000


@dataclass(frozen=True)
class MinerConfig:
    """Settings of the metadata stage.

    ``extra_markers``: marker phrases added to ``markers.DEFAULT_MARKERS``; ``title_threshold``: minimum
    rapidfuzz ratio (0-100) of the title cores; ``duration_tolerance_s``/``duration_tolerance_rel``: allowed
    duration difference (seconds, fraction of the longer track; the larger applies); ``strict``: stop at the
    first bad row; ``blocksize``: bytes of CSV per partition; ``encoding``: text encoding of CSV/TSV files,
    header included (a UTF-16/UTF-32 byte-order mark overrides it); ``progress``: show Dask progress bars on stderr; ``wave_rows``: catalog rows
    per matching wave (bounds the memory of the shuffle); ``uninformative_artists`` / ``uninformative_genres``:
    credits and genres whose pairs also need evidence of the same release, one of ``release_evidence``
    (album, date, isrc, label), dates at most ``release_max_days`` apart (``evidence.ReleaseEvidence``);
    ``giant_rows``: an artist block of at least this many rows is split into sub-blocks by title length
    (``giants``), each its own task."""

    extra_markers: tuple[str, ...] = ()
    title_threshold: float = 90.0
    duration_tolerance_s: float = 3.0
    duration_tolerance_rel: float = 0.01
    strict: bool = False
    blocksize: int = DEFAULT_BLOCKSIZE
    encoding: str = "utf-8"
    progress: bool = False
    wave_rows: int = 2_000_000
    uninformative_artists: tuple[str, ...] = DEFAULT_UNINFORMATIVE + DEFAULT_COMPOSERS
    uninformative_genres: tuple[str, ...] = DEFAULT_GENRES
    release_evidence: tuple[str, ...] = DEFAULT_KINDS
    release_max_days: int = 31
    giant_rows: int = 50_000

    def __post_init__(self) -> None:
        if not 0 <= self.title_threshold <= 100:
            raise ValueError(f"title_threshold must be within 0..100, got {self.title_threshold}")
        if self.duration_tolerance_s < 0 or self.duration_tolerance_rel < 0:
            raise ValueError("duration tolerances must not be negative")
        if self.blocksize < 1 or self.wave_rows < 1 or self.giant_rows < 1:
            raise ValueError("blocksize, wave_rows and giant_rows must be positive")
        if self.release_max_days < 0:
            raise ValueError("release_max_days must not be negative")
        self.markers  # noqa: B018 (an empty marker phrase raises here, not in a worker)
        self.evidence  # noqa: B018 (an unknown evidence kind raises here)

    @property
    def markers(self) -> MarkerSet:
        return MarkerSet.with_extra(self.extra_markers)

    @property
    def evidence(self) -> ReleaseEvidence:
        return ReleaseEvidence.build(self.uninformative_artists, self.uninformative_genres, self.release_evidence,
                                     self.release_max_days)

    @property
    def rules(self) -> MatchRules:
        return MatchRules(self.markers, self.title_threshold, self.duration_tolerance_s, self.duration_tolerance_rel,
                          self.evidence)


@dataclass(frozen=True)
class MineSummary:
    """What a run did; ``to_dict()`` is the ``metadata`` section of ``summary.json``.

    Funnel: ``rows_read`` = ``rows_used`` + ``rows_rejected``; ``marked`` of the used rows carry an
    instrumental marker; ``blocks`` artist blocks hold a marked title; ``compared`` title scores were
    computed in them (``blocking.candidate_pairs``: only titles that can reach the threshold); ``candidates``
    pairs passed every rule, covering ``instrumentals_matched`` instrumentals and ``originals_matched``
    originals. ``same_release_checked`` pairs passed the title and duration rules in a block of an
    uninformative credit (``evidence``), of which ``same_release_missing`` were rejected for showing no
    evidence of the same release. ``giant_blocks`` blocks of at least ``config.giant_rows`` rows were split
    into ``giant_sub_blocks`` sub-blocks by title length (``giants``)."""

    rows_read: int
    rows_used: int
    rows_rejected: int
    rejected_by_reason: dict[str, int]
    marked: int
    blocks: int
    compared: int
    candidates: int
    instrumentals_matched: int
    originals_matched: int
    files: int
    partitions: int
    seconds: float
    catalog: str
    out_dir: str
    same_release_checked: int = 0
    same_release_missing: int = 0
    giant_blocks: int = 0
    giant_sub_blocks: int = 0
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------- step 1: read, prepare

_WORK_SCHEMA = pa.schema([
    ("src", pa.int32()), ("record", pa.int64()), ("line", pa.int64()), ("offset", pa.int64()),
    ("nbytes", pa.int64()), ("track_id", pa.string()), ("artist", pa.string()), ("title", pa.string()),
    ("duration_s", pa.float64()), ("audio_path", pa.string()), ("genre", pa.string()), ("label", pa.string()),
    ("release_date", pa.string()), ("album", pa.string()), ("isrc", pa.string()), ("artist_key", pa.string()),
    ("other_keys", pa.list_(pa.string())), ("marked", pa.bool_()), ("id_hash", pa.uint64()),
])
_REJECT_WORK = pa.schema([pa.field("src", pa.int32()), pa.field("record", pa.int64())] + list(REJECTED_ROWS))


def _absolute_paths(col: pa.ChunkedArray | pa.Array, base: str) -> pa.Array:
    """Audio paths made absolute against the catalog file's folder; empty -> null."""
    p = pc.utf8_trim_whitespace(pc.fill_null(col, ""))
    if isinstance(p, pa.ChunkedArray):
        p = p.combine_chunks()
    empty = pc.equal(p, "")
    is_abs = pc.or_(pc.starts_with(p, "/"), pc.match_substring_regex(p, r"^[A-Za-z][A-Za-z0-9+.\-]*://"))
    messy = pc.match_substring_regex(p, r"(^|/)\.\.?(/|$)|//|\\")
    joined = pc.binary_join_element_wise(pa.scalar(base.rstrip("/")), p, "/")
    out = pc.if_else(is_abs, p, joined)
    messy_np = pc.and_(messy, pc.invert(pc.or_(empty, is_abs))).to_numpy(zero_copy_only=False)
    if messy_np.any():
        vals = out.to_pylist()
        raw = p.to_pylist()
        for i in np.flatnonzero(messy_np):
            vals[i] = storage.resolve(raw[i].replace("\\", "/"), base)
        out = pa.array(vals, pa.string())
    return pc.if_else(empty, pa.scalar(None, pa.string()), out)


def _strict_error(f: CatalogFile, line: int, reason: str, track_id: str | None, detail: str = "") -> UserInputError:
    where = f"{f.path}:{line}" if line >= 0 else f.path
    extra = f" ({detail})" if detail else ""
    return UserInputError(f"{where}: bad row, {reason}{extra}, track_id {track_id!r}. "
                          "Stopped because of --strict; without it the row goes to rejected_rows.parquet.")


def detect_markers(titles: pa.ChunkedArray | pa.Array, markers: MarkerSet) -> pa.Array:
    """Which titles carry an instrumental marker ([n] bool). ASCII titles are matched case-insensitively as
    they are (the same as folding them first); the others are folded (NFKC, lower case) first."""
    titles = titles.combine_chunks() if isinstance(titles, pa.ChunkedArray) else titles
    is_ascii = pc.string_is_ascii(pc.fill_null(titles, "")).to_numpy(zero_copy_only=False)
    pattern = markers.detect_pattern
    if is_ascii.all():
        return pc.match_substring_regex(titles, pattern, ignore_case=True)
    out = pc.match_substring_regex(titles, pattern, ignore_case=True).to_numpy(zero_copy_only=False).copy()
    other = np.flatnonzero(~is_ascii)
    out[other] = pc.match_substring_regex(fold(titles.take(pa.array(other))), pattern).to_numpy(zero_copy_only=False)
    return pa.array(out)


def prepare_partition(spec: PartSpec, config: MinerConfig, work_dir: str) -> dict[str, Any]:
    """Step 1 for one partition: write its good rows (``_WORK_SCHEMA``) and its rejected rows
    (``_REJECT_WORK``) to ``work_dir``; return their paths, the counts and the artist keys of its marked
    titles. With ``config.strict`` a bad row raises ``UserInputError`` instead."""
    raw = read_partition(spec, config.encoding)
    f = spec.file
    t = raw.table
    reasons, dur = validate_rows(t)
    bad = np.flatnonzero(reasons != None)  # noqa: E711 (object array)
    tid = t.column("track_id").to_pylist() if len(bad) else []
    details = row_details(t, reasons, bad)
    rej = [dict(src=f.index, record=m["record"], detail=m["detail"], source=f.path, line=m["line"],
                track_id=None, reason=m["reason"], original=m["original"]) for m in raw.malformed]
    rej += [dict(src=f.index, record=int(raw.record[i]), detail=d, source=f.path, line=int(raw.line[i]),
                 track_id=tid[i], reason=reasons[i], original=text)
            for i, d, text in zip(bad, details, raw.original_texts(bad))]
    if config.strict and rej:
        first = min(rej, key=lambda r: r["record"])
        raise _strict_error(f, first["line"], first["reason"], first["track_id"], first["detail"])
    good = reasons == None  # noqa: E711
    sub = t.filter(pa.array(good))
    n = sub.num_rows
    marked = detect_markers(sub.column("title"), config.markers)
    keys, others = credit_keys(sub.column("artist"))
    track_ids = sub.column("track_id").combine_chunks()
    hashes = (pd.util.hash_pandas_object(track_ids.to_pandas(), index=False).to_numpy()
              if n else np.zeros(0, np.uint64))

    def optional(name: str) -> pa.Array:
        if name not in sub.column_names:
            return pa.nulls(n, pa.string())
        col = pc.utf8_trim_whitespace(sub.column(name).combine_chunks())
        return pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)

    audio = (_absolute_paths(sub.column("audio_path"), os.path.dirname(f.path))
             if "audio_path" in sub.column_names else pa.nulls(n, pa.string()))
    work = pa.table([
        pa.array(np.full(n, f.index, np.int32)), pa.array(raw.record[good]), pa.array(raw.line[good]),
        pa.array(raw.offset[good]), pa.array(raw.nbytes[good]), track_ids,
        sub.column("artist").combine_chunks(), sub.column("title").combine_chunks(), pa.array(dur[good]),
        audio, optional("genre"), optional("label"), optional("release_date"), optional("album"), optional("isrc"),
        keys, others, marked, pa.array(hashes),
    ], schema=_WORK_SCHEMA)
    path = os.path.join(work_dir, f"part-{spec.index:06d}.arrow")
    _write_ipc(work, path)
    rejected_path = None
    if rej:
        rejected_path = os.path.join(work_dir, f"rejected-{spec.index:06d}.arrow")
        _write_ipc(pa.Table.from_pylist(rej, schema=_REJECT_WORK), rejected_path)
    all_keys = pa.concat_arrays([keys, pc.list_flatten(others)]) if n else pa.array([], pa.string())
    counts = pc.value_counts(all_keys)
    at_least = min(_BIG_IN_PART, config.giant_rows)
    big = pc.greater_equal(counts.field("counts"), at_least) if len(counts) else pa.array([], pa.bool_())
    big_keys = dict(zip(counts.field("values").filter(big).to_pylist(), counts.field("counts").filter(big).to_pylist()))
    marked_keys = (pc.unique(pa.concat_arrays([keys.filter(marked), pc.list_flatten(others.filter(marked))]))
                   .to_pylist() if n else [])
    reasons_count: dict[str, int] = {}
    for r in rej:
        reasons_count[r["reason"]] = reasons_count.get(r["reason"], 0) + 1
    return {
        "path": path,
        "rows_read": t.num_rows + len(raw.malformed),
        "rows_used": n,
        "marked": int(pc.sum(marked).as_py() or 0),
        "marked_keys": marked_keys,
        "big_keys": big_keys,
        "rejected_path": rejected_path,
        "rejected_by_reason": reasons_count,
    }


def _write_ipc(table: pa.Table, path: str) -> None:
    with storage.atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, \
            pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_work(path: str, columns: list[str] | None = None) -> pa.Table:
    if storage.is_url(path):  # work files on object storage: no folder shared by the workers
        t = pa.ipc.open_file(pa.BufferReader(storage.read_bytes(path))).read_all()
        return t.select(columns) if columns else t
    with pa.memory_map(path) as src:
        t = pa.ipc.open_file(src).read_all()
    return t.select(columns) if columns else t


# ------------------------------------------------------------------------------------ step 2: duplicates


_DUP_COLUMNS = ["id_hash", "src", "record", "line", "offset", "nbytes", "marked", "track_id"]
_LATER = pa.schema([("src", pa.int32()), ("record", pa.int64()), ("line", pa.int64()), ("offset", pa.int64()),
                    ("nbytes", pa.int64()), ("marked", pa.bool_()), ("track_id", pa.string()),
                    ("first_src", pa.int32()), ("first_line", pa.int64())])


def split_by_hash(path: str, buckets: int) -> list[pa.Table]:
    """The rows of a work file (id hash, position, track_id) cut into ``buckets`` by ``hash % buckets``."""
    t = _read_work(path, _DUP_COLUMNS)
    b = t.column("id_hash").to_numpy() % np.uint64(buckets)
    order = np.argsort(b, kind="stable")
    bounds = np.searchsorted(b[order], np.arange(buckets + 1, dtype=np.uint64))
    return [t.take(pa.array(order[bounds[k]:bounds[k + 1]])) for k in range(buckets)]


def later_occurrences(*pieces: pa.Table) -> pa.Table:
    """Within one hash bucket: every row whose track_id occurred before it in catalog order (``_LATER``)."""
    t = pa.concat_tables(pieces) if pieces else pa.table({c: [] for c in _DUP_COLUMNS})
    h = t.column("id_hash").to_numpy()
    s = np.sort(h)
    repeated = np.unique(s[1:][s[1:] == s[:-1]])
    if not len(repeated):
        return _LATER.empty_table()
    rows = t.filter(pc.is_in(t.column("id_hash"), value_set=pa.array(repeated, pa.uint64()))).to_pandas()
    rows = rows.sort_values(["src", "record"], kind="stable").reset_index(drop=True)
    first = rows.drop_duplicates("track_id", keep="first").set_index("track_id")
    later = rows[rows.duplicated("track_id", keep="first")]
    later = later.assign(first_src=first.loc[later.track_id, "src"].to_numpy(),
                         first_line=first.loc[later.track_id, "line"].to_numpy())
    return pa.Table.from_pandas(later[_LATER.names], schema=_LATER, preserve_index=False)


def _find_duplicates(run: "_Runner", paths: list[str]) -> pa.Table:
    """Every occurrence of a track_id after its first in catalog order (``_LATER`` rows, sorted by position).

    A hash-partitioned Dask graph: each work file's rows are cut into buckets by a hash of their track_id,
    each bucket (all the rows whose ids share that bucket, one bucket in memory at a time) finds repeated
    hashes with numpy and compares the few rows concerned by their actual track_id."""
    if not paths:
        return _LATER.empty_table()
    buckets = len(paths)
    split = dask.delayed(split_by_hash, nout=buckets, pure=True)
    pieces = [split(p, buckets) for p in paths]
    find = dask.delayed(later_occurrences, pure=True)
    later = pa.concat_tables(run.compute([find(*[pc_[k] for pc_ in pieces]) for k in range(buckets)],
                                         "duplicates"))
    return later.sort_by([("src", "ascending"), ("record", "ascending")])


# -------------------------------------------------------------------------------------- step 3: blocks


def _block_frame(t: pa.Table, giants: bool = False) -> pd.DataFrame:
    t = t.select(list(BLOCK_COLUMNS))
    if giants:
        t = t.append_column("block", t.column("artist_key")).append_column(
            "bucket", pa.array(np.zeros(t.num_rows, np.int64)))
    return t.to_pandas()


def load_block_rows(path: str, marked_keys: pa.Array, giant_keys: pa.Array, rules: MatchRules) -> pd.DataFrame:
    """Rows of a work file whose artist key has a marked title, minus its later duplicates (the records
    listed in ``<path>.exclude.npy`` when there is one). A row credited to several artists comes once per
    credited artist whose key has a marked title, with ``artist_key`` set to that key. Columns
    ``BLOCK_COLUMNS`` plus ``block`` and ``bucket`` (``giants.split_giants``: the rows of ``giant_keys``
    split by title length)."""
    t = _read_work(path)
    if storage.exists(path + ".exclude.npy"):
        excluded = np.load(io.BytesIO(storage.read_bytes(path + ".exclude.npy")))
        t = t.filter(pa.array(~np.isin(t.column("record").to_numpy(), excluded)))
    keep = pc.is_in(t.column("artist_key"), value_set=marked_keys)
    pieces = [t.filter(keep)]
    others = t.column("other_keys").combine_chunks()
    if len(pc.list_flatten(others)):
        flat = pc.list_flatten(others)
        parent = pc.list_parent_indices(others)
        hit = pc.is_in(flat, value_set=marked_keys)
        if pc.any(hit).as_py():
            extra = t.take(parent.filter(hit))
            pieces.append(extra.set_column(extra.schema.get_field_index("artist_key"), "artist_key",
                                           flat.filter(hit)))
    t = pa.concat_tables(pieces).select(list(BLOCK_COLUMNS))
    if not rules.evidence.genres:  # album and isrc matter only in the blocks of uninformative credits
        plain = pc.invert(pc.is_in(t.column("artist_key"), value_set=pa.array(sorted(rules.evidence.keys),
                                                                               pa.string())))
        for name in ("album", "isrc"):
            col = t.column(name)
            t = t.set_column(t.schema.get_field_index(name), name,
                             pc.if_else(plain, pa.scalar(None, pa.string()), col))
    if len(giant_keys):
        t = split_giants(t, giant_keys, rules)
    return t.to_pandas()


# --------------------------------------------------------------------------------------------- running


class _Runner:
    """``compute`` on the local scheduler or the connected cluster, with a progress bar when asked."""

    def __init__(self, client: Any, progress: bool):
        self.client = client
        self.progress = progress

    def compute(self, obj: Any, label: str) -> Any:
        t0 = time.perf_counter()
        if self.client is not None:
            fut = self.client.compute(obj)
            if self.progress:
                from distributed import progress

                with contextlib.redirect_stdout(sys.stderr):  # the console summary owns stdout
                    progress(fut, multi=False)
            result = self.client.gather(fut)
        else:
            ctx: Any = contextlib.nullcontext()
            if self.progress:
                from dask.diagnostics import ProgressBar

                ctx = ProgressBar(out=sys.stderr, minimum=0.5)
            with ctx:
                (result,) = dask.compute(obj)
        log.debug("%s: %.2f s", label, time.perf_counter() - t0)
        return result


def _clear_stale_work(out: Path | str) -> None:
    for d in storage.glob(storage.join(out, WORK_PREFIX + "*")):
        if storage.isdir(d):
            log.warning("removing %s left by an interrupted run", d)
            storage.rmtree(d)


@contextlib.contextmanager
def _connect(scheduler: str | None):
    """``dask_client``, with an unreachable scheduler reported as a ``UserInputError``."""
    stack = contextlib.ExitStack()
    try:
        client = stack.enter_context(dask_client(scheduler))
    except (OSError, TimeoutError) as exc:
        raise UserInputError(f"cannot reach the Dask scheduler at {scheduler_address(scheduler)} ({exc})") from None
    with stack:
        yield client


def _partition_of(specs: list[PartSpec], later: pa.Table) -> np.ndarray:
    """The partition index of each row of ``later`` (from its file and record)."""
    src = later.column("src").to_numpy()
    rec = later.column("record").to_numpy()
    out = np.zeros(len(src), np.int64)
    for f in np.unique(src):
        mine = [s for s in specs if s.file.index == f]
        firsts = np.array([s.first_record for s in mine])
        sel = src == f
        out[sel] = np.array([s.index for s in mine])[np.searchsorted(firsts, rec[sel], side="right") - 1]
    return out


def _write_rejected(path: Path, specs: list[PartSpec], results: list[dict], later: pa.Table,
                    part_of: np.ndarray, files: list[CatalogFile]) -> dict[str, int]:
    """Stream ``rejected_rows.parquet`` partition by partition, in catalog order (one partition's rejected
    rows in memory at a time); returns the count per reason."""
    counts: dict[str, int] = {}
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, REJECTED_ROWS) as writer:
        for spec, res in zip(specs, results):
            pieces = [_read_work(res["rejected_path"])] if res["rejected_path"] else []
            mine = later.filter(pa.array(part_of == spec.index)) if later.num_rows else later
            if mine.num_rows:
                texts = original_texts(spec.file, mine.column("record").to_pylist(),
                                       mine.column("offset").to_pylist(), mine.column("nbytes").to_pylist())
                first = [files[s].path for s in mine.column("first_src").to_pylist()]
                detail = [f"first seen at {p}:{ln}" for p, ln in zip(first, mine.column("first_line").to_pylist())]
                n = mine.num_rows
                pieces.append(pa.table({
                    "src": mine.column("src"), "record": mine.column("record"),
                    "source": pa.array([spec.file.path] * n, pa.string()), "line": mine.column("line"),
                    "track_id": mine.column("track_id"),
                    "reason": pa.array(["duplicate-track_id"] * n, pa.string()),
                    "detail": pa.array(detail, pa.string()), "original": pa.array(texts, pa.string()),
                }, schema=_REJECT_WORK))
            if not pieces:
                continue
            t = pa.concat_tables(pieces).sort_by([("record", "ascending")])
            for d in pc.value_counts(t.column("reason")).to_pylist():
                counts[d["values"]] = counts.get(d["values"], 0) + int(d["counts"])
            writer.write_table(t.select(REJECTED_ROWS.names).cast(REJECTED_ROWS))
    return dict(sorted(counts.items()))


def mine_pairs(catalog: str | os.PathLike, out_dir: str | os.PathLike, config: MinerConfig = MinerConfig(),
               scheduler: str | None = None) -> MineSummary:
    """Mine candidate (original, instrumental) pairs from ``catalog`` into ``out_dir``.

    Writes ``candidates.parquet`` (CANDIDATES), ``rejected_rows.parquet`` (REJECTED_ROWS) and the
    ``metadata`` section of ``summary.json``, each atomically; a re-run overwrites them. ``scheduler``: a
    ``dask.distributed`` address (else ``$DASK_SCHEDULER_ADDRESS``, else the local scheduler). Raises
    ``UserInputError`` for a catalog that cannot be read (missing column, no file) and, with
    ``config.strict``, for the first bad row."""
    t_start = time.perf_counter()
    files = open_catalog(catalog, config.encoding)
    specs = plan_partitions(files, config.blocksize)
    log.info("catalog: %d file(s), %d partition(s)", len(files), len(specs))
    out = storage.join(out_dir)  # a Path, or the URL of an object-store folder
    storage.makedirs(out)
    _clear_stale_work(out)
    work = storage.join(storage.absolute(out), f"{WORK_PREFIX}{uuid.uuid4().hex[:8]}")
    storage.makedirs(work)
    try:
        with _connect(scheduler) as client, dask.config.set(
            {"dataframe.shuffle.method": "tasks"} if client is None else {}
        ):
            run = _Runner(client, config.progress)
            prepare = dask.delayed(prepare_partition, pure=True)
            results = run.compute([prepare(s, config, str(work), dask_key_name=f"prepare-{s.index}")
                                   for s in specs], "read")
            paths = [r["path"] for r in results]
            later = _find_duplicates(run, paths)
            part_of = _partition_of(specs, later)
            if config.strict and later.num_rows:
                r = later.slice(0, 1).to_pylist()[0]
                raise _strict_error(files[r["src"]], r["line"], "duplicate-track_id", r["track_id"],
                                    f"first seen at {files[r['first_src']].path}:{r['first_line']}")
            for i in np.unique(part_of):
                with storage.atomic_path(paths[i] + ".exclude.npy") as tmp, open(tmp, "wb") as fh:
                    np.save(fh, later.column("record").to_numpy()[part_of == i])
            cands, stats = _match(run, paths, results, config)
            reason_counts = _write_rejected(storage.join(out, "rejected_rows.parquet"), specs, results, later, part_of, files)
    finally:
        storage.rmtree(work)
    write_table(cands, storage.join(out, "candidates.parquet"), inputs=())  # removes outputs of the old candidates

    rows_read = sum(r["rows_read"] for r in results)
    rows_rejected = sum(reason_counts.values())
    summary = MineSummary(
        rows_read=rows_read,
        rows_used=rows_read - rows_rejected,
        rows_rejected=rows_rejected,
        rejected_by_reason=reason_counts,
        marked=sum(r["marked"] for r in results) - int(pc.sum(later.column("marked")).as_py() or 0),
        blocks=stats["blocks"],
        compared=stats["compared"],
        candidates=cands.num_rows,
        instrumentals_matched=len(pc.unique(cands.column("instrumental_id"))),
        originals_matched=len(pc.unique(cands.column("original_id"))),
        files=len(files),
        partitions=len(specs),
        seconds=round(time.perf_counter() - t_start, 3),
        catalog=str(catalog),
        out_dir=str(out),
        same_release_checked=stats["evidence_needed"],
        same_release_missing=stats["evidence_missing"],
        giant_blocks=stats["giant_blocks"],
        giant_sub_blocks=stats["sub_blocks"],
        config={
            "markers": list(config.markers.phrases),
            "title_threshold": config.title_threshold,
            "duration_tolerance_s": config.duration_tolerance_s,
            "duration_tolerance_rel": config.duration_tolerance_rel,
            "strict": config.strict,
            "uninformative_artists": list(config.uninformative_artists),
            "uninformative_genres": list(config.uninformative_genres),
            "release_evidence": list(config.release_evidence),
            "release_max_days": config.release_max_days,
            "giant_rows": config.giant_rows,
        },
    )
    update_json(storage.join(out, "summary.json"), "metadata", summary.to_dict())
    return summary


def _match(run: _Runner, paths: list[str], results: list[dict], config: MinerConfig) -> tuple[pa.Table, dict]:
    """Step 3: shuffle the rows of marked artist blocks by artist key and match each partition.

    The marked artist keys are cut into waves of about ``config.wave_rows`` catalog rows (by a CRC of the
    key), each wave shuffled and matched on its own: the local scheduler holds a wave's shuffle in memory,
    never the whole catalog's."""
    import zlib

    import dask.dataframe as dd

    keys = sorted(set().union(*[r["marked_keys"] for r in results])) if results else []
    stats = {"blocks": 0, "compared": 0, "evidence_needed": 0, "evidence_missing": 0, "giant_blocks": 0,
             "sub_blocks": 0}
    if not keys:
        return CANDIDATES.empty_table(), stats
    sizes: dict[str, int] = {}
    for r in results:
        for k, c in r["big_keys"].items():
            sizes[k] = sizes.get(k, 0) + c
    marked_set = set(keys)
    giants = sorted(k for k, c in sizes.items() if c >= config.giant_rows and k in marked_set)
    stats["giant_blocks"] = len(giants)
    if giants:
        log.info("%d giant artist block(s) split by title length: %s", len(giants), ", ".join(giants[:5]))
    rows_used = sum(r["rows_used"] for r in results)
    waves = max(1, -(-rows_used // config.wave_rows))
    groups: list[list[str]] = [[] for _ in range(waves)]
    for k in keys:
        groups[zlib.crc32(k.encode()) % waves].append(k)
    meta = _block_frame(pa.Table.from_pylist([], schema=_WORK_SCHEMA), bool(giants))
    rules = config.rules
    giant_keys = pa.array(giants, pa.string())
    match = dask.delayed(match_partition, pure=True)
    tables = [CANDIDATES.empty_table()]
    block_keys: set[str] = set()
    for w, group in enumerate(groups):
        if not group:
            continue
        rows = dd.from_map(load_block_rows, paths, args=[pa.array(group, pa.string()), giant_keys, rules],
                           meta=meta, enforce_metadata=False, label=f"block-rows-{w}")
        rows = rows.shuffle(on="block" if giants else "artist_key", npartitions=max(1, len(paths)))
        outs = run.compute([match(p, rules) for p in rows.to_delayed()], f"match {w + 1}/{waves}")
        for table, st in outs:
            tables.append(table)
            block_keys.update(st["block_keys"])
            for k in ("compared", "evidence_needed", "evidence_missing", "sub_blocks"):
                stats[k] += st[k]
    stats["blocks"] = len(block_keys)
    table = pa.concat_tables(tables)
    table = table.sort_by([("artist_key", "ascending"), ("original_id", "ascending"),
                           ("instrumental_id", "ascending")])
    # A pair whose credits share several artists is found in each of their blocks: keep the first.
    ids = pa.Table.from_arrays([table.column("original_id"), table.column("instrumental_id")], ["o", "i"])
    first = ~ids.to_pandas().duplicated().to_numpy()
    if not first.all():
        table = table.filter(pa.array(first))
    return table.replace_schema_metadata(CANDIDATES.metadata), stats
