"""An interrupted build (SIGKILL mid-way, in the per-pair phase or while a shard is being written), re-run,
gives exactly the dataset of an uninterrupted build: same rows, same bytes, no patch duplicated or lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.shard_config import ROW_BYTES, ShardConfig
from features.shards import build_shards
from features.splits import SPLITS
from support.synthetic_pairs import SongSpec, write_pairs

ROOT = Path(__file__).resolve().parent.parent
ROW_GROUP = 2
SHARD_BYTES = 9 * ROW_BYTES  # 4 row groups per shard: 18 shards, so the kill can land inside a shard write
CONFIG = ShardConfig(row_group_size=ROW_GROUP, shard_bytes=SHARD_BYTES, workers=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    specs = [SongSpec(f"t{i:02d}", f"t{i:02d}i", f"artist{i % 7}", seconds=25.0, offset_s=0.05 * i, gain_db=-1.0)
             for i in range(24)]
    pairs_dir = write_pairs(root, specs)
    summary = build_shards(pairs_dir, root / "reference", CONFIG, progress=False)
    return pairs_dir, root / "reference", summary


def _dataset(out: Path) -> dict[str, pa.Table]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        split: pa.concat_tables([pq.read_table(out / s["path"]) for s in manifest["splits"][split]["shards"]])
        for split in SPLITS
    }


def _kill_when(cmd: list[str], ready, timeout_s: float = 60.0) -> str:
    """Run ``cmd``; SIGKILL it as soon as ``ready()`` is true. Returns what was seen at the kill."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen = ready()
            if seen:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return seen
            time.sleep(0.002)
        raise AssertionError(f"the build ended (rc={proc.poll()}) before the kill point: "
                             f"{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("kill_at", ["pairs", "shard-write"])
@pytest.mark.slow
def test_killed_build_resumes_to_the_uninterrupted_dataset(reference, tmp_path, kill_at):
    pairs_dir, ref_dir, ref_summary = reference
    out = tmp_path / "out"
    parts = out / ".work" / "parts"

    def ready() -> str:
        if kill_at == "pairs":
            done = list(parts.glob("*.json")) if parts.exists() else []
            return f"{len(done)} pairs done" if done else ""
        tmp = [p for split in SPLITS if (out / split).exists() for p in (out / split).glob(".part-*.tmp-*")]
        return f"writing {tmp[0].name}" if tmp else ""

    cmd = [sys.executable, "-m", "commands.shards", str(pairs_dir), "-o", str(out), "--no-progress",
           "--row-group-size", str(ROW_GROUP), "--shard-mb", str(SHARD_BYTES / 2**20), "--workers", "1"]
    seen = _kill_when(cmd, ready)
    assert not (out / "manifest.json").exists(), seen
    if kill_at == "pairs":
        done_before = len(list(parts.glob("*.json")))
        assert 0 < done_before < 24, seen
    else:
        assert len(list(parts.glob("*.json"))) == 24  # every pair was done; the shards were not

    resumed = build_shards(pairs_dir, out, CONFIG, progress=False)
    if kill_at == "pairs":
        assert resumed.reused_pairs == done_before and resumed.computed_pairs == 24 - done_before
    else:
        assert resumed.computed_pairs == 0 and resumed.reused_pairs == 24
    assert not any(p.name.startswith(".") for split in SPLITS for p in (out / split).iterdir())

    ref_manifest = json.loads((ref_dir / "manifest.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"] == ref_manifest["splits"]  # same shards, rows and sha1 checksums
    ours, ref = _dataset(out), _dataset(ref_dir)
    for split in SPLITS:
        assert ours[split].equals(ref[split]), split  # same rows in the same order, same tensor bytes
        keys = list(zip(ours[split]["pair_id"].to_pylist(), ours[split]["start_frame"].to_pylist()))
        assert len(keys) == len(set(keys)) == ref_summary.splits[split].patches
    # the killed command's writer lock file stays until the next command takes it over (vocalmine.locking)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if p.is_file() and p.name != ".vocalmine.lock") == sorted(
        p.relative_to(ref_dir).as_posix() for p in ref_dir.rglob("*") if p.is_file())
