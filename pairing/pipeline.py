"""The audio stage: ``candidates.parquet`` in, ``pairs.parquet`` out, one verdict row per candidate.

Work runs as Dask tasks over batches of candidates (a batch never splits a group of candidates that share a
file, so a file is read and decoded once per task). A task hashes each file where it decodes it, from the same
bytes (``pairing.prepare.read_audio``), and writes its verdicts to a Parquet part-file under
``out_dir/.cache/verdicts/`` before returning, keyed by pair id, both files' content hashes, their catalog
durations and the config's verdict hash; a re-run (after an interruption, or with more candidates) reads
those and computes only what is missing. The driver reads no audio: it knows a file's hash from
``.cache/file_hashes.json`` when the file's stamp (size and time, or ETag) is the one the task that hashed it
saw, and sends the other candidates to the tasks. Fingerprints are cached by file content under
``out_dir/.cache/fingerprints/``. ``out_dir`` is a local folder or a URL (``vocalmine.storage``): with a
``dask.distributed`` cluster, every worker reads the audio and writes its part-files through the same
storage, a shared disk or object storage alike.

Layout under ``out_dir``: ``pairs.parquet``; ``summary.json`` (section ``audio``); ``.cache/`` (safe to
delete: it only saves time).
"""

from __future__ import annotations

import hashlib
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
from features.audio import AudioError
from pairing.cache import cache_key, known_hashes, read_verdicts, remember_hashes, write_verdicts
from pairing.config import PairingConfig
from pairing.dedup import content_groups, mark_duplicates, reason_group
from pairing.fingerprint import FingerprintCache
from pairing.prepare import PreparedAudio, PrepareStats, prepare_audio, read_audio
from pairing.verify import VERDICT_COLUMNS, verify_pair
from vocalmine import settings, storage
from vocalmine.atomic import update_json, write_table
from vocalmine.errors import UserInputError
from vocalmine.scheduling import run_tasks
from vocalmine.tables import read_checked
from vocalmine.unionfind import SmallestRootUnionFind

log = logging.getLogger(__name__)

CANDIDATES_FILE = "candidates.parquet"
PAIRS_FILE = "pairs.parquet"
SUMMARY_FILE = "summary.json"
CACHE_DIR = ".cache"

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


# ---- the per-batch task ------------------------------------------------------------------------------------

@dataclass
class BatchResult:
    rows: list[dict[str, Any]]  # verdict columns + cache_key, in the batch's record order
    stats: dict[str, float]
    file_sha1s: list[tuple[str | None, str | None]] = field(default_factory=list)  # per record: (original, instr.)
    stamps: dict[str, list] = field(default_factory=dict)  # path -> [*stamp, sha1] of each file hashed


def _error_verdict(exc: BaseException) -> dict[str, Any]:
    row = {c: None for c in VERDICT_COLUMNS}
    row.update(status="rejected", reason="error", detail=f"{type(exc).__name__}: {exc}")
    return row


