"""The schema docs are current, and the one STFT path inverts exactly."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest

from catalog_schemas import SHARD
from catalog_schemas.__main__ import render_markdown
from features.stft import PAPER_STFT, istft, magnitude, stft

ROOT = Path(__file__).resolve().parent.parent


def test_docs_schemas_is_generated_from_catalog_schemas():
    assert (ROOT / "docs" / "schemas.md").read_text() == render_markdown(), (
        "docs/schemas.md is stale: run `python -m catalog_schemas > docs/schemas.md`"
    )


def test_shard_tensor_fields_name_dtype_and_shape():
    f = SHARD.field("mix")
    assert f.type.byte_width == 512 * 128 * 2
    assert f.metadata[b"dtype"] == b"<f2" and f.metadata[b"shape"] == b"512,128"


@pytest.mark.parametrize("length", [1, 767, 8192, 8192 * 5 + 257, 8192 * 5 + 513, 8192 * 5 + 767])
def test_stft_round_trip_at_every_length_modulo_hop(length):
    x = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    spec = stft(x)
    assert spec.shape == (513, PAPER_STFT.frames(length))
    y = istft(spec, length)
    assert np.max(np.abs(y - x)) < 1e-5 * np.max(np.abs(x))


def test_masked_inverse_never_explodes_at_the_end():
    # The FIELD_NOTES pitfall: a mask on an unpadded STFT blows up the last samples.
    rng = np.random.default_rng(0)
    x = rng.standard_normal(8192 * 4 + 700).astype(np.float32)
    y = istft(stft(x) * rng.uniform(size=(513, PAPER_STFT.frames(len(x)))), len(x))
    assert np.max(np.abs(y)) < 2 * np.max(np.abs(x))


def test_magnitude_matches_librosa_centered_stft():
    x = np.random.default_rng(1).standard_normal(20000).astype(np.float32)
    ref = np.abs(librosa.stft(x, n_fft=1024, hop_length=768, window="hann", center=True, pad_mode="constant"))
    ours = magnitude(x, drop_nyquist=False)
    np.testing.assert_allclose(ours[:, : ref.shape[1]], ref, atol=1e-3)
    assert magnitude(x).shape[0] == 512


def test_mono_is_the_channel_mean_bit_for_bit():
    """``Decoded.mono`` (stereo fast path) gives exactly ``mean(axis=0)``: content hashes of mono audio depend on it."""
    from features.audio import Decoded

    rng = np.random.default_rng(3)
    for channels in (1, 2, 3):
        x = rng.uniform(-1, 1, (channels, 20001)).astype(np.float32)
        assert Decoded(x, 8000).mono().tobytes() == x.mean(axis=0, dtype=np.float32).tobytes()
