"""Fixtures many tests share, each built once per session, when a test first asks for it:

- ``demo_corpus``: the demo corpus of 4 songs of 8 s with its decoys (seed 0), a ``democorpus.CorpusInfo``;
- ``clean_corpus``: 3 songs of 4 s without decoys (seed 4): three true pairs and nothing else;
- ``demo_pairs``: ``demo_corpus`` mined and verified (the metadata and audio stages): the pairs folder;
- ``tiny_shards``: a synthetic shard set (3 train pairs, 1 valid, 1 test; patches of the paper's shape) whose
  manifest records sizes and sha1 as build-shards does;
- ``tiny_model``: 4 CPU steps on ``tiny_shards`` (``support.training.tiny_train_config``): the run folder and
  ``train``'s result;
- ``s3_endpoint`` and ``s3``: an S3 server on loopback and a fresh bucket (``support.s3server``).

The shared folders are read-only for the tests: a test that writes copies one into its ``tmp_path`` first. At the
end of the session a check fails the run if any file in them was added, removed or rewritten.

Tests that run for long (whole pipelines, training runs, subprocesses) are marked ``slow``: ``make test-fast``
leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from democorpus import DemoConfig, make_corpus
from miner import MinerConfig, mine_pairs
from pairing import pair_candidates
from support.s3server import s3, s3_endpoint  # noqa: F401 (fixtures offered to every test)
from support.training import record_sizes, tiny_train_config, write_shards
from training.train import TrainResult, train


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _shared(value: Any, root: Path) -> Iterator[Any]:
    """A shared fixture's ``yield``: ``value``; at teardown, fail if a file under ``root`` was added, removed or
    rewritten meanwhile."""
    before = _files(root)
    yield value
    after = _files(root)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, (f"a test wrote into the shared folder {root} (copy it into tmp_path first): "
                         f"{', '.join(changed[:10])}")


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory):
    info = make_corpus(tmp_path_factory.mktemp("demo") / "corpus", DemoConfig(songs=4, seconds=8.0, seed=0),
                       progress=False)
    yield from _shared(info, info.out_dir)


@pytest.fixture(scope="session")
def clean_corpus(tmp_path_factory):
    info = make_corpus(tmp_path_factory.mktemp("clean") / "corpus",
                       DemoConfig(songs=3, seconds=4.0, seed=4, decoys=False), progress=False)
    yield from _shared(info, info.out_dir)


@pytest.fixture(scope="session")
def demo_pairs(demo_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-pairs") / "pairs"
    mine_pairs(demo_corpus.catalog, out, MinerConfig(progress=False))
    pair_candidates(out, progress=False)
    yield from _shared(out, out)


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory):
    # 3 pairs x 3 patches = 9 train patches in row groups of 2 (5 row groups); 1 pair each of valid and test.
    root = record_sizes(write_shards(tmp_path_factory.mktemp("tiny-shards"), {"train": 3, "valid": 1, "test": 1}))
    yield from _shared(root, root)


@dataclass(frozen=True)
class TinyRun:
    run_dir: Path  # checkpoint.pt, best.pt, train_log.csv, train_summary.json, tensorboard/
    result: TrainResult


@pytest.fixture(scope="session")
def tiny_model(tiny_shards, tmp_path_factory):
    run = tmp_path_factory.mktemp("tiny-model") / "run"
    yield from _shared(TinyRun(run, train(tiny_train_config(tiny_shards, run, max_steps=4))), run)
