"""Issue 15, points 1, 2, 4 and 10 (build-shards message): stale outputs removed or refused, one writer per
output folder, unwritable outputs as one-line messages with exit code 2 in every command."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from click.testing import CliRunner

from support.catalogs import one_pair_catalog
from support.models import constant_model
from support.synthetic_pairs import SongSpec, write_pairs
from commands.mine import main as mine_main
from commands.report import main as report_main
from commands.shards import main as shards_main
from vocalmine.locking import INFO_FILE, output_lock

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------------------- point 1 and 10


def test_metadata_only_rerun_removes_stale_audio_results_and_build_shards_refuses(tmp_path, clean_corpus):
    # a copy of the shared corpus of 3 songs without decoys (tests/conftest.py): another catalog is written beside it
    catalog = shutil.copytree(clean_corpus.out_dir, tmp_path / "corpus") / clean_corpus.catalog.name
    out = tmp_path / "pairs"
    r = CliRunner().invoke(mine_main, [str(catalog), "-o", str(out), "--no-progress", "--no-report"])
    assert r.exit_code == 0, r.output
    assert pq.read_metadata(out / "pairs.parquet").num_rows == 3
    r = CliRunner().invoke(report_main, [str(out), "--no-media"])
    assert r.exit_code == 0, r.output
    old_pairs = tmp_path / "old-pairs.parquet"
    shutil.copy(out / "pairs.parquet", old_pairs)

    # Another catalog: the first song's pair is gone from it.
    rows = list(csv.DictReader(catalog.open()))
    other = catalog.parent / "other.csv"
    with other.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[2:])
    r = CliRunner().invoke(mine_main, [str(other), "-o", str(out), "--metadata-only", "--no-progress",
                                       "--no-report"])
    assert r.exit_code == 0, r.output
    assert pq.read_metadata(out / "candidates.parquet").num_rows == 2
    # the earlier run's audio results and its report are gone
    assert not (out / "pairs.parquet").exists()
    assert not (out / "report.html").exists() and not (out / "report.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert "audio" not in summary and summary["metadata"]["candidates"] == 2
    r = CliRunner().invoke(report_main, [str(out), "--no-media"])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert {s["key"] for s in report["funnel"]["stages"]}.isdisjoint({"accepted"})

    # build-shards on a metadata-only folder: says how to get the pairs (point 10).
    r = CliRunner().invoke(shards_main, [str(out), "-o", str(tmp_path / "shards"), "--no-progress"])
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1] == (
        f"Error: no pairs table at {out / 'pairs.parquet'}: {out} holds the candidates of a "
        "`mine-pairs --metadata-only` run; run mine-pairs without --metadata-only")

    # A pairs table from the earlier candidates (copied back) is refused, saying what to re-run.
    shutil.copy(old_pairs, out / "pairs.parquet")
    r = CliRunner().invoke(shards_main, [str(out), "-o", str(tmp_path / "shards"), "--no-progress"])
    assert r.exit_code == 2
    assert f"Error: {out / 'pairs.parquet'} is stale: pairs.parquet has no record of the run that wrote it " \
           "while candidates.parquet has; re-run `mine-pairs` on this folder without --metadata-only" in r.output
    assert not (tmp_path / "shards" / "manifest.json").exists()


# ----------------------------------------------------------------------------------------------- point 2


def _hold_lock(folder: Path, seconds: float = 60.0) -> subprocess.Popen:
    """Another process holding ``folder``'s writer lock (as a concurrent run does); returns once it holds it."""
    code = ("import sys, time\nfrom vocalmine.locking import output_lock\n"
            f"with output_lock({str(folder)!r}, 'build-shards'):\n    print('held', flush=True)\n"
            f"    time.sleep({seconds})\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture(scope="module")
def tiny_pairs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    specs = [SongSpec(f"t{i}", f"t{i}i", f"artist{i}", seconds=4.0) for i in range(3)]
    return write_pairs(root, specs)


@pytest.mark.slow
def test_a_second_build_into_a_locked_folder_fails_naming_the_holder_then_waits(tiny_pairs, tmp_path, monkeypatch):
    out = tmp_path / "shards"
    holder = _hold_lock(out)
    try:
        r = CliRunner().invoke(shards_main, [str(tiny_pairs), "-o", str(out), "--no-progress", "--patch-hop", "64"])
        assert r.exit_code == 2
        line = r.output.strip().splitlines()[-1]
        assert line.startswith(f"Error: {out} is being written by build-shards (host ")
        assert f"pid {holder.pid}, since " in line and f"remove {out / INFO_FILE}" in line
        assert not (out / "manifest.json").exists() and not (out / ".work").exists()
        # With a wait, the second run proceeds once the first ends.
        monkeypatch.setenv("VOCALMINE_LOCK_WAIT", "60")
        t0 = time.monotonic()
        subprocess.Popen(["bash", "-c", f"sleep 1; kill {holder.pid}"])
        r = CliRunner().invoke(shards_main, [str(tiny_pairs), "-o", str(out), "--no-progress"])
        assert r.exit_code == 0, r.output
        assert time.monotonic() - t0 >= 0.9
    finally:
        holder.kill()
        holder.wait()
    manifest = json.loads((out / "manifest.json").read_text())
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            assert (out / shard["path"]).stat().st_size == shard["bytes"]
    assert not (out / INFO_FILE).exists()


def test_a_lock_left_by_a_killed_run_is_recovered(tmp_path):
    out = tmp_path / "pairs"
    holder = _hold_lock(out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads((out / INFO_FILE).read_text())["pid"] == holder.pid  # the dead run's note is still there
    with output_lock(out, "mine-pairs"):
        assert json.loads((out / INFO_FILE).read_text())["pid"] == os.getpid()
    with output_lock(out, "mine-pairs"), output_lock(out, "mine-pairs"):  # re-entrant in one process
        pass


def test_mine_pairs_into_a_locked_folder_fails_before_writing(tmp_path):
    cat = one_pair_catalog(tmp_path / "catalog.csv")
    out = tmp_path / "pairs"
    holder = _hold_lock(out)
    try:
        r = CliRunner().invoke(mine_main, [str(cat), "-o", str(out), "--metadata-only", "--no-progress"])
    finally:
        holder.kill()
        holder.wait()
    assert r.exit_code == 2 and f"Error: {out} is being written by build-shards" in r.output
    assert not (out / "candidates.parquet").exists()


# ----------------------------------------------------------------------------------------------- point 4


def _can_drop_caps() -> bool:
    return os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.fixture(scope="module")
def inputs(tiny_pairs, tiny_shards, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    shards = tiny_shards  # shared (tests/conftest.py): the commands fail before writing, so it stays unchanged
    model = constant_model(root / "model.pt")
    song = root / "songs" / "s1"
    song.mkdir(parents=True)
    rng = np.random.default_rng(0)
    voc, acc = rng.standard_normal((2, 8192 * 3)).astype(np.float32) * 0.1
    for stem, x in (("vocals", voc), ("accompaniment", acc), ("mixture", voc + acc)):
        sf.write(song / f"{stem}.wav", x, 8192)
    cat = one_pair_catalog(root / "catalog.csv")
    return {"pairs": tiny_pairs, "shards": shards, "model": model, "songs": root / "songs",
            "wav": song / "mixture.wav", "catalog": cat}


COMMANDS = {
    "mine-pairs": lambda i, out: [str(i["catalog"]), "-o", str(out), "--metadata-only", "--no-progress"],
    "build-shards": lambda i, out: [str(i["pairs"]), "-o", str(out), "--no-progress"],
    "train": lambda i, out: ["--shards", str(i["shards"]), "-o", str(out), "--max-steps", "1", "--no-progress",
                             "--batch-size", "2", "--valid-every", "0"],
    "separate": lambda i, out: [str(i["wav"]), "-o", str(out), "--model", str(i["model"]), "--device", "cpu"],
    "evaluate": lambda i, out: [str(i["songs"]), "--model", str(i["model"]), "-o", str(out), "--device", "cpu",
                                "--no-progress"],
}


@pytest.mark.skipif(not _can_drop_caps(), reason="needs root and setpriv to run a command without DAC override")
@pytest.mark.parametrize("command", [*COMMANDS, "pair-report"])
@pytest.mark.slow
def test_an_unwritable_output_folder_is_one_line_with_the_path_and_exit_2(command, inputs, tmp_path):
    target = tmp_path / "out"
    if command == "pair-report":  # writes into the pairs folder itself
        shutil.copytree(inputs["pairs"], target)
        args = [str(target)]
    else:
        target.mkdir()
        args = COMMANDS[command](inputs, target)
    target.chmod(0o555)
    # Root without CAP_DAC_OVERRIDE obeys the folder's mode bits, as any other user would.
    drop = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search", "--"]
    proc = subprocess.run([*drop, str(BIN / command), *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error: ")]
    assert errors == [f"Error: permission denied: {target}; check its permissions, "
                      "or choose another folder"], proc.stderr[-3000:]


@pytest.fixture
def mounted(tmp_path):
    """``mounted(options)``: a fresh tmpfs at a new folder (a real full or read-only file system); skips where
    mounting is not allowed."""
    points = []

    def mount(options: str) -> Path:
        point = tmp_path / f"mnt{len(points)}"
        point.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        points.append(point)
        return point

    yield mount
    for point in points:
        subprocess.run(["umount", str(point)], check=False)


def test_a_full_disk_and_a_read_only_file_system_are_one_line_with_exit_2(mounted, tmp_path):
    cat = one_pair_catalog(tmp_path / "catalog.csv")
    full = mounted("size=64k")
    fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError):  # fill it up
        while True:
            os.write(fd, b"\0" * 4096)
    os.close(fd)
    r = CliRunner().invoke(mine_main, [str(cat), "-o", str(full / "out"), "--metadata-only", "--no-progress"])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"Error: no space left on the device (or quota) holding {full / 'out'}; free some space or choose "
        "another folder")
    ro = mounted("ro,size=64k")
    r = CliRunner().invoke(shards_main, [str(tmp_path / "nopairs"), "-o", str(ro / "shards")])
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1] == (
        f"Error: read-only file system: {ro / 'shards'}; choose an output folder on a writable disk")
