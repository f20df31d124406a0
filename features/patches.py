"""One pair's training patches: decode, align, magnitudes, the vocal target, normalisation, patches.

A pure function of its inputs (the two files and the pair's alignment), so a Dask task can run it anywhere.

Shapes: signals ``[samples]`` at ``stft.sample_rate``; spectrograms ``[bins, frames]`` (512 bins, Nyquist
dropped); patches ``[patches, bins, frames]`` = ``[N, 512, 128]`` float16.

The vocal target is the half-wave rectified difference of the paper (Jansson et al. 2017, section 3.1.2):
``Y_v = max(0, |X| - |Y_i|)`` with ``X`` the original mix and ``Y_i`` the aligned instrumental.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from catalog_schemas.shards import PATCH_BINS, PATCH_FRAMES, TENSOR_COLUMNS
from features.alignmap import AlignmentMap, apply_level, load_aligned_map, trusted_frames
from features.audio import AudioError, load_aligned
from features.stft import PAPER_STFT, StftParams, magnitude
from vocalmine.errors import UserInputError
from vocalmine.settings import check, setting

#: Where the normalisation scale comes from: the whole track's max of |X| (default) or each patch's own max.
NORMALISATIONS = ("track", "patch")

#: One patch row as stored in a per-pair part file (a NumPy structured dtype; tensors are float16 [512, 128]).
PATCH_DTYPE = np.dtype(
    [("start_frame", "<i4"), ("scale", "<f4"), ("vocal_energy", "<f4")]
    + [(name, "<f2", (PATCH_BINS, PATCH_FRAMES)) for name in TENSOR_COLUMNS]
)


@dataclass(frozen=True)
class PatchParams:
    """How a pair becomes patches: the STFT, patch length and step (frames), and the normalisation.

    ``stft`` and ``patch_frames`` are fixed by the shard format (512 bins x 128 frames); ``patch_hop`` and
    ``normalisation`` are user settings (``build-shards --patch-hop``, ``--normalisation``).
    Raises ``UserInputError`` for values the format or the settings do not allow.
    """

    stft: StftParams = PAPER_STFT
    patch_frames: int = PATCH_FRAMES
    patch_hop: int = setting(PATCH_FRAMES, "Frames between patch starts (128: no overlap).", low=1)
    normalisation: str = setting("track", "Divide a patch's magnitudes by the max of |X| over the track, or over "
                                 "the patch.", choices=NORMALISATIONS)

    def __post_init__(self) -> None:
        if self.stft.n_fft // 2 != PATCH_BINS or self.patch_frames != PATCH_FRAMES:
            raise UserInputError(
                f"the shard format fixes patches of {PATCH_BINS} bins x {PATCH_FRAMES} frames; got "
                f"n_fft={self.stft.n_fft} ({self.stft.n_fft // 2} bins), patch_frames={self.patch_frames}"
            )
        check(self)

    def as_dict(self) -> dict:
        return {
            "sample_rate": self.stft.sample_rate,
            "n_fft": self.stft.n_fft,
            "hop": self.stft.hop,
            "window": "hann (periodic)",
            "center": "frame k centred on sample k*hop; n_fft/2 zeros in front, n_fft zeros at the end",
            "bins": PATCH_BINS,
            "patch_frames": self.patch_frames,
            "patch_hop": self.patch_hop,
            "normalisation": self.normalisation,
            "tensor_dtype": "<f2",
            "tensor_shape": [PATCH_BINS, self.patch_frames],
            "vocal_target": "max(0, |X| - |Y_i|)",
        }


class PairError(AudioError):
    """A pair that gives no patches. ``reason`` is a short slug for the manifest (``missing-file``, ``silent``, ...)."""


@dataclass(frozen=True)
class Alignment:
    """A pair's alignment (catalog_schemas convention): ``instrumental[t + offset_s] ~= g * accompaniment[t]``,
    ``g = polarity * 10 ** (gain_db / 20)``."""

    offset_s: float
    gain_db: float
    polarity: int = 1
    map_json: str | None = None  # the pair's AlignmentMap (features.alignmap) as stored, or None: one segment

    @property
    def gain(self) -> float:
        return self.polarity * 10.0 ** (self.gain_db / 20.0)


def alignment_of_row(row: dict) -> Alignment:
    """The ``Alignment`` of a pairs.parquet row (a dict); a missing value becomes nan (refused later)."""
    polarity = 1 if row.get("polarity") is None else int(row["polarity"])
    return Alignment(
        float("nan") if row.get("offset_s") is None else float(row["offset_s"]),
        float("nan") if row.get("gain_db") is None else float(row["gain_db"]),
        polarity,
        row.get("alignment_map") or None,
    )


_HALF_TINY = np.float32(2.0**-14)  # smallest normal float16


def to_float16(values: np.ndarray) -> np.ndarray:
    """``values.astype(np.float16)``, bit for bit, without NumPy's slow path for float16 subnormals.

    NumPy converts a value below 2**-14 (a float16 subnormal) some 30 times slower than a normal one, and quiet
    bins of a spectrogram are full of them. A subnormal float16 is ``k * 2**-24`` with ``k`` its 10-bit
    mantissa, so its bits are ``rint(|x| * 2**24)`` (round half to even, as the cast does) plus the sign;
    ``k == 1024`` gives 0x0400, the smallest normal, as it should.
    """
    values = np.asarray(values, dtype=np.float32)
    tiny = np.abs(values) < _HALF_TINY
    if not tiny.any():
        return values.astype(np.float16)
    out = np.where(tiny, np.float32(0), values).astype(np.float16)
    small = values[tiny]
    bits = np.rint(np.abs(small) * np.float32(2.0**24)).astype(np.uint16) | (np.signbit(small).astype(np.uint16) << 15)
    out.view(np.uint16)[tiny] = bits
    return out


def patch_starts(frames: int, patch_frames: int, patch_hop: int) -> np.ndarray:
    """First frames of the patches covering ``frames`` frames, int32 ``[patches]``.

    Patches step by ``patch_hop``; when the last one stops short of the end, one more patch is aligned to
    the end (so every frame is in a patch and no patch holds padding). A track shorter than one patch gives a
    single patch at 0, zero-padded on the right.
    """
    if frames <= patch_frames:
        return np.zeros(1, np.int32)
    starts = list(range(0, frames - patch_frames + 1, patch_hop))
    if starts[-1] + patch_frames < frames:
        starts.append(frames - patch_frames)
    return np.asarray(starts, np.int32)


def cut_patches(spec: np.ndarray, starts: np.ndarray, patch_frames: int) -> np.ndarray:
    """Patches ``[patches, bins, patch_frames]`` of a ``[bins, frames]`` spectrogram, zero-padded past its end."""
    bins, frames = spec.shape
    if frames < patch_frames:
        spec = np.pad(spec, ((0, 0), (0, patch_frames - frames)))
    index = starts[:, None] + np.arange(patch_frames)[None, :]
    return np.ascontiguousarray(np.moveaxis(spec[:, index], 1, 0))


def valid_frames(covered: tuple[int, int], samples: int, stft: StftParams = PAPER_STFT) -> tuple[int, int]:
    """Frames ``[k0, k1)`` whose whole window lies where the aligned instrumental has audio.

    ``covered``: the samples ``[start, end)`` of the original's timeline that the instrumental file covers
    after alignment. A bound at the track's own edge does not cut (both signals are padded with the same zeros
    there); elsewhere a frame centred on ``k * hop`` needs ``[k * hop - n_fft/2, k * hop + n_fft/2)`` inside.
    Outside that range the vocal target would be the whole mix, so no patch is taken from there.
    """
    start, end = covered
    half = stft.n_fft // 2
    k0 = 0 if start <= 0 else -(-(start + half) // stft.hop)
    k1 = stft.frames(samples) if end >= samples else (end - half) // stft.hop + 1
    return k0, max(k0, k1)


#: With a trust mask, runs of trusted frames shorter than this (frames, about 2.2 s) give no patch.
MIN_RUN_FRAMES = 24


def frame_runs(mask: np.ndarray, min_run: int = 1) -> list[tuple[int, int]]:
    """Runs ``[k0, k1)`` of True in a bool ``[frames]`` mask, those shorter than ``min_run`` left out."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_run]


