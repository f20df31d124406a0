"""Song families that break a usual band song's assumptions (issue 18): the level match and the trust mask must
hold on them too.

- ``band``: the usual song (``arrangement``'s genres, a voice about half of the time, near the band's level);
- ``sine-bass``: the General MIDI bass replaced by a sine bass with a sub octave (most of the energy below
  120 Hz, in the level match's lowest bands);
- ``kick-heavy``: a synthetic kick (a pitch-swept sine, 150 to 45 Hz) on every beat, louder than the band;
- ``sparse``: the voice over one chord instrument (no drums, bass, lead or backing vocals);
- ``continuous``: the voice sings in every bar, intro and outro included, each note held to the next;
- ``few-phrases``: the voice sings two bars of the song (one when it is short);
- ``voice-under``: the voice 14-16 dB under the accompaniment;
- ``voice-over``: the voice 9-11 dB over it.

A family changes a song only where it says so: ``random_spec`` and ``render`` draw everything else as for a
band song, and the family's own draws come from a generator of their own, so a band song is the same song
whatever the families of the others. Units: seconds, MIDI notes; audio float64 ``[2, samples]`` at
``SYNTH_RATE``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from democorpus.arrangement import Part, SectionPlan
from democorpus.instruments import SYNTH_RATE
from democorpus.music import midi_to_hz
from democorpus.voice import SungNote

SONG_FAMILIES = ("band", "sine-bass", "kick-heavy", "sparse", "continuous", "few-phrases", "voice-under",
                 "voice-over")
#: The families other than ``band``, in the order the demo corpus gives them out.
NEW_FAMILIES = SONG_FAMILIES[1:]
#: Voice level (dB, over its active frames, relative to the accompaniment's) of the families that set it.
VOICE_LEVEL_DB = {"voice-under": (-16.0, -14.0), "voice-over": (9.0, 11.0)}
#: RMS of a family's own source relative to the band's (the rest of the accompaniment).
SOURCE_LEVEL = {"sine-bass": 1.0, "kick-heavy": 1.4}


def family_rng(seed: int, family: str) -> np.random.Generator:
    """The family's own generator for a song of ``seed``."""
    return np.random.default_rng([seed, 0xFA, SONG_FAMILIES.index(family)])


