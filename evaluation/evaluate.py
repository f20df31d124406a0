"""Evaluate separations on songs with known stems: the model, REPET-SIM and other tools' estimates side by side.

Songs come from a layout reader (``evaluation.layouts``: demo truth, MUSDB18, MUSDB18-HQ, DSD100, iKala,
MIR-1K, MedleyDB-style folders) or from a shard folder's split (``evaluation.shard_songs``: the pairs the split
was built from).

Each *system* (``System``: the model, ``repet-sim``, a folder of estimates) separates every song; scores come
from ``evaluation.metrics`` (BSS Eval ``v3`` or ``v4``). By default the references and estimates are scored
at the model's rate (8192 Hz) in mono, the model being given the mono mixture at its rate (the paper's protocol);
``native_rate`` scores at the song's own rate (and channels, for v4), the model then separating each channel at
the song's rate as ``separate --full-band`` does (its 8192 Hz mask applied at the song's rate). REPET-SIM and
estimate folders always work at the song's own rate.

A song that cannot be decoded, whose stems differ in length (``evaluation.layouts.LENGTH_TOLERANCE_S``, unless
``pad``), or that a system fails on, is a failure with its reason and is scored for no system, so every table
covers the same songs. A song whose true vocals are silent (instrumental only) is not scored with BSS Eval
(undefined): its row gives each system's vocal estimate level relative to the mixture (dB).
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from tqdm import tqdm

from evaluation.estimates import FolderEstimates
from evaluation.layouts import LAYOUTS, LENGTH_TOLERANCE_S, READERS, detect_layout, select_subset
from evaluation.metrics import (SOURCES, level_db, mixture_sdr_of, score_song, silent_sources, summarize,
                                summarize_levels)
from evaluation.shard_songs import shard_songs
from evaluation.tables import EvalReport, write_report
from features.audio import AudioError, fit_length, resample
from separation.repet import repet_sim
from separation.separate import load_model, separate_waveform
from vocalmine import provenance, storage
from vocalmine.atomic import atomic_path
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

#: ``(mixture [samples] or [channels, samples], rate) -> {"vocals", "accompaniment"}`` at that rate.
Estimator = Callable[[np.ndarray, int], dict[str, np.ndarray]]


@dataclass(frozen=True)
class System:
    """A separation to score: ``estimate(mixture, rate, song_name) -> {"vocals", "accompaniment"}`` at ``rate``.

    ``native_input``: it gets the song at its own rate and channels, else the scored (mono, scoring-rate) mix.
    """

    name: str
    estimate: Callable[[np.ndarray, int, str], dict[str, np.ndarray]]
    native_input: bool = False


def model_estimator(vocals_model, instrumental_model=None, batch_size: int = 8, full_band: bool = False) -> Estimator:
    """``(mixture [samples] or [channels, samples], rate) -> {"vocals", "accompaniment"}`` (same shape) with
    ``separation.separate.separate_waveform`` (and its combination of the two models when both are given);
    ``full_band``: the mask applied at the input's rate (``separate --full-band``)."""
    def estimate(mix: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        sep = separate_waveform(np.atleast_2d(mix), rate, vocals_model, instrumental_model, full_band=full_band,
                                batch_size=batch_size)
        shape = np.shape(mix)
        return {"vocals": sep.vocals.reshape(shape), "accompaniment": sep.instrumental.reshape(shape)}

    return estimate


def repet_system() -> System:
    """REPET-SIM (``separation.repet``) at the song's own rate."""
    return System("repet-sim", lambda mix, rate, song: repet_sim(mix, rate), native_input=True)


def _conform(est: np.ndarray, rate_in: int, like: np.ndarray, rate: int, pad: bool, what: str) -> np.ndarray:
    """An estimate at ``rate_in`` made like ``like`` (rate, channels, length); length checked as the stems'."""
    x = np.asarray(est, np.float32)
    x = resample(x, rate_in, rate) if rate_in != rate else x
    if np.ndim(like) == 1 and x.ndim == 2:
        x = x.mean(axis=0, dtype=np.float32)
    elif np.ndim(like) == 2:
        x = np.atleast_2d(x)
        if x.shape[0] != like.shape[0]:
            x = np.broadcast_to(x.mean(axis=0, keepdims=True), (like.shape[0], x.shape[1]))
    n, m = like.shape[-1], x.shape[-1]
    if abs(n - m) > LENGTH_TOLERANCE_S * rate and not pad:
        raise AudioError("length-mismatch", f"{what} estimate {m / rate:.3f} s against the mixture's {n / rate:.3f} s "
                         f"(more than {LENGTH_TOLERANCE_S} s apart; --pad zero-pads or cuts it)")
    return fit_length(x, n).astype(np.float32)


#: ``--write-audio DIR``: ``DIR/<song>/<name>.wav`` for each (name, estimate key).
AUDIO_FILES = (("vocals", "vocals"), ("instrumental", "accompaniment"))


def write_estimates(audio_dir: str | os.PathLike, song: str, est: dict[str, np.ndarray], rate: int) -> None:
    """``audio_dir/<song>/{vocals,instrumental}.wav`` (32-bit float WAV at ``rate``), each written whole and
    recorded as this project's (``vocalmine.provenance``), so a later run may replace it and nothing else.
    The WAV is made in memory: a full disk is an ``OSError`` naming the file, not a libsndfile "System error"."""
    folder = storage.path(audio_dir) / song
    for name, key in AUDIO_FILES:
        buf = io.BytesIO()
        sf.write(buf, np.asarray(est[key], np.float32).T, rate, subtype="FLOAT", format="WAV")
        with atomic_path(folder / f"{name}.wav") as tmp:
            tmp.write_bytes(buf.getvalue())
        provenance.record(folder, f"{name}.wav")


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def check_audio_dir(audio_dir: str | os.PathLike, data: Path, songs: list) -> None:
    """Refuse a ``--write-audio`` folder that lies inside the dataset (or holds it), or whose song folders hold
    files of those names that this project did not write: ``UserInputError`` saying what was found."""
    if not storage.is_url(audio_dir):
        where, root = Path(audio_dir).resolve(), data.resolve()
        if _inside(where, root) or _inside(root, where):
            raise UserInputError(f"--write-audio {audio_dir} {'lies inside' if _inside(where, root) else 'holds'} "
                                 f"the dataset {data}: its stems could be replaced; choose a folder outside it")
    foreign = []
    for song in songs:
        folder = storage.path(audio_dir) / song.name
        ours = provenance.load(folder)
        foreign += [str(folder / f"{name}.wav") for name, _ in AUDIO_FILES
                    if f"{name}.wav" not in ours and (folder / f"{name}.wav").exists()]
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        raise UserInputError(f"--write-audio {audio_dir}: {', '.join(foreign[:3])}{more} already exist and were not "
                             "written by evaluate (no record in the folder's .provenance.json); nothing is "
                             "replaced: choose another folder, or move those files away")


def _systems(estimator) -> list[System]:
    if isinstance(estimator, System):
        return [estimator]
    if isinstance(estimator, (list, tuple)):
        return [s for e in estimator for s in _systems(e)]
    return [System("model", lambda mix, rate, song: estimator(mix, rate))]


def evaluate_songs(
    songs: list,
    estimator,
    *,
    sample_rate: int = 8192,
    progress: bool = True,
    audio_dir: str | os.PathLike | None = None,
    metrics: str = "v3",
    native_rate: bool = False,
    pad: bool = False,
) -> EvalReport:
    """Score every song for every system (``estimator``: an ``Estimator``, a ``System`` or a list; the first is
    the primary, whose rows are ``report.rows``). See the module doc for failures and instrumental-only songs.

    ``audio_dir``: also write the primary system's estimates, as scored, to ``audio_dir/<song>/{vocals,
    instrumental}.wav``.
    """
    systems = _systems(estimator)
    report = EvalReport(metrics=metrics, systems={s.name: {"rows": [], "instrumental_only": []} for s in systems})
    t0 = time.perf_counter()
    for song in tqdm(songs, desc="evaluate", unit="song", disable=not progress):
        try:
            native = song.load_native(pad)
            scored = native if native_rate else native.to(sample_rate, mono=True)
            if native_rate and metrics == "v3":  # bss_eval_sources scores one channel: the mono mix
                scored = native.to(native.sample_rate, mono=True)
            seconds = np.shape(scored.mixture)[-1] / scored.sample_rate
            silent = silent_sources(scored)
            if "accompaniment" in silent:
                raise ValueError("silent-reference: the true accompaniment are all zeros")
            rows, baseline = {}, None
            for system in systems:
                inp = native if system.native_input else scored
                try:
                    raw = system.estimate(inp.mixture, inp.sample_rate, song.name)
                    est = {k: _conform(raw[k], inp.sample_rate, scored.mixture, scored.sample_rate, pad, k)
                           for k in SOURCES}
                except UserInputError:
                    raise
                except Exception as exc:  # one system failing on one song fails that song, never the run
                    raise ValueError(f"{system.name}: {exc}") from exc
                if audio_dir is not None and system is systems[0]:
                    write_estimates(audio_dir, song.name, est, scored.sample_rate)
                row = {"song": song.name, "seconds": seconds}
                if "vocals" in silent:
                    row["vocals_level_db"] = level_db(est["vocals"], scored.mixture)
                else:
                    baseline = baseline if baseline is not None else mixture_sdr_of(scored, metrics)
                    row.update(score_song(scored, est, metrics, baseline))
                rows[system.name] = row
            for name, row in rows.items():
                report.systems[name]["instrumental_only" if "vocals" in silent else "rows"].append(row)
        except AudioError as exc:
            report.failures.append({"song": song.name, "reason": f"{exc.reason}: {exc.detail}"})
        except ValueError as exc:
            report.failures.append({"song": song.name, "reason": str(exc)})
    for f in report.failures:
        log.warning("song %s not scored: %s", f["song"], f["reason"])
    for s in report.systems.values():
        s["summary"] = summarize(s["rows"])
        s["levels"] = summarize_levels(s["instrumental_only"])
    primary = report.systems[systems[0].name]
    report.rows, report.summary, report.primary = primary["rows"], primary["summary"], systems[0].name
    report.seconds = time.perf_counter() - t0
    return report


def evaluate(
    data: str | os.PathLike,
    model: str | os.PathLike | None = None,
    instrumental_model: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    layout: str = "auto",
    subset: str | None = None,
    split: str | None = None,
    estimates: str | os.PathLike | None = None,
    metrics: str = "v3",
    native_rate: bool = False,
    pad: bool = False,
    reference: bool = True,
    device: str = "auto",
    batch_size: int = 8,
    progress: bool = True,
    audio_dir: str | os.PathLike | None = None,
) -> EvalReport:
    """Evaluate a vocals model (and optionally an instrumental model) and/or a folder of ``estimates`` on
    ``data`` (``layout``: see ``evaluation.layouts``; ``subset``: a split/subset of it, ``split`` the older
    name), beside REPET-SIM unless ``reference`` is False. Writes ``evaluation.json`` / ``evaluation.md`` to
    ``out_dir`` when given."""
    if model is None and estimates is None:
        raise UserInputError("nothing to evaluate: give --model and/or --estimates")
    data = Path(data)
    if not data.is_dir():
        raise UserInputError(f"{data} is not a folder")
    if layout not in LAYOUTS:
        raise UserInputError(f"unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    chosen = detect_layout(data) if layout == "auto" else layout
    subset = subset if subset is not None else split
    if chosen == "shards":
        songs = shard_songs(data, subset or "test")
    else:
        songs = select_subset(READERS[chosen](data), subset)
    if audio_dir is not None:
        check_audio_dir(audio_dir, data, songs)
    systems: list[System] = []
    meta: dict = {"data": str(data), "layout": chosen, "subset": subset or ("test" if chosen == "shards" else None),
                  "metrics": metrics, "native_rate": native_rate, "pad": pad}
    sample_rate = 8192
    title = f"on {data.name}"
    if model is not None:
        voc = load_model(model, target="vocals", device=device)
        inst = load_model(instrumental_model, target="instrumental", device=device) if instrumental_model else None
        fn = model_estimator(voc, inst, batch_size, full_band=native_rate)
        systems.append(System(f"{voc.arch}", lambda mix, rate, song: fn(mix, rate), native_input=native_rate))
        sample_rate = voc.params.sample_rate
        meta.update({"model": str(voc.path), "model_step": voc.step, "arch": voc.arch,
                     "instrumental_model": str(inst.path) if inst else None})
        title = f"{voc.arch} step {voc.step} on {data.name}"
    if estimates is not None:
        systems.append(System(f"estimates:{Path(estimates).name}", FolderEstimates(estimates), native_input=True))
        meta["estimates"] = str(estimates)
    if reference:
        systems.append(repet_system())
    meta["sample_rate"] = "native" if native_rate else sample_rate
    meta["split"] = meta["subset"] if chosen == "shards" else None
    report = evaluate_songs(songs, systems, sample_rate=sample_rate, progress=progress, audio_dir=audio_dir,
                            metrics=metrics, native_rate=native_rate, pad=pad)
    if not report.rows and not report.systems[report.primary]["instrumental_only"]:
        raise UserInputError(f"no song of {data} could be scored: "
                             + "; ".join(f"{f['song']}: {f['reason']}" for f in report.failures[:5]))
    if out_dir is not None:
        write_report(report, out_dir, meta, title=title)
    return report
