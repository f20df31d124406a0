"""Issue 14's rules, each on its own small catalog with its traps, through ``mine_pairs``: the exact ids.

Alternate-title brackets, multi-artist credits, the same-release rule for uninformative credits, clean and
explicit originals, and a giant credit whose title comparisons stay below a stated bound."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from rapidfuzz import fuzz, process

from miner import MinerConfig, mine_pairs
from miner import blocking

HEADER = ("track_id", "artist", "title", "duration_s", "album", "release_date", "isrc", "label")


def mine(tmp_path: Path, rows: list[tuple], config: MinerConfig = MinerConfig(), header=HEADER):
    cat = tmp_path / "catalog.csv"
    with open(cat, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([r + ("",) * (len(header) - len(r)) for r in rows])
    summary = mine_pairs(cat, tmp_path / "out", config)
    t = pq.read_table(tmp_path / "out" / "candidates.parquet")
    return set(zip(t.column("original_id").to_pylist(), t.column("instrumental_id").to_pylist())), summary


def test_issue_examples_jin_and_v(tmp_path):
    """The two misses of issue 14, verbatim: a member's instrumental of a duet with a Korean alternate title."""
    rows = [("o", "JIN; V", "It's Definitely You (죽어도 너야)", "301.2"),
            ("ij", "JIN", "It's Definitely You - Instrumental", "300.9"),
            ("iv", "V", "It's Definitely You - Instrumental", "301.0")]
    pairs, s = mine(tmp_path, rows)
    assert pairs == {("o", "ij"), ("o", "iv")}
    assert s.candidates == 2 and s.blocks == 2


ALTERNATES = [
    # pairs
    ("t1", "A", "Tonight (이 밤)", "200"), ("t1i", "A", "Tonight (Inst.)", "200"),
    ("d1", "B", "둘! 셋! (그래도 좋은 날이 더 많기를) (2! 3! (Still Wishing For More Good Days))", "250"),
    ("d1i", "B", "둘! 셋! (그래도 좋은 날이 더 많기를) (Inst.)", "251"),
    ("b1", "C", "상남자", "180"), ("b1i", "C", "상남자 (Boy In Luv) (Inst.)", "180"),
    ("th", "D", "Song Title (Theme from X)", "220"), ("thi", "D", "Song Title (Instrumental)", "221"),
    ("y1", "E", "夜に駆ける (Yoru ni Kakeru)", "260"), ("y1i", "E", "夜に駆ける - Instrumental", "260"),
    # traps: a bracket that is another song (same script), a version in another script's company, a number,
    # a prefix, a version tag
    ("ls", "F", "Tonight (Love Song)", "200"), ("lsi", "F", "Tonight (Instrumental)", "200"),
    ("lv", "G", "Dream (라이브) (Live)", "210"), ("lvi", "G", "Dream (Instrumental)", "210"),
    ("c2", "H", "Chapter 2 (두 번째 이야기)", "230"), ("c3i", "H", "Chapter 3 (Instrumental)", "230"),
    ("lm", "I", "Love Me (사랑해)", "190"), ("lmdi", "I", "Love Me Do (Instrumental)", "190"),
    ("rx", "J", "Fire (불타오르네) (Remix)", "240"), ("rxi", "J", "Fire (Instrumental)", "240"),
    # the alternate on both sides, different: never removed from both
    ("w1", "K", "Wings (날개)", "200"), ("w1i", "K", "Wings (翼) (Instrumental)", "200"),
]


def test_alternate_title_brackets(tmp_path):
    pairs, _ = mine(tmp_path, ALTERNATES)
    assert pairs == {("t1", "t1i"), ("d1", "d1i"), ("b1", "b1i"), ("th", "thi"), ("y1", "y1i")}


MULTI = [
    ("du", "A & B", "Duet", "200"), ("dui", "B", "Duet (Instrumental)", "200"),
    ("ft", "A feat. C", "Hit", "210"), ("fti", "C", "Hit (Instrumental)", "210"),
    ("wi", "D with E", "Together", "220"), ("wii", "E", "Together (Inst.)", "220"),
    ("x", "F x G", "Cross", "230"), ("xi", "G", "Cross - Instrumental", "230"),
    ("sl", "H / J", "Slash", "240"), ("sli", "J", "Slash (Instrumental)", "240"),
    ("tw", "K & L", "Twice", "250"), ("twi", "K & L", "Twice (Instrumental)", "250"),  # two shared artists: once
    # traps: the featured artist's own song of another title; a different title by a member
    ("cs", "C", "Solo Song", "200"), ("csi", "C", "Hit Song (Instrumental)", "210"),
    ("bo", "B", "Other (Instrumental)", "200"),
    # a compilation credit of more than six artists: only its first artist is a block key
    ("cmp", "P1, P2, P3, P4, P5, P6, P7, P8", "Anthem", "300"),
    ("cmpi5", "P5", "Anthem (Instrumental)", "300"), ("cmpi1", "P1", "Anthem (Instrumental)", "300"),
    # words inside one name are not separators
    ("acdc", "AC/DC", "Thunder", "280"), ("dci", "DC", "Thunder (Instrumental)", "280"),
    ("lnx", "Lil Nas X", "Road", "150"), ("lnxi", "X", "Road (Instrumental)", "150"),
]