def demo_family(i: int) -> str:
    """The song family of the demo corpus's ``i``-th song: from song 12 on, every third song has a new family,
    in turn (songs 0-11, the corpora the tests use, stay band songs)."""
    if i < 12 or i % 3:
        return "band"
    return NEW_FAMILIES[(i // 3 - 4) % len(NEW_FAMILIES)]


def family_parts(family: str, parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """The instruments a family keeps: ``sine-bass`` drops the sampled bass (its sine bass replaces it),
    ``sparse`` keeps one chord instrument."""
    if family == "sine-bass":
        return tuple(p for p in parts if p.role != "bass")
    if family == "sparse":
        chords = [p for p in parts if p.role == "comp"] or [p for p in parts if p.role in ("keys", "arp")]
        return tuple(chords[:1])
    return parts


def family_level_db(family: str, level_db: float, rng: np.random.Generator) -> float:
    """The voice's level relative to the accompaniment (dB): the family's, else ``level_db``."""
    if family in VOICE_LEVEL_DB:
        return float(rng.uniform(*VOICE_LEVEL_DB[family]))
    return level_db


def family_voicing(family: str, plan: SectionPlan) -> SectionPlan:
    """The bars the voice sings: every bar (``continuous``), two bars about a third and two thirds into the
    song (``few-phrases``), else the plan's own."""
    if family == "continuous":
        return dataclasses.replace(plan, voiced=(True,) * plan.bars)
    if family == "few-phrases":
        bars = {plan.bars // 3, (2 * plan.bars) // 3} if plan.bars >= 4 else {plan.bars // 2}
        return dataclasses.replace(plan, voiced=tuple(b in bars for b in range(plan.bars)))
    return plan


def family_notes(family: str, notes: list[SungNote]) -> list[SungNote]:
    """The sung notes: in ``continuous``, each note held to the next one's start (no rests between phrases)."""
    if family != "continuous":
        return notes
    held = [dataclasses.replace(a, length=max(a.length, b.start - a.start)) for a, b in zip(notes, notes[1:])]
    return held + notes[-1:]


def _note(n: int, start_s: float, length_s: float, freq_hz: np.ndarray | float, decay_s: float) -> tuple[int, np.ndarray]:
    """A note's first sample and its samples: a sine (``freq_hz`` per sample, or one frequency) with a 5 ms
    attack, an exponential decay and a 20 ms release, float64."""
    a = int(round(start_s * SYNTH_RATE))
    m = max(0, min(int(round(length_s * SYNTH_RATE)), n - a))
    t = np.arange(m) / SYNTH_RATE
    f = np.broadcast_to(np.asarray(freq_hz, np.float64), (m,)) if np.ndim(freq_hz) == 0 else freq_hz[:m]
    phase = 2 * np.pi * np.cumsum(f) / SYNTH_RATE
    env = np.minimum(t / 0.005, 1.0) * np.exp(-t / decay_s) * np.clip((length_s - t) / 0.02, 0.0, 1.0)
    return a, np.sin(phase) * env


def sine_bass(plan: SectionPlan, n: int, rng: np.random.Generator) -> np.ndarray:
    """A sine bass with a sub octave (half its level) on each bar's root: mono float64 ``[n]``."""
    out = np.zeros(n)
    patterns = ((0, 6, 8, 14), (0, 8), (0, 3, 8, 11), (0, 4, 8, 12))
    steps = patterns[int(rng.integers(len(patterns)))]
    for bar in range(plan.bars + 1):
        f0 = float(midi_to_hz(plan.roots[bar]))
        for i, step in enumerate((0,) if bar == plan.bars else steps):
            nxt = steps[i + 1] if i + 1 < len(steps) and bar < plan.bars else 16
            length = (nxt - step) * plan.bar_s / 16 * 0.95
            a, tone = _note(n, plan.t(bar, step), length, f0, 1.5)
            _, sub = _note(n, plan.t(bar, step), length, f0 / 2, 1.5)
            out[a : a + len(tone)] += tone + 0.5 * sub
    return out


def synthetic_kick(plan: SectionPlan, n: int, rng: np.random.Generator) -> np.ndarray:
    """A kick on every beat (and the final downbeat): a sine swept from 150 to 45 Hz in about 30 ms with a
    0.15 s decay and a short click, mono float64 ``[n]``."""
    out = np.zeros(n)
    m = int(0.4 * SYNTH_RATE)
    t = np.arange(m) / SYNTH_RATE
    low = float(rng.uniform(42.0, 50.0))
    freq = low + (150.0 - low) * np.exp(-t / 0.03)
    click = rng.standard_normal(int(0.002 * SYNTH_RATE)) * 0.3
    for bar in range(plan.bars + 1):
        for beat in (0,) if bar == plan.bars else (0, 4, 8, 12):
            a, tone = _note(n, plan.t(bar, beat), 0.4, freq, 0.15)
            out[a : a + len(tone)] += tone
            out[a : a + min(len(click), n - a)] += click[: n - a]
    return out


def family_source(family: str, plan: SectionPlan, band: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
    """The family's own part of the accompaniment (``sine-bass``, ``kick-heavy``; None for the others):
    float64 ``[2, samples]`` at ``SYNTH_RATE``, centred, at ``SOURCE_LEVEL`` times the RMS of ``band`` (the
    rest of the accompaniment, ``[2, samples]``)."""
    n = band.shape[1]
    if family == "sine-bass":
        mono = sine_bass(plan, n, rng)
    elif family == "kick-heavy":
        mono = synthetic_kick(plan, n, rng)
    else:
        return None
    level = np.sqrt(np.mean(band**2)) * SOURCE_LEVEL[family] / (np.sqrt(np.mean(mono**2)) + 1e-12)
    return np.stack([mono, mono]) * level
