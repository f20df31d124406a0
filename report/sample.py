"""A small synthetic ``mine-pairs`` output (summary.json, candidates.parquet, pairs.parquet, WAV files) for the
report's tests and for looking at the page without running the pipeline.

Eight hand-made pairs carry real audio, aligned with the project's convention
(``instrumental[t + offset_s] = g * accompaniment[t]``), and cover every section of the page: accepted, flagged
(vocal near zero, large offset, low confidence, clipping), rejected with measurements (drift, duplicate,
same-content) and without (missing-file); two of them carry catalog strings with ``<``, ``"`` and ``&``.
``extra_pairs`` adds generated rows without audio (to try the page with 20,000 pairs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import soundfile as sf

from catalog_schemas import CANDIDATES, PAIRS
from pairing.config import PairingConfig
from pairing.dedup import reason_group
from vocalmine.atomic import write_json, write_table

INJECTED_TITLE = "<script>alert(1)</script>"

#: The hand-made pairs: ids, strings, verdict, true alignment, and how the instrumental file is made.
SPECS: tuple[dict[str, Any], ...] = (
    dict(o="t01", i="t01i", artist="Nova", title="Blue Night", status="accepted", reason="", offset=0.5, gain=-1.0,
         polarity=1, kind="clean", genre="K-pop", label="Star & Co", date="2019-03-01"),
    dict(o="t02", i="t02i", artist="Nova", title=INJECTED_TITLE, status="accepted", reason="", offset=0.0, gain=0.0,
         polarity=1, kind="clean", genre="K-pop", label="Star & Co", date="2020-05-05", clipping=0.004),
    dict(o="t03", i="t03i", artist='Tom & "Jerry"', title='Say "Hello" & Goodbye', status="accepted", reason="",
         offset=0.25, gain=0.0, polarity=1, kind="voice-left", genre="Rock", label='Indie <Label> "B&B"',
         date="2018"),
    dict(o="t04", i="t04i", artist="Mira", title="Late Train", status="accepted", reason="", offset=3.2, gain=-3.0,
         polarity=-1, kind="clean", genre="Pop", label="", date="2021-07-09", confidence=0.45),
    dict(o="t05", i="t05i", artist="Mira", title="Glass", status="rejected", reason="drift", offset=1.0, gain=0.0,
         polarity=1, kind="clean", genre="Pop", label="Wave", date="2016-01-01", confidence=0.31),
    dict(o="t06", i="t06i", artist="Kai", title="Harbor", status="rejected", reason="missing-file", offset=None,
         gain=None, polarity=None, kind="missing", genre="Jazz", label="Wave", date="2015"),
    dict(o="t07", i="t01i", artist="Nova", title="Blue Night", status="rejected", reason="duplicate-of:t01~t01i",
         offset=0.5, gain=-1.0, polarity=1, kind="clean", genre="K-pop", label="Star & Co", date="2019-04-01",
         same_audio_as="t01"),
    dict(o="t08", i="t08i", artist="Kai", title="Echo", status="rejected", reason="same-content", offset=0.0,
         gain=0.0, polarity=1, kind="same", genre="Jazz", label="", date=""),
)


def _song(rng: np.random.Generator, sr: int, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """(accompaniment, vocal), float64 ``[samples]``: chords, bass and hats; a gated, vibrato voice."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    acc = np.zeros(n)
    chord_len = 1.5
    for k in range(int(np.ceil(seconds / chord_len))):
        seg = (t >= k * chord_len) & (t < (k + 1) * chord_len)
        root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
        for ratio, amp in ((1, 0.25), (1.26, 0.12), (1.5, 0.12), (2, 0.08), (0.5, 0.2)):
            acc[seg] += amp * np.sin(2 * np.pi * root * ratio * t[seg])
    hat = rng.standard_normal(n) * np.exp(-((t % 0.25) / 0.02)) * 0.15
    acc += hat
    notes = 220.0 * 2 ** (rng.integers(0, 10, size=int(seconds / 0.4) + 1) / 12)
    f0 = notes[(t / 0.4).astype(int)] * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 7))
    gate = ((t % 1.8) < 1.2).astype(float)
    gate = np.convolve(gate, np.ones(int(0.03 * sr)) / int(0.03 * sr), mode="same")
    return acc * 0.8, 0.3 * voice * gate


