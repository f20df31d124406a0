"""features.audio.load_aligned: the one decode-and-align step that shards, evaluation and the report share."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from features.audio import AudioError, load_aligned


@pytest.mark.parametrize("offset_samples", [-3000, 0, 2500])
def test_load_aligned_undoes_the_offset_and_gain_and_reports_the_covered_span(tmp_path, offset_samples):
    sr = 8192
    rng = np.random.default_rng(0)
    acc = (0.2 * rng.standard_normal(4 * sr)).astype(np.float32)
    g = -10 ** (-3 / 20)  # polarity -1, -3 dB
    # instrumental[t + offset] = g * acc[t]: leading content added (positive) or trimmed (negative)
    inst = np.concatenate([np.zeros(max(offset_samples, 0), np.float32), g * acc[max(-offset_samples, 0):]])
    sf.write(tmp_path / "orig.wav", acc, sr, subtype="FLOAT")
    sf.write(tmp_path / "inst.wav", inst, sr, subtype="FLOAT")

    original, aligned, (start, end) = load_aligned(tmp_path / "orig.wav", tmp_path / "inst.wav",
                                                   offset_samples / sr, g, sr)
    assert original.shape == aligned.shape == (4 * sr,)
    assert (start, end) == (max(-offset_samples, 0), 4 * sr)
    np.testing.assert_allclose(aligned[start:end], acc[start:end], atol=1e-6)
    assert not aligned[:start].any()


def test_load_aligned_names_the_missing_file(tmp_path):
    with pytest.raises(AudioError) as err:
        load_aligned(tmp_path / "nope.wav", tmp_path / "nope2.wav", 0.0, 1.0)
    assert err.value.reason == "missing-file"
