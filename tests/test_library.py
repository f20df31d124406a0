"""A music folder as the catalog: real encoded, really tagged files (tests/support/library.py), read with their
tags or their paths, walked again reading only what changed, and mined into exactly the true pairs."""

from __future__ import annotations

import csv
import json
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3, TIT2

from commands.mine import main as mine_cli
from features.audio import decode
from miner.library import build_catalog, read_batch
from miner.music_files import input_kind, list_music
from miner.path_names import names_from_path
from miner.riff_info import read_riff_info
from support import library as L
from vocalmine.errors import UserInputError

FIELDS = ("artist", "title", "album", "isrc", "genre", "release_date", "label", "album_artist", "track_number")


@pytest.fixture(scope="module")
def music(clean_corpus, tmp_path_factory):
    """The test library (built once for this module; tests that change it copy it first)."""
    return L.build_library(tmp_path_factory.mktemp("music") / "Music", clean_corpus.out_dir)


@pytest.fixture(scope="module")
def walked(music, tmp_path_factory):
    out = tmp_path_factory.mktemp("walked") / "pairs"
    return build_catalog(music.root, out), out


def test_catalog_has_each_files_tags_or_path_values_with_their_sources(music, walked):
    summary, out = walked
    rows = {r["track_id"]: r for r in pq.read_table(out / "catalog.parquet").to_pylist()}
    audio = sorted(rel for rel in rows)
    assert audio == sorted([*L.PAIR_A, *L.PAIR_B, *L.PAIR_C, *L.DECOY, L.LONE, L.CORRUPT])  # no cover, no text
    assert (summary.files, summary.other_files, summary.unreadable, summary.read) == (10, 2, 1, 10)
    for rel, want in music.expected.items():
        got = rows[rel]
        for name in FIELDS:
            assert got[name] == want.get(name), (rel, name)
            assert got[f"{name}_source"] == want.get(f"{name}_source"), (rel, name)
        assert got["file_error"] is None and got["audio_path"] == str(music.root / rel)
        # the duration is the stream's: the decoded length (the M4A's AAC priming aside), never the MP3's TLEN
        decoded = decode(music.root / rel).seconds
        assert got["duration_s"] == pytest.approx(decoded, abs=0.03), rel
        assert got["duration_source"] == "stream"
    assert rows[L.PAIR_A[1]]["duration_s"] < 10  # its TLEN tag says 999 s
    # the two MP3s really carry ID3v2.4 and ID3v2.3 (v2.3's TYER date read as the release date)
    assert ID3(music.root / L.PAIR_A[1]).version == (2, 4, 0) and ID3(music.root / L.PAIR_B[0]).version == (2, 3, 0)
    assert b"TYER" in (music.root / L.PAIR_B[0]).read_bytes()[:2000]
    broken = rows[L.CORRUPT]
    assert "not a valid FLAC file" in broken["file_error"] and broken["title"] is None
    assert broken["duration_s"] is None and broken["file_size"] == 5000
    assert {rows[r]["file_format"] for r in audio} == {"flac", "mp3", "mp4", "oggvorbis", "wave", None}


def test_path_rules_give_what_the_name_says():
    cases = {
        "Gamma Trio - Night Drive (Instrumental).mp3": {"artist": "Gamma Trio", "title": "Night Drive (Instrumental)"},
        "07 - The Band - Hit Song.flac": {"track_number": "7", "artist": "The Band", "title": "Hit Song"},
        "Artist/Album/03 Song.flac": {"track_number": "3", "title": "Song", "artist": "Artist", "album": "Album"},
        "Artist/Album/1-03 Café.m4a": {"track_number": "3", "title": "Café", "artist": "Artist", "album": "Album"},
        "Song - Instrumental.wav": {"title": "Song - Instrumental"},  # a dash marker is no artist split
        "x/Artist - Title - Instrumental.ogg": {"artist": "Artist", "title": "Title - Instrumental"},
        "03 - Song.mp3": {"track_number": "3", "title": "Song"},  # a number alone is not an artist
        "Artist/Album/Song.flac": {"title": "Song", "artist": "Artist", "album": "Album"},
        "lone.wav": {"title": "lone"},
        "Cafe\u0301.flac": {"title": "Café"},  # macOS's decomposed accents, NFC-normalised
    }
    for rel, want in cases.items():
        assert names_from_path(rel)[0] == want, rel
    values, sources = names_from_path("Artist/Album/07 - Other - Hit.mp3")
    assert sources == {"track_number": "path:number-artist-title", "artist": "path:number-artist-title",
                       "title": "path:number-artist-title", "album": "path:folders"}
    assert values["artist"] == "Other"


