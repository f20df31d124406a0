"""Pairs a person already has: ``mine-pairs --pairs pairs.csv`` and ``--pairs-from mixtures/ instruments/`` skip
the metadata stage and give each pair the audio stage's full verdict, the same rows as the catalog route."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from catalog_schemas import PAIRS
from commands.mine import main as mine_cli
from miner.known_pairs import match_folders, name_key, read_pair_list
from vocalmine.errors import UserInputError

#: Columns a pair list does not give (the catalog's genre, label and date) or that name the files (--pairs-from).
METADATA_ONLY = {"genre", "label", "release_date"}
NAMING = {"pair_id", "original_id", "instrumental_id", "original_audio_path", "instrumental_audio_path",
          "original_title", "instrumental_title", "marker", "title_score", "detail", "content_group", "artist",
          "artist_key", "original_duration_s", "instrumental_duration_s", "duration_delta_s"}


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_a_pair_list_is_read_with_every_unusable_row_skipped_with_its_reason(tmp_path):
    (tmp_path / "audio").mkdir()
    header = ["Original", "Instrumental", "original_id", "artist", "original_duration_s"]
    pl = write_csv(tmp_path / "pairs.csv", header, [
        ["audio/a.flac", "audio/a_inst.flac", "", "Alpha", "212.5"],
        ["/abs/b.wav", "s3://bucket/b_inst.wav", "b", "", ""],
        ["", "", "", "", ""],                                   # an empty line: not a row
        ["", "  ", "x", "", ""],                                # no paths
        ["audio/c.flac", "audio/c_inst.flac", "", "", "3:30"],  # not seconds
        ["audio/a.flac", "audio/a_inst.flac", "", "", ""],      # the first row again
        ["/abs/other.wav", "audio/d_inst.flac", "b", "", ""],   # id b names another file
    ])
    pairs, skipped = read_pair_list(pl)
    assert [(p.original, p.instrumental, p.original_id, p.instrumental_id) for p in pairs] == [
        (str(tmp_path / "audio/a.flac"), str(tmp_path / "audio/a_inst.flac"), "audio/a.flac", "audio/a_inst.flac"),
        ("/abs/b.wav", "s3://bucket/b_inst.wav", "b", "s3://bucket/b_inst.wav")]
    assert pairs[0].artist == "Alpha" and pairs[0].original_duration_s == 212.5 and pairs[1].artist is None
    assert [(s["where"], s["reason"]) for s in skipped] == [
        ("pairs.csv:5", "no-paths"), ("pairs.csv:6", "bad-duration"), ("pairs.csv:7", "duplicate-pair"),
        ("pairs.csv:8", "id-conflict")]
    assert "the same pair as pairs.csv:2" in skipped[2]["detail"] and "3:30" in skipped[1]["detail"]
    bad = write_csv(tmp_path / "bad.csv", ["mix", "instrumental"], [["a", "b"]])
    with pytest.raises(UserInputError, match="missing column 'original'.*Columns found: 'mix', 'instrumental'"):
        read_pair_list(bad)


def test_two_folders_pair_by_name_key(tmp_path):
    mixtures, instruments = tmp_path / "mixtures", tmp_path / "instruments"
    for folder, names in ((mixtures, ["01_foo_mix.wav", "Song.flac", "Lonely.mp3", "Twin.wav", "Twin.flac"]),
                          (instruments, ["01_foo_inst.wav", "Song (Instrumental).flac", "Twin - Inst.mp3",
                                         "cover.jpg"])):
        folder.mkdir()
        for n in names:
            (folder / n).write_bytes(b"x")
    assert name_key("01_foo_mix.wav") == name_key("01_foo_inst.wav") == "01 foo"
    assert name_key("Song (Instrumental).flac") == name_key("Song.flac") == "song"
    assert name_key("Mix Tape.wav") == "mix tape"  # a marker only counts at the end
    pairs, skipped = match_folders(mixtures, instruments)
    assert [(p.original_id, p.instrumental_id) for p in pairs] == [
        (f"{mixtures}/01_foo_mix.wav", f"{instruments}/01_foo_inst.wav"),
        (f"{mixtures}/Song.flac", f"{instruments}/Song (Instrumental).flac")]
    assert sorted((Path(s["where"]).name, s["reason"]) for s in skipped) == [
        ("Lonely.mp3", "unmatched"), ("Twin - Inst.mp3", "ambiguous"), ("Twin.flac", "ambiguous"),
        ("Twin.wav", "ambiguous")]


def test_a_missing_file_is_a_rejected_pair_not_a_stop(tmp_path, clean_corpus):
    truth = next(csv.DictReader(open(clean_corpus.pairs, newline="")))
    audio = {r["track_id"]: r["audio_path"] for r in csv.DictReader(open(clean_corpus.catalog, newline=""))}
    pl = write_csv(tmp_path / "pairs.csv", ["original", "instrumental", "artist"], [
        [str(clean_corpus.out_dir / audio[truth["original_id"]]),
         str(clean_corpus.out_dir / audio[truth["instrumental_id"]]), ""],
        [str(clean_corpus.out_dir / audio[truth["original_id"]]), "gone/nowhere.flac", ""],
        ["", "", "Someone"], ["", "x.wav", ""]])
    out = tmp_path / "pairs"
    result = CliRunner().invoke(mine_cli, ["--pairs", str(pl), "-o", str(out), "--no-progress", "--no-report"])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out / "pairs.parquet").to_pylist()
    verdicts = sorted((r["instrumental_id"], r["status"], r["reason"]) for r in rows)
    assert verdicts == [(str(clean_corpus.out_dir / audio[truth["instrumental_id"]]), "accepted", ""),
                        ("gone/nowhere.flac", "rejected", "missing-file"),
                        ("x.wav", "rejected", "no-audio-path")]
    missing = next(r for r in rows if r["reason"] == "missing-file")
    assert str(tmp_path / "gone" / "nowhere.flac") in missing["detail"]
    summary = json.loads((out / "summary.json").read_text())
    assert "metadata" not in summary and summary["known_pairs"]["pairs"] == 3
    assert summary["known_pairs"]["skipped"] == [{"where": "pairs.csv:4", "reason": "no-paths",
                                                  "detail": "both original and instrumental are empty"}]
    assert "skipped pairs.csv:4: no-paths" in result.output
    # the titles and durations came from the files themselves (untagged here: their names and streams)
    good = next(r for r in rows if r["status"] == "accepted")
    assert good["original_duration_s"] == pytest.approx(good["original_seconds"], abs=0.03)
    assert good["original_title"] == truth["original_id"]  # the file name audio/<track_id>.<ext>


def test_pairs_options_are_checked(tmp_path):
    runner = CliRunner()
    result = runner.invoke(mine_cli, ["-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "give a CATALOG" in result.output
    result = runner.invoke(mine_cli, ["cat.csv", "--pairs", "p.csv", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "replace CATALOG" in result.output
    result = runner.invoke(mine_cli, ["--pairs", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "nope.csv: no such file" in result.output and "Traceback" not in result.output


def _comparable(row: dict, skip: set[str]) -> dict:
    return {k: v for k, v in row.items() if k not in skip}


@pytest.mark.slow
def test_pairs_give_the_same_rows_as_the_catalog_route(tmp_path, demo_pairs):
    """Every candidate of the demo corpus' catalog route, given as a pair list with its ids, artist, titles and
    catalog durations: the same pairs.parquet rows, column for column (the artist key and title score too), but
    the catalog's genre, label and date, which a pair list does not give."""
    route = pq.read_table(demo_pairs / "pairs.parquet").to_pylist()
    pl = write_csv(tmp_path / "pairs.csv",
                   ["original", "instrumental", "original_id", "instrumental_id", "artist", "original_title",
                    "instrumental_title", "original_duration_s", "instrumental_duration_s"],
                   [[r["original_audio_path"], r["instrumental_audio_path"], r["original_id"], r["instrumental_id"],
                     r["artist"], r["original_title"], r["instrumental_title"], repr(r["original_duration_s"]),
                     repr(r["instrumental_duration_s"])] for r in route])
    out = tmp_path / "pairs"
    result = CliRunner().invoke(mine_cli, ["--pairs", str(pl), "-o", str(out), "--no-progress", "--no-report"])
    assert result.exit_code == 0, result.output
    got = {r["pair_id"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
    assert set(got) == {r["pair_id"] for r in route}
    assert {r["reason"] for r in route} >= {"", "missing-file", "unreadable", "too-short", "same-content"}
    skip = METADATA_ONLY
    for want in route:
        assert _comparable(got[want["pair_id"]], skip) == _comparable(want, skip), want["pair_id"]


@pytest.mark.slow
def test_pairs_from_two_folders_give_the_catalog_routes_verdicts(tmp_path, demo_corpus, demo_pairs):
    """The demo corpus' true pairs and audio decoys copied into the vocal-remover layout: the same verdicts,
    offsets, gains, maps and measures as the catalog route gave them."""
    route = [r for r in pq.read_table(demo_pairs / "pairs.parquet").to_pylist()
             if r["original_audio_path"] and Path(r["original_audio_path"]).exists()
             and Path(r["instrumental_audio_path"]).exists()]
    mixtures, instruments = tmp_path / "dataset" / "mixtures", tmp_path / "dataset" / "instruments"
    mixtures.mkdir(parents=True)
    instruments.mkdir()
    by_key = {}
    for n, r in enumerate(route):
        o, i = Path(r["original_audio_path"]), Path(r["instrumental_audio_path"])
        shutil.copy(o, mixtures / f"{n:02d}_{o.stem}_mix{o.suffix}")
        shutil.copy(i, instruments / f"{n:02d}_{o.stem}_inst{i.suffix}")
        by_key[name_key(f"{n:02d}_{o.stem}_mix{o.suffix}")] = r
    out = tmp_path / "pairs"
    result = CliRunner().invoke(mine_cli, ["--pairs-from", str(mixtures), str(instruments), "-o", str(out),
                                           "--no-progress", "--no-report"])
    assert result.exit_code == 0, result.output
    got = pq.read_table(out / "pairs.parquet").to_pylist()
    assert len(got) == len(route) >= 6
    skip = METADATA_ONLY | NAMING
    assert set(PAIRS.names) - skip >= {"status", "reason", "offset_s", "gain_db", "alignment_map", "usable_s"}
    def route_row(pair_id: str) -> dict:  # ".../mixtures/03_t0007_mix.wav~..." -> the catalog route's row
        return by_key[name_key(pair_id.split("~")[0].rsplit("/", 1)[-1])]

    for row in got:
        want = route_row(row["pair_id"])
        if row["reason"].startswith("duplicate-of:"):  # the same pair kept, under its ids of each route
            assert route_row(row["reason"].split(":", 1)[1])["pair_id"] == want["reason"].split(":", 1)[1]
            row = {**row, "reason": want["reason"]}
        assert _comparable(row, skip) == _comparable(want, skip), want["pair_id"]
        assert (row["content_group"] is None) == (want["content_group"] is None)
