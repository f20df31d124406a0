"""Training batches from the shard reader: fixed-size batches, exact resumable positions, loader threads.

``features.reader.ShardDataset.iter_batches`` yields one ``PatchBatch`` per row group (rows of float16
``[N, 512, 128]`` tensors), in an order fixed by ``(seed, epoch)`` and split between consumers by
``(rank, world_size, worker, num_workers)`` into disjoint shares. ``PatchStream`` cuts one consumer's endless
sequence of epochs into batches of exactly ``batch_size`` patches (a batch may straddle two row groups or two
epochs) and reports, with every batch, the position of the next unread patch: ``(epoch, row groups fully read
in that epoch, rows read of the next)``. Restarting a stream at that position gives exactly the batches an
uninterrupted stream would have given.

``Prefetcher`` runs one thread per stream (a rank's loader threads, each with its own share of row groups) and
hands their batches out strictly in turn (worker 0, 1, ..., W-1, 0, ...), so the sequence of batches is
fixed by the seed and a resumed run continues it exactly from ``(next_worker, per-worker positions)``. The
threads spend their time in Arrow reads and NumPy copies, which release the GIL.

Shapes: ``mix`` and ``target`` are float16 ``[batch, 1, 512, 128]`` tensors (CPU; pinned when asked).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset

from features.reader import ShardDataset
from training.config import TARGETS
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataPosition:
    """Where a rank's stream stands: ``epoch``, row groups fully read in it, rows read of the next one."""

    epoch: int = 0
    row_groups: int = 0
    rows: int = 0
    patches_read: int = 0  # patches delivered since the start of training (all epochs), for logs

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataPosition":
        return cls(**{k: int(d[k]) for k in ("epoch", "row_groups", "rows", "patches_read") if k in d})


@dataclass
class Batch:
    """One training batch: inputs and targets float16 ``[batch, 1, 512, 128]``; the loader worker it came from
    and that worker's position after it."""

    mix: torch.Tensor
    target: torch.Tensor
    position: DataPosition
    worker: int = 0
    other: torch.Tensor | None = None  # the complementary source, when the stream was asked for it


def other_source(target: str) -> str:
    """The source complementary to ``target`` in the shards: ``instrumental`` for ``vocals`` and vice versa."""
    return "instrumental" if target == "vocals" else "vocals"


def open_split(shards_dir: str | Path, split: str, target: str, *, with_other: bool = False, verify: bool = False):
    """``features.reader.ShardDataset`` of ``split`` reading the ``mix`` and ``target`` columns (and the
    complementary source with ``with_other``, for the remix augmentation). ``verify``: check every shard's
    sha1 against the manifest (sizes are always checked).

    The reader raises ``UserInputError`` for a missing or empty split and for foreign patch shapes or STFT
    parameters; this only checks ``target``.
    """
    if target not in TARGETS:
        raise UserInputError(f"target must be one of {TARGETS}, got {target!r}")
    columns = ("mix", target, other_source(target)) if with_other else ("mix", target)
    return ShardDataset(shards_dir, split, columns=columns, verify=verify)


@dataclass(frozen=True)
class RunData:
    """What one rank trains on: the ``train`` split, the ``valid`` split (None without validation), the shards'
    STFT (``{"sample_rate", "n_fft", "hop"}``, what a checkpoint records) and the loader threads it reads with."""

    train: ShardDataset
    valid: ShardDataset | None
    stft: dict
    threads: int

    @property
    def build_key(self) -> str | None:
        """The shard manifest's ``build_key``: what "the same data" means on ``--resume``."""
        return self.train.manifest.get("build_key")


