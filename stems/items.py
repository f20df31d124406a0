"""A pair's items: each run of trusted audio long enough to train on, named ``<pair_id>-<k>``, with its frame-wise
vocal activity (``vocal_activity.csv``) and its record (``metadata.json``).

Sample spans are ``[a, b)`` on the original's timeline at its own rate.
"""

from __future__ import annotations

import hashlib
import io
import re

import numpy as np

#: Frames of the vocal activity (s): the audio stage's measure uses the same.
ACTIVITY_FRAME_S = 0.125
#: A frame is active when the vocal stem is at most this far (dB) under the mixture ...
ACTIVE_WITHIN_DB = 15.0
#: ... and the mixture is not silent: within this many dB of the item's mean level.
SILENCE_DB = 40.0
#: Level (dB) given to a silent frame.
FLOOR_DB = -120.0

_SAFE = re.compile(r"[^A-Za-z0-9._~=+-]")


def item_spans(trusted: list[tuple[int, int]], rate: int, min_item_s: float) -> list[tuple[int, int]]:
    """Runs of ``trusted`` sample spans (touching or overlapping ones merged), in order, those shorter than
    ``min_item_s`` left out."""
    runs: list[list[int]] = []
    for a, b in sorted(trusted):
        if runs and a <= runs[-1][1]:
            runs[-1][1] = max(runs[-1][1], b)
        else:
            runs.append([a, b])
    return [(a, b) for a, b in runs if b - a >= min_item_s * rate]


def folder_name(pair_id: str) -> str:
    """The pair id as a folder name: itself when it holds only letters, digits and ``. _ ~ = + -``, else those
    characters kept, the others ``_``, and a short hash of the id (so two ids never share a name)."""
    if pair_id and not _SAFE.search(pair_id) and pair_id not in (".", ".."):
        return pair_id
    digest = hashlib.sha1(pair_id.encode()).hexdigest()[:8]
    return f"{_SAFE.sub('_', pair_id)[:80]}_{digest}"


def item_id(pair_id: str, k: int) -> str:
    """The ``k``-th item (from 1) of a pair: ``<pair_id>-<k>`` (see ``folder_name``)."""
    return f"{folder_name(pair_id)}-{k}"


def vocal_activity(mixture: np.ndarray, vocals: np.ndarray, rate: int) -> str:
    """CSV text ``time_s,active,level_db``: per ``ACTIVITY_FRAME_S`` frame from the item's start, whether the
    voice is active (the vocal stem within ``ACTIVE_WITHIN_DB`` of the mixture, the mixture not silent) and the
    vocal stem's level (dB re full scale, RMS over the frame's samples and channels)."""
    step = max(1, int(round(ACTIVITY_FRAME_S * rate)))
    n = mixture.shape[1]
    frames = max(1, -(-n // step))
    pad = frames * step - n

    def energy(x: np.ndarray) -> np.ndarray:
        y = np.pad(x.astype(np.float64), ((0, 0), (0, pad)))
        return (y.reshape(x.shape[0], frames, step) ** 2).mean(axis=(0, 2))

    ev, em = energy(vocals), energy(mixture)
    level = np.where(ev > 0, 10 * np.log10(np.maximum(ev, 1e-30)), FLOOR_DB)
    level = np.maximum(level, FLOOR_DB)
    loud = em > max(float(em.mean()), 1e-30) * 10 ** (-SILENCE_DB / 10)
    active = loud & (ev >= em * 10 ** (-ACTIVE_WITHIN_DB / 10))
    out = io.StringIO()
    out.write("time_s,active,level_db\n")
    for k in range(frames):
        out.write(f"{k * step / rate:.4f},{int(active[k])},{level[k]:.2f}\n")
    return out.getvalue()