def spectrogram_patches(
    mix_signal: np.ndarray,
    instrumental_aligned: np.ndarray,
    params: PatchParams = PatchParams(),
    covered: tuple[int, int] | list[tuple[int, int]] | None = None,
    amap: AlignmentMap | None = None,
) -> np.ndarray:
    """Patches of aligned signals (both float32 ``[samples]`` of the same length), as a ``PATCH_DTYPE`` array.

    ``covered``: samples ``[start, end)`` (or a list of such spans, one per segment of an alignment map) where
    the aligned instrumental has audio (None: all); patches are cut only from the frames inside (``valid_frames``),
    and ``start_frame`` counts from the track's start. ``amap``: the pair's alignment map; its level match is
    applied to the instrumental's magnitudes and, when it has a trust mask, patches come only from runs of
    trusted frames (each run cut on its own, the last patch of a short run zero-padded; runs under
    ``MIN_RUN_FRAMES`` left out). The scale (``track`` normalisation) is the max of ``|X|`` over the whole track.
    Raises ``PairError('silent')`` when the mix has no energy, ``PairError('no-overlap')`` when no frame is
    covered, ``PairError('too-little-trusted')`` when no run of trusted frames is long enough.
    """
    x = magnitude(mix_signal, params.stft)  # [512, frames]
    yi = magnitude(instrumental_aligned, params.stft)
    if amap is not None:
        yi = apply_level(yi, amap, params.stft)
    frames = x.shape[1]
    spans = [covered] if isinstance(covered, tuple) else covered
    if spans is None:
        runs = [(0, frames)]
    else:
        mask = np.zeros(frames, bool)
        for span in spans:
            k0, k1 = valid_frames(span, len(mix_signal), params.stft)
            mask[k0:k1] = True
        runs = frame_runs(mask)
        if not runs:
            raise PairError("no-overlap", f"the aligned instrumental covers no whole STFT frame of the original "
                                          f"(samples {covered} of {len(mix_signal)})")
        trusted = None if amap is None else trusted_frames(amap, frames, params.stft)
        if trusted is not None:
            covered_frames = int(mask.sum())
            runs = frame_runs(mask & trusted, MIN_RUN_FRAMES)
            if not runs:
                raise PairError("too-little-trusted", f"no run of {MIN_RUN_FRAMES} trusted frames: "
                                                      f"{int((mask & trusted).sum())} of {covered_frames} covered "
                                                      "frames are trusted")
    track_max = x.max()
    yv = np.maximum(x - yi, 0.0)
    starts_list, px_l, pi_l, pv_l = [], [], [], []
    for k0, k1 in runs:
        starts = patch_starts(k1 - k0, params.patch_frames, params.patch_hop)
        starts_list.append(starts + k0)
        px_l.append(cut_patches(x[:, k0:k1], starts, params.patch_frames))
        pi_l.append(cut_patches(yi[:, k0:k1], starts, params.patch_frames))
        pv_l.append(cut_patches(yv[:, k0:k1], starts, params.patch_frames))
    starts = np.concatenate(starts_list)
    px, pi, pv = (np.concatenate(p) if len(p) > 1 else p[0] for p in (px_l, pi_l, pv_l))
    if params.normalisation == "track":
        scale = np.full(len(starts), track_max, np.float32)
    else:
        scale = px.max(axis=(1, 2)).astype(np.float32)
    if not np.all(scale > 0):
        if params.normalisation == "track" or not np.any(scale > 0):
            raise PairError("silent", "the original's magnitude is zero everywhere")
        scale = np.where(scale > 0, scale, np.float32(1.0))  # an all-zero patch stays zero
    out = np.zeros(len(starts), PATCH_DTYPE)
    out["start_frame"] = starts
    out["scale"] = scale
    mix_energy = np.einsum("nbf,nbf->n", px, px, dtype=np.float64)
    voc_energy = np.einsum("nbf,nbf->n", pv, pv, dtype=np.float64)
    out["vocal_energy"] = np.where(mix_energy > 0, voc_energy / np.maximum(mix_energy, 1e-300), 0.0)
    inv = (1.0 / scale)[:, None, None]
    out["mix"] = to_float16(px * inv)
    out["instrumental"] = to_float16(pi * inv)
    out["vocals"] = to_float16(pv * inv)
    return out


