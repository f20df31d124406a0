"""Pairs a person already has, as the audio stage's candidates: no metadata stage, every pair verified.

Two sources:

- ``read_pair_list(pairs.csv)``: a CSV (``catalog_schemas.KNOWN_PAIRS``) with ``original`` and ``instrumental``
  (paths or URLs, relative ones read from the list's folder) and, optionally, ids, the artist, titles and
  expected durations. A row that cannot be used (both paths empty, a bad duration, a pair or id given twice) is
  skipped with its reason; a path to a missing file is kept: the audio stage rejects it as ``missing-file``.
- ``match_folders(mixtures, instruments)``: two folders whose files pair by name (the vocal-remover layout,
  ``mixtures/01_foo_mix.wav`` beside ``instruments/01_foo_inst.wav``). A file's **name key** is its path under
  its folder without the extension, NFKC and lower case, with one trailing marker removed (``NAME_MARKERS``:
  ``_mix``, ``-mixture``, `` (Instrumental)``, `` - Inst.``, ``_karaoke``, ...), then ``_``, ``-``, ``.`` and runs
  of spaces read as one space: ``01_foo_mix.wav`` and ``01_foo_inst.wav`` both have the key ``01 foo``, ``Song
  (Instrumental).flac`` pairs with ``Song.flac``. A key held by one side only, or by two files of a side, pairs
  nothing and is reported with its reason.

``write_candidates`` fills what a pair does not give from the files themselves (``tags.read_file``: the
artist, titles and stream durations, as Dask tasks over batches of files; ``path_names`` where tags are
missing), gives the titles' marker and score when both are known (``match.explain``, for the report only: no
pair is dropped), writes ``candidates.parquet`` (sorted like the metadata stage's) and the ``known_pairs``
section of ``summary.json`` (the ``metadata`` and ``library`` sections of an earlier run are removed).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

import dask
import pyarrow as pa

from catalog_schemas import CANDIDATES, KNOWN_PAIRS
from miner.match import explain
from miner.music_files import is_audio_name
from miner.normalize import credit_keys
from miner.path_names import names_from_path
from miner.tags import read_file
from vocalmine import storage
from vocalmine.atomic import read_json, write_json, write_table
from vocalmine.errors import UserInputError
from vocalmine.scheduling import run_tasks

log = logging.getLogger(__name__)

#: Trailing words that mark a mixture's or an instrumental's file name (``match_folders``).
NAME_MARKERS = ("mix", "mixture", "original", "full", "inst", "instr", "instrumental", "instrumental version",
                "karaoke", "off vocal", "backing track", "no vocals", "accompaniment")
_NAME_MARKER = re.compile(r"(?:[\s_.\-]+|\s*[\(\[])(?:" + "|".join(
    re.escape(m).replace("\\ ", r"[\s_\-]") for m in sorted(NAME_MARKERS, key=len, reverse=True)) + r")\.?[\)\]]?$")
_FILES_PER_TASK = 64


@dataclass(frozen=True)
class KnownPair:
    """One pair to verify. Paths are absolute paths or URLs (None: the list gave none); ``where``: the list's
    row (``pairs.csv:5``) or the name key."""

    original: str | None
    instrumental: str | None
    original_id: str
    instrumental_id: str
    where: str
    artist: str | None = None
    original_title: str | None = None
    instrumental_title: str | None = None
    original_duration_s: float | None = None
    instrumental_duration_s: float | None = None


@dataclass(frozen=True)
class KnownPairsSummary:
    """What ``write_candidates`` did: ``pairs`` given, ``candidates`` written, and each row or file that
    gave no candidate (``skipped``: ``{"where", "reason", "detail"}``)."""

    source: str
    pairs: int
    candidates: int
    skipped: list[dict[str, str]] = field(default_factory=list)
    files_read: int = 0
    seconds: float = 0.0
    out_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------ a list


def _column_map(header: list[str], path: str) -> dict[str, str]:
    loose = {h.strip().lower().replace(" ", "_").replace("-", "_"): h for h in header}
    found = {c: loose[c] for c in KNOWN_PAIRS.names if c in loose}
    missing = [c for c in ("original", "instrumental") if c not in found]
    if missing:
        raise UserInputError(f"{path}: missing column {', '.join(repr(c) for c in missing)}; a pair list needs "
                             f"'original' and 'instrumental' (paths or URLs). Columns found: "
                             f"{', '.join(repr(h) for h in header) or '(none)'}")
    return found


def _duration(text: str | None) -> float:
    """Seconds (nan when empty); ``ValueError`` when not a positive number."""
    if text is None or not text.strip():
        return math.nan
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def read_pair_list(path: str | os.PathLike) -> tuple[list[KnownPair], list[dict[str, str]]]:
    """(the usable pairs of the CSV ``path``, in its order; the skipped rows with their reasons). A missing
    file or a missing column is a ``UserInputError``."""
    text_path = os.fspath(path)
    if not storage.isfile(text_path):
        raise UserInputError(f"{text_path}: no such file (a pair list: CSV with original, instrumental)")
    text = storage.read_bytes(text_path).decode("utf-8-sig", errors="replace")
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter="\t" if "\t" in first and "," not in first else ",")
    header = next(reader, [])
    cols = _column_map(header, text_path)
    index = {c: header.index(h) for c, h in cols.items()}
    base = storage.parent(storage.absolute(text_path))
    pairs: list[KnownPair] = []
    skipped: list[dict[str, str]] = []
    seen: dict[tuple[str, str], str] = {}
    paths_of: dict[str, str | None] = {}
    for line, cells in enumerate(reader, start=2):
        where = f"{storage.name(text_path)}:{line}"
        row = {c: (cells[i].strip() if i < len(cells) else "") for c, i in index.items()}
        if not any(row.values()):
            continue
        pair = _list_pair(row, base, where, skipped)
        if pair is None:
            continue
        key = (pair.original_id, pair.instrumental_id)
        conflict = next((f"{pid} names {paths_of[pid]} elsewhere" for pid, p in
                         ((pair.original_id, pair.original), (pair.instrumental_id, pair.instrumental))
                         if paths_of.setdefault(pid, p) != p), None)
        if key in seen or conflict:
            skipped.append({"where": where, "reason": "duplicate-pair" if key in seen else "id-conflict",
                            "detail": f"the same pair as {seen[key]}" if key in seen else conflict})
            continue
        seen[key] = where
        pairs.append(pair)
    return pairs, skipped


def _list_pair(row: dict[str, str], base: Any, where: str, skipped: list[dict[str, str]]) -> KnownPair | None:
    """The pair of one list row, or None (and a ``skipped`` entry) when it cannot be used."""
    if not row["original"] and not row["instrumental"]:
        skipped.append({"where": where, "reason": "no-paths", "detail": "both original and instrumental are empty"})
        return None
    try:
        durations = [_duration(row.get(f"{side}_duration_s")) for side in ("original", "instrumental")]
    except ValueError as exc:
        skipped.append({"where": where, "reason": "bad-duration",
                        "detail": f"{exc} is not a duration in seconds (a positive number)"})
        return None
    paths = [str(storage.resolve(row[side], base)) if row[side] else None for side in ("original", "instrumental")]
    ids = [row.get(f"{side}_id") or row[side] or f"{where}:{side}" for side in ("original", "instrumental")]
    return KnownPair(paths[0], paths[1], ids[0], ids[1], where, row.get("artist") or None,
                     row.get("original_title") or None, row.get("instrumental_title") or None,
                     None if math.isnan(durations[0]) else durations[0],
                     None if math.isnan(durations[1]) else durations[1])


# ------------------------------------------------------------------------------------------------ two folders


def name_key(rel: str) -> str:
    """The name key of a file's path under its folder (module doc): ``01_foo_inst.wav`` -> ``01 foo``."""
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    stem = unicodedata.normalize("NFKC", stem).lower().strip()
    stem = _NAME_MARKER.sub("", stem)
    return re.sub(r"[\s_.\-]+", " ", stem).strip()


