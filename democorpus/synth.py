"""Synthesised songs with known stems: drums, bass, chords (and sometimes an arpeggio) under a sung voice.

Everything is vectorised NumPy: notes and drum hits are rendered as whole arrays (wavetable lookups, shaped
noise, IIR formant filters) and added into the song; Python loops run over events, never over samples.

Shapes and units: stems are float32 ``[2, samples]`` (stereo) at the song's sample rate; times in seconds,
frequencies in Hz, pitches as MIDI note numbers. Every harmonic and noise source is band-limited below
``SongSpec.band_hz``, so a song survives resampling between 44.1 and 48 kHz without losing content (the truth
of an instrumental at another rate stays exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
from scipy.signal import lfilter, oaconvolve, sosfilt

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
#: Chord progressions as 0-based scale degrees, one chord per bar.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4), (1, 4, 0, 0), (0, 3, 5, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 2, 6, 3)),
}
#: Formant frequencies (Hz) and bandwidths (Hz) of sung vowels for an adult male voice; scaled per voice.
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
VOICES = {
    # name: (lowest MIDI note range, span in semitones, formant scale range, spectral tilt range)
    "female": ((55, 60), (14, 17), (1.10, 1.22), (1.2, 1.7)),
    "male": ((43, 48), (14, 17), (0.94, 1.04), (0.9, 1.3)),
}
CONTROL_HOP = 32  # samples per control-rate step (pitch, amplitude and vowel trajectories)
_TABLE = 4096  # wavetable size


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def note_name(midi: int) -> str:
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


@dataclass(frozen=True)
class SongSpec:
    """What a song is. ``seconds``: length of the original; ``band_hz``: highest frequency any source may hold."""

    song_id: str
    seed: int
    seconds: float
    sample_rate: int
    band_hz: float
    key_root: int  # pitch class 0-11
    mode: str  # "major" | "minor"
    tempo_bpm: float
    progression: tuple[int, ...]
    voice: str  # "female" | "male"
    voice_low: int  # MIDI
    voice_high: int  # MIDI
    formant_scale: float
    tilt: float
    vocal_level_db: float  # vocal RMS over its active frames relative to the accompaniment's, dB
    peak: float  # peak of the mixture (< 0.9)

    @property
    def key(self) -> str:
        return f"{NOTE_NAMES[self.key_root]} {self.mode}"

    @property
    def bar_s(self) -> float:
        return 240.0 / self.tempo_bpm

    @property
    def samples(self) -> int:
        return int(round(self.seconds * self.sample_rate))


@dataclass(frozen=True)
class Song:
    """A rendered song: float32 ``[2, samples]`` stems at ``spec.sample_rate``; mixture = vocals + accompaniment."""

    spec: SongSpec
    vocals: np.ndarray
    accompaniment: np.ndarray
    vocal_activity: float  # fraction of the song's time in which the voice sings

    @property
    def mixture(self) -> np.ndarray:
        return self.vocals + self.accompaniment


def random_spec(song_id: str, seed: int, seconds: float, sample_rate: int, band_hz: float) -> SongSpec:
    """Draw a song's key, tempo, progression and voice from ``seed`` (independent of every other song)."""
    rng = np.random.default_rng([seed, 0x50_4E_47])
    mode = str(rng.choice(["major", "minor"], p=[0.6, 0.4]))
    progressions = PROGRESSIONS[mode]
    voice = str(rng.choice(list(VOICES)))
    (lo_a, lo_b), (sp_a, sp_b), (fs_a, fs_b), (ti_a, ti_b) = VOICES[voice]
    low = int(rng.integers(lo_a, lo_b + 1))
    return SongSpec(
        song_id=song_id,
        seed=seed,
        seconds=float(seconds),
        sample_rate=int(sample_rate),
        band_hz=float(band_hz),
        key_root=int(rng.integers(12)),
        mode=mode,
        tempo_bpm=float(rng.integers(84, 141)),
        progression=tuple(int(d) for d in progressions[int(rng.integers(len(progressions)))]),
        voice=voice,
        voice_low=low,
        voice_high=low + int(rng.integers(sp_a, sp_b + 1)),
        formant_scale=float(rng.uniform(fs_a, fs_b)),
        tilt=float(rng.uniform(ti_a, ti_b)),
        vocal_level_db=float(rng.uniform(-1.0, 4.0)),
        peak=float(rng.uniform(0.55, 0.85)),
    )


