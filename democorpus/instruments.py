"""Sampled instruments: the FluidR3 General MIDI SoundFont played by FluidSynth (through pyfluidsynth).

A song's parts are rendered by a fresh synthesiser (``render_parts``): it selects each part's bank and
program and writes the notes with sample-exact event times (FluidSynth applies events at its 64-sample block
boundaries) into float32 buffers. FluidSynth's own reverb and chorus are off (the mix adds its own effects),
so a song's instruments depend only on its notes: deterministic whatever the thread or the songs before.
The SoundFont (about 140 MB) is read from disk once per process; FluidSynth's sample cache serves the rest.

Shapes and units: float32 ``[2, samples]`` (stereo) at ``SYNTH_RATE`` Hz; notes as ``arrangement.Note``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

import numpy as np

from democorpus.arrangement import DRUM_BANK, DRUM_CHANNEL, Note, Part
from vocalmine.errors import UserInputError

#: FluidSynth's rate: instruments hold nothing above 12 kHz, below every song's band limit.
SYNTH_RATE = 24000
#: Where Debian's ``fluid-soundfont-gm`` puts the SoundFont; ``VOCALMINE_SOUNDFONT`` overrides it.
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
_GAIN = 0.5


def soundfont_path() -> Path:
    path = Path(os.environ.get("VOCALMINE_SOUNDFONT", SOUNDFONT))
    if not path.is_file():
        raise UserInputError(f"the General MIDI SoundFont {path} is missing: install Debian's fluid-soundfont-gm "
                             "(scripts/install-system-deps.sh) or point VOCALMINE_SOUNDFONT at a .sf2 file")
    return path


class _Synth:
    """A FluidSynth instance with the SoundFont loaded, owned by one thread."""

    def __init__(self) -> None:
        try:
            import fluidsynth
        except ImportError as exc:  # the module raises ImportError when libfluidsynth is missing
            raise UserInputError(f"FluidSynth is not available ({exc}): install Debian's libfluidsynth3 "
                                 "(scripts/install-system-deps.sh) and the pyfluidsynth package") from exc
        settings = {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 128,
                    "synth.cpu-cores": 1}
        self.fs = fluidsynth.Synth(gain=_GAIN, samplerate=float(SYNTH_RATE), channels=16, **settings)
        self.sfid = self.fs.sfload(str(soundfont_path()))
        if self.sfid < 0:
            raise UserInputError(f"FluidSynth could not load the SoundFont {soundfont_path()}")
        lib = fluidsynth._fl
        self._write = lib.fluid_synth_write_float
        self._write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self._write.restype = ctypes.c_int
        interp = lib.fluid_synth_set_interp_method
        interp.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        interp(self.fs.synth, -1, 1)  # linear interpolation: a quarter of the cost of the default, inaudible here

    def write(self, out: np.ndarray, start: int, stop: int) -> None:
        """Render samples ``[start, stop)`` of ``out`` (float32 ``[2, n]``, C-contiguous) in place."""
        if stop <= start:
            return
        itemsize = out.itemsize
        left = out[0].ctypes.data + start * itemsize
        right = out[1].ctypes.data + start * itemsize
        self._write(self.fs.synth, stop - start, left, 0, 1, right, 0, 1)

    def render(self, part: Part, notes: list[Note], n: int) -> np.ndarray:
        fs = self.fs
        fs.system_reset()
        silence = np.zeros((2, 4096), dtype=np.float32)
        self.write(silence, 0, 4096)  # let the reset take effect: every voice off
        chan = DRUM_CHANNEL if part.bank == DRUM_BANK else 0
        fs.program_select(chan, self.sfid, part.bank, part.program)
        events: list[tuple[int, int, int, int]] = []  # (sample, 0 = off / 1 = on, key, velocity)
        for note in notes:
            on = int(round(note.start * SYNTH_RATE))
            off = int(round((note.start + note.length) * SYNTH_RATE))
            if on >= n or off <= on:
                continue
            events.append((max(on, 0), 1, note.key, note.velocity))
            events.append((min(off, n), 0, note.key, 0))
        events.sort()
        out = np.zeros((2, n), dtype=np.float32)
        pos = 0
        for sample, kind, key, velocity in events:
            self.write(out, pos, sample)
            pos = max(pos, sample)
            if kind:
                fs.noteon(chan, key, velocity)
            else:
                fs.noteoff(chan, key)
        self.write(out, pos, n)
        fs.system_reset()
        return out


_anchor: _Synth | None = None
_anchor_lock = threading.Lock()


def render_parts(parts: list[tuple[Part, list[Note]]], seconds: float) -> list[np.ndarray]:
    """Each part's notes played by its General MIDI instrument: float32 ``[2, round(seconds * SYNTH_RATE)]``
    per part, in order.

    A FluidSynth instance carries state from one note to the next beyond what a reset clears (its voices'
    filter histories), so every call gets a fresh one: the audio depends only on ``parts``. The first
    instance stays loaded for the process, which keeps FluidSynth's sample cache warm (a fresh instance then
    loads the SoundFont in about a tenth of a second instead of one or two)."""
    global _anchor
    with _anchor_lock:
        if _anchor is None:
            _anchor = _Synth()
    synth = _Synth()
    try:
        n = int(round(seconds * SYNTH_RATE))
        return [synth.render(part, notes, n) for part, notes in parts]
    finally:
        synth.fs.delete()


def render_part(part: Part, notes: list[Note], seconds: float) -> np.ndarray:
    """One part alone (a fresh synthesiser): float32 ``[2, round(seconds * SYNTH_RATE)]``."""
    return render_parts([(part, notes)], seconds)[0]