def open_run_data(shards_dir: str | Path, target: str, *, with_other: bool, validate: bool, verify: bool,
                  world_size: int, threads: int) -> RunData:
    """The splits a run reads (``open_split``), ``threads`` loader threads asked for per rank (at most the row
    groups each rank gets). ``UserInputError`` when the train split has fewer row groups than processes."""
    train = open_split(shards_dir, "train", target, with_other=with_other, verify=verify)
    valid = open_split(shards_dir, "valid", target, verify=verify) if validate else None
    if len(train.row_groups) < world_size:
        raise UserInputError(
            f"the train split has {len(train.row_groups)} row groups, fewer than the {world_size} "
            "processes; each rank needs its own"
        )
    threads = max(1, min(threads, len(train.row_groups) // world_size))
    p = train.params
    return RunData(train, valid, {"sample_rate": p.sample_rate, "n_fft": p.n_fft, "hop": p.hop}, threads)


class PatchStream(IterableDataset):
    """Endless stream of ``Batch``es of one consumer ``(rank, worker)``, from ``start``; epochs follow each other.

    Usable directly (``iter(stream)``) or as an ``IterableDataset`` with ``DataLoader(stream, batch_size=None)``
    (one loader worker: the stream's position is exact only when it is read in order).
    """

    def __init__(
        self,
        dataset,
        target: str,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        worker: int = 0,
        num_workers: int = 1,
        start: DataPosition = DataPosition(),
        pin_memory: bool = False,
        other: str | None = None,
    ):
        super().__init__()
        if batch_size < 1:
            raise UserInputError(f"batch size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.target = target
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.worker = worker
        self.num_workers = num_workers
        self.start = start
        self.pin_memory = pin_memory
        self.other = other

    def _row_groups(self, dataset, epoch: int, skip: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(row-group index in the epoch, mix [N, 512, 128], target [N, 512, 128] or [N, 2, 512, 128])``
        from ``skip`` on; with ``other``, the target's second plane is the complementary source."""
        batches = dataset.iter_batches(
            seed=self.seed, epoch=epoch, rank=self.rank, world_size=self.world_size, worker=self.worker,
            num_workers=self.num_workers, skip=skip,
        )
        for i, pb in enumerate(batches, start=skip):
            if self.other is None:
                yield i, pb.arrays["mix"], pb.arrays[self.target]
            else:
                yield i, pb.arrays["mix"], np.stack([pb.arrays[self.target], pb.arrays[self.other]], axis=1)

    def __iter__(self) -> Iterator[Batch]:
        dataset = self.dataset  # safe to share between loader threads: the reader opens files per thread
        bs = self.batch_size
        epoch, rg, rows = self.start.epoch, self.start.row_groups, self.start.rows
        delivered = self.start.patches_read
        pend_mix: list[np.ndarray] = []
        pend_tgt: list[np.ndarray] = []
        pending = 0
        while True:
            got_any = False
            for index, mix, tgt in self._row_groups(dataset, epoch, rg):
                got_any = True
                if index == self.start.row_groups and epoch == self.start.epoch and rows:
                    mix, tgt = mix[rows:], tgt[rows:]  # resume inside a row group
                    used = rows
                else:
                    used = 0
                n = len(mix)
                offset = 0
                while offset < n:
                    take = min(bs - pending, n - offset)
                    pend_mix.append(mix[offset : offset + take])
                    pend_tgt.append(tgt[offset : offset + take])
                    pending += take
                    offset += take
                    if pending == bs:
                        used_now = used + offset
                        full = used_now == used + n
                        pos = DataPosition(
                            epoch=epoch,
                            row_groups=index + 1 if full else index,
                            rows=0 if full else used_now,
                            patches_read=delivered + bs,
                        )
                        delivered += bs
                        yield self._make(pend_mix, pend_tgt, pos)
                        pend_mix, pend_tgt, pending = [], [], 0
            if not got_any and rg == 0:
                raise UserInputError(
                    f"rank {self.rank} of {self.world_size}, loader thread {self.worker} of {self.num_workers}, "
                    f"gets no row groups of the split in epoch {epoch}: the split has fewer row groups than "
                    "consumers; build shards with smaller row groups or use fewer processes or loader threads"
                )
            epoch, rg, rows = epoch + 1, 0, 0

    def _make(self, mixes: list[np.ndarray], tgts: list[np.ndarray], pos: DataPosition) -> Batch:
        mix = torch.from_numpy(np.concatenate(mixes)[:, None])
        both = np.concatenate(tgts)
        if self.other is None:
            tgt, other = torch.from_numpy(both[:, None]), None
        else:
            tgt, other = torch.from_numpy(both[:, :1].copy()), torch.from_numpy(both[:, 1:].copy())
        if self.pin_memory:
            mix, tgt = mix.pin_memory(), tgt.pin_memory()
            other = other.pin_memory() if other is not None else None
        return Batch(mix, tgt, pos, self.worker, other)


class Prefetcher:
    """One background thread per iterable, each ``depth`` items ahead; ``next()`` takes from them in turn,
    starting with ``first``, and re-raises their errors.

    ``wait_s`` accumulates the time ``next()`` spent blocked waiting for data (the data-wait figure);
    ``next_index`` is the iterable the next item will come from.
    """

    _DONE = object()

    def __init__(self, iterables, depth: int = 4, first: int = 0):
        iterables = list(iterables)
        self._queues = [queue.Queue(maxsize=max(1, depth)) for _ in iterables]
        self._stop = threading.Event()
        self.wait_s = 0.0
        self.next_index = first % len(iterables)
        self._threads = [
            threading.Thread(target=self._run, args=(iter(it), q), daemon=True, name=f"loader-{i}")
            for i, (it, q) in enumerate(zip(iterables, self._queues))
        ]
        for t in self._threads:
            t.start()

    def _run(self, it, q: queue.Queue) -> None:
        try:
            for item in it:
                if not self._put(q, item):
                    return
            self._put(q, self._DONE)
        except BaseException as exc:  # handed to the consumer
            self._put(q, exc)

    def _put(self, q: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> "Prefetcher":
        return self

    def __next__(self):
        q = self._queues[self.next_index]
        t0 = time.perf_counter()
        item = q.get()
        self.wait_s += time.perf_counter() - t0
        if item is self._DONE:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        self.next_index = (self.next_index + 1) % len(self._queues)
        return item

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