def verify_batch(records: list[dict[str, Any]], cache_root: str, config: PairingConfig) -> BatchResult:
    """Verify candidates (dicts with the CANDIDATES columns plus ``pair_id``); write their verdicts to one
    part-file; return them. Each file is hashed here, from the bytes it is decoded from, and each verdict's
    ``cache_key`` made from those hashes.

    Prepared files are kept in a small LRU (``config.decoded_cache_files``), so a file shared by several
    candidates of the batch is decoded once, and memory stays bounded by a few files.
    """
    t_start = time.perf_counter()
    fingerprints = FingerprintCache(storage.path(cache_root) / "fingerprints")
    stats = PrepareStats()
    config_hash = config.verdict_hash()
    prepared: OrderedDict[str, tuple[PreparedAudio | AudioError, str | None]] = OrderedDict()
    stamps: dict[str, list] = {}

    def get(path: str | None) -> tuple[PreparedAudio | AudioError | None, str | None]:
        """The prepared file (or why not) and the SHA-1 of its bytes (None when they could not be read)."""
        if path is None:
            return None, None
        if path in prepared:
            prepared.move_to_end(path)
            return prepared[path]
        sha1 = None
        try:
            t0 = time.perf_counter()
            read = read_audio(path)
            stats.decode_s += time.perf_counter() - t0  # reading, hashing and decoding
            sha1 = read.sha1
            stamps[path] = [*read.stamp, sha1]
            if isinstance(read.decoded, AudioError):
                raise read.decoded
            value: PreparedAudio | AudioError = prepare_audio(path, sha1, fingerprints, config, stats,
                                                              decoded=read.decoded)
        except AudioError as exc:
            value = exc
        except Exception as exc:  # a decoder crash on one odd file must not stop the batch
            log.warning("cannot prepare %s: %s", path, exc)
            value = AudioError("unreadable", f"{path}: {type(exc).__name__}: {exc}")
        prepared[path] = (value, sha1)
        while len(prepared) > max(2, config.decoded_cache_files):
            prepared.popitem(last=False)
        return value, sha1

    rows, sha1s = [], []
    for rec in records:
        original_sha1 = instrumental_sha1 = None
        try:
            original, original_sha1 = get(rec.get("original_audio_path"))
            instrumental, instrumental_sha1 = get(rec.get("instrumental_audio_path"))
            verdict = verify_pair(rec, original, instrumental, config)
        except Exception as exc:
            log.exception("verifying %s failed", rec["pair_id"])
            verdict = _error_verdict(exc)
        verdict["cache_key"] = cache_key({**rec, "original_file_sha1": original_sha1,
                                          "instrumental_file_sha1": instrumental_sha1}, config_hash)
        rows.append(verdict)
        sha1s.append((original_sha1, instrumental_sha1))
    write_verdicts(rows, storage.path(cache_root))
    result_stats = {k: float(v) for k, v in asdict(stats).items()}
    result_stats.update(fingerprints_computed=fingerprints.computed, task_s=time.perf_counter() - t_start,
                        pairs=len(records))
    return BatchResult(rows, result_stats, sha1s, stamps)


# ---- planning --------------------------------------------------------------------------------------------

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
    table = read_checked(path, CANDIDATES.names, "the candidates schema, see docs/schemas.md")
    try:
        return table.select(CANDIDATES.names).cast(CANDIDATES)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise UserInputError(f"{path} does not match the candidates schema: {exc}") from exc


def _plan(out_dir: Path, cache_root: Path, config: PairingConfig) -> list[dict[str, Any]]:
    """The candidates as dicts, each with its ``pair_id``; those whose files' hashes are known (remembered
    for the stamp they have now, or missing) also with ``{original,instrumental}_file_sha1`` and their verdict
    ``cache_key``. No audio is read here: the tasks hash what they decode."""
    records = _read_candidates(out_dir).to_pylist()
    paths = sorted({r[c] for r in records for c in ("original_audio_path", "instrumental_audio_path") if r[c]})
    hashes = known_hashes(paths, cache_root / "file_hashes.json")
    config_hash = config.verdict_hash()
    for rec in records:
        rec["pair_id"] = f"{rec['original_id']}~{rec['instrumental_id']}"
        sides = [rec[f"{side}_audio_path"] for side in ("original", "instrumental")]
        if all(p is None or p in hashes for p in sides):
            for side, path in zip(("original", "instrumental"), sides):
                rec[f"{side}_file_sha1"] = hashes[path] if path else None
            rec["cache_key"] = cache_key(rec, config_hash)
    return records


def _task_name(batch: list[dict[str, Any]]) -> str:
    """A Dask key for a batch: the same candidates with the same known hashes give the same name."""
    text = "\n".join(r.get("cache_key") or f"{r['pair_id']}?" for r in batch)
    return "verify-pairs-" + hashlib.sha1(text.encode()).hexdigest()[:20]


def _verify_batches(todo: list[dict[str, Any]], cache_root: Path, config: PairingConfig, scheduler: str | None,
                    progress: bool) -> list[BatchResult]:
    """``verify_batch`` over batches of ``todo`` as Dask tasks; sets each record's file hashes and
    ``cache_key`` to those its task found, and remembers the hashes (``.cache/file_hashes.json``)."""
    verify = dask.delayed(verify_batch, pure=True)
    batches = _batches(todo, max(1, config.batch_size))
    tasks = [verify(batch, str(cache_root), config, dask_key_name=_task_name(batch)) for batch in batches]
    results = run_tasks(tasks, scheduler, config.workers, progress, desc="pairs")
    stamps: dict[str, list] = {}
    for batch, res in zip(batches, results):
        stamps.update(res.stamps)
        for rec, row, (original_sha1, instrumental_sha1) in zip(batch, res.rows, res.file_sha1s):
            rec.update(original_file_sha1=original_sha1, instrumental_file_sha1=instrumental_sha1,
                       cache_key=row["cache_key"])
    remember_hashes(stamps, cache_root / "file_hashes.json")
    return results


