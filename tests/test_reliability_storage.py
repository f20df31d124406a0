"""Issue 22, paths and storage: a catalog's ``../`` never leaves its bucket (point 7), a silent endpoint is a
timeout with a message (9), a web server without range requests serves a catalog (12), and the messages of the
issue's list. Real servers on loopback (moto's S3, Python's http.server, a socket that never answers), real
files, real commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from commands.mine import main as mine_main
from miner import MinerConfig, mine_pairs
from pairing import pair_candidates
from support.catalogs import ONE_PAIR, one_pair_catalog
from support.httpservers import FileServer, SilentServer
from support.smalldisk import run_on_small_disk, small_disks
from vocalmine import storage


def _mine(args: list[str]):
    return CliRunner().invoke(mine_main, [*args, "--no-progress"])


def _last(output: str) -> str:
    return output.strip().splitlines()[-1]


# ---- point 7: ../ in an audio_path of a catalog on object storage --------------------------------------------

def test_dot_dot_against_a_url_stops_at_the_bucket():
    assert storage.resolve("../../../audio/x.wav", "s3://bucket/corpus") == "s3://bucket/audio/x.wav"
    assert storage.resolve("../x.wav", "s3://bucket") == "s3://bucket/x.wav"
    assert storage.resolve("a/./b/../c.wav", "gs://b/k/") == "gs://b/k/a/c.wav"
    assert storage.resolve("../../c2/x.csv", "https://host:8000/d/e") == "https://host:8000/c2/x.csv"
    assert storage.resolve("../x.wav", "/data/corpus") == "/data/x.wav"


def test_a_catalog_on_a_bucket_never_reads_a_local_file_through_dot_dot(clean_corpus, s3, tmp_path, monkeypatch):
    """Before: ``../../../audio/x.wav`` against ``s3://b/corpus`` became the local ``audio/x.wav``: the local
    files of a true pair were read and the pair accepted, with relative paths recorded."""
    rows = [r.split(",") for r in clean_corpus.catalog.read_text().splitlines()]
    header, body = rows[0], rows[1:]
    col = header.index("audio_path")
    monkeypatch.chdir(tmp_path)  # the local copies lie where the mangled paths pointed: ./audio/
    (tmp_path / "audio").mkdir()
    for r in body:
        (tmp_path / r[col]).write_bytes((clean_corpus.out_dir / r[col]).read_bytes())
        r[col] = "../../../" + r[col]
    storage.write_bytes(("\n".join(",".join(r) for r in [header, *body]) + "\n").encode(), f"{s3}/corpus/catalog.csv")
    out = tmp_path / "pairs"
    mine_pairs(f"{s3}/corpus/catalog.csv", out, MinerConfig(progress=False))
    pair_candidates(out, progress=False)
    got = pq.read_table(out / "pairs.parquet").to_pylist()
    assert got and all(r["original_audio_path"].startswith(f"{s3}/audio/") for r in got)
    assert {(r["status"], r["reason"]) for r in got} == {("rejected", "missing-file")}


# ---- point 9: an endpoint that accepts connections and never answers ------------------------------------------

@pytest.mark.slow  # a subprocess, or three evaluations: seconds
def test_a_silent_endpoint_is_a_timeout_with_a_message_not_a_hang(tmp_path):
    with SilentServer() as silent:
        env = {**os.environ, "AWS_ENDPOINT_URL": silent.url, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
               "AWS_DEFAULT_REGION": "us-east-1", "VOCALMINE_STORAGE_TIMEOUT": "1"}
        env.pop("VOCALMINE_STORAGE_OPTIONS", None)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "commands.mine", "s3://bucket-x/catalog.csv", "-o",
                               str(tmp_path / "out"), "--no-progress"], env=env, capture_output=True, text=True,
                              timeout=180)
        seconds = time.monotonic() - t0
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = _last(proc.stderr)
    assert line.startswith(f"Error: s3://bucket-x/catalog.csv: no answer from the storage endpoint {silent.url} "
                           "within 1 s, tried again, gave up (ReadTimeoutError; $VOCALMINE_STORAGE_TIMEOUT sets "
                           "the wait); check AWS_ENDPOINT_URL"), line
    assert seconds < 60, seconds


# ---- point 12 and the http messages -----------------------------------------------------------------------------

@pytest.fixture
def web(tmp_path):
    """Python's http.server (no range requests) over a folder with a catalog (CSV and Parquet), one file
    forbidden (403)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "catalog.csv").write_text(ONE_PAIR)
    (root / "secret.csv").write_text(ONE_PAIR)
    lines = ONE_PAIR.splitlines()
    pq.write_table(pa.table({k: [r.split(",")[i] for r in lines[1:]] for i, k in enumerate(lines[0].split(","))}),
                   root / "catalog.parquet")
    with FileServer(root, forbidden={"/secret.csv"}) as server:
        yield server.url


