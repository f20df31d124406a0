"""``build-shards``: accepted pairs -> Parquet shards of spectrogram patches, in parallel, resumable.

Layout written under ``out_dir``::

    manifest.json                       written last (atomically): parameters, sources, splits, shards, skips
    {train,valid,test}/part-NNNNN.parquet   rows of ``catalog_schemas.SHARD``; each written tmp + rename
    .work/parts/<key>.npy, <key>.json   per-pair patches (``features.patches.PATCH_DTYPE``), removed at the end

Two phases, each a set of Dask tasks (local threads by default, a ``dask.distributed`` cluster with
``scheduler``; a cluster's workers must see ``out_dir``):

1. one task per pair not yet done: decode, align, magnitudes, patches (``features.patches.pair_patches``);
   the result goes to a per-pair part file, so a worker holds one pair at a time and an interrupted build
   keeps every finished pair. A pair's part is named by a hash of everything it depends on (paths, file
   sizes and times, alignment, patch parameters), so a re-run recomputes exactly what is missing or stale.
2. one task per shard: the split's pairs in a seeded hash order, their rows cut into shards of
   ``rows_per_shard`` rows, the rows of each shard in a seeded permutation (so a row group mixes pairs),
   gathered from memory-mapped parts one row group at a time. A shard's content hash (its row list and the
   writer options) is stored in its footer; an existing shard with the same hash is kept.

Then the manifest, then ``.work`` is removed (unless ``keep_work``). A re-run of a finished build with the same
inputs and config is a no-op.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import vocalmine
from catalog_schemas import SHARD
from catalog_schemas.shards import PATCH_FRAMES, TENSOR_BYTES, TENSOR_COLUMNS
from features.audio import file_sha1
from features.patches import Alignment, PairError, PatchParams, alignment_of_row, pair_patches
from features.splits import SPLITS, PairKeys, SplitConfig, _unit_hash, artist_key_of, assign_splits
from features.stft import PAPER_STFT, StftParams
from vocalmine import storage
from vocalmine.atomic import atomic_path, write_json
from vocalmine.provenance import require_fresh
from vocalmine.errors import UserInputError
from vocalmine.scheduling import run_tasks

log = logging.getLogger(__name__)

#: Version of the on-disk layout (parts and shards); part and shard hashes include it.
FORMAT = "vocalmine-shards/1"
MANIFEST = "manifest.json"
WORK_DIR = ".work"
SCALAR_COLUMNS = ("pair_id", "start_frame", "scale", "vocal_energy")
#: Bytes of one shard row (three tensors and the scalars), for sizing shards.
ROW_BYTES = len(TENSOR_COLUMNS) * TENSOR_BYTES + 64
#: Columns of pairs.parquet this stage reads.
PAIR_COLUMNS = (
    "pair_id", "status", "artist", "artist_key", "content_group", "original_audio_path",
    "instrumental_audio_path", "offset_s", "gain_db", "polarity",
)
#: Read when present: the alignment map (segments, drift, level match, trust mask; features.alignmap).
OPTIONAL_PAIR_COLUMNS = ("alignment_map",)
SHARD_SPEC_KEY = b"vocalmine.shard_spec"


@dataclass(frozen=True)
class ShardConfig:
    """What ``build_shards`` makes. Defaults are the paper's STFT and patches (8192 Hz, Hann 1024, hop 768,
    128 frames x 512 bins).

    - ``patch_hop``: frames between patch starts (128: no overlap).
    - ``normalisation``: ``track`` (one scale per track: max |X| over the track) or ``patch`` (max |X| in the patch).
    - ``ratios``, ``seed``: the train/valid/test split (by artist and content group, see ``features.splits``);
      ``seed`` also orders pairs into shards and rows within a shard.
    - ``shard_bytes``: target shard size (rows per shard rounded down to whole row groups, at least one).
    - ``row_group_size``: patches per Parquet row group, the reader's unit of shuffling and streaming.
    - ``compression``: Parquet codec of all columns (``none``: see docs/shards.md for the measurement).
    - ``workers``: threads of the local scheduler (None: one per core); ignored on a cluster.
    - ``keep_work``: keep ``.work/parts`` after a successful build (lets a later build with other split or
      shard options skip the audio work).
    - ``fixed_splits``: ``(artist key, split)`` pairs that override the hashed split (``--split-file``,
      ``features.splits.read_split_file``); part of the build key by content.
    """

    stft: StftParams = PAPER_STFT
    patch_frames: int = PATCH_FRAMES
    patch_hop: int = PATCH_FRAMES
    normalisation: str = "track"
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    shard_bytes: int = 256 * 2**20
    row_group_size: int = 32
    compression: str = "none"
    workers: int | None = None
    keep_work: bool = False
    fixed_splits: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        try:
            self.patch_params
            self.split_config
        except ValueError as exc:
            raise UserInputError(str(exc)) from exc
        if self.row_group_size < 1 or self.shard_bytes < 1:
            raise UserInputError("row_group_size and shard_bytes must be positive")
        if self.compression not in ("none", "snappy", "lz4", "zstd", "gzip", "brotli"):
            raise UserInputError(f"unknown compression {self.compression!r}")

    @property
    def patch_params(self) -> PatchParams:
        return PatchParams(self.stft, self.patch_frames, self.patch_hop, self.normalisation)

    @property
    def split_config(self) -> SplitConfig:
        return SplitConfig(tuple(self.ratios), self.seed)

    @property
    def rows_per_shard(self) -> int:
        groups = max(1, self.shard_bytes // ROW_BYTES // self.row_group_size)
        return groups * self.row_group_size

    def parquet_options(self) -> dict[str, Any]:
        """Writer options of every shard (dictionary encoding and statistics only on the small columns)."""
        return {
            "compression": self.compression,
            "use_dictionary": ["pair_id"],
            "write_statistics": list(SCALAR_COLUMNS),
            "data_page_size": 1 << 20,
        }


@dataclass(frozen=True)
class PairJob:
    """One accepted pair to turn into patches. ``key`` names its part file."""

    pair_id: str
    split: str
    artist: str
    original_path: str
    instrumental_path: str
    alignment: Alignment
    key: str


@dataclass
class SplitSummary:
    pairs: int
    patches: int
    seconds: float
    shards: int


@dataclass
class ShardSummary:
    """What a build made. ``skipped``: (pair_id, reason) of the pairs that gave no patches."""

    out_dir: Path
    manifest_path: Path
    splits: dict[str, SplitSummary]
    skipped: list[tuple[str, str]]
    computed_pairs: int = 0
    reused_pairs: int = 0
    written_shards: int = 0
    reused_shards: int = 0
    up_to_date: bool = False
    elapsed_s: float = 0.0

    @property
    def patches(self) -> int:
        return sum(s.patches for s in self.splits.values())

    @property
    def hours(self) -> float:
        return sum(s.seconds for s in self.splits.values()) / 3600

    def lines(self) -> list[str]:
        """The console summary."""
        out = [
            f"shards in {self.out_dir}: {self.hours:.3f} h of audio, {self.patches} patches"
            + (" (already up to date)" if self.up_to_date else
               f" ({self.computed_pairs} pairs computed, {self.reused_pairs} reused; "
               f"{self.written_shards} shards written, {self.reused_shards} kept; {self.elapsed_s:.1f} s)"),
        ]
        for name, s in self.splits.items():
            out.append(f"  {name:5s}: {s.pairs:6d} pairs {s.patches:8d} patches {s.seconds / 3600:9.3f} h "
                       f"{s.shards:4d} shards")
        if self.skipped:
            reasons: dict[str, int] = {}
            for _, reason in self.skipped:
                reasons[reason] = reasons.get(reason, 0) + 1
            out.append(f"  skipped {len(self.skipped)} pairs: "
                       + ", ".join(f"{r} x{n}" for r, n in sorted(reasons.items())))
            out += [f"    {pid}: {reason}" for pid, reason in self.skipped[:20]]
            if len(self.skipped) > 20:
                out.append(f"    ... {len(self.skipped) - 20} more in {self.manifest_path}")
        return out


# ---------------------------------------------------------------------------------------------------- inputs


def _hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _stat(path: str) -> list[int] | None:
    try:
        return storage.stamp(path)
    except OSError:
        return None


def pairs_file(pairs_dir: str | os.PathLike) -> Path:
    """``pairs_dir/pairs.parquet`` (or ``pairs_dir`` itself when it is a file); UserInputError when missing."""
    path = storage.path(pairs_dir)  # a Path, or a URLPath on object storage
    if path.is_dir():
        path = path / "pairs.parquet"
    if not path.is_file():
        if (path.parent / "candidates.parquet").is_file():
            raise UserInputError(f"no pairs table at {path}: {path.parent} holds the candidates of a "
                                 "`mine-pairs --metadata-only` run; run mine-pairs without --metadata-only")
        raise UserInputError(f"no pairs table at {path}: run `mine-pairs` first (it writes pairs/pairs.parquet)")
    require_fresh(path.parent, path.name, ["candidates.parquet"],
                  "re-run `mine-pairs` on this folder without --metadata-only")
    return path


def read_pairs(path: Path) -> pa.Table:
    """The accepted rows of a pairs table (``catalog_schemas.PAIRS`` columns this stage needs)."""
    try:
        schema = storage.parquet_file(path).schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserInputError(f"{path} is not a readable Parquet file: {exc}") from exc
    missing = [c for c in PAIR_COLUMNS if c not in schema.names]
    if missing:
        raise UserInputError(f"{path} lacks the columns {', '.join(missing)} (expected the pairs schema, "
                             "see docs/schemas.md)")
    optional = [c for c in OPTIONAL_PAIR_COLUMNS if c in schema.names]  # tables written before issue 10 lack them
    table = storage.read_parquet(path, columns=list(PAIR_COLUMNS) + optional)
    return table.filter(pc.fill_null(pc.equal(table["status"], "accepted"), False))


def plan_jobs(accepted: pa.Table, base_dir: Path, config: ShardConfig) -> tuple[list[PairJob], list[tuple[str, str]]]:
    """Jobs for the accepted rows, each with its split; plus (pair_id, reason) of rows refused before audio."""
    rows = accepted.to_pylist()
    seen: set[str] = set()
    unique, skipped = [], []
    for row in rows:
        if row["pair_id"] in seen:
            skipped.append((row["pair_id"], "duplicate-pair-id"))
            continue
        seen.add(row["pair_id"])
        unique.append(row)
    artist_of = {r["pair_id"]: artist_key_of(r["artist_key"], r["artist"], r["pair_id"]) for r in unique}
    split_of = assign_splits(
        (PairKeys(r["pair_id"], artist_of[r["pair_id"]], r["content_group"]) for r in unique), config.split_config,
        fixed=dict(config.fixed_splits) or None,
    )
    params = config.patch_params.as_dict()
    jobs = []
    for r in unique:
        paths = []
        for col in ("original_audio_path", "instrumental_audio_path"):
            p = r[col] or ""
            paths.append(str(storage.resolve(p, base_dir)) if p else p)
        alignment = alignment_of_row(r)
        polarity = alignment.polarity
        key = _hash([FORMAT, r["pair_id"], paths, [_stat(p) for p in paths],
                     [repr(alignment.offset_s), repr(alignment.gain_db), polarity]
                     + ([alignment.map_json] if alignment.map_json else []), params])
        jobs.append(PairJob(r["pair_id"], split_of[r["pair_id"]], artist_of[r["pair_id"]], paths[0], paths[1], alignment, key))
    return jobs, skipped


# ------------------------------------------------------------------------------------------- phase 1: parts


def compute_part(job: PairJob, parts_dir: str, params: PatchParams) -> dict:
    """Dask task: one pair's patches to ``parts_dir/<key>.npy`` (+ ``.json``, written last as the done mark).

    Returns ``{"pair_id", "rows", "seconds"}``, or ``{"pair_id", "reason", "detail"}`` when the pair gives no
    patches; never raises for a bad pair.
    """
    try:
        patches, seconds = pair_patches(job.original_path, job.instrumental_path, job.alignment, params)
    except PairError as exc:
        log.warning("skipping %s: %s", job.pair_id, exc)
        return {"pair_id": job.pair_id, "reason": exc.reason, "detail": exc.detail}
    except Exception as exc:  # one bad pair never stops the build; its reason goes to the manifest
        log.exception("skipping %s: unexpected error", job.pair_id)
        return {"pair_id": job.pair_id, "reason": "error", "detail": f"{type(exc).__name__}: {exc}"}
    base = storage.path(parts_dir) / job.key
    with atomic_path(base.with_suffix(".npy")) as tmp, open(tmp, "wb") as fh:
        np.save(fh, patches)
    info = {"pair_id": job.pair_id, "rows": int(len(patches)), "seconds": float(seconds)}
    write_json(info, base.with_suffix(".json"))
    return info


def _read_part_info(parts_dir: Path, job: PairJob) -> dict | None:
    done = parts_dir / f"{job.key}.json"
    if not done.exists() or not (parts_dir / f"{job.key}.npy").exists():
        return None
    try:
        return json.loads(done.read_text())
    except (OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------ phase 2: shards


@dataclass(frozen=True)
class ShardPlan:
    """One shard: its path (relative to out_dir) and rows as (part key, pair_id, row in part), in storage order."""

    path: str
    rows: tuple[tuple[str, str, int], ...]
    spec: str


def plan_shards(jobs: Sequence[PairJob], infos: dict[str, dict], config: ShardConfig) -> dict[str, list[ShardPlan]]:
    """Split -> shards, deterministic in (jobs, infos, config). See the module doc."""
    options = config.parquet_options()
    plans: dict[str, list[ShardPlan]] = {}
    per_shard = config.rows_per_shard
    for split_index, split in enumerate(SPLITS):
        members = [j for j in jobs if j.split == split and j.key in infos]
        members.sort(key=lambda j: (_unit_hash(config.seed, j.pair_id), j.pair_id))
        stream = [(j.key, j.pair_id, r) for j in members for r in range(infos[j.key]["rows"])]
        shards = []
        for i, start in enumerate(range(0, len(stream), per_shard)):
            chunk = stream[start : start + per_shard]
            order = np.random.default_rng([config.seed, split_index, i]).permutation(len(chunk))
            rows = tuple(chunk[k] for k in order)
            spec = _hash([FORMAT, rows, options, config.row_group_size])
            shards.append(ShardPlan(f"{split}/part-{i:05d}.parquet", rows, spec))
        plans[split] = shards
    return plans


def _existing_spec(path: Path) -> str | None:
    try:
        meta = storage.parquet_file(path).schema_arrow.metadata or {}
    except (pa.ArrowInvalid, OSError):
        return None
    spec = meta.get(SHARD_SPEC_KEY)
    return spec.decode() if spec else None


def _load_part(path: Any) -> np.ndarray:
    """A part file's patches: memory-mapped locally, downloaded from object storage."""
    if storage.is_url(path):
        return np.load(io.BytesIO(path.read_bytes()))
    return np.load(path, mmap_mode="r")


