"""Issue 22: a command deletes or overwrites only files it can prove it wrote, and refuses a foreign folder
saying what it found (points 2, 3, 4 and 13); shards follow their audio (16); evaluate lists every song folder
and writes strict JSON (17); a full disk is a message naming the file (11, evaluate). Real files, real
commands, a real tmpfs (tests/support/smalldisk.py)."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from click.testing import CliRunner

from commands.demo import main as demo_main
from commands.evaluate import main as evaluate_main
from commands.mine import main as mine_main
from commands.report import main as report_main
from commands.shards import main as shards_main
from features.patches import PatchParams
from features.shards import ShardConfig, build_shards
from miner import MinerConfig, mine_pairs
from pairing import pair_candidates
from report.sample import make_sample_pairs_dir
from support.catalogs import one_pair_catalog
from support.models import constant_model
from support.smalldisk import run_on_small_disk, small_disks

RATE = 8192


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---- point 2: build-shards into a folder holding other tools' files -----------------------------------------

@pytest.mark.parametrize("case", ["spark-part-and-empty-manifest", "own-name-without-footer-hash"])
def test_build_shards_refuses_a_folder_holding_files_it_did_not_write(demo_pairs, tmp_path, case):
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    table = pa.table({"x": [1, 2, 3]})
    if case == "spark-part-and-empty-manifest":
        pq.write_table(table, data / "train" / "part-00000-c000.snappy.parquet")
        (data / "manifest.json").write_text("{}")
        found = ["manifest.json (not a shard manifest", "train/part-00000-c000.snappy.parquet (not a shard name"]
    else:
        pq.write_table(table, data / "train" / "part-00000.parquet")
        found = ["train/part-00000.parquet (no build-shards content hash in its footer)"]
    before = _files(data)
    r = CliRunner().invoke(shards_main, [str(demo_pairs), "-o", str(data), "--no-progress"])
    assert r.exit_code == 2, r.output
    line = r.output.strip().splitlines()[-1]
    assert line.startswith(f"Error: {data} is not a shard folder of build-shards: it holds ")
    assert all(f in line for f in found) and "Nothing was changed" in line, line
    assert _files(data) == before  # nothing deleted, nothing added


# ---- point 16: shards follow their audio files ---------------------------------------------------------------

def test_audio_replaced_in_place_makes_the_shards_stale(clean_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(clean_corpus.out_dir, corpus)
    pairs = tmp_path / "pairs"
    mine_pairs(corpus / "catalog.csv", pairs, MinerConfig(progress=False))
    pair_candidates(pairs, progress=False)
    config = ShardConfig(patches=PatchParams(patch_hop=32), workers=1, keep_work=True)  # parts kept: counts exact
    first = build_shards(pairs, tmp_path / "shards", config, progress=False)
    again = build_shards(pairs, tmp_path / "shards", config, progress=False)
    assert again.up_to_date and first.computed_pairs == 3
    # The instrumental of one pair replaced in place (same path, same pairs table): its level halved.
    row = next(r for r in pq.read_table(pairs / "pairs.parquet").to_pylist() if r["status"] == "accepted")
    path = Path(row["instrumental_audio_path"])
    x, rate = sf.read(path, always_2d=True)
    info = sf.info(path)
    sf.write(path, 0.5 * x, rate, format=info.format, subtype=info.subtype)
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    rebuilt = build_shards(pairs, tmp_path / "shards", config, progress=False)
    assert not rebuilt.up_to_date and rebuilt.computed_pairs == 1 and rebuilt.reused_pairs == 2
    after = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert after["audio_key"] != manifest["audio_key"] and after["build_key"] == manifest["build_key"]
    changed = {s: [sh["sha1"] for sh in after["splits"][s]["shards"]] != [sh["sha1"] for sh in m["shards"]]
               for s, m in manifest["splits"].items()}
    split_of_pair = next(s for s, m in after["splits"].items() if row["pair_id"] in m["pair_ids"])
    assert changed[split_of_pair] and sum(changed.values()) == 1


# ---- point 3: make-demo-corpus in a folder holding a corpus.json it did not write ----------------------------

def test_make_demo_corpus_refuses_a_folder_whose_corpus_json_it_did_not_write(tmp_path):
    mydata = tmp_path / "mydata"
    (mydata / "audio").mkdir(parents=True)
    (mydata / "corpus.json").write_text("{}")
    sf.write(mydata / "audio" / "song.wav", np.zeros(RATE, np.float32), RATE)
    (mydata / "catalog.csv").write_text("track_id,artist,title,duration_s\n")
    before = _files(mydata)
    r = CliRunner().invoke(demo_main, [str(mydata), "--songs", "4", "--seconds", "4"])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"Error: {mydata} is not empty and its corpus.json is not one make-demo-corpus wrote (it holds audio/, "
        "catalog.csv, corpus.json); nothing was changed: give a new or empty folder")
    assert _files(mydata) == before


def test_a_folder_marked_by_make_demo_corpus_is_still_regenerated(tmp_path):
    from democorpus.folder import MARKER, MARKER_TEXT, prepare

    out = tmp_path / "c"
    (out / "audio").mkdir(parents=True)
    (out / "audio" / "t0001.wav").write_bytes(b"old")
    (out / MARKER).write_text(MARKER_TEXT)
    prepare(out)  # an interrupted run of ours: its files go
    assert not (out / "audio").exists() and (out / MARKER).read_text() == MARKER_TEXT


# ---- point 4 (and 11, evaluate): --write-audio ----------------------------------------------------------------

def _songs(root: Path, names=("s1", "s2"), seconds: float = 2.0) -> Path:
    rng = np.random.default_rng(0)
    for s in names:
        voc, acc = rng.standard_normal((2, int(RATE * seconds))).astype(np.float32) * 0.1
        d = root / "test" / s
        d.mkdir(parents=True)
        for stem, x in (("vocals", voc), ("accompaniment", acc), ("mixture", voc + acc)):
            sf.write(d / f"{stem}.wav", x, RATE)
    return root


@pytest.fixture(scope="module")
def half_model(tmp_path_factory) -> Path:
    return constant_model(tmp_path_factory.mktemp("model") / "half.pt")


def _evaluate(args: list[str]):
    return CliRunner().invoke(evaluate_main, [*args, "--no-progress", "--device", "cpu", "--no-reference"])


def test_write_audio_into_the_dataset_is_refused_and_the_references_stay(half_model, tmp_path):
    hq = _songs(tmp_path / "hq")
    before = _files(hq)
    r = _evaluate(["--model", str(half_model), str(hq), "--subset", "test", "--write-audio", str(hq / "test"),
                   "-o", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"Error: --write-audio {hq / 'test'} lies inside the dataset {hq}: its stems could be replaced; choose a "
        "folder outside it")
    assert _files(hq) == before


@pytest.mark.slow  # a subprocess, or three evaluations: seconds
def test_write_audio_replaces_its_own_files_and_refuses_others(half_model, tmp_path):
    hq = _songs(tmp_path / "hq")
    sep = tmp_path / "sep"
    args = ["--model", str(half_model), str(hq), "--write-audio", str(sep), "-o", str(tmp_path / "out")]
    assert _evaluate(args).exit_code == 0
    assert sorted(_files(sep)) == ["s1/.provenance.json", "s1/instrumental.wav", "s1/vocals.wav",
                                   "s2/.provenance.json", "s2/instrumental.wav", "s2/vocals.wav"]
    r = _evaluate(args)  # its own files: replaced
    assert r.exit_code == 0, r.output
    (sep / "s2" / "vocals.wav").write_bytes(b"someone else's")
    (sep / "s2" / ".provenance.json").unlink()
    r = _evaluate(args)
    assert r.exit_code == 2
    assert f"{sep / 's2' / 'vocals.wav'}, {sep / 's2' / 'instrumental.wav'} already exist and were not written " \
        "by evaluate" in r.output
    assert (sep / "s2" / "vocals.wav").read_bytes() == b"someone else's"


@pytest.mark.slow  # a subprocess, or three evaluations: seconds
def test_a_full_disk_under_write_audio_is_one_line_naming_the_file(half_model, tmp_path):
    if (why := small_disks()) is not None:
        pytest.skip(why)
    hq = _songs(tmp_path / "hq", names=("s1", "s2", "s3"), seconds=3.0)
    disk = tmp_path / "disk"
    run = run_on_small_disk(disk, 150, [sys.executable, "-m", "commands.evaluate", "--model", str(half_model),
                                        str(hq), "--write-audio", str(disk / "sep"), "-o", str(tmp_path / "out"),
                                        "--no-progress", "--device", "cpu", "--no-reference"])
    assert run.returncode == 2, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: no space left on the device (or quota) holding {disk}/sep/s") and \
        last.endswith(".wav; free some space or choose another folder"), last
    # what is there under a final name is whole (a 3 s float WAV); no temporary file is left
    whole = io.BytesIO()
    sf.write(whole, np.zeros(3 * RATE, np.float32), RATE, subtype="FLOAT", format="WAV")
    wavs = {k: v for k, v in run.files.items() if k.endswith(".wav")}
    assert wavs and all(v == len(whole.getvalue()) for v in wavs.values()), run.files
    assert not any(".tmp-" in k for k in run.files)


# ---- point 17: every song folder is scored or listed; strict JSON --------------------------------------------

def test_songs_missing_a_stem_or_empty_are_failures_and_evaluation_json_is_strict(half_model, tmp_path):
    hq = _songs(tmp_path / "hq", names=("s1", "s2", "s3"))
    (hq / "test" / "s2" / "vocals.wav").unlink()
    for f in (hq / "test" / "s3").iterdir():
        f.unlink()
    out = tmp_path / "out"
    r = _evaluate(["--model", str(half_model), str(hq), "-o", str(out)])
    assert r.exit_code == 0, r.output
    text = (out / "evaluation.json").read_text()

    def refuse(name: str):
        raise ValueError(f"bare {name} in evaluation.json")

    report = json.loads(text, parse_constant=refuse)  # strict: no NaN, Infinity
    assert [s["song"] for s in report["songs"]] == ["s1"]
    assert report["failures"] == [
        {"song": "s2", "reason": f"missing-file: {hq / 'test' / 's2'}: no vocals.* (found accompaniment.wav, "
                                 "mixture.wav)"},
        {"song": "s3", "reason": f"missing-file: {hq / 'test' / 's3'}: an empty song folder (no audio)"},
    ]
    assert report["systems"]["unet"]["levels"]["mean_db"] is None  # no instrumental-only song: undefined


# ---- point 13: an output folder holding a summary.json that is not JSON ------------------------------------

@pytest.mark.parametrize("name", ["summary.json", ".provenance.json"])
def test_a_foreign_json_file_in_the_output_folder_stops_mine_pairs_before_it_writes(tmp_path, name):
    cat = one_pair_catalog(tmp_path / "catalog.csv")
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("these are my notes, not JSON\n")
    r = CliRunner().invoke(mine_main, [str(cat), "-o", str(out), "--metadata-only", "--no-progress"])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        f"Error: {out / name} is not JSON (Expecting value at line 1): not a file vocalmine wrote; nothing was "
        "changed: move it away, or choose another output folder")
    assert sorted(p.name for p in out.iterdir()) == [name]  # the folder as it was


@pytest.mark.parametrize("content, why", [
    ("these are my notes, not JSON\n", "is not JSON (Expecting value at line 1):"),
    ('["a", "JSON", "list"]\n', "holds a JSON list, not the object vocalmine writes:")])
def test_a_foreign_summary_json_stops_pair_report_before_it_writes(tmp_path, content, why):
    pairs = make_sample_pairs_dir(tmp_path / "pairs")
    (pairs / "summary.json").write_text(content)
    before = _files(pairs)
    r = CliRunner().invoke(report_main, [str(pairs)])
    assert r.exit_code == 2, r.output + repr(r.exception)
    assert r.output.strip().splitlines()[-1] == (
        f"Error: {pairs / 'summary.json'} {why} not a file vocalmine wrote; nothing was changed: move it away, or "
        "choose another output folder")
    assert _files(pairs) == before  # no report.html or report.json, nothing rewritten, no lock left
