"""`evaluate` on datasets as they ship: MUSDB18 (.stem.mp4 written with ffmpeg), DSD100, iKala/MIR-1K, the demo
truth with subsets and instrumental-only songs, other tools' estimates, v3/v4 against mir_eval/museval called
directly, REPET-SIM at the song's own rate, and stems of different lengths (never a silent cut)."""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from features.audio import resample
from evaluation.layouts import detect_layout, dsd100_songs, musdb_songs, wavfile_songs
from separation.repet import repet_sim
from commands.evaluate import main as evaluate_main
from support.models import constant_model
from support.signals import voice_and_band

SR = 8192


def _write(path: Path, x: np.ndarray, rate: int) -> Path:
    """``x``: ``[samples]`` or ``[channels, samples]``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.asarray(x, np.float32).T, rate, subtype="FLOAT")
    return path


def _mir_eval(refs: list[np.ndarray], ests: list[np.ndarray]) -> np.ndarray:
    """SDR per source from mir_eval called directly (mono signals of one length)."""
    import mir_eval.separation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdr, _, _, _ = mir_eval.separation.bss_eval_sources(np.array(refs, np.float64), np.array(ests, np.float64),
                                                            compute_permutation=False)
    return sdr


def _run(args: list[str]) -> dict:
    r = CliRunner().invoke(evaluate_main, [*args, "--no-progress", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    out = Path(args[args.index("-o") + 1])
    return json.loads((out / "evaluation.json").read_text())


def _ffmpeg_stream(path: Path, stream: int) -> np.ndarray:
    """Stream ``stream`` of ``path`` decoded by ffmpeg to WAV and read back: ``[channels, samples]``."""
    wav = path.parent / f"_stream{stream}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-map", f"0:a:{stream}", "-c:a", "pcm_f32le",
                    str(wav)], check=True)
    x, _ = sf.read(wav, dtype="float32", always_2d=True)
    wav.unlink()
    return x.T


@pytest.mark.slow
def test_musdb18_stem_mp4_with_estimates_scored_v4_like_museval(tmp_path):
    rate = 22050  # MUSDB18 is 44.1 kHz; half of it halves museval's work here and changes nothing else
    v, a = voice_and_band(2.0, 7, rate)
    stems = {"mixture": None, "drums": 0.5 * a, "bass": 0.3 * np.roll(a, 500), "other": 0.2 * np.roll(a, 900),
             "vocals": v}
    stems["mixture"] = stems["vocals"] + stems["drums"] + stems["bass"] + stems["other"]
    wavs = [_write(tmp_path / "src" / f"{k}.wav", np.stack([x, 0.8 * x]), rate) for k, x in stems.items()]
    song = tmp_path / "musdb" / "test" / "Artist - Song.stem.mp4"
    song.parent.mkdir(parents=True)
    cmd = ["ffmpeg", "-v", "error", "-y"]
    for w in wavs:
        cmd += ["-i", str(w)]
    for i in range(5):
        cmd += ["-map", f"{i}:a"]
    subprocess.run(cmd + ["-c:a", "aac", "-b:a", "256k", "-f", "mp4", str(song)], check=True)
    (tmp_path / "musdb" / "train").mkdir()
    (tmp_path / "musdb" / "train" / "broken.stem.mp4").write_bytes(b"not an mp4 at all")

    assert detect_layout(tmp_path / "musdb") == "musdb18"
    assert [(s.name, s.subset) for s in musdb_songs(tmp_path / "musdb")] == [("Artist - Song", "test"),
                                                                             ("broken", "train")]
    # The references are the layout's: stream 4 the vocals, streams 1 + 2 + 3 the accompaniment (AAC decoded).
    dec = {i: _ffmpeg_stream(song, i) for i in range(5)}
    n = min(x.shape[1] for x in dec.values())
    ref_v, ref_a = dec[4][:, :n], (dec[1][:, :n] + dec[2][:, :n] + dec[3][:, :n])
    loaded = musdb_songs(tmp_path / "musdb")[0].load_native()
    assert loaded.sample_rate == rate and loaded.vocals.shape == (2, n)
    assert np.max(np.abs(loaded.vocals - ref_v)) < 1e-6 and np.max(np.abs(loaded.accompaniment - ref_a)) < 1e-5
    assert np.max(np.abs(loaded.mixture - dec[0][:, :n])) < 1e-6

    # Another tool's estimates, museval's folder layout (estimates/<subset>/<song>/), at the song's rate.
    noise = np.random.default_rng(3).standard_normal((2, n)).astype(np.float32)
    est_v, est_a = ref_v + 0.05 * noise, ref_a - 0.05 * noise
    _write(tmp_path / "est" / "test" / "Artist - Song" / "vocals.wav", est_v, rate)
    _write(tmp_path / "est" / "test" / "Artist - Song" / "accompaniment.wav", est_a, rate)
    report = _run([str(tmp_path / "musdb"), "--estimates", str(tmp_path / "est"), "--metrics", "v4",
                   "--native-rate", "--no-reference", "-o", str(tmp_path / "out")])
    assert report["meta"]["layout"] == "musdb18" and report["metrics"] == "v4"
    assert [f["song"] for f in report["failures"]] == ["broken"] and "unreadable" in report["failures"][0]["reason"]
    (row,) = report["songs"]
    import museval

    sdr, isr, sir, sar = museval.evaluate(np.stack([ref_v.T, ref_a.T]), np.stack([est_v.T, est_a.T]),
                                          win=rate, hop=rate)
    assert row["vocals_sdr"] == pytest.approx(np.nanmedian(sdr[0]), abs=1e-6)
    assert row["accompaniment_sir"] == pytest.approx(np.nanmedian(sir[1]), abs=1e-6)
    assert row["vocals_isr"] == pytest.approx(np.nanmedian(isr[0]), abs=1e-6)
    assert report["summary"]["vocals"]["sdr"]["median"] == pytest.approx(row["vocals_sdr"])  # median of medians
    # --subset train: only the broken song, so nothing can be scored: a message, exit 2.
    r = CliRunner().invoke(evaluate_main, [str(tmp_path / "musdb"), "--estimates", str(tmp_path / "est"),
                                           "--subset", "train", "--no-reference", "-o", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "no song of" in r.output and "broken: unreadable" in r.output


def test_dsd100_tree_subset_and_estimates_scored_v3_like_mir_eval(tmp_path):
    rate = 22050
    root = tmp_path / "DSD100"
    truth = {}
    for subset, name, seed in (("Dev", "001 - A", 1), ("Test", "002 - B", 2), ("Test", "003 - C", 3)):
        v, a = voice_and_band(1.5, seed, rate)
        parts = {"bass": 0.4 * a, "drums": 0.4 * np.roll(a, 300), "other": 0.2 * np.roll(a, 700), "vocals": v}
        mix = sum(parts.values())
        _write(root / "Mixtures" / subset / name / "mixture.wav", np.stack([mix, mix]), rate)
        for k, x in parts.items():
            if not (name == "003 - C" and k == "vocals"):  # a song whose vocals file is missing
                _write(root / "Sources" / subset / name / f"{k}.wav", np.stack([x, x]), rate)
        truth[name] = (mix, v, parts["bass"] + parts["drums"] + parts["other"])
    assert detect_layout(root) == "dsd100"
    assert [(s.name, s.subset) for s in dsd100_songs(root)] == [("001 - A", "dev"), ("002 - B", "test"),
                                                                ("003 - C", "test")]
    mix, v, a = truth["002 - B"]
    _write(tmp_path / "spleeter" / "002 - B" / "vocals.wav", np.stack([0.9 * v, 0.9 * v]), rate)  # no accompaniment
    report = _run([str(root), "--subset", "test", "--estimates", str(tmp_path / "spleeter"), "--no-reference",
                   "-o", str(tmp_path / "out")])
    assert [r["song"] for r in report["songs"]] == ["002 - B"]
    assert report["failures"] == [{"song": "003 - C", "reason": f"missing-file: {root}/Sources/Test/003 - C/vocals.wav"}]
    # References at 8192 Hz mono: vocals, and bass + drums + other; the accompaniment estimate is mix - vocals.
    r8 = [resample(x.astype(np.float32), rate, SR) for x in (mix, v, a)]
    est_v = resample((0.9 * v).astype(np.float32), rate, SR)
    want = _mir_eval([r8[1], r8[2]], [est_v, r8[0] - est_v])
    row = report["songs"][0]
    assert row["vocals_sdr"] == pytest.approx(want[0], abs=1e-3)
    assert row["accompaniment_sdr"] == pytest.approx(want[1], abs=1e-3)


def test_ikala_wavfile_channels_and_repet_sim_reference(tmp_path):
    rate = 16000  # MIR-1K's rate
    v, a = voice_and_band(2.0, 5, rate)
    _write(tmp_path / "iKala" / "Wavfile" / "10161_chorus.wav", np.stack([a, v]), rate)  # left band, right voice
    (tmp_path / "iKala" / "Wavfile" / "10163_bad.wav").write_bytes(b"RIFF....WAVEjunk")
    assert detect_layout(tmp_path / "iKala") == "ikala"
    songs = wavfile_songs(tmp_path / "iKala")
    st = songs[0].load_native()
    assert st.vocals.shape == (1, len(v)) and np.array_equal(st.vocals[0], v) and np.array_equal(st.accompaniment[0], a)
    assert np.allclose(st.mixture[0], v + a)  # the mixture is the sum of the two channels

    model = constant_model(tmp_path / "half.pt")
    report = _run([str(tmp_path / "iKala"), "--model", str(model), "-o", str(tmp_path / "o")])
    assert [r["song"] for r in report["songs"]] == ["10161_chorus"]
    assert [f["song"] for f in report["failures"]] == ["10163_bad"]
    # REPET-SIM ran at the song's own rate (16 kHz, librosa's defaults), then was scored at 8192 Hz like the model.
    rep = repet_sim(v + a, rate)
    r8 = [resample(x, rate, SR) for x in (v, a, rep["vocals"], rep["accompaniment"])]
    want = _mir_eval(r8[:2], r8[2:])
    row = {r["song"]: r for r in report["systems"]["repet-sim"]["rows"]}["10161_chorus"]
    assert row["vocals_sdr"] == pytest.approx(want[0], abs=1e-3)
    assert row["accompaniment_sdr"] == pytest.approx(want[1], abs=1e-3)
    md = (tmp_path / "o" / "evaluation.md").read_text()
    assert "| repet-sim | 1 |" in md and "repet-sim vocals NSDR" in md


def test_stems_of_different_lengths_fail_with_the_lengths_or_are_padded(tmp_path):
    v, a = voice_and_band(2.0, 9, SR)
    _write(tmp_path / "songs" / "cut" / "mixture.wav", v + a, SR)
    _write(tmp_path / "songs" / "cut" / "vocals.wav", v[: SR], SR)  # a damaged 1 s vocals file
    _write(tmp_path / "songs" / "cut" / "accompaniment.wav", a, SR)
    _write(tmp_path / "songs" / "ok" / "mixture.wav", v + a, SR)
    _write(tmp_path / "songs" / "ok" / "vocals.wav", v[: len(v) - 100], SR)  # 12 ms short: codec padding, cut
    _write(tmp_path / "songs" / "ok" / "accompaniment.wav", a, SR)
    model = constant_model(tmp_path / "half.pt")
    base = [str(tmp_path / "songs"), "--model", str(model), "--no-reference"]
    report = _run(base + ["-o", str(tmp_path / "o1")])
    assert [r["song"] for r in report["songs"]] == ["ok"]
    assert report["songs"][0]["seconds"] == pytest.approx((len(v) - 100) / SR)
    assert report["failures"] == [{"song": "cut", "reason": "length-mismatch: mixture.wav 2.000 s, vocals.wav 1.000 s, "
                                   "accompaniment.wav 2.000 s (more than 0.05 s apart; --pad scores them zero-padded "
                                   "to the longest)"}]
    report = _run(base + ["--pad", "-o", str(tmp_path / "o2")])
    assert {r["song"]: r["seconds"] for r in report["songs"]} == {"cut": 2.0, "ok": 2.0}


def test_demo_truth_subset_from_songs_csv_and_instrumental_only_songs(tmp_path):
    truth = tmp_path / "corpus" / "truth"
    rows = ["song_id,artist,split_hint"]
    for i, (song, hint) in enumerate((("s-train", "train"), ("s-test", "test"), ("s-inst", "test"))):
        v, a = voice_and_band(1.5, 20 + i, SR)
        if song == "s-inst":
            v = np.zeros_like(v)
        for name, x in (("mixture", v + a), ("vocals", v), ("accompaniment", a)):
            _write(truth / "stems" / song / f"{name}.wav", np.stack([x, x]), SR)
        rows.append(f"{song},A{i},{hint}")
    (truth / "songs.csv").write_text("\n".join(rows) + "\n")
    assert detect_layout(tmp_path / "corpus") == detect_layout(truth / "stems") == "demo"
    model = constant_model(tmp_path / "half.pt", value_logit=-3.0)  # mask sigmoid(-3): vocals 0.047 x the mix
    report = _run([str(truth / "stems"), "--model", str(model), "--subset", "test", "-o", str(tmp_path / "o")])
    assert [r["song"] for r in report["songs"]] == ["s-test"] and report["failures"] == []
    inst = report["systems"]["unet"]["instrumental_only"]
    assert [r["song"] for r in inst] == ["s-inst"]
    assert inst[0]["vocals_level_db"] == pytest.approx(20 * np.log10(1 / (1 + np.exp(3))), abs=0.05)
    assert report["systems"]["unet"]["levels"]["at_or_below_limit"] == 1  # -26.5 dB: at least 10 dB below the mix
    assert [r["song"] for r in report["systems"]["repet-sim"]["instrumental_only"]] == ["s-inst"]
    r = CliRunner().invoke(evaluate_main, [str(truth / "stems"), "--model", str(model), "--subset", "nope"])
    assert r.exit_code == 2 and "no songs in subset 'nope' (subsets here: test, train)" in r.output


def test_medleydb_style_stems_without_a_mixture_file_sum_to_the_mixture(tmp_path):
    from evaluation.layouts import READERS

    v, a = voice_and_band(1.0, 30, 22050)
    _write(tmp_path / "MusicDelta_Rock" / "vocals.wav", np.stack([v, 0.5 * v]), 22050)
    sf.write(tmp_path / "MusicDelta_Rock" / "accompaniment.flac", np.stack([a, a]).T, 22050, subtype="PCM_24")
    _write(tmp_path / "lonely" / "vocals.wav", v, 22050)  # vocals alone: neither mixture nor accompaniment
    song, lonely = READERS["medleydb"](tmp_path)
    assert lonely.name == "lonely" and lonely.problem.endswith(  # a failure with its reason (issue 22), not dropped
        "lonely: no mixture.* or accompaniment.* (or drums/bass/other) (found vocals.wav)")
    st = song.load_native()
    assert song.name == "MusicDelta_Rock" and st.sample_rate == 22050 and st.mixture.shape == (2, len(v))
    assert np.allclose(st.mixture, st.vocals + st.accompaniment) and np.allclose(st.vocals[1], 0.5 * v)