def _binary_column(values: np.ndarray) -> pa.Array:
    """float16 ``[N, 512, 128]`` -> fixed-size binary array of N cells (one copy into a contiguous buffer)."""
    values = np.ascontiguousarray(values, dtype="<f2")
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(TENSOR_BYTES), len(values), [None, pa.py_buffer(values)])


def write_shard(plan: ShardPlan, out_dir: str, parts_dir: str, config: ShardConfig) -> dict:
    """Dask task: write one shard (tmp + rename) unless an identical one exists. Returns its manifest entry."""
    final = storage.path(out_dir) / plan.path
    kept = final.exists() and _existing_spec(final) == plan.spec
    if not kept:
        schema = SHARD.with_metadata({**(SHARD.metadata or {}), SHARD_SPEC_KEY: plan.spec.encode()})
        parts: dict[str, np.ndarray] = {}
        with atomic_path(final) as tmp:
            with pq.ParquetWriter(tmp, schema, **config.parquet_options()) as writer:
                for start in range(0, len(plan.rows), config.row_group_size):
                    group = plan.rows[start : start + config.row_group_size]
                    for key, _, _ in group:
                        if key not in parts:
                            parts[key] = _load_part(storage.path(parts_dir) / f"{key}.npy")
                    rows = np.stack([parts[key][r] for key, _, r in group])  # PATCH_DTYPE [n]
                    arrays = [
                        pa.array([pair_id for _, pair_id, _ in group], pa.string()),
                        pa.array(rows["start_frame"], pa.int32()),
                        pa.array(rows["scale"], pa.float32()),
                        pa.array(rows["vocal_energy"], pa.float32()),
                    ] + [_binary_column(rows[name]) for name in TENSOR_COLUMNS]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=len(group))
        parts.clear()
    meta = storage.parquet_file(final).metadata
    return {
        "path": plan.path,
        "rows": meta.num_rows,
        "row_groups": meta.num_row_groups,
        "bytes": storage.size(final),
        "sha1": file_sha1(final),
        "written": not kept,
    }


