"""The audio stage: ``candidates.parquet`` in, ``pairs.parquet`` out, one verdict row per candidate.

Work runs as Dask tasks over batches of candidates (a batch never splits a group of candidates that share a
file, so a file is decoded once per task). Each task writes its verdicts to a Parquet part-file under
``out_dir/.cache/verdicts/`` before returning, keyed by pair id, both files' content hashes, their catalog
durations and the config's verdict hash; a re-run (after an interruption, or with more candidates) reads
those and computes only what is missing. Fingerprints are cached by file content under
``out_dir/.cache/fingerprints/``. With a ``dask.distributed`` cluster, ``out_dir`` must be on a file system
the workers share.

Layout under ``out_dir``: ``pairs.parquet``; ``summary.json`` (section ``audio``); ``.cache/`` (safe to
delete: it only saves time).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask
import pyarrow as pa

from catalog_schemas import CANDIDATES, PAIRS
from features.audio import AudioError, file_sha1
from pairing.config import PairingConfig
from pairing.dedup import content_groups, mark_duplicates, reason_group
from pairing.fingerprint import FingerprintCache
from pairing.verify import VERDICT_COLUMNS, PreparedAudio, PrepareStats, prepare_audio, verify_pair
from vocalmine import storage
from vocalmine.atomic import atomic_path, update_json, write_table
from vocalmine.errors import UserInputError
from vocalmine.scheduling import run_tasks
from vocalmine.unionfind import SmallestRootUnionFind

log = logging.getLogger(__name__)

CANDIDATES_FILE = "candidates.parquet"
PAIRS_FILE = "pairs.parquet"
SUMMARY_FILE = "summary.json"
CACHE_DIR = ".cache"

#: Verdict part-files: the cache key plus the verdict columns, typed as in PAIRS.
_CACHE_SCHEMA = pa.schema([pa.field("cache_key", pa.string(), nullable=False)]
                          + [PAIRS.field(c).with_nullable(True) for c in VERDICT_COLUMNS])
#: Reasons never cached: a re-run tries again.
_UNCACHED_REASONS = frozenset({"error"})


@dataclass(frozen=True)
class PairingSummary:
    """What a run did. ``rejected_by_reason`` counts ``duplicate-of:*`` under ``duplicate``."""

    candidates: int
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int]
    hours_accepted: float  # decoded duration of the accepted originals, h
    hours_usable: float  # trusted audio of the accepted pairs (what the shards may use), h
    seconds: float  # wall time of the run, s
    computed: int  # pairs verified in this run
    cached: int  # pairs whose verdict came from an earlier run
    fingerprints_computed: int
    files_decoded: int
    audio_seconds_decoded: float
    decode_seconds: float  # summed over tasks (CPU-side, not wall)
    resample_seconds: float
    fingerprint_seconds: float
    task_seconds: float  # summed wall time inside the tasks
    pairs_path: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the PairingConfig the run used

    def summary_json(self) -> dict[str, Any]:
        """The ``audio`` section of ``summary.json``."""
        return {
            "candidates": self.candidates,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "hours_accepted": round(self.hours_accepted, 6),
            "hours_usable": round(self.hours_usable, 6),
            "seconds": round(self.seconds, 3),
            "computed": self.computed,
            "cached": self.cached,
            "fingerprints_computed": self.fingerprints_computed,
            "config": dict(self.config),
        }


def format_summary(summary: PairingSummary) -> str:
    """Console lines for a run: the verdict counts, every reason, and what was reused."""
    hours = summary.hours_accepted
    amount = f"{hours:.2f} h" if hours >= 1 else f"{hours * 60:.1f} min"
    lines = [
        f"audio: {summary.candidates} candidates -> {summary.accepted} accepted ({amount} of originals), "
        f"{summary.rejected} rejected",
        f"  usable (trusted frames of the accepted pairs): {summary.hours_usable * 60:.1f} min",
    ]
    for reason, count in sorted(summary.rejected_by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  rejected {reason}: {count}")
    lines.append(f"  verified {summary.computed} pairs ({summary.cached} from cache, "
                 f"{summary.fingerprints_computed} fingerprints computed) in {summary.seconds:.1f} s")
    lines.append(f"  wrote {summary.pairs_path}")
    return "\n".join(lines)


# ---- file hashes (the cache keys) ------------------------------------------------------------------------

def _file_hashes(paths: list[str], memo_path: Path) -> dict[str, str | None]:
    """Content SHA-1 of each path (None when it cannot be read); unchanged files (same size and mtime) reuse
    the hash remembered in ``memo_path``."""
    try:
        memo = json.loads(memo_path.read_text())  # memo_path: a Path or a URLPath (vocalmine.storage.urlpath)
    except (OSError, ValueError):
        memo = {}
    out: dict[str, str | None] = {}
    changed = False
    for path in paths:
        try:
            stamp = storage.stamp(path)  # [size, mtime] (or the object's ETag)
        except OSError:
            out[path] = None
            continue
        known = memo.get(path)
        if known and known[:2] == stamp:
            out[path] = known[2]
            continue
        try:
            out[path] = file_sha1(path)
        except OSError:
            out[path] = None
            continue
        memo[path] = stamp + [out[path]]
        changed = True
    if changed:
        with atomic_path(memo_path) as tmp:
            tmp.write_text(json.dumps(memo))
    return out


def _cache_key(rec: dict[str, Any], config_hash: str) -> str:
    parts = [rec["pair_id"], config_hash]
    for side in ("original", "instrumental"):
        path = rec.get(f"{side}_audio_path")
        parts.append("no-path" if path is None else (rec.get(f"{side}_file_sha1") or "unreadable-file"))
        parts.append(repr(rec.get(f"{side}_duration_s")))
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


# ---- the per-batch task ------------------------------------------------------------------------------------

@dataclass
class BatchResult:
    rows: list[dict[str, Any]]  # verdict columns + cache_key
    stats: dict[str, float]


def _error_verdict(exc: BaseException) -> dict[str, Any]:
    row = {c: None for c in VERDICT_COLUMNS}
    row.update(status="rejected", reason="error", detail=f"{type(exc).__name__}: {exc}")
    return row


def verify_batch(records: list[dict[str, Any]], cache_root: str, config: PairingConfig) -> BatchResult:
    """Verify candidates (dicts with the CANDIDATES columns plus ``pair_id``, ``cache_key`` and
    ``{original,instrumental}_file_sha1``); write their verdicts to one part-file; return them.

    Prepared files are kept in a small LRU (``config.decoded_cache_files``), so a file shared by several
    candidates of the batch is decoded once, and memory stays bounded by a few files.
    """
    t_start = time.perf_counter()
    fingerprints = FingerprintCache(storage.path(cache_root) / "fingerprints")
    stats = PrepareStats()
    prepared: OrderedDict[str, PreparedAudio | AudioError] = OrderedDict()

    def get(path: str | None, sha1: str | None) -> PreparedAudio | AudioError | None:
        if path is None:
            return None
        if path in prepared:
            prepared.move_to_end(path)
            return prepared[path]
        try:
            value: PreparedAudio | AudioError = prepare_audio(path, sha1 or "", fingerprints, config, stats)
        except AudioError as exc:
            value = exc
        except Exception as exc:  # a decoder crash on one odd file must not stop the batch
            log.warning("cannot prepare %s: %s", path, exc)
            value = AudioError("unreadable", f"{path}: {type(exc).__name__}: {exc}")
        if sha1 is None and not isinstance(value, AudioError):
            value = AudioError("unreadable", f"{path}: could not be read for hashing")
        prepared[path] = value
        while len(prepared) > max(2, config.decoded_cache_files):
            prepared.popitem(last=False)
        return value

    rows = []
    for rec in records:
        try:
            original = get(rec.get("original_audio_path"), rec.get("original_file_sha1"))
            instrumental = get(rec.get("instrumental_audio_path"), rec.get("instrumental_file_sha1"))
            verdict = verify_pair(rec, original, instrumental, config)
        except Exception as exc:
            log.exception("verifying %s failed", rec["pair_id"])
            verdict = _error_verdict(exc)
        verdict["cache_key"] = rec["cache_key"]
        rows.append(verdict)
    keep = [r for r in rows if r["reason"] not in _UNCACHED_REASONS]
    if keep:
        table = pa.Table.from_pylist(keep, schema=_CACHE_SCHEMA)
        name = hashlib.sha1("\n".join(r["cache_key"] for r in keep).encode()).hexdigest()[:20]
        write_table(table, storage.path(cache_root) / "verdicts" / f"part-{name}.parquet")
    result_stats = {k: float(v) for k, v in asdict(stats).items()}
    result_stats.update(fingerprints_computed=fingerprints.computed, task_s=time.perf_counter() - t_start,
                        pairs=len(records))
    return BatchResult(rows, result_stats)


# ---- planning --------------------------------------------------------------------------------------------

def _read_verdict_cache(cache_root: Path) -> dict[str, dict[str, Any]]:
    cached: dict[str, dict[str, Any]] = {}
    for part in sorted((cache_root / "verdicts").glob("part-*.parquet")):
        try:
            for row in storage.read_parquet(part).to_pylist():
                cached[row.pop("cache_key")] = row
        except (OSError, pa.ArrowInvalid, KeyError) as exc:
            log.warning("ignoring unreadable cache part %s: %s", part, exc)
    return cached


def _batches(records: list[dict[str, Any]], batch_size: int) -> list[list[dict[str, Any]]]:
    """Pack candidates into batches of about ``batch_size``, keeping candidates that share a file together."""
    uf = SmallestRootUnionFind()
    first_key = []
    for k, rec in enumerate(records):
        paths = [rec[side] for side in ("original_audio_path", "instrumental_audio_path") if rec.get(side) is not None]
        keys = paths or [f"\0no-path:{k}"]  # a candidate without files is its own group (no path holds a NUL)
        for key in keys[1:]:
            uf.union(keys[0], key)
        first_key.append(keys[0])
    components: dict[str, list[dict[str, Any]]] = {}
    for key, rec in zip(first_key, records):
        components.setdefault(uf.find(key), []).append(rec)
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for comp in components.values():
        if current and len(current) + len(comp) > batch_size:
            batches.append(current)
            current = []
        current.extend(comp)
    if current:
        batches.append(current)
    return batches


def _read_candidates(out_dir: Path) -> pa.Table:
    path = out_dir / CANDIDATES_FILE
    if not path.exists():
        raise UserInputError(f"{path} does not exist: run the metadata stage first (mine-pairs --metadata-only)")
    try:
        table = storage.read_parquet(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise UserInputError(f"{path} is not a readable Parquet file: {exc}") from exc
    missing = [f.name for f in CANDIDATES if f.name not in table.column_names]
    if missing:
        raise UserInputError(f"{path} lacks column(s) {', '.join(missing)}; expected the CANDIDATES schema")
    try:
        return table.select([f.name for f in CANDIDATES]).cast(CANDIDATES)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise UserInputError(f"{path} does not match the CANDIDATES schema: {exc}") from exc


def _run(tasks: list[Any], scheduler: str | None, progress: bool, workers: int | None) -> list[BatchResult]:
    return run_tasks(tasks, scheduler, workers, progress, desc="pairs")


# ---- the stage -------------------------------------------------------------------------------------------

def pair_candidates(out_dir: str | os.PathLike, config: PairingConfig = PairingConfig(),
                    scheduler: str | None = None, progress: bool = True) -> PairingSummary:
    """Verify every candidate in ``out_dir/candidates.parquet`` by its audio; write ``out_dir/pairs.parquet``
    (schema ``catalog_schemas.PAIRS``, one row per candidate, in candidate order) and the ``audio`` section
    of ``out_dir/summary.json``.

    ``scheduler``: a ``dask.distributed`` address (or None for ``$DASK_SCHEDULER_ADDRESS``, else Dask's
    local threaded scheduler). Raises ``UserInputError`` when the candidates table is missing or malformed.
    """
    t0 = time.perf_counter()
    out_dir = storage.path(storage.absolute(out_dir))  # a Path, or a URLPath on object storage
    cache_root = out_dir / CACHE_DIR
    cache_root.mkdir(parents=True, exist_ok=True)
    candidates = _read_candidates(out_dir)
    records = candidates.to_pylist()
    paths = sorted({r[c] for r in records for c in ("original_audio_path", "instrumental_audio_path") if r[c]})
    hashes = _file_hashes(paths, cache_root / "file_hashes.json")
    config_hash = config.verdict_hash()
    for rec in records:
        rec["pair_id"] = f"{rec['original_id']}~{rec['instrumental_id']}"
        for side in ("original", "instrumental"):
            path = rec[f"{side}_audio_path"]
            rec[f"{side}_file_sha1"] = hashes.get(path) if path else None
        rec["cache_key"] = _cache_key(rec, config_hash)
    t_planned = time.perf_counter()

    cached = _read_verdict_cache(cache_root)
    todo = [r for r in records if r["cache_key"] not in cached]
    log.info("%d candidates: %d verdicts cached, %d to verify", len(records), len(records) - len(todo), len(todo))
    batches = _batches(todo, max(1, config.batch_size))
    verify = dask.delayed(verify_batch, pure=True)
    tasks = [verify(batch, str(cache_root), config, dask_key_name="verify-pairs-" + hashlib.sha1(
                 "\n".join(r["cache_key"] for r in batch).encode()).hexdigest()[:20])
             for batch in batches]
    results = _run(tasks, scheduler, progress, config.workers)
    t_verified = time.perf_counter()

    fresh = {row["cache_key"]: row for res in results for row in res.rows}
    stats: dict[str, float] = {}
    for res in results:
        for k, v in res.stats.items():
            stats[k] = stats.get(k, 0.0) + v

    rows = []
    for rec in records:
        verdict = fresh.get(rec["cache_key"]) or cached[rec["cache_key"]]
        row = {k: v for k, v in rec.items() if k in CANDIDATES.names}
        row.update({k: v for k, v in verdict.items() if k != "cache_key"})
        row["pair_id"] = rec["pair_id"]
        rows.append(row)

    fingerprints = FingerprintCache(cache_root / "fingerprints")
    originals = [
        {"original_id": rec["original_id"], "content_sha1": row["original_sha1"],
         "file_sha1": rec["original_file_sha1"], "seconds": row["original_seconds"], "block": rec["artist_key"]}
        for rec, row in zip(records, rows) if row["original_sha1"]
    ]
    groups = content_groups(originals, fingerprints.get, config)
    rows = mark_duplicates(rows, groups)
    table = pa.Table.from_pylist(rows, schema=PAIRS)
    pairs_path = write_table(table, out_dir / PAIRS_FILE, inputs=[CANDIDATES_FILE])
    t_written = time.perf_counter()

    by_reason: dict[str, int] = {}
    for row in rows:
        if row["status"] != "accepted":
            reason = reason_group(row["reason"])
            by_reason[reason] = by_reason.get(reason, 0) + 1
    accepted = [r for r in rows if r["status"] == "accepted"]
    summary = PairingSummary(
        candidates=len(rows),
        accepted=len(accepted),
        rejected=len(rows) - len(accepted),
        rejected_by_reason=dict(sorted(by_reason.items())),
        hours_accepted=float(sum(r["original_seconds"] or 0.0 for r in accepted)) / 3600.0,
        hours_usable=float(sum(r.get("usable_s") or 0.0 for r in accepted)) / 3600.0,
        seconds=time.perf_counter() - t0,
        computed=len(todo),
        cached=len(records) - len(todo),
        fingerprints_computed=int(stats.get("fingerprints_computed", 0)),
        files_decoded=int(stats.get("files", 0)),
        audio_seconds_decoded=stats.get("audio_s", 0.0),
        decode_seconds=stats.get("decode_s", 0.0),
        resample_seconds=stats.get("resample_s", 0.0),
        fingerprint_seconds=stats.get("fingerprint_s", 0.0),
        task_seconds=stats.get("task_s", 0.0),
        pairs_path=str(pairs_path),
        timings={"plan_s": t_planned - t0, "verify_s": t_verified - t_planned, "finish_s": t_written - t_verified},
        config=asdict(config),
    )
    update_json(out_dir / SUMMARY_FILE, "audio", summary.summary_json(), inputs=[CANDIDATES_FILE])
    log.info("pairs: %d accepted, %d rejected %s", summary.accepted, summary.rejected, summary.rejected_by_reason)
    return summary
