"""A pair's target-quality estimate, computed without the truth (issue 18): ``target_error``, the estimated error
of its vocal target divided by the error the ideal target ``max(0, |X| - |A_true|)`` would have (1: as good).

The derived target ``D = max(0, |X| - |Y|)`` (``Y``: the aligned, level-matched instrumental) differs from the
true vocal's magnitudes by the ideal target's own error (where voice and accompaniment share a cell, their
phases interfere) and by the accompaniment the instrumental fails to take out (``|A| - |Y| > 0``: a level too
low in a band, codec noise, a few samples out of step). Over-subtraction (``|Y| > |A|``) costs less (a cell
is clipped to zero, and the error is measured up to a scale): only what a band too loud takes from the voice
where the voice shows (``D > 0``) counts, with the under-subtraction:

- **mismatch**: per band, the bias of the level ratios ``20 log10(|X| / |Y|)`` (their mode over the cells that
  carry the instrumental: zero when the level match is right; the voice does not move it) and their spread
  around it in the quietest quarter of the frames of each segment of the map (by the derived vocal's level:
  where the voice rests, what spreads the ratios is codec noise or misalignment, not the voice; per segment,
  because a segment's offset can be wrong on its own, and a song's quietest frames overall would all come from
  its well-aligned part); the expected under-subtraction of a normal linear error with that bias and spread,
  ``E[max(0, e)^2]``, times the band's energy (the biases interpolated between band centres, per bin, as the
  map's band gains are applied); and, where the bias is negative, ``((1 - 10^(bias/20)) |Y|)^2`` over the cells
  with ``D > 0``;
- **low leak**: the derived vocal below ``VOICE_FLOOR_HZ``, where voices hold nothing (a bass line or kick the
  instrumental lacks, a low band left under-scaled); and, per frame, its energy between ``VOICE_FLOOR_HZ`` and
  ``BASS_HZ`` where that is more than ``BASS_RATIO`` times its energy above ``BASS_HZ`` (a sung note carries
  most of its energy in harmonics above its fundamental: a frame whose derived vocal is mostly bass is a bass
  line or kick the instrumental lacks, with the notes above 90 Hz that the floor alone lets through);
- **ideal**: the interference of a cell's two parts, ``f(D / Y) * min(D, Y)^2`` summed above the voice floor,
  with ``D`` and ``Y`` taken after the band's bias is undone (an under-scaled band would otherwise pass its own
  leak off as interference). ``f`` is the expected error of ``max(0, |V + A| - |A|)`` against ``|V|`` at random
  phase, per ``min^2``: 0.6 where the accompaniment dominates the cell (about 0.6 of the ideal target's error
  energy on the demo songs), rising to about 1.4 where the voice is 20 dB or more above it (``INTERFERENCE``,
  computed by simulation).

``target_error = sqrt(1 + (mismatch + low leak) / ideal)``. What it cannot see: a part missing from the
instrumental above ``BASS_HZ`` (a lead line, the snare and cymbals of a kit) looks like the voice to it
(docs/pairing.md has the measured table). Magnitudes ``[bins, frames]``, float32, over the frames to judge.
"""

from __future__ import annotations

import math

import numpy as np

from features.alignmap import (AlignmentMap, apply_level, band_curve_db, band_of_bins, frame_times,
                               load_aligned_map, trusted_frames)
from features.patches import alignment_of_row
from features.stft import PAPER_STFT, StftParams
from features.stft import stft as stft_of
from pairing.corrections import MIN_BAND_CELLS, log_ratios, modes

