"""Measure an export against the demo corpus' true stems at full rate (issue 19), per pair and per release kind.

For each exported pair, over its items (the samples ``metadata.json`` names, all channels): the exported vocals'
SDR and SI-SDR against the true vocal stem, beside

- (a) the paper's magnitude target rendered with the mixture's phase, ``istft(max(0, |X| - |A|) X / |X|)``, on
  the export rate's STFT (Hann 4096, hop 1024), ``A`` the instrumental aligned by the pair's map at full rate
  (``features.alignmap.aligned_instrumental``: drift resampled, whole-sample lags) with the map's level match
  (band gains and slowly varying gain, ``features.alignmap.apply_level``);
- (b) plain subtraction with the 8192 Hz map only: ``x - A`` with that same ``A`` in the time domain, times the
  map's slowly varying gain (no lag refinement, no filter);
- the oracle ``x - a_true`` (the decoded original minus the true accompaniment): the ceiling a perfect
  instrumental reaches, below 100 dB only when the original itself is lossy.

SDR here is ``10 log10(|s|^2 / |s - s_hat|^2)`` (no distortion filter allowed, stricter than BSS Eval's):
a stem must equal the truth sample for sample. Used by the tests and ``benchmarks/bench_stems_quality.py``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from features.alignmap import AlignmentMap, aligned_instrumental, apply_level
from features.audio import decode, resample
from features.stft import StftParams, istft, stft
from stems.layouts import LAYOUTS

LOSSLESS = ("wav", "flac")
#: The Done-when floors of issue 19 (dB SDR against the true vocal stem); lossy instrumentals: (a) + 3 dB.
FLOORS = {"clean": 30.0, "clock-drift": 25.0, "edit": 25.0, "eq": 15.0, "compressor": 15.0, "fade": 15.0}


def sdr(estimate: np.ndarray, truth: np.ndarray) -> float:
    s, e = truth.astype(np.float64).ravel(), estimate.astype(np.float64).ravel()
    return float(10 * np.log10(np.sum(s * s) / max(np.sum((s - e) ** 2), 1e-30)))


def si_sdr(estimate: np.ndarray, truth: np.ndarray) -> float:
    s, e = truth.astype(np.float64).ravel(), estimate.astype(np.float64).ravel()
    target = (e @ s) / max(s @ s, 1e-30) * s
    return float(10 * np.log10(np.sum(target**2) / max(np.sum((e - target) ** 2), 1e-30)))


@dataclass(frozen=True)
class StemMeasure:
    pair_id: str
    kind: str  # release kind, or "clean"
    group: str  # the table's row: the kind, clean pairs by rate and codec
    lossless: bool  # both files WAV or FLAC
    lossy_instrumental: bool  # the instrumental is MP3 or Ogg (and the original lossless)
    instrumental_format: str  # wav, flac, mp3, ogg
    items: int
    seconds: float
    sdr: float
    si_sdr: float
    sdr_a: float
    si_sdr_a: float
    sdr_b: float
    si_sdr_b: float
    oracle: float
    sum_error: float  # max |mixture - vocals - instrumental| over the items (0 for a layout without a mixture)

    @property
    def floor(self) -> float:
        """What issue 19 asks of this pair (dB): its kind's floor, or (a) + 3 for a lossy instrumental."""
        if self.lossy_instrumental:
            return self.sdr_a + 3.0
        return FLOORS.get(self.kind, -math.inf) if self.lossless or self.kind != "clean" else -math.inf


def _group(kind: str, orig: dict, inst: dict) -> str:
    """The table's row of a pair: its kind, with the codec of a lossy file (a lossy original caps every export at
    the oracle's figure); clean lossless pairs by the original's rate."""
    if orig["format"] not in LOSSLESS:
        return f"{kind}, lossy original (MP3/Ogg)"
    if inst["format"] not in LOSSLESS and kind != "mp3-low":
        return f"{kind}, {inst['format'].upper().replace('OGG', 'Ogg')} instrumental"
    if kind == "clean":
        return f"clean, lossless {int(orig['sample_rate']) / 1000:g} kHz"
    return kind