# ---------------------------------------------------------------------------------------------- building blocks


def _band_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
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
    """Linear-interpolated wavetable read at phase ``cycles`` (in periods), float64 ``[len(cycles)]``."""
    pos = (cycles - np.floor(cycles)) * _TABLE
    i0 = pos.astype(np.int64)
    frac = pos - i0
    return table[i0] * (1.0 - frac) + table[i0 + 1] * frac


def _harmonics(rng: np.random.Generator, count: int, tilt: float, odd_bias: float = 0.0) -> np.ndarray:
    k = np.arange(1, count + 1)
    amps = k ** (-tilt) * rng.uniform(0.6, 1.4, count)
    amps[1::2] *= 1.0 - odd_bias  # even harmonics (k = 2, 4, ...) weakened: square-ish
    amps[0] = 1.0
    return amps


def _tone(table: np.ndarray, freq: float, n: int, sr: int, phase: float = 0.0) -> np.ndarray:
    return _lookup(table, phase + np.arange(n) * (freq / sr))


def _adsr(n: int, sr: int, attack: float, decay_tau: float, release: float, sustain: float = 1.0) -> np.ndarray:
    """Attack (linear), exponential decay towards ``sustain``, linear release over the last ``release`` s."""
    t = np.arange(n) / sr
    env = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - attack, 0.0) / decay_tau)
    env *= np.minimum(t / max(attack, 1e-4), 1.0)
    r = max(int(release * sr), 1)
    if r < n:
        env[-r:] *= np.linspace(1.0, 0.0, r)
    else:
        env *= np.linspace(1.0, 0.0, n)
    return env


def _add(out: np.ndarray, start: int, sig: np.ndarray, left: float, right: float) -> None:
    """``out[:, start:start+len(sig)] += sig * [left, right]``, clipped to ``out``'s length."""
    if start >= out.shape[1]:
        return
    if start < 0:
        sig, start = sig[-start:], 0
    sig = sig[: out.shape[1] - start]
    out[0, start : start + len(sig)] += sig * left
    out[1, start : start + len(sig)] += sig * right


def _pan(position: float) -> tuple[float, float]:
    """Constant-power pan, ``position`` in [-1 (left), 1 (right)]."""
    angle = (position + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))


def _bandpass_sos(freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """Two-pole band-pass with unity gain at ``freq`` (RBJ cookbook), as one ``sosfilt`` section ``[1, 6]``."""
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) * bandwidth / (2 * freq)
    a0 = 1 + alpha
    return np.array([[alpha / a0, 0.0, -alpha / a0, 1.0, -2 * np.cos(w0) / a0, (1 - alpha) / a0]])