def pair_patches(
    original_path: str,
    instrumental_path: str,
    alignment: Alignment,
    params: PatchParams = PatchParams(),
) -> tuple[np.ndarray, float]:
    """Decode, mono, resample, align and cut one pair: (``PATCH_DTYPE`` array ``[patches]``, seconds).

    The instrumental is aligned onto the original with ``features.audio.shift_and_scale`` (its length becomes
    the original's). Only the part of the original that the instrumental covers gives patches (an instrumental
    is often seconds shorter or longer than its original); ``seconds`` is the length of that part.
    Raises ``PairError`` with the reason when a file cannot give audio or the pair is unusable.
    """
    if not original_path or not instrumental_path:
        raise PairError("no-audio-path", "the pair lacks an audio path")
    for name, value in (("offset_s", alignment.offset_s), ("gain_db", alignment.gain_db)):
        if value is None or not math.isfinite(value):
            raise PairError("no-alignment", f"{name} is {value}")
    if alignment.polarity not in (1, -1):
        raise PairError("no-alignment", f"polarity is {alignment.polarity}")
    sr = params.stft.sample_rate
    if alignment.map_json:
        try:
            original, aligned, spans, amap = load_aligned_map(original_path, instrumental_path, alignment.map_json,
                                                              alignment.gain, sr)
        except AudioError as exc:
            raise PairError(exc.reason, exc.detail) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise PairError("no-alignment", f"unreadable alignment_map: {exc}") from exc
        if not spans:
            raise PairError("no-overlap", "the alignment map's segments cover none of the original")
        patches = spectrogram_patches(original, aligned, params, covered=spans, amap=amap)
        seconds = amap.trusted_s if amap.trusted is not None else sum(b - a for a, b in spans) / sr
        return patches, float(seconds)
    try:
        original, aligned, (start, end) = load_aligned(
            original_path, instrumental_path, alignment.offset_s, alignment.gain, sr
        )
    except AudioError as exc:
        raise PairError(exc.reason, exc.detail) from exc
    patches = spectrogram_patches(original, aligned, params, covered=(start, end))
    return patches, max(0, end - start) / sr
