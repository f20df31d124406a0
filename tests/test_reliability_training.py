"""Issue 22, points 6, 11 (train) and 15: a run whose loss or weights become non-finite stops (exit 2, the step
named, the last finite checkpoint kept, no non-finite best.pt); a full disk at a checkpoint is one clear line;
Ctrl-C at any moment of a step saves a checkpoint whose label, weights, data position and RNG agree."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from torch.optim.optimizer import register_optimizer_step_post_hook

from commands.train import main as train_main
from support.models_reliability import small_disk
from support.training import expected_position, record_sizes, tiny_train_config
from training.checkpoint import load_checkpoint
from training.distributed import state_digest
from training.train import train


def _finite(ckpt: dict) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in ckpt["model"].values() if t.is_floating_point())


def _cli(shards: Path, run: Path, *extra: str):
    return CliRunner().invoke(train_main, ["--shards", str(shards), "-o", str(run), "--device", "cpu",
                                           "--no-progress", "--batch-size", "2", "--loader-threads", "1",
                                           "--valid-patches", "2", *extra])


# ------------------------------------------------------------------------------------------ point 6


@pytest.mark.slow
def test_a_diverging_run_stops_naming_the_step_and_keeps_the_last_finite_checkpoint(tiny_shards, tmp_path):
    run = tmp_path / "run"
    r = _cli(tiny_shards, run, "--lr", "1e30", "--max-steps", "6", "--valid-every", "3", "--checkpoint-every", "1")
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert "training diverged: the loss of step 2 is not finite" in r.output, r.output
    assert f"The last finite checkpoint is {run / 'checkpoint.pt'} (step 1)" in r.output, r.output
    ckpt = load_checkpoint(run, which="latest")  # loads: finite weights (load_checkpoint refuses others)
    assert ckpt["step"] == 1 and _finite(ckpt)
    assert not (run / "best.pt").exists()  # the first validation (step 3) never came with finite weights
    assert not (run / "train_summary.json").exists()


@pytest.mark.slow
def test_the_papers_recipe_without_checkpoint_before_the_divergence_says_so(tiny_shards, tmp_path):
    run = tmp_path / "run"
    r = _cli(tiny_shards, run, "--lr", "1e30", "--max-steps", "6", "--valid-every", "3")
    assert r.exit_code == 2 and "training diverged: the loss of step 2 is not finite" in r.output, r.output
    assert "No checkpoint was written before it (--checkpoint-every 500)" in r.output, r.output
    assert not (run / "checkpoint.pt").exists() and not (run / "best.pt").exists()


def test_nan_patches_in_consistent_shards_are_named_as_the_cause(tiny_shards, tmp_path):
    shards = tmp_path / "shards"
    shutil.copytree(tiny_shards, shards)
    part = shards / "train" / "part-00000.parquet"
    table = pq.read_table(part)
    mix = table.column("mix").to_pylist()
    poisoned = np.frombuffer(mix[0], dtype=np.float32).copy()
    poisoned[1000] = np.nan
    mix = [poisoned.tobytes()] * len(mix)  # every patch: whatever the order, the first batch holds a NaN
    field = table.schema.field("mix")
    table = table.set_column(table.schema.get_field_index("mix"), field, pa.array(mix, type=field.type))
    pq.write_table(table, part, row_group_size=2)
    record_sizes(shards)  # a consistent manifest: sizes and sha1 match the poisoned shard
    run = tmp_path / "run"
    r = _cli(shards, run, "--max-steps", "3", "--valid-every", "0", "--checkpoint-every", "1")
    assert r.exit_code == 2, r.output
    assert "training diverged: the loss of step 1 is not finite" in r.output, r.output
    assert "the batch of step 1 holds NaN or inf values: the shards are damaged" in r.output, r.output
    assert not (run / "checkpoint.pt").exists() and not (run / "best.pt").exists()


# ------------------------------------------------------------------------------------------ point 11 (train)


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_is_one_line_and_keeps_the_previous_one(tiny_shards, tmp_path):
    # checkpoint.pt (weights + Adam) is about 118 MB, best.pt 39 MB: 200 MB hold one of each, not a second
    # checkpoint written beside the first (the atomic write's temporary copy).
    with small_disk(tmp_path / "disk", 200 << 20) as disk:
        run = disk / "run"
        r = _cli(tiny_shards, run, "--max-steps", "3", "--valid-every", "1", "--checkpoint-every", "1",
                 "--log-every", "1")
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output and "enforce fail" not in r.output
        assert f"no space left on the device holding {run / 'checkpoint.pt'}" in r.output, r.output
        assert "the checkpoint of step 2 was not written; the one of step 1 is kept" in r.output, r.output
        assert load_checkpoint(run, which="latest")["step"] == 1
        assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]


# ------------------------------------------------------------------------------------------ point 15


@pytest.fixture
def sigint_at():
    """``arm(where, call)``: a real SIGINT sent to this process from inside the ``call``-th optimizer step (after
    the weights moved, before the loop counts the step) or the ``call``-th forward pass of a training step."""
    handles = []

    def arm(where: str, call: int) -> None:
        seen = {"n": 0}

        def fire(*_args, **_kwargs) -> None:
            seen["n"] += 1
            if seen["n"] == call:
                os.kill(os.getpid(), signal.SIGINT)

        if where == "optimizer-step":
            handles.append(register_optimizer_step_post_hook(fire))
        else:  # a training forward (validation runs under no_grad)
            handles.append(torch.nn.modules.module.register_module_forward_hook(
                lambda m, i, o: fire() if m.__class__.__name__ == "UNet" and torch.is_grad_enabled() else None))

    yield arm
    for h in handles:
        h.remove()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["optimizer-step", "forward"])
def test_ctrl_c_inside_a_step_saves_a_consistent_checkpoint(tiny_shards, tiny_model, tmp_path, sigint_at, where):
    run = tmp_path / "run"
    sigint_at(where, 3)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_train_config(tiny_shards, run, max_steps=4))
    ckpt = torch.load(run / "checkpoint.pt", weights_only=True)
    # The interrupted step finished: step 3's weights, labelled 3; three batches read (threads 0, 1, 2).
    assert ckpt["step"] == 3
    assert ckpt["optimizer"]["state"][0]["step"] == 3
    assert ckpt["data_position"] == [{"next_worker": 0, "workers": [
        expected_position(tiny_shards, seed=3, patches=3, worker=w, num_workers=3) for w in range(3)]}]
    resumed = train(tiny_train_config(tiny_shards, run, max_steps=4, resume=True))
    assert resumed.start_step == 3 and resumed.steps == 4
    # The documented exact resume: the same weights as the uninterrupted 4-step run.
    assert resumed.weight_digests[0] == tiny_model.result.weight_digests[0]
    final = load_checkpoint(run, which="latest")
    assert state_digest(final["model"]) == tiny_model.result.weight_digests[0]
    log = json.loads((run / "train_summary.json").read_text())
    assert log["steps"] == 4 and math.isfinite(log["last_loss"])