#: Voices hold nothing below this (Hz): what the derived vocal holds there is accompaniment.
VOICE_FLOOR_HZ = 90.0
#: Bass leak: a frame's derived vocal between ``VOICE_FLOOR_HZ`` and this (Hz) counts as leak where its energy
#: there exceeds ``BASS_RATIO`` times its energy above (tuned on seeds 0 and 1 of the release matrix, where
#: 195-220 Hz with a ratio of 2.5-3 rank alike; 190 Hz misses bass notes, a ratio of 1.5 or less takes a low
#: voice's notes for leak; a low singer's notes can reach 3.5 on the demo corpus and are then counted: docs/pairing.md)
BASS_HZ = 200.0
BASS_RATIO = 2.5
#: The quietest share of frames (by the derived vocal's level) whose ratio spread is read.
QUIET_SHARE = 0.25
#: Ratios within this (dB) of their band's bias count for the spread (beyond: the voice's cells).
CORE_DB = 3.0
#: The ideal target's expected error per ``min(D, Y)^2`` of a cell against ``20 log10(D / Y)`` (dB): where the
#: voice dominates, ``max(0, |V + A| - |A|)`` errs by up to ``1.5 |A|^2`` at random phase (a simulation with
#: a voice level uniform in dB; below -6 dB the demo songs' measured 0.6).
INTERFERENCE = ((-6.0, 0.0, 6.0, 12.0, 20.0, 26.0), (0.6, 0.82, 1.05, 1.24, 1.38, 1.43))


def _positive_square(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``E[max(0, e)^2]`` for ``e ~ N(mu, sigma^2)`` (elementwise)."""
    s = np.maximum(sigma, 1e-6)
    z = mu / s
    cdf = 0.5 * (1 + _erf(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return (mu * mu + s * s) * cdf + mu * s * pdf


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7), without scipy.special."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1 / (1 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1 - poly * np.exp(-a * a))


def components(x: np.ndarray, y: np.ndarray, stft: StftParams,
               ratios: tuple[np.ndarray, np.ndarray] | None = None,
               segment: np.ndarray | None = None) -> dict[str, float]:
    """The estimate's energies (see module doc) from magnitudes ``x`` (original) and ``y`` (aligned,
    level-matched instrumental), ``[bins, frames]`` over the frames to judge; ``ratios``: their level ratios and
    weights when known (``pairing.corrections.log_ratios``); ``segment``: each frame's segment of the map
    (int ``[frames]``; None: one segment)."""
    band = band_of_bins(stft, x.shape[0])
    n_bands = int(band.max()) + 1
    r, w = ratios if ratios is not None else log_ratios(x, y, np.ones(x.shape[1], bool))
    bias, cells = modes(r, w, band[:, None], n_bands)
    bias = np.where(cells >= MIN_BAND_CELLS, np.nan_to_num(bias), 0.0)  # a band of a few cells has no mode
    bias = band_curve_db(bias, stft, x.shape[0])  # per bin, as the map's band gains are applied
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    d = np.maximum(x64 - y64, 0.0)
    level = (d ** 2).sum(axis=0) / np.maximum((x64 ** 2).sum(axis=0), 1e-30)
    quiet = _quiet_frames(level, np.zeros(x.shape[1], int) if segment is None else segment)
    dev = r[:, quiet] - bias[:, None].astype(np.float32)
    core = (w[:, quiet] > 0) & (np.abs(dev) <= CORE_DB)
    labels = np.broadcast_to(band[:, None], dev.shape)[core]
    spread = np.sqrt(np.bincount(labels, weights=dev[core].astype(np.float64) ** 2, minlength=n_bands)
                     / np.maximum(np.bincount(labels, minlength=n_bands), 1))
    energy = (y64 ** 2).sum(axis=1)
    mismatch = float((_positive_square(10 ** (bias / 20) - 1, spread[band] * math.log(10) / 20) * energy).sum())
    hz = np.arange(x.shape[0]) * stft.sample_rate / stft.n_fft
    voice = hz >= VOICE_FLOOR_HZ
    y_undone = y64[voice] * (10 ** (np.maximum(bias[voice], 0.0) / 20))[:, None]
    d_undone = np.maximum(x64[voice] - y_undone, 0.0)
    ratio_db = 20 * np.log10(np.maximum(d_undone, 1e-30) / np.maximum(y_undone, 1e-30))
    ideal = float((np.interp(ratio_db, *INTERFERENCE) * np.minimum(d_undone, y_undone) ** 2).sum())
    # over-subtraction: where the voice shows (d > 0), a band whose instrumental is too loud removes its excess
    excess = np.maximum(1 - 10 ** (np.minimum(bias[voice], 0.0) / 20), 0.0)[:, None] * y64[voice]
    over = float((np.where(d[voice] > 0, excess, 0.0) ** 2).sum())
    return {"mismatch": mismatch + over, "low_leak": float((d[~voice] ** 2).sum()) + _bass_leak(d, hz),
            "ideal": ideal}


def _bass_leak(d: np.ndarray, hz: np.ndarray) -> float:
    """The derived vocal's energy between ``VOICE_FLOOR_HZ`` and ``BASS_HZ`` in the frames where it exceeds
    ``BASS_RATIO`` times its energy above ``BASS_HZ``; ``d`` ``[bins, frames]`` (magnitudes), ``hz`` each bin's
    frequency."""
    low = (d[(hz >= VOICE_FLOOR_HZ) & (hz < BASS_HZ)] ** 2).sum(axis=0)
    high = (d[hz >= BASS_HZ] ** 2).sum(axis=0)
    return float(low[low > BASS_RATIO * high].sum())


def _quiet_frames(level: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """bool ``[frames]``: the ``QUIET_SHARE`` of each segment's frames with the lowest ``level``."""
    quiet = np.zeros(len(level), bool)
    for s in np.unique(segment):
        idx = np.flatnonzero(segment == s)
        quiet[idx] = level[idx] <= np.quantile(level[idx], QUIET_SHARE)
    return quiet


