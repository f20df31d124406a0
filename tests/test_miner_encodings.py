"""Catalog text encodings (UTF-16/32 by byte-order mark, ``--encoding`` for the header too) and the detail of
``bad-duration`` rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from miner import MinerConfig, mine_pairs
from miner.row_validation import DURATION_FORMATS
from commands.mine import main as cli

TEXT = ("track_id\tartist\ttitle\tduration_s\tannée\n"
        "1\tBeyoncé\tCafé Noir\t200\t2019\n"
        "2\tBeyoncé\tCafé Noir (Instrumental)\t201\t2019\n"
        "3\t방탄소년단\t봄날\t274\t2017\n"
        "4\t방탄소년단\t봄날 (Inst.)\t274\t2017\n"
        "5\tBeyoncé\tLong, With \"Quotes\"\t3:35\t\n")


def candidates(out: Path) -> list[tuple[str, str, str]]:
    t = pq.read_table(out / "candidates.parquet")
    return sorted(zip(t.column("original_id").to_pylist(), t.column("instrumental_id").to_pylist(),
                      t.column("original_title").to_pylist()))


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_text_exports_are_read_by_their_byte_order_mark(tmp_path, codec):
    """A spreadsheet's "Unicode text" export (UTF-16 with a BOM, tab-separated, CRLF) needs no option."""
    cat = tmp_path / "export.txt"
    data = TEXT.replace("\n", "\r\n").encode(codec)
    if not data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        data = "\ufeff".encode(codec) + data  # the -be codecs write no BOM themselves
    cat.write_bytes(data)
    s = mine_pairs(cat, tmp_path / "out")
    assert candidates(tmp_path / "out") == [("1", "2", "Café Noir"), ("3", "4", "봄날")]
    assert (s.rows_read, s.rows_rejected) == (5, 0)


def test_utf16_without_bom_needs_encoding_and_gets_it(tmp_path):
    cat = tmp_path / "export.tsv"
    cat.write_bytes(TEXT.encode("utf-16-le"))
    r = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "bad"), "--metadata-only", "--no-report"])
    assert r.exit_code == 2 and "give the file's encoding with --encoding" in r.output
    s = mine_pairs(cat, tmp_path / "out", MinerConfig(encoding="utf-16-le"))
    assert candidates(tmp_path / "out") == [("1", "2", "Café Noir"), ("3", "4", "봄날")]
    assert s.rows_read == 5


def test_latin1_header_with_a_non_ascii_column_name(tmp_path):
    cat = tmp_path / "latin1.csv"
    text = TEXT.split("방탄")[0].rsplit("\n", 1)[0] + "\n"  # the Latin-1 part: rows 1 and 2
    cat.write_bytes(text.replace("\t", ";").encode("latin-1"))
    r = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "out"), "--metadata-only", "--no-report",
                                 "--encoding", "latin-1"])
    assert r.exit_code == 0, r.output
    assert candidates(tmp_path / "out") == [("1", "2", "Café Noir")]
    t = pq.read_table(tmp_path / "out" / "candidates.parquet")
    assert t.column("artist").to_pylist() == ["Beyoncé"]


def test_bad_duration_detail_names_the_accepted_formats(tmp_path):
    cat = tmp_path / "c.csv"
    cat.write_text("track_id,artist,title,duration_s\n1,A,Song,3m20s\n2,A,Other,200\n3,A,Third,abc\n")
    mine_pairs(cat, tmp_path / "out")
    rows = pq.read_table(tmp_path / "out" / "rejected_rows.parquet").to_pylist()
    assert [(r["track_id"], r["reason"]) for r in rows] == [("1", "bad-duration"), ("3", "bad-duration")]
    assert rows[0]["detail"] == f"duration_s '3m20s' is not a duration; {DURATION_FORMATS}"
    for fmt in ("seconds", "milliseconds", "m:ss", "h:mm:ss"):
        assert fmt in rows[1]["detail"]
