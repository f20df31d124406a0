"""`train`'s recipe and reliability: the best checkpoint, augmentation in a real run, `--resume` refusing changed
options, damaged shards, checkpoint files that are not safe, and Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from features.reader import ShardDataset
from training.augment import Augment
from training.checkpoint import load_checkpoint
from training.model import UNet, UNetConfig, masked_l1_loss
from training.train import TrainConfig, train
from commands.train import main as train_main
from support.training import write_shards


@pytest.fixture(scope="module")
def shards(tiny_shards) -> Path:
    """The shared synthetic shard set (tests/conftest.py), its sizes and sha1 in the manifest as build-shards
    records them."""
    return tiny_shards


def _config(shards: Path, run: Path, **kw) -> TrainConfig:
    base = dict(shards_dir=str(shards), run_dir=str(run), batch_size=3, max_steps=4, valid_every=1, loader_threads=1,
                valid_patches=3, checkpoint_every=10, log_every=1, seed=3, device="cpu", progress=False,
                tensorboard=False)
    base.update(kw)
    return TrainConfig(**base)


def _valid_loss(weights: dict, shards: Path, patches: int = 3) -> float:
    """The validation loss of ``weights`` computed here, independently of train's loop."""
    model = UNet(UNetConfig())
    model.load_state_dict(weights)
    model.eval()
    pbs = list(ShardDataset(shards, "valid", columns=("mix", "vocals")).iter_batches(seed=0, epoch=0))
    x = torch.tensor(np.concatenate([pb.arrays["mix"] for pb in pbs])[:patches, None]).float()
    y = torch.tensor(np.concatenate([pb.arrays["vocals"] for pb in pbs])[:patches, None]).float()
    with torch.no_grad():
        return float(masked_l1_loss(model(x), x, y))


@pytest.mark.slow
def test_best_checkpoint_is_the_one_with_the_lowest_validation_loss(shards, tmp_path):
    # A high learning rate, augmentation and a cosine schedule: the validation loss moves both ways.
    result = train(_config(shards, tmp_path / "run", max_steps=6, lr=3e-3, lr_schedule="cosine", warmup_steps=2,
                           augment=Augment(remix_share=0.5, gain_db=(-6.0, 0.0))))
    losses = dict(result.valid_history)
    assert sorted(losses) == [1, 2, 3, 4, 5, 6]
    best_step = min(losses, key=losses.get)
    best = load_checkpoint(tmp_path / "run", target="vocals")  # a run folder gives its best.pt
    latest = load_checkpoint(tmp_path / "run", which="latest")
    assert best["step"] == best_step and latest["step"] == 6
    assert best["valid_loss"] == pytest.approx(min(losses.values()), rel=1e-6)
    assert _valid_loss(best["model"], shards) == pytest.approx(min(losses.values()), rel=1e-4)
    if best_step != 6:
        assert _valid_loss(latest["model"], shards) == pytest.approx(losses[6], rel=1e-4)
    # The schedule is what the log says: warm-up 1.5e-3, 3e-3, then the cosine down.
    with open(tmp_path / "run" / "train_log.csv") as fh:
        lrs = [float(r["lr"]) for r in csv.DictReader(fh)]
    assert lrs[:3] == pytest.approx([1.5e-3, 3e-3, 3e-3])
    assert all(a >= b for a, b in zip(lrs[2:], lrs[3:])) and lrs[-1] < 3e-3


