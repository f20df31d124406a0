"""The audio stage on small generated songs: every verdict, offsets and gains against the truth used to make
them, re-runs that recompute nothing, incremental runs, and a distributed run that loses a worker."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.signal
import soundfile as sf
import soxr

from click.testing import CliRunner

from catalog_schemas import CANDIDATES, PAIRS
from commands.mine import main as mine_pairs_command
from features.audio import decode, load_mono, resample
from features.alignmap import AlignmentMap
from pairing import PairingConfig, pair_candidates
from pairing import align
from pairing.fingerprint import ITEM_SECONDS, compute_fingerprint, similarity
from vocalmine.errors import UserInputError

SR = 44100
SECONDS = 6.0


def make_song(seed: int, seconds: float = SECONDS, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """A little song: (accompaniment, vocal), float32 ``[2, samples]``. Chords of decaying harmonic tones and
    noise-burst drums; the vocal is a vibrato tone sung in phrases with gaps between them."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    acc = np.zeros(n)
    beat = 60.0 / rng.uniform(90, 140)
    root = rng.integers(40, 52)
    for start in np.arange(0, seconds, 4 * beat):
        seg = (t >= start) & (t < start + 4 * beat)
        env = np.exp(-(t[seg] - start) * 1.5)
        for m in root + rng.choice([0, 3, 5, 7, 8, 10]) + np.array([0, 4, 7, 12]):
            f = 440 * 2 ** ((m - 69) / 12)
            ph = rng.uniform(0, 2 * np.pi)
            for h in range(1, 5):
                acc[seg] += 0.08 / h * env * np.sin(2 * np.pi * f * h * (t[seg] - start) + ph * h)
    burst = int(0.08 * sr)
    for start in np.arange(0, seconds, beat / 2):
        s0 = int((start + rng.normal(0, 0.005)) * sr)
        if 0 <= s0 and s0 + burst <= n:
            acc[s0 : s0 + burst] += (rng.standard_normal(burst) * np.exp(-np.arange(burst) / (0.015 * sr))
                                     * rng.uniform(0.1, 0.3))
    voc = np.zeros(n)
    for start in np.arange(0.5, seconds - 1, 2.0):
        dur = rng.uniform(0.8, 1.4)
        seg = (t >= start) & (t < start + dur)
        tt = t[seg] - start
        f = 440 * 2 ** ((rng.integers(60, 72) - 69) / 12) * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * tt))
        phase = 2 * np.pi * np.cumsum(f) / sr
        env = np.minimum(1, tt / 0.05) * np.minimum(1, (dur - tt) / 0.05)
        for h in range(1, 8):
            voc[seg] += 0.05 / h * env * np.sin(h * phase)
    pan = np.array([[0.9], [1.1]])
    return (pan * acc).astype(np.float32), (pan[::-1] * voc).astype(np.float32)


def delayed(x: np.ndarray, offset_s: float, sr: int = SR) -> np.ndarray:
    """``x`` with its content moved ``offset_s`` later (earlier when negative): ``out[t + offset] = x[t]``."""
    k = int(round(offset_s * sr))
    if k >= 0:
        return np.concatenate([np.zeros((x.shape[0], k), np.float32), x], axis=1)
    return np.ascontiguousarray(x[:, -k:])


def write(path: Path, x: np.ndarray, sr: int = SR) -> str:
    sf.write(path, x.T, sr)
    return str(path)


