"""The sung voice: singer presets and a source-filter singer (glottal wavetable through morphing vowel formants).

Everything is vectorised NumPy: trajectories (pitch, amplitude, vowel weights) run at a control rate of one step
per ``CONTROL_HOP`` samples; Python loops run over notes and phrases, never over samples. Every harmonic and
noise source stays below the song's ``band_hz``.

Shapes and units: the voice is mono float64 ``[samples]`` at the song's rate; pitches MIDI notes, times s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter, sosfilt

from democorpus.arrangement import SectionPlan
from democorpus.music import midi_to_hz, scale_notes

#: Formant frequencies (Hz) and bandwidths (Hz) of sung vowels for an adult male voice; scaled per singer.
VOWELS = {
    "a": ((730, 1090, 2440, 3400), (90, 110, 140, 180)),
    "e": ((530, 1840, 2480, 3500), (70, 100, 140, 180)),
    "i": ((300, 2250, 3000, 3700), (60, 100, 150, 200)),
    "o": ((570, 860, 2410, 3300), (80, 90, 140, 180)),
    "u": ((330, 870, 2240, 3300), (60, 90, 140, 180)),
}
VOWEL_NAMES = tuple(VOWELS)
FORMANT_LEVELS = (1.0, 0.7, 0.45, 0.3)  # parallel formant amplitudes, F1 to F4
VOWEL_WEIGHTS = (0.3, 0.2, 0.15, 0.25, 0.1)
#: Consonant-like noise onsets: (low Hz, high Hz, duration s, level relative to the vowel).
CONSONANTS = {
    "s": (4500, 11000, 0.09, 0.30),
    "sh": (2200, 6000, 0.10, 0.30),
    "f": (1500, 9000, 0.07, 0.12),
    "h": (500, 4000, 0.06, 0.10),
    "t": (2500, 9000, 0.018, 0.45),
    "k": (1200, 4500, 0.022, 0.40),
}
CONTROL_HOP = 32  # samples per control-rate step
_TABLE = 4096  # wavetable size


@dataclass(frozen=True)
class Singer:
    """A singer preset: ranges the song's voice is drawn from. ``style``: sung, or rap (espeak-ng ``variant``).
    ``low``/``span``: lowest MIDI note and range (semitones); ``formant``: formant scale (1 = adult male);
    ``tilt``: harmonic roll-off exponent; ``breath``: aspiration noise level; ``vibrato``: (rate Hz, depth
    semitones) ranges; ``jitter``: fast pitch noise (semitones RMS); ``shimmer``: amplitude noise (RMS);
    ``consonants``: level of the consonant onsets; ``held_out``: only songs of the test split use it."""

    register: str  # female | male
    low: tuple[int, int]
    span: tuple[int, int]
    formant: tuple[float, float]
    tilt: tuple[float, float]
    breath: tuple[float, float]
    vibrato: tuple[tuple[float, float], tuple[float, float]]
    jitter: float
    shimmer: float
    consonants: float
    held_out: bool = False
    style: str = "sung"
    variant: str = ""  # espeak-ng voice for rap


_V = ((5.2, 6.4), (0.3, 0.6))
SINGERS: dict[str, Singer] = {
    "soprano-bright": Singer("female", (60, 63), (13, 16), (1.17, 1.25), (1.1, 1.4), (0.02, 0.05), _V, 0.04, 0.03, 1.0),
    "alto-warm": Singer("female", (55, 58), (12, 15), (1.08, 1.15), (1.5, 1.8), (0.04, 0.08), _V, 0.05, 0.04, 0.8),
    "pop-breathy": Singer("female", (57, 60), (11, 14), (1.12, 1.2), (1.6, 2.0), (0.14, 0.22),
                          ((4.8, 5.6), (0.1, 0.25)), 0.05, 0.05, 1.3),
    "tenor-clear": Singer("male", (48, 51), (13, 16), (0.99, 1.05), (1.0, 1.3), (0.02, 0.05), _V, 0.04, 0.03, 1.0),
    "baritone-dark": Singer("male", (43, 46), (12, 15), (0.92, 0.97), (1.4, 1.7), (0.03, 0.06),
                            ((4.6, 5.4), (0.3, 0.5)), 0.05, 0.04, 0.8),
    "mezzo-husky": Singer("female", (56, 59), (12, 15), (1.11, 1.16), (1.3, 1.6), (0.12, 0.2),
                          ((4.4, 5.0), (0.5, 0.8)), 0.1, 0.08, 1.1, held_out=True),
    "tenor-raspy": Singer("male", (46, 49), (13, 16), (1.02, 1.08), (0.8, 1.0), (0.08, 0.14),
                          ((5.8, 6.8), (0.2, 0.4)), 0.14, 0.1, 1.2, held_out=True),
    "rap-m1": Singer("male", (43, 46), (5, 7), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0), _V, 0, 0, 1, style="rap",
                     variant="en-us+m1"),
    "rap-m3": Singer("male", (45, 48), (5, 7), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0), _V, 0, 0, 1, style="rap",
                     variant="en+m3"),
    "rap-f2": Singer("female", (55, 58), (5, 7), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0), _V, 0, 0, 1, style="rap",
                     variant="en-us+f2"),
    "rap-m7": Singer("male", (44, 47), (5, 7), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0), _V, 0, 0, 1, style="rap",
                     variant="en-gb+m7", held_out=True),
    "rap-f4": Singer("female", (56, 59), (5, 7), (1.0, 1.0), (1.0, 1.0), (0.0, 0.0), _V, 0, 0, 1, style="rap",
                     variant="en+f4", held_out=True),
}


def singers(style: str, held_out: bool) -> list[str]:
    """Preset names of a style for one side of the generalisation split."""
    return [k for k, s in SINGERS.items() if s.style == style and s.held_out == held_out]


@dataclass(frozen=True)
class VoiceParams:
    """One song's draw from its singer preset."""

    singer: str
    low: int
    high: int
    formant_scale: float
    tilt: float
    breath: float
    vibrato_rate: float
    vibrato_depth: float


