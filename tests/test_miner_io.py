"""Reading catalogs: formats, messy CSV, bad rows with their lines, duplicates, errors, the CLI."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from miner import MinerConfig, mine_pairs
from miner.catalog_files import open_catalog
from miner.catalog_rows import read_partition
from miner.partitions import plan_partitions
from commands.mine import main as cli
from vocalmine.errors import UserInputError

HEADER = "track_id,artist,title,duration_s,album,audio_path\n"


def pairs_of(out: Path) -> set[tuple[str, str]]:
    t = pq.read_table(out / "candidates.parquet")
    return set(zip(t.column("original_id").to_pylist(), t.column("instrumental_id").to_pylist()))


def rejected_of(out: Path) -> list[tuple]:
    t = pq.read_table(out / "rejected_rows.parquet")
    return list(zip(t.column("line").to_pylist(), t.column("track_id").to_pylist(), t.column("reason").to_pylist()))


# A catalog with the usual mess: quoted commas, a quoted field over three lines before the bad rows, an
# escaped quote, a stray quote in an unquoted field, a blank line, a row with too many fields.
MESSY = (
    HEADER                                                   # line 1
    + '007,"Band, The",Song,200,"Album, Deluxe",a/007.flac\n'  # 2
    + '008,Band,"Song (Instrumental)",201,"Live\nat the\nRoxy",a/008.flac\n'  # 3-5
    + "009,,Nameless,100,,\n"                                 # 6 empty-artist
    + '010,Band,"Say ""Hi""",abc,,\n'                         # 7 bad-duration
    + "011,Band,12\" Mix,0,,\n"                               # 8 nonpositive-duration (stray quote)
    + "\n"                                                    # 9 blank
    + "012,Band,Extra,100,x,y,z\n"                            # 10 wrong-column-count
    + " ,Band,No Id,100,,\n"                                  # 11 empty-track_id
    + "013,Band,,100,,\n"                                     # 12 empty-title
    + "014,Band,No Duration,,,\n"                             # 13 missing-duration
    + "007,Band,Duplicate Of 007,100,,\n"                     # 14 duplicate-track_id
    + "015,Band,Last,3:20,,/abs/015.flac\n"                   # 15
)
MESSY_REJECTED = [
    (6, "009", "empty-artist"), (7, "010", "bad-duration"), (8, "011", "nonpositive-duration"),
    (10, None, "wrong-column-count"), (11, " ", "empty-track_id"), (12, "013", "empty-title"),
    (13, "014", "missing-duration"), (14, "007", "duplicate-track_id"),
]


def test_messy_csv_bad_rows_lines_and_reasons(tmp_path):
    cat = tmp_path / "catalog.csv"
    cat.write_text(MESSY, encoding="utf-8")
    s = mine_pairs(cat, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("007", "008")}
    assert rejected_of(tmp_path / "out") == MESSY_REJECTED
    t = pq.read_table(tmp_path / "out" / "rejected_rows.parquet").to_pylist()
    by_line = {r["line"]: r for r in t}
    assert by_line[7]["original"] == '010,Band,"Say ""Hi""",abc,,'
    assert by_line[10]["original"] == "012,Band,Extra,100,x,y,z"
    assert by_line[10]["detail"] == "expected 6 fields, found 7"
    assert by_line[14]["detail"] == f"first seen at {cat.resolve()}:2"
    assert by_line[14]["original"] == "007,Band,Duplicate Of 007,100,,"
    assert all(r["source"] == str(cat.resolve()) for r in t)
    assert (s.rows_read, s.rows_used, s.rows_rejected) == (11, 3, 8)
    assert s.rejected_by_reason == {
        "bad-duration": 1, "duplicate-track_id": 1, "empty-artist": 1, "empty-title": 1, "empty-track_id": 1,
        "missing-duration": 1, "nonpositive-duration": 1, "wrong-column-count": 1,
    }
    c = pq.read_table(tmp_path / "out" / "candidates.parquet").to_pylist()[0]
    # ids stay strings ("007"), audio paths become absolute against the catalog's folder
    assert c["original_id"] == "007" and c["artist"] == "Band, The"
    assert c["original_audio_path"] == str(tmp_path.resolve() / "a" / "007.flac")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["metadata"]
    assert summary["rows_read"] == summary["rows_used"] + summary["rows_rejected"] == 11
    for key in ("rejected_by_reason", "marked", "blocks", "compared", "candidates", "seconds"):
        assert key in summary