# Expected verdicts: pair_id -> (status, reason, offset_s, gain_db, polarity). Offsets are exact in samples
# at the instrumental's rate; gains are the factors applied below.
EXPECTED = {
    "o1~i1": ("accepted", "", round(0.3127 * SR) / SR, 20 * np.log10(0.7), -1),
    "o2~i2": ("accepted", "", -round(0.2 * 48000) / 48000, 20 * np.log10(0.5), 1),
    # o3s is o3 released again: one pair per content group stays, the smallest pair_id ('s' < '~')
    "o3~i3": ("rejected", "duplicate-of:o3s~i3", None, None, None),
    "o3s~i3": ("accepted", "", round(1.5 * SR) / SR, 20 * np.log10(1.2), 1),
    "o4~i4": ("rejected", "same-content", None, None, None),
    "o5~i5": ("rejected", "different-recording", None, None, None),
    "o6~i6": ("rejected", "drift", None, None, None),
    # a second cut at 2 s: two segments (issue 10), the main one (3 s to the end) 1 s earlier
    "o7~i7": ("accepted", "", -1.0, 0.0, 1),
    "o1~i8": ("rejected", "missing-file", None, None, None),
    "o1~i9": ("rejected", "unreadable", None, None, None),
    "o1~i10": ("rejected", "silent", None, None, None),
    "o2~i11": ("rejected", "too-short", None, None, None),
    "o1~i12": ("rejected", "no-audio-path", None, None, None),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, str | None]:
    """Audio files for every case of EXPECTED: track_id -> absolute path (None: no path in the catalog)."""
    d = tmp_path_factory.mktemp("audio")
    songs = {k: make_song(k) for k in range(1, 8)}
    mix = {k: a + v for k, (a, v) in songs.items()}
    acc = {k: a for k, (a, _) in songs.items()}
    p: dict[str, str | None] = {}
    p["o1"] = write(d / "o1.wav", mix[1])
    p["i1"] = write(d / "i1.mp3", -0.7 * delayed(acc[1], 0.3127))  # phase-inverted, 0.3127 s later, MP3
    p["o2"] = write(d / "o2.flac", soxr.resample(mix[2].T, SR, 48000).T, 48000)
    p["i2"] = write(d / "i2.ogg", 0.5 * delayed(soxr.resample(acc[2].T, SR, 48000).T, -0.2, 48000), 48000)
    p["o3"] = write(d / "o3.wav", mix[3])
    p["o3s"] = write(d / "o3s.mp3", mix[3])  # the same audio released again (a single), re-encoded
    p["i3"] = write(d / "i3.flac", 1.2 * delayed(acc[3], 1.5)[:, : int(7.0 * SR)])  # longer intro, cut tail
    p["o4"] = write(d / "o4.wav", mix[4])
    p["i4"] = write(d / "i4.mp3", mix[4])  # the "instrumental" is the original again
    p["o5"] = write(d / "o5.wav", mix[5])
    p["i5"] = write(d / "i5.wav", acc[1])  # another song's accompaniment
    p["o6"] = write(d / "o6.wav", mix[6])
    p["i6"] = write(d / "i6.wav", soxr.resample(acc[6].T, SR, int(SR * 1.01)).T)  # 1 % slower: a drift
    p["o7"] = write(d / "o7.wav", mix[7])
    p["i7"] = write(d / "i7.wav", np.concatenate([acc[7][:, : 2 * SR], acc[7][:, 3 * SR :]], axis=1))  # an edit
    p["i8"] = str(d / "gone.wav")  # missing
    (d / "i9.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage" * 50)
    p["i9"] = str(d / "i9.wav")
    p["i10"] = write(d / "i10.wav", np.zeros((2, int(SECONDS * SR)), np.float32))
    p["i11"] = write(d / "i11.wav", acc[2][:, : int(2.5 * SR)])  # truncated: catalog says 6 s
    p["i12"] = None
    return p


def candidates_table(paths: dict[str, str | None], pair_ids: list[str]) -> pa.Table:
    """A CANDIDATES table for ``pair_ids`` with catalog durations of SECONDS."""
    rows = []
    for pid in pair_ids:
        o, i = pid.split("~")
        song = o.rstrip("s").lstrip("o")
        rows.append({
            "original_id": o, "instrumental_id": i, "artist": "Synth", "artist_key": "synth",
            "original_title": f"Song {song}", "instrumental_title": f"Song {song} (Instrumental)",
            "marker": "(Instrumental)", "title_score": 100.0, "original_duration_s": SECONDS,
            "instrumental_duration_s": SECONDS, "duration_delta_s": 0.0, "original_audio_path": paths[o],
            "instrumental_audio_path": paths[i], "genre": None, "label": None, "release_date": None,
        })
    return pa.Table.from_pylist(rows, schema=CANDIDATES)


def run_dir(tmp_path: Path, corpus, pair_ids=tuple(EXPECTED), name="out") -> Path:
    out = tmp_path / name
    out.mkdir()
    pq.write_table(candidates_table(corpus, list(pair_ids)), out / "candidates.parquet")
    return out