@pytest.mark.slow
def test_resume_refuses_changed_options_unless_allowed(shards, tmp_path):
    run = tmp_path / "run"
    base = ["--shards", str(shards), "-o", str(run), "--device", "cpu", "--no-progress", "--batch-size", "2",
            "--valid-every", "0", "--loader-threads", "1"]
    r = CliRunner().invoke(train_main, base + ["--max-steps", "1"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(train_main, base[:-4] + ["--batch-size", "4", "--lr", "1e-2", "--valid-every", "0",
                                                   "--max-steps", "2", "--resume"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--batch-size: 2 -> 4; --lr: 0.0001 -> 0.01" in r.output and "--allow-config-change" in r.output

    other = write_shards(tmp_path / "other", {"train": 2, "valid": 1})
    r = CliRunner().invoke(train_main, ["--shards", str(other)] + base[2:] + ["--max-steps", "2", "--resume"])
    assert r.exit_code == 2 and f"--shards: {shards} -> {other}" in r.output

    # Longer, and on another device setting: allowed. A changed learning rate with the flag: logged and kept.
    r = CliRunner().invoke(train_main, base + ["--max-steps", "2", "--resume", "--lr", "2e-4", "--allow-config-change"])
    assert r.exit_code == 0, r.output
    ckpt = load_checkpoint(run, which="latest")
    assert ckpt["step"] == 2 and ckpt["config_changes"] == [{"step": 1, "changes": ["--lr: 0.0001 -> 0.0002"]}]
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2e-4)


def _copy(shards: Path, dest: Path) -> Path:
    shutil.copytree(shards, dest)
    return dest


def test_damaged_shards_are_named_with_what_to_rerun(shards, tmp_path):
    args = ["-o", str(tmp_path / "run"), "--device", "cpu", "--no-progress", "--max-steps", "1", "--valid-every", "0"]
    truncated = _copy(shards, tmp_path / "truncated")
    f = truncated / "train" / "part-00000.parquet"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    r = CliRunner().invoke(train_main, ["--shards", str(truncated)] + args)
    assert r.exit_code == 2 and "Traceback" not in r.output and "ArrowInvalid" not in r.output
    assert f"shard {f} is damaged" in r.output and "the manifest says" in r.output and "build-shards" in r.output

    # An older manifest without sizes: Parquet's own failure, in our words.
    manifest = json.loads((truncated / "manifest.json").read_text())
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            del shard["bytes"], shard["sha1"]
    (truncated / "manifest.json").write_text(json.dumps(manifest))
    r = CliRunner().invoke(train_main, ["--shards", str(truncated)] + args)
    assert r.exit_code == 2 and f"shard {f} is damaged (Parquet cannot read its footer)" in r.output

    # Replaced by another file of the same size: found by --verify (sha1).
    replaced = _copy(shards, tmp_path / "replaced")
    f = replaced / "train" / "part-00000.parquet"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    r = CliRunner().invoke(train_main, ["--shards", str(replaced), "--verify"] + args)
    assert r.exit_code == 2 and f"shard {f} is damaged (sha1" in r.output and "content changed" in r.output


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoints_that_are_not_safe_or_not_whole_get_our_words(shards, tmp_path):
    marker = tmp_path / "code-ran"
    files = {
        "random": random.Random(14).randbytes(4096),  # seeded: the same bytes every run (was os.urandom)
        "pickle": pickle.dumps(_Payload(str(marker))),
        "empty": b"",
    }
    torch.save({"format": "x", "evil": _Payload(str(marker))}, tmp_path / "evil.pt")
    files["evil"] = (tmp_path / "evil.pt").read_bytes()
    torch.save({"format": "x", "w": torch.zeros(1000)}, tmp_path / "whole.pt")
    files["truncated"] = (tmp_path / "whole.pt").read_bytes()[:1500]
    expected = {
        "random": "is not a safe vocalmine checkpoint: not a PyTorch checkpoint archive",
        "pickle": "is not a safe vocalmine checkpoint: not a PyTorch checkpoint archive",
        "evil": "is not a safe vocalmine checkpoint: it holds Python objects other than tensors and plain data",
        "empty": "is empty (0 bytes)",
        "truncated": "is damaged or truncated",
    }
    for name, data in files.items():
        run = tmp_path / name
        run.mkdir()
        (run / "checkpoint.pt").write_bytes(data)
        r = CliRunner().invoke(train_main, ["--shards", str(shards), "-o", str(run), "--device", "cpu", "--resume"])
        assert r.exit_code == 2, (name, r.output)
        assert f"{run / 'checkpoint.pt'}: {expected[name]}" in r.output, (name, r.output)
        assert "weights_only" not in r.output and "Traceback" not in r.output, name
        assert r.output.rstrip().endswith("."), (name, r.output)  # no sentence cut in half
    assert not marker.exists()


@pytest.mark.slow
def test_ctrl_c_says_to_resume(shards, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "commands.train", "--shards", str(shards), "-o", str(run), "--device", "cpu",
           "--no-progress", "--batch-size", "2", "--valid-every", "0", "--max-steps", "100000", "--log-every", "1",
           "--loader-threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = run / "train_log.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 3:  # header + two steps
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Interrupted: the last checkpoint is" in err and "re-run the same command with --resume added" in err
    step = load_checkpoint(run, which="latest")["step"]
    assert step >= 2
    assert np.isfinite(step)