def draw_voice(singer: str, rng: np.random.Generator) -> VoiceParams:
    s = SINGERS[singer]
    low = int(rng.integers(s.low[0], s.low[1] + 1))
    return VoiceParams(singer, low, low + int(rng.integers(s.span[0], s.span[1] + 1)),
                       float(rng.uniform(*s.formant)), float(rng.uniform(*s.tilt)), float(rng.uniform(*s.breath)),
                       float(rng.uniform(*s.vibrato[0])), float(rng.uniform(*s.vibrato[1])))


# ---------------------------------------------------------------------------------------------- building blocks


def band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    """Gaussian noise band-limited to [lo, hi] Hz with soft edges, unit RMS, float64 ``[n]``."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    width_lo, width_hi = max(lo * 0.25, 20.0), max(hi * 0.08, 200.0)
    shape = np.clip((f - lo + width_lo) / width_lo, 0, 1) * np.clip((hi - f) / width_hi, 0, 1)
    x = np.fft.irfft(spec * shape, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _wavetable(amps: np.ndarray) -> np.ndarray:
    """One period of sum_k amps[k-1] sin(2 pi k t), ``[_TABLE + 1]`` (the extra point closes the cycle)."""
    t = np.arange(_TABLE + 1) / _TABLE
    k = np.arange(1, len(amps) + 1)[:, None]
    return (amps[:, None] * np.sin(2 * np.pi * k * t)).sum(axis=0)


def _lookup(table: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    pos = (cycles - np.floor(cycles)) * _TABLE
    i0 = pos.astype(np.int64)
    frac = pos - i0
    return table[i0] * (1.0 - frac) + table[i0 + 1] * frac


def _harmonics(rng: np.random.Generator, count: int, tilt: float) -> np.ndarray:
    k = np.arange(1, count + 1)
    amps = k ** (-tilt) * rng.uniform(0.6, 1.4, count)
    amps[0] = 1.0
    return amps


def _bandpass_sos(freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """Two-pole band-pass with unity gain at ``freq`` (RBJ cookbook), as one ``sosfilt`` section ``[1, 6]``."""
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) * bandwidth / (2 * freq)
    a0 = 1 + alpha
    return np.array([[alpha / a0, 0.0, -alpha / a0, 1.0, -2 * np.cos(w0) / a0, (1 - alpha) / a0]])


def _spans(on: np.ndarray, hop: int, n: int, pre: int, post: int) -> list[tuple[int, int]]:
    """Sample ranges ``[(start, stop)]`` covering the control steps where ``on``, widened and merged."""
    edges = np.diff(on.astype(np.int8), prepend=0, append=0)
    spans: list[tuple[int, int]] = []
    for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        s0, s1 = max(int(a) * hop - pre, 0), min(int(b) * hop + post, n)
        if spans and s0 <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], s1))
        elif s1 > s0:
            spans.append((s0, s1))
    return spans


def _smooth(x: np.ndarray, tau_steps: float) -> np.ndarray:
    """One-pole low-pass along the last axis (time constant in control steps), started at the first value."""
    a = np.exp(-1.0 / max(tau_steps, 1e-3))
    y, _ = lfilter([1.0 - a], [1.0, -a], x, axis=-1, zi=x[..., :1] * a)
    return y


# ---------------------------------------------------------------------------------------------- the tune


@dataclass(frozen=True)
class SungNote:
    start: float  # s
    length: float  # s
    midi: int
    vowel: int
    vowel2: int  # == vowel when not a diphthong
    consonant: str  # "" for a legato note


def melody(plan: SectionPlan, key_root: int, mode: str, low: int, high: int,
           rng: np.random.Generator) -> list[SungNote]:
    """Phrases over the voiced bars: notes in the key, chord tones on strong beats, rests between phrases."""
    beat = plan.bar_s / 4
    pitches = scale_notes(key_root, mode, low, high)
    notes: list[SungNote] = []
    idx = len(pitches) // 2
    bar = 0
    while bar < plan.bars:
        if not plan.voiced[bar]:
            bar += 1
            continue
        span = 2 if (bar + 1 < plan.bars and plan.voiced[bar + 1] and rng.random() < 0.6) else 1
        t = float(rng.choice([0.0, 0.5, 1.0]))  # pickup rest, beats
        end = span * 4 - float(rng.choice([0.5, 1.0, 1.5, 2.0]))  # phrase-final rest
        while t < end - 0.25:
            length = min(float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0])), end - t)
            b = bar + int(t // 4)
            step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3], p=[0.1, 0.2, 0.1, 0.1, 0.2, 0.1, 0.1, 0.05, 0.05]))
            idx = int(np.clip(idx + step, 0, len(pitches) - 1))
            if t % 4 in (0.0, 2.0) or t + length >= end - 0.25:  # strong beat or phrase end: a chord tone
                tones = [i for i, m in enumerate(pitches) if m % 12 in plan.chords[b]]
                idx = min(tones, key=lambda i: abs(i - idx))
            legato = bool(notes) and rng.random() < 0.15 and notes[-1].start + notes[-1].length >= (
                plan.lead_s + bar * plan.bar_s + t * beat - 1e-6)
            vowel = int(rng.choice(len(VOWEL_NAMES), p=VOWEL_WEIGHTS))
            vowel2 = int(rng.choice(len(VOWEL_NAMES))) if rng.random() < 0.3 else vowel
            consonant = "" if legato or rng.random() < 0.35 else str(rng.choice(list(CONSONANTS)))
            if legato:
                vowel = notes[-1].vowel2
            notes.append(SungNote(plan.lead_s + (bar * 4 + t) * beat, length * beat, pitches[idx], vowel, vowel2,
                                  consonant))
            t += length
        bar += span
    return notes


# ---------------------------------------------------------------------------------------------- the singer


def _note_controls(notes: list[SungNote], sr: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The notes as control-rate trajectories ``[m]`` (one step per ``CONTROL_HOP`` samples), before smoothing:
    target pitch (MIDI, held to the next note), amplitude envelope, vowel weights ``[vowels, m]`` (the note's
    vowel, then its second vowel from 55 % of the note on) and vibrato depth (grows in after 0.18 s)."""
    hop = CONTROL_HOP
    target = np.full(m, float(notes[0].midi))
    amp = np.zeros(m)
    weights = np.zeros((len(VOWEL_NAMES), m))
    weights[notes[0].vowel] = 1.0
    vib_env = np.zeros(m)
    for i, note in enumerate(notes):
        s = int(note.start * sr / hop)
        e = min(int((note.start + note.length) * sr / hop), m)
        nxt = int(notes[i + 1].start * sr / hop) if i + 1 < len(notes) else m
        target[s:nxt] = note.midi
        weights[:, s:nxt] = 0.0
        mid = s + int(0.55 * (e - s))
        weights[note.vowel, s:mid] = 1.0
        weights[note.vowel2, mid:nxt] = 1.0
        length = max(e - s, 1)
        k = np.arange(length) * hop / sr
        attack = 0.015 if not note.consonant else 0.04
        env = np.minimum(k / attack, 1.0) * (1.0 - 0.15 * k / max(note.length, 1e-3))
        rel = min(int(0.08 * sr / hop), length)
        env[-rel:] *= np.linspace(1.0, 0.35 if i + 1 < len(notes) and nxt <= e + 2 else 0.0, rel)
        amp[s:e] = np.maximum(amp[s:e], env[: e - s])
        vib_env[s:e] = np.clip((k[: e - s] - 0.18) / 0.3, 0.0, 1.0)
    return target, amp, weights, vib_env


