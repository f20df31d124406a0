"""Normalisation, markers and version tags of the miner, value by value."""

from __future__ import annotations

import pytest

from miner.markers import MarkerSet, version_tags
from miner.match import MatchRules, explain, numbers
from miner.normalize import artist_key, fold_text, title_core


@pytest.mark.parametrize("a, b", [
    ("The Beatles", "Beatles"),
    ("Jay-Z", "JAY Z"),
    ("Jay-Z", "jay z"),
    ("Beyoncé", "Beyonce"),
    ("A & B", "A"),
    ("A feat. B", "A"),
    ("A ft. B", "A"),
    ("A (feat. B)", "A"),
    ("A featuring B & C", "A"),
    ("A x B", "A"),
    ("A with B", "A"),
    ("A, B", "A"),
    ("A and B", "A"),
    ("ＢＴＳ", "BTS"),
    ("AC/DC", "ACDC"),
])
def test_artist_keys_that_must_agree(a, b):
    assert artist_key(a) == artist_key(b)


@pytest.mark.parametrize("a, b", [
    ("Lil Nas X", "Lil Nas"),  # a trailing X is a name, not a collaboration
    ("X Ambassadors", "Ambassadors"),
    ("Beatles", "Beat"),
    ("The The", "The"),  # only a leading article is dropped: "The The" keys on "the"
])
def test_artist_keys_that_must_differ(a, b):
    if a == "The The":
        assert artist_key(a) == "the"
    else:
        assert artist_key(a) != artist_key(b)


def test_artist_key_of_symbols_only_keeps_the_symbols():
    assert artist_key("!!!") == "!!!"
    assert artist_key("!!!") != artist_key("???")


@pytest.mark.parametrize("a, b", [
    ("Café", "Cafe"),
    ("Señorita", "Senorita"),
    ("Don't Stop", "Dont Stop"),
    ("Don’t Stop", "Dont Stop"),  # curly apostrophe
    ("L.A. Woman", "LA Woman"),
    ("Me & You", "Me and You"),
    ("Song (feat. Someone)", "Song"),
    ("Song [ft. Someone]", "Song"),
    ("Song ft. Someone", "Song"),
    ("Song (with Someone)", "Song"),
    ("Song (Explicit)", "Song"),
    ("SONG", "song"),
    ("Straße", "Strasse"),
    ("Rock-n-Roll", "Rock n Roll"),
    ("  Spaced   Out  ", "Spaced Out"),
])
def test_title_cores_that_must_agree(a, b):
    assert title_core(a) == title_core(b)


def test_title_core_keeps_versions_and_other_scripts():
    assert title_core("Song - Radio Edit") == "song radio edit"
    assert title_core("상남자 (Boy In Luv)") == "상남자 boy in luv"
    assert title_core("Song ft. X - Radio Edit") == "song radio edit"


MARKED = [
    ("Song (Instrumental)", "(Instrumental)"),
    ("Song - Instrumental", "Instrumental"),
    ("Song [Instrumental Version]", "[Instrumental Version]"),
    ("Song (Official Instrumental)", "(Official Instrumental)"),
    ("Song (Instrumental Mix)", "(Instrumental Mix)"),
    ("Song (INSTRUMENTAL)", "(INSTRUMENTAL)"),
    ("Song (Inst.)", "(Inst.)"),
    ("Song (Inst)", "(Inst)"),
    ("Song - Inst.", "Inst."),
    ("Song (Instr.)", "(Instr.)"),
    ("Song (Off Vocal)", "(Off Vocal)"),
    ("Song (off-vocal)", "(off-vocal)"),
    ("Song - [Instrumental]", "[Instrumental]"),
    ("Song – Instrumental", "Instrumental"),  # en dash
    ("Song （Ｉｎｓｔ．）", "（Ｉｎｓｔ．）"),  # full-width: found after NFKC, reported as written
]


@pytest.mark.parametrize("title, marker", MARKED)
def test_every_usual_marker_spelling_is_found_and_removed(title, marker):
    ms = MarkerSet()
    folded = fold_text(title)
    assert ms.find(folded) is not None
    stripped, found = ms.strip(folded, title)
    assert found == marker
    assert title_core(stripped) == "song"


@pytest.mark.parametrize("title", [
    "Instrumental Interlude",  # a song called so
    "Song (Acapella)",  # a cappella is a version, never a marker
    "Song (A Cappella)",
    "Song - Instrumentals of Love",
    "Institute",
    "Song (Karaoke Version)",  # not a default marker
])
def test_titles_without_a_marker(title):
    assert MarkerSet().find(fold_text(title)) is None


