"""Issue 22, points 6 (separate side), 10 and 14: checkpoint files that are not archives, and archives that load
safely but hold content no model can be built from, are refused with one clear line, never a traceback."""

from __future__ import annotations

import copy
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from commands.separate import main as separate_main
from separation.separate import load_model
from support.models import STFT
from training.checkpoint import load_checkpoint, model_payload, save_checkpoint
from training.model import UNet
from vocalmine.errors import UserInputError


@pytest.fixture(scope="module")
def payload() -> dict:
    torch.manual_seed(0)
    return model_payload(UNet(), "vocals", STFT, step=3)


# ------------------------------------------------------------------------------------------ point 14


def test_random_bytes_never_reach_the_unpickler(tmp_path):
    """Random bytes raised IndexError or KeyError inside torch.load about one time in twenty (a traceback):
    200 seeded blobs, each refused by the format check before any loading."""
    rng = np.random.default_rng(14)
    for i in range(200):
        f = tmp_path / f"r{i}.pt"
        f.write_bytes(rng.bytes(int(rng.integers(1, 8192))))
        if f.read_bytes()[:4] == b"PK\x03\x04":
            continue
        with pytest.raises(UserInputError, match="not a PyTorch checkpoint archive"):
            load_checkpoint(f)


def test_archives_that_are_not_whole_or_not_torchs_are_damaged(tmp_path, payload):
    buf = io.BytesIO()
    torch.save(payload, buf)
    whole = buf.getvalue()
    rng = np.random.default_rng(1)
    cases = {
        "zip-random": b"PK\x03\x04" + rng.bytes(5000),  # a zip signature, then noise
        "cut": whole[: len(whole) // 3],
        "cut-end": whole[:-10],
    }
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "not a checkpoint")
    cases["other-zip"] = other.getvalue()
    for name, data in cases.items():
        f = tmp_path / f"{name}.pt"
        f.write_bytes(data)
        with pytest.raises(UserInputError) as err:
            load_checkpoint(f)
        assert "damaged or truncated" in str(err.value) or "not a PyTorch checkpoint archive" in str(err.value), name


# ------------------------------------------------------------------------------------------ point 10, 6


def _bad(payload: dict, edit) -> dict:
    p = copy.deepcopy(payload)
    edit(p)
    return p


def _set(path: str, value):
    def edit(p: dict) -> None:
        *keys, last = path.split("/")
        d = p
        for k in keys:
            d = d[k]
        d[last] = value
    return edit


def _nan_weight(p: dict) -> None:
    p["model"]["decoder.5.0.weight"][0, 0, 0, 0] = float("nan")


def _inf_buffer(p: dict) -> None:
    p["model"]["encoder.0.1.running_var"][0] = float("inf")


def _drop_key(p: dict) -> None:
    del p["model"]["encoder.0.0.weight"]


BAD_CONTENT = {
    "wrong-shape": (_set("model/encoder.0.0.weight", torch.zeros(16, 1, 3, 3)),
                    "model['encoder.0.0.weight'] has shape [16, 1, 3, 3]; its model_config gives [16, 1, 5, 5]"),
    "missing-weight": (_drop_key, "model lacks 'encoder.0.0.weight'"),
    "weight-not-tensor": (_set("model/encoder.0.0.bias", [1.0, 2.0]), "model['encoder.0.0.bias'] is list"),
    "config-string": (_set("model_config", "unet"), "model_config is str, expected a mapping"),
    "stft-string": (_set("stft", "paper"), "stft is str, expected a mapping"),
    "hop-zero": (_set("stft/hop", 0), "stft.hop is 0 (expected a whole number from 1 to n_fft = 1024)"),
    "hop-float": (_set("stft/hop", 7.5), "stft.hop is 7.5"),
    "rate-negative": (_set("stft/sample_rate", -8192), "stft.sample_rate is -8192"),
    "n-fft-odd": (_set("stft/n_fft", 1023), "stft.n_fft is 1023"),
    "channels-absurd": (_set("model_config/channels", [16, 32, 2**40]),
                        "model_config.channels is [16, 32, 1099511627776]"),
    "channels-too-deep": (_set("model_config/channels", [16] * 50), "model_config.channels is [16, 16,"),
    "channels-string": (_set("model_config/channels", "wide"), "model_config.channels is 'wide'"),
    "kernel-even": (_set("model_config/kernel_size", 4), "model_config.kernel_size is 4"),
    "dropout-two": (_set("model_config/dropout", 2.0), "model_config.dropout is 2.0"),
    "arch-mismatch": (_set("arch", "baseline"), "arch is 'baseline' but its model_config has skip connections"),
    "target-unknown": (_set("target", "drums"), "target is 'drums'"),
    "step-negative": (_set("step", -1), "step is -1"),
    "nan-weights": (_nan_weight, "non-finite weights (NaN or inf) in model['decoder.5.0.weight']"),
    "inf-buffer": (_inf_buffer, "non-finite weights (NaN or inf) in model['encoder.0.1.running_var']"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTENT))
def test_bad_content_is_refused_with_what_is_wrong(tmp_path, payload, case):
    edit, expected = BAD_CONTENT[case]
    f = tmp_path / "model.pt"
    torch.save(_bad(payload, edit), f)  # plain data: it loads with weights_only=True
    with pytest.raises(UserInputError) as err:
        load_model(f)
    assert f"{f} is not a usable vocalmine checkpoint: " in str(err.value), str(err.value)
    assert expected in str(err.value), str(err.value)


def test_separate_refuses_bad_models_and_writes_nothing(tmp_path, payload):
    song = tmp_path / "song.wav"
    sf.write(song, 0.1 * np.random.default_rng(0).standard_normal(8192).astype(np.float32), 8192)
    for case in ("hop-zero", "nan-weights", "config-string", "rate-negative", "channels-absurd"):
        edit, expected = BAD_CONTENT[case]
        model = tmp_path / f"{case}.pt"
        torch.save(_bad(payload, edit), model)
        out = tmp_path / f"out-{case}"
        r = CliRunner().invoke(separate_main, [str(song), "-o", str(out), "--model", str(model), "--device", "cpu"])
        assert r.exit_code == 2, (case, r.output)
        assert expected in r.output and "Traceback" not in r.output, (case, r.output)
        assert not list(out.rglob("*.wav")), case


def test_a_good_checkpoint_still_loads(tmp_path, payload):
    f = save_checkpoint(payload, tmp_path / "good.pt")
    m = load_model(f)
    assert m.step == 3 and m.target == "vocals" and m.params.hop == 768