def _pair_rows(records: list[dict[str, Any]], verdicts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """PAIRS rows in candidate order: each candidate's columns, its verdict (by cache key) and its pair id."""
    rows = []
    for rec in records:
        row = {k: v for k, v in rec.items() if k in CANDIDATES.names}
        row.update({k: v for k, v in verdicts[rec["cache_key"]].items() if k != "cache_key"})
        row["pair_id"] = rec["pair_id"]
        rows.append(row)
    return rows


def _groups_of_originals(records: list[dict[str, Any]], rows: list[dict[str, Any]], cache_root: Path,
                         config: PairingConfig) -> dict[str, str]:
    """``original_id -> content_group`` of the originals with audio (``pairing.dedup``)."""
    fingerprints = FingerprintCache(cache_root / "fingerprints")
    originals = [
        {"original_id": rec["original_id"], "content_sha1": row["original_sha1"],
         "file_sha1": rec["original_file_sha1"], "seconds": row["original_seconds"], "block": rec["artist_key"]}
        for rec, row in zip(records, rows) if row["original_sha1"]
    ]
    return content_groups(originals, fingerprints.get, config)


def _summary(rows: list[dict[str, Any]], computed: int, results: list[BatchResult], config: PairingConfig,
             pairs_path: str, seconds: float, timings: dict[str, float]) -> PairingSummary:
    """What the run did: verdict counts by reason, hours accepted and usable, and the tasks' summed stats."""
    stats: dict[str, float] = {}
    for res in results:
        for k, v in res.stats.items():
            stats[k] = stats.get(k, 0.0) + v
    by_reason: dict[str, int] = {}
    for row in rows:
        if row["status"] != "accepted":
            reason = reason_group(row["reason"])
            by_reason[reason] = by_reason.get(reason, 0) + 1
    accepted = [r for r in rows if r["status"] == "accepted"]
    return PairingSummary(
        candidates=len(rows),
        accepted=len(accepted),
        rejected=len(rows) - len(accepted),
        rejected_by_reason=dict(sorted(by_reason.items())),
        hours_accepted=float(sum(r["original_seconds"] or 0.0 for r in accepted)) / 3600.0,
        hours_usable=float(sum(r.get("usable_s") or 0.0 for r in accepted)) / 3600.0,
        seconds=seconds,
        computed=computed,
        cached=len(rows) - computed,
        fingerprints_computed=int(stats.get("fingerprints_computed", 0)),
        files_decoded=int(stats.get("files", 0)),
        audio_seconds_decoded=stats.get("audio_s", 0.0),
        decode_seconds=stats.get("decode_s", 0.0),
        resample_seconds=stats.get("resample_s", 0.0),
        fingerprint_seconds=stats.get("fingerprint_s", 0.0),
        task_seconds=stats.get("task_s", 0.0),
        pairs_path=pairs_path,
        timings=timings,
        config=settings.flat_dict(config),
    )


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
    records = _plan(out_dir, cache_root, config)
    t_planned = time.perf_counter()

    cached = read_verdicts(cache_root)
    todo = [r for r in records if r.get("cache_key") not in cached]
    log.info("%d candidates: %d verdicts cached, %d to verify", len(records), len(records) - len(todo), len(todo))
    results = _verify_batches(todo, cache_root, config, scheduler, progress)
    t_verified = time.perf_counter()

    verdicts = {**cached, **{row["cache_key"]: row for res in results for row in res.rows}}
    rows = _pair_rows(records, verdicts)
    rows = mark_duplicates(rows, _groups_of_originals(records, rows, cache_root, config))
    pairs_path = write_table(pa.Table.from_pylist(rows, schema=PAIRS), out_dir / PAIRS_FILE, inputs=[CANDIDATES_FILE])
    t_written = time.perf_counter()

    timings = {"plan_s": t_planned - t0, "verify_s": t_verified - t_planned, "finish_s": t_written - t_verified}
    summary = _summary(rows, len(todo), results, config, str(pairs_path), time.perf_counter() - t0, timings)
    update_json(out_dir / SUMMARY_FILE, "audio", summary.summary_json(), inputs=[CANDIDATES_FILE])
    log.info("pairs: %d accepted, %d rejected %s", summary.accepted, summary.rejected, summary.rejected_by_reason)
    return summary
