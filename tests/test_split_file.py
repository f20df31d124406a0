"""`build-shards --split-file`: artists pinned to a split by a CSV, the rest hashed as before."""

from __future__ import annotations

import pytest

from features.splits import PairKeys, SplitConfig, assign_splits, read_split_file
from vocalmine.errors import UserInputError


def test_split_file_pins_artists_and_leaves_the_others_hashed(tmp_path):
    f = tmp_path / "songs.csv"  # the demo corpus' truth/songs.csv shape: split_hint serves as split
    f.write_text("song_id,artist,split_hint\ns1,The Beatles,test\ns2,Jay-Z,valid\ns3,Jay-Z,valid\ns4,Abba,train\n")
    fixed = read_split_file(f)
    assert fixed == {"beatles": "test", "jayz": "valid", "abba": "train"}  # keyed as the miner keys artists
    pairs = [PairKeys("p1", "beatles"), PairKeys("p2", "jayz"), PairKeys("p3", "abba"),
             PairKeys("p4", "other", content_group="o4"), PairKeys("p5", "linked", content_group="p1-audio"),
             PairKeys("p6", "beatles", content_group="p1-audio")]
    hashed = assign_splits(pairs, SplitConfig((1.0, 0.0, 0.0)))
    assert set(hashed.values()) == {"train"}
    split = assign_splits(pairs, SplitConfig((1.0, 0.0, 0.0)), fixed=fixed)
    # p5's artist is unlisted but shares audio with a Beatles pair: it goes with them.
    assert split == {"p1": "test", "p2": "valid", "p3": "train", "p4": "train", "p5": "test", "p6": "test"}


@pytest.mark.parametrize("text,message", [
    ("artist,group\nA,train\n", "needs the columns artist and split; found artist, group"),
    ("artist,split\nA,holdout\n", "line 2: split must be one of train, valid, test, got 'holdout'"),
    ("artist,split\nA,train\nA,test\n", "line 3: artist 'A' is listed in both train and test"),
])
def test_bad_split_files_are_one_clear_error(tmp_path, text, message):
    f = tmp_path / "s.csv"
    f.write_text(text)
    with pytest.raises(UserInputError, match=message):
        read_split_file(f)


def test_a_group_pinned_to_two_splits_is_refused(tmp_path):
    pairs = [PairKeys("p1", "a", content_group="g"), PairKeys("p2", "b", content_group="g")]
    with pytest.raises(UserInputError, match="in both (train and test|test and train)"):
        assign_splits(pairs, fixed={"a": "train", "b": "test"})
