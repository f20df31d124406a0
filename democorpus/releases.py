"""How a true instrumental differs from its original beyond an offset and a gain: the release kinds of the demo
corpus (issue 10), each with its truth.

Every transformation works on the accompaniment stem, float64 ``[channels, samples]`` at the song's rate ``sr``,
before the file's own resampling, gain and offset (``corpus._realise``). The kinds:

- ``clock-drift``: another transfer of the master whose clock runs 0.05 % fast (the content lasts
  ``1 / 1.0005`` as long; realised by the recipe's ``stretch``);
- ``edit``: about 2 s (whole bars) cut from the middle: the instrumental's content after the cut comes that
  much earlier, and the original's bars in the cut exist in the original only;
- ``fade``: the instrumental fades out (raised cosine to silence) over its last 6 s while the original plays on;
- ``eq``: another mastering EQ: a low shelf (250 Hz) and a high shelf (3 kHz) of +-3 dB, minimum phase (biquads);
- ``compressor``: the original's bus compressor rode on the voice; the instrumental has its own, which did not,
  so the instrumental is louder (by the compressor's extra gain reduction) wherever the voice sings;
- ``mp3-low``: the instrumental as a low-bitrate MP3 (about 64 kbit/s);
- ``ogg-low``: the instrumental as a low-quality Ogg Vorbis file (about 60 kbit/s).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.signal

RELEASE_KINDS = ("clock-drift", "edit", "fade", "eq", "compressor", "mp3-low", "ogg-low")
#: Release kinds that are a lossy file, with the extension and libsndfile compression level they are written at.
CODEC_KINDS = {"mp3-low": ("mp3", 0.9), "ogg-low": ("ogg", 0.9)}
CLOCK_FAST = 0.0005  # the drifting transfer runs this much fast
EDIT_TARGET_S = 2.0
FADE_S = 6.0
SHELF_DB = 3.0


@dataclass(frozen=True)
class Release:
    """One release kind and its parameters (seconds on the song's own timeline)."""

    kind: str
    edit_at_s: float = 0.0
    edit_s: float = 0.0
    fade_s: float = 0.0
    low_shelf_db: float = 0.0
    high_shelf_db: float = 0.0
    compressor: bool = False

    @property
    def stretch(self) -> float:
        """The recipe's varispeed factor (content duration ratio)."""
        return 1.0 / (1.0 + CLOCK_FAST) if self.kind == "clock-drift" else 1.0


def plan_release(kind: str, seconds: float, bar_s: float, rng: np.random.Generator) -> Release:
    """The parameters of ``kind`` for a song of ``seconds`` with bars of ``bar_s`` seconds."""
    if kind == "edit":
        bars = max(1, round(EDIT_TARGET_S / bar_s))
        at = round(seconds * float(rng.uniform(0.4, 0.6)) / bar_s) * bar_s
        return Release(kind, edit_at_s=at, edit_s=bars * bar_s)
    if kind == "fade":
        return Release(kind, fade_s=FADE_S)
    if kind == "eq":
        sign = 1.0 if rng.uniform() < 0.5 else -1.0
        return Release(kind, low_shelf_db=sign * SHELF_DB, high_shelf_db=-sign * SHELF_DB)
    if kind == "compressor":
        return Release(kind, compressor=True)
    if kind in ("clock-drift", *CODEC_KINDS):
        return Release(kind)
    raise ValueError(f"unknown release kind {kind!r}")


def shelf_sos(f0: float, gain_db: float, sr: int, high: bool) -> np.ndarray:
    """RBJ cookbook shelf (slope 1) as one second-order section ``[6]``."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / sr
    cos, alpha = math.cos(w0), math.sin(w0) / 2 * math.sqrt(2)
    s = 2 * math.sqrt(a) * alpha
    if high:
        b = [a * ((a + 1) + (a - 1) * cos + s), -2 * a * ((a - 1) + (a + 1) * cos), a * ((a + 1) + (a - 1) * cos - s)]
        den = [(a + 1) - (a - 1) * cos + s, 2 * ((a - 1) - (a + 1) * cos), (a + 1) - (a - 1) * cos - s]
    else:
        b = [a * ((a + 1) - (a - 1) * cos + s), 2 * a * ((a - 1) - (a + 1) * cos), a * ((a + 1) - (a - 1) * cos - s)]
        den = [(a + 1) + (a - 1) * cos + s, -2 * ((a - 1) + (a + 1) * cos), (a + 1) + (a - 1) * cos - s]
    return np.array(b + den) / den[0]


def compressor_gain_db(x: np.ndarray, sr: int, threshold_db: float, ratio: float = 4.0, attack_s: float = 0.01,
                       release_s: float = 0.2, block_s: float = 0.005) -> np.ndarray:
    """Gain (dB, <= 0) of a feed-forward RMS compressor on ``x`` ``[channels, samples]``, per sample ``[samples]``."""
    mono = x.mean(axis=0)
    block = max(1, int(sr * block_s))
    n = len(mono) // block + 1
    padded = np.pad(mono, (0, n * block - len(mono)))
    level = 10 * np.log10(np.mean(padded.reshape(n, block) ** 2, axis=1) + 1e-12)
    target = -(1 - 1 / ratio) * np.maximum(0.0, level - threshold_db)
    att, rel = math.exp(-block_s / attack_s), math.exp(-block_s / release_s)
    gain = np.empty(n)
    g = 0.0
    for k, t in enumerate(target):  # ~200 blocks per second: a plain loop is fast enough
        coef = att if t < g else rel
        g = coef * g + (1 - coef) * t
        gain[k] = g
    centres = (np.arange(n) + 0.5) * block
    return np.interp(np.arange(len(mono)), centres, gain)


def apply_release(acc: np.ndarray, vocals: np.ndarray, sr: int, release: Release) -> np.ndarray:
    """The instrumental's content before resampling, gain and offset: float64 ``[channels, samples']``."""
    x = acc
    if release.kind == "eq":
        sos = np.stack([shelf_sos(250.0, release.low_shelf_db, sr, high=False),
                        shelf_sos(3000.0, release.high_shelf_db, sr, high=True)])
        x = scipy.signal.sosfilt(sos, x, axis=1)
    elif release.kind == "compressor":
        mix = acc + vocals
        threshold = float(np.percentile(10 * np.log10(np.mean(mix**2, axis=0) + 1e-12), 60))
        extra = compressor_gain_db(acc, sr, threshold) - compressor_gain_db(mix, sr, threshold)
        x = x * 10 ** (extra / 20)[None, :]
    elif release.kind == "fade":
        n = int(round(release.fade_s * sr))
        ramp = 0.5 * (1 + np.cos(np.linspace(0.0, math.pi, n)))
        x = x.copy()
        x[:, -n:] *= ramp[None, :]
    elif release.kind == "edit":
        a, b = int(round(release.edit_at_s * sr)), int(round((release.edit_at_s + release.edit_s) * sr))
        x = np.concatenate([x[:, :a], x[:, b:]], axis=1)
    return x


def release_truth(release: Release | None, offset_s: float, song_s: float, sr: int) -> str:
    """JSON of the truth a test needs: the kind, the drift factor, segments ``[start_s, end_s, offset_s]`` on the
    original's timeline, and the kind's parameters."""
    if release is None:
        return ""
    segments = [[0.0, song_s, offset_s]]
    if release.kind == "edit":
        a = round(release.edit_at_s * sr) / sr
        b = round((release.edit_at_s + release.edit_s) * sr) / sr
        segments = [[0.0, a, offset_s], [b, song_s, offset_s - (b - a)]]
    data = {"drift": release.stretch, "segments": segments,
            **{k: v for k, v in asdict(release).items() if v not in (0.0, False)}}
    return json.dumps(data, sort_keys=True)
