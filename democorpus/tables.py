"""Write the demo corpus's tables: catalog.csv (what a miner reads) and the truth tables under truth/ (what
every row really is, the pairs a correct miner proposes with their verdicts, the metadata decoys, the songs).
Columns are the contract the tests and ``pairing``'s benchmarks read; rows are sorted by track or pair id.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from democorpus.releases import release_truth
from democorpus.rows import Pair, Plan
from democorpus.synth import Song, note_name, song_columns
from vocalmine.atomic import atomic_path

CATALOG_COLUMNS = ("track_id", "artist", "title", "duration_s", "album", "genre", "release_date", "label",
                   "audio_path")
TRACKS_COLUMNS = ("track_id", "song_id", "role", "note", "content", "source_song_id", "sample_rate", "format")
PAIRS_COLUMNS = ("pair_id", "original_id", "instrumental_id", "expected_status", "expected_reason", "offset_s",
                 "gain_db", "polarity", "duplicate_group", "song_id", "split_hint", "note", "release",
                 "release_truth")
METADATA_DECOYS_COLUMNS = ("track_id", "kind", "note")
SONGS_COLUMNS = ("song_id", "artist", "title", "key", "tempo_bpm", "voice", "voice_range", "sample_rate",
                 "duration_s", "vocal_activity", "split_hint", "genre", "instruments", "singer", "vocal_style",
                 "instrumental_only", "song_family")


def decimals(x: float, digits: int) -> str:
    """``x`` with ``digits`` decimals, as the tables write numbers."""
    return f"{x:.{digits}f}"


def csv_text(columns: tuple[str, ...], records: list[dict[str, Any]]) -> str:
    """CSV with a header, ``\\n`` line ends, None as an empty field."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for rec in records:
        writer.writerow(["" if rec.get(c) is None else rec.get(c) for c in columns])
    return buf.getvalue()


def write_csv(path: Path, columns: tuple[str, ...], records: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(csv_text(columns, records), encoding="utf-8")


def mark_duplicates(pairs: list[Pair]) -> None:
    """In each duplicate group the pair with the smallest pair_id is kept; the others are rejected, pointing at it."""
    groups: dict[str, list[Pair]] = {}
    for p in pairs:
        if p.duplicate_group:
            groups.setdefault(p.duplicate_group, []).append(p)
    for members in groups.values():
        members.sort(key=lambda p: p.pair_id)
        kept = members[0].pair_id
        for p in members[1:]:
            p.status, p.reason = "rejected", f"duplicate-of:{kept}"


def pair_record(p: Pair) -> dict[str, Any]:
    """A row of truth/pairs.csv; a true pair's alignment is the one its instrumental was written with."""
    true = p.instrumental.role == "instrumental"
    real = p.instrumental.realised
    release = p.instrumental.recipe.release
    return {
        "pair_id": p.pair_id,
        "original_id": p.original.track_id, "instrumental_id": p.instrumental.track_id,
        "expected_status": p.status, "expected_reason": p.reason,
        "offset_s": decimals(real["offset_s"], 9) if true else None,
        "gain_db": decimals(real["gain_db"], 2) if true else None,
        "polarity": real["polarity"] if true else None,
        "duplicate_group": p.duplicate_group, "song_id": p.song_id, "split_hint": p.split_hint, "note": p.note,
        "release": release.kind if true and release else "",
        "release_truth": release_truth(release, real["offset_s"], p.original.duration_s or 0.0,
                                       p.original.recipe.sample_rate) if true else "",
    }


def song_record(plan: Plan, i: int, song: Song) -> dict[str, Any]:
    """Song ``i``'s row of truth/songs.csv."""
    spec = song.spec
    return {
        "song_id": spec.song_id, "artist": plan.artists[i], "title": plan.titles[i], "key": spec.key,
        "tempo_bpm": decimals(spec.tempo_bpm, 1), "voice": spec.voice,
        "voice_range": f"{note_name(spec.voice_low)}-{note_name(spec.voice_high)}" if spec.voice_params else "",
        "sample_rate": spec.sample_rate, "duration_s": decimals(spec.samples / spec.sample_rate, 3),
        "vocal_activity": decimals(song.vocal_activity, 3), "split_hint": plan.splits[plan.artists[i]],
        **song_columns(song),
    }


def write_tables(out: Path, plan: Plan, songs: dict[str, dict[str, Any]]) -> None:
    """Write catalog.csv and truth/{tracks,metadata_decoys,pairs,songs}.csv once every file is written (the
    durations and the realised alignments are the files'). ``songs``: truth/songs.csv's rows by song id."""
    rows = sorted(plan.rows, key=lambda r: r.track_id)
    write_csv(out / "catalog.csv", CATALOG_COLUMNS, [
        {"track_id": r.track_id, "artist": r.artist, "title": r.title,
         "duration_s": None if r.blank_duration else decimals(r.duration_s, 3), "album": r.album,
         "genre": r.genre, "release_date": r.release_date, "label": r.label, "audio_path": r.audio_path}
        for r in rows
    ])
    write_csv(out / "truth" / "tracks.csv", TRACKS_COLUMNS, [
        {"track_id": r.track_id, "song_id": r.song_id, "role": r.role, "note": r.note,
         "content": r.recipe.content, "source_song_id": r.recipe.source,
         "sample_rate": r.recipe.sample_rate if r.recipe.content not in ("none", "random-bytes") else None,
         "format": r.ext}
        for r in rows
    ])
    write_csv(out / "truth" / "metadata_decoys.csv", METADATA_DECOYS_COLUMNS, [
        {"track_id": r.track_id, "kind": r.kind, "note": r.note} for r in rows if r.role == "metadata-decoy"
    ])
    mark_duplicates(plan.pairs)
    records = sorted((pair_record(p) for p in plan.pairs), key=lambda r: r["pair_id"])
    write_csv(out / "truth" / "pairs.csv", PAIRS_COLUMNS, records)
    write_csv(out / "truth" / "songs.csv", SONGS_COLUMNS, [songs[s.song_id] for s in plan.specs])
