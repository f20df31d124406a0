"""The demo corpus written as a tagged music folder (``make-demo-corpus --as-library``): mined as a folder, it
gives the same accepted pairs as its catalog."""

from __future__ import annotations

import csv
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from mutagen import File

from commands.demo import main as demo_cli
from commands.mine import main as mine_cli


@pytest.mark.slow
def test_the_demo_corpus_as_a_music_folder_mines_to_its_catalogs_accepted_pairs(tmp_path, demo_corpus, demo_pairs):
    corpus = tmp_path / "corpus"
    shutil.copytree(demo_corpus.out_dir, corpus)
    result = CliRunner().invoke(demo_cli, [str(corpus), "--songs", "4", "--seconds", "8", "--seed", "0",
                                           "--as-library"])
    assert result.exit_code == 0, result.output
    assert "Reusing the demo corpus" in result.output and "music folder:" in result.output  # not regenerated
    where = {r["track_id"]: r["library_path"]
             for r in csv.DictReader(open(corpus / "truth" / "library.csv", newline=""))}
    catalog = {r["track_id"]: r for r in csv.DictReader(open(corpus / "catalog.csv", newline=""))}
    tagged = File(corpus / where["t0025"])
    assert str(tagged.tags["title"][0]) == catalog["t0025"]["title"] == "Wild Echoes, Part 2"
    assert where["t0025"].startswith("library/Echo Kids/Velvet Meadows/")

    out = tmp_path / "pairs"
    result = CliRunner().invoke(mine_cli, [str(corpus / "library"), "-o", str(out), "--no-progress", "--no-report"])
    assert result.exit_code == 0, result.output
    track_of = {path.removeprefix("library/"): tid for tid, path in where.items()}
    folder = {(track_of[r["original_id"]], track_of[r["instrumental_id"]])
              for r in pq.read_table(out / "pairs.parquet").to_pylist() if r["status"] == "accepted"}
    route = {(r["original_id"], r["instrumental_id"])
             for r in pq.read_table(demo_pairs / "pairs.parquet").to_pylist() if r["status"] == "accepted"}
    truth = {(r["original_id"], r["instrumental_id"])
             for r in csv.DictReader(open(demo_corpus.pairs, newline="")) if r["expected_status"] == "accepted"}
    assert folder == route == truth

    again = CliRunner().invoke(demo_cli, [str(corpus), "--songs", "4", "--seconds", "8", "--seed", "0",
                                          "--as-library"])
    assert again.exit_code == 0 and (corpus / "library" / ".library.json").exists()
