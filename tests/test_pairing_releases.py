"""Issue 10 on the demo corpus: instrumentals that differ from their originals as real releases do (clock drift,
an edit, a fade-out, another mastering EQ, a bus compressor, a low-bitrate MP3). Per kind, against the true
stems: every pair accepted, at least 60 % of a clean pair's patches kept, and the derived vocal target within
1.3 times the error of the ideal target max(0, |X| - |A_true|) on the same frames; the alignment map against
the generator's truth (drift factor, offset per segment, the fade)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.signal
import soundfile as sf

from democorpus import DemoConfig, make_corpus
from democorpus.releases import RELEASE_KINDS, shelf_sos
from features.alignmap import BAND_EDGES_HZ, AlignmentMap, Segment, frame_times, trusted_frames
from features.patches import Alignment, PairError, PatchParams, spectrogram_patches
from features.stft import PAPER_STFT
from miner import MinerConfig, mine_pairs
from pairing import pair_candidates
from support.pairing_truth import measure_corpus, truth_of


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """An 11-song corpus (no decoys; 24 s songs): five clean pairs and one of each release kind."""
    root = tmp_path_factory.mktemp("releases")
    info = make_corpus(root / "corpus", DemoConfig(songs=11, seconds=24.0, seed=0, decoys=False), progress=False)
    out = root / "pairs"
    mine_pairs(info.catalog, out, MinerConfig(progress=False))
    pair_candidates(out, progress=False)
    rows = {r["pair_id"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
    return Path(info.out_dir), out, rows, truth_of(Path(info.out_dir))


@pytest.mark.slow
def test_every_release_kind_is_accepted_keeps_its_patches_and_gives_a_clean_target(released):
    corpus, out, _, _ = released
    measures = measure_corpus(corpus, out / "pairs.parquet")
    kinds = {m.kind for m in measures}
    assert kinds == {"clean", *RELEASE_KINDS} - {"ogg-low"}  # 11 songs give six release slots: ogg-low has none
    for m in measures:
        assert m.status == "accepted", (m.pair_id, m.kind, m.reason)
        assert m.kept_share >= 0.6, (m.pair_id, m.kind, m.patches, m.clean_patches)
        assert m.ratio <= 1.3, (m.pair_id, m.kind, m.error, m.ideal_error)
        assert m.ratio <= 1.1, (m.pair_id, m.kind, m.ratio)  # measured 1.00-1.09 on this corpus (new songs)


def _by_kind(truth: dict, kind: str) -> tuple[str, dict]:
    (pid,) = [p for p, t in truth.items() if t["release"] == kind]
    return pid, truth[pid]["release_truth"]


@pytest.mark.slow
def test_alignment_map_recovers_the_drift_and_the_edit(released):
    _, _, rows, truth = released
    pid, t = _by_kind(truth, "clock-drift")
    amap = AlignmentMap.from_json(rows[pid]["alignment_map"])
    assert rows[pid]["drift_ppm"] == pytest.approx((t["drift"] - 1) * 1e6, abs=25)  # -500 ppm
    assert rows[pid]["segments"] == 1
    assert amap.segments[0].offset_s == pytest.approx(t["segments"][0][2], abs=0.001)

    pid, t = _by_kind(truth, "edit")
    amap = AlignmentMap.from_json(rows[pid]["alignment_map"])
    assert rows[pid]["segments"] == 2 and abs(rows[pid]["drift_ppm"]) < 25
    for got, want in zip(amap.segments, t["segments"]):
        assert got.offset_s == pytest.approx(want[2], abs=0.002)
    cut_start, cut_end = t["segments"][0][1], t["segments"][1][0]
    assert cut_start - 0.5 <= amap.segments[1].start_s <= cut_end + 0.5
    # the main segment (the longer one) gives offset_s; the bars cut from the instrumental are not trusted
    main = max(t["segments"], key=lambda s: s[1] - s[0])
    assert rows[pid]["offset_s"] == pytest.approx(main[2], abs=0.002)
    assert not any(a < (cut_start + cut_end) / 2 < b for a, b in amap.trusted)


@pytest.mark.slow
def test_level_match_undoes_the_eq_and_trust_drops_the_fade(released):
    _, _, rows, truth = released
    pid, t = _by_kind(truth, "eq")
    amap = AlignmentMap.from_json(rows[pid]["alignment_map"])
    # the band gains carry the EQ's shape, the time-varying gain the level common to every band (issue 18)
    gains = np.array(amap.band_gain_db) + (float(np.median(amap.gain_db)) if amap.gain_db else 0.0)
    # the instrumental got a low shelf (250 Hz) and a high shelf (3 kHz): with the main gain, the level match
    # undoes the file's gain and the shelves' response at each band's centre (the edge bands, below 60 Hz and
    # above 4 kHz, hold little energy and are left out)
    corpus = released[0]
    sr = {r["song_id"]: int(r["sample_rate"]) for r in csv.DictReader(open(corpus / "truth" / "songs.csv"))}[
        truth[pid]["song_id"]]  # the shelves ran at the song's own rate
    sos = np.stack([shelf_sos(250.0, t["low_shelf_db"], sr, high=False), shelf_sos(3000.0, t["high_shelf_db"], sr, high=True)])
    edges = np.array(BAND_EDGES_HZ + (PAPER_STFT.sample_rate / 2,))
    _, h = scipy.signal.sosfreqz(sos, worN=(edges[:-1] + edges[1:]) / 2, fs=sr)
    want = rows[pid]["gain_db"] - float(truth[pid]["gain_db"]) - 20 * np.log10(np.abs(h))
    assert np.abs(gains - want)[1:-1].max() < 0.5, np.round(gains - want, 2)

    pid, t = _by_kind(truth, "fade")
    amap = AlignmentMap.from_json(rows[pid]["alignment_map"])
    seconds = rows[pid]["original_seconds"]
    last_trusted = max(b for _, b in amap.trusted)
    # the last ~1.5 s of a 6 s raised-cosine fade are more than 6 dB down: not trusted; the start of it is
    assert seconds - t["fade_s"] < last_trusted < seconds - 1.0
    assert rows[pid]["usable_s"] < seconds - 1.0
    for p, r in rows.items():
        if truth[p]["release"] == "":
            covered = min(r["original_seconds"], r["instrumental_seconds"] - r["offset_s"]) - max(0.0, -r["offset_s"])
            assert r["usable_s"] > 0.9 * covered, p  # clean pairs lose almost nothing of what the instrumental covers
            assert r["leakage_db"] < -25, p
            # the slowly varying gain stays near 0 dB on a clean pair: it follows the music, not the voice
            gains = AlignmentMap.from_json(r["alignment_map"]).gain_db
            assert max(map(abs, gains), default=0.0) < 2.0, (p, max(map(abs, gains)))


def test_too_little_trusted_audio_is_a_rejection_that_says_so(tmp_path):
    """An instrumental whose last 65 % is another section (in this release only): the pair is rejected as
    too-little-trusted, with the trusted seconds in the detail."""
    from test_pairing import SR, make_song, run_dir

    acc, voc = make_song(3, seconds=12.0)
    other, _ = make_song(4, seconds=12.0)
    keep = int(0.35 * acc.shape[1])
    sf.write(tmp_path / "o.wav", (acc + voc).T, SR)
    sf.write(tmp_path / "i.wav", np.concatenate([acc[:, :keep], other[:, keep:]], axis=1).T, SR)
    out = run_dir(tmp_path, {"o1": str(tmp_path / "o.wav"), "i1": str(tmp_path / "i.wav")},
                  pair_ids=["o1~i1"])
    pair_candidates(out, progress=False)
    (row,) = pq.read_table(out / "pairs.parquet").to_pylist()
    assert (row["status"], row["reason"]) == ("rejected", "too-little-trusted"), row["detail"]
    assert "are trusted" in row["detail"] and row["usable_s"] < 0.4 * row["original_seconds"]


def test_patches_come_only_from_runs_of_trusted_frames():
    """spectrogram_patches with a trust mask: every patch starts and ends inside one trusted run (frames past
    a short run's end are zero), and no run long enough is a PairError that names the trusted share."""
    rng = np.random.default_rng(0)
    sr = PAPER_STFT.sample_rate
    x = rng.standard_normal(40 * sr).astype(np.float32)
    y = 0.5 * x
    amap = AlignmentMap(1.0, (Segment(0.0, 40.0, 0.0),), trusted=((0.0, 18.0), (21.0, 25.0), (26.0, 40.0)))
    patches = spectrogram_patches(x, y, PatchParams(), covered=[(0, len(x))], amap=amap)
    frames = PAPER_STFT.frames(len(x))
    trusted = trusted_frames(amap, frames, PAPER_STFT)
    t = frame_times(frames, PAPER_STFT)
    for p in patches:
        k = int(p["start_frame"]) + np.arange(128)
        real = np.any(p["mix"] != 0, axis=0)
        assert trusted[k[real & (k < frames)]].all()
        assert not real[~trusted[np.minimum(k, frames - 1)]].any()
    # the 4 s run (21-25 s, 42 frames) gives one zero-padded patch; the 0-18 s and 26-40 s runs give two each
    starts = sorted(int(t[int(p["start_frame"])]) for p in patches)
    assert len(patches) == 5 and 21 in starts
    with pytest.raises(PairError, match="trusted"):
        spectrogram_patches(x, y, PatchParams(), covered=[(0, len(x))],
                            amap=AlignmentMap(1.0, (Segment(0.0, 40.0, 0.0),), trusted=((3.0, 4.0),)))
    assert Alignment(0.0, 0.0).map_json is None


def test_inserted_bars_and_a_drift_of_a_few_tenths_of_a_percent_are_mapped(tmp_path):
    """Two synthetic pairs of 12 s: an instrumental with 1 s of other audio inserted at 5 s (two segments, the
    second 1 s later), and one whose clock runs 0.3 % slow (one segment, +3000 ppm, within 100 ppm)."""
    import soxr

    from test_pairing import SR, make_song, run_dir

    acc, voc = make_song(5, seconds=12.0)
    other, _ = make_song(6, seconds=1.0)
    sf.write(tmp_path / "o1.wav", (acc + voc).T, SR)
    sf.write(tmp_path / "i1.wav", np.concatenate([acc[:, : 5 * SR], other, acc[:, 5 * SR :]], axis=1).T, SR)
    acc2, voc2 = make_song(7, seconds=12.0)
    sf.write(tmp_path / "o2.wav", (acc2 + voc2).T, SR)
    slow = soxr.resample(acc2.T, SR, SR * 1.003).astype(np.float32)  # the same content over 0.3 % more samples
    sf.write(tmp_path / "i2.wav", slow, SR)
    paths = {k: str(tmp_path / f"{k}.wav") for k in ("o1", "i1", "o2", "i2")}
    out = run_dir(tmp_path, paths, pair_ids=["o1~i1", "o2~i2"])
    pair_candidates(out, progress=False)
    rows = {r["pair_id"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
    assert [rows[p]["status"] for p in ("o1~i1", "o2~i2")] == ["accepted", "accepted"], [r["detail"] for r in rows.values()]
    amap = AlignmentMap.from_json(rows["o1~i1"]["alignment_map"])
    assert [round(s.offset_s, 3) for s in amap.segments] == [0.0, 1.0]
    assert 4.5 <= amap.segments[1].start_s <= 5.5 and rows["o1~i1"]["drift_ppm"] == 0.0
    assert rows["o2~i2"]["segments"] == 1
    assert rows["o2~i2"]["drift_ppm"] == pytest.approx(3000, abs=100)