def test_multi_artist_credits(tmp_path):
    pairs, s = mine(tmp_path, MULTI)
    assert pairs == {("du", "dui"), ("ft", "fti"), ("wi", "wii"), ("x", "xi"), ("sl", "sli"), ("tw", "twi"),
                     ("cmp", "cmpi1")}
    t = pq.read_table(tmp_path / "out" / "candidates.parquet").to_pylist()
    assert len(t) == 7  # the (K & L) pair once
    assert {r["instrumental_id"]: r["artist_key"] for r in t}["dui"] == "b"


SAME_RELEASE = [
    # "Traditional": five recordings of one title; the instrumental shares the album of one of them
    ("g1", "Traditional", "Amazing Grace", "200", "Hymns Vol. 1", "1999-03-01"),
    ("g2", "Traditional", "Amazing Grace", "201", "Gospel Night", "2004-05-05"),
    ("g3", "Traditional", "Amazing Grace", "199", "Bagpipes", "2011-01-01"),
    ("g4", "Trad.", "Amazing Grace", "200", "Choir", "1987-02-02"),
    ("g5", "TRADITIONAL", "Amazing Grace", "202", "Funeral Songs", "1995-09-09"),
    ("gi", "Traditional", "Amazing Grace (Instrumental)", "200", "Hymns  vol. 1", "2001-01-01"),
    # "Various Artists": a release date 14 days apart counts, 200 days does not
    ("v1", "Various Artists", "Summer Hit", "180", "Hits 2020", "2020-06-01"),
    ("v2", "Various Artists", "Summer Hit", "181", "Hits 2021", "2020-12-18"),
    ("vi", "Various Artists", "Summer Hit (Instrumental)", "180", "Hits 2020 Instrumentals", "2020-06-15"),
    # "Unknown Artist": the same ISRC registrant counts
    ("u1", "Unknown Artist", "Loop", "120", "", "", "US-AB1-20-00001"),
    ("u2", "Unknown Artist", "Loop", "120", "", "", "GBXYZ2000002"),
    ("ui", "Unknown Artist", "Loop (Instrumental)", "121", "", "", "USAB12000009"),
    # a composer credit: two performers' recordings, no shared release; the label is not evidence by default
    ("b1", "Johann Sebastian Bach", "Air on the G String", "300", "Baroque Gold", "2001-01-01", "", "Decca"),
    ("bi", "Johann Sebastian Bach", "Air on the G String (Instrumental)", "301", "Strings", "2015-01-01", "", "Decca"),
    # an informative credit needs nothing of this
    ("n1", "Band", "Song", "200", "Album A", "2001-01-01"), ("ni", "Band", "Song (Instrumental)", "200", "B", "2019-01-01"),
]


def test_uninformative_credits_need_the_same_release(tmp_path):
    pairs, s = mine(tmp_path, SAME_RELEASE)
    assert pairs == {("g1", "gi"), ("v1", "vi"), ("u1", "ui"), ("n1", "ni")}
    # checked: g1 g2 g3 g5 (g4's "Trad." is another block), v1 v2, u1 u2, b1; missing: all but g1, v1, u1
    assert (s.same_release_checked, s.same_release_missing) == (9, 6)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["metadata"]
    assert summary["same_release_missing"] == 6 and summary["config"]["release_evidence"] == ["album", "date", "isrc"]


def test_same_release_rule_is_configurable(tmp_path):
    pairs, s = mine(tmp_path, SAME_RELEASE, MinerConfig(uninformative_artists=()))
    assert len(pairs) == 4 + 2 + 2 + 1 + 1 and s.same_release_checked == 0
    pairs, _ = mine(tmp_path, SAME_RELEASE, MinerConfig(release_evidence=("label",)))
    assert pairs == {("b1", "bi"), ("n1", "ni")}
    with pytest.raises(ValueError, match="unknown release evidence"):
        MinerConfig(release_evidence=("moon",))


