"""BSS Eval of separated songs, as the paper measures (Jansson et al. 2017, section 4.2, equation 2).

Per song, at the model's rate (8192 Hz), mono: ``mir_eval.separation.bss_eval_sources`` (BSS Eval v3, whole
song, no permutation) of the estimates ``[vocals, accompaniment]`` against the true stems gives SDR, SIR and
SAR per source; the same call with the mixture as both estimates gives SDR(mixture), and
``NSDR = SDR(estimate) - SDR(mixture)``. Whole songs are scored in one call: at 8192 Hz scoring a song takes about 0.6 s for
a 30 s song and 1.1 s for a 2 min song on this machine (two sources), so no segmenting is needed.

Songs, from a folder (``find_songs``): every folder under DATA (DATA itself included) holding a ``mixture`` and a ``vocals``
audio file (any extension the project decodes). The accompaniment is the ``accompaniment`` file when there is
one, else the sum of ``drums``, ``bass`` and ``other`` (MUSDB18-HQ), else ``mixture - vocals``. This covers the
demo corpus truth (``truth/stems/<song>/{mixture,vocals,accompaniment}.wav``) and MUSDB18-HQ folders.

Songs, from a shard folder (``shard_songs``): the pairs of one split (the manifest's ``pair_ids``), read from the
pairs table the shards were built from (the manifest's ``source.pairs_path``): mixture = the original,
accompaniment = the instrumental aligned onto it (``features.audio.shift_and_scale``), vocals = mixture -
accompaniment. That is the truth the shards' targets were derived from, as good as the pair's alignment.

Summary (the paper's Tables 4 and 5): per source and metric, mean, SD (sample, ddof=1), min, max, median.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from features.audio import AudioError, load_aligned, load_mono
from features.patches import Alignment
from vocalmine import storage
from vocalmine.atomic import atomic_path, write_json
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

SOURCES = ("vocals", "accompaniment")
METRICS = ("nsdr", "sdr", "sir", "sar")
STATS = ("mean", "sd", "min", "max", "median")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".m4a", ".aac", ".aiff", ".aif")
#: Level of the white noise that replaces an all-zero estimate (BSS Eval cannot score silence): -180 dBFS.
SILENT_ESTIMATE_NOISE = 1e-9


@dataclass(frozen=True)
class SongFiles:
    """A song to evaluate: its name and files. ``accompaniment`` is a list of files summed (empty: mix - vocals)."""

    name: str
    mixture: Path
    vocals: Path
    accompaniment: tuple[Path, ...] = ()


    def load(self, sample_rate: int = 8192) -> "Stems":
        return load_stems(self, sample_rate)


@dataclass(frozen=True)
class PairSong:
    """A song given as an (original, instrumental) pair and its alignment (catalog_schemas convention)."""

    name: str
    original: Path
    instrumental: Path
    offset_s: float
    gain: float  # features.patches.Alignment.gain: polarity * 10 ** (gain_db / 20)

    def load(self, sample_rate: int = 8192) -> "Stems":
        mix, acc, _ = load_aligned(self.original, self.instrumental, self.offset_s, self.gain, sample_rate)
        return Stems(mix, (mix - acc).astype(np.float32), acc, sample_rate)


@dataclass
class Stems:
    """Mono signals at one rate, all ``[samples]`` of the same length."""

    mixture: np.ndarray
    vocals: np.ndarray
    accompaniment: np.ndarray
    sample_rate: int


def _audio_by_stem(folder: Path) -> dict[str, Path]:
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS:
            files.setdefault(p.stem.lower(), p)
    return files


def find_songs(data_dir: str | os.PathLike) -> list[SongFiles]:
    """Song folders under ``data_dir`` (sorted by path; see the module doc). ``UserInputError`` when none."""
    root = Path(data_dir)
    if not root.is_dir():
        raise UserInputError(f"{root} is not a folder")
    songs = []
    for folder in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
        files = _audio_by_stem(folder)
        if "mixture" not in files or "vocals" not in files:
            continue
        if "accompaniment" in files:
            acc: tuple[Path, ...] = (files["accompaniment"],)
        elif all(k in files for k in ("drums", "bass", "other")):
            acc = (files["drums"], files["bass"], files["other"])
        else:
            acc = ()
        name = folder.name if folder != root else root.name
        songs.append(SongFiles(name, files["mixture"], files["vocals"], acc))
    if not songs:
        raise UserInputError(
            f"no songs under {root}: expected folders with mixture.* and vocals.* audio files "
            "(and accompaniment.*, or drums/bass/other)"
        )
    names = [s.name for s in songs]
    if len(set(names)) != len(names):  # same folder name in two places: qualify by relative path
        songs = [SongFiles(str(s.mixture.parent.relative_to(root)) or s.name, s.mixture, s.vocals, s.accompaniment)
                 for s in songs]
    return songs


def shard_songs(shards_dir: str | os.PathLike, split: str = "test") -> list[PairSong]:
    """The pairs of ``split`` of a shard folder as songs (see the module doc). ``UserInputError`` when the
    manifest, the split or the pairs table is missing, or the split has no pairs."""
    import json

    import pyarrow.parquet as pq

    root = Path(shards_dir)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise UserInputError(f"{manifest_path} is missing: {root} is not a finished shard build")
    manifest = json.loads(manifest_path.read_text())
    splits = manifest.get("splits", {})
    if split not in splits:
        raise UserInputError(f"split {split!r} is not in {manifest_path} (splits: {', '.join(splits) or 'none'})")
    wanted = list(splits[split].get("pair_ids", []))
    if not wanted:
        raise UserInputError(f"split {split!r} of {root} has no pairs to evaluate")
    pairs_path = Path(manifest.get("source", {}).get("pairs_path", ""))
    if not pairs_path.is_file():
        raise UserInputError(f"the pairs table {pairs_path} that {root} was built from is missing")
    cols = ["pair_id", "original_audio_path", "instrumental_audio_path", "offset_s", "gain_db", "polarity"]
    rows = {r["pair_id"]: r for r in pq.read_table(pairs_path, columns=cols).to_pylist()}
    songs = []
    for pid in wanted:
        r = rows.get(pid)
        if r is None:
            raise UserInputError(f"pair {pid} of split {split!r} is not in {pairs_path}")
        alignment = Alignment(float(r["offset_s"] or 0.0), float(r["gain_db"] or 0.0), int(r["polarity"] or 1))
        base = pairs_path.parent
        songs.append(PairSong(pid, base / r["original_audio_path"], base / r["instrumental_audio_path"],
                              alignment.offset_s, alignment.gain))
    return songs


def load_stems(song: SongFiles, sample_rate: int = 8192) -> Stems:
    """Decode a song's files, mono at ``sample_rate``, cut to the shortest. Raises ``AudioError``."""
    mix = load_mono(song.mixture, sample_rate)
    voc = load_mono(song.vocals, sample_rate)
    accs = [load_mono(p, sample_rate) for p in song.accompaniment]
    n = min([len(mix), len(voc), *(len(a) for a in accs)])
    mix, voc = mix[:n], voc[:n]
    acc = np.sum([a[:n] for a in accs], axis=0).astype(np.float32) if accs else (mix - voc)
    return Stems(mix, voc, acc, sample_rate)