def rows_by_id(out: Path) -> dict[str, dict]:
    return {r["pair_id"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    out = run_dir(tmp_path_factory.mktemp("run"), corpus)
    summary = pair_candidates(out, progress=False)
    return out, summary


def test_every_candidate_gets_the_expected_verdict(first_run):
    out, summary = first_run
    table = pq.read_table(out / "pairs.parquet")
    assert table.schema.equals(PAIRS, check_metadata=False)
    assert table.column("pair_id").to_pylist() == list(EXPECTED)  # candidate order, one row each
    rows = rows_by_id(out)
    got = {pid: (r["status"], r["reason"]) for pid, r in rows.items()}
    assert got == {pid: e[:2] for pid, e in EXPECTED.items()}, {pid: rows[pid]["detail"] for pid in rows}
    for pid, (status, _, offset, gain, polarity) in EXPECTED.items():
        if status == "accepted":
            r = rows[pid]
            assert abs(r["offset_s"] - offset) < 0.001, (pid, r["offset_s"], offset)
            assert abs(r["gain_db"] - gain) < 0.5, (pid, r["gain_db"], gain)
            assert r["polarity"] == polarity
            assert r["vocal_free_correlation"] > 0.95 and r["alignment_confidence"] > 0.5
            assert 0.05 < r["vocal_energy_share"] < 0.6 and 0.2 < r["vocal_activity"] < 0.95
            assert r["clipping"] < 1e-3 and r["reason"] == "" and r["detail"] == ""
    # The alignment map: one segment, no drift for plain pairs; the edit's two segments and where the cut is
    for pid in ("o1~i1", "o2~i2", "o3s~i3"):
        assert rows[pid]["segments"] == 1 and rows[pid]["drift_ppm"] == 0.0, pid
    amap = AlignmentMap.from_json(rows["o7~i7"]["alignment_map"])
    assert [round(s.offset_s, 3) for s in amap.segments] == [0.0, -1.0] and abs(amap.drift - 1) < 1e-5
    assert 2.0 <= amap.segments[1].start_s <= 3.0
    trusted = amap.trusted
    assert trusted is not None and not any(a < 2.2 < b for a, b in trusted)  # the cut's boundary is not trusted
    assert rows["o7~i7"]["usable_s"] < SECONDS - 1.0 < rows["o1~i1"]["usable_s"] + 0.5
    # Exact content and duplicates
    assert rows["o4~i4"]["vocal_energy_share"] < 0.01
    assert rows["o3~i3"]["content_group"] == rows["o3s~i3"]["content_group"] == "o3"
    assert rows["o1~i1"]["content_group"] == "o1" and rows["o2~i2"]["content_group"] == "o2"
    assert rows["o1~i12"]["content_group"] == "o1"  # every pair whose original has audio
    assert "catalog says 6.00 s" in rows["o2~i11"]["detail"]
    assert rows["o1~i8"]["detail"].startswith("instrumental: ") and "gone.wav" in rows["o1~i8"]["detail"]
    # Summary and summary.json
    assert (summary.candidates, summary.accepted, summary.rejected) == (13, 4, 9)
    assert summary.rejected_by_reason == {"different-recording": 1, "drift": 1, "duplicate": 1,
                                          "missing-file": 1, "no-audio-path": 1, "same-content": 1,
                                          "silent": 1, "too-short": 1, "unreadable": 1}
    audio = json.loads((out / "summary.json").read_text())["audio"]
    assert audio["accepted"] == 4 and audio["rejected_by_reason"]["drift"] == 1
    assert audio["hours_accepted"] == pytest.approx(4 * SECONDS / 3600, abs=1e-6)
    usable = sum(r["usable_s"] for r in rows.values() if r["status"] == "accepted")
    assert audio["hours_usable"] == pytest.approx(usable / 3600, abs=1e-6) and usable < 4 * SECONDS
    assert audio["config"]["min_vocal_free_correlation"] == PairingConfig().min_vocal_free_correlation
    # each distinct readable, non-silent file fingerprinted once (o1 serves five candidates)
    assert summary.fingerprints_computed == 16


def test_rerun_recomputes_nothing_and_gives_identical_rows(first_run):
    out, _ = first_run
    before = pq.read_table(out / "pairs.parquet")
    again = pair_candidates(out, progress=False)
    assert (again.computed, again.cached, again.fingerprints_computed, again.files_decoded) == (0, 13, 0, 0)
    assert pq.read_table(out / "pairs.parquet").equals(before)


def test_more_candidates_verifies_only_the_new_ones(corpus, first_run, tmp_path):
    first_out, _ = first_run
    out = run_dir(tmp_path, corpus, ["o1~i1", "o5~i5"])
    s1 = pair_candidates(out, progress=False)
    assert (s1.computed, s1.fingerprints_computed) == (2, 4)  # o1, i1, o5, i5
    pq.write_table(candidates_table(corpus, list(EXPECTED)), out / "candidates.parquet")
    s2 = pair_candidates(out, progress=False)
    assert (s2.computed, s2.cached) == (11, 2)
    assert s2.fingerprints_computed == 16 - 4
    assert pq.read_table(out / "pairs.parquet").equals(pq.read_table(first_out / "pairs.parquet"))


def test_a_changed_config_recomputes_verdicts_but_not_fingerprints(corpus, tmp_path):
    out = run_dir(tmp_path, corpus, ["o1~i1", "o4~i4"])
    pair_candidates(out, progress=False)
    strict = pair_candidates(out, PairingConfig(min_vocal_free_correlation=0.9999), progress=False)
    assert (strict.computed, strict.fingerprints_computed) == (2, 0)
    assert rows_by_id(out)["o1~i1"]["reason"] == "different-recording"


def test_missing_candidates_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="candidates.parquet does not exist"):
        pair_candidates(tmp_path, progress=False)
    pq.write_table(pa.table({"original_id": ["a"]}), tmp_path / "candidates.parquet")
    with pytest.raises(UserInputError, match="lacks the column"):
        pair_candidates(tmp_path, progress=False)


@pytest.mark.slow
def test_distributed_run_survives_a_killed_worker(corpus, first_run, tmp_path):
    from distributed import Client, LocalCluster

    first_out, _ = first_run
    out = run_dir(tmp_path, corpus)
    killed: list[tuple[int, bool]] = []  # (verdict batches done, pairs.parquet written) when the kill came

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())

            def kill_one_after_first_verdict() -> None:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    done = len(list((out / ".cache" / "verdicts").glob("part-*.parquet")))
                    if done:
                        os.kill(pids[0], signal.SIGKILL)
                        killed.append((done, (out / "pairs.parquet").exists()))
                        return
                    time.sleep(0.002)

            killer = threading.Thread(target=kill_one_after_first_verdict, daemon=True)
            killer.start()
            summary = pair_candidates(out, PairingConfig(batch_size=1), scheduler=cluster.scheduler_address,
                                      progress=False)
            killer.join(timeout=5)
    assert killed and killed[0][0] < 13 and killed[0][1] is False, f"not killed mid-run: {killed}"
    assert summary.computed == 13
    assert pq.read_table(out / "pairs.parquet").equals(pq.read_table(first_out / "pairs.parquet"))