def _audio_under(folder: str) -> list[tuple[str, str]]:
    """(rel, absolute path or URL) of the audio files under ``folder``, sorted."""
    if not storage.isdir(folder):
        raise UserInputError(f"{folder}: no such folder")
    root = storage.absolute(folder)
    out = []
    for p, _ in storage.find(root):
        p = str(p)
        rel = p[len(root.rstrip("/")) + 1:] if storage.is_url(p) else os.path.relpath(p, root).replace(os.sep, "/")
        if is_audio_name(rel):
            out.append((rel, p))
    return out


def match_folders(mixtures: str | os.PathLike, instruments: str | os.PathLike
                  ) -> tuple[list[KnownPair], list[dict[str, str]]]:
    """(the pairs of two folders whose files pair by name key, sorted by key; the files that pair with nothing,
    with why). Ids are each folder as given plus the file's path under it."""
    sides = []
    for folder in (os.fspath(mixtures), os.fspath(instruments)):
        keyed: dict[str, list[tuple[str, str]]] = {}
        for rel, path in _audio_under(folder):
            keyed.setdefault(name_key(rel), []).append((rel, path))
        sides.append((folder.rstrip("/"), keyed))
    (mix_dir, mixes), (inst_dir, insts) = sides
    pairs: list[KnownPair] = []
    skipped: list[dict[str, str]] = []
    for key in sorted(set(mixes) | set(insts)):
        m, i = mixes.get(key, []), insts.get(key, [])
        if len(m) == 1 and len(i) == 1:
            pairs.append(KnownPair(m[0][1], i[0][1], f"{mix_dir}/{m[0][0]}", f"{inst_dir}/{i[0][0]}", key))
            continue
        for folder, files, other, other_dir in ((mix_dir, m, i, inst_dir), (inst_dir, i, m, mix_dir)):
            for rel, _ in files:
                reason, detail = (("ambiguous", f"{len(files)} files of {folder} have the name key {key!r}")
                                  if len(files) > 1 else
                                  ("unmatched", f"no file of {other_dir} has the name key {key!r}") if not other
                                  else ("ambiguous", f"{len(other)} files of {other_dir} have the name key {key!r}"))
                skipped.append({"where": f"{folder}/{rel}", "reason": reason, "detail": detail})
    return pairs, skipped


