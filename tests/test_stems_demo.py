"""Issue 19 on the demo corpus: ``export-stems`` against the true stems at full rate, per release kind.

Two corpora of 11 songs (16 s, no decoys): ``lossless`` (WAV and FLAC only: clean pairs at 44.1 and 48 kHz, a clock
drift twice, an edit, a fade, another mastering EQ, a bus compressor) and ``lossy`` (every format: a 64 kbit/s MP3
instrumental, clean pairs with MP3 and Ogg instrumentals). Per kind, the exported vocals' SDR against the true vocal
stem (``support.stems_truth``: no distortion filter allowed) must reach issue 19's floors and beat (a) the paper's
magnitude target with the mixture's phase and (b) plain subtraction with the 8192 Hz map (or, where (b) already
reaches a lossy original's ceiling, come within ``CEILING_DB`` of it); every item's stems sum to
its mixture, the mixture is the original's samples at the item's span, and that span is trusted by the map.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from democorpus import DemoConfig, make_corpus
from features.alignmap import AlignmentMap
from features.audio import decode
from miner import MinerConfig, mine_pairs
from pairing import pair_candidates
from stems import StemsConfig, export_stems
from support.stems_truth import FLOORS, measure_export

pytestmark = pytest.mark.slow


def _exported(root: Path, formats: tuple[str, ...]) -> tuple[Path, Path, Path]:
    info = make_corpus(root / "corpus", DemoConfig(songs=11, seconds=16.0, seed=0, decoys=False, formats=formats),
                       progress=False)
    pairs = root / "pairs"
    mine_pairs(info.catalog, pairs, MinerConfig(progress=False))
    pair_candidates(pairs, progress=False)
    export_stems(pairs, root / "stems", StemsConfig(), progress=False)
    return Path(info.out_dir), pairs, root / "stems"


@pytest.fixture(scope="module")
def lossless(tmp_path_factory):
    return _exported(tmp_path_factory.mktemp("stems-lossless"), ("wav", "flac"))


@pytest.fixture(scope="module")
def lossy(tmp_path_factory):
    return _exported(tmp_path_factory.mktemp("stems-lossy"), ("wav", "flac", "mp3", "ogg"))


def _measures(exported):
    corpus, pairs, stems = exported
    return measure_export(corpus, stems, pairs / "pairs.parquet")


#: Where plain subtraction with the map already reaches the oracle (a lossy original's codec noise caps every
#: estimate at it), nothing is left to beat, and the export's evidence (the codec's noise on the vocal-free frames)
#: cannot tell its fitted gain from the map's level: there the export must come within this much (dB) of (b).
CEILING_DB = 0.05


def _beats_both(ms) -> tuple[bool, dict]:
    """Whether a group's mean SDR beats (a) and (b) (see ``CEILING_DB``), with the means."""
    mean = {f: float(np.mean([getattr(m, f) for m in ms])) for f in ("sdr", "sdr_a", "sdr_b", "oracle")}
    at_ceiling = mean["sdr_b"] >= mean["oracle"] - 0.1
    beats_b = mean["sdr"] > mean["sdr_b"] or (at_ceiling and mean["sdr"] >= mean["sdr_b"] - CEILING_DB)
    return mean["sdr"] > mean["sdr_a"] and beats_b, mean


def _by_group(measures):
    out: dict[str, list] = {}
    for m in measures:
        out.setdefault(m.group, []).append(m)
    return out


def test_lossless_kinds_reach_their_floors_and_beat_both_baselines(lossless):
    measures = _measures(lossless)
    groups = _by_group(measures)
    assert {"clean, lossless 44.1 kHz", "clean, lossless 48 kHz", "clock-drift", "edit", "eq", "compressor",
            "fade"} <= set(groups), sorted(groups)
    for m in measures:
        floor = FLOORS[m.kind]
        assert m.sdr >= floor, (m.pair_id, m.group, round(m.sdr, 2), floor)
        assert m.si_sdr >= floor, (m.pair_id, m.group, round(m.si_sdr, 2))
    for name, ms in groups.items():
        ok, mean = _beats_both(ms)
        assert ok, (name, mean)


def test_lossy_instrumentals_beat_the_magnitude_target_by_3_db_and_every_kind_beats_both_baselines(lossy):
    measures = _measures(lossy)
    lossy_inst = [m for m in measures if m.lossy_instrumental]
    kinds = {(m.kind, m.instrumental_format) for m in lossy_inst}
    assert ("mp3-low", "mp3") in kinds and ("clean", "mp3") in kinds and ("clean", "ogg") in kinds, kinds
    for m in lossy_inst:
        assert m.sdr >= m.sdr_a + 3.0, (m.pair_id, m.group, round(m.sdr, 2), round(m.sdr_a, 2))
    for name, ms in _by_group(measures).items():
        ok, mean = _beats_both(ms)
        assert ok, (name, mean)


@pytest.mark.parametrize("which", ["lossless", "lossy"])
def test_every_item_sums_to_its_mixture_is_the_original_there_and_lies_in_trusted_audio(which, request):
    corpus, pairs, stems = request.getfixturevalue(which)
    rows = {r["pair_id"]: r for r in pq.read_table(pairs / "pairs.parquet").to_pylist()}
    manifest = json.loads((stems / "manifest.json").read_text())
    assert manifest["items"] and not manifest["skipped"], manifest["skipped"]
    accepted = {p for p, r in rows.items() if r["status"] == "accepted"}
    assert {i["pair_id"] for i in manifest["items"]} == accepted
    originals = {}
    for item in manifest["items"]:
        folder = stems / item["path"]
        meta = json.loads((folder / "metadata.json").read_text())
        row = rows[item["pair_id"]]
        assert (meta["pair_id"], meta["original_id"], meta["instrumental_id"]) == (
            row["pair_id"], row["original_id"], row["instrumental_id"])
        assert meta["item"] == folder.name and folder.name.startswith(row["pair_id"] + "-")
        mix, voc, acc = (decode(folder / f"{n}.wav").samples for n in ("mixture", "vocals", "accompaniment"))
        assert np.max(np.abs(mix.astype(np.float64) - voc - acc)) <= 2e-7  # float32 rounding of one subtraction
        if row["pair_id"] not in originals:
            originals[row["pair_id"]] = decode(row["original_audio_path"])
        orig = originals[row["pair_id"]]
        rate = orig.sample_rate
        assert meta["sample_rate"] == rate and meta["channels"] == orig.channels
        lo = int(round(meta["start_s"] * rate))
        np.testing.assert_array_equal(mix, orig.samples[:, lo : lo + mix.shape[1]])
        # every exported sample lies in a span the map trusts (a frame is trusted by its centre: the spans'
        # edges are half-way between frame centres), and the item is at least min_item_s long
        trusted = AlignmentMap.from_json(row["alignment_map"]).trusted
        start, end = lo / rate, (lo + mix.shape[1] - 1) / rate
        assert any(a - 0.5 / rate <= start and end <= b + 0.5 / rate for a, b in trusted), (item["item"], trusted)
        assert mix.shape[1] >= StemsConfig().min_item_s * rate
        activity = list(csv.DictReader(open(folder / "vocal_activity.csv", newline="")))
        assert len(activity) == int(np.ceil(mix.shape[1] / round(0.125 * rate)))
        assert {r["active"] for r in activity} <= {"0", "1"}