@pytest.mark.parametrize("blocksize", [40, 64, 97, 150])
def test_partitions_split_on_record_boundaries(tmp_path, blocksize):
    """Tiny blocks cut the messy file into many partitions: the records and lines are those of one read."""
    cat = tmp_path / "catalog.csv"
    cat.write_text(MESSY * 1, encoding="utf-8")
    files = open_catalog(cat)
    parts = plan_partitions(files, blocksize)
    assert len(parts) > 1
    tids, lines = [], []
    for p in parts:
        raw = read_partition(p)
        tids += raw.table.column("track_id").to_pylist()
        lines += raw.line.tolist()
    assert tids == ["007", "008", "009", "010", "011", " ", "013", "014", "007", "015"]
    assert lines == [2, 3, 6, 7, 8, 11, 12, 13, 14, 15]
    mine_pairs(cat, tmp_path / "out", MinerConfig(blocksize=blocksize))
    assert rejected_of(tmp_path / "out") == MESSY_REJECTED
    assert pairs_of(tmp_path / "out") == {("007", "008")}


def test_bom_crlf_and_duration_ms(tmp_path):
    cat = tmp_path / "win.csv"
    text = ('track_id,artist,title,duration_ms\r\n1,A,"Song,\r\nwith a newline",200000\r\n'
            "2,A,\"Song,\r\nwith a newline (Instrumental)\",201500\r\n3,A,Bad,\r\n")
    cat.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    s = mine_pairs(cat, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("1", "2")}
    assert rejected_of(tmp_path / "out") == [(6, "3", "missing-duration")]
    c = pq.read_table(tmp_path / "out" / "candidates.parquet").to_pylist()[0]
    assert c["original_title"] == "Song,\r\nwith a newline" and c["duration_delta_s"] == pytest.approx(1.5)
    assert s.rows_read == 3


ROWS = [("001", "Artist", "Song", "200"), ("002", "Artist", "Song (Instrumental)", "201"),
        ("003", "Artist", "Other", "100"), ("004", "Other Artist", "Song (Inst.)", "200")]


def _csv(rows, sep=",") -> str:
    return sep.join(["track_id", "artist", "title", "duration_s"]) + "\n" + "".join(sep.join(r) + "\n" for r in rows)