def baselines(row: dict, mix: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(a) and (b) of the module doc for a pairs.parquet ``row``, each ``[channels, samples]`` like ``mix``."""
    amap = AlignmentMap.from_json(row["alignment_map"])
    gain = (row["polarity"] or 1) * 10 ** (row["gain_db"] / 20)
    inst = decode(row["instrumental_audio_path"])
    src = resample(inst.samples, inst.sample_rate, rate)
    params = StftParams(rate, 4096, 1024)
    n = mix.shape[1]
    curve = np.ones(n, np.float32)
    if amap.gain_db and amap.gain_step_s > 0:
        knots = np.arange(len(amap.gain_db)) * amap.gain_step_s
        curve = (10 ** (np.interp(np.arange(n) / rate, knots, np.asarray(amap.gain_db)) / 20)).astype(np.float32)
    a_out, b_out = np.zeros_like(mix), np.zeros_like(mix)
    for c in range(mix.shape[0]):
        s = src[min(c, src.shape[0] - 1)] if src.shape[0] >= mix.shape[0] else src.mean(axis=0)
        aligned, _ = aligned_instrumental(s, rate, amap, gain, n)
        b_out[c] = mix[c] - aligned * curve
        X = stft(mix[c], params)
        level = apply_level(np.abs(stft(aligned, params)), amap, params)
        mag = np.abs(X)
        target = np.maximum(0.0, mag - level) * np.where(mag > 0, X / np.maximum(mag, 1e-30), 0)
        a_out[c] = istft(target, n, params)
    return a_out, b_out


def measure_export(corpus: Path, export_dir: Path, pairs_parquet: Path) -> list[StemMeasure]:
    """One ``StemMeasure`` per exported pair of a demo corpus (see the module doc)."""
    manifest = json.loads((export_dir / "manifest.json").read_text())
    files = LAYOUTS[manifest["layout"]["name"]].names
    rows = {r["pair_id"]: r for r in pq.read_table(pairs_parquet).to_pylist()}
    tracks = {r["track_id"]: r for r in csv.DictReader(open(corpus / "truth" / "tracks.csv", newline=""))}
    truth = {r["pair_id"]: r for r in csv.DictReader(open(corpus / "truth" / "pairs.csv", newline=""))}
    by_pair: dict[str, list[dict]] = {}
    for item in manifest["items"]:
        by_pair.setdefault(item["pair_id"], []).append(item)
    out = []
    for pid, items in sorted(by_pair.items()):
        row, t = rows[pid], truth[pid]
        orig, inst = tracks[row["original_id"]], tracks[row["instrumental_id"]]
        kind = t.get("release") or "clean"
        decoded = decode(row["original_audio_path"])
        mix, rate = decoded.samples, decoded.sample_rate
        stems = corpus / "truth" / "stems" / t["song_id"]
        true_v = decode(stems / "vocals.wav").samples
        true_a = decode(stems / "accompaniment.wav").samples
        a_est, b_est = baselines(row, mix, rate)
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("est", "true", "a", "b", "oracle")}
        err = 0.0
        for item in items:
            folder = export_dir / item["path"]
            lo, hi = int(round(item["start_s"] * rate)), int(round(item["end_s"] * rate))
            voc = decode(folder / files["vocals"]).samples
            acc = decode(folder / files["instrumental"]).samples
            m = decode(folder / files["mixture"]).samples if "mixture" in files else mix[:, lo:hi]
            err = max(err, float(np.max(np.abs(m.astype(np.float64) - voc - acc))))
            parts["est"].append(voc)
            parts["true"].append(true_v[:, lo:hi])
            parts["a"].append(a_est[:, lo:hi])
            parts["b"].append(b_est[:, lo:hi])
            parts["oracle"].append(mix[:, lo:hi] - true_a[:, lo:hi])
        cat = {k: np.concatenate(v, axis=1) for k, v in parts.items()}
        lossless = orig["format"] in LOSSLESS and inst["format"] in LOSSLESS
        lossy_inst = orig["format"] in LOSSLESS and inst["format"] not in LOSSLESS
        out.append(StemMeasure(
            pid, kind, _group(kind, orig, inst), lossless, lossy_inst, inst["format"], len(items),
            sum(i["seconds"] for i in items),
            sdr(cat["est"], cat["true"]), si_sdr(cat["est"], cat["true"]),
            sdr(cat["a"], cat["true"]), si_sdr(cat["a"], cat["true"]),
            sdr(cat["b"], cat["true"]), si_sdr(cat["b"], cat["true"]),
            sdr(cat["oracle"], cat["true"]), err))
    return out


def table(measures: list[StemMeasure]) -> str:
    """Markdown table per group: pairs, exported seconds, mean (min) SDR and mean SI-SDR of the export, (a), (b),
    and the oracle's mean SDR."""
    groups: dict[str, list[StemMeasure]] = {}
    for m in measures:
        groups.setdefault(m.group, []).append(m)
    lines = ["| release kind | pairs | exported s | SDR mean (min) | SI-SDR | (a) magnitude target SDR | (a) SI-SDR "
             "| (b) 8192 Hz map SDR | (b) SI-SDR | oracle SDR |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, ms in sorted(groups.items()):
        def mean(f: str) -> float:
            return float(np.mean([getattr(m, f) for m in ms]))
        oracle = mean("oracle")
        lines.append(
            f"| {name} | {len(ms)} | {sum(m.seconds for m in ms):.1f} "
            f"| {mean('sdr'):.1f} ({min(m.sdr for m in ms):.1f}) "
            f"| {mean('si_sdr'):.1f} | {mean('sdr_a'):.1f} | {mean('si_sdr_a'):.1f} | {mean('sdr_b'):.1f} "
            f"| {mean('si_sdr_b'):.1f} | {'exact' if oracle > 100 else f'{oracle:.1f}'} |")
    return "\n".join(lines)