def sing(notes: list[SungNote], voice: VoiceParams, sr: int, band_hz: float, n: int,
         rng: np.random.Generator) -> np.ndarray:
    """The sung voice, mono float64 ``[n]``: glottal wavetable (vibrato, jitter, shimmer, breath) through
    morphing vowel formants, with noise-burst consonants."""
    out = np.zeros(n)
    if not notes:
        return out
    preset = SINGERS[voice.singer]
    hop = CONTROL_HOP
    m = n // hop + 2
    ctl_t = np.arange(m) * hop / sr
    target, amp, weights, vib_env = _note_controls(notes, sr, m)
    glide = _smooth(target, 0.045 * sr / hop)
    drift = _smooth(rng.standard_normal(m), 0.3 * sr / hop) * 0.06
    jitter = _smooth(rng.standard_normal(m), 0.004 * sr / hop) * preset.jitter * 4.0
    pitch = (glide + voice.vibrato_depth * vib_env * np.sin(2 * np.pi * voice.vibrato_rate * ctl_t + rng.uniform(0, 6.3))
             + drift + jitter)
    weights = _smooth(weights, 0.035 * sr / hop)
    amp = _smooth(amp, 0.006 * sr / hop) * (1.0 + preset.shimmer * _smooth(rng.standard_normal(m), 0.01 * sr / hop) * 3)

    sample_pos = np.arange(n) / hop
    ctl = np.arange(m)
    f0 = midi_to_hz(np.interp(sample_pos, ctl, pitch))
    cycles = np.cumsum(f0 / sr)
    # mip-mapped glottal wavetables: a lower note reads a table with more harmonics, all below band_hz
    amps = _harmonics(rng, int(band_hz // midi_to_hz(voice.low - 2)), voice.tilt)
    limits = midi_to_hz(voice.high + 1.5 - 6.0 * np.arange(6))
    limits = limits[: max(1, int(np.sum(limits > midi_to_hz(voice.low - 2))))]
    tables = [_wavetable(amps[: max(int(band_hz // f_lim), 4)]) for f_lim in limits]
    level = np.clip(np.searchsorted(-limits, -midi_to_hz(pitch)) - 1, 0, len(limits) - 1)
    level_w = _smooth((level[None, :] == np.arange(len(limits))[:, None]).astype(float), 0.01 * sr / hop)
    breath_buf = band_noise(rng, 1 << 16, sr, 300, min(band_hz, 9000))
    breath_bed = np.resize(np.roll(breath_buf, int(rng.integers(len(breath_buf)))), n) * (0.02 + voice.breath)
    formants = [[(a, _bandpass_sos(f * voice.formant_scale, b * voice.formant_scale, sr))
                 for f, b, a in zip(*VOWELS[name], FORMANT_LEVELS)] for name in VOWEL_NAMES]

    for s0, s1 in _spans(amp > 1e-4, hop, n, pre=int(0.02 * sr), post=int(0.1 * sr)):
        pos = sample_pos[s0:s1]
        source = breath_bed[s0:s1].copy()
        for j, table in enumerate(tables):
            w = np.interp(pos, ctl, level_w[j])
            if w.max() > 1e-4:
                source += w * _lookup(table, cycles[s0:s1])
        source *= np.interp(pos, ctl, amp)
        source_rms = np.sqrt(np.mean(source**2)) + 1e-12
        for v in range(len(VOWEL_NAMES)):
            w = np.interp(pos, ctl, weights[v])
            if w.max() <= 1e-3:
                continue
            y = sum(a * sosfilt(sos, source) for a, sos in formants[v])
            out[s0:s1] += w * y * (source_rms / (np.sqrt(np.mean(y**2)) + 1e-12))

    _add_consonants(out, notes, sr, band_hz, preset.consonants, rng)
    return out


def _add_consonants(out: np.ndarray, notes: list[SungNote], sr: int, band_hz: float, level: float,
                    rng: np.random.Generator) -> None:
    """Add a noise burst before each note that has a consonant to the sung voice ``out`` ``[n]`` (in place), at
    ``level`` times 2.5 times the voice's RMS, scaled by the consonant's own level."""
    n = len(out)
    sung = out[np.abs(out) > 1e-6]
    level_c = float(np.sqrt(np.mean(sung**2))) * 2.5 * level if len(sung) else 0.0
    banks = {name: band_noise(rng, 1 << 14, sr, lo_hz, min(hi_hz, band_hz))
             for name, (lo_hz, hi_hz, _, _) in CONSONANTS.items()}
    for note in notes:
        if not note.consonant:
            continue
        _, _, dur, rel_level = CONSONANTS[note.consonant]
        nn = int(dur * sr)
        start = int((note.start - dur * 0.6) * sr)
        env = np.sin(np.pi * np.arange(nn) / nn) ** 2 if dur > 0.03 else np.exp(-np.arange(nn) / (0.006 * sr))
        burst = banks[note.consonant][:nn] * env * level_c * rel_level
        s0, s1 = max(start, 0), min(start + nn, n)
        if s1 > s0:
            out[s0:s1] += burst[s0 - start : s1 - start]