def test_extra_marker_phrases():
    ms = MarkerSet.with_extra(["karaoke", "Backing Track"])
    assert ms.find(fold_text("Song (Karaoke Version)")) is not None
    assert ms.find(fold_text("Song - Backing-Track")) is not None
    assert ms.strip(fold_text("Song (Karaoke Version)"))[0] == "song"
    assert MarkerSet().find(fold_text("Song (Karaoke Version)")) is None


def test_marker_with_a_version_keeps_the_version():
    ms = MarkerSet()
    assert ms.strip("song (instrumental radio edit)")[0] == "song (radio edit)"
    assert ms.strip("song (extended instrumental mix)")[0] == "song (extended mix)"
    assert version_tags("song (radio edit)") == version_tags("song - radio edit") == {"radio", "edit"}


@pytest.mark.parametrize("title, tags", [
    ("song (live)", {"live"}),
    ("song - live at wembley", {"live"}),
    ("song (remix)", {"remix"}),
    ("song (acoustic)", {"acoustic"}),
    ("song (acapella)", {"acapella"}),
    ("song (a cappella)", {"acapella"}),
    ("song (extended mix)", {"extended", "mix"}),
    ("song (demo)", {"demo"}),
    ("song - radio edit", {"radio", "edit"}),
    ("song (original mix)", set()),
    ("live forever", set()),  # a word of the title, not a version segment
    ("song (2011 remaster)", set()),
])
def test_version_tags(title, tags):
    assert version_tags(title) == tags


def test_numbers_compare_digits_and_roman_numerals():
    assert numbers("part 2") == numbers("part 02") == ("2",)
    assert numbers("part ii") != numbers("part iii")
    assert numbers("song 2") != numbers("song 3")
    assert numbers("i love you") == ()  # "i" is a word, not a numeral


@pytest.mark.parametrize("orig, inst, reason", [
    ("Love Me", "Love Me (Instrumental)", None),
    ("Love Me", "Love Me Do (Instrumental)", "title-prefix"),
    ("Part 2", "Part 3 (Instrumental)", "title-differs"),
    ("The Long Song Title Part 2", "The Long Song Title Part 3 (Instrumental)", "numbers-differ"),
    ("A Very Long Song Title Here", "A Very Long Song Title Here (Live) (Instrumental)", "title-prefix"),
    ("A Very Long Song Title For Testing (Live)", "A Very Long Song Title For Testing (Demo) (Instrumental)",
     "version-differs"),
    ("Song (Live)", "Song (Live) (Instrumental)", None),
    ("Song - Radio Edit", "Song - Radio Edit (Instrumental)", None),
    ("Song - Radio Edit", "Song (Instrumental Radio Edit)", None),
    ("Song", "Song - Radio Edit (Instrumental)", "title-prefix"),
    ("Song (Instrumental)", "Song (Inst.)", "original-is-marked"),
    ("Song (Acapella)", "Song (Instrumental)", "title-prefix"),
    ("Somebody That I Used To Know", "Somebody That I Usde To Know (Instrumental)", None),  # a typo
])
def test_title_rules(orig, inst, reason):
    assert explain(orig, inst).reason == reason


def test_duration_tolerance_absolute_then_relative():
    rules = MatchRules()
    assert explain("Song", "Song (Instrumental)", 200.0, 202.9, rules).reason is None
    assert explain("Song", "Song (Instrumental)", 200.0, 197.1, rules).reason is None
    assert explain("Song", "Song (Instrumental)", 200.0, 203.2, rules).reason == "duration-differs"
    # 1% of a 10-minute track is 6 s.
    assert explain("Song", "Song (Instrumental)", 600.0, 605.5, rules).reason is None
    assert explain("Song", "Song (Instrumental)", 600.0, 606.5, rules).reason == "duration-differs"
    tight = MatchRules(duration_tolerance_s=1.0, duration_tolerance_rel=0.0)
    assert explain("Song", "Song (Instrumental)", 200.0, 201.5, tight).reason == "duration-differs"
    e = explain("Song", "Song (Instrumental)", 200.0, 201.5)
    assert e.duration_delta_s == pytest.approx(1.5) and e.title_score == 100.0 and e.marker == "(Instrumental)"
