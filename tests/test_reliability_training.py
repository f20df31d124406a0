"""Issue 22, points 6, 11 (train) and 15: a run whose loss, weights or validation loss become non-finite stops
(exit 2, the step named, the last finite checkpoint kept, a finite best.pt left byte-identical); a full disk at
a checkpoint is one clear line; Ctrl-C at any moment of a step saves a checkpoint whose label, weights, data
position and RNG agree."""

from __future__ import annotations

import hashlib
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


def _digests(run: Path) -> dict[str, str]:
    """SHA-1 of each checkpoint file (``*.pt``) in ``run``."""
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(run.glob("*.pt"))}


def _poison(shards: Path, split: str) -> None:
    """Every patch of ``split`` holds a NaN (whatever the order, the first batch does); the manifest stays
    consistent (sizes and sha1 match the poisoned shard)."""
    part = shards / split / "part-00000.parquet"
    table = pq.read_table(part)
    mix = table.column("mix").to_pylist()
    poisoned = np.frombuffer(mix[0], dtype=np.float32).copy()
    poisoned[1000] = np.nan
    field = table.schema.field("mix")
    mix = pa.array([poisoned.tobytes()] * len(mix), type=field.type)
    pq.write_table(table.set_column(table.schema.get_field_index("mix"), field, mix), part, row_group_size=2)
    record_sizes(shards)


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


@pytest.mark.slow
def test_nan_patches_in_consistent_shards_are_named_as_the_cause(tiny_shards, tmp_path):
    shards = tmp_path / "shards"
    shutil.copytree(tiny_shards, shards)
    _poison(shards, "train")
    run = tmp_path / "run"
    r = _cli(shards, run, "--max-steps", "3", "--valid-every", "0", "--checkpoint-every", "1")
    assert r.exit_code == 2, r.output
    assert "training diverged: the loss of step 1 is not finite" in r.output, r.output
    assert "the batch of step 1 holds NaN or inf values: the shards are damaged" in r.output, r.output
    assert not (run / "checkpoint.pt").exists() and not (run / "best.pt").exists()


def _resume_with(tiny_shards: Path, tiny_model, tmp_path: Path, *extra: str):
    """A copy of the shared 4-step run (checkpoint.pt and a finite best.pt, both of step 4) resumed to step 8
    with ``extra`` options (``--allow-config-change``): (run folder, its checkpoints' digests before, result)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_model.run_dir, run)
    before = _digests(run)
    assert sorted(before) == ["best.pt", "checkpoint.pt"]
    r = _cli(tiny_shards, run, "--resume", "--allow-config-change", "--max-steps", "8", *extra)
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    return run, before, r


LR_CAUSE = "Cause: the learning rate is too high for this run: lower --lr (or warm up: --warmup-steps)."


@pytest.mark.slow
def test_a_finite_best_pt_survives_a_later_divergence_byte_identical(tiny_shards, tiny_model, tmp_path):
    # Step 5 moves the weights by about 1e30 (finite); the loss of step 6 is not, and step 6 is due both a
    # validation (which could replace best.pt) and a checkpoint: neither is written.
    run, before, r = _resume_with(tiny_shards, tiny_model, tmp_path, "--lr", "1e30", "--valid-every", "2",
                                  "--checkpoint-every", "2")
    assert r.output.strip().splitlines()[-1] == (
        "Error: training diverged: the loss of step 6 is not finite (NaN or inf); stopped at step 6 without saving "
        f"it. The last finite checkpoint is {run / 'checkpoint.pt'} (step 4). {LR_CAUSE}")
    assert _digests(run) == before  # best.pt and checkpoint.pt byte-identical, no other checkpoint written
    assert not [p.name for p in run.iterdir() if ".tmp-" in p.name]
    best = load_checkpoint(run, which="best")  # loads: finite weights (load_checkpoint refuses others)
    assert best["step"] == 4 and math.isfinite(best["valid_loss"]) and _finite(best)


@pytest.mark.slow
def test_weights_that_become_non_finite_under_a_finite_loss_stop_the_run(tiny_shards, tiny_model, tmp_path):
    # At --lr 1e12 (as from 1e8 to 1e16) the loss of every step is finite, but the update of step 6 leaves
    # non-finite weights; the checkpoint of step 5 (finite) is the one kept.
    run, before, r = _resume_with(tiny_shards, tiny_model, tmp_path, "--lr", "1e12", "--valid-every", "0",
                                  "--log-every", "1", "--checkpoint-every", "1")
    assert r.output.strip().splitlines()[-1] == (
        "Error: training diverged: the weights became non-finite (NaN or inf) by step 6; stopped at step 6 "
        f"without saving it. The last finite checkpoint is {run / 'checkpoint.pt'} (step 5). {LR_CAUSE}")
    ckpt = load_checkpoint(run, which="latest")
    assert ckpt["step"] == 5 and _finite(ckpt)
    after = _digests(run)
    assert after["best.pt"] == before["best.pt"] and after["checkpoint.pt"] != before["checkpoint.pt"]


@pytest.mark.slow
def test_a_non_finite_validation_loss_stops_the_run_before_its_checkpoint(tiny_shards, tiny_model, tmp_path):
    # After step 5 at --lr 1e30 the weights and the training loss are finite, the validation loss is not.
    run, before, r = _resume_with(tiny_shards, tiny_model, tmp_path, "--lr", "1e30", "--valid-every", "1",
                                  "--checkpoint-every", "1")
    assert r.output.strip().splitlines()[-1] == (
        "Error: training diverged: the validation loss at step 5 is not finite (NaN or inf); stopped at step 5 "
        f"without saving it. The last finite checkpoint is {run / 'checkpoint.pt'} (step 4). {LR_CAUSE}")
    assert _digests(run) == before


def test_nan_patches_in_the_valid_split_are_named_as_the_cause(tiny_shards, tmp_path):
    """Before: a damaged valid split was blamed on the learning rate."""
    shards = tmp_path / "shards"
    shutil.copytree(tiny_shards, shards)
    _poison(shards, "valid")
    run = tmp_path / "run"
    r = _cli(shards, run, "--max-steps", "3", "--valid-every", "1", "--checkpoint-every", "100")
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        "Error: training diverged: the validation loss at step 1 is not finite (NaN or inf); stopped at step 1 "
        "without saving it. No checkpoint was written before it (--checkpoint-every 100). Cause: the valid "
        "split's patches hold NaN or inf values: the shards are damaged; rebuild them with build-shards.")
    assert not list(run.glob("*.pt"))


def test_a_learning_rate_whose_first_update_overflows_float32_is_refused(tiny_shards, tmp_path):
    """Before: --lr 1e38 (finite, but Adam's first update is ten times it) ended in torch's RuntimeError
    traceback ("value cannot be converted to type float without overflow"). The largest allowed diverges as
    any too-high learning rate does."""
    r = _cli(tiny_shards, tmp_path / "refused", "--lr", "1e38", "--max-steps", "3")
    assert r.exit_code == 2, r.output + repr(r.exception)
    assert r.output.strip().splitlines()[-1] == (
        "Error: learning rate must be positive and at most 1e+37 (Adam's first update, ten times it, must fit a "
        "32-bit float), got 1e+38")
    assert not (tmp_path / "refused").exists()
    r = _cli(tiny_shards, tmp_path / "largest", "--lr", "1e37", "--max-steps", "3", "--valid-every", "0")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output + repr(r.exception)
    assert "training diverged: the loss of step 2 is not finite (NaN or inf)" in r.output, r.output


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
