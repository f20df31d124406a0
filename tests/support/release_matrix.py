"""The release matrix (``democorpus.matrix``) through the audio stage, measured against its truth (issue 18).

A song's instrumentals share its original, so each kind runs in a pairs folder of its own (the audio stage
keeps one pair per content group): ``run_matrix`` writes each folder's candidates.parquet (one candidate per
song) and runs ``pairing.pair_candidates``; ``measure_matrix`` measures every pair with
``support.pairing_truth.measure_pair`` (target error against the true vocal, next to the ideal target's).
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog_schemas import CANDIDATES
from pairing import PairingConfig, pair_candidates
from support.pairing_truth import PairMeasure, measure_pair

#: Map degradations of each family's clean pair in the quality test set: a band's gain changed (band index,
#: dB), one half of the song a few milliseconds out of step (ms).
BAND_CHANGES = ((4, -3.0), (6, -6.0), (2, -10.0), (8, 6.0))
SHIFTS_MS = (2.0, 5.0, 10.0)
#: Kinds of the matrix in the quality test set (with every family's clean pair and its map degradations).
DEGRADED_SET_KINDS = ("clean", "missing-rhythm", "mp3-mono", "ogg-lowest")


def matrix_truth(matrix_dir: Path) -> list[dict]:
    """truth/pairs.csv's rows of a release matrix, ``kind`` added (``clean`` for a plain pair)."""
    rows = list(csv.DictReader(open(Path(matrix_dir) / "truth" / "pairs.csv", newline="")))
    return [dict(r, kind=r["release"] or "clean") for r in rows]


def candidates(matrix_dir: Path, truth: list[dict]) -> pa.Table:
    """A CANDIDATES table of ``truth``'s pairs (catalog durations: the files')."""
    import soundfile as sf

    rows = []
    for t in truth:
        o = str(Path(matrix_dir) / "audio" / f"{t['original_id']}.flac")
        i = str(Path(matrix_dir) / "audio" / f"{t['instrumental_id']}.{t['audio_format']}")
        od, idur = sf.info(o).duration, sf.info(i).duration
        rows.append({
            "original_id": t["original_id"], "instrumental_id": t["instrumental_id"], "artist": t["song_family"],
            "artist_key": t["song_family"], "original_title": t["song_id"],
            "instrumental_title": f"{t['song_id']} (Instrumental)", "marker": "(Instrumental)", "title_score": 100.0,
            "original_duration_s": od, "instrumental_duration_s": idur, "duration_delta_s": idur - od,
            "original_audio_path": o, "instrumental_audio_path": i, "genre": None, "label": None,
            "release_date": None,
        })
    return pa.Table.from_pylist(rows, schema=CANDIDATES)


def run_matrix(matrix_dir: Path, out_root: Path, config: PairingConfig = PairingConfig(),
               kinds: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Run the audio stage on each kind's pairs (``out_root/<kind>/pairs.parquet``); kind -> pairs folder."""
    by_kind: dict[str, list[dict]] = {}
    for t in matrix_truth(matrix_dir):
        if kinds is None or t["kind"] in kinds:
            by_kind.setdefault(t["kind"], []).append(t)
    out = {}
    for kind, truth in sorted(by_kind.items()):
        folder = Path(out_root) / kind
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(candidates(matrix_dir, truth), folder / "candidates.parquet")
        pair_candidates(folder, config, progress=False)
        out[kind] = folder
    return out


def measure_matrix(matrix_dir: Path, runs: dict[str, Path]) -> list[PairMeasure]:
    """Every pair of ``runs`` (kind -> pairs folder) measured against the matrix's stems."""
    truth = {t["pair_id"]: t for t in matrix_truth(matrix_dir)}
    out = []
    for kind, folder in sorted(runs.items()):
        for row in pq.read_table(folder / "pairs.parquet").to_pylist():
            t = truth[row["pair_id"]]
            out.append(measure_pair(Path(matrix_dir), row, t["song_id"], kind, family=t["song_family"]))
    return out


def ratio_table(measures: list[PairMeasure], families: list[str] | None = None) -> str:
    """Markdown: one row per kind, one column per family, each cell the error ratio (target / ideal), a
    rejection's reason, or '-'."""
    families = families or sorted({m.family for m in measures})
    cells: dict[tuple[str, str], str] = {}
    for m in measures:
        cells[(m.kind, m.family)] = (f"{m.ratio:.2f}" if m.status == "accepted" and np.isfinite(m.ratio)
                                     else m.reason or m.status)
    kinds = sorted({m.kind for m in measures}, key=lambda k: (k != "clean", k))
    lines = ["| kind | " + " | ".join(families) + " |", "|---" * (len(families) + 1) + "|"]
    for kind in kinds:
        lines.append(f"| {kind} | " + " | ".join(cells.get((kind, f), "-") for f in families) + " |")
    return "\n".join(lines)


def degraded_row(row: dict, band: tuple[int, float] | None = None, shift_ms: float | None = None) -> dict:
    """``row`` (a pairs.parquet row) with its map degraded: one band's gain changed by ``band = (index, dB)``,
    or the second half of its main segment moved ``shift_ms`` later."""
    from features.alignmap import AlignmentMap, Segment

    amap = AlignmentMap.from_json(row["alignment_map"])
    if band is not None:
        gains = list(amap.band_gain_db) or [0.0] * 13
        gains[band[0]] += band[1]
        amap = replace(amap, band_gain_db=tuple(gains))
    if shift_ms is not None:
        main = max(amap.segments, key=lambda s: s.end_s - s.start_s)
        mid = (main.start_s + min(main.end_s, row["original_seconds"])) / 2
        halves = [Segment(main.start_s, mid, main.offset_s), Segment(mid, main.end_s, main.offset_s + shift_ms / 1000)]
        amap = replace(amap, segments=tuple(sorted([s for s in amap.segments if s is not main] + halves,
                                                   key=lambda s: s.start_s)))
    return dict(row, alignment_map=amap.to_json(), pair_id=f"{row['pair_id']}#{band or ''}{shift_ms or ''}")


def quality_set(matrix_dir: Path, measures: list[PairMeasure],
                kinds: tuple[str, ...] = DEGRADED_SET_KINDS) -> list[tuple[str, str, float, float]]:
    """(kind, family, true error / ideal, target_error) of the quality test set: the accepted pairs of ``kinds``
    (their row's estimate), and each family's clean pair with its map degraded (``BAND_CHANGES``,
    ``SHIFTS_MS``; estimated again from the files, ``pairing.quality.estimate_row``)."""
    from pairing.quality import estimate_row

    truth = {t["pair_id"]: t for t in matrix_truth(matrix_dir)}
    out = []
    for m in measures:
        if m.kind in kinds and m.status == "accepted":
            out.append((m.kind, m.family, m.ratio, m.row["target_error"]))
        if m.kind != "clean" or m.status != "accepted":
            continue
        song = truth[m.row["pair_id"]]["song_id"]
        variants = [(degraded_row(m.row, band=b), f"band {b[0]} {b[1]:+g} dB") for b in BAND_CHANGES]
        variants += [(degraded_row(m.row, shift_ms=s), f"shift {s:g} ms") for s in SHIFTS_MS]
        for row, kind in variants:
            out.append((kind, m.family, measure_pair(Path(matrix_dir), row, song, kind, family=m.family).ratio,
                        estimate_row(row)))
    return out