def test_riff_info_reads_windows_1252_text(tmp_path, music):
    wav = tmp_path / "x.wav"
    data = (music.root / L.LONE).read_bytes()
    body = b"INFO" + b"INAM" + (7).to_bytes(4, "little") + "Caf\xe9 99".encode("latin-1") + b"\0\0"
    chunk = b"LIST" + len(body).to_bytes(4, "little") + body
    riff = data[:4] + (len(data) - 8 + len(chunk)).to_bytes(4, "little") + data[8:] + chunk
    wav.write_bytes(riff)
    with open(wav, "rb") as fh:
        assert read_riff_info(fh) == {"INAM": "Café 99"}
    with open(music.root / L.PAIR_C[0], "rb") as fh:  # libsndfile's INFO chunk, before the data chunk
        assert read_riff_info(fh)["IART"] == "Gamma Trio"


def test_a_rerun_reads_only_new_or_changed_files(music, tmp_path):
    root = tmp_path / "Music"
    shutil.copytree(music.root, root)
    out = tmp_path / "pairs"
    first = build_catalog(root, out)
    assert (first.read, first.cached) == (10, 0)
    again = build_catalog(root, out)
    assert (again.read, again.cached) == (0, 10)

    tags = ID3(root / L.PAIR_A[1])  # a re-tagged file: new size and mtime
    tags.add(TIT2(encoding=3, text="Hjerte - Instrumental (Remastered)"))
    tags.save()
    shutil.copy(root / L.LONE, root / "Delta Echo" / "Demos" / "05 Sketch II.wav")
    (root / L.DECOY[0]).unlink()
    third = build_catalog(root, out)
    assert (third.files, third.read, third.cached) == (10, 2, 8)
    rows = {r["track_id"]: r for r in pq.read_table(out / "catalog.parquet").to_pylist()}
    assert rows[L.PAIR_A[1]]["title"] == "Hjerte - Instrumental (Remastered)"
    assert "Delta Echo/Demos/05 Sketch II.wav" in rows and L.DECOY[0] not in rows
    assert json.loads((out / "summary.json").read_text())["library"]["read"] == 2


def test_an_interrupted_walk_keeps_what_its_tasks_read(music, tmp_path):
    out = tmp_path / "pairs"
    listing = list_music(music.root)
    read_batch(listing.files[:4], str(out / ".cache" / "library" / "parts"))  # a task that finished
    summary = build_catalog(music.root, out)
    assert (summary.read, summary.cached) == (6, 4)
    assert not (out / ".cache" / "library" / "parts").exists()


def test_the_rule_that_tells_a_music_folder_from_a_catalog(music, tmp_path):
    assert input_kind(music.root).kind == "library"
    parts = tmp_path / "exports"
    parts.mkdir()
    (parts / "part-0.csv").write_text("track_id,artist,title,duration_s\n1,A,B,3\n")
    assert input_kind(parts) == input_kind(str(parts))
    assert input_kind(parts).kind == "catalog" and "part-0.csv" in input_kind(parts).reason
    shutil.copy(music.root / L.PAIR_A[0], parts / "song.flac")  # catalog files at the top level win
    assert input_kind(parts).kind == "catalog"
    assert input_kind(parts, force_library=True).kind == "library"
    assert input_kind(music.root / L.PAIR_A[0]).kind == "library"
    assert input_kind(parts / "part-0.csv").kind == "catalog"
    assert input_kind(str(music.root / "*" / "*" / "*.flac")).kind == "library"
    with pytest.raises(UserInputError, match="matches catalog files .* and audio files"):
        input_kind(str(parts / "*"))
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(UserInputError, match="neither catalog files at its top level .* nor audio files under it"):
        input_kind(tmp_path / "empty")