# ---- the building blocks, against independent computations ---------------------------------------------

def test_fingerprint_equals_fpcalc_raw(corpus, tmp_path):
    mono = resample(decode(corpus["o1"]).mono(), SR, 11025)
    path = tmp_path / "m.wav"
    sf.write(path, mono, 11025, subtype="PCM_16")
    # fpcalc may exit non-zero after an end-of-file warning from its decoder; its fingerprint is printed
    out = subprocess.run(["fpcalc", "-raw", "-length", "0", str(path)], capture_output=True, text=True).stdout
    fpcalc = np.array([int(x) for x in out.split("FINGERPRINT=")[1].split(",")], dtype=np.int64) & 0xFFFFFFFF
    ours = compute_fingerprint(sf.read(path, dtype="float32")[0])
    assert len(ours) > 20 and np.array_equal(ours, fpcalc.astype(np.uint32))


def test_fingerprint_similarity_finds_the_item_shift(corpus):
    x = load_mono(corpus["o5"], 11025)
    fp = compute_fingerprint(x)
    k = 7
    later = compute_fingerprint(np.concatenate([np.zeros(int(round(k * ITEM_SECONDS * 11025)), np.float32), x]))
    sim, shift = similarity(fp, later, max_shift=20)
    assert shift == k and sim > 0.95
    other_sim, _ = similarity(fp, compute_fingerprint(load_mono(corpus["o1"], 11025)), max_shift=20)
    assert other_sim < 0.8


def test_prepare_measures_clipping_and_hashes_decoded_audio(tmp_path):
    from pairing.fingerprint import FingerprintCache
    from pairing.prepare import prepare_audio

    x = np.random.default_rng(3).uniform(-0.5, 0.5, (2, SR * 3)).astype(np.float32)
    x[0, :441] = 1.0
    x[1, 1000:1441] = -1.0
    cache = FingerprintCache(tmp_path / "fp")
    a = prepare_audio(write(tmp_path / "a.wav", x), "a", cache, PairingConfig())
    assert a.clipping == pytest.approx(882 / x.size)  # 441 samples at +1.0 and 441 at -1.0
    assert a.seconds == 3.0 and a.rms_db == pytest.approx(10 * np.log10(np.mean(load_mono(tmp_path / "a.wav") ** 2)))
    # the same audio in another container decodes to the same content hash; a fingerprint hit decodes all else
    pcm = np.round(x.T * 32767).astype(np.int16)  # the same samples: libsndfile's float->int16 differs per format
    sf.write(tmp_path / "b.flac", pcm, SR, subtype="PCM_16")
    sf.write(tmp_path / "a16.wav", pcm, SR, subtype="PCM_16")
    b = prepare_audio(str(tmp_path / "b.flac"), "b", cache, PairingConfig())
    a16 = prepare_audio(str(tmp_path / "a16.wav"), "a16", cache, PairingConfig())
    assert b.content_sha1 == a16.content_sha1 != a.content_sha1
    again = prepare_audio(str(tmp_path / "a.wav"), "a", cache, PairingConfig())
    assert again.content_sha1 == a.content_sha1 and np.array_equal(again.fingerprint, a.fingerprint)
    assert (cache.computed, cache.loaded) == (3, 1)


