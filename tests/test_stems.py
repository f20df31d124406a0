"""export-stems on generated pairs: the full-rate alignment pieces against known answers, the three layouts read
back by readers written from their projects' documented layouts, the manifest, skips, refusals, stale items,
evaluate and the report reading an export, and a killed export resuming to byte-identical files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from click.testing import CliRunner

from commands.export_stems import main as export_main
from evaluation.evaluate import evaluate
from evaluation.layouts import detect_layout, find_songs, stems_songs
from features.audio import decode, resample
from features.stft import StftParams
from report import ReportConfig, build_report
from stems import StemsConfig, export_stems
from stems.align import lag_correction, shifted
from stems.items import folder_name, item_spans, vocal_activity
from stems.matching import choose_filter
from stems.align import stft_all
from stems.wavfile import write_wav
from support.models import constant_model
from support.synthetic_pairs import SongSpec, default_specs, write_pairs
from vocalmine.errors import UserInputError

CONFIG = StemsConfig(min_item_s=1.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The default synthetic pairs (nine specs: a rejected pair, a missing instrumental, a 44.1 kHz stereo original
    with a 48 kHz instrumental) exported once, MUSDB18-HQ layout."""
    root = tmp_path_factory.mktemp("stems")
    specs = default_specs()
    pairs = write_pairs(root, specs)
    summary = export_stems(pairs, root / "out", CONFIG, progress=False)
    return root, specs, pairs, root / "out", summary