def target_error(parts: dict[str, float]) -> float:
    """The estimate from ``components``: ``sqrt(1 + (mismatch + low leak) / ideal)``."""
    return float(math.sqrt(1 + (parts["mismatch"] + parts["low_leak"]) / max(parts["ideal"], 1e-30)))


def estimate(x: np.ndarray, y_matched: np.ndarray, trusted: np.ndarray, stft: StftParams,
             ratios: tuple[np.ndarray, np.ndarray] | None = None, bounds: tuple[float, ...] = ()) -> float:
    """``target_error`` of a pair from its magnitudes ``[bins, frames]`` and trusted frames (bool ``[frames]``);
    ``ratios``: the pair's level ratios and weights ``[bins, frames]`` when known (``LevelFit.ratios``);
    ``bounds``: where the map's segments after the first start (s). nan when no trusted frame has sound."""
    ex = np.sum(x.astype(np.float64) ** 2, axis=0)
    judged = trusted & (ex > (ex[trusted].mean() if trusted.any() else 0.0) * 1e-4)
    if judged.sum() < 8:
        return float("nan")
    known = None if ratios is None else (ratios[0][:, judged], ratios[1][:, judged])
    segment = np.searchsorted(np.asarray(bounds, float), frame_times(x.shape[1], stft), side="right")[judged]
    return target_error(components(x[:, judged], y_matched[:, judged], stft, known, segment))


def estimate_row(row: dict, stft: StftParams = PAPER_STFT) -> float:
    """``target_error`` of a pairs.parquet row (a dict with the paths, ``offset_s``, ``gain_db``, ``polarity``
    and ``alignment_map``), decoding its files: how a changed map would score. Raises ``AudioError``."""
    amap = AlignmentMap.from_json(row["alignment_map"])
    plain = AlignmentMap(amap.drift, amap.segments).to_json()
    o, aligned, _, _ = load_aligned_map(row["original_audio_path"], row["instrumental_audio_path"], plain,
                                        alignment_of_row(row).gain, stft.sample_rate)
    x, y = np.abs(stft_of(o, stft))[:-1], np.abs(stft_of(aligned, stft))[:-1]
    trusted = trusted_frames(amap, x.shape[1], stft)
    if trusted is None:
        trusted = np.ones(x.shape[1], bool)
    return estimate(x.astype(np.float32), apply_level(y.astype(np.float32), amap, stft), trusted, stft,
                    bounds=tuple(seg.start_s for seg in amap.segments[1:]))
