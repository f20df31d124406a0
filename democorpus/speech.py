"""Rapped parts: real phonemes from espeak-ng, cut into words and placed on the beat grid.

One espeak-ng call per song speaks all its lines with a gap between words; the words are cut apart at those
gaps and each starts on a sixteenth-note step of a voiced bar (a word longer than its slot pushes the next
one on), so the delivery is rhythmic. espeak-ng is deterministic for a given text and voice.

Shapes and units: mono float64 ``[samples]`` at the song's rate.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import soxr

from democorpus import names
from democorpus.arrangement import SectionPlan
from vocalmine.errors import UserInputError

ESPEAK_RATE = 22050
_WORDS = tuple(w.lower() for w in names.ADJECTIVES + names.NOUNS) + (
    "we", "run", "the", "city", "all", "night", "never", "stop", "money", "talk", "feel", "this", "flow", "keep",
    "it", "real", "rise", "up", "my", "crew", "out", "here", "shine", "every", "day", "go", "hard", "no", "doubt")


def espeak(text: str, variant: str, words_per_minute: int, pitch: int, word_gap_10ms: int) -> np.ndarray:
    """espeak-ng's speech of ``text``, mono float64 at ``ESPEAK_RATE``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise UserInputError("espeak-ng is missing: install Debian's espeak-ng (scripts/install-system-deps.sh)")
    cmd = [exe, "-v", variant, "-s", str(words_per_minute), "-p", str(pitch), "-g", str(word_gap_10ms),
           "--stdout", text]
    done = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    if done.returncode != 0 or len(done.stdout) <= 44:
        raise UserInputError(f"espeak-ng failed on voice {variant}: {done.stderr.decode(errors='replace')[:200]}")
    return np.frombuffer(done.stdout[44:], dtype="<i2").astype(np.float64) / 32768.0  # after the WAV header


def split_words(x: np.ndarray, sr: int, min_gap_s: float = 0.04) -> list[np.ndarray]:
    """Cut speech at silences of at least ``min_gap_s``: the words (or syllable groups), in order."""
    hop = int(0.005 * sr)
    frames = len(x) // hop
    energy = np.sqrt(np.mean(x[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    loud = energy > 0.02 * (energy.max() + 1e-12)
    out: list[np.ndarray] = []
    start, quiet = None, 0
    for i, on in enumerate(loud):
        if on:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * hop >= min_gap_s * sr:
                out.append(x[start * hop : (i - quiet + 1) * hop + hop])
                start, quiet = None, 0
    if start is not None:
        out.append(x[start * hop :])
    return [w for w in out if len(w) > 0.03 * sr]


def rap(plan: SectionPlan, variant: str, pitch: int, sr: int, n: int, rng: np.random.Generator,
        bars: list[int] | None = None, per_bar: int | None = None) -> np.ndarray:
    """Rapped lines over ``bars`` (default: the voiced bars), mono float64 ``[n]`` at ``sr``; ``per_bar``:
    words per bar (default 5-8)."""
    out = np.zeros(n)
    bars = [b for b in range(plan.bars) if plan.voiced[b]] if bars is None else bars
    if not bars:
        return out
    per_bar = int(rng.integers(5, 9)) if per_bar is None else per_bar
    text = " ".join(str(rng.choice(_WORDS)) for _ in range(per_bar * len(bars) + 8))
    wpm = int(np.clip(60.0 / (plan.bar_s / per_bar) * 1.1, 140, 320))
    words = split_words(espeak(text, variant, wpm, pitch, 6), ESPEAK_RATE)
    step_s = plan.bar_s / 16
    k = 0
    for bar in bars:
        step = float(rng.choice([0, 1, 2]))
        while step < 15 and k < len(words):
            word = soxr.resample(words[k], ESPEAK_RATE, sr, quality="HQ")
            room = int((16 - step) * step_s * sr)
            word = word[:room]
            fade = min(int(0.006 * sr), len(word) // 2)
            if fade:
                word[-fade:] *= np.linspace(1.0, 0.0, fade)
                word[:fade] *= np.linspace(0.0, 1.0, fade)
            start = int(round(plan.t(bar, step) * sr))
            stop = min(start + len(word), n)
            if stop > start:
                out[start:stop] += word[: stop - start]
            step += max(1.0, np.ceil(len(word) / sr / step_s)) + float(rng.choice([0, 0, 1]))
            k += 1
    return out
