"""Music theory the song generator shares: note names, scales, chord progressions, pitch conversions.

Pitches are MIDI note numbers, frequencies Hz, pitch classes 0-11 (C = 0).
"""

from __future__ import annotations

import numpy as np

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
#: Chord progressions as 0-based scale degrees, one chord per bar.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4), (1, 4, 0, 0), (0, 3, 5, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 2, 6, 3)),
}


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def note_name(midi: int) -> str:
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def chord_pcs(key_root: int, mode: str, degree: int) -> tuple[int, ...]:
    """Pitch classes of the triad on scale ``degree`` (root first)."""
    scale = SCALES[mode]
    return tuple((key_root + scale[(degree + step) % 7]) % 12 for step in (0, 2, 4))


def voiced(pcs: tuple[int, ...], low: int) -> list[int]:
    """The chord's pitch classes as MIDI notes at or above ``low`` (each within an octave of it)."""
    return [low + (pc - low) % 12 for pc in pcs]


def scale_notes(key_root: int, mode: str, low: int, high: int) -> list[int]:
    """MIDI notes of the key between ``low`` and ``high`` inclusive."""
    return [m for m in range(low, high + 1) if (m - key_root) % 12 in SCALES[mode]]