def _noise_bed(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    """Long band-limited noise, ``[n]``: a 1.5-s buffer of ``_band_noise`` tiled from a random start."""
    buf = _band_noise(rng, 1 << 16, sr, lo, hi)
    return np.resize(np.roll(buf, int(rng.integers(len(buf)))), n)


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
    zi = (x[..., :1] * a)
    y, _ = lfilter([1.0 - a], [1.0, -a], x, axis=-1, zi=zi)
    return y


# ---------------------------------------------------------------------------------------------- arrangement


@dataclass(frozen=True)
class _Plan:
    lead_s: float  # silence before the first downbeat
    bars: int  # bars of music before the final chord
    voiced: tuple[bool, ...]  # voice sings in bar b
    chords: tuple[tuple[int, ...], ...]  # pitch classes per bar (root first)
    roots: tuple[int, ...]  # bass root MIDI per bar (and the final chord's last)


def _chord_pcs(spec: SongSpec, degree: int) -> tuple[int, ...]:
    scale = SCALES[spec.mode]
    return tuple((spec.key_root + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4))


def _plan(spec: SongSpec, rng: np.random.Generator) -> _Plan:
    lead = float(rng.uniform(0.02, 0.15))
    tail = float(rng.uniform(0.7, 1.1))
    bars = max(1, int((spec.seconds - lead - tail) // spec.bar_s))
    voiced = [True] * bars
    if bars >= 4:
        voiced[0] = False  # intro
    if bars >= 6 and rng.random() < 0.5:
        voiced[1] = False  # longer intro
    if bars >= 7:
        voiced[bars // 2 + int(rng.integers(0, 2))] = False  # instrumental break
    if bars >= 5:
        voiced[-1] = False  # outro
    degrees = [spec.progression[b % len(spec.progression)] for b in range(bars + 1)]
    degrees[-1] = 0  # end on the tonic
    chords = tuple(_chord_pcs(spec, d) for d in degrees)
    roots = tuple(31 + (c[0] - 31) % 12 for c in chords)  # G1 to F#2
    return _Plan(lead, bars, tuple(voiced), chords, roots)


# ---------------------------------------------------------------------------------------------- accompaniment


def _drums(spec: SongSpec, plan: _Plan, rng: np.random.Generator, n: int) -> np.ndarray:
    sr, band = spec.sample_rate, spec.band_hz
    out = np.zeros((2, n))
    bank = 1 << 16
    noise_hat = _band_noise(rng, bank, sr, 6500, band)
    noise_snare = _band_noise(rng, bank, sr, 900, min(9000, band))
    noise_crash = _band_noise(rng, bank * 2, sr, 3000, band)
    noise_click = _band_noise(rng, 2048, sr, 1500, min(8000, band))

    # kick: a sine swept down in pitch, plus a click
    kn = int(0.45 * sr)
    t = np.arange(kn) / sr
    f_hi, f_lo, tau_p = rng.uniform(110, 170), rng.uniform(42, 60), rng.uniform(0.02, 0.05)
    freq = f_lo + (f_hi - f_lo) * np.exp(-t / tau_p)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / rng.uniform(0.09, 0.22))
    kick[:2048] += 0.25 * noise_click * np.exp(-np.arange(2048) / (0.004 * sr))
    kick *= np.minimum(np.arange(kn) / (0.002 * sr), 1.0)

    # snare: a short tone and a noise burst
    sn = int(0.35 * sr)
    t = np.arange(sn) / sr
    tone_f = rng.uniform(170, 230)
    snare_tone = 0.6 * np.sin(2 * np.pi * tone_f * t) * np.exp(-t / 0.05)
    snare_tau = rng.uniform(0.07, 0.16)
    snare_env = np.exp(-t / snare_tau) * np.minimum(np.arange(sn) / (0.001 * sr), 1.0)

    hat_tau = rng.uniform(0.018, 0.045)
    hn = int(0.12 * sr)
    hat_env = np.exp(-np.arange(hn) / (hat_tau * sr))
    open_n = int(0.4 * sr)
    open_env = np.exp(-np.arange(open_n) / (rng.uniform(0.12, 0.25) * sr))
    crash_n = int(2.2 * sr)
    crash_env = np.exp(-np.arange(crash_n) / (rng.uniform(0.5, 0.9) * sr))

    kick_pat = [(0, 8), (0, 6, 8, 11), (0, 4, 8, 12), (0, 10), (0, 3, 8, 10)][int(rng.integers(5))]
    half_time = rng.random() < 0.2
    snare_pat = (8,) if half_time else (4, 12)
    hat_step = int(rng.choice([1, 2, 2]))  # 16ths or 8ths
    hat_pan, crash_pan = _pan(rng.uniform(0.2, 0.5)), _pan(rng.uniform(-0.5, -0.2))
    kick_g, snare_g, hat_g = rng.uniform(0.8, 1.0), rng.uniform(0.45, 0.65), rng.uniform(0.10, 0.2)
    step_s = spec.bar_s / 16

    def at(bar: int, step: float) -> int:
        jitter = rng.normal(0, 0.004)
        return int(round((plan.lead_s + bar * spec.bar_s + step * step_s + jitter) * sr))

    def noise_slice(buf: np.ndarray, length: int) -> np.ndarray:
        start = int(rng.integers(0, len(buf) - length))
        return buf[start : start + length]

    for bar in range(plan.bars):
        intro_light = bar == 0 and not plan.voiced[0] and plan.bars >= 4
        if bar == 0 or (plan.voiced[bar] and not plan.voiced[bar - 1]):
            _add(out, at(bar, 0), noise_slice(noise_crash, crash_n) * crash_env * 0.18, *crash_pan)
        for step in range(0, 16, hat_step):
            vel = (1.0 if step % 4 == 0 else 0.7) * rng.uniform(0.8, 1.1)
            if step == 14 and rng.random() < 0.3:
                _add(out, at(bar, step), noise_slice(noise_hat, open_n) * open_env * hat_g * 0.8, *hat_pan)
            else:
                _add(out, at(bar, step), noise_slice(noise_hat, hn) * hat_env * hat_g * vel, *hat_pan)
        if intro_light:
            continue
        for step in kick_pat:
            _add(out, at(bar, step), kick * kick_g * rng.uniform(0.85, 1.0), 0.7, 0.7)
        for step in snare_pat:
            body = snare_tone + noise_slice(noise_snare, sn) * snare_env * 0.5
            _add(out, at(bar, step), body * snare_g * rng.uniform(0.85, 1.0), 0.68, 0.72)
        if bar + 1 < plan.bars and plan.voiced[bar + 1] != plan.voiced[bar] and rng.random() < 0.7:
            for step in (13, 14, 15):  # a fill into the next section
                body = snare_tone + noise_slice(noise_snare, sn) * snare_env * 0.5
                _add(out, at(bar, step), body * snare_g * 0.6, 0.68, 0.72)
    # the final hit
    _add(out, at(plan.bars, 0), kick * kick_g, 0.7, 0.7)
    _add(out, at(plan.bars, 0), noise_slice(noise_crash, crash_n) * crash_env * 0.2, *crash_pan)
    return out


def _bass(spec: SongSpec, plan: _Plan, rng: np.random.Generator, n: int) -> np.ndarray:
    sr = spec.sample_rate
    out = np.zeros((2, n))
    max_f = midi_to_hz(max(plan.roots) + 12)
    count = int(max(2, min(14, spec.band_hz * 0.5 // max_f)))
    table = _wavetable(_harmonics(rng, count, rng.uniform(1.2, 2.2)))
    pattern = [(0, 4), (0, 3, 4, 6), (0, 2, 4, 6), (0, 1, 4, 5, 6), (0, 6)][int(rng.integers(5))]
    eighth = spec.bar_s / 8
    pluck_tau = rng.uniform(0.15, 0.5)
    gain = rng.uniform(0.35, 0.5)
    for bar in range(plan.bars + 1):
        root = plan.roots[bar]
        steps = (0,) if bar == plan.bars else pattern
        for i, step in enumerate(steps):
            nxt = steps[i + 1] if i + 1 < len(steps) else 8
            length = (nxt - step) * eighth * 0.95 if bar < plan.bars else 1.5
            midi = root + (7 if (i == len(steps) - 1 and len(steps) > 2 and rng.random() < 0.3) else 0)
            nn = int(length * sr)
            env = _adsr(nn, sr, 0.005, pluck_tau, min(0.04, length / 3), sustain=0.35)
            start = int(round((plan.lead_s + bar * spec.bar_s + step * eighth) * sr))
            _add(out, start, _tone(table, float(midi_to_hz(midi)), nn, sr) * env * gain, 0.7, 0.7)
    return out


def _chords(spec: SongSpec, plan: _Plan, rng: np.random.Generator, n: int) -> np.ndarray:
    sr = spec.sample_rate
    out = np.zeros((2, n))
    center = int(rng.integers(58, 67))  # voicing centre: the voice's range
    style = str(rng.choice(["pad", "stabs", "strum"]))
    max_f = midi_to_hz(center + 8)
    count = int(max(3, min(16, spec.band_hz * 0.9 // max_f)))
    table = _wavetable(_harmonics(rng, count, rng.uniform(0.9, 1.8), odd_bias=rng.uniform(0, 0.8)))
    detune = rng.uniform(3, 9) / 1200.0
    gain = rng.uniform(0.10, 0.16)
    attack = rng.uniform(0.05, 0.25)
    beat = spec.bar_s / 4
    for bar in range(plan.bars + 1):
        midis = [center - 6 + (pc - (center - 6)) % 12 for pc in plan.chords[bar]]
        final = bar == plan.bars
        if style == "pad" or final:
            hits = [(0.0, spec.bar_s if not final else 2.0)]
        elif style == "stabs":
            hits = [(b * beat + beat / 2, beat * 0.45) for b in range(4)]
        else:
            hits = [(0.0, 2 * beat), (2 * beat, 2 * beat)]
        for t0, length in hits:
            for j, midi in enumerate(midis):
                delay = j * 0.018 if style == "strum" else 0.0
                nn = int((length + 0.3) * sr)
                if style == "pad" or final:
                    env = _adsr(nn, sr, attack, 1.0, 0.3, sustain=0.8)
                else:
                    env = _adsr(nn, sr, 0.006, rng.uniform(0.15, 0.6), 0.08, sustain=0.2)
                f = float(midi_to_hz(midi))
                start = int(round((plan.lead_s + bar * spec.bar_s + t0 + delay) * sr))
                phase = rng.random()
                left = _tone(table, f * (1 - detune), nn, sr, phase) * env
                right = _tone(table, f * (1 + detune), nn, sr, phase) * env
                out[:, start : start + nn] += np.stack([left, right])[:, : max(n - start, 0)] * gain
    return out


def _arpeggio(spec: SongSpec, plan: _Plan, rng: np.random.Generator, n: int) -> np.ndarray:
    sr = spec.sample_rate
    out = np.zeros((2, n))
    base = int(rng.integers(67, 74))
    count = int(max(2, min(8, spec.band_hz * 0.9 // midi_to_hz(base + 19))))
    table = _wavetable(_harmonics(rng, count, rng.uniform(1.5, 2.5)))
    step = spec.bar_s / (16 if rng.random() < 0.5 else 8)
    tau = rng.uniform(0.06, 0.2)
    left, right = _pan(rng.choice([-1, 1]) * rng.uniform(0.3, 0.7))
    gain = rng.uniform(0.06, 0.1)
    nn = int(0.5 * sr)
    env = _adsr(nn, sr, 0.003, tau, 0.05, sustain=0.0)
    for bar in range(plan.bars):
        if plan.voiced[bar] and rng.random() < 0.5:
            continue  # mostly in the intro and the breaks
        tones = [base - 5 + (pc - (base - 5)) % 12 for pc in plan.chords[bar]]
        tones = tones + [tones[1] + 12]
        for i in range(int(round(spec.bar_s / step))):
            start = int(round((plan.lead_s + bar * spec.bar_s + i * step) * sr))
            _add(out, start, _tone(table, float(midi_to_hz(tones[i % 4])), nn, sr) * env * gain, left, right)
    return out


# ---------------------------------------------------------------------------------------------- the voice


@dataclass(frozen=True)
class _Note:
    start: float  # s
    length: float  # s
    midi: int
    vowel: int
    vowel2: int  # == vowel when not a diphthong
    consonant: str  # "" for a legato note


def _melody(spec: SongSpec, plan: _Plan, rng: np.random.Generator) -> list[_Note]:
    """Phrases over the voiced bars: notes in the key, chord tones on strong beats, rests between phrases."""
    beat = spec.bar_s / 4
    scale = SCALES[spec.mode]
    pitches = [m for m in range(spec.voice_low, spec.voice_high + 1) if (m - spec.key_root) % 12 in scale]
    notes: list[_Note] = []
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
            length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            length = min(length, end - t)
            in_bar = t % 4
            b = bar + int(t // 4)
            step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3], p=[0.1, 0.2, 0.1, 0.1, 0.2, 0.1, 0.1, 0.05, 0.05]))
            idx = int(np.clip(idx + step, 0, len(pitches) - 1))
            if in_bar in (0.0, 2.0) or t + length >= end - 0.25:  # strong beat or phrase end: a chord tone
                tones = [i for i, m in enumerate(pitches) if m % 12 in plan.chords[b]]
                idx = min(tones, key=lambda i: abs(i - idx))
            legato = bool(notes) and rng.random() < 0.15 and notes[-1].start + notes[-1].length >= (
                plan.lead_s + bar * spec.bar_s + t * beat - 1e-6
            )
            vowel = int(rng.choice(len(VOWEL_NAMES), p=VOWEL_WEIGHTS))
            vowel2 = int(rng.choice(len(VOWEL_NAMES))) if rng.random() < 0.3 else vowel
            consonant = "" if legato or rng.random() < 0.35 else str(rng.choice(list(CONSONANTS)))
            if legato:
                vowel = notes[-1].vowel2
            notes.append(
                _Note(plan.lead_s + (bar * 4 + t) * beat, length * beat, pitches[idx], vowel, vowel2, consonant)
            )
            t += length
        bar += span
    return notes


def _voice(spec: SongSpec, plan: _Plan, rng: np.random.Generator, n: int) -> np.ndarray:
    """The sung voice, mono float64 ``[n]``: a glottal wavetable with vibrato through morphing vowel formants."""
    sr = spec.sample_rate
    notes = _melody(spec, plan, rng)
    out = np.zeros(n)
    if not notes:
        return out
    hop = CONTROL_HOP
    m = n // hop + 2
    ctl_t = np.arange(m) * hop / sr

    # pitch: held between notes, glides (portamento), vibrato growing into long notes, slow drift
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
    glide = _smooth(target, 0.045 * sr / hop)
    vib_rate, vib_depth = rng.uniform(4.8, 6.5), rng.uniform(0.25, 0.6)
    drift = _smooth(rng.standard_normal(m), 0.3 * sr / hop) * 0.6
    pitch = glide + vib_depth * vib_env * np.sin(2 * np.pi * vib_rate * ctl_t + rng.uniform(0, 6.3)) + drift * 0.1
    weights = _smooth(weights, 0.035 * sr / hop)
    amp = _smooth(amp, 0.006 * sr / hop)

    sample_pos = np.arange(n) / hop
    ctl = np.arange(m)
    f0 = midi_to_hz(np.interp(sample_pos, ctl, pitch))
    cycles = np.cumsum(f0 / sr)
    # mip-mapped glottal wavetables: a lower note reads a table with more harmonics, all below band_hz
    amps = _harmonics(rng, int(spec.band_hz // midi_to_hz(spec.voice_low - 2)), spec.tilt)
    limits = midi_to_hz(spec.voice_high + 1.5 - 6.0 * np.arange(6))  # half-octave steps down from the top
    limits = limits[: max(1, int(np.sum(limits > midi_to_hz(spec.voice_low - 2))))]
    tables = [_wavetable(amps[: max(int(spec.band_hz // f_lim), 4)]) for f_lim in limits]
    level = np.clip(np.searchsorted(-limits, -midi_to_hz(pitch)) - 1, 0, len(limits) - 1)
    level_w = _smooth((level[None, :] == np.arange(len(limits))[:, None]).astype(float), 0.01 * sr / hop)
    breath_bed = _noise_bed(rng, n, sr, 300, min(spec.band_hz, 9000)) * rng.uniform(0.03, 0.08)
    formants = [
        [(a, _bandpass_sos(f * spec.formant_scale, b * spec.formant_scale, sr))
         for f, b, a in zip(*VOWELS[name], FORMANT_LEVELS)]  # parallel formants: a -12 dB/octave roll-off
        for name in VOWEL_NAMES
    ]

    # only where the voice sings (phrases): source, then each vowel's formants, crossfaded by the vowel weights
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

    # consonants: shaped noise bursts at syllable onsets (not formant-filtered)
    sung = out[np.abs(out) > 1e-6]
    level = float(np.sqrt(np.mean(sung**2))) * 2.5 if len(sung) else 0.0
    banks = {
        name: _band_noise(rng, 1 << 14, sr, lo_hz, min(hi_hz, spec.band_hz))
        for name, (lo_hz, hi_hz, _, _) in CONSONANTS.items()
    }
    for note in notes:
        if not note.consonant:
            continue
        _, _, dur, rel_level = CONSONANTS[note.consonant]
        nn = int(dur * sr)
        start = int((note.start - dur * 0.6) * sr)
        env = np.sin(np.pi * np.arange(nn) / nn) ** 2 if dur > 0.03 else np.exp(-np.arange(nn) / (0.006 * sr))
        burst = banks[note.consonant][:nn] * env * level * rel_level
        s0, s1 = max(start, 0), min(start + nn, n)
        if s1 > s0:
            out[s0:s1] += burst[s0 - start : s1 - start]
    return out


def _reverb(rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """A stereo room impulse response ``[2, samples]``: exponentially decaying noise, no direct sound."""
    nn = int(seconds * sr)
    decay = np.exp(-np.arange(nn) / (seconds / 6.9 * sr))  # -60 dB at the end
    ir = rng.standard_normal((2, nn)) * decay
    ir[:, : int(0.012 * sr)] = 0.0  # pre-delay
    return ir / np.sqrt(np.sum(ir**2, axis=1, keepdims=True))


# ---------------------------------------------------------------------------------------------- the song


def render(spec: SongSpec) -> Song:
    """Render ``spec`` into float32 stereo stems ``[2, spec.samples]``; deterministic for a given spec."""
    rng = np.random.default_rng([spec.seed, 0x52_4E_44])
    sr, n = spec.sample_rate, spec.samples
    plan = _plan(spec, rng)

    drums = _drums(spec, plan, rng, n)
    bass = _bass(spec, plan, rng, n)
    chords = _chords(spec, plan, rng, n)
    arp = _arpeggio(spec, plan, rng, n) if rng.random() < 0.5 else np.zeros((2, n))
    acc = drums * rng.uniform(0.8, 1.1) + bass + chords + arp

    dry = _voice(spec, plan, rng, n)
    wet_level = rng.uniform(0.15, 0.35)
    # a dark stereo room on the voice, convolved at a quarter of the rate (cheap, and air damps the highs)
    low_sr = sr // 4
    ir = _reverb(rng, low_sr, rng.uniform(0.6, 1.2))
    active = np.flatnonzero(np.abs(dry) > 1e-6)
    vocals = np.zeros((2, n))
    vocals += dry * 0.7071
    if len(active):
        lo, hi = int(active[0]), int(active[-1]) + 1
        low = soxr.resample(dry[lo:hi], sr, low_sr, quality="HQ")
        wet_low = oaconvolve(low[None, :], ir, axes=1)
        wet = soxr.resample(np.ascontiguousarray(wet_low.T), low_sr, sr, quality="HQ").T
        _add(vocals, lo, wet[0] * wet_level, 1.0, 0.0)
        _add(vocals, lo, wet[1] * wet_level, 0.0, 1.0)

    # vocal level relative to the accompaniment while the voice sings
    hop = 1024
    frames = n // hop
    v_rms = np.sqrt(np.mean(vocals[:, : frames * hop].reshape(2, frames, hop) ** 2, axis=(0, 2)))
    a_rms = np.sqrt(np.mean(acc[:, : frames * hop].reshape(2, frames, hop) ** 2, axis=(0, 2)))
    singing = v_rms > 0.1 * (v_rms.max() + 1e-12)
    if singing.any():
        ratio = np.sqrt(np.mean(a_rms[singing] ** 2)) / (np.sqrt(np.mean(v_rms[singing] ** 2)) + 1e-12)
        vocals *= ratio * 10 ** (spec.vocal_level_db / 20)

    fade = min(int(0.05 * sr), n)
    ramp = np.linspace(1.0, 0.0, fade)
    vocals[:, n - fade :] *= ramp
    acc[:, n - fade :] *= ramp
    scale = spec.peak / (np.max(np.abs(vocals + acc)) + 1e-12)
    vocals = (vocals * scale).astype(np.float32)
    acc = (acc * scale).astype(np.float32)
    activity = float(np.mean(singing)) if frames else 0.0
    return Song(spec, vocals, acc, activity)
