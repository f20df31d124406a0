"""What the band plays: genres, their instruments (General MIDI programs), sections, and every note.

A song's arrangement is a list of ``Part`` values (an instrument: bank and program of the General MIDI
SoundFont, and the stem it belongs to); ``tracks`` turns a song's section plan into timed MIDI notes per part.
Instrument families hold disjoint *train* and *held-out* programs: songs of the generalisation split's test
artists draw only held-out programs (and drum kits, and choir patches), all other songs only train ones.

Units: times in seconds from the song's start, pitches MIDI note numbers, velocities 1-127.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from democorpus.music import PROGRESSIONS, chord_pcs, scale_notes, voiced

DRUM_BANK = 128
DRUM_CHANNEL = 9

#: Instrument families: (train programs, held-out programs, lowest note, highest note). Bank 0 unless "kit".
FAMILIES: dict[str, tuple[tuple[int, ...], tuple[int, ...], int, int]] = {
    "kit": ((0, 16, 25, 32), (8, 24, 40), 35, 81),  # Standard, Power, TR-808, Jazz | Room, Electronic, Brush
    "bass-electric": ((33, 34), (36, 37), 28, 52),  # finger, pick | slap, pop
    "bass-acoustic": ((32,), (35,), 28, 52),  # acoustic | fretless
    "bass-synth": ((38,), (39,), 28, 52),
    "low-strings": ((42,), (43,), 36, 60),  # cello | contrabass
    "guitar-clean": ((25, 27), (24, 26), 48, 72),  # steel, clean | nylon, jazz
    "guitar-drive": ((29,), (30,), 40, 67),  # overdriven | distortion
    "keys": ((0, 4, 16), (1, 5, 17), 48, 76),  # grand, e-piano 1, drawbar organ | bright, e-piano 2, perc. organ
    "pad": ((88, 89, 50), (90, 94, 51), 52, 76),
    "strings": ((48, 44), (49,), 48, 79),  # ensemble 1, tremolo | ensemble 2
    "string-solo": ((40,), (41,), 60, 86),  # violin | viola
    "brass": ((61, 56, 57), (60, 62), 52, 77),  # section, trumpet, trombone | horn, synth brass
    "woodwind": ((73, 71, 65), (68, 66, 74), 60, 84),  # flute, clarinet, alto sax | oboe, tenor sax, recorder
    "synth-lead": ((80, 81), (84, 82), 60, 84),  # square, saw | charang, calliope
    "mallet": ((11, 46), (12, 45), 60, 84),  # vibraphone, harp | marimba, pizzicato
    "choir": ((52, 54), (53, 91), 55, 76),  # backing vocals (vocal stem): aahs, synth voice | oohs, space voice
}


@dataclass(frozen=True)
class Genre:
    """``parts``: (role, candidate families); ``optional``: roles left out of some songs; ``vocal``: sung | rap."""

    tempo: tuple[int, int]
    parts: tuple[tuple[str, tuple[str, ...]], ...]
    optional: tuple[str, ...]
    drums: str  # drum pattern name ("" for none)
    bass: str  # bass style
    comp: str  # chord style of the "comp" role
    vocal: str


GENRES: dict[str, Genre] = {
    "pop-rock": Genre((92, 140), (("drums", ("kit",)), ("bass", ("bass-electric",)),
                                  ("comp", ("guitar-clean", "guitar-drive")), ("keys", ("keys",)),
                                  ("lead", ("synth-lead", "brass", "woodwind"))), ("keys", "lead"),
                      "rock", "eighths", "strum", "sung"),
    "electronic": Genre((110, 132), (("drums", ("kit",)), ("bass", ("bass-synth",)), ("comp", ("pad",)),
                                     ("arp", ("synth-lead", "mallet")), ("lead", ("synth-lead",))), ("lead",),
                        "four", "offbeat", "pad", "sung"),
    "acoustic": Genre((76, 112), (("drums", ("kit",)), ("bass", ("bass-acoustic",)), ("comp", ("guitar-clean",)),
                                  ("keys", ("keys",)), ("lead", ("woodwind", "string-solo"))), ("drums", "keys"),
                      "light", "root-fifth", "arpeggio", "sung"),
    "orchestral": Genre((66, 100), (("bass", ("low-strings",)), ("comp", ("strings",)), ("brass", ("brass",)),
                                    ("arp", ("mallet",)), ("lead", ("string-solo", "woodwind", "brass"))),
                        ("arp", "brass"), "", "sustain", "pad", "sung"),
    "ballad": Genre((68, 92), (("drums", ("kit",)), ("bass", ("bass-electric", "bass-acoustic")),
                               ("keys", ("keys",)), ("comp", ("strings", "pad")), ("lead", ("string-solo", "woodwind"))),
                    ("drums", "lead"), "light", "sustain", "pad", "sung"),
    "rap": Genre((84, 100), (("drums", ("kit",)), ("bass", ("bass-synth",)), ("keys", ("keys", "mallet")),
                             ("comp", ("pad", "strings"))), ("comp",), "boom-bap", "808", "stabs", "rap"),
}
GENRE_WEIGHTS = {"pop-rock": 0.25, "electronic": 0.15, "acoustic": 0.15, "orchestral": 0.12, "ballad": 0.13, "rap": 0.2}

#: Drum patterns on 16 steps per bar: (kick steps, snare steps, snare note, hat steps, hat note).
DRUMS = {
    "rock": (((0, 8), (0, 6, 8), (0, 8, 10), (0, 3, 8, 11)), (4, 12), 38, tuple(range(0, 16, 2)), 42),
    "four": (((0, 4, 8, 12),), (4, 12), 39, (2, 6, 10, 14), 46),
    "light": (((0, 8), (0, 10)), (4, 12), 37, tuple(range(0, 16, 2)), 42),
    "boom-bap": (((0, 7, 10), (0, 3, 10), (0, 10, 11)), (4, 12), 38, tuple(range(16)), 42),
}


@dataclass(frozen=True)
class Part:
    """One instrument of a song. ``stem``: accompaniment or vocals (choir patches are backing vocals)."""

    role: str
    family: str
    bank: int
    program: int

    @property
    def stem(self) -> str:
        return "vocals" if self.family == "choir" else "accompaniment"

    @property
    def label(self) -> str:
        return f"{self.role}={'kit' if self.bank == DRUM_BANK else 'gm'}{self.program}"


@dataclass(frozen=True)
class Note:
    start: float  # s
    length: float  # s
    key: int  # MIDI note
    velocity: int


@dataclass(frozen=True)
class SectionPlan:
    lead_s: float  # silence before the first downbeat
    bar_s: float
    bars: int  # bars of music before the final chord
    voiced: tuple[bool, ...]  # the voice (or, in an instrumental-only song, the lead) carries the tune in bar b
    chords: tuple[tuple[int, ...], ...]  # pitch classes per bar (root first), bars + 1 of them
    roots: tuple[int, ...]  # bass root MIDI per bar (and the final chord's)

    def t(self, bar: float, step16: float = 0.0) -> float:
        return self.lead_s + bar * self.bar_s + step16 * self.bar_s / 16


def programs(family: str, held_out: bool) -> tuple[int, ...]:
    train, test, _, _ = FAMILIES[family]
    return test if held_out else train


def choose_parts(genre: str, rng: np.random.Generator, held_out: bool, vocals: bool) -> tuple[Part, ...]:
    """Instruments for a song of ``genre``: one per role (optional roles sometimes left out), plus a choir
    patch as backing vocals in about half the songs that have a voice."""
    g = GENRES[genre]
    parts = []
    for role, families in g.parts:
        if role in g.optional and rng.random() < 0.35:
            continue
        family = str(rng.choice(families))
        pool = programs(family, held_out)
        bank = DRUM_BANK if family == "kit" else 0
        parts.append(Part(role, family, bank, int(pool[int(rng.integers(len(pool)))])))
    if vocals and rng.random() < 0.5:
        pool = programs("choir", held_out)
        parts.append(Part("choir", "choir", 0, int(pool[int(rng.integers(len(pool)))])))
    return tuple(parts)


def section_plan(seconds: float, tempo_bpm: float, key_root: int, mode: str, progression: tuple[int, ...],
                 rng: np.random.Generator) -> SectionPlan:
    """Intro, verses, a break and an outro over the progression; the song ends on the tonic."""
    bar_s = 240.0 / tempo_bpm
    lead = float(rng.uniform(0.02, 0.15))
    tail = float(rng.uniform(0.7, 1.1))
    bars = max(1, int((seconds - lead - tail) // bar_s))
    on = [True] * bars
    if bars >= 4:
        on[0] = False  # intro
    if bars >= 6 and rng.random() < 0.5:
        on[1] = False  # longer intro
    if bars >= 7:
        on[bars // 2 + int(rng.integers(0, 2))] = False  # instrumental break
    if bars >= 3:
        on[-1] = False  # outro (the voice and its reverb end before a shortened instrumental does)
    degrees = [progression[b % len(progression)] for b in range(bars + 1)]
    degrees[-1] = 0
    chords = tuple(chord_pcs(key_root, mode, d) for d in degrees)
    roots = tuple(31 + (c[0] - 31) % 12 for c in chords)  # G1 to F#2
    return SectionPlan(lead, bar_s, bars, tuple(on), chords, roots)


def random_progression(mode: str, rng: np.random.Generator) -> tuple[int, ...]:
    options = PROGRESSIONS[mode]
    return tuple(int(d) for d in options[int(rng.integers(len(options)))])


# ---------------------------------------------------------------------------------------------- notes per role


def _vel(rng: np.random.Generator, base: float, spread: float = 8.0) -> int:
    return int(np.clip(round(base + rng.normal(0, spread)), 1, 127))


def _drums(style: str, plan: SectionPlan, rng: np.random.Generator) -> list[Note]:
    kicks, snares, snare_key, hats, hat_key = DRUMS[style]
    kick = kicks[int(rng.integers(len(kicks)))]
    hats = hats if rng.random() < 0.7 else hats[::2]
    notes: list[Note] = []
    for bar in range(plan.bars):
        intro = bar == 0 and not plan.voiced[0] and plan.bars >= 4
        if bar == 0 or (plan.voiced[bar] and not plan.voiced[bar - 1]):
            notes.append(Note(plan.t(bar), 2.0, 49, _vel(rng, 100)))  # crash on a section's first beat
        for step in hats:
            accent = 95 if step % 4 == 0 else 72
            notes.append(Note(plan.t(bar, step + rng.normal(0, 0.05)), 0.1, hat_key, _vel(rng, accent)))
        if intro:
            continue
        for step in kick:
            notes.append(Note(plan.t(bar, step), 0.2, 36, _vel(rng, 112, 5)))
        for step in snares:
            notes.append(Note(plan.t(bar, step + rng.normal(0, 0.04)), 0.2, snare_key, _vel(rng, 105, 6)))
        if bar + 1 < plan.bars and plan.voiced[bar + 1] != plan.voiced[bar] and rng.random() < 0.7:
            for step, tom in zip((12, 13, 14, 15), (50, 48, 45, 41)):  # a tom fill into the next section
                notes.append(Note(plan.t(bar, step), 0.2, tom, _vel(rng, 100)))
    notes.append(Note(plan.t(plan.bars), 0.3, 36, 115))
    notes.append(Note(plan.t(plan.bars), 2.5, 49, 110))
    return notes


def _bass(style: str, plan: SectionPlan, rng: np.random.Generator, low: int) -> list[Note]:
    patterns = {"eighths": (0, 2, 4, 6, 8, 10, 12, 14), "root-fifth": (0, 8), "offbeat": (2, 6, 10, 14),
                "sustain": (0,), "808": (0, 7, 10)}
    steps = patterns[style]
    notes: list[Note] = []
    for bar in range(plan.bars + 1):
        root = plan.roots[bar] + (12 if plan.roots[bar] < low else 0)
        last = bar == plan.bars
        for i, step in enumerate((0,) if last else steps):
            nxt = steps[i + 1] if i + 1 < len(steps) else 16
            length = 1.5 if last else (nxt - step) * plan.bar_s / 16 * 0.92
            key = root + (7 if style == "root-fifth" and i == 1 else 0)
            notes.append(Note(plan.t(bar, step), length, key, _vel(rng, 100 if step % 8 == 0 else 88)))
    return notes


def _chords(style: str, plan: SectionPlan, rng: np.random.Generator, low: int, high: int) -> list[Note]:
    center = int(np.clip(rng.integers(55, 64), low + 5, high - 7))
    notes: list[Note] = []
    for bar in range(plan.bars + 1):
        keys = voiced(plan.chords[bar], center - 5)
        soft = not plan.voiced[min(bar, plan.bars - 1)]
        base = 70 if soft else 84
        if style == "pad" or bar == plan.bars:
            hits = [(0.0, 16.0)]
        elif style == "stabs":
            hits = [(s, 1.5) for s in (2, 6, 10, 14)] if rng.random() < 0.5 else [(0, 3), (6, 2), (10, 4)]
        elif style == "strum":
            hits = [(0, 4), (4, 2), (6, 4), (10, 2), (12, 4)]
        else:  # arpeggio: broken chord in eighths
            keys = keys + [keys[0] + 12]
            hits = [(s, 3.0) for s in range(0, 16, 2)]
        length = 2.0 if bar == plan.bars else None
        for k, (step, dur) in enumerate(hits):
            dur_s = length or dur * plan.bar_s / 16
            chord = [keys[k % len(keys)]] if style == "arpeggio" else keys
            for j, key in enumerate(chord):
                delay = j * 0.012 if style == "strum" else 0.0
                notes.append(Note(plan.t(bar, step) + delay, dur_s, key, _vel(rng, base, 6)))
    return notes


def melody_line(plan: SectionPlan, rng: np.random.Generator, key_root: int, mode: str, low: int, high: int,
                bars: list[int], density: float = 1.0) -> list[Note]:
    """A phrase per listed bar: scale steps, chord tones on strong beats, rests; ``density`` < 1 thins it."""
    pitches = scale_notes(key_root, mode, low, high)
    idx = len(pitches) // 2
    notes: list[Note] = []
    for bar in bars:
        t = float(rng.choice([0.0, 2.0, 4.0]))
        while t < 14.0:
            length = float(rng.choice([2.0, 2.0, 4.0, 4.0, 6.0, 8.0]) / density)
            length = min(length, 16.0 - t)
            idx = int(np.clip(idx + rng.choice([-2, -1, 1, 1, 2, 0]), 0, len(pitches) - 1))
            if t % 8 == 0:
                tones = [i for i, m in enumerate(pitches) if m % 12 in plan.chords[bar]]
                idx = min(tones, key=lambda i: abs(i - idx))
            if rng.random() < 0.85:
                notes.append(Note(plan.t(bar, t), length * plan.bar_s / 16 * 0.95, pitches[idx], _vel(rng, 92)))
            t += length
    return notes


def tracks(parts: tuple[Part, ...], genre: str, plan: SectionPlan, key_root: int, mode: str,
           rng: np.random.Generator, lead_carries_tune: bool) -> list[tuple[Part, list[Note]]]:
    """Every part's notes. The lead plays in the intro, breaks and outro (and the whole tune when
    ``lead_carries_tune``: an instrumental-only song), a sparse counter-line under the voice otherwise."""
    g = GENRES[genre]
    out = []
    open_bars = [b for b in range(plan.bars) if not plan.voiced[b]]
    sung_bars = [b for b in range(plan.bars) if plan.voiced[b]]
    for part in parts:
        _, _, low, high = FAMILIES[part.family]
        if part.role == "drums":
            notes = _drums(g.drums or "light", plan, rng)
        elif part.role == "bass":
            notes = _bass(g.bass, plan, rng, low)
        elif part.role in ("comp", "keys", "brass"):
            style = g.comp if part.role == "comp" else ("stabs" if part.role == "brass" or g.vocal == "rap"
                                                       else str(rng.choice(["stabs", "arpeggio", "pad"])))
            notes = _chords(style, plan, rng, low, high)
        elif part.role == "arp":
            notes = _chords("arpeggio", plan, rng, low, high)
        elif part.role == "lead":
            if lead_carries_tune:
                notes = melody_line(plan, rng, key_root, mode, low, high, list(range(plan.bars)))
            else:
                notes = melody_line(plan, rng, key_root, mode, low, high, open_bars)
                notes += [Note(n.start, n.length, n.key, max(1, n.velocity - 25)) for n in melody_line(
                    plan, rng, key_root, mode, low, high, sung_bars, density=0.4)]
        elif part.role == "choir":
            notes = [Note(n.start, n.length, n.key, n.velocity) for n in _chords("pad", plan, rng, low, high)
                     if plan.voiced[min(int((n.start - plan.lead_s) // plan.bar_s), plan.bars - 1)]
                     and n.start < plan.t(plan.bars)]
        else:  # pragma: no cover - GENRES is the registry
            raise AssertionError(part.role)
        out.append((part, notes))
    return out
