"""`evaluate`: BSS Eval against known signals, the summary table, song layouts, shard test splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from click.testing import CliRunner

from evaluation.layouts import Stems, find_songs
from evaluation.metrics import score_song, summarize
from evaluation.shard_songs import PairSong, shard_songs
from commands.evaluate import main as evaluate_main
from support.models import constant_model
from support.signals import SR, voice_and_band


def test_perfect_estimate_scores_very_high_and_the_mixture_gives_nsdr_zero():
    v, a = voice_and_band(4.0, 0)
    stems = Stems(v + a, v, a, SR)
    perfect = score_song(stems, {"vocals": v, "accompaniment": a})
    assert perfect["vocals_sdr"] > 100 and perfect["accompaniment_sdr"] > 100
    assert perfect["vocals_nsdr"] > 100
    mix = score_song(stems, {"vocals": v + a, "accompaniment": v + a})
    assert mix["vocals_nsdr"] == 0.0 and mix["accompaniment_nsdr"] == 0.0  # exactly: the same computation
    # SDR of the mixture as vocal estimate ~ the vocal-to-band energy ratio (the band is nearly orthogonal).
    ratio_db = 10 * np.log10(np.sum(v.astype(np.float64) ** 2) / np.sum(a.astype(np.float64) ** 2))
    assert mix["vocals_sdr"] == pytest.approx(ratio_db, abs=0.5)
    assert mix["accompaniment_sdr"] == pytest.approx(-ratio_db, abs=0.5)
    # A silent estimate gets a (very low) score instead of an error; a silent truth is refused.
    silent = score_song(stems, {"vocals": np.zeros_like(v), "accompaniment": v + a})
    assert silent["vocals_sdr"] < -10
    with pytest.raises(ValueError, match="silent-reference"):
        score_song(Stems(a, np.zeros_like(v), a, SR), {"vocals": v, "accompaniment": a})


def test_summary_statistics_by_hand():
    rows = [{f"{s}_{m}": x for s in ("vocals", "accompaniment") for m in ("nsdr", "sdr", "sir", "sar")}
            for x in (1.0, 2.0, 3.0, 10.0)]
    st = summarize(rows)["vocals"]["nsdr"]
    assert st == pytest.approx({"mean": 4.0, "sd": (50 / 3) ** 0.5, "min": 1.0, "max": 10.0, "median": 2.5})


def _write(path: Path, x: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, rate, subtype="FLOAT")


@pytest.mark.slow
def test_evaluate_command_on_demo_and_musdb_layouts(tmp_path):
    data = tmp_path / "songs"
    rate = 22050
    v, a = voice_and_band(3.0, 1, rate)
    for name in ("mixture", "vocals", "accompaniment"):  # the demo corpus's truth layout
        _write(data / "demo-song" / f"{name}.wav", {"mixture": v + a, "vocals": v, "accompaniment": a}[name], rate)
    v2, a2 = voice_and_band(2.5, 2, rate)
    parts = {"drums": 0.5 * a2, "bass": 0.3 * a2, "other": 0.2 * a2}  # MUSDB18-HQ: no accompaniment file
    for name, x in {"mixture": v2 + a2, "vocals": v2, **parts}.items():
        _write(data / "test" / "musdb-song" / f"{name}.wav", x, rate)
    _write(data / "silent" / "mixture.wav", a, rate)
    _write(data / "silent" / "vocals.wav", np.zeros_like(v), rate)

    songs = find_songs(data)
    assert [s.name for s in songs] == ["demo-song", "silent", "musdb-song"]
    assert [p.stem for p in songs[2].accompaniment] == ["drums", "bass", "other"]

    model = constant_model(tmp_path / "half.pt")  # mask 0.5: estimates are half the mixture
    out = tmp_path / "eval"
    r = CliRunner().invoke(evaluate_main, [str(data), "--model", str(model), "-o", str(out), "--device", "cpu",
                                           "--no-progress"])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "evaluation.json").read_text())
    by_song = {row["song"]: row for row in report["songs"]}
    assert set(by_song) == {"demo-song", "musdb-song"}
    # Silent true vocals: an instrumental-only song, not a failure; its vocal estimate is half the mix (-6.02 dB).
    assert report["failures"] == []
    inst = report["systems"]["unet"]["instrumental_only"]
    assert [row["song"] for row in inst] == ["silent"]
    assert inst[0]["vocals_level_db"] == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert set(report["systems"]) == {"unet", "repet-sim"}  # the training-free reference, on the same songs
    assert {row["song"] for row in report["systems"]["repet-sim"]["rows"]} == {"demo-song", "musdb-song"}
    for row in by_song.values():
        # SDR ignores a gain: half the mixture scores as the mixture, so NSDR is 0 up to the STFT round trip.
        assert abs(row["vocals_nsdr"]) < 1e-3 and abs(row["accompaniment_nsdr"]) < 1e-3
    # The MUSDB accompaniment is drums + bass + other: the mixture's SDR for it matches the truth computed here.
    from features.audio import resample

    v8, a8 = resample(v2, rate, SR), resample(a2, rate, SR)
    ref = score_song(Stems(v8 + a8, v8, a8, SR), {"vocals": v8 + a8, "accompaniment": v8 + a8})
    assert by_song["musdb-song"]["accompaniment_sdr_mixture"] == pytest.approx(ref["accompaniment_sdr"], abs=0.01)
    md = (out / "evaluation.md").read_text()
    assert "| vocals | NSDR |" in md and "| musdb-song |" in md and "| silent | 3.0 | -6.0" in md
    assert report["summary"]["vocals"]["nsdr"]["max"] == pytest.approx(
        max(row["vocals_nsdr"] for row in by_song.values()))


def test_shard_test_split_songs_come_from_the_aligned_pairs(tmp_path):
    v, a = voice_and_band(3.0, 3)
    offset = 0.25  # the instrumental's content starts 0.25 s later, at -6 dB, inverted
    gain = -(10 ** (-6 / 20))
    lead = np.zeros(int(offset * SR), np.float32)
    _write(tmp_path / "audio" / "orig.wav", v + a, SR)
    _write(tmp_path / "audio" / "inst.wav", np.concatenate([lead, gain * a]), SR)
    pairs = pa.table({"pair_id": ["o~i", "x~y"], "original_audio_path": ["audio/orig.wav", "nope.wav"],
                      "instrumental_audio_path": ["audio/inst.wav", "nope.wav"], "offset_s": [offset, 0.0],
                      "gain_db": [-6.0, 0.0], "polarity": pa.array([-1, 1], pa.int8())})
    pq.write_table(pairs, tmp_path / "pairs.parquet")
    shards = tmp_path / "shards"
    shards.mkdir()
    manifest = {"source": {"pairs_path": str(tmp_path / "pairs.parquet")},
                "splits": {"train": {"pair_ids": ["x~y"]}, "test": {"pair_ids": ["o~i"]}, "valid": {"pair_ids": []}}}
    (shards / "manifest.json").write_text(json.dumps(manifest))

    songs = shard_songs(shards, "test")
    assert songs == [PairSong("o~i", tmp_path / "audio/orig.wav", tmp_path / "audio/inst.wav", offset,
                              pytest.approx(gain), "test")]
    stems = songs[0].load(SR)
    assert np.max(np.abs(stems.accompaniment - a)) < 1e-5 and np.max(np.abs(stems.vocals - v)) < 1e-5

    model = constant_model(tmp_path / "half.pt")
    r = CliRunner().invoke(evaluate_main, [str(shards), "--model", str(model), "--device", "cpu", "--no-progress",
                                           "--write-audio", str(tmp_path / "sep")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "evaluation" / "shards" / "evaluation.json").read_text())
    assert [row["song"] for row in report["songs"]] == ["o~i"] and report["meta"]["split"] == "test"
    assert "| o~i |" in r.output  # the per-song table is printed
    sep, rate = sf.read(tmp_path / "sep" / "o~i" / "vocals.wav")
    assert rate == SR and len(sep) == len(v) and np.max(np.abs(sep - (v + a) / 2)) < 1e-4  # mask 0.5, as scored
    r = CliRunner().invoke(evaluate_main, [str(shards), "--model", str(model), "--split", "valid"])
    assert r.exit_code == 2 and "split 'valid' of" in r.output and "has no pairs" in r.output


def test_a_pair_song_with_an_alignment_map_is_aligned_segment_by_segment(tmp_path):
    """An edited instrumental (1 s cut at 2 s): the map's second segment lines the rest up again, so the
    pair-derived accompaniment equals the true one outside the cut (a single offset would be 1 s off there)."""
    from features.alignmap import AlignmentMap, Segment

    sr = 8192
    rng = np.random.default_rng(3)
    acc = (0.3 * rng.standard_normal(6 * sr)).astype(np.float32)
    voc = (0.2 * np.sin(2 * np.pi * 440 * np.arange(6 * sr) / sr)).astype(np.float32)
    sf.write(tmp_path / "o.wav", acc + voc, sr, subtype="FLOAT")
    sf.write(tmp_path / "i.wav", np.concatenate([acc[: 2 * sr], acc[3 * sr:]]), sr, subtype="FLOAT")
    amap = AlignmentMap(1.0, (Segment(0.0, 2.0, 0.0), Segment(3.0, 6.0, -1.0))).to_json()
    stems = PairSong("p", tmp_path / "o.wav", tmp_path / "i.wav", 0.0, 1.0, alignment_map=amap).load(sr)
    kept = np.r_[0 : 2 * sr, 3 * sr : 6 * sr]
    np.testing.assert_allclose(stems.accompaniment[kept], acc[kept], atol=1e-6)
    np.testing.assert_allclose(stems.vocals[kept], voc[kept], atol=1e-6)
    assert np.all(stems.accompaniment[2 * sr + 10 : 3 * sr - 10] == 0)  # the cut: nothing to align
