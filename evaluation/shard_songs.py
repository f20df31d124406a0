"""Songs of a shard folder's split (``evaluate`` on a ``build-shards`` output, layout ``shards``): the pairs the
split was built from, read from the pairs table the shards name. Mixture = the original; accompaniment = the
instrumental aligned onto it (``features.alignmap`` when pairing wrote an alignment map, else offset and gain);
vocals = mixture - accompaniment: as good as the pair's alignment.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile as sf

from evaluation.layouts import Stems
from features.alignmap import load_aligned_map
from features.audio import AudioError, decode, load_aligned
from features.patches import Alignment
from vocalmine.errors import UserInputError


@dataclass(frozen=True)
class PairSong:
    """A song given as an (original, instrumental) pair and its alignment (catalog_schemas convention)."""

    name: str
    original: Path
    instrumental: Path
    offset_s: float
    gain: float  # features.patches.Alignment.gain: polarity * 10 ** (gain_db / 20)
    subset: str | None = None
    alignment_map: str | None = None  # pairs.parquet `alignment_map` (segments, drift), when pairing wrote one

    def load(self, sample_rate: int = 8192, pad: bool = False) -> Stems:
        if self.alignment_map:
            try:
                mix, acc, _, _ = load_aligned_map(str(self.original), str(self.instrumental), self.alignment_map,
                                                  self.gain, sample_rate)
            except ValueError as exc:  # an unreadable map: this song fails, the others are scored
                raise AudioError("bad-alignment-map", str(exc)) from exc
        else:
            mix, acc, _ = load_aligned(self.original, self.instrumental, self.offset_s, self.gain, sample_rate)
        return Stems(mix, (mix - acc).astype(np.float32), acc, sample_rate)

    def load_native(self, pad: bool = False) -> Stems:
        """Mono at the original's own rate."""
        try:
            rate = int(sf.info(str(self.original)).samplerate)
        except Exception:  # not a libsndfile format: the decoder says what is wrong, or gives the rate
            rate = decode(self.original).sample_rate
        return self.load(rate)


def shard_songs(shards_dir: str | os.PathLike, split: str = "test") -> list[PairSong]:
    """The pairs of ``split`` of a shard folder as songs (see the module doc). ``UserInputError`` when the
    manifest, the split or the pairs table is missing, or the split has no pairs."""
    root = Path(shards_dir)
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise UserInputError(f"{manifest_path} is missing: {root} is not a finished shard build")
    manifest = json.loads(manifest_path.read_text())
    splits = manifest.get("splits", {})
    if split not in splits:
        raise UserInputError(f"split {split!r} is not in {manifest_path} (splits: {', '.join(splits) or 'none'})")
    wanted = list(splits[split].get("pair_ids", []))
    if not wanted:
        raise UserInputError(f"split {split!r} of {root} has no pairs to evaluate")
    pairs_path = Path(manifest.get("source", {}).get("pairs_path", ""))
    if not pairs_path.is_file():
        raise UserInputError(f"the pairs table {pairs_path} that {root} was built from is missing")
    cols = ["pair_id", "original_audio_path", "instrumental_audio_path", "offset_s", "gain_db", "polarity"]
    if "alignment_map" in pq.read_schema(pairs_path).names:  # tables written before the alignment map lack it
        cols.append("alignment_map")
    rows = {r["pair_id"]: r for r in pq.read_table(pairs_path, columns=cols).to_pylist()}
    songs = []
    for pid in wanted:
        r = rows.get(pid)
        if r is None:
            raise UserInputError(f"pair {pid} of split {split!r} is not in {pairs_path}")
        alignment = Alignment(float(r["offset_s"] or 0.0), float(r["gain_db"] or 0.0), int(r["polarity"] or 1))
        base = pairs_path.parent
        songs.append(PairSong(pid, base / r["original_audio_path"], base / r["instrumental_audio_path"],
                              alignment.offset_s, alignment.gain, split, r.get("alignment_map")))
    return songs
