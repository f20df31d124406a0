"""Issue 22, the audio stage: files hashed where they are decoded (point 18; a local file that changes while it
is read is an uncached error), and audio paths that are not regular files refused before they are opened
(point 8). Real files, a real FIFO, /dev/zero, a real S3 server on loopback behind a counting proxy
(tests/support/httpservers.py)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from miner import MinerConfig, mine_pairs
from pairing import PairingConfig, pair_candidates
from pairing.cache import cache_key
from support.httpservers import CountingProxy
from vocalmine import storage


def _upload_corpus(info, corpus_url: str) -> list[str]:
    """The corpus' catalog and audio under ``corpus_url``; returns the audio file names."""
    names = sorted(p.name for p in info.audio_dir.iterdir())
    for name in names:
        storage.write_bytes((info.audio_dir / name).read_bytes(), f"{corpus_url}/audio/{name}")
    storage.write_bytes(info.catalog.read_bytes(), f"{corpus_url}/catalog.csv")
    return names


def _silent_like(data: bytes) -> bytes:
    """A WAV of the same length, rate and channels as ``data``, all zeros."""
    x, rate = sf.read(io.BytesIO(data), always_2d=True)
    out = io.BytesIO()
    sf.write(out, np.zeros_like(x), rate, format="WAV")
    return out.getvalue()


@contextlib.contextmanager
def _proxied(s3_endpoint: str):
    """A counting proxy in front of the S3 server; the S3 clients made while it lives go through it."""
    with CountingProxy(s3_endpoint) as counting:
        _endpoint(counting.url)
        try:
            yield counting
        finally:
            _endpoint(s3_endpoint)


def _endpoint(url: str) -> None:
    """Point the S3 clients made from now on at ``url`` (fsspec keeps its instances: cleared too)."""
    import s3fs

    os.environ["AWS_ENDPOINT_URL"] = url
    s3fs.S3FileSystem.clear_instance_cache()
    storage.forget_filesystems()