def bss_eval(references: np.ndarray, estimates: np.ndarray) -> dict[str, np.ndarray]:
    """SDR, SIR, SAR (dB) per source of ``estimates`` vs ``references`` (both ``[sources, samples]``).

    ``mir_eval.separation.bss_eval_sources`` without permutation; an all-zero estimate is replaced by white
    noise at ``SILENT_ESTIMATE_NOISE`` so that it gets a (very low) score instead of an error.
    """
    import mir_eval.separation

    est = np.array(estimates, dtype=np.float64)
    for i in range(len(est)):
        if not np.any(est[i]):
            noise = np.random.default_rng([0x5111E47, i]).standard_normal(est.shape[1])
            est[i] = SILENT_ESTIMATE_NOISE * noise
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
            np.asarray(references, np.float64), est, compute_permutation=False
        )
    return {"sdr": sdr, "sir": sir, "sar": sar}


def score_song(stems: Stems, estimates: dict[str, np.ndarray]) -> dict[str, float]:
    """Metrics of one song: ``{source}_{metric}`` for every source and metric, plus ``{source}_sdr_mixture``.

    ``estimates``: ``{"vocals": [samples], "accompaniment": [samples]}`` at ``stems.sample_rate``.
    Raises ``ValueError`` when a true stem is silent (BSS Eval is undefined then).
    """
    refs = np.stack([stems.vocals, stems.accompaniment])
    for name, ref in zip(SOURCES, refs):
        if not np.any(ref):
            raise ValueError(f"silent-reference: the true {name} are all zeros")
    est = np.stack([_fit1(estimates[s], refs.shape[1]) for s in SOURCES])
    got = bss_eval(refs, est)
    base = bss_eval(refs, np.stack([stems.mixture, stems.mixture]))
    row: dict[str, float] = {}
    for i, s in enumerate(SOURCES):
        for m in ("sdr", "sir", "sar"):
            row[f"{s}_{m}"] = float(got[m][i])
        row[f"{s}_sdr_mixture"] = float(base["sdr"][i])
        row[f"{s}_nsdr"] = float(got["sdr"][i] - base["sdr"][i])
    return row


