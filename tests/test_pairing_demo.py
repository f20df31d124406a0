"""Acceptance test of the audio stage on small generated demo corpora: candidates from the metadata stage,
verdicts against the generator's truth (truth/pairs.csv)."""

from __future__ import annotations

import csv

import pyarrow.parquet as pq
import pytest

from democorpus import DemoConfig, make_corpus
from miner import MinerConfig, mine_pairs
from pairing import pair_candidates


@pytest.mark.parametrize("seed", [0, 1])
def test_demo_corpus_verdicts_offsets_and_gains_match_the_truth(tmp_path, seed):
    info = make_corpus(tmp_path / "corpus", DemoConfig(songs=6, seconds=6.0, seed=seed), progress=False)
    out = tmp_path / "pairs"
    mine_pairs(info.catalog, out, MinerConfig(progress=False))
    summary = pair_candidates(out, progress=False)

    truth = {r["pair_id"]: r for r in csv.DictReader(info.pairs.open())}
    table = pq.read_table(out / "pairs.parquet")
    got = {r["pair_id"]: r for r in table.to_pylist()}
    assert table.num_rows == len(got) == pq.read_metadata(out / "candidates.parquet").num_rows
    assert set(truth) <= set(got), f"the metadata stage missed {sorted(set(truth) - set(got))}"

    verdicts = {p: (got[p]["status"], got[p]["reason"]) for p in truth}
    expected = {p: (t["expected_status"], t["expected_reason"]) for p, t in truth.items()}
    assert verdicts == expected, {p: got[p]["detail"] for p in truth if verdicts[p] != expected[p]}
    # every audio decoy kind of the generator is present and got its reason
    assert {t["expected_reason"] for t in truth.values()} >= {
        "same-content", "different-recording", "drift", "too-short", "silent", "unreadable", "missing-file"}

    true_pairs = [p for p, t in truth.items() if t["offset_s"]]
    assert len(true_pairs) >= 4
    for p in true_pairs:
        t, g = truth[p], got[p]
        assert g["offset_s"] == pytest.approx(float(t["offset_s"]), abs=0.001), p
        assert g["gain_db"] == pytest.approx(float(t["gain_db"]), abs=0.5), p
        assert g["polarity"] == int(t["polarity"]), p
    # originals released twice share a content group; exactly one of their pairs is accepted
    groups: dict[str, set[str]] = {}
    for p, t in truth.items():
        if t["duplicate_group"]:
            groups.setdefault(t["duplicate_group"], set()).add(got[p]["content_group"])
    assert groups and all(len(g) == 1 and None not in g for g in groups.values())
    assert summary.accepted == sum(1 for t in truth.values() if t["expected_status"] == "accepted")
