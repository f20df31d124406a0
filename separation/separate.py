"""Separate songs with trained models: the mask on overlapping patches, the mixture's phase, the inverse STFT.

Pipeline for one song (``separate_waveform`` for a song in memory, ``separate_file`` for a file; both stream it
in blocks through ``separation.engine``, so memory stays flat whatever the song's length, and give exactly what
one pass over the whole song gives):

1. The mono mix (channel mean) at the model's rate (8192 Hz) -> ``features.stft.stft`` -> magnitude
   ``[512, frames]`` (Nyquist dropped), divided by its maximum over the song (the shards' per-track
   normalisation: a first pass over the input finds it).
2. The mask (``separation.masks.MaskStream``): patches of 128 frames every 64 (50 % overlap), 64 frames of zero
   padding on both ends so every frame is covered twice; the masks are blended with a periodic Hann window over
   each patch, whose copies at 50 % overlap sum to exactly 1, so the blend is a cross-fade with no seams.
3. The mask gets a 513th row for the Nyquist bin, a copy of the 512th (the highest bin the model sees).
4. Each channel of the input is masked (the mono mask on every channel, each channel's own phase):
   - default: at the model's rate, STFT, ``mask * X``, inverse STFT, then resampled to the input's rate;
   - ``full_band``: the mask is interpolated (linearly, in seconds and Hz) onto the STFT of the channel at the
     input's own rate (window and hop scaled to the same durations), so the output keeps the input's bandwidth.
     Above the model's band (4096 Hz at 8192 Hz) each frame gets the mean of its mask over the top octave
     (2048-4096 Hz): vocal activity up there follows vocal activity below.
5. Instrumental: from ``instrumental_model``'s own mask when given, else the mixture minus the vocals (at the
   rate the masking ran at, so the two add up to the mixture's band that was processed). With both models the
   two masks are combined (``combine_masks``): ``wiener`` (default, measured best in docs/training.md: the
   ratio of their squares, a single-channel Wiener filter of the two estimates ``m_v |X|`` and ``m_i |X|``),
   ``sum-to-one`` (each mask divided by their sum), or ``independent`` (each mask as it is).

Outputs have the input's sample rate, channel count and exact length; ``separate_file`` writes them as they
come, each to a temporary name renamed when whole.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from features.audio import AudioError
from features.stft import StftParams, stft
from separation.engine import STEMS, Plan, magnitude_scale, separate_stream
from separation.masks import (COMBINE, PATCH_FRAMES, PATCH_HOP, combine_masks, full_band_params, patch_window,
                              predict_mask, upsample_mask, with_nyquist)
from separation.names import check_name, default_name, output_names
from separation.sources import BLOCK, ArraySource, RestartScan, open_source
from training.checkpoint import load_checkpoint
from training.distributed import resolve_device
from training.model import UNet, UNetConfig
from vocalmine import storage
from vocalmine.atomic import atomic_path
from vocalmine.errors import UserInputError

__all__ = ["COMBINE", "PATCH_FRAMES", "PATCH_HOP", "LoadedModel", "Separated", "combine_masks", "full_band_params",
           "load_model", "output_names", "patch_window", "predict_mask", "separate_file", "separate_waveform",
           "song_mask", "upsample_mask", "with_nyquist"]

log = logging.getLogger(__name__)

@dataclass
class LoadedModel:
    """A model ready to predict masks, with what it was trained for."""

    model: UNet
    target: str
    arch: str
    params: StftParams
    device: torch.device
    path: Path
    step: int


def load_model(path: str | os.PathLike, *, target: str | None = None, device: str | torch.device = "cpu",
               which: str = "best") -> LoadedModel:
    """Rebuild the model of a checkpoint (run folder or file) in eval mode. ``UserInputError`` on a wrong target.

    A run folder gives its best checkpoint by validation loss (``best.pt``) when it has one, else the latest
    (``which="latest"``: always the latest)."""
    dev = resolve_device(device) if isinstance(device, str) else device
    ckpt = load_checkpoint(path, target=target, which=which)
    model = UNet(UNetConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    model.to(dev).eval()
    p = ckpt["stft"]
    params = StftParams(sample_rate=int(p["sample_rate"]), n_fft=int(p["n_fft"]), hop=int(p["hop"]))
    return LoadedModel(model, ckpt["target"], ckpt["arch"], params, dev, storage.path(path), int(ckpt["step"]))


def song_mask(model: LoadedModel, mono: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Mask ``[513, frames]`` of a mono signal at the model's rate (``[samples]``)."""
    spec = stft(mono, model.params)
    mag = np.abs(spec[:-1])
    scale = float(mag.max())
    if scale <= 0:
        return np.zeros((spec.shape[0], spec.shape[1]), np.float32)  # silence: nothing to separate
    return with_nyquist(predict_mask(model, mag / scale, batch_size))


@dataclass
class Separated:
    """Separated stems, float32 ``[channels, samples]`` at ``sample_rate`` (the input's)."""

    vocals: np.ndarray
    instrumental: np.ndarray
    sample_rate: int


def _plan(vocals_model: LoadedModel, instrumental_model: LoadedModel | None, full_band: bool, batch_size: int,
          combine: str) -> Plan:
    if combine not in COMBINE:
        raise UserInputError(f"mask combination must be one of {COMBINE}, got {combine!r}")
    if instrumental_model is not None and instrumental_model.params != vocals_model.params:
        raise UserInputError("the vocals and instrumental models were trained on different STFT parameters")
    return Plan(vocals_model, instrumental_model, full_band, batch_size, combine)