def _tree(root: Path) -> dict[str, str]:
    """SHA-1 of every file under ``root`` but the lock and the provenance record."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in (".vocalmine.lock", ".provenance.json")}


# ---- the pieces ------------------------------------------------------------------------------------------------

def test_a_fractional_lag_is_found_to_a_hundredth_of_a_sample():
    rng = np.random.default_rng(0)
    x = scipy.signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(120_000))  # music-like: more low than high
    params = StftParams(44100, 4096, 1024)
    for true in (0.3, -2.7, 7.35):
        a = shifted(x[None, :].astype(np.float32), 0, len(x), -true)  # a[n] = x[n - true]: A advanced by true is X
        X, A = stft_all(x[None, :].astype(np.float32), params), stft_all(a, params)
        cross = np.einsum("cbt,cbt->b", X[:, :, 4:-4].conj(), A[:, :, 4:-4])
        assert lag_correction(cross, 4096, 10.0) == pytest.approx(true, abs=0.01)


def test_the_channel_filter_undoes_an_eq_and_is_left_out_for_a_plain_gain():
    rng = np.random.default_rng(1)
    params = StftParams(44100, 4096, 1024)
    acc = scipy.signal.lfilter([1.0], [1.0, -0.8], rng.standard_normal((1, 10 * 44100))).astype(np.float32)
    sos = scipy.signal.butter(2, 3000, "highpass", fs=44100, output="sos")
    eq = (acc + 0.5 * scipy.signal.sosfilt(sos, acc)).astype(np.float32)  # a +3.5 dB high shelf, minimum phase
    X = stft_all(acc, params)
    free = np.ones(X.shape[2], bool)
    choice = choose_filter(X, stft_all(eq, params), free, 16, 0.02, 2, 0.1)
    assert choice.filter is not None and choice.filter_heldout_db < choice.plain_heldout_db - 20
    bins = np.arange(20, 1500, 37)  # 215 Hz to 16 kHz: the filter is the EQ's inverse, phase included
    _, hp = scipy.signal.sosfreqz(sos, worN=bins * 44100 / 4096, fs=44100)
    np.testing.assert_allclose(choice.filter[0, bins], 1 / (1 + 0.5 * hp), rtol=0.02, atol=0.01)
    plain = choose_filter(X, stft_all(0.5 * acc, params), free, 16, 0.02, 2, 0.1)
    assert plain.filter is None and plain.gain[0] == pytest.approx(2.0, rel=1e-4)


def test_float_wavs_are_exact_and_the_same_bytes_every_time(tmp_path):
    x = np.random.default_rng(2).uniform(-1, 1, (2, 1000)).astype(np.float32)
    first = write_wav(tmp_path / "a.wav", x, 48000)
    second = write_wav(tmp_path / "b.wav", x, 48000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert first == second and first["bytes"] == (tmp_path / "a.wav").stat().st_size
    assert first["sha1"] == hashlib.sha1((tmp_path / "a.wav").read_bytes()).hexdigest()
    data, rate = sf.read(tmp_path / "a.wav", dtype="float32", always_2d=True)
    assert rate == 48000 and sf.info(tmp_path / "a.wav").subtype == "FLOAT"
    np.testing.assert_array_equal(data.T, x)


def test_items_names_and_vocal_activity():
    assert item_spans([(0, 100), (100, 250), (400, 430), (500, 900)], 100, 1.0) == [(0, 250), (500, 900)]
    assert folder_name("t0001~t0002") == "t0001~t0002"
    odd = folder_name("AC/DC live~x y")
    assert "/" not in odd and " " not in odd and odd != folder_name("AC_DC live~x y")
    rate = 8000
    mix = np.full((1, 4 * rate), 0.1, np.float32)
    voc = np.zeros_like(mix)
    voc[:, rate : 2 * rate] = 0.1  # sung in the second second only
    lines = vocal_activity(mix, voc, rate).splitlines()
    assert lines[0] == "time_s,active,level_db" and len(lines) == 1 + 32
    active = [int(line.split(",")[1]) for line in lines[1:]]
    assert active == [0] * 8 + [1] * 8 + [0] * 16
    assert lines[9].split(",")[2] == "-20.00" and lines[1].split(",")[2] == "-120.00"


# ---- the export ------------------------------------------------------------------------------------------------

def test_every_accepted_pair_is_exported_or_skipped_with_its_reason(exported):
    root, specs, pairs, out, summary = exported
    manifest = json.loads((out / "manifest.json").read_text())
    accepted = {s.pair_id for s in specs if s.status == "accepted"}
    exported_pairs = {i["pair_id"] for i in manifest["items"]}
    assert manifest["skipped"] == [{"pair_id": "g1~g1i", "reason": "missing-file",
                                    "detail": str((root / "audio" / "g1i.wav").resolve())}]
    assert exported_pairs == accepted - {"g1~g1i"}
    assert summary.skipped == [("g1~g1i", "missing-file")]
    for item in manifest["items"]:
        folder = out / item["path"]
        assert sorted(p.name for p in folder.iterdir()) == ["accompaniment.wav", "metadata.json", "mixture.wav",
                                                           "vocal_activity.csv", "vocals.wav"]
        for role, f in item["files"].items():
            data = (folder / f["file"]).read_bytes()
            assert len(data) == f["bytes"] and hashlib.sha1(data).hexdigest() == f["sha1"]
        assert item["seconds"] == pytest.approx(item["samples"] / item["sample_rate"])
    hours = {s: sum(i["seconds"] for i in manifest["items"] if i["split"] == s) / 3600
             for s in ("train", "valid", "test")}
    assert {s: round(manifest["splits"][s]["hours"], 6) for s in hours} == {s: round(h, 6) for s, h in hours.items()}
    lines = summary.lines()
    assert lines[0].startswith(f"stems in {out} (musdb18hq): ") and "  skipped 1 pairs: missing-file x1" in lines


def test_a_stereo_original_with_an_instrumental_at_another_rate(exported):
    root, specs, pairs, out, _ = exported
    manifest = json.loads((out / "manifest.json").read_text())
    (item,) = [i for i in manifest["items"] if i["pair_id"] == "c1~c1i"]
    assert (item["sample_rate"], item["channels"]) == (44100, 2)
    voc = decode(out / item["path"] / "vocals.wav").samples
    truth8 = np.load(root / "stems" / "c1_vocals.npy")
    truth = resample(truth8, 8192, 44100)
    lo = int(round(item["start_s"] * 44100))
    for c, scale in enumerate((1.1, 0.9)):  # the stereo spec scales each channel
        t = scale * truth[lo : lo + voc.shape[1]]
        err = voc[c, 1000:-1000] - t[1000:-1000]
        assert 10 * np.log10(np.sum(t[1000:-1000] ** 2) / np.sum(err**2)) > 40


def test_a_rerun_is_a_no_op_and_other_settings_remove_the_stale_items(exported, tmp_path):
    root, specs, pairs, out, _ = exported
    again = export_stems(pairs, out, CONFIG, progress=False)
    assert again.up_to_date and again.items == json.loads((out / "manifest.json").read_text())["totals"]["items"]
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    foreign = copy / "train" / "notes"
    foreign.mkdir(parents=True)
    (foreign / "readme.txt").write_text("mine")
    longer = export_stems(pairs, copy, StemsConfig(min_item_s=9.5), progress=False)
    kept = {i["path"] for i in json.loads((copy / "manifest.json").read_text())["items"]}
    assert kept and all(json.loads((copy / p / "metadata.json").read_text())["seconds"] >= 9.5 for p in kept)
    assert longer.removed_items and not any((copy / p).exists() for p in longer.removed_items)
    assert (foreign / "readme.txt").read_text() == "mine"  # not an export's item: left alone
    export_stems(pairs, copy, StemsConfig(min_item_s=9.5, layout="openunmix"), progress=False)
    for p in kept:  # another layout in the same folder: the other layout's files go (trackfolder_var sums every WAV)
        assert sorted(f.name for f in (copy / p).iterdir()) == ["accompaniment.wav", "metadata.json",
                                                                "vocal_activity.csv", "vocals.wav"]


def test_a_foreign_folder_is_refused_saying_what_it_holds(exported, tmp_path):
    _, _, pairs, _, _ = exported
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(UserInputError, match="is not empty and was not written by export-stems .it holds cat.jpg"):
        export_stems(pairs, tmp_path / "photos", CONFIG, progress=False)
    r = CliRunner().invoke(export_main, [str(pairs), "-o", str(tmp_path / "photos"), "--no-progress"])
    assert r.exit_code == 2 and "cat.jpg" in r.output and "Traceback" not in r.output
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"x"


def test_the_command_prints_hours_per_split(exported, tmp_path):
    _, _, pairs, _, _ = exported
    r = CliRunner().invoke(export_main, [str(pairs), "-o", str(tmp_path / "o"), "--layout", "openunmix",
                                         "--min-item-s", "1", "--no-progress"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    for split in ("train", "valid", "test"):
        s = manifest["splits"][split]
        assert f"  {split:5s}: {s['pairs']:6d} pairs {s['items']:7d} items {s['seconds'] / 3600:9.3f} h" in r.output


# ---- the layouts, read as their projects document them -------------------------------------------------------

def _load(path: Path) -> tuple[np.ndarray, int]:
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data.T, rate


def read_musdb18hq(root: Path, subset: str, targets=("vocals", "accompaniment")) -> dict[str, dict]:
    """MUSDB18-HQ as musdb reads it with ``is_wav=True``: ``root/<subset>/<track>/mixture.wav`` and one
    ``<target>.wav`` per source, all the same rate and length."""
    tracks = {}
    for folder in sorted((root / subset).iterdir()):
        mix, rate = _load(folder / "mixture.wav")
        sources = {t: _load(folder / f"{t}.wav") for t in targets}
        assert all(r == rate and x.shape == mix.shape for x, r in sources.values())
        tracks[folder.name] = {"mixture": mix, **{t: x for t, (x, _) in sources.items()}}
    return tracks


def read_msst_type1(folder: Path, instruments=("vocals", "other"), validation: bool = False) -> dict[str, dict]:
    """Music-Source-Separation-Training dataset type 1: a folder per song with ``<instrument>.wav`` for every
    instrument of the config; validation folders also hold ``mixture.wav``."""
    songs = {}
    for song in sorted(p for p in folder.iterdir() if p.is_dir()):
        stems = {i: _load(song / f"{i}.wav")[0] for i in instruments}
        if validation:
            stems["mixture"] = _load(song / "mixture.wav")[0]
        songs[song.name] = stems
    return songs


def read_openunmix_trackfolder(root: Path, split: str, target_file="vocals.wav",
                               interferer_files=("accompaniment.wav",)) -> dict[str, dict]:
    """Open-Unmix ``trackfolder_fix``: ``root/<split>/<track>/`` with the target file and the interferer files;
    the mix is their sum (``trackfolder_var`` sums every ``.wav`` of the folder: the same here)."""
    tracks = {}
    for folder in sorted((root / split).iterdir()):
        target = _load(folder / target_file)[0]
        interferers = [_load(folder / f)[0] for f in interferer_files]
        every_wav = sum(_load(p)[0] for p in sorted(folder.glob("*.wav")))
        tracks[folder.name] = {"target": target, "mix": target + sum(interferers), "var_mix": every_wav}
    return tracks


@pytest.mark.slow
def test_the_three_layouts_load_with_their_projects_readers(exported, tmp_path):
    _, _, pairs, musdb, _ = exported
    manifest = json.loads((musdb / "manifest.json").read_text())
    splits = {s for s in ("train", "valid", "test") if manifest["splits"][s]["items"]}
    originals = {}
    for item in manifest["items"]:
        originals[item["item"]] = decode(musdb / item["path"] / "mixture.wav").samples
    for split in splits:
        for name, t in read_musdb18hq(musdb, split).items():
            assert np.max(np.abs(t["mixture"] - t["vocals"] - t["accompaniment"])) <= 2e-7
    msst = tmp_path / "msst"
    export_stems(pairs, msst, StemsConfig(min_item_s=1.0, layout="msst"), progress=False)
    umx = tmp_path / "umx"
    export_stems(pairs, umx, StemsConfig(min_item_s=1.0, layout="openunmix"), progress=False)
    for split in splits:
        train = read_msst_type1(msst / split)
        valid = read_msst_type1(msst / split, validation=True)
        assert set(train) == set(valid) == {p.name for p in (musdb / split).iterdir()}
        for name, s in valid.items():
            np.testing.assert_array_equal(s["mixture"], originals[name])
            assert np.max(np.abs(s["mixture"] - s["vocals"] - s["other"])) <= 2e-7
        for name, t in read_openunmix_trackfolder(umx, split).items():
            assert np.max(np.abs(t["mix"] - originals[name])) <= 2e-7
            np.testing.assert_array_equal(t["var_mix"], t["mix"])  # no mixture.wav to be summed twice
    assert {detect_layout(d) for d in (musdb, msst, umx)} == {"stems"}
    assert sorted(s.name for s in stems_songs(umx)) == sorted(originals)


@pytest.mark.slow
def test_evaluate_scores_an_exported_test_split(exported, tmp_path):
    _, _, _, out, _ = exported
    test_items = [i["item"] for i in json.loads((out / "manifest.json").read_text())["items"] if i["split"] == "test"]
    assert test_items
    model = constant_model(tmp_path / "half.pt")
    report = evaluate(out, model, layout="auto", subset="test", device="cpu", reference=False, progress=False)
    assert sorted(r["song"] for r in report.rows) == sorted(test_items) and not report.failures
    for row in report.rows:  # half the mixture: NSDR 0 up to the STFT round trip
        assert abs(row["vocals_nsdr"]) < 1e-2
    # --layout musdb18hq reads the same songs and subsets
    assert sorted((s.name, s.subset) for s in find_songs(out)) == sorted((s.name, s.subset) for s in stems_songs(out))


@pytest.mark.slow
def test_the_report_links_each_pair_to_its_items(demo_pairs, tmp_path):
    pairs = tmp_path / "pairs"
    shutil.copytree(demo_pairs, pairs)
    out = tmp_path / "stems"
    export_stems(pairs, out, StemsConfig(), progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    build_report(pairs, ReportConfig(media=False, stems_dir=str(out)))
    fig = json.loads((pairs / "report.json").read_text())
    linked = {pid: [i["item"] for i in items] for pid, items in fig["stems"]["items"].items()}
    want: dict[str, list[str]] = {}
    for item in manifest["items"]:
        want.setdefault(item["pair_id"], []).append(item["item"])
    assert linked == want and linked
    for items in fig["stems"]["items"].values():
        for it in items:
            assert (pairs / it["href"] / "metadata.json").is_file()  # relative to the page's folder
    html = (pairs / "report.html").read_text()
    assert '"stems":{' in html and "Exported items" in (Path(__file__).parent.parent / "report" / "assets" /
                                                        "report.js").read_text()
    with pytest.raises(UserInputError, match="not an export-stems folder"):
        build_report(pairs, ReportConfig(media=False, stems_dir=str(tmp_path)))


# ---- a killed export -------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_killed_export_resumes_to_byte_identical_files(tmp_path):
    specs = [SongSpec(f"k{i}", f"k{i}i", f"Artist{i}", seconds=20.0, offset_s=0.3 * i, gain_db=-1.0,
                      original_rate=44100, instrumental_rate=44100, stereo=True) for i in range(4)]
    pairs = write_pairs(tmp_path, specs)
    whole = tmp_path / "whole"
    export_stems(pairs, whole, CONFIG, progress=False)
    cut = tmp_path / "cut"
    cmd = [sys.executable, "-m", "commands.export_stems", str(pairs), "-o", str(cut), "--min-item-s", "1",
           "--workers", "1", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(cut.glob("*/*/metadata.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / "manifest.json").exists(), "the export finished before it could be killed"
    partial = _tree(cut)
    assert any(k.endswith("metadata.json") for k in partial)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "0 reused" in r.stdout or "reused" in r.stdout
    assert _tree(cut) == _tree(whole)


@pytest.mark.slow
def test_an_export_to_object_storage_equals_the_local_one(exported, s3):
    """Output on an S3 server on loopback: the same items, byte for byte, and a re-run finds it done."""
    _, _, pairs, out, _ = exported
    url = f"{s3}/stems"
    export_stems(pairs, url, CONFIG, progress=False)
    from vocalmine import storage

    remote = storage.read_json(f"{url}/manifest.json")
    local = json.loads((out / "manifest.json").read_text())
    assert remote["items"] == local["items"] and remote["skipped"] == local["skipped"]
    for item in local["items"]:
        for f in item["files"].values():
            want = (out / item["path"] / f["file"]).read_bytes()
            assert storage.read_bytes(f"{url}/{item['path']}/{f['file']}") == want
    assert not storage.exists(f"{url}/.work") and not storage.exists(f"{url}/.stems-export.json")
    assert export_stems(pairs, url, CONFIG, progress=False).up_to_date


@pytest.mark.slow
def test_a_distributed_local_cluster_exports_the_same_files(exported, tmp_path):
    from distributed import LocalCluster

    _, _, pairs, out, _ = exported
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        summary = export_stems(pairs, tmp_path / "d", CONFIG, scheduler=cluster.scheduler_address, progress=False)
    assert summary.computed_pairs == 7 and summary.skipped == [("g1~g1i", "missing-file")]
    assert _tree(tmp_path / "d") == _tree(out)  # the same items, byte for byte, and the same manifest