def test_gzip_tsv_parquet_directory_and_glob(tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    with gzip.open(d / "part-0.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write(_csv(ROWS[:2]))
    (d / "part-1.tsv").write_text(_csv(ROWS[2:3], sep="\t"))
    pq.write_table(pa.table({"track_id": ["005", "006"], "artist": ["Artist", "Artist"],
                             "title": ["Other (Instrumental)", "Song"], "duration_s": [100.5, 199.0]}),
                   d / "part-2.parquet")
    (d / "_SUCCESS").write_text("")
    (d / "notes.md").write_text("not a catalog")
    expected = {("001", "002"), ("003", "005"), ("006", "002")}
    s = mine_pairs(d, tmp_path / "out_dir")
    assert pairs_of(tmp_path / "out_dir") == expected
    assert (s.files, s.rows_read, s.rows_rejected) == (3, 5, 0)
    mine_pairs(str(d / "part-*"), tmp_path / "out_glob")
    assert pairs_of(tmp_path / "out_glob") == expected
    mine_pairs(d / "part-0.csv.gz", tmp_path / "out_gz")
    assert pairs_of(tmp_path / "out_gz") == {("001", "002")}


def test_parquet_bad_rows_give_row_numbers_and_json(tmp_path):
    path = tmp_path / "cat.parquet"
    pq.write_table(pa.table({"track_id": ["a", "b", "c", "a"], "artist": ["X", "X", "", "X"],
                             "title": ["T", "T (Instrumental)", "U", "V"], "duration_s": [100.0, 101.0, 50.0, 20.0]}),
                   path, row_group_size=2)
    mine_pairs(path, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("a", "b")}
    t = pq.read_table(tmp_path / "out" / "rejected_rows.parquet").to_pylist()
    assert [(r["line"], r["track_id"], r["reason"]) for r in t] == [(3, "c", "empty-artist"), (4, "a", "duplicate-track_id")]
    assert json.loads(t[1]["original"]) == {"track_id": "a", "artist": "X", "title": "V", "duration_s": 20.0}


def test_duplicates_across_files_keep_the_first_in_name_order(tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    (d / "b.csv").write_text(_csv([("x1", "A", "Song (Instrumental)", "200"), ("dup", "A", "Later", "10")]))
    (d / "a.csv").write_text(_csv([("dup", "A", "Song", "200"), ("x2", "A", "Other", "10")]))
    s = mine_pairs(d, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("dup", "x1")}
    t = pq.read_table(tmp_path / "out" / "rejected_rows.parquet").to_pylist()
    assert [(Path(r["source"]).name, r["line"], r["reason"], r["detail"]) for r in t] == [
        ("b.csv", 3, "duplicate-track_id", f"first seen at {(d / 'a.csv').resolve()}:2")]
    assert s.rows_read == 4 and s.rows_used == 3


def test_rerun_overwrites_and_keeps_other_summary_sections(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text(_csv(ROWS))
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps({"audio": {"pairs": 7}}))
    mine_pairs(cat, out)
    first = pq.read_table(out / "candidates.parquet")
    cat.write_text(_csv(ROWS[:3]))
    mine_pairs(cat, out)
    second = pq.read_table(out / "candidates.parquet")
    assert first.equals(second)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audio"] == {"pairs": 7} and summary["metadata"]["rows_read"] == 3
    # no temporary files left (.provenance.json: which run wrote each output, vocalmine.provenance)
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".provenance.json"]


def test_empty_catalog_writes_empty_tables(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text("track_id,artist,title,duration_s\n")
    s = mine_pairs(cat, tmp_path / "out")
    assert (s.rows_read, s.candidates) == (0, 0)
    assert pq.read_table(tmp_path / "out" / "candidates.parquet").num_rows == 0
    assert pq.read_table(tmp_path / "out" / "rejected_rows.parquet").num_rows == 0


def test_missing_column_is_one_clear_error(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text("track_id,artist,name,length\n1,A,B,3\n")
    result = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "out"), "--metadata-only"])
    assert result.exit_code == 2
    assert "missing required column 'title'" in result.output
    assert "'duration_s' (seconds) or 'duration_ms'" in result.output
    assert "Columns found: 'track_id', 'artist', 'name', 'length'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_missing_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        mine_pairs(tmp_path / "nope.csv", tmp_path / "out")
    with pytest.raises(UserInputError, match="matches no file"):
        mine_pairs(str(tmp_path / "*.csv"), tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no catalog files"):
        mine_pairs(tmp_path / "empty", tmp_path / "out")


def test_strict_stops_at_the_first_bad_row(tmp_path):
    cat = tmp_path / "catalog.csv"
    cat.write_text(MESSY, encoding="utf-8")
    result = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "out"), "--strict", "--metadata-only"])
    assert result.exit_code == 2
    assert f"{cat.resolve()}:6: bad row, empty-artist" in result.output and "--strict" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "candidates.parquet").exists()
    # duplicates are found after the read: --strict names the later occurrence
    dup = tmp_path / "dup.csv"
    dup.write_text(_csv(ROWS + [("002", "B", "C", "5")]))
    result = CliRunner().invoke(cli, [str(dup), "-o", str(tmp_path / "out2"), "--strict"])
    assert result.exit_code == 2 and ":6: bad row, duplicate-track_id" in result.output