def scan(source, params: StftParams) -> tuple[float, int]:
    """The first pass over a file: (magnitude scale, samples per channel); libsndfile failing inside the file
    makes it read again through ffmpeg, as ``features.audio.decode`` would."""
    try:
        return magnitude_scale(source.blocks(), source.rate, params)
    except RestartScan:
        return magnitude_scale(source.blocks(), source.rate, params)


def separate_waveform(
    mixture: np.ndarray,
    sample_rate: int,
    vocals_model: LoadedModel,
    instrumental_model: LoadedModel | None = None,
    *,
    full_band: bool = False,
    batch_size: int = 8,
    combine: str = "wiener",
    block_samples: int = BLOCK,
) -> Separated:
    """Vocals and instrumental of ``mixture`` float32 ``[channels, samples]`` (or ``[samples]``) at ``sample_rate``.

    ``combine``: how the two masks are combined when ``instrumental_model`` is given (``combine_masks``)."""
    plan = _plan(vocals_model, instrumental_model, full_band, batch_size, combine)
    source = ArraySource(mixture, sample_rate, block_samples)
    scale, length = magnitude_scale(source.blocks(), sample_rate, vocals_model.params)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in STEMS}
    separate_stream(source, plan, scale, length, lambda out: [parts[s].append(out[s]) for s in STEMS])
    stems = {s: np.concatenate(parts[s], axis=1) for s in STEMS}
    return Separated(stems["vocals"], stems["instrumental"], sample_rate)


class _WavPair:
    """The two stems' float WAV files, written block by block to their temporary names (``tmps``); a failed
    write is an ``OSError`` naming the final file (libsndfile says only "System error")."""

    def __init__(self, tmps: dict[str, Path], finals: dict[str, Any], rate: int, channels: int):
        self.tmps, self.finals = tmps, finals
        self.files: dict[str, sf.SoundFile] = {}
        try:
            for s in STEMS:
                self.files[s] = self._guard(s, lambda: sf.SoundFile(tmps[s], "w", samplerate=rate,
                                                                     channels=channels, subtype="FLOAT", format="WAV"))
        except OSError:
            self.abandon()
            raise

    def _guard(self, stem: str, action):
        try:
            return action()
        except (sf.SoundFileError, RuntimeError) as exc:
            raise _write_error(exc, self.tmps[stem], self.finals[stem]) from exc

    def write(self, out: dict[str, np.ndarray]) -> None:
        for s in STEMS:
            if out[s].shape[1]:
                self._guard(s, lambda: self.files[s].write(out[s].T))

    def close(self) -> None:
        for s in STEMS:
            f = self.files.pop(s, None)
            if f is not None:
                self._guard(s, f.close)

    def abandon(self) -> None:
        for f in self.files.values():
            try:
                f.close()
            except (sf.SoundFileError, RuntimeError):
                pass  # the temporary file is removed anyway
        self.files.clear()


def _write_error(exc: BaseException, tmp: Path, final: Any) -> OSError:
    """libsndfile's failure to write ``tmp`` as an ``OSError`` naming ``final``: ENOSPC when the disk holding
    ``tmp`` is full (libsndfile keeps the OS's reason to itself)."""
    try:
        full = os.statvfs(tmp.parent).f_bavail == 0
    except OSError:
        full = False
    if full:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(final))
    return OSError(errno.EIO, f"cannot write ({exc})", str(final))


def separate_file(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    vocals_model: LoadedModel,
    instrumental_model: LoadedModel | None = None,
    *,
    full_band: bool = False,
    batch_size: int = 8,
    combine: str = "wiener",
    name: str | None = None,
    block_samples: int = BLOCK,
) -> dict[str, Path]:
    """Separate one file into ``out_dir/<name>/{vocals,instrumental}.wav`` (float WAV, input's rate and
    length; ``name`` defaults to the file stem, see ``separation.names``). Returns the two paths.

    The input is read in blocks of ``block_samples`` (twice: see ``separation.engine``) and the outputs written
    as they come, each to a temporary name renamed when whole: nothing of the song is held whole, and no output
    is ever half-written. ``UserInputError`` when the file cannot be decoded (missing, a directory, empty,
    unreadable) or ``name`` is not one folder name; ``OSError`` naming the output when it cannot be written."""
    path = storage.path(path)  # a Path, or a URL (vocalmine.storage.urlpath.URLPath)
    name = check_name(name) if name is not None else default_name(path)
    plan = _plan(vocals_model, instrumental_model, full_band, batch_size, combine)
    song_dir = storage.path(out_dir) / name
    finals = {s: song_dir / f"{s}.wav" for s in STEMS}
    try:
        with open_source(path, block_samples) as source:
            scale, length = scan(source, vocals_model.params)
            if length == 0:
                raise AudioError("unreadable", f"{path}: no samples")
            with atomic_path(finals["vocals"]) as t_voc, atomic_path(finals["instrumental"]) as t_inst:
                wavs = _WavPair({"vocals": t_voc, "instrumental": t_inst}, finals, source.rate, source.channels)
                try:
                    separate_stream(source, plan, scale, length, wavs.write)
                    wavs.close()
                finally:
                    wavs.abandon()
    except AudioError as exc:
        why = "no such file" if exc.reason == "missing-file" else (exc.detail or str(exc))
        why = why.removeprefix(f"{path}: ")
        raise UserInputError(f"cannot separate {path}: {why}") from exc
    return finals
