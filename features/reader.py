"""Stream spectrogram patches from a shard directory (what the trainer reads).

A split's unit of streaming and shuffling is the Parquet row group (``row_group_size`` patches, 32 by default).
Each epoch visits the row groups in an order shuffled by ``(seed, epoch)``; the consumers of one epoch (every
data-loader worker of every distributed rank) each take every k-th row group of that order, so their shares are
disjoint and together complete, and a consumer that stopped after ``skip`` row groups resumes exactly there.
Tensors come out as float16 ``[N, 512, 128]`` (frequency bins, frames) via ``np.frombuffer`` on the Parquet
fixed-size binary cells, without decoding element by element; they are read-only views of the Arrow buffers
(copy them, e.g. ``torch.from_numpy(a.copy())`` or ``torch.tensor(a)``, before writing into them).

Magnitudes are divided by ``scale``: ``raw = batch.arrays[name] * batch.scale[:, None, None]``.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalog_schemas.shards import PATCH_BINS, PATCH_FRAMES, TENSOR_BYTES, TENSOR_COLUMNS
from features.audio import file_sha1
from features.shard_manifest import MANIFEST
from features.stft import PAPER_STFT, StftParams
from vocalmine import storage
from vocalmine.errors import UserInputError


@dataclass(frozen=True)
class RowGroupRef:
    """One row group: shard file (absolute path), its index in the file, and its number of patches."""

    path: str
    index: int
    num_rows: int


@dataclass
class PatchBatch:
    """The patches of one row group. ``arrays[name]``: float16 ``[N, 512, 128]``, read-only."""

    pair_id: list[str]
    start_frame: np.ndarray  # int32 [N]
    scale: np.ndarray  # float32 [N]
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.pair_id)


def _fail(msg: str) -> UserInputError:
    return UserInputError(msg)


def _damaged(shard_path: Path, root: Path, what: str) -> UserInputError:
    return UserInputError(
        f"shard {shard_path} is damaged ({what}): rebuild the shards (delete {root} and re-run "
        f"`build-shards PAIRS_DIR -o {root}`)"
    )


def check_shard(shard_path: Path, entry: dict, root: Path, verify: bool = False) -> None:
    """Check one shard file against its manifest entry: ``bytes`` (when recorded) always, ``sha1`` with
    ``verify``. ``UserInputError`` naming the file and what to re-run when it differs."""
    size = storage.size(shard_path)
    if "bytes" in entry and size != int(entry["bytes"]):
        raise _damaged(shard_path, root, f"{size} bytes, the manifest says {int(entry['bytes'])}; truncated or "
                                         "replaced")
    if verify and "sha1" in entry:
        digest = file_sha1(shard_path)
        if digest != entry["sha1"]:
            raise _damaged(shard_path, root, f"sha1 {digest[:12]}..., the manifest says {entry['sha1'][:12]}...; "
                                             "its content changed")


class ShardDataset:
    """The patches of one split of a shard directory written by ``build-shards``.

    ``columns``: which of ``mix``, ``instrumental``, ``vocals`` to read (fewer columns read faster).
    Raises ``UserInputError`` when the directory, manifest or split is missing, the split is empty, the
    shards are not the paper's STFT (8192 Hz, n_fft 1024, hop 768) with [512, 128] patches, or a shard does
    not match the manifest: its size always (when the manifest records it), its sha1 too with ``verify``, and a
    shard Parquet cannot read (truncated, damaged) is named with what to re-run.
    """

    def __init__(self, shards_dir: str | os.PathLike, split: str, columns: Sequence[str] = ("mix", "vocals", "instrumental"),
                 verify: bool = False):
        self.root = storage.path(shards_dir)  # a Path, or a URLPath: shards streamed from object storage
        self.split = split
        self.columns = tuple(columns)
        if not self.root.is_dir():
            raise _fail(f"shard directory {self.root} does not exist: build it with `build-shards pairs/ -o {self.root}`")
        path = self.root / MANIFEST
        if not path.is_file():
            raise _fail(f"{path} is missing: {self.root} is not a finished shard build "
                        "(re-run `build-shards` to complete it)")
        try:
            self.manifest: dict = json.loads(path.read_text())
        except ValueError as exc:
            raise _fail(f"{path} is not valid JSON: {exc}") from exc
        unknown = [c for c in self.columns if c not in TENSOR_COLUMNS]
        if unknown or not self.columns:
            raise _fail(f"columns must be a non-empty subset of {TENSOR_COLUMNS}, got {self.columns}")
        splits = self.manifest.get("splits", {})
        if split not in splits:
            raise _fail(f"split {split!r} is not in {path} (splits: {', '.join(splits) or 'none'})")
        params = self.manifest.get("params", {})
        self.params = StftParams(
            int(params.get("sample_rate", -1)), int(params.get("n_fft", -1)), int(params.get("hop", -1))
        )
        if self.params != PAPER_STFT:
            raise _fail(
                f"{path}: shards were built with sample_rate={self.params.sample_rate}, n_fft={self.params.n_fft}, "
                f"hop={self.params.hop}; this reader expects the paper's STFT {PAPER_STFT}"
            )
        shape = list(params.get("tensor_shape", []))
        if shape != [PATCH_BINS, PATCH_FRAMES]:
            raise _fail(f"{path}: patch shape is {shape}, expected [{PATCH_BINS}, {PATCH_FRAMES}]")
        info = splits[split]
        self.row_groups: list[RowGroupRef] = []
        for shard in info.get("shards", []):
            shard_path = self.root / shard["path"]
            if not shard_path.is_file():
                raise _fail(f"shard {shard_path} listed in {path} is missing")
            check_shard(shard_path, shard, self.root, verify)
            try:
                meta = storage.parquet_file(shard_path).metadata
            except (pa.ArrowException, OSError) as exc:
                raise _damaged(shard_path, self.root, "Parquet cannot read its footer") from exc
            if not self.row_groups:  # the first shard: do its columns hold [512, 128] float16 cells?
                schema = meta.schema.to_arrow_schema()
                for name in self.columns:
                    if name not in schema.names or schema.field(name).type != pa.binary(TENSOR_BYTES):
                        found = schema.field(name).type if name in schema.names else "no such column"
                        raise _fail(f"{shard_path}: column {name!r} must be fixed_size_binary[{TENSOR_BYTES}] "
                                    f"(float16 [{PATCH_BINS}, {PATCH_FRAMES}] cells), found {found}")
            for i in range(meta.num_row_groups):
                self.row_groups.append(RowGroupRef(str(shard_path), i, meta.row_group(i).num_rows))
        self.num_patches = sum(rg.num_rows for rg in self.row_groups)
        if self.num_patches == 0:
            raise _fail(f"split {split!r} of {self.root} is empty (0 patches): too few artists for this split? "
                        "see the split ratios in the manifest")
        if self.num_patches != info.get("patches", self.num_patches):
            raise _fail(f"split {split!r}: the shards hold {self.num_patches} patches, the manifest says "
                        f"{info.get('patches')}; rebuild with `build-shards`")
        self._local = threading.local()  # this thread's open shard files (see ``read``)

    def __len__(self) -> int:
        return self.num_patches

    def epoch_order(self, seed: int = 0, epoch: int = 0) -> list[RowGroupRef]:
        """All row groups in the order of ``(seed, epoch)``."""
        perm = np.random.default_rng([seed, epoch]).permutation(len(self.row_groups))
        return [self.row_groups[i] for i in perm]

    def shard_of(self, *, seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1,
                 worker: int = 0, num_workers: int = 1) -> list[RowGroupRef]:
        """The row groups of consumer ``(rank, worker)`` for an epoch: every k-th of the epoch's order,
        ``k = world_size * num_workers``, starting at ``rank * num_workers + worker``."""
        if not (0 <= rank < world_size and 0 <= worker < num_workers):
            raise ValueError(f"need 0 <= rank < world_size and 0 <= worker < num_workers, got rank={rank}, "
                             f"world_size={world_size}, worker={worker}, num_workers={num_workers}")
        k = world_size * num_workers
        return self.epoch_order(seed, epoch)[rank * num_workers + worker :: k]

    def read(self, ref: RowGroupRef) -> PatchBatch:
        """One row group as a batch.

        Open shard files are kept per thread: one ``ParquetFile`` read from two threads at once can deadlock, so
        threads sharing a dataset (loader threads) each open their own, and keep them (and their memory maps)
        from one epoch to the next.
        """
        files: dict[str, pq.ParquetFile] = self._local.__dict__.setdefault("files", {})
        pf = files.get(ref.path)
        if pf is None:
            pf = files[ref.path] = (storage.parquet_file(ref.path) if storage.is_url(ref.path)
                                    else pq.ParquetFile(ref.path, memory_map=True))
        try:
            table = pf.read_row_group(ref.index, columns=["pair_id", "start_frame", "scale", *self.columns],
                                      use_threads=False)
        except (pa.ArrowException, OSError) as exc:
            raise _damaged(storage.path(ref.path), self.root, f"row group {ref.index} cannot be read") from exc
        n = table.num_rows
        arrays = {}
        for name in self.columns:
            col = table.column(name)
            chunk = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
            buf = chunk.buffers()[1]
            arrays[name] = np.frombuffer(buf, dtype="<f2", count=n * (TENSOR_BYTES // 2),
                                         offset=chunk.offset * TENSOR_BYTES).reshape(n, PATCH_BINS, PATCH_FRAMES)
        return PatchBatch(
            pair_id=table.column("pair_id").to_pylist(),
            start_frame=table.column("start_frame").to_numpy().astype(np.int32, copy=False),
            scale=table.column("scale").to_numpy().astype(np.float32, copy=False),
            arrays=arrays,
        )

    def iter_batches(self, *, seed: int = 0, epoch: int = 0, rank: int = 0, world_size: int = 1,
                     worker: int = 0, num_workers: int = 1, skip: int = 0) -> Iterator[PatchBatch]:
        """The batches (one per row group) of consumer ``(rank, worker)`` for one epoch, after the first ``skip``."""
        refs = self.shard_of(seed=seed, epoch=epoch, rank=rank, world_size=world_size, worker=worker,
                             num_workers=num_workers)
        for ref in refs[skip:]:
            yield self.read(ref)

    def __getstate__(self) -> dict:
        # Picklable (and deep-copyable) for data-loader worker processes: open files are reopened lazily.
        state = dict(self.__dict__)
        del state["_local"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