def test_cli_metadata_only_prints_a_short_summary(tmp_path):
    cat = tmp_path / "catalog.csv"
    cat.write_text(MESSY, encoding="utf-8")
    result = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "out"), "--metadata-only",
                                      "--no-report", "--marker", "karaoke", "--duration-tolerance", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("11 rows read: 3 used, 8 rejected (")
    assert lines[1] == "1 instrumental titles in 1 artist blocks; 2 title comparisons"
    assert lines[2].startswith("1 candidate pairs (1 instrumentals, 1 originals)")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["metadata"]
    assert summary["config"]["markers"][-1] == "karaoke" and summary["config"]["duration_tolerance_s"] == 2.0
    # without --metadata-only the (not yet wired) audio stage is a no-op and the exit code is still 0
    assert CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "out")]).exit_code == 0


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_bytes(b"track_id,artist,title,duration_s\n1,A,Caf\xe9,200\n2,A,Caf\xe9 (Instrumental),200\n")
    mine_pairs(cat, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("1", "2")}
    latin = tmp_path / "latin.csv"
    latin.write_bytes("track_id,artist,title,duration_s\n1,A,Café,200\n2,A,Cafe (Instrumental),200\n".encode("latin-1"))
    mine_pairs(latin, tmp_path / "out2", MinerConfig(encoding="latin-1"))
    assert pairs_of(tmp_path / "out2") == {("1", "2")}


def test_relative_audio_paths_follow_each_file(tmp_path):
    (tmp_path / "x" / "deep").mkdir(parents=True)
    (tmp_path / "x" / "a.csv").write_text(
        "track_id,artist,title,duration_s,audio_path\n1,A,S,10,../audio/1.wav\n")
    (tmp_path / "x" / "deep" / "b.csv").write_text(
        "track_id,artist,title,duration_s,audio_path\n2,A,S (Instrumental),10,2.wav\n")
    mine_pairs(str(tmp_path / "x" / "**" / "*.csv"), tmp_path / "out")
    c = pq.read_table(tmp_path / "out" / "candidates.parquet").to_pylist()[0]
    assert c["original_audio_path"] == os.path.normpath(tmp_path.resolve() / "audio" / "1.wav")
    assert c["instrumental_audio_path"] == str(tmp_path.resolve() / "x" / "deep" / "2.wav")


def test_loose_column_names_and_url_audio_paths(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text("Track ID,Artist,TITLE,Duration_S,Audio Path,Extra Column\n"
                   "1,A,S,10,s3://bucket/1.wav,x\n2,A,S (Instrumental),10,/abs/2.wav,y\n")
    mine_pairs(cat, tmp_path / "out")
    c = pq.read_table(tmp_path / "out" / "candidates.parquet").to_pylist()[0]
    assert (c["original_id"], c["original_audio_path"], c["instrumental_audio_path"]) == ("1", "s3://bucket/1.wav", "/abs/2.wav")


def test_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "c.csv.gz"
    good = gzip.compress(_csv(ROWS).encode())
    bad.write_bytes(good[: len(good) // 2 + 20])  # truncated: the header reads, the rest does not
    result = CliRunner().invoke(cli, [str(bad), "-o", str(tmp_path / "out"), "--metadata-only"])
    assert result.exit_code == 2
    assert f"{bad.resolve()}: cannot read the file" in result.output and "Traceback" not in result.output


def test_a_broken_first_occurrence_does_not_reject_a_good_later_one(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text(_csv([("1", "A", "Song", ""), ("1", "A", "Song", "200"), ("2", "A", "Song (Instrumental)", "200"),
                         ("2", "A", "Again (Instrumental)", "200")]))
    s = mine_pairs(cat, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("1", "2")}
    assert rejected_of(tmp_path / "out") == [(2, "1", "missing-duration"), (5, "2", "duplicate-track_id")]
    assert (s.rows_used, s.marked) == (2, 1)


@pytest.mark.parametrize("sep", ["\t", ";", "|"])
def test_csv_named_file_with_another_separator(tmp_path, sep):
    cat = tmp_path / "export.csv"
    cat.write_text(_csv(ROWS, sep=sep))
    mine_pairs(cat, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("001", "002")}


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    import dask

    cat = tmp_path / "c.csv"
    cat.write_text(_csv(ROWS))
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output and "Traceback" not in result.output


def test_classic_mac_line_endings(tmp_path):
    cat = tmp_path / "mac.csv"
    cat.write_bytes(b"track_id,artist,title,duration_s\r1,A,S,10\r2,A,\"S\r(Instrumental)\",10\r3,A,,10\r")
    mine_pairs(cat, tmp_path / "out")
    assert pairs_of(tmp_path / "out") == {("1", "2")}
    assert rejected_of(tmp_path / "out") == [(5, "3", "empty-title")]
