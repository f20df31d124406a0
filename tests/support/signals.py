"""Synthetic stems with known content, for the evaluation tests."""

from __future__ import annotations

import numpy as np

SR = 8192


def voice_and_band(seconds: float, seed: int, rate: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic 'voice' (vocals) and a noisy 'band' (accompaniment), float32 [samples] at ``rate``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(300 + 40 * np.sin(2 * np.pi * 0.5 * t)) / rate
    voice = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 5)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))
    band = 0.1 * rng.standard_normal(len(t)) + 0.2 * np.sin(2 * np.pi * 110 * t)
    return voice.astype(np.float32), band.astype(np.float32)
