"""The folder layouts an export writes: small writers behind one interface (``Layout``), one per trainer family.

Every layout puts an item in ``<split>/<item>/`` (``train``, ``valid``, ``test``) beside its ``metadata.json`` and
``vocal_activity.csv``; they differ in the audio files' names:

- ``musdb18hq``: ``mixture.wav``, ``vocals.wav``, ``accompaniment.wav`` (MUSDB18-HQ's track folders with the
  two-stem split; Demucs-style WAV datasets, ``evaluate --layout musdb18hq``);
- ``msst``: ``vocals.wav``, ``other.wav``, ``mixture.wav`` (ZFTurbo's Music-Source-Separation-Training, dataset
  type 1: a folder per song, ``<stem>.wav`` per instrument of the config, ``mixture.wav`` for validation);
- ``openunmix``: ``vocals.wav``, ``accompaniment.wav`` (Open-Unmix's track folders, ``--dataset trackfolder_fix
  --target-file vocals.wav --interferer-files accompaniment.wav``, or ``trackfolder_var``, which sums every WAV of
  a folder: so no ``mixture.wav`` here; the mixture is their sum).

Roles: ``mixture`` (the original), ``vocals``, ``instrumental`` (the matched instrumental).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stems.wavfile import write_wav

ROLES = ("mixture", "vocals", "instrumental")
#: Names an item folder may hold besides its audio; every name ``Layout`` writes is in ``OWN_NAMES``.
METADATA = "metadata.json"
ACTIVITY = "vocal_activity.csv"


@dataclass(frozen=True)
class Layout:
    """A layout: its name and the file name of each role it writes (a role it leaves out is not written)."""

    name: str
    files: tuple[tuple[str, str], ...]  # (role, file name), in the order written

    @property
    def names(self) -> dict[str, str]:
        return dict(self.files)

    def write(self, folder: Any, stems: dict[str, np.ndarray], rate: int) -> dict[str, dict]:
        """Write the item's audio into ``folder`` (a Path or URLPath): ``role -> {"file", "bytes", "sha1"}``."""
        out = {}
        for role, name in self.files:
            out[role] = {"file": name, **write_wav(folder / name, stems[role], rate)}
        return out


LAYOUTS: dict[str, Layout] = {
    "musdb18hq": Layout("musdb18hq", (("mixture", "mixture.wav"), ("vocals", "vocals.wav"),
                                      ("instrumental", "accompaniment.wav"))),
    "msst": Layout("msst", (("vocals", "vocals.wav"), ("instrumental", "other.wav"), ("mixture", "mixture.wav"))),
    "openunmix": Layout("openunmix", (("vocals", "vocals.wav"), ("instrumental", "accompaniment.wav"))),
}

#: Every file name an export writes into an item folder (any layout): the names it may remove again.
OWN_NAMES = frozenset({METADATA, ACTIVITY, *(n for lay in LAYOUTS.values() for _, n in lay.files)})