# ------------------------------------------------------------------------------------------------- running


def _run_tasks(fn: Callable, items: Sequence, kwargs: dict, scheduler: str | None, workers: int | None,
               progress: bool, desc: str) -> list:
    """``[fn(item, **kwargs) for item in items]`` as Dask tasks (local threads, or the cluster), with progress."""
    import dask

    tasks = [dask.delayed(fn, pure=False)(item, **kwargs) for item in items]
    return run_tasks(tasks, scheduler, workers, progress, desc)


def _remove_stale(out_dir: Path, plans: dict[str, list[ShardPlan]]) -> None:
    keep = {p.path for shards in plans.values() for p in shards}
    for split in SPLITS:
        d = out_dir / split
        d.mkdir(parents=True, exist_ok=True)
        for f in d.iterdir():
            rel = f"{split}/{f.name}"
            stale_shard = f.name.startswith("part-") and f.name.endswith(".parquet") and rel not in keep
            if stale_shard or ".tmp-" in f.name:
                log.debug("removing %s", f)
                f.unlink()


def _summary_from_manifest(out_dir: Path, manifest: dict) -> ShardSummary:
    splits = {
        name: SplitSummary(s["pairs"], s["patches"], s["seconds"], len(s["shards"]))
        for name, s in manifest["splits"].items()
    }
    skipped = [(s["pair_id"], s["reason"]) for s in manifest["skipped"]]
    return ShardSummary(out_dir, out_dir / MANIFEST, splits, skipped, up_to_date=True)