@pytest.mark.parametrize("lag", [0.0, 123.4, -2047.75, 5000.5, 0.25])
def test_global_lag_and_fractional_shift(lag):
    rng = np.random.default_rng(1)
    n = 8192 * 4
    # noise whose spectrum falls towards Nyquist, like music's
    x = scipy.signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(n + 20000)).astype(np.float32)
    o = x[10000 : 10000 + n]
    # i[t + lag] = -0.5 * o[t]: build i by band-limited (FFT) fractional delay of x
    spec = np.fft.rfft(x)
    w = 2 * np.pi * np.arange(len(spec)) / len(x)
    xs = np.fft.irfft(spec * np.exp(-1j * w * lag), len(x)).astype(np.float32)
    i = -0.5 * xs[10000 : 10000 + n]
    sp = align.spectra(o, i, 8192)
    est, peak = align.global_lag(sp, o, i, 8192)
    assert abs(est - lag) < 0.1 and peak > 0.5  # 0.1 sample at 8192 Hz = 12 us
    s = align.shifted(sp, est)
    start, stop = align.overlap(len(o), len(i), est)
    q = align.quality(o, s, start, stop, 1024, 15.0, 40.0)
    assert q.scale == pytest.approx(-2.0, rel=0.02) and q.vocal_energy_share < 0.01


def test_a_window_over_digital_silence_does_not_match_at_another_lag():
    """An a-cappella intro: the instrumental is exact zeros there. A window whose search range is mostly that
    silence once matched rounding noise at a bogus lag (-1297 samples) and counted as a drift."""
    from pairing import align

    sr = 8192
    rng = np.random.default_rng(0)
    voc = rng.standard_normal(20 * sr).astype(np.float32) * 0.5
    acc = rng.standard_normal(20 * sr).astype(np.float32) * 0.1
    acc[: 6 * sr] = 0
    o_pre, i_pre = align.preemphasis(voc + acc), align.preemphasis(acc)
    window, p = int(1.5 * sr), 6 * sr - int(1.4 * sr)
    check = align.window_check(o_pre, i_pre, i_pre, 0.0, p, p + window, window, int(0.25 * sr), 1, 0.2,
                               0.001 * sr, sr)
    assert not check.agree[0] and not check.disagree[0] and np.isnan(check.other_lags[0])


def tiny_catalog(tmp_path: Path) -> Path:
    """One candidate pair without audio paths: the audio stage runs (``no-audio-path``) in a second."""
    cat = tmp_path / "catalog.csv"
    cat.write_text("track_id,artist,title,duration_s\n1,A,Song,200\n2,A,Song (Instrumental),200\n")
    return cat


def test_a_config_file_sets_thresholds_and_the_run_records_them(tmp_path):
    toml = tmp_path / "pairing.toml"
    toml.write_text("min_coverage = 0.75\n\n[alignment]\nmax_offset_s = 5.0\n")  # flat, or grouped in tables
    out = tmp_path / "out"
    result = CliRunner().invoke(mine_pairs_command, [str(tiny_catalog(tmp_path)), "-o", str(out), "--no-report",
                                                     "--no-progress", "--config", str(toml)])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "summary.json").read_text())["audio"]["config"]
    assert recorded == {**dataclasses.asdict(PairingConfig()), "min_coverage": 0.75, "max_offset_s": 5.0}
    assert list(recorded) == [f.name for f in dataclasses.fields(PairingConfig)]  # every field, in field order


def test_an_unknown_name_in_the_config_file_is_exit_2_naming_the_file_and_the_name(tmp_path):
    toml = tmp_path / "pairing.toml"
    toml.write_text("min_coverage = 0.75\nmax_ofset_s = 5.0\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(mine_pairs_command, [str(tiny_catalog(tmp_path)), "-o", str(out), "--config",
                                                     str(toml)])
    assert result.exit_code == 2, result.output
    assert f"{toml}: unknown setting(s) max_ofset_s" in result.output
    assert not out.exists()  # refused before anything ran