def test_clean_and_explicit_originals_both_pair(tmp_path):
    """The instrumental has no words to clean: both versions are valid originals; a live one is not."""
    rows = [("c", "A", "Song (Clean)", "200"), ("e", "A", "Song (Explicit)", "200"),
            ("cv", "A", "Song (Clean Version)", "200.5"), ("lv", "A", "Song (Live)", "200"),
            ("i", "A", "Song (Instrumental)", "200")]
    pairs, _ = mine(tmp_path, rows)
    assert pairs == {("c", "i"), ("e", "i"), ("cv", "i")}


def test_qgram_blocking_finds_every_pair_above_the_threshold():
    """The count filter and the length filter against brute force: the same pairs at several thresholds
    (typos, other scripts, repeated q-grams such as "lalala", titles shorter than a q-gram)."""
    rng = random.Random(1)
    alpha = "abcdefghij 둘셋é"
    cores = sorted({"".join(rng.choice(alpha) for _ in range(rng.randint(1, 30))).strip() or "x"
                    for _ in range(2000)} | {"la la la la", "lalalala", "abab abab", "ab", "a"})
    queries = ["la la la l", "lalalal", "abab abb", "ab", "b"]
    for _ in range(200):
        c = list(rng.choice(cores))
        for _ in range(rng.randint(0, 3)):
            p = rng.randrange(len(c) + 1)
            if rng.random() < 0.5 and c:
                c.pop(min(p, len(c) - 1))
            else:
                c.insert(p, rng.choice(alpha))
        queries.append("".join(c) or "y")
    for thr in (100, 95, 90, 80, 75):
        m = process.cdist(queries, cores, scorer=fuzz.ratio, score_cutoff=thr)
        want = set(zip(*[a.tolist() for a in np.nonzero(m >= thr)]))
        assert (0, cores.index("la la la la")) in want or thr > 95  # "la la la l": 95.2
        qi, ci, sc, scored = blocking.candidate_pairs(queries, cores, thr, method="count")
        assert set(zip(qi.tolist(), ci.tolist())) == want
        assert np.allclose(sc, m[qi, ci])
        if thr >= 90:
            assert scored < 0.05 * len(queries) * len(cores), scored
        qi, ci, _, scored = blocking.candidate_pairs(queries, cores, thr, method="length")
        assert set(zip(qi.tolist(), ci.tolist())) == want and scored < len(queries) * len(cores)
        assert set(zip(*blocking.candidate_pairs(queries, cores, thr)[:2])) == want  # the cost model's pick


def test_cost_model_picks_the_count_filter_for_diverse_titles_only():
    """Titles with rare q-grams (26 letters, words of any letters) take the count filter and score few
    pairs; titles made of a handful of syllables, whose q-grams every title shares, take the length filter."""
    rng = random.Random(2)

    def titles(make, n):
        return sorted({make() for _ in range(n)})

    letters = lambda: " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 8)))
                               for _ in range(rng.randint(2, 4)))
    syllables = lambda: " ".join("".join(rng.choice(["ka", "lo", "mi", "ra"]) for _ in range(rng.randint(1, 3)))
                                 for _ in range(rng.randint(2, 4)))
    for make, count_wins in ((letters, True), (syllables, False)):
        cores = titles(make, 6000)
        queries = [c[:-1] + "x" for c in cores[::10]]
        assert blocking._count_is_cheaper(queries, cores, 90.0) is count_wins
        qi, ci, _, scored = blocking.candidate_pairs(queries, cores, 90.0)
        m = process.cdist(queries, cores, scorer=fuzz.ratio, score_cutoff=90)
        assert set(zip(qi.tolist(), ci.tolist())) == set(zip(*[a.tolist() for a in np.nonzero(m >= 90)]))
        if count_wins:
            assert scored < 0.01 * len(queries) * len(cores), scored


def test_count_bound_holds_for_every_pair_at_the_threshold():
    """``count_bound`` never exceeds the q-grams (with multiplicity) two strings share when their
    ``fuzz.ratio`` reaches the threshold; checked on edited strings over a small alphabet (many repeats)."""
    from collections import Counter

    rng = random.Random(7)
    checked = 0
    for _ in range(4000):
        a = "".join(rng.choice("ab c") for _ in range(rng.randint(0, 25)))
        b = list(a)
        for _ in range(rng.randint(0, 4)):
            if rng.random() < 0.5 and b:
                b.pop(rng.randrange(len(b)))
            else:
                b.insert(rng.randrange(len(b) + 1), rng.choice("ab c"))
        b = "".join(b)
        r = fuzz.ratio(a, b)
        shared = sum((Counter(a[i:i + 3] for i in range(len(a) - 2))
                      & Counter(b[i:i + 3] for i in range(len(b) - 2))).values())
        for thr in (70, 80, 90, 95):
            if r >= thr:
                assert shared >= blocking.count_bound(len(a), len(b), thr / 100), (a, b, thr)
                checked += 1
    assert checked > 3000
    assert blocking.count_bound(15, 15, 0.9) == 4 and blocking.count_bound(5, 5, 0.9) == 0