def _wav(path: Path, samples: np.ndarray, sr: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stereo = np.stack([samples, samples * 0.98], axis=1)
    sf.write(path, np.clip(stereo, -1, 1), sr, subtype="PCM_16")


def _energy(x: np.ndarray) -> float:
    return float(np.sum(x.astype(np.float64) ** 2))


def _audio_rows(out_dir: Path, sr: int, seconds: float, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    songs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    rows = []
    for spec in SPECS:
        key = spec.get("same_audio_as", spec["o"])
        if key not in songs:
            songs[key] = _song(rng, sr, seconds)
        acc, voc = songs[key]
        original = acc + voc
        orig_path = out_dir / "audio" / f"{spec['o']}.wav"
        inst_path = out_dir / "audio" / f"{spec['i']}.wav"
        _wav(orig_path, original, sr)
        row: dict[str, Any] = {k: None for k in PAIRS.names}
        if spec["kind"] == "missing":
            inst_path = out_dir / "audio" / "absent" / f"{spec['i']}.wav"
        else:
            content = {"clean": acc, "voice-left": acc + 0.85 * voc, "same": original}[spec["kind"]]
            g = spec["polarity"] * 10 ** (spec["gain"] / 20)
            shift = int(round(spec["offset"] * sr))
            inst = np.concatenate([np.zeros(max(shift, 0)), g * content[max(-shift, 0):], np.zeros(sr // 2)])
            if spec["o"] == spec.get("same_audio_as", spec["o"]) or not inst_path.exists():
                _wav(inst_path, inst, sr)
            derived = original - content
            corr = float(np.dot(original, content) / np.sqrt(_energy(original) * _energy(content)))
            row.update(
                offset_s=spec["offset"], gain_db=spec["gain"], polarity=spec["polarity"],
                fingerprint_similarity=0.99 if spec["kind"] == "same" else 0.9,
                alignment_confidence=round(spec.get("confidence", corr), 4),
                vocal_free_correlation=0.97, vocal_energy_share=round(_energy(derived) / _energy(original), 5),
                vocal_activity=0.66, clipping=spec.get("clipping", 0.0),
                original_sha1=hashlib.sha1(original.astype(np.float32).tobytes()).hexdigest(),
                instrumental_sha1=hashlib.sha1(inst.astype(np.float32).tobytes()).hexdigest(),
                content_group=f"g-{key}", original_seconds=seconds,
            )
        row.update(
            pair_id=f"{spec['o']}~{spec['i']}", original_id=spec["o"], instrumental_id=spec["i"],
            status=spec["status"], reason=spec["reason"], artist=spec["artist"], artist_key=spec["artist"].lower(),
            original_title=spec["title"], instrumental_title=f"{spec['title']} (Instrumental)",
            marker="(Instrumental)", title_score=100.0, original_duration_s=seconds,
            instrumental_duration_s=seconds + (spec["offset"] or 0.0) + 0.5,
            duration_delta_s=(spec["offset"] or 0.0) + 0.5, original_audio_path=str(orig_path),
            instrumental_audio_path=str(inst_path), genre=spec["genre"], label=spec["label"] or None,
            release_date=spec["date"] or None,
        )
        rows.append(row)
    return rows


def _extra_rows(n: int, seed: int, out_dir: Path) -> list[dict[str, Any]]:
    """Generated rows without audio files (paths that do not exist), vectorised for 20,000-row tables."""
    rng = np.random.default_rng(seed + 1)
    words = ["love", "night", "fire", "river", "dream", "gold", "rain", "city", "heart", "light", "storm", "echo"]
    genres = [f"genre {k:02d}" for k in range(28)] + ["K-pop", "Rock"]
    labels = ["Wave", "Star & Co", "North", "Bright", "Lumen", "Kite"]
    reasons = ["drift", "different-recording", "low-confidence", "missing-file", "too-short", "silent"]
    accepted = rng.random(n) < 0.8
    reason_pick = rng.integers(0, len(reasons), n)
    rows = []
    cols = {
        "title_score": rng.uniform(85, 100, n), "duration_delta_s": rng.normal(0, 1.5, n),
        "offset_s": rng.normal(0, 0.8, n), "gain_db": rng.normal(-1, 1.5, n),
        "alignment_confidence": rng.uniform(0.3, 0.99, n), "vocal_energy_share": rng.uniform(0.02, 0.7, n),
        "fingerprint_similarity": rng.uniform(0.6, 1.0, n), "vocal_free_correlation": rng.uniform(0.4, 1.0, n),
        "vocal_activity": rng.uniform(0.2, 0.8, n), "clipping": np.where(rng.random(n) < 0.01, 0.01, 0.0),
        "original_seconds": rng.uniform(150, 300, n),
    }
    for k in range(n):
        reason = "" if accepted[k] else reasons[reason_pick[k]]
        measured = reason not in ("missing-file", "too-short", "silent")
        title = f"{words[k % 12].title()} {words[(k // 12) % 12]} {k}"
        row = {name: (round(float(v[k]), 4) if measured or name in ("title_score", "duration_delta_s") else None)
               for name, v in cols.items()}
        oid, iid = f"x{k:05d}", f"x{k:05d}i"
        row.update(
            pair_id=f"{oid}~{iid}", original_id=oid, instrumental_id=iid,
            status="accepted" if accepted[k] else "rejected", reason=reason, polarity=1 if measured else None,
            artist=f"Artist {k % 997}", artist_key=f"artist {k % 997}", original_title=title,
            instrumental_title=f"{title} (Inst.)", marker="(Inst.)", original_duration_s=200.0,
            instrumental_duration_s=200.0 + row["duration_delta_s"],
            original_audio_path=str(out_dir / "audio" / "absent" / f"{oid}.wav"),
            instrumental_audio_path=str(out_dir / "audio" / "absent" / f"{iid}.wav"),
            genre=genres[k % len(genres)], label=labels[k % len(labels)], release_date=f"{2000 + k % 24}-01-01",
            content_group=f"g-{oid}", original_sha1=None, instrumental_sha1=None,
        )
        rows.append(row)
    return rows


def make_sample_pairs_dir(out_dir: str | Path, *, extra_pairs: int = 0, metadata_only: bool = False,
                          seconds: float = 6.0, sample_rate: int = 22050, seed: int = 0) -> Path:
    """Write a synthetic pairs directory (``--metadata-only`` shape when ``metadata_only``); returns ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _audio_rows(out_dir, sample_rate, seconds, seed) + _extra_rows(extra_pairs, seed, out_dir)
    pairs = pa.Table.from_pylist(rows, schema=PAIRS)
    candidates = pairs.select(CANDIDATES.names).cast(CANDIDATES)
    write_table(candidates, out_dir / "candidates.parquet")
    originals = {r["original_id"] for r in rows}
    instrumentals = {r["instrumental_id"] for r in rows}
    rows_used = len(originals) + len(instrumentals) + 3  # three decoys that made no candidate
    summary: dict[str, Any] = {
        "metadata": {
            "rows_read": rows_used + 3, "rows_used": rows_used, "rows_rejected": 3,
            "rejected_by_reason": {"empty-title": 2, "missing-duration": 1},
            "marked": len(instrumentals) + 1, "blocks": len({r["artist_key"] for r in rows}) + 2,
            "compared": len(rows) + 7, "candidates": len(rows),
            "config": {"title_threshold": 90.0, "duration_tolerance_s": 15.0, "duration_tolerance_rel": 0.01},
        }
    }
    if not metadata_only:
        write_table(pairs, out_dir / "pairs.parquet")
        rejected: dict[str, int] = {}
        for r in rows:
            if r["status"] != "accepted":
                reason = reason_group(r["reason"])
                rejected[reason] = rejected.get(reason, 0) + 1
        accepted = [r for r in rows if r["status"] == "accepted"]
        summary["audio"] = {
            "candidates": len(rows), "accepted": len(accepted), "rejected": len(rows) - len(accepted),
            "rejected_by_reason": rejected,
            "hours_accepted": sum(r["original_seconds"] or 0.0 for r in accepted) / 3600.0,
            "config": dataclasses.asdict(PairingConfig()),
        }
    write_json(summary, out_dir / "summary.json")
    return out_dir


def read_summary(pairs_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(pairs_dir) / "summary.json").read_text())