# ------------------------------------------------------------------------------------------------ candidates


def describe_batch(paths: list[str]) -> list[dict[str, Any]]:
    """Per path: the values its tags (else its file name) give, and its stream duration (None when unreadable)."""
    out = []
    for path in paths:
        facts = read_file(path)
        values, _ = names_from_path(storage.name(path))
        values.update(facts.values)
        out.append({"path": path, "values": values, "duration_s": facts.duration_s})
    return out


def _describe(pairs: list[KnownPair], scheduler: str | None, progress: bool) -> dict[str, dict[str, Any]]:
    """``path -> describe_batch`` entry of every file of ``pairs`` that a missing value needs."""
    paths: set[str] = set()
    for p in pairs:
        for side, path in (("original", p.original), ("instrumental", p.instrumental)):
            if path and (getattr(p, f"{side}_title") is None or getattr(p, f"{side}_duration_s") is None
                         or p.artist is None):
                paths.add(path)
    todo = sorted(paths)
    task = dask.delayed(describe_batch, pure=True)
    results = run_tasks([task(todo[i:i + _FILES_PER_TASK]) for i in range(0, len(todo), _FILES_PER_TASK)],
                        scheduler, None, progress, desc="files")
    return {d["path"]: d for batch in results for d in batch}


def _candidate(p: KnownPair, facts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The ``CANDIDATES`` row of one pair (``artist_key`` filled later)."""
    orig, inst = facts.get(p.original or "", {}), facts.get(p.instrumental or "", {})
    ov, iv = orig.get("values", {}), inst.get("values", {})
    o_title = p.original_title or ov.get("title")
    i_title = p.instrumental_title or iv.get("title")
    o_dur = p.original_duration_s if p.original_duration_s is not None else orig.get("duration_s")
    i_dur = p.instrumental_duration_s if p.instrumental_duration_s is not None else inst.get("duration_s")
    marker, score = None, None
    if o_title and i_title:
        why = explain(o_title, i_title)
        marker, score = why.marker or None, (why.title_score if why.marker else None)
    return {
        "original_id": p.original_id, "instrumental_id": p.instrumental_id,
        "artist": p.artist or ov.get("artist") or iv.get("artist"), "artist_key": None,
        "original_title": o_title, "instrumental_title": i_title, "marker": marker, "title_score": score,
        "original_duration_s": o_dur, "instrumental_duration_s": i_dur,
        "duration_delta_s": i_dur - o_dur if o_dur is not None and i_dur is not None else None,
        "original_audio_path": p.original, "instrumental_audio_path": p.instrumental,
        "genre": ov.get("genre"), "label": ov.get("label"), "release_date": ov.get("release_date"),
    }


def write_candidates(pairs: list[KnownPair], skipped: list[dict[str, str]], out_dir: Any, source: str,
                     scheduler: str | None = None, progress: bool = False) -> KnownPairsSummary:
    """Write ``out_dir/candidates.parquet`` for ``pairs`` and the ``known_pairs`` section of its summary.json
    (module doc); ``skipped``: the rows or files that gave no pair, recorded with their reasons."""
    t0 = time.perf_counter()
    if not pairs:
        raise UserInputError(f"{source}: no pair to verify" + (f" ({len(skipped)} skipped: "
                             f"{skipped[0]['where']}: {skipped[0]['detail']}, ...)" if skipped else ""))
    facts = _describe(pairs, scheduler, progress)
    rows = [_candidate(p, facts) for p in pairs]
    keys, _ = credit_keys([r["artist"] or "" for r in rows])
    for row, key in zip(rows, keys.to_pylist()):
        row["artist_key"] = key if row["artist"] else None
    table = pa.Table.from_pylist(rows, schema=CANDIDATES).sort_by(
        [("artist_key", "ascending"), ("original_id", "ascending"), ("instrumental_id", "ascending")])
    out = storage.join(storage.absolute(out_dir))
    storage.makedirs(out)
    write_table(table, storage.join(out, "candidates.parquet"), inputs=())  # removes outputs of older candidates
    summary = KnownPairsSummary(source, len(pairs), table.num_rows, skipped, len(facts),
                                round(time.perf_counter() - t0, 3), str(out))
    summary_path = storage.join(out, "summary.json")
    data = {k: v for k, v in (read_json(summary_path, {}) or {}).items() if k not in ("metadata", "library")}
    write_json({**data, "known_pairs": summary.to_dict()}, summary_path)
    return summary
