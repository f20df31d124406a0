"""Measure the audio stage and the shard builder against the demo corpus' truth, per release kind (issue 10).

For each true pair: its verdict; when accepted, the patches ``features.patches.pair_patches`` cuts from its
``pairs.parquet`` row, how many a clean pair of the same length gives, and the error of the derived vocal
target against the true vocal stem (relative L2 of magnitudes over the kept frames, least-squares scale) next
to that of the ideal target ``max(0, |X| - |A_true|)`` on the same frames. Used by the tests and by
``benchmarks/bench_pairing_quality.py``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from features.audio import load_mono
from features.patches import Alignment, PatchParams, pair_patches, patch_starts

try:
    from features.patches import alignment_of_row
except ImportError:  # the code before issue 10 (benchmarks/bench_pairing_quality.py --code): one offset and gain
    def alignment_of_row(row: dict) -> Alignment:
        return Alignment(float(row["offset_s"]), float(row["gain_db"]), int(row["polarity"] or 1))
from features.stft import PAPER_STFT, magnitude


@dataclass(frozen=True)
class PairMeasure:
    pair_id: str
    kind: str  # release kind, "clean" for a plain true pair
    status: str
    reason: str
    patches: int  # patches kept
    clean_patches: int  # patches a clean pair of this original's length gives
    error: float  # derived target vs true vocal (nan when rejected)
    ideal_error: float  # max(0, |X| - |A_true|) vs true vocal on the same frames
    family: str = "band"  # the song's family (democorpus.song_families)
    row: dict | None = None  # the pairs.parquet row measured
    plain_error: float = float("nan")  # the map's alignment with its level match left out, on the same frames

    @property
    def plain_ratio(self) -> float:
        return self.plain_error / self.ideal_error if self.ideal_error > 0 else float("nan")

    @property
    def kept_share(self) -> float:
        return self.patches / self.clean_patches

    @property
    def ratio(self) -> float:
        return self.error / self.ideal_error if self.ideal_error > 0 else float("nan")


def scaled_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    """``min_c ||c * estimate - truth|| / ||truth||`` (arrays of the same shape)."""
    e, t = estimate.astype(np.float64).ravel(), truth.astype(np.float64).ravel()
    ee = float(e @ e)
    c = float(e @ t) / ee if ee > 0 else 0.0
    return float(np.linalg.norm(c * e - t) / max(np.linalg.norm(t), 1e-30))


def measure_pair(corpus: Path, row: dict, song_id: str, kind: str, params: PatchParams = PatchParams(),
                 family: str = "band") -> PairMeasure:
    """One true pair's measures (``row``: its pairs.parquet row)."""
    stems = corpus / "truth" / "stems" / song_id
    sr = PAPER_STFT.sample_rate
    x_sig = load_mono(row["original_audio_path"], sr)
    clean = len(patch_starts(PAPER_STFT.frames(len(x_sig)), params.patch_frames, params.patch_hop))
    nan = float("nan")
    if row["status"] != "accepted":
        return PairMeasure(row["pair_id"], kind, row["status"], row["reason"], 0, clean, nan, nan, family, row)
    patches, _ = pair_patches(row["original_audio_path"], row["instrumental_audio_path"], alignment_of_row(row),
                              params)
    x = magnitude(x_sig)
    v = magnitude(load_mono(stems / "vocals.wav", sr))
    a = magnitude(load_mono(stems / "accompaniment.wav", sr))
    y = _plain_instrumental(row, sr)
    est, tru, ideal, plain = [], [], [], []
    for p in patches:
        target = p["vocals"].astype(np.float32) * p["scale"]
        mix = p["mix"]
        for j in range(params.patch_frames):
            k = int(p["start_frame"]) + j
            if k >= x.shape[1] or not np.any(mix[:, j]):
                continue  # zero padding past a run of frames, or silence
            est.append(target[:, j])
            tru.append(v[:, k])
            ideal.append(np.maximum(x[:, k] - a[:, k], 0.0))
            if y is not None:
                plain.append(np.maximum(x[:, k] - y[:, k], 0.0))
    if not est:
        return PairMeasure(row["pair_id"], kind, row["status"], row["reason"], len(patches), clean, nan, nan, family,
                           row)
    t = np.stack(tru)
    return PairMeasure(row["pair_id"], kind, row["status"], row["reason"], len(patches), clean,
                       scaled_error(np.stack(est), t), scaled_error(np.stack(ideal), t), family, row,
                       scaled_error(np.stack(plain), t) if plain else nan)


def _plain_instrumental(row: dict, sr: int) -> np.ndarray | None:
    """Magnitudes ``[bins, frames]`` of the instrumental aligned by the row's map (segments, drift, main gain)
    without its level match; None for a row without a map."""
    if not row.get("alignment_map"):
        return None
    from features.alignmap import AlignmentMap, aligned_instrumental

    amap = AlignmentMap.from_json(row["alignment_map"])
    amap = AlignmentMap(amap.drift, amap.segments)
    gain = alignment_of_row(row).gain
    y, _ = aligned_instrumental(load_mono(row["instrumental_audio_path"], sr), sr, amap, gain,
                                len(load_mono(row["original_audio_path"], sr)))
    return magnitude(y)


def measure_corpus(corpus: Path, pairs_parquet: Path) -> list[PairMeasure]:
    """Measures of every true pair of the corpus (truth/pairs.csv rows with an offset)."""
    got = {r["pair_id"]: r for r in pq.read_table(pairs_parquet).to_pylist()}
    families = {}
    if (corpus / "truth" / "songs.csv").exists():
        families = {r["song_id"]: r.get("song_family") or "band"
                    for r in csv.DictReader(open(corpus / "truth" / "songs.csv", newline=""))}
    out = []
    for t in csv.DictReader(open(corpus / "truth" / "pairs.csv", newline="")):
        if not t["offset_s"] or t["expected_status"] != "accepted":
            continue
        out.append(measure_pair(corpus, got[t["pair_id"]], t["song_id"], t.get("release") or "clean",
                                family=families.get(t["song_id"], "band")))
    return out


def table(measures: list[PairMeasure]) -> str:
    """Markdown table per kind: pairs accepted, patches kept (share of a clean pair's), error ratio (worst)."""
    kinds: dict[str, list[PairMeasure]] = {}
    for m in measures:
        kinds.setdefault(m.kind, []).append(m)
    lines = ["| kind | pairs | accepted | patches kept (min share) | target error / ideal (worst) | reasons |",
             "|---|---|---|---|---|---|"]
    for kind, ms in sorted(kinds.items()):
        acc = [m for m in ms if m.status == "accepted"]
        share = min(m.kept_share for m in ms)
        ratios = [m.ratio for m in acc if np.isfinite(m.ratio)]
        worst = f"{max(ratios):.2f}" if ratios else "-"
        reasons = ", ".join(sorted({m.reason for m in ms if m.reason})) or "-"
        lines.append(f"| {kind} | {len(ms)} | {len(acc)} | {sum(m.patches for m in ms)} of "
                     f"{sum(m.clean_patches for m in ms)} ({share:.0%}) | {worst} | {reasons} |")
    return "\n".join(lines)


def truth_of(corpus: Path) -> dict[str, dict]:
    """truth/pairs.csv rows by pair id, with ``release_truth`` parsed (empty dict when none)."""
    out = {}
    for t in csv.DictReader(open(corpus / "truth" / "pairs.csv", newline="")):
        t["release_truth"] = json.loads(t["release_truth"]) if t.get("release_truth") else {}
        out[t["pair_id"]] = t
    return out