def giant_catalog(n_orig: int = 20_000, n_inst: int = 1000, seed: int = 3) -> tuple[list[tuple], set[tuple[str, str]]]:
    """"Traditional" with ``n_orig`` recordings (half of them of 100 pool titles, recorded about 100 times
    each by different performers) and ``n_inst`` instrumentals, each on the album of one recording (the
    true pairs)."""
    rng = random.Random(seed)
    syll = ["ka", "lo", "mi", "ra", "te", "shi", "no", "va", "dor", "en", "lu", "ben", "tra", "ox", "pel", "qui"]

    def title() -> str:
        return " ".join("".join(rng.choice(syll) for _ in range(rng.randint(1, 3))).capitalize()
                        for _ in range(rng.randint(1, 4)))

    pool = [title() for _ in range(100)]
    rows, truth = [], set()
    for k in range(n_orig):
        t = pool[k % len(pool)] if k < n_orig // 2 else title()
        rows.append((f"o{k}", "Traditional", t, f"{rng.uniform(120, 400):.1f}", f"Album {k}", ""))
    for j, k in enumerate(rng.sample(range(n_orig), n_inst)):
        _, _, t, d, album, _ = rows[k]
        rows.append((f"i{j}", "Traditional", f"{t} (Instrumental)", d, album, ""))
        truth.add((f"o{k}", f"i{j}"))
    return rows, truth


def test_giant_credit_stays_below_the_comparison_bound(tmp_path):
    """One block of 21,000 rows: all pairs would be 1,000 x 20,000 = 20 million comparisons; the bound is a
    quarter of that (measured: 1.8 million: identical titles scored once, then the length filter the cost
    model picks here; the titles are drawn from 16 syllables, so their q-grams are far commoner than in real
    titles and the count filter's product would cost more than the scores it saves). Every true pair is found, and nothing else: the same title is recorded about 100 times,
    and the album decides."""
    rows, truth = giant_catalog()
    pairs, s = mine(tmp_path, rows)
    assert pairs == truth
    assert s.blocks == 1 and s.marked == 1000
    assert s.compared < 5_000_000, s.compared
    # every pair that passed the title and duration rules needed the album; all but the true ones lacked it
    assert s.same_release_checked - s.same_release_missing == len(truth) == 1000


def test_giant_block_split_into_tasks_finds_the_same_pairs(tmp_path):
    """A giant block cut by title length into sub-blocks over several tasks: the same pairs, a typo and an
    alternate title across length buckets included."""
    rows, truth = giant_catalog(n_orig=6000, n_inst=200, seed=5)
    rows += [("ty", "Traditional", "Wonderful Morning Star Of The Sea", "200", "Album X", ""),
             ("tyi", "Traditional", "Wonderfull Morning Star Of The Sea (Instrumental)", "200", "Album X", ""),
             ("al", "Traditional", "Arirang Song (아리랑 노래는 슬퍼요 아주 많이)", "210", "Album Y", ""),
             ("ali", "Traditional", "Arirang Song (Instrumental)", "210", "Album Y", "")]
    truth |= {("ty", "tyi"), ("al", "ali")}
    pairs, s = mine(tmp_path, rows, MinerConfig(giant_rows=2000, blocksize=100_000))
    assert pairs == truth
    assert s.partitions > 1 and s.giant_blocks == 1 and s.giant_sub_blocks >= 8
    assert s.same_release_checked - s.same_release_missing == len(truth)


def test_cli_uninformative_artist_and_release_evidence(tmp_path):
    from click.testing import CliRunner

    from commands.mine import main as cli

    cat = tmp_path / "c.csv"
    cat.write_text("track_id,artist,title,duration_s,album\n"
                   "o1,Big Choir,Hymn,200,Sunday\no2,Big Choir,Hymn,200,Monday\ni1,Big Choir,Hymn (Instrumental),200,Sunday\n")
    r = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "bad"), "--metadata-only", "--no-report",
                                 "--release-evidence", "album,moon"])
    assert r.exit_code == 2 and "'album,moon': give one or more of album, date, isrc, label" in r.output
    r = CliRunner().invoke(cli, [str(cat), "-o", str(tmp_path / "out"), "--metadata-only", "--no-report",
                                 "--uninformative-artist", "Big Choir"])
    assert r.exit_code == 0, r.output
    assert "1 of 2 pairs under uninformative credits rejected for no same-release evidence" in r.output
    t = pq.read_table(tmp_path / "out" / "candidates.parquet")
    assert t.column("original_id").to_pylist() == ["o1"]
