"""The level match's corrections (``pairing.corrections``) and the target-quality estimate (``pairing.quality``)
on synthetic STFTs whose truth is known: random accompaniment and voice cells, an EQ, a compressor-like gain,
codec-like noise."""

from __future__ import annotations

import numpy as np
import pytest

from features.alignmap import BAND_EDGES_HZ, band_curve_db, band_of_bins
from features.stft import PAPER_STFT
from pairing.config import PairingConfig
from pairing.corrections import modes
from pairing.levels import fit_levels
from pairing.quality import components, target_error

BINS, FRAMES = 512, 300


def synthetic(seed: int, voice_db: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(accompaniment, voice) complex STFTs ``[BINS, FRAMES]``: a band of partials in every frame, a voice singing
    in the middle third of each 30-frame phrase (its harmonics in some bins)."""
    rng = np.random.default_rng(seed)
    phase = np.exp(2j * np.pi * rng.random((BINS, FRAMES)))
    level = np.exp(rng.normal(0, 1.0, (BINS, FRAMES))) * (1 + 10 * (rng.random((BINS, 1)) < 0.15))
    acc = (level * phase).astype(np.complex64)
    voice = np.zeros_like(acc)
    sung = (np.arange(FRAMES) % 30) >= 10
    f0 = 20 + (np.arange(FRAMES) // 30) % 8
    for k in np.flatnonzero(sung):
        for h in range(1, 12):
            b = f0[k] * h
            if b < BINS:
                voice[b, k] = 6 * 10 ** (voice_db / 20) * np.exp(2j * np.pi * rng.random())
    return acc, voice


def fit(xc: np.ndarray, yc: np.ndarray):
    return fit_levels(xc, yc, np.ones(FRAMES, bool), PAPER_STFT, PairingConfig())


def test_modes_find_a_spike_exactly_and_a_peak_between_bins():
    r = np.zeros((50, 2), np.float32)
    r[:, 1] = 1.3
    r[::7, :] += 9.0  # a few outliers (the voice's cells) far above
    mode, total = modes(r, np.ones_like(r), np.arange(2)[None, :], 2)
    assert mode[0] == pytest.approx(0.0, abs=0.01)  # a box kernel's plateau made this -0.5 dB
    assert mode[1] == pytest.approx(1.3, abs=0.1)
    assert total.tolist() == [50, 50]


def test_a_clean_pair_keeps_the_plain_gain():
    acc, voice = synthetic(1)
    f = fit(acc + voice, acc)
    assert f.corrections == "" and not np.any(f.band_gain_db) and not np.any(f.frame_gain_db)
    assert f.trusted.all()
    assert target_error(components(np.abs(acc + voice), f.matched, PAPER_STFT)) < 1.02


def test_a_mastering_eq_is_undone_band_by_band():
    acc, voice = synthetic(2)
    band = band_of_bins(PAPER_STFT, BINS)
    eq_db = np.array([4.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -3.0, -3.0])  # instrumental's EQ
    yc = acc * (10 ** (eq_db[band] / 20))[:, None].astype(np.float32)
    f = fit(acc + voice, yc)
    assert "eq" in f.corrections.split() and "at-bound" not in f.corrections.split()
    common = float(np.median(f.frame_gain_db)) if f.gain.kind != "none" else 0.0
    got = f.band_gain_db + common
    # bands whose correction is at least min_band_gain_db: within 0.3 dB of undoing the EQ
    big = np.abs(eq_db - np.median(eq_db)) >= 0.75
    assert np.abs(got - (-eq_db))[big].max() < 0.3, np.round(got + eq_db, 2)


def test_codec_like_noise_gets_no_band_gains():
    acc, voice = synthetic(3)
    rng = np.random.default_rng(0)
    noise = (np.abs(acc) * 0.1 * (rng.normal(size=acc.shape) + 1j * rng.normal(size=acc.shape))).astype(np.complex64)
    f = fit(acc + voice, acc + noise)
    assert not f.bands.applied.any(), f.band_gain_db


def test_a_compressor_riding_on_the_voice_is_followed_at_the_frame_rate():
    acc, voice = synthetic(4)
    sung = (np.arange(FRAMES) % 30) >= 10
    extra_db = np.where(sung, 3.0 + np.sin(np.arange(FRAMES) / 3.0), 0.0)  # louder where the voice sings
    f = fit(acc + voice, acc * (10 ** (extra_db / 20)).astype(np.float32)[None, :])
    assert f.gain.kind == "frame", f.corrections
    assert np.abs(f.frame_gain_db + extra_db)[5:-5].max() < 0.5


def test_the_estimate_grows_with_an_under_scaled_band_and_not_with_an_over_scaled_one():
    acc, voice = synthetic(5)
    x = np.abs(acc + voice)
    band = band_of_bins(PAPER_STFT, BINS)
    errors = []
    for db in (0.0, -3.0, -6.0, -10.0):
        curve = np.where(band == 6, db, 0.0)
        errors.append(target_error(components(x, np.abs(acc) * (10 ** (curve / 20))[:, None].astype(np.float32),
                                              PAPER_STFT)))
    assert errors[0] < 1.02 and errors == sorted(errors) and errors[-1] > 1.3, errors
    over = target_error(components(x, np.abs(acc) * (10 ** (np.where(band == 6, 6.0, 0.0) / 20))[:, None]
                                   .astype(np.float32), PAPER_STFT))
    assert over < errors[2], (over, errors)


def test_band_curve_interpolates_between_band_centres():
    curve = band_curve_db(tuple([0.0] * 6 + [6.0] + [0.0] * 6), PAPER_STFT, BINS)
    centre = int(np.sqrt(BAND_EDGES_HZ[6] * BAND_EDGES_HZ[7]) / (PAPER_STFT.sample_rate / PAPER_STFT.n_fft))
    assert curve[centre] == pytest.approx(6.0, abs=0.5) and curve[0] == 0.0 and curve[-1] == 0.0


def test_a_bass_line_the_instrumental_lacks_counts_as_leak_and_a_low_voice_does_not():
    acc, voice = synthetic(6)
    y = np.abs(acc)
    hz = np.arange(BINS) * PAPER_STFT.sample_rate / PAPER_STFT.n_fft
    bass_bins = (hz >= 90) & (hz < 200)  # the voice floor to BASS_HZ: bins 12-24
    # a low voice: f0 at 104 Hz (bin 13), its harmonics above 200 Hz carry the rest
    low_voice = np.zeros_like(voice)
    sung = (np.arange(FRAMES) % 30) >= 10
    low_voice[13::13, sung] = 6.0
    parts = components(np.abs(acc + low_voice), y, PAPER_STFT)
    assert parts["low_leak"] == 0.0 and target_error(parts) < 1.02, parts
    # a bass line at 120 Hz (bin 15) in the original only, where the voice rests: all of it is leak
    bass = np.zeros_like(voice)
    bass[15, ~sung] = 40.0
    x = np.abs(acc + voice + bass)
    d = np.maximum(x.astype(np.float64) - y, 0.0)
    parts = components(x, y, PAPER_STFT)
    assert parts["low_leak"] == pytest.approx((d[bass_bins][:, ~sung] ** 2).sum(), rel=1e-6)
    assert target_error(parts) > 1.5, parts