def _up_to_date(out_dir: Path, build_key: str) -> dict | None:
    path = out_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("build_key") != build_key:
        return None
    for s in manifest["splits"].values():
        for shard in s["shards"]:
            f = out_dir / shard["path"]
            if not f.exists() or storage.size(f) != shard["bytes"]:
                return None
    return manifest


def build_shards(
    pairs_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: ShardConfig = ShardConfig(),
    scheduler: str | None = None,
    progress: bool = True,
) -> ShardSummary:
    """Build the shard dataset of ``pairs_dir/pairs.parquet``'s accepted pairs into ``out_dir``.

    Re-runnable: finds what is done (part files, identical shards, an up-to-date manifest) and does the rest.
    Raises ``UserInputError`` for a missing or malformed pairs table, or one without accepted pairs.
    """
    t0 = time.perf_counter()
    source = pairs_file(pairs_dir)
    out_dir = storage.path(out_dir)
    pairs_sha1 = file_sha1(source)
    build_key = _hash([FORMAT, pairs_sha1, dataclasses.asdict(config) | {"workers": None, "keep_work": None}])
    manifest = _up_to_date(out_dir, build_key)
    if manifest is not None:
        log.info("%s is up to date", out_dir / MANIFEST)
        return _summary_from_manifest(out_dir, manifest)

    accepted = read_pairs(source)
    if accepted.num_rows == 0:
        raise UserInputError(f"{source} has no accepted pairs: nothing to build")
    jobs, skipped = plan_jobs(accepted, source.parent, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)  # the dataset is being rebuilt: no reader should trust it
    parts_dir = out_dir / WORK_DIR / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    for f in parts_dir.glob(".*.tmp-*"):
        f.unlink()

    # Phase 1: per-pair patches.
    infos = {j.key: info for j in jobs if (info := _read_part_info(parts_dir, j)) is not None}
    todo = [j for j in jobs if j.key not in infos]
    log.info("%d accepted pairs: %d to compute, %d already done", len(jobs), len(todo), len(infos))
    failures: dict[str, dict] = {}
    results = _run_tasks(compute_part, todo, {"parts_dir": str(parts_dir), "params": config.patch_params},
                         scheduler, config.workers, progress, "pairs")
    for job, result in zip(todo, results):
        if "reason" in result:
            failures[job.pair_id] = result
        else:
            infos[job.key] = result
    skipped += [(pid, f["reason"]) for pid, f in failures.items()]

    # Phase 2: shards.
    plans = plan_shards(jobs, infos, config)
    _remove_stale(out_dir, plans)
    flat = [p for split in SPLITS for p in plans[split]]
    entries = _run_tasks(
        write_shard, flat,
        {"out_dir": str(out_dir), "parts_dir": str(parts_dir), "config": config},
        scheduler, config.workers, progress, "shards",
    )
    by_path = {e["path"]: e for e in entries}

    # Manifest, written last.
    split_info: dict[str, dict] = {}
    for split in SPLITS:
        members = [j for j in jobs if j.split == split]
        done = [j for j in members if j.key in infos]
        shards = [by_path[p.path] for p in plans[split]]
        split_info[split] = {
            "pairs": len(done),
            "patches": sum(infos[j.key]["rows"] for j in done),
            "seconds": round(sum(infos[j.key]["seconds"] for j in done), 4),
            "artists": len({j.artist for j in done}),
            "pair_ids": sorted(j.pair_id for j in done),
            "shards": [{k: e[k] for k in ("path", "rows", "row_groups", "bytes", "sha1")} for e in shards],
        }
    manifest = {
        "format": FORMAT,
        "build_key": build_key,
        "code_version": vocalmine.code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": {
            "pairs_path": str(source.resolve()),
            "pairs_sha1": pairs_sha1,
            "accepted_pairs": accepted.num_rows,
        },
        "params": config.patch_params.as_dict(),
        "config": {
            "ratios": list(config.ratios),
            "fixed_split_artists": len(config.fixed_splits),
            "seed": config.seed,
            "shard_bytes": config.shard_bytes,
            "rows_per_shard": config.rows_per_shard,
            "row_group_size": config.row_group_size,
            "parquet": config.parquet_options(),
        },
        "columns": {f.name: str(f.type) for f in SHARD},
        "splits": split_info,
        "totals": {
            "pairs": sum(s["pairs"] for s in split_info.values()),
            "patches": sum(s["patches"] for s in split_info.values()),
            "seconds": round(sum(s["seconds"] for s in split_info.values()), 4),
        },
        "skipped": [
            {"pair_id": pid, "reason": reason, "detail": failures.get(pid, {}).get("detail", "")}
            for pid, reason in skipped
        ],
    }
    write_json(manifest, out_dir / MANIFEST, inputs=())  # recorded: which run wrote this build
    if not config.keep_work:
        storage.rmtree(out_dir / WORK_DIR)

    summary = ShardSummary(
        out_dir,
        out_dir / MANIFEST,
        {s: SplitSummary(v["pairs"], v["patches"], v["seconds"], len(v["shards"])) for s, v in split_info.items()},
        skipped,
        computed_pairs=len(todo) - len(failures),
        reused_pairs=len(jobs) - len(todo),
        written_shards=sum(e["written"] for e in entries),
        reused_shards=sum(not e["written"] for e in entries),
        elapsed_s=time.perf_counter() - t0,
    )
    log.debug("%s", "\n".join(summary.lines()))
    return summary
