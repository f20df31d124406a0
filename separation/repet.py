"""REPET-SIM: the training-free reference in every evaluation table (Rafii and Pardo 2012, as in librosa's
"Vocal separation" example: nearest-neighbour filtering of the magnitude spectrogram, soft masks).

Run at the song's own rate with librosa's defaults (``librosa.stft``: n_fft 2048, hop 512, Hann), on the mono
mix; the masks are applied to each channel's STFT, so a stereo mixture gives stereo estimates. This is the
example's own STFT, not ``features.stft`` (the paper's 8192 Hz / 1024 / 768), on purpose: the reference is the
classic as people run it.
"""

from __future__ import annotations

import numpy as np

#: The example's settings: a 2 s similarity window, margins 2 (background) and 10 (foreground), power 2.
SIMILARITY_WIDTH_S = 2.0
MARGIN_BACKGROUND = 2.0
MARGIN_FOREGROUND = 10.0
POWER = 2


def repet_sim_masks(mono: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(vocal mask, accompaniment mask), float ``[bins, frames]`` of ``librosa.stft(mono)``."""
    import librosa  # on first use: librosa takes seconds to import, and only REPET-SIM needs it

    full = np.abs(librosa.stft(np.asarray(mono, np.float32)))
    width = int(librosa.time_to_frames(SIMILARITY_WIDTH_S, sr=sample_rate))
    # nn_filter wants width < (frames - 1) // 2: a very short song gets the widest window it allows.
    width = max(1, min(width, (full.shape[1] - 1) // 2 - 1))
    filt = librosa.decompose.nn_filter(full, aggregate=np.median, metric="cosine", width=width)
    filt = np.minimum(full, filt)
    mask_acc = librosa.util.softmask(filt, MARGIN_BACKGROUND * (full - filt), power=POWER)
    mask_voc = librosa.util.softmask(full - filt, MARGIN_FOREGROUND * filt, power=POWER)
    return mask_voc, mask_acc


def repet_sim(mixture: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """``{"vocals", "accompaniment"}`` of ``mixture`` (``[samples]`` or ``[channels, samples]``), same shape."""
    import librosa  # on first use: see repet_sim_masks

    mix = np.atleast_2d(np.asarray(mixture, np.float32))
    mask_voc, mask_acc = repet_sim_masks(mix.mean(axis=0), sample_rate)
    out: dict[str, list[np.ndarray]] = {"vocals": [], "accompaniment": []}
    for ch in mix:
        spec = librosa.stft(ch)
        out["vocals"].append(librosa.istft(spec * mask_voc, length=mix.shape[1]))
        out["accompaniment"].append(librosa.istft(spec * mask_acc, length=mix.shape[1]))
    shape = np.shape(mixture)
    return {k: np.stack(v).astype(np.float32).reshape(shape) for k, v in out.items()}
