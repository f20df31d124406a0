"""Waveform stems from mined pairs (the stems stage): ``export_stems(pairs_dir, out_dir, StemsConfig())`` writes,
for every accepted pair of ``pairs_dir/pairs.parquet``, the original, the instrumental matched to it at the
original's own rate and channels, and ``vocals = original - instrumental``, one item per run of trusted audio, in
a trainer's folder layout (``stems.layouts``), split by artist as ``build-shards`` splits.

Modules: ``align`` (the instrumental on the original's timeline, lags refined at the export rate), ``matching``
(vocal-free frames, plain gain, the channel filter and its held-out check), ``render`` (one pair's stems),
``items`` (items, names, vocal activity), ``layouts`` (the writers), ``wavfile`` (byte-stable float WAVs),
``plan``, ``task``, ``manifest`` and ``export`` (the stage: jobs, Dask tasks, resuming, the manifest).
"""

from stems.config import StemsConfig
from stems.export import export_stems
from stems.manifest import StemsSummary, read_manifest

__all__ = ["StemsConfig", "StemsSummary", "export_stems", "read_manifest"]
