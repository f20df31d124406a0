"""Issue 22, point 1: when the final upload of a staged output folder fails (the object store went away), the
local copy is kept and the error says where it is; `train -o s3://...` loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from support.models_reliability import own_s3_server
from training.checkpoint import load_checkpoint
from vocalmine import storage
from vocalmine.errors import UserInputError
from vocalmine.staging import UploadFailed, staged_folder


@pytest.mark.slow
def test_a_failed_upload_keeps_the_local_copy_and_says_where(tmp_path):
    with own_s3_server() as s3:
        url = f"s3://{s3.bucket}/runs/v"
        storage.write_bytes(b"old", f"{url}/notes.txt")  # a file the folder already held: fetched, unchanged
        with pytest.raises(UploadFailed) as err:
            with staged_folder(url) as work:
                assert (work / "notes.txt").read_bytes() == b"old"
                torch.save({"w": torch.ones(3)}, work / "checkpoint.pt")
                (work / "best.pt").write_bytes(b"best")
                s3.stop()  # the store goes away before the block ends
    message = str(err.value)
    assert isinstance(err.value, UserInputError)  # one line and exit 2 in every command
    assert f"could not upload the files of {url}" in message and "cannot reach the storage endpoint" in message
    assert f"nothing is lost: they are kept in {work}" in message and "best.pt, checkpoint.pt" in message
    assert work.is_dir() and (work / "best.pt").read_bytes() == b"best"
    assert torch.load(work / "checkpoint.pt", weights_only=True)["w"].tolist() == [1.0, 1.0, 1.0]


def test_a_successful_upload_still_removes_the_local_copy(tmp_path):
    with own_s3_server() as s3:
        url = f"s3://{s3.bucket}/runs/ok"
        with staged_folder(url) as work:
            (work / "a.txt").write_text("a")
        assert not work.exists()
        assert storage.read_bytes(f"{url}/a.txt") == b"a"


@pytest.mark.slow
def test_train_to_s3_keeps_its_weights_when_the_store_goes_away(tiny_shards, tmp_path):
    """The issue's reproduction: `train -o s3://...`, the server stopped while it trains."""
    with own_s3_server() as s3:
        url = f"s3://{s3.bucket}/runs/v"
        stage_root = tmp_path / "tmp"
        stage_root.mkdir()
        env = dict(os.environ, TMPDIR=str(stage_root))
        cmd = [sys.executable, "-m", "commands.train", "--shards", str(tiny_shards), "-o", url, "--device", "cpu",
               "--no-progress", "--batch-size", "2", "--loader-threads", "1", "--valid-patches", "2",
               "--max-steps", "4", "--valid-every", "2", "--checkpoint-every", "2", "--log-every", "1"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 240
        logs: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None and not logs:
            logs = list(stage_root.glob("vocalmine-stage-*/train_log.csv"))
            time.sleep(0.05)
        assert logs, proc.communicate()
        s3.stop()  # the run is under way: its local folder exists, the store is gone
        out, err = proc.communicate(timeout=400)
    work = logs[0].parent
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert f"could not upload the files of {url}" in err and f"they are kept in {work}" in err, err
    assert load_checkpoint(work, which="latest")["step"] == 4
    assert load_checkpoint(work)["step"] in (2, 4)  # best.pt
    assert (work / "train_summary.json").is_file()