@pytest.mark.parametrize("name", ["catalog.csv", "catalog.parquet", "catalog.csv?token=abc"])
def test_a_catalog_from_a_web_server_without_range_requests_is_read(web, tmp_path, name):
    """Before: ValueError traceback (the server ignores ranges); a presigned-style ``?token=`` was taken for a
    glob pattern and mangled to ``http://http://...``."""
    r = _mine([f"{web}/{name}", "-o", str(tmp_path / "out"), "--metadata-only", "--no-report"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert pq.read_table(tmp_path / "out" / "candidates.parquet").num_rows == 1


def test_http_messages_forbidden_missing_and_read_only(web, tmp_path):
    r = _mine([f"{web}/secret.csv", "-o", str(tmp_path / "out"), "--metadata-only"])
    assert r.exit_code == 2
    assert _last(r.output) == (f"Error: access denied: {web}/secret.csv (the server refused it (HTTP 403)); check "
                               "the URL, and that it is still valid (a presigned link expires)")
    r = _mine([f"{web}/gone.csv", "-o", str(tmp_path / "out"), "--metadata-only"])
    assert r.exit_code == 2 and _last(r.output) == f"Error: {web}/gone.csv: no such file or folder"
    r = _mine([f"{web}/catalog.csv", "-o", f"{web}/out", "--metadata-only"])
    assert r.exit_code == 2
    assert _last(r.output) == (f"Error: {web}/out: http:// URLs are read-only; write to a local folder or an object "
                               "store (s3://, gs://, az://)")


def test_an_s3_key_with_brackets_is_a_file_not_a_pattern(s3, tmp_path):
    storage.write_bytes(ONE_PAIR.encode(), f"{s3}/exports/catalog[v1].csv")
    r = _mine([f"{s3}/exports/catalog[v1].csv", "-o", str(tmp_path / "out"), "--metadata-only", "--no-report"])
    assert r.exit_code == 0, r.output
    assert pq.read_table(tmp_path / "out" / "candidates.parquet").num_rows == 1


def test_urls_printed_for_outputs_on_a_bucket_are_the_urls(s3, tmp_path):
    cat = one_pair_catalog(tmp_path / "catalog.csv")
    r = _mine([str(cat), "-o", f"{s3}/pairs"])
    assert r.exit_code == 0, r.output
    assert f"-> {s3}/pairs/candidates.parquet" in r.output and f"report: {s3}/pairs/report.html" in r.output
    assert "s3:/" + s3[len("s3://"):] not in r.output.replace(s3, "") and "vocalmine-stage" not in r.output


# ---- catalog contents --------------------------------------------------------------------------------------------

def test_a_nested_parquet_column_is_refused_naming_the_column(tmp_path):
    pq.write_table(pa.table({"track_id": ["1", "2"], "artist": ["A", "A"], "title": [["Song"], ["Song (Inst.)"]],
                             "duration_s": [200.0, 200.0]}), tmp_path / "c.parquet")
    r = _mine([str(tmp_path / "c.parquet"), "-o", str(tmp_path / "out"), "--metadata-only"])
    assert r.exit_code == 2
    assert _last(r.output) == (f"Error: {tmp_path / 'c.parquet'}: column 'title' holds list<element: string>, a "
                               "nested type; the catalog's title must be text (or a number for a duration): "
                               "flatten it first")


@pytest.mark.parametrize("kind", ["binary", "string"])
@pytest.mark.slow
def test_invalid_utf8_in_a_parquet_title_is_read_with_replacement_characters_like_a_csv(tmp_path, kind):
    rows = [b"1,A,Caf\xe9", b"2,A,Caf\xe9 (Instrumental)", b"3,B,Bad \xff title"]  # Latin-1 bytes, a stray byte
    titles = pa.array([r.split(b",")[2] for r in rows], pa.binary())
    if kind == "string":  # a sloppy writer: a string column holding bytes that are not UTF-8
        titles = titles.view(pa.string())
    pq.write_table(pa.table({"track_id": ["1", "2", "3"], "artist": ["A", "A", "B"], "title": titles,
                             "duration_s": [200.0, 200.0, 100.0]}), tmp_path / "c.parquet")
    # A subprocess: the command's own logging prints the warning (under pytest, pytest's handler takes it).
    proc = subprocess.run([sys.executable, "-m", "commands.mine", "c.parquet", "-o", "out", "--metadata-only",
                           "--no-report", "--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warned = [line for line in proc.stderr.splitlines() if "UTF-8" in line]
    assert len(warned) == 1 and warned[0].endswith(
        f" WARNING miner.catalog_rows: {tmp_path / 'c.parquet'}: invalid UTF-8 in column 'title'; read with "
        "replacement characters"), proc.stderr
    assert "3 rows read: 3 used, 0 rejected" in proc.stdout + proc.stderr
    titles_of = ["original_title", "instrumental_title"]
    got = pq.read_table(tmp_path / "out" / "candidates.parquet").select(titles_of).to_pylist()
    assert got == [{"original_title": "Caf\ufffd", "instrumental_title": "Caf\ufffd (Instrumental)"}]
    # The same bytes in a CSV give the same titles.
    (tmp_path / "c.csv").write_bytes(b"\n".join([b"track_id,artist,title,duration_s", *(r + b",200" for r in rows)]))
    r = _mine([str(tmp_path / "c.csv"), "-o", str(tmp_path / "csv"), "--metadata-only", "--no-report"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert pq.read_table(tmp_path / "csv" / "candidates.parquet").select(titles_of).to_pylist() == got


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    (tmp_path / "c.csv").write_text("track_id,title,title,artist,duration_s\n1,Song,X,A,200\n"
                                    "2,Song (Instrumental),Y,A,200\n")
    r = _mine([str(tmp_path / "c.csv"), "-o", str(tmp_path / "out"), "--metadata-only"])
    assert r.exit_code == 2
    assert _last(r.output) == (f"Error: {tmp_path / 'c.csv'}: the header names title more than once: 'title' "
                               "(column 2), 'title' (column 3); rename or remove all but one")


def test_a_symlink_loop_is_called_a_loop(tmp_path):
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    r = _mine([str(tmp_path / "a.csv"), "-o", str(tmp_path / "out"), "--metadata-only"])
    assert r.exit_code == 2
    assert _last(r.output) == f"Error: {tmp_path / 'a.csv'}: a symbolic link loop (the link leads back to itself)"


def test_control_characters_in_a_file_name_are_shown_escaped(tmp_path):
    name = str(tmp_path / "evil\n\x1bc\x07\rname.csv")  # ESC c resets a terminal, BEL rings
    r = _mine([name, "-o", str(tmp_path / "out"), "--metadata-only"])
    assert r.exit_code == 2
    assert r.output.strip() == f"Error: {tmp_path}/evil\\n\\x1bc\\x07\\rname.csv: no such file or directory"


# ---- a full disk names the file (numpy's short write had no errno and no path) -----------------------------------

@pytest.mark.slow  # a subprocess, or three evaluations: seconds
def test_a_full_disk_while_building_shards_is_one_line_naming_the_file(demo_pairs, tmp_path):
    if (why := small_disks()) is not None:
        pytest.skip(why)
    disk = tmp_path / "disk"
    run = run_on_small_disk(disk, 96, [sys.executable, "-m", "commands.shards", str(demo_pairs), "-o",
                                       str(disk / "shards"), "--no-progress", "--workers", "1"])
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-3000:]
    last = _last(run.stderr)
    assert last.startswith(f"Error: no space left on the device (or quota) holding {disk}/shards/") and \
        last.endswith("; free some space or choose another folder"), last
    assert not any(".tmp-" in k for k in run.files), run.files