def test_audio_on_a_bucket_is_read_once_where_it_is_decoded_and_cached_under_the_hash_of_what_was_decoded(
        clean_corpus, s3, s3_endpoint, tmp_path):
    corpus = f"{s3}/corpus"
    names = _upload_corpus(clean_corpus, corpus)
    out = tmp_path / "pairs"
    mine_pairs(f"{corpus}/catalog.csv", out, MinerConfig(progress=False))
    originals = [r["original_audio_path"] for r in pq.read_table(out / "candidates.parquet").to_pylist()]
    assert len(originals) == 3 and all(p.startswith(f"{corpus}/audio/") for p in originals)
    victim = originals[0]
    v1 = storage.read_bytes(victim)

    with _proxied(s3_endpoint) as proxy:
        # The object is replaced by a silent file once it has been read for the first time.
        proxy.after_first_get(victim.split("/", 3)[3], lambda: _replace(victim, _silent_like(v1), s3_endpoint))
        summary = pair_candidates(out, PairingConfig(), progress=False)
        # every audio object downloaded once, by the task that decoded it; the driver read none
        assert {n: proxy.gets(f"/audio/{n}") for n in names} == {n: 1 for n in names}
        rows = {r["original_audio_path"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
        # the verdict is about the audio that was read (the first version), and is cached under its hash
        assert summary.accepted == 3 and rows[victim]["status"] == "accepted"
        memo = json.loads((out / ".cache" / "file_hashes.json").read_text())
        assert memo[victim][2] == hashlib.sha1(v1).hexdigest()
        rec = {**rows[victim], "original_file_sha1": hashlib.sha1(v1).hexdigest(),
               "instrumental_file_sha1": memo[rows[victim]["instrumental_audio_path"]][2]}
        keys = {r["cache_key"]: r for part in (out / ".cache" / "verdicts").glob("part-*.parquet")
                for r in pq.read_table(part).to_pylist()}
        assert keys[cache_key(rec, PairingConfig().verdict_hash())]["status"] == "accepted"

        # A re-run reads no audio for the unchanged files (stamps only) and verifies the replaced one again.
        before = len(proxy.requests)
        again = pair_candidates(out, PairingConfig(), progress=False)
        later = proxy.requests[before:]
        pair_files = {victim, rows[victim]["instrumental_audio_path"]}
        assert sorted(p.split("?")[0] for m, p in later if m == "GET" and "/audio/" in p) == sorted(
            "/" + u.split("://", 1)[1] for u in pair_files)
        assert (again.computed, again.cached) == (1, 2)
        rows = {r["original_audio_path"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
        assert rows[victim]["reason"] == "silent"


def _replace(url: str, data: bytes, endpoint: str) -> None:
    """Write ``data`` to ``url`` straight on the S3 server (not through the proxy)."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, client_kwargs={"endpoint_url": endpoint})
    with fs.open(url, "wb") as fh:
        fh.write(data)


@contextlib.contextmanager
def _when_decoded(path: str, action):
    """Run ``action()`` once, in whichever thread opens ``path`` with Python's ``open`` (audit event ``open``,
    mode ``r``): ``features.audio.decode`` does so just before libsndfile reads the file, after the task hashed
    it (through ``os.open``, whose event carries no mode). Yields a list that holds True once it ran. Python
    cannot remove an audit hook: this one is inert once the block ends."""
    ran: list[bool] = []

    def hook(event: str, args: tuple) -> None:
        if not ran and armed and event == "open" and str(args[0]) == path and args[1] == "r":
            ran.append(True)
            action()

    armed = True
    sys.addaudithook(hook)
    try:
        yield ran
    finally:
        armed = False


def test_a_local_file_rewritten_while_it_is_read_gets_an_error_verdict_that_is_never_cached(clean_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(clean_corpus.out_dir, corpus)
    out = tmp_path / "pairs"
    mine_pairs(corpus / "catalog.csv", out, MinerConfig(progress=False))
    victim = sorted(r["original_audio_path"] for r in pq.read_table(out / "candidates.parquet").to_pylist())[0]
    first = Path(victim).read_bytes()
    x, rate = sf.read(victim, always_2d=True)
    with _when_decoded(victim, lambda: sf.write(victim, x[: len(x) // 2], rate)) as ran:  # half the audio
        summary = pair_candidates(out, PairingConfig(), progress=False)
    second = Path(victim).read_bytes()
    assert ran == [True] and len(second) != len(first)  # the size changed: the stamps differ, whatever the clock
    rows = {r["original_audio_path"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
    assert {p: r["reason"] for p, r in rows.items()} == {p: "error" if p == victim else "" for p in rows}
    assert rows[victim]["detail"] == f"original: {victim}: changed while it was read; a re-run verifies it again"
    assert summary.accepted == 2
    assert victim not in json.loads((out / ".cache" / "file_hashes.json").read_text())  # its hash not remembered

    # The re-run verifies it again (the error was not cached), from the bytes it now holds.
    again = pair_candidates(out, PairingConfig(), progress=False)
    assert (again.computed, again.cached) == (1, 2)
    rows = {r["original_audio_path"]: r for r in pq.read_table(out / "pairs.parquet").to_pylist()}
    assert rows[victim]["reason"] != "error"
    memo = json.loads((out / ".cache" / "file_hashes.json").read_text())
    assert memo[victim][2] == hashlib.sha1(second).hexdigest()


# ---- point 8: audio paths that are not regular files -------------------------------------------------------

CATALOG = """track_id,artist,title,duration_s,audio_path
a,Foo,Song,4,/dev/zero
b,Foo,Song (Instrumental),4,fifo.wav
c,Bar,Tune,4,fifo.wav
d,Bar,Tune (Instrumental),4,/dev/zero
"""


@pytest.mark.slow  # a subprocess, or three evaluations: seconds
def test_a_fifo_or_a_device_as_audio_path_is_refused_before_it_is_opened(tmp_path):
    """Before: mine-pairs read /dev/zero forever (hashing) and blocked opening the FIFO. Run as a subprocess
    with a time limit, so a hang fails the test instead of stopping the suite."""
    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "catalog.csv").write_text(CATALOG)
    proc = subprocess.run([sys.executable, "-m", "commands.mine", "catalog.csv", "-o", "out", "--no-progress",
                           "--no-report"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["pair_id"]: r for r in pq.read_table(tmp_path / "out" / "pairs.parquet").to_pylist()}
    assert {pid: r["reason"] for pid, r in rows.items()} == {"a~b": "unreadable", "c~d": "unreadable"}
    assert rows["a~b"]["detail"] == "original: /dev/zero: is a character device, not an audio file"
    assert rows["c~d"]["detail"] == f"original: {tmp_path}/fifo.wav: is a FIFO (named pipe), not an audio file"
