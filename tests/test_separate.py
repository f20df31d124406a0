"""`separate`: exact lengths, rates and channels for any format; the patch blend; full band; bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from features.audio import decode
from features.stft import PAPER_STFT
from training.checkpoint import model_payload, save_checkpoint
from training.model import UNet
from separation.separate import load_model, predict_mask, separate_waveform
from commands.separate import main as separate_main
from support.models import STFT, constant_model


def random_model(path: Path, target: str = "vocals", seed: int = 1) -> Path:
    torch.manual_seed(seed)
    save_checkpoint(model_payload(UNet(), target, STFT), path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"half": constant_model(d / "half.pt"), "random": random_model(d / "random.pt"),
            "inst": constant_model(d / "inst.pt", target="instrumental")}


@pytest.mark.slow
def test_constant_mask_blends_to_exactly_half_the_mixture(models):
    m = load_model(models["half"])
    assert m.step == 7 and m.params == PAPER_STFT
    # Every frame is covered by overlapping patches whose blend weights sum to 1: the mask stays 0.5 exactly.
    for frames in (1, 63, 64, 128, 129, 300):
        mask = predict_mask(m, np.random.default_rng(frames).uniform(size=(512, frames)).astype(np.float32))
        assert mask.shape == (512, frames) and np.allclose(mask, 0.5, atol=1e-6)
    # At the model's own rate nothing is resampled: vocals = instrumental = x / 2 through STFT, mask, iSTFT.
    x = np.random.default_rng(0).standard_normal(8192 * 3 + 517).astype(np.float32) * 0.1
    sep = separate_waveform(x, 8192, m)
    assert sep.vocals.shape == sep.instrumental.shape == (1, len(x))
    assert np.max(np.abs(sep.vocals[0] - x / 2)) < 1e-5
    assert np.max(np.abs(sep.instrumental[0] - x / 2)) < 1e-5


def _band_energy(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_full_band_keeps_the_inputs_bandwidth(models):
    m = load_model(models["half"])
    rate, n = 44100, 44100 * 2 + 123
    t = np.arange(n) / rate
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 10000 * t),
                  0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    full = separate_waveform(x, rate, m, full_band=True)
    assert full.vocals.shape == x.shape
    assert np.max(np.abs(full.vocals - x / 2)) < 1e-4  # mask 0.5 everywhere, above 4 kHz too
    assert np.max(np.abs(full.vocals + full.instrumental - x)) < 1e-6  # instrumental = mixture - vocals
    low = separate_waveform(x, rate, m)
    assert low.vocals.shape == x.shape
    # At 8192 Hz the 10 kHz tone is gone from both stems; the 440 Hz tone is halved.
    assert _band_energy(low.vocals[0], rate, 5000, 20000) < 1e-6 * _band_energy(x[0], rate, 5000, 20000)
    assert _band_energy(full.vocals[0], rate, 9000, 11000) == pytest.approx(
        0.25 * _band_energy(x[0], rate, 9000, 11000), rel=1e-3)
    assert _band_energy(low.vocals[0], rate, 400, 480) == pytest.approx(
        0.25 * _band_energy(x[0], rate, 400, 480), rel=1e-2)


@pytest.mark.parametrize("ext,rate,channels,seconds_plus", [
    ("wav", 44100, 2, 7), ("flac", 48000, 1, 769), ("ogg", 22050, 2, 1), ("mp3", 44100, 1, 255),
])
def test_separate_command_any_format_and_odd_length(tmp_path, models, ext, rate, channels, seconds_plus):
    n = int(1.3 * rate) + seconds_plus  # not a multiple of any hop
    x = (0.2 * np.random.default_rng(n).standard_normal((n, channels))).astype(np.float32)
    src = tmp_path / f"song {ext}.{ext}"
    sf.write(src, x if channels > 1 else x[:, 0], rate)
    decoded = decode(src)
    out = tmp_path / "out"
    r = CliRunner().invoke(separate_main, [str(src), "-o", str(out), "--model", str(models["random"]),
                                           "--device", "cpu"])
    assert r.exit_code == 0, r.output
    vocals, vr = sf.read(out / src.stem / "vocals.wav", always_2d=True)
    inst, ir = sf.read(out / src.stem / "instrumental.wav", always_2d=True)
    assert vr == ir == rate
    assert vocals.shape == inst.shape == (decoded.samples.shape[1], channels)
    assert np.all(np.isfinite(vocals)) and np.abs(vocals).max() > 0


@pytest.mark.slow
def test_instrumental_model_bad_files_and_wrong_targets(tmp_path, models):
    rate = 16000
    x = (0.2 * np.random.default_rng(2).standard_normal(rate + 11)).astype(np.float32)
    good = tmp_path / "good.wav"
    sf.write(good, x, rate, subtype="FLOAT")
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"not audio at all")
    out = tmp_path / "out"
    r = CliRunner().invoke(separate_main, [str(broken), str(good), "-o", str(out), "--model",
                                           str(models["half"]), "--instrumental-model", str(models["inst"]),
                                           "--device", "cpu"])
    # The broken file is reported and the command fails (exit 2) after separating the good one.
    assert r.exit_code == 2 and "cannot separate" in r.output and "broken.mp3" in r.output
    assert "1 of 2 files could not be separated" in r.output
    inst, _ = sf.read(out / "good" / "instrumental.wav")
    vocals, _ = sf.read(out / "good" / "vocals.wav")
    assert inst.shape == (len(x),)
    # Both models give a mask of 0.5, so both stems are the same band-limited half of the mixture.
    assert np.allclose(inst, vocals, atol=1e-7)

    r = CliRunner().invoke(separate_main, [str(good), "-o", str(out), "--model", str(models["inst"])])
    assert r.exit_code == 2 and "target 'instrumental' (expected 'vocals')" in r.output
    r = CliRunner().invoke(separate_main, [str(good), "-o", str(out), "--model", str(tmp_path)])
    assert r.exit_code == 2 and "no checkpoint at" in r.output


@pytest.mark.parametrize("full_band", [False, True])
@pytest.mark.slow
def test_very_short_and_silent_inputs(models, full_band):
    m = load_model(models["random"])
    for n, rate in ((1, 44100), (100, 44100), (700, 8192)):
        x = np.random.default_rng(n).standard_normal((2, n)).astype(np.float32) * 0.1
        sep = separate_waveform(x, rate, m, full_band=full_band)
        assert sep.vocals.shape == sep.instrumental.shape == (2, n) and np.all(np.isfinite(sep.vocals))
    silent = separate_waveform(np.zeros((1, 5000), np.float32), 22050, m, full_band=full_band)
    assert not np.any(silent.vocals) and not np.any(silent.instrumental)


# ------------------------------------------------------------------------------------------ names, bad paths


@pytest.mark.slow
def test_inputs_sharing_a_stem_get_distinct_output_folders(tmp_path, models):
    from separation.separate import output_names

    rate = 8000
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    inputs = {tmp_path / "a" / "song.wav": 0.1, tmp_path / "b" / "song.wav": 0.2, tmp_path / "song.flac": 0.3,
              tmp_path / "solo.wav": 0.4}
    rng = np.random.default_rng(5)
    for path, amp in inputs.items():
        sf.write(path, (amp * rng.uniform(-1, 1, rate)).astype(np.float32), rate)
    names = output_names([*inputs, tmp_path / "a" / ".." / "solo.wav"])  # the same file twice: one input
    assert list(names.values()) == ["a-song.wav", "b-song.wav", "song.flac", "solo"]
    assert output_names([Path("x/Song.wav"), Path("y/song.mp3")]) == {Path("x/Song.wav"): "Song.wav",
                                                                       Path("y/song.mp3"): "song.mp3"}

    out = tmp_path / "out"
    r = CliRunner().invoke(separate_main, [*map(str, inputs), "-o", str(out), "--model", str(models["half"]),
                                           "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "shares its stem with another input: written to" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["a-song.wav", "b-song.wav", "solo", "song.flac"]
    for path, amp in inputs.items():  # each folder holds its own input's separation: half of its level
        x, _ = sf.read(path)
        v, _ = sf.read(out / names[path] / "vocals.wav")
        ratio = np.sqrt(np.mean(v**2) / np.mean(x**2))
        assert 0.4 < ratio < 0.55, (path, ratio)


def test_directory_and_empty_file_are_named_for_what_they_are(tmp_path, models):
    from features.audio import AudioError, decode

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="is a directory"):
        decode(tmp_path)
    with pytest.raises(AudioError, match=r"empty file \(0 bytes\)"):
        decode(empty)
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(4000, np.float32) + 0.1, 8000)
    r = CliRunner().invoke(separate_main, [str(tmp_path), str(empty), str(good), "-o", str(tmp_path / "out"),
                                           "--model", str(models["half"]), "--device", "cpu"])
    assert r.exit_code == 2 and "2 of 3 files could not be separated" in r.output
    assert f"cannot separate {tmp_path}: is a directory" in r.output
    assert f"cannot separate {empty}: empty file (0 bytes)" in r.output
    assert "Format not recognised" not in r.output and "System error" not in r.output
    assert (tmp_path / "out" / "good" / "vocals.wav").is_file()


def _drop_file_capabilities() -> None:
    """In the child before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set, so root
    then obeys file modes (a file with mode 000 is unreadable) like any user."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.mark.slow
def test_an_input_without_read_permission_is_skipped_like_a_corrupt_one(tmp_path, models):
    """The tests run as root, who may read anything: the command runs with root's file capabilities dropped."""
    import os
    import subprocess
    import sys

    locked, good = tmp_path / "locked.wav", tmp_path / "good.wav"
    for p in (locked, good):
        sf.write(p, 0.1 * np.ones(8000, np.float32), 8000)
    locked.chmod(0o000)
    cmd = [sys.executable, "-c", "from commands.separate import main; main()",
           str(locked), str(good), "-o", str(tmp_path / "out"), "--model", str(models["half"]), "--device", "cpu"]
    probe = subprocess.run([sys.executable, "-c", f"open({str(locked)!r}, 'rb')"],
                           preexec_fn=_drop_file_capabilities if os.geteuid() == 0 else None, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("this process may read a file of mode 000 even without its capabilities")
    r = subprocess.run(cmd, preexec_fn=_drop_file_capabilities if os.geteuid() == 0 else None,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert f"cannot separate {locked}: permission denied" in r.stderr
    assert "1 of 2 files could not be separated" in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "out" / "good" / "vocals.wav").is_file()
