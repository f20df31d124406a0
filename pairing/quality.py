"""A pair's target-quality estimate, computed without the truth (issue 18): ``target_error``, the estimated error
of its vocal target divided by the error the ideal target ``max(0, |X| - |A_true|)`` would have.

The derived target ``max(0, |X| - |Y|)`` (``Y``: the aligned, level-matched instrumental) differs from the true
vocal's magnitudes by two terms: the ideal target's own error (where voice and accompaniment share a cell,
their phases interfere), and the accompaniment the instrumental fails to take out (``|A| - |Y| > 0``:
a level too low, codec noise, a few samples out of step, a part the instrumental lacks). Over-subtraction
(``|Y| > |A|``) costs far less: it clips cells to zero, and the error is measured up to a scale. So:

- **the mismatch**, read on the cells that carry the instrumental, per band: the mode of the level ratios
  ``20 log10(|X| / |Y|)`` (a level error: zero when the level match is right), their spread around it (codec
  noise, misalignment) and, per frame, the mode of what is left (a time-varying level error). Under-subtraction
  expected from a normal spread of the linear error with that bias: ``E[max(0, e)^2]`` per cell, times the
  cell's energy;
- **the accompaniment left where no voice can be**: the derived vocal below ``VOICE_FLOOR_HZ`` (voices are
  high-passed), and in the quietest tenth of the frames (where the voice rests; a part missing from the
  instrumental plays on there), each spread over the frames as the leak it shows;
- **the ideal error**, from the interference a cell's derived vocal ``D`` and instrumental ``Y`` imply:
  ``h(D / Y) * Y^2``, ``h`` tabulated from random phases (``H_TABLE``).

``target_error = sqrt(1 + (E_mismatch + E_leak) / E_ideal)``. ``x``, ``y``: magnitudes ``[bins, frames]``,
float32; frames: the trusted ones.
"""

from __future__ import annotations

import math

import numpy as np

from features.alignmap import AlignmentMap, apply_level, band_of_bins, load_aligned_map, trusted_frames
from features.stft import PAPER_STFT, StftParams
from features.stft import stft as stft_of
from pairing.corrections import log_ratios, modes

#: Voices hold nothing below this (Hz): what the derived vocal holds there is accompaniment.
VOICE_FLOOR_HZ = 100.0
#: h(q): expected squared error of the ideal target in a cell, over ``|A|^2``, given ``q = D / |A|``; D/|A| at
#: log10 steps of 0.15 from -1.425 (Monte Carlo: a voice log-uniform over +-30 dB of the accompaniment, random
#: phase; cells with q < 0.03 count as voice-free).
H_LOG_Q = tuple(-1.425 + 0.15 * k for k in range(21))
H_TABLE = (0.086, 0.067, 0.093, 0.128, 0.168, 0.234, 0.303, 0.382, 0.493, 0.595, 0.714, 0.846, 0.972, 1.070,
           1.162, 1.246, 1.311, 1.357, 1.396, 1.427, 1.335)


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


def components(x: np.ndarray, y: np.ndarray, stft: StftParams) -> dict[str, float]:
    """The estimate's energies (see module doc) from magnitudes ``x`` (original) and ``y`` (aligned,
    level-matched instrumental), ``[bins, frames]`` over the frames to judge."""
    band = band_of_bins(stft, x.shape[0])
    n_bands = int(band.max()) + 1
    r, w = log_ratios(x, y, np.ones(x.shape[1], bool))
    bias, _ = modes(r, w, band[:, None], n_bands)
    bias = np.nan_to_num(bias)
    dev = r - bias[band][:, None].astype(np.float32)
    core = (w > 0) & (np.abs(dev) <= 3.0)
    labels = np.broadcast_to(band[:, None], r.shape)[core]
    count = np.bincount(labels, minlength=n_bands)
    spread = np.sqrt(np.bincount(labels, weights=(dev[core] ** 2).astype(np.float64), minlength=n_bands)
                     / np.maximum(count, 1))
    frame_bias, _ = modes(dev, w, np.arange(x.shape[1])[None, :], x.shape[1])
    level = bias[band][:, None] + np.nan_to_num(frame_bias)[None, :]
    y64 = y.astype(np.float64)
    mismatch = float((_positive_square(10 ** (level / 20) - 1, (spread * math.log(10) / 20)[band][:, None])
                      * y64 ** 2).sum())
    d = np.maximum(x.astype(np.float64) - y64, 0.0)
    q = d / np.maximum(y64, 1e-12)
    h = np.interp(np.log10(np.maximum(q, 1e-6)), H_LOG_Q, H_TABLE)
    ideal = float((np.where(q > 0.03, h, 0.0) * y64 ** 2).sum())
    low = np.arange(x.shape[0]) * stft.sample_rate / stft.n_fft < VOICE_FLOOR_HZ
    low_leak = float((d[low] ** 2).sum() / max(float((y64[low] ** 2).sum()), 1e-30)) * float((y64 ** 2).sum())
    dk = (d ** 2).sum(axis=0) / np.maximum((x.astype(np.float64) ** 2).sum(axis=0), 1e-30)
    floor = float(np.quantile(dk, 0.1)) if len(dk) else 0.0
    floor_leak = floor * float((x.astype(np.float64) ** 2).sum())
    return {"mismatch": mismatch, "ideal": ideal, "low_leak": low_leak, "floor_leak": floor_leak,
            "derived": float((d ** 2).sum())}


def target_error(parts: dict[str, float]) -> float:
    """The estimate from ``components``: ``sqrt(1 + (mismatch + leaks) / ideal)``."""
    leak = parts["mismatch"] + parts["low_leak"] + parts["floor_leak"]
    return float(math.sqrt(1 + leak / max(parts["ideal"], 1e-30)))


def estimate(x: np.ndarray, y_matched: np.ndarray, trusted: np.ndarray, stft: StftParams) -> float:
    """``target_error`` of a pair from its magnitudes ``[bins, frames]`` and trusted frames (bool ``[frames]``);
    nan when no trusted frame has sound."""
    ex = np.sum(x.astype(np.float64) ** 2, axis=0)
    judged = trusted & (ex > (ex[trusted].mean() if trusted.any() else 0.0) * 1e-4)
    if judged.sum() < 8:
        return float("nan")
    return target_error(components(x[:, judged], y_matched[:, judged], stft))


def estimate_row(row: dict, stft: StftParams = PAPER_STFT) -> float:
    """``target_error`` of a pairs.parquet row (a dict with the paths, ``offset_s``, ``gain_db``, ``polarity``
    and ``alignment_map``), decoding its files: how a changed map would score. Raises ``AudioError``."""
    from features.patches import alignment_of_row

    amap = AlignmentMap.from_json(row["alignment_map"])
    plain = AlignmentMap(amap.drift, amap.segments).to_json()
    o, aligned, _, _ = load_aligned_map(row["original_audio_path"], row["instrumental_audio_path"], plain,
                                        alignment_of_row(row).gain, stft.sample_rate)
    x, y = np.abs(stft_of(o, stft))[:-1], np.abs(stft_of(aligned, stft))[:-1]
    trusted = trusted_frames(amap, x.shape[1], stft)
    if trusted is None:
        trusted = np.ones(x.shape[1], bool)
    return estimate(x.astype(np.float32), apply_level(y.astype(np.float32), amap, stft), trusted, stft)
