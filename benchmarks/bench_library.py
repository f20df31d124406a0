"""Speed and memory of the music-folder walk (``mine-pairs DIR``'s first step: ``miner.library.build_catalog``).

Generates (once, cached) a music folder of N small audio files (default 20,000; one second of mono 8 kHz
audio each) in ``Artist/Album/NN Title.ext`` folders: FLAC with Vorbis comments, MP3 with ID3v2.4 and ID3v2.3,
M4A with MP4 atoms (AAC by ffmpeg), Ogg Vorbis with comments, WAV with RIFF INFO (libsndfile), untagged WAV,
and untagged ``Artist - Title.mp3`` files, in turn, plus a cover image per album. Each format is encoded once
and copied; every copy gets its own tags.

Then it runs, each as a fresh process (so the peak memory is the walk's): the walk from an empty cache (every
file read) with 1 and 2 threads, and again with everything cached (the listing and the cache only). It reports
wall time, the process's CPU time, files per second (wall) and per CPU second (the per-core figure: the
machine may be shared), and the process's peak RSS, with the RSS after the imports (before the walk) beside it;
with ``--also N2`` a second, smaller folder shows how the peak grows with the file count.

    .venv/bin/python benchmarks/bench_library.py [--files 20000] [--also 5000] [--cache DIR] [--runs 1]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 1
KINDS = ("flac", "mp3-v24", "mp3-v23", "m4a", "ogg", "wav-info", "wav-plain", "mp3-named")


def _templates(folder: Path) -> dict[str, Path]:
    """One encoded second of audio per container."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    x = (0.2 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype(np.float32)
    out = {}
    for ext, fmt, sub in (("flac", "FLAC", "PCM_16"), ("mp3", "MP3", "MPEG_LAYER_III"), ("ogg", "OGG", "VORBIS"),
                          ("wav", "WAV", "PCM_16")):
        out[ext] = folder / f"t.{ext}"
        sf.write(out[ext], x, 8000, format=fmt, subtype=sub)
    out["m4a"] = folder / "t.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(out["wav"]), "-c:a", "aac", "-b:a", "32k",
                    str(out["m4a"])], check=True)
    return out


def _write_one(kind: str, path: Path, t: dict[str, Path], artist: str, album: str, title: str, n: int) -> None:
    from mutagen.flac import FLAC
    from mutagen.id3 import ID3, TALB, TIT2, TPE1, TRCK
    from mutagen.mp4 import MP4
    from mutagen.oggvorbis import OggVorbis

    if kind == "wav-info":
        import soundfile as sf

        with sf.SoundFile(path, "w", 8000, 1, "PCM_16", format="WAV") as fh:
            fh.title, fh.artist, fh.album, fh.tracknumber = title, artist, album, str(n)
            fh.write(np.zeros(8000, np.float32))
        return
    ext = {"flac": "flac", "ogg": "ogg", "m4a": "m4a", "wav-plain": "wav"}.get(kind, "mp3")
    shutil.copyfile(t[ext], path)
    if kind in ("flac", "ogg"):
        audio = FLAC(path) if kind == "flac" else OggVorbis(path)
        audio.update({"title": title, "artist": artist, "album": album, "tracknumber": str(n)})
        audio.save()
    elif kind in ("mp3-v24", "mp3-v23"):
        tags = ID3()
        for frame, value in ((TIT2, title), (TPE1, artist), (TALB, album), (TRCK, str(n))):
            tags.add(frame(encoding=3 if kind == "mp3-v24" else 1, text=value))
        tags.save(path, v2_version=4 if kind == "mp3-v24" else 3)
    elif kind == "m4a":
        audio = MP4(path)
        audio.update({"\xa9nam": [title], "\xa9ART": [artist], "\xa9alb": [album], "trkn": [(n, 10)]})
        audio.save()


def generate(root: Path, files: int) -> Path:
    """The music folder of ``files`` audio files under ``root`` (reused when complete)."""
    marker = root / ".complete.json"
    key = {"version": GENERATOR_VERSION, "files": files}
    if marker.exists() and json.loads(marker.read_text()) == key:
        return root
    shutil.rmtree(root, ignore_errors=True)
    t = _templates(root / ".templates")
    t0 = time.perf_counter()
    for i in range(files):
        artist, album, n = f"Artist {i // 20:04d}", f"Album {i // 10 % 2}", i % 10 + 1
        title = f"Song {i:05d}" + (" (Instrumental)" if i % 10 == 9 else "")
        kind = KINDS[i % len(KINDS)]
        folder = root / artist / album
        folder.mkdir(parents=True, exist_ok=True)
        if n == 1:
            (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(2000))
        ext = {"flac": "flac", "ogg": "ogg", "m4a": "m4a", "wav-info": "wav", "wav-plain": "wav"}.get(kind, "mp3")
        name = f"{artist} - {title}.{ext}" if kind == "mp3-named" else f"{n:02d} {title}.{ext}"
        _write_one(kind, folder / name, t, artist, album, title, n)
    marker.write_text(json.dumps(key))
    print(f"generated {files} files in {time.perf_counter() - t0:.0f} s under {root}", file=sys.stderr)
    return root


_CHILD = """
import json, os, resource, sys, time
t_start = time.perf_counter()
import dask
from miner.library import build_catalog
rss_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
c0, t0 = time.process_time(), time.perf_counter()
with dask.config.set(num_workers=int(sys.argv[3])):
    s = build_catalog(sys.argv[1], sys.argv[2], progress=False)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "files": s.files,
                  "read": s.read, "cached": s.cached, "unreadable": s.unreadable, "tags": s.titles_from_tags,
                  "path": s.titles_from_path, "rss_imports_mb": rss_imports / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_walk(folder: Path, out: Path, threads: int) -> dict:
    """One walk in a fresh process: its figures."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(out), str(threads)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(folder: Path, threads: tuple[int, ...], runs: int) -> list[tuple[str, int, dict]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in threads:
            best = None
            for r in range(runs):
                out = Path(tmp) / f"cold-{n}-{r}"
                res = run_walk(folder, out, n)
                best = res if best is None or res["wall"] < best["wall"] else best
            rows.append(("cold (every file read)", n, best))
        rows.append(("warm (all cached)", threads[-1], run_walk(folder, out, threads[-1])))
    return rows


def table(rows: list[tuple[str, int, dict]]) -> str:
    lines = ["| files | run | threads | read | wall s | CPU s | files/s (wall) | files per CPU s "
             "| RSS after imports MB | peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for run, n, r in rows:
        lines.append(f"| {r['files']:,} | {run} | {n} | {r['read']:,} | {r['wall']:.1f} | {r['cpu']:.1f} | "
                     f"{r['files'] / r['wall']:,.0f} | {r['files'] / r['cpu']:,.0f} | {r['rss_imports_mb']:.0f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--also", type=int, default=5_000, help="a second, smaller folder (0: none)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "vocalmine-bench-library")
    ap.add_argument("--runs", type=int, default=1, help="cold runs per thread count (the best is shown)")
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    print(f"{datetime.date.today()} commit {commit} {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average before {os.getloadavg()[0]:.1f}")
    rows = []
    for n in [args.files] + ([args.also] if args.also else []):
        folder = generate(args.cache / f"music-{n}", n)
        rows += measure(folder, (1, 2) if n == args.files else (2,), args.runs)
    print(table(rows))
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