def _fit1(x: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(x, np.float64).reshape(-1)
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


Estimator = Callable[[np.ndarray, int], dict[str, np.ndarray]]


def model_estimator(vocals_model, instrumental_model=None, batch_size: int = 8) -> Estimator:
    """``(mono mixture [samples], rate) -> {"vocals", "accompaniment"}`` with the models of ``training.separate``."""
    from training.separate import separate_waveform

    def estimate(mix: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        sep = separate_waveform(mix[None], rate, vocals_model, instrumental_model, batch_size=batch_size)
        return {"vocals": sep.vocals[0], "accompaniment": sep.instrumental[0]}

    return estimate


@dataclass
class EvalReport:
    """Per-song rows, failures (song, reason), the summary, and where they were written."""

    rows: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0
    json_path: Path | None = None
    markdown_path: Path | None = None


def summarize(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """``{source: {metric: {mean, sd, min, max, median}}}`` over the songs' rows (``n`` songs)."""
    out: dict = {}
    for s in SOURCES:
        out[s] = {}
        for m in METRICS:
            v = np.array([r[f"{s}_{m}"] for r in rows], np.float64)
            if len(v) == 0:
                out[s][m] = {k: math.nan for k in STATS}
                continue
            out[s][m] = {
                "mean": float(v.mean()),
                "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "min": float(v.min()),
                "max": float(v.max()),
                "median": float(np.median(v)),
            }
    return out


def summary_markdown(summary: dict, songs: int, title: str = "") -> str:
    """The summary as a Markdown table: one row per (source, metric), dB."""
    lines = [f"{title} ({songs} songs, dB)" if title else f"{songs} songs, dB", "",
             "| source | metric | mean | SD | min | max | median |", "|---|---|---:|---:|---:|---:|---:|"]
    for s in SOURCES:
        for m in METRICS:
            st = summary[s][m]
            lines.append(f"| {s} | {m.upper()} | " + " | ".join(f"{st[k]:.2f}" for k in STATS) + " |")
    return "\n".join(lines) + "\n"


def evaluate_songs(
    songs: list,
    estimator: Estimator,
    *,
    sample_rate: int = 8192,
    progress: bool = True,
    audio_dir: str | os.PathLike | None = None,
) -> EvalReport:
    """Score every song; a song that cannot be decoded or scored is a failure with its reason, not a crash.

    ``audio_dir``: also write each song's estimates, as scored (mono, ``sample_rate``), to
    ``audio_dir/<song>/{vocals,instrumental}.wav``.
    """
    import soundfile as sf
    from tqdm import tqdm

    report = EvalReport()
    t0 = time.perf_counter()
    for song in tqdm(songs, desc="evaluate", unit="song", disable=not progress):
        try:
            stems = song.load(sample_rate)
            est = estimator(stems.mixture, sample_rate)
            if audio_dir is not None:
                for name, key in (("vocals", "vocals"), ("instrumental", "accompaniment")):
                    final = storage.path(audio_dir) / song.name / f"{name}.wav"
                    final.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(final) as tmp:
                        sf.write(tmp, np.asarray(est[key], np.float32), sample_rate, subtype="FLOAT", format="WAV")
            row = {"song": song.name, "seconds": len(stems.mixture) / sample_rate}
            row.update(score_song(stems, est))
            report.rows.append(row)
        except AudioError as exc:
            report.failures.append({"song": song.name, "reason": f"{exc.reason}: {exc.detail}"})
        except ValueError as exc:
            report.failures.append({"song": song.name, "reason": str(exc)})
    for f in report.failures:
        log.warning("song %s not scored: %s", f["song"], f["reason"])
    report.summary = summarize(report.rows)
    report.seconds = time.perf_counter() - t0
    return report


def write_report(report: EvalReport, out_dir: str | os.PathLike, meta: dict | None = None, title: str = "") -> EvalReport:
    """``out_dir/evaluation.json`` (rows, failures, summary, meta) and ``out_dir/evaluation.md`` (tables)."""
    out = storage.path(out_dir)  # a Path, or a URL (vocalmine.urlpath.URLPath)
    out.mkdir(parents=True, exist_ok=True)
    report.json_path = write_json(
        {"meta": meta or {}, "summary": report.summary, "songs": report.rows, "failures": report.failures,
         "seconds": report.seconds},
        out / "evaluation.json",
    )
    md = [summary_markdown(report.summary, len(report.rows), title), "", "Per song (dB):", "",
          "| song | s | vocals NSDR | vocals SDR | vocals SIR | vocals SAR | acc. NSDR | acc. SDR | acc. SIR | acc. SAR |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report.rows:
        md.append(f"| {r['song']} | {r['seconds']:.1f} | " + " | ".join(
            f"{r[f'{s}_{m}']:.2f}" for s in SOURCES for m in METRICS) + " |")
    if report.failures:
        md += ["", "Not scored:", ""] + [f"- {f['song']}: {f['reason']}" for f in report.failures]
    report.markdown_path = out / "evaluation.md"
    with atomic_path(report.markdown_path) as tmp:
        tmp.write_text("\n".join(md) + "\n")
    return report


def evaluate(
    data: str | os.PathLike,
    model: str | os.PathLike,
    instrumental_model: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    split: str = "test",
    device: str = "auto",
    batch_size: int = 8,
    progress: bool = True,
    audio_dir: str | os.PathLike | None = None,
) -> EvalReport:
    """Evaluate a vocals model (and optionally an instrumental model) on ``data`` (a folder of songs or a shard
    folder, see the module doc); writes ``evaluation.json`` / ``evaluation.md`` to ``out_dir`` when given."""
    from training.separate import load_model

    voc = load_model(model, target="vocals", device=device)
    inst = load_model(instrumental_model, target="instrumental", device=device) if instrumental_model else None
    data = Path(data)
    songs = shard_songs(data, split) if (data / "manifest.json").is_file() else find_songs(data)
    report = evaluate_songs(songs, model_estimator(voc, inst, batch_size), sample_rate=voc.params.sample_rate,
                            progress=progress, audio_dir=audio_dir)
    if not report.rows:
        raise UserInputError(f"no song of {data} could be scored: "
                             + "; ".join(f"{f['song']}: {f['reason']}" for f in report.failures[:5]))
    meta = {"data": str(data), "model": str(voc.path), "model_step": voc.step, "arch": voc.arch,
            "instrumental_model": str(inst.path) if inst else None, "sample_rate": voc.params.sample_rate,
            "split": split if (data / "manifest.json").is_file() else None}
    if out_dir is not None:
        write_report(report, out_dir, meta, title=f"{voc.arch} step {voc.step} on {data.name}")
    return report