def test_a_glob_walks_only_what_it_matches(music, tmp_path):
    summary = build_catalog(str(music.root / "*" / "*" / "*.mp3"), tmp_path / "pairs")
    rows = pq.read_table(tmp_path / "pairs" / "catalog.parquet").to_pylist()
    assert sorted(r["track_id"] for r in rows) == sorted([L.PAIR_A[1], L.PAIR_B[0]])
    assert summary.root == str(music.root)


def test_mine_pairs_explains_a_folder_it_cannot_use(tmp_path, music):
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    result = runner.invoke(mine_cli, [str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "neither catalog files" in result.output and "Traceback" not in result.output
    mixed = tmp_path / "mixed"  # a music folder with a notes file that looks like a catalog at its top
    shutil.copytree(music.root, mixed)
    (mixed / "notes.txt").write_text("my music\n")
    result = runner.invoke(mine_cli, [str(mixed), "-o", str(tmp_path / "out2"), "--metadata-only", "--no-report"])
    assert result.exit_code == 2
    assert "missing required column" in result.output and "pass --library to walk them instead" in result.output
    result = runner.invoke(mine_cli, [str(mixed), "-o", str(tmp_path / "out2"), "--metadata-only", "--no-report",
                                      "--library"])
    assert result.exit_code == 0, result.output
    assert "4 candidate pairs" in result.output


@pytest.mark.slow
def test_mine_pairs_on_a_music_folder_finds_exactly_the_true_pairs(music, tmp_path):
    out = tmp_path / "pairs"
    result = CliRunner().invoke(mine_cli, [str(music.root), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "a music folder" in result.output and "10 audio files" in result.output
    pairs = {r["pair_id"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
    verdicts = {p: (r["status"], r["reason"]) for p, r in pairs.items()}
    assert verdicts == {**{f"{o}~{i}": ("accepted", "") for o, i in music.true_pairs},
                        f"{L.DECOY[0]}~{L.DECOY[1]}": ("rejected", "different-recording")}
    truth = {r["song_id"]: float(r["offset_s"]) for r in csv_rows(music, "pairs.csv")}
    assert pairs["~".join(L.PAIR_A)]["offset_s"] == pytest.approx(truth["s000"], abs=0.002)  # FLAC / MP3
    assert pairs["~".join(L.PAIR_C)]["offset_s"] == pytest.approx(truth["s001"], abs=0.002)  # WAV / MP3
    rejected = pq.read_table(out / "rejected_rows.parquet").to_pylist()
    assert [(r["track_id"], r["reason"]) for r in rejected] == [(L.CORRUPT, "unreadable-file")]
    assert "not a valid FLAC file" in rejected[0]["detail"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["library"]["files"] == summary["metadata"]["rows_read"] == 10

    # the catalog it wrote, mined again as a catalog, gives the same verdicts
    again = tmp_path / "again"
    result = CliRunner().invoke(mine_cli, [str(out / "catalog.parquet"), "-o", str(again), "--no-progress",
                                           "--no-report"])
    assert result.exit_code == 0, result.output
    rows = {r["pair_id"]: (r["status"], r["reason"]) for r in pq.read_table(again / "pairs.parquet").to_pylist()}
    assert rows == verdicts


def csv_rows(music: L.Library, name: str) -> list[dict]:
    return list(csv.DictReader(open(music.corpus_dir / "truth" / name, newline="")))


def test_a_url_prefix_is_walked_like_a_folder(music, walked, s3):
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.put(str(music.root), f"{s3[5:]}/Music", recursive=True)
    summary = build_catalog(f"{s3}/Music", f"{s3}/pairs")
    assert (summary.files, summary.other_files, summary.unreadable) == (10, 2, 1)
    from vocalmine import storage

    got = storage.read_parquet(f"{s3}/pairs/catalog.parquet").to_pylist()
    local = pq.read_table(walked[1] / "catalog.parquet").to_pylist()
    assert len(got) == len(local)
    for g, w in zip(got, local):
        assert g["audio_path"] == f"{s3}/Music/{w['track_id']}"
        assert {k: v for k, v in g.items() if k not in ("audio_path", "file_error")} == \
               {k: v for k, v in w.items() if k not in ("audio_path", "file_error")}
    again = build_catalog(f"{s3}/Music", f"{s3}/pairs")  # unchanged objects (same size and ETag): nothing read
    assert (again.read, again.cached) == (0, 10)
