"""Speed, memory and recall of the metadata stage (``mine-pairs --metadata-only``) on a generated catalog.

Generates a catalog of N rows (default 1,000,000) once and caches it: Zipf-like artist sizes (the largest
artists hold thousands of tracks, most hold a few), about 2% instrumental titles in the usual marker spellings,
album + single copies, live/remix/radio-edit versions, numbered siblings, prefix traps, orphan instrumentals,
instrumentals far off in duration, titles with commas and quotes (quoted fields), a few album names with a
newline in them, a few bad rows. About a quarter of the true pairs differ by more than the marker: case,
apostrophes, accents, "&"/"and", a "(feat. X)" on the original, a variant of the artist credit, a typo.
Giant credits as real exports have them: "Traditional", "Various Artists" and "Johann Sebastian Bach" hold
3% of the rows each, half of their tracks drawn from a small pool of titles (each pool title recorded
hundreds of times by different performers, on different albums), 1% of them with an official instrumental
on the same album (a true pair); the other recordings of the same title are traps.

Then it runs, each as a fresh process (wall time includes interpreter start):
- ``mine-pairs CATALOG -o TMP --metadata-only --no-report`` (the miner; peak memory of its process tree);
- a naive pandas baseline: strip the marker, exact join on (artist, title), durations within 3 s;
and times reading the same CSV with pyarrow alone, in this process.

Prints rows/s, wall time, peak memory, the ratio to the pyarrow read, and the recall of the planted pairs
for both the miner and the baseline.

    .venv/bin/python benchmarks/bench_miner.py [--rows 1000000] [--seed 0] [--runs 3] [--cache DIR] [--no-naive]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 8
MARKERS = [
    ("(Instrumental)", 0.55), (" - Instrumental", 0.10), ("[Instrumental Version]", 0.05),
    ("(Official Instrumental)", 0.05), ("(Inst.)", 0.08), ("(Instrumental Mix)", 0.03), ("(Off Vocal)", 0.04),
    (" - Inst.", 0.04), ("(Instr.)", 0.02), ("(INSTRUMENTAL)", 0.04),
]
VERSIONS = ["(Live)", "(Remix)", " - Radio Edit", "(Acoustic)", "(Extended Mix)", "(Demo)", "(Acapella)",
            "(Live at Wembley)", "(Club Mix)"]
VARIATIONS = [("exact", 0.72), ("case", 0.05), ("apostrophe", 0.04), ("accents", 0.03), ("feat", 0.05),
              ("artist", 0.05), ("and", 0.02), ("typo", 0.04)]
GENRES = ["Pop", "Rock", "Hip-Hop", "Electronic", "K-Pop", "Jazz", "Classical", "Country", "R&B", "Latin"]
LABELS = ["Universal", "Sony", "Warner", "Indie Records", "Big Hit", "XL", "Sub Pop", "Def Jam"]
GIANTS = ["Traditional", "Various Artists", "Johann Sebastian Bach"]
GIANT_SHARE = 0.03  # of the catalog's rows, each


# ------------------------------------------------------------------------------------------- generator


def _vocabulary(rng: random.Random, n: int = 6000) -> list[str]:
    syll = ["ka", "lo", "mi", "ra", "te", "shi", "no", "va", "dor", "en", "lu", "ben", "tra", "ox", "pel",
            "qui", "zan", "mor", "ly", "ste", "fa", "gri", "hu", "jo", "wen", "ur", "ix", "al", "ber", "cy"]
    words = {"love", "night", "heart", "fire", "dance", "dream", "rain", "gold", "summer", "home", "light",
             "don't", "can't", "i'm", "rock'n'roll", "l.a.", "café", "señorita", "déjà", "naïve", "über",
             "mañana", "corazón", "été", "for", "the", "me", "you", "we", "my", "in", "of"}
    while len(words) < n:
        words.add("".join(rng.choice(syll) for _ in range(rng.choice((1, 2, 2, 3)))))
    return sorted(words)


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items])[0]


def _words(s: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", " ", _strip_accents(s).lower()).strip()


def _strip_accents(s: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def generate(n_rows: int, seed: int, path: Path) -> dict:
    """Write the catalog CSV to ``path`` and ``path``.truth.json: the planted true pairs."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    accented = [w for w in vocab if _strip_accents(w) != w]
    n_artists = max(20, n_rows // 8)
    weights = 1.0 / (np.arange(n_artists) + 10.0)
    giant_rows = int(n_rows * GIANT_SHARE)
    songs_total = int((n_rows - len(GIANTS) * giant_rows) / 1.08)
    per_artist = nrng.multinomial(songs_total, weights / weights.sum())
    artists = sorted({" ".join(w.capitalize() for w in rng.sample(vocab, rng.choice((1, 2, 2, 3))))
                      for _ in range(int(n_artists * 1.3))})
    while len(artists) < n_artists:  # large catalogs: more names than the first draw gave
        artists = sorted(set(artists) | {" ".join(w.capitalize() for w in rng.sample(vocab, rng.choice((2, 3, 4))))
                                         for _ in range(n_artists - len(artists) + 1000)})
    rng.shuffle(artists)
    artists = artists[:n_artists]

    rows: list[list] = []
    by_title: dict[tuple[str, str], list[int]] = {}  # (artist, title) -> row numbers, for versions
    truth: list[tuple[int, int]] = []  # (original row number, instrumental row number)
    counter = [0]

    def add(artist, title, dur, album=None):
        counter[0] += 1
        rid = counter[0]
        year = rng.randint(1960, 2024)
        rows.append([rid, artist, title, round(dur, 3), album or f"{rng.choice(vocab).capitalize()} Album",
                     rng.choice(GENRES), f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                     rng.choice(LABELS), f"audio/{rid % 1000:03d}/{rid}.flac"])
        return rid

    def marker() -> str:
        return _weighted(rng, MARKERS)

    def with_marker(title: str, m: str) -> str:
        return title + m if m.startswith(" - ") else f"{title} {m}"

    for a_idx, n_songs in enumerate(per_artist.tolist()):
        artist = artists[a_idx]
        used: set[str] = set()
        for _ in range(n_songs):
            for _try in range(20):
                words = rng.sample(vocab, rng.choice((1, 2, 2, 3, 3, 4)))
                title = " ".join(w.capitalize() for w in words)
                r = rng.random()
                if r < 0.03:
                    title = title.replace(" ", ", ", 1) if " " in title else title + ", Pt. 1"
                elif r < 0.035:
                    title = f'{title} "{rng.choice(vocab)}"'
                if title.lower() not in used:
                    break
            used.add(title.lower())
            dur = float(nrng.gamma(9.0, 25.0)) + 30.0
            kind = rng.random()
            orig_ids = [add(artist, title, dur)]
            if rng.random() < 0.06:  # also released as a single
                orig_ids.append(add(artist, title, dur + rng.uniform(-0.25, 0.25), album=f"{title} - Single"))
            if rng.random() < 0.05:  # a version of it (never pairs with the plain instrumental)
                vt = with_marker(title, rng.choice(VERSIONS))
                by_title.setdefault((artist, vt), []).append(add(artist, vt, dur + rng.uniform(-1.0, 1.0)))
            if kind < 0.0165:  # a true pair
                variation = _weighted(rng, VARIATIONS)
                o_title, i_title, i_artist = title, title, artist
                if variation == "case":
                    i_title = title.upper() if rng.random() < 0.5 else title.lower()
                elif variation == "apostrophe":
                    if "'" not in title and "." not in title:
                        o_title = title + " Don't"
                        i_title = title + " Dont"
                        for oid in orig_ids:
                            rows[oid - 1][2] = o_title
                    else:
                        i_title = title.replace("'", "").replace(".", "")
                elif variation == "accents":
                    o_title = f"{title} {rng.choice(accented).capitalize()}"
                    i_title = _strip_accents(o_title)
                    for oid in orig_ids:
                        rows[oid - 1][2] = o_title
                elif variation == "feat":
                    for oid in orig_ids:
                        rows[oid - 1][2] = f"{title} (feat. {rng.choice(artists)})"
                elif variation == "artist":
                    i_artist = f"The {artist}" if rng.random() < 0.5 and not artist.startswith("The ") else artist.upper()
                    if rng.random() < 0.5:
                        for oid in orig_ids:
                            rows[oid - 1][1] = f"{artist} & {rng.choice(artists)}"
                elif variation == "and":
                    o_title = f"{title} & {rng.choice(vocab).capitalize()}"
                    i_title = o_title.replace("&", "and")
                    for oid in orig_ids:
                        rows[oid - 1][2] = o_title
                elif variation == "typo":
                    o_title = title if len(title) >= 16 else f"{title} {rng.choice(vocab).capitalize()} Forever"
                    letters = [k for k in range(1, len(o_title) - 1) if o_title[k].isalpha()]
                    k = rng.choice(letters)
                    i_title = o_title[:k] + o_title[k + 1:]  # one letter dropped (never a digit)
                    wi, wo = _words(i_title), _words(o_title)
                    if wi.startswith(wo) or wo.startswith(wi):  # a prefix is never a pair: no typo there
                        i_title = o_title
                    for oid in orig_ids:
                        rows[oid - 1][2] = o_title
                iid = add(i_artist, with_marker(i_title, marker()), dur + rng.uniform(-2.7, 2.7))
                truth += [(oid, iid) for oid in orig_ids]
            elif kind < 0.0175:  # orphan instrumental: its original is not in the catalog
                for oid in orig_ids:
                    rows[oid - 1][2] = title + " Reprise Mix"
                add(artist, with_marker(title, marker()), dur)
            elif kind < 0.0180:  # duration far off
                add(artist, with_marker(title, marker()), dur + rng.uniform(20, 60))
            elif kind < 0.0185:  # numbered sibling: "X Part 2" original, "X Part 3 (Instrumental)"
                for oid in orig_ids:
                    rows[oid - 1][2] = f"{title} Part 2"
                add(artist, with_marker(f"{title} Part 3", marker()), dur)
            elif kind < 0.0190:  # prefix trap: "X" original, "X Word (Instrumental)"
                add(artist, with_marker(f"{title} {rng.choice(vocab).capitalize()}", marker()), dur)
            elif kind < 0.0195:  # instrumental of a version: pairs with the version only
                vt = with_marker(title, rng.choice(VERSIONS[:3]))
                vids = by_title.setdefault((artist, vt), [])
                vids.append(add(artist, vt, dur + 1.0))
                iid = add(artist, with_marker(vt, marker()), dur + 1.5)
                truth += [(vid, iid) for vid in vids if abs(rows[vid - 1][3] - (dur + 1.5)) <= 3.0]
    # Giant credits: many recordings of the same titles by different performers, each on its own album.
    for g in GIANTS:
        pool = [" ".join(w.capitalize() for w in rng.sample(vocab, rng.choice((2, 2, 3))))
                for _ in range(max(20, giant_rows // 300))]
        made = 0
        while made < giant_rows:
            title = (rng.choice(pool) if rng.random() < 0.5 else
                     " ".join(w.capitalize() for w in rng.sample(vocab, rng.choice((1, 2, 3, 4)))))
            dur = float(nrng.gamma(9.0, 25.0)) + 30.0
            album = f"{rng.choice(vocab).capitalize()} Sessions {counter[0] + 1}"
            oid = add(g, title, dur, album=album)
            made += 1
            if rng.random() < 0.01:  # the official instrumental, on the same album
                iid = add(g, with_marker(title, marker()), dur + rng.uniform(-2.0, 2.0), album=album)
                truth.append((oid, iid))
                made += 1
    # A few album names with a newline, a few bad rows.
    for i in range(0, len(rows), 9973):
        rows[i][4] = rows[i][4] + "\n(Deluxe)"
    bad = 0
    for i in range(5, len(rows), 4999):
        rows[i][3] = ""
        bad += 1
    bad_ids = {rows[i][0] for i in range(5, len(rows), 4999)}
    truth = [(o, i) for o, i in truth if o not in bad_ids and i not in bad_ids]
    # Exports are not sorted by artist: shuffle, keep n_rows.
    order = list(range(len(rows)))
    rng.shuffle(order)
    order = order[:n_rows]
    kept = {rows[i][0] for i in order}
    truth = [(o, i) for o, i in truth if o in kept and i in kept]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["track_id", "artist", "title", "duration_s", "album", "genre", "release_date", "label",
                    "audio_path"])
        for i in order:
            r = rows[i]
            w.writerow([f"T{r[0]:08d}"] + r[1:])
    os.replace(tmp, path)
    info = {"rows": len(order), "true_pairs": [[f"T{o:08d}", f"T{i:08d}"] for o, i in truth],
            "bad_rows": sum(1 for i in order if rows[i][0] in bad_ids)}
    Path(str(path) + ".truth.json").write_text(json.dumps(info))
    return info


# ----------------------------------------------------------------------------------------- measuring


def naive_baseline(path: str, out: str) -> None:
    """Strip the marker, exact join on (artist, title), |duration difference| <= 3 s (run as a subprocess)."""
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce")
    rx = r"\s*(?:-\s*)?[\(\[]?\s*(?:official\s+)?(?:instrumental|inst\.?|instr\.?|off vocal)(?:\s+(?:version|mix))?\s*[\)\]]?\s*$"
    marked = df["title"].str.contains(rx, case=False, regex=True)
    inst = df[marked].assign(base=lambda d: d["title"].str.replace(rx, "", case=False, regex=True))
    orig = df[~marked]
    m = inst.merge(orig, left_on=["artist", "base"], right_on=["artist", "title"], suffixes=("_i", "_o"))
    m = m[(m["duration_s_i"] - m["duration_s_o"]).abs() <= 3.0]
    pd.DataFrame({"original_id": m["track_id_o"], "instrumental_id": m["track_id_i"]}).to_parquet(out)


def run_measured(cmd: list[str]) -> tuple[float, float, int, float]:
    """(wall s, peak RSS of the process tree in MiB, return code, CPU s of the child); the tree is polled
    every 20 ms and combined with the kernel's max RSS of the child."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def poll():
        try:
            p = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                    peak[0] = max(peak[0], rss)
                except psutil.Error:
                    pass
                time.sleep(0.02)
        except psutil.Error:
            pass

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.stderr.write(err)
    peak_mib = max(peak[0] / 2**20, usage.ru_maxrss / 1024)
    return wall, peak_mib, proc.returncode, usage.ru_utime + usage.ru_stime


def pyarrow_read_seconds(path: str) -> float:
    """Best of two in-process ``pyarrow.csv.read_csv`` of the whole file (threads on), in a subprocess so
    this process stays small (a child forked from a big parent would report the parent's memory)."""
    code = (
        "import sys, time, pyarrow as pa, pyarrow.csv as c\n"
        "best = 1e9\n"
        "for _ in range(2):\n"
        "    t0 = time.perf_counter()\n"
        "    c.read_csv(sys.argv[1], parse_options=c.ParseOptions(newlines_in_values=True),\n"
        "               convert_options=c.ConvertOptions(column_types={'track_id': pa.string()}))\n"
        "    best = min(best, time.perf_counter() - t0)\n"
        "print(best)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def recall(cands: str, truth: set[tuple[str, str]]) -> tuple[float, int, int]:
    import pyarrow.parquet as pq

    t = pq.read_table(cands, columns=["original_id", "instrumental_id"])
    found = set(zip(t.column(0).to_pylist(), t.column(1).to_pylist()))
    del t
    hit = len(found & truth)
    return hit / max(1, len(truth)), hit, len(found - truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3, choices=range(1, 51), metavar="N",
                    help="miner runs, 1 to 50 (the best and median are shown)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive pandas baseline (minutes at 5M rows)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/vocalmine/bench_miner"))
    ap.add_argument("--naive-only", nargs=2, metavar=("CSV", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--generate-only", nargs=3, metavar=("ROWS", "SEED", "CSV"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.naive_only:
        naive_baseline(*args.naive_only)
        return
    if args.generate_only:
        generate(int(args.generate_only[0]), int(args.generate_only[1]), Path(args.generate_only[2]))
        return

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    csv_path = cache / f"catalog-n{args.rows}-s{args.seed}-v{GENERATOR_VERSION}.csv"
    truth_path = Path(str(csv_path) + ".truth.json")
    if not (csv_path.exists() and truth_path.exists()):
        t0 = time.perf_counter()  # in a subprocess: this process stays small for the measurements
        subprocess.run([sys.executable, __file__, "--generate-only", str(args.rows), str(args.seed), str(csv_path)],
                       check=True)
        print(f"generated {csv_path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    info = json.loads(truth_path.read_text())
    truth = {tuple(p) for p in info["true_pairs"]}
    size_mb = csv_path.stat().st_size / 1e6
    with open(csv_path, "rb") as fh:  # warm the page cache
        while fh.read(1 << 24):
            pass

    load_before = os.getloadavg()
    read_s = pyarrow_read_seconds(str(csv_path))
    bin_dir = Path(sys.executable).parent
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            wall, peak, rc, cpu = run_measured([str(bin_dir / "mine-pairs"), str(csv_path), "-o", tmp,
                                                "--metadata-only", "--no-report", "--no-progress"])
            if rc:
                raise SystemExit(f"mine-pairs failed with exit code {rc}")
            results.append((wall, peak, cpu))
        naive_out = os.path.join(tmp, "naive.parquet")
        nwall, npeak, nrc = float("nan"), float("nan"), 1
        if not args.no_naive:
            nwall, npeak, nrc, _ = run_measured([sys.executable, __file__, "--naive-only", str(csv_path), naive_out])
        rec, hit, extra = recall(os.path.join(tmp, "candidates.parquet"), truth)
        summary = json.loads(Path(tmp, "summary.json").read_text())["metadata"]
        nrec, nhit, nextra = recall(naive_out, truth) if nrc == 0 else (float("nan"), 0, 0)

    walls = sorted(w for w, _, _ in results)
    best, median = walls[0], walls[len(walls) // 2]
    peak = max(p for _, p, _ in results)
    cpu = min(c for _, _, c in results)
    load = os.getloadavg()
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load],
        "rows": info["rows"], "csv_mb": round(size_mb, 1), "true_pairs": len(truth),
        "miner_wall_s_best": round(best, 2), "miner_wall_s_median": round(median, 2),
        "rows_per_s": round(info["rows"] / best), "peak_mib": round(peak), "miner_cpu_s": round(cpu, 2),
        "pyarrow_read_s": round(read_s, 2),
        "ratio_to_pyarrow_read": round(best / read_s, 1),
        "recall": round(rec, 4), "found": hit, "extra_candidates": extra,
        "naive_wall_s": round(nwall, 2), "naive_peak_mib": round(npeak) if npeak == npeak else None,
        "naive_recall": round(nrec, 4),
        "naive_extra": nextra,
        "funnel": {k: summary[k] for k in ("rows_read", "rows_used", "rows_rejected", "marked", "blocks",
                                           "compared", "candidates")},
    }
    print(f"catalog: {info['rows']:,} rows, {size_mb:.0f} MB, {len(truth):,} planted true pairs")
    print(f"mine-pairs --metadata-only: best {best:.2f} s, median {median:.2f} s of {args.runs} "
          f"(wall, interpreter start included); {info['rows'] / best:,.0f} rows/s; peak memory {peak:,.0f} MiB; "
          f"CPU {cpu:.1f} s")
    print(f"pyarrow read_csv alone: {read_s:.2f} s -> miner/read = {best / read_s:.1f}x")
    print(f"recall of true pairs: miner {rec:.2%} ({hit:,}, {extra:,} candidates outside the planted set); "
          f"naive pandas exact match {nrec:.2%} in {nwall:.2f} s, peak {npeak:,.0f} MiB")
    print(f"load average (1/5/15 min): before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
          f"after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
