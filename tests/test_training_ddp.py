"""The `train` command under torchrun: two CPU processes, gloo, DistributedDataParallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from support.training import expected_position
from training.checkpoint import load_checkpoint
from training.distributed import state_digest


@pytest.mark.slow
def test_two_process_run_ends_with_identical_weights_and_one_writer(tmp_path, tiny_shards):
    shards = tiny_shards  # shared (tests/conftest.py): 3 train pairs, 1 valid
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "commands.train", "--target", "vocals", "--shards", str(shards), "-o", str(run),
           "--device", "cpu", "--max-steps", "3", "--batch-size", "2", "--log-every", "1", "--valid-every", "3",
           "--valid-patches", "4", "--checkpoint-every", "2", "--seed", "5", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    d0, d1 = summary["weight_digests"]
    assert d0 == d1  # both ranks end with the same parameters and BatchNorm buffers

    ckpt = load_checkpoint(run, target="vocals", arch="unet", which="latest")
    assert ckpt["world_size"] == 2 and ckpt["writer_rank"] == 0 and ckpt["step"] == 3
    assert state_digest(ckpt["model"]) == d0
    # Each rank read its own row groups: its position is where 3 steps x 2 patches end in its own share.
    shares = [expected_position(shards, seed=5, patches=6, rank=r, world_size=2) for r in range(2)]
    assert ckpt["data_position"] == [{"next_worker": 0, "workers": [s]} for s in shares]
    # Rank 0 alone wrote: one TensorBoard event file, one log, no temporary leftovers.
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "checkpoint.pt", "tensorboard", "train_log.csv",
                                                      "train_summary.json"]
    assert len(list((run / "tensorboard").iterdir())) == 1
    rows = (run / "train_log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["step", "1", "2", "3"]
    # Every rank's RNG state is kept (dropout is seeded per rank, so they differ).
    assert len(ckpt["rng"]) == 2 and not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])
