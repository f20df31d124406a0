"""Evaluate separations on songs with known stems: the model, REPET-SIM and other tools' estimates side by side.

Songs come from a layout reader (``evaluation.layouts``: demo truth, MUSDB18, MUSDB18-HQ, DSD100, iKala,
MIR-1K, MedleyDB-style folders) or from a shard folder's split (``shard_songs``: the pairs of the split, read
from the pairs table the shards were built from: mixture = the original, accompaniment = the instrumental
aligned onto it, vocals = mixture - accompaniment; as good as the pair's alignment).

Each *system* (``System``: the model, ``repet-sim``, a folder of estimates) separates every song; scores come
from ``evaluation.metrics`` (BSS Eval ``v3`` or ``v4``). By default the references and estimates are scored
at the model's rate (8192 Hz) in mono, the model being given the mono mixture at its rate (the paper's protocol);
``native_rate`` scores at the song's own rate (and channels, for v4), the model then separating each channel at
the song's rate as ``separate --full-band`` does (its 8192 Hz mask applied at the song's rate). REPET-SIM and estimate folders always work at the song's own rate.

A song that cannot be decoded, whose stems differ in length (``eval_layouts.LENGTH_TOLERANCE_S``, unless
``pad``), or that a system fails on, is a failure with its reason and is scored for no system, so every table
covers the same songs. A song whose true vocals are silent (instrumental only) is not scored with BSS Eval
(undefined): its row gives each system's vocal estimate level relative to the mixture (dB).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from features.audio import AudioError, load_aligned, resample
from features.patches import Alignment
from evaluation.layouts import (LENGTH_TOLERANCE_S, LAYOUTS, READERS, SongFiles, Stems, detect_layout,  # noqa: F401
                                   find_songs, select_subset)
from evaluation.metrics import (METRICS, SOURCES, STATS, level_db, mixture_sdr_of, score_song,  # noqa: F401
                                   silent_sources, summarize, summarize_levels, summary_markdown)
from evaluation.tables import EvalReport, write_report  # noqa: F401
from vocalmine import storage
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


@dataclass(frozen=True)
class PairSong:
    """A song given as an (original, instrumental) pair and its alignment (catalog_schemas convention)."""

    name: str
    original: Path
    instrumental: Path
    offset_s: float
    gain: float  # features.patches.Alignment.gain: polarity * 10 ** (gain_db / 20)
    subset: str | None = None
    alignment_map: str | None = None  # pairs.parquet `alignment_map` (segments, drift), when pairing wrote one

    def load(self, sample_rate: int = 8192, pad: bool = False) -> Stems:
        if self.alignment_map:
            from features.alignmap import load_aligned_map

            try:
                mix, acc, _, _ = load_aligned_map(str(self.original), str(self.instrumental), self.alignment_map,
                                                  self.gain, sample_rate)
            except ValueError as exc:  # an unreadable map: this song fails, the others are scored
                raise AudioError("bad-alignment-map", str(exc)) from exc
        else:
            mix, acc, _ = load_aligned(self.original, self.instrumental, self.offset_s, self.gain, sample_rate)
        return Stems(mix, (mix - acc).astype(np.float32), acc, sample_rate)

    def load_native(self, pad: bool = False) -> Stems:
        """Mono at the original's own rate."""
        import soundfile as sf

        try:
            rate = int(sf.info(str(self.original)).samplerate)
        except Exception:  # not a libsndfile format: the decoder says what is wrong, or gives the rate
            from features.audio import decode
            rate = decode(self.original).sample_rate
        return self.load(rate)


def shard_songs(shards_dir: str | os.PathLike, split: str = "test") -> list[PairSong]:
    """The pairs of ``split`` of a shard folder as songs (see the module doc). ``UserInputError`` when the
    manifest, the split or the pairs table is missing, or the split has no pairs."""
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
    if "alignment_map" in pq.read_schema(pairs_path).names:  # tables written before the alignment map lack it
        cols.append("alignment_map")
    rows = {r["pair_id"]: r for r in pq.read_table(pairs_path, columns=cols).to_pylist()}
    songs = []
    for pid in wanted:
        r = rows.get(pid)
        if r is None:
            raise UserInputError(f"pair {pid} of split {split!r} is not in {pairs_path}")
        alignment = Alignment(float(r["offset_s"] or 0.0), float(r["gain_db"] or 0.0), int(r["polarity"] or 1))
        base = pairs_path.parent
        songs.append(PairSong(pid, base / r["original_audio_path"], base / r["instrumental_audio_path"],
                              alignment.offset_s, alignment.gain, split, r.get("alignment_map")))
    return songs


def load_stems(song: SongFiles, sample_rate: int = 8192) -> Stems:
    """Decode a song's files, mono at ``sample_rate``. Raises ``AudioError``."""
    return song.load(sample_rate)


def model_estimator(vocals_model, instrumental_model=None, batch_size: int = 8, full_band: bool = False) -> Estimator:
    """``(mixture [samples] or [channels, samples], rate) -> {"vocals", "accompaniment"}`` (same shape) with
    ``separation.separate.separate_waveform`` (and its combination of the two models when both are given);
    ``full_band``: the mask applied at the input's rate (``separate --full-band``)."""
    from separation.separate import separate_waveform

    def estimate(mix: np.ndarray, rate: int) -> dict[str, np.ndarray]:
        sep = separate_waveform(np.atleast_2d(mix), rate, vocals_model, instrumental_model, full_band=full_band,
                                batch_size=batch_size)
        shape = np.shape(mix)
        return {"vocals": sep.vocals.reshape(shape), "accompaniment": sep.instrumental.reshape(shape)}

    return estimate


def repet_system() -> System:
    """REPET-SIM (``separation.repet``) at the song's own rate."""
    from separation.repet import repet_sim

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
    x = x[..., :n]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]).astype(np.float32)


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
    import soundfile as sf
    from tqdm import tqdm

    from vocalmine.atomic import atomic_path

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
                    for name, key in (("vocals", "vocals"), ("instrumental", "accompaniment")):
                        final = storage.path(audio_dir) / song.name / f"{name}.wav"
                        final.parent.mkdir(parents=True, exist_ok=True)
                        with atomic_path(final) as tmp:
                            sf.write(tmp, np.asarray(est[key], np.float32).T, scored.sample_rate, subtype="FLOAT",
                                     format="WAV")
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
    from evaluation.estimates import FolderEstimates

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
    systems: list[System] = []
    meta: dict = {"data": str(data), "layout": chosen, "subset": subset or ("test" if chosen == "shards" else None),
                  "metrics": metrics, "native_rate": native_rate, "pad": pad}
    sample_rate = 8192
    title = f"on {data.name}"
    if model is not None:
        from separation.separate import load_model

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
