"""Parquet shards of spectrogram patches (the features stage's output)."""

from __future__ import annotations

import pyarrow as pa

from catalog_schemas._fields import field, schema

PATCH_BINS = 512
PATCH_FRAMES = 128
TENSOR_DTYPE = "<f2"
TENSOR_BYTES = PATCH_BINS * PATCH_FRAMES * 2
TENSOR_COLUMNS = ("mix", "instrumental", "vocals")


def _tensor(name: str, what: str) -> pa.Field:
    return field(
        name,
        pa.binary(TENSOR_BYTES),
        f"{what}: little-endian float16 [{PATCH_BINS}, {PATCH_FRAMES}] (frequency bins, frames), C order, divided by `scale`.",
        nullable=False,
        dtype=TENSOR_DTYPE,
        shape=f"{PATCH_BINS},{PATCH_FRAMES}",
    )


SHARD = schema(
    [
        field("pair_id", pa.string(), "The pair the patch comes from.", nullable=False),
        field("start_frame", pa.int32(), "First STFT frame of the patch in the pair's spectrogram.", nullable=False),
        field("scale", pa.float32(),
              "Divisor applied to all three magnitudes: the max of |X| over the track (normalisation 'track', "
              "the default) or over the patch ('patch'); raw magnitude = stored value * scale.", nullable=False),
        field("vocal_energy", pa.float32(), "Share of the patch's energy in the vocal target: sum(V^2) / sum(X^2).", nullable=False),
        _tensor("mix", "Magnitude of the original mix |X|"),
        _tensor("instrumental", "Magnitude of the aligned instrumental |Y_i|"),
        _tensor("vocals", "Vocal target Y_v = max(0, |X| - |Y_i|)"),
    ],
    "`shards/{train,valid,test}/part-NNNNN.parquet`: one row per patch of 128 frames of the paper's STFT "
    "(8192 Hz, Hann 1024, hop 768), Nyquist bin dropped. Parquet: no compression, dictionary encoding and "
    "statistics only on `pair_id`/scalars, row groups of 32 patches; `shards/manifest.json` lists the shards "
    "(see docs/shards.md).",
)
