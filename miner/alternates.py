"""Alternate titles in brackets: "It's Definitely You (죽어도 너야)", "상남자 (Boy In Luv)", "Song (Theme from X)".

One release of a song often carries a second title in brackets (a translation or transliteration, the title
in another script, "Theme from ...") and another release does not. ``without_alternates`` removes such
brackets from a folded title; the matcher accepts a pair when the titles agree once they are removed from one
side. A top-level bracketed group is an alternate title when:

- its letters are all in scripts that the plain title (the title without any bracketed group) does not use:
  Latin against Hangul, CJK, kana, Cyrillic, Greek, Arabic...; or it starts with "theme from/of", "from the
  motion picture/film/movie/series/musical/soundtrack/game", "from \"...\"" or "a.k.a.";
- and it is not a version ("(Live)", "(Remix)", "(Acoustic)": ``markers.version_tags``), a feature credit
  ("(feat. X)", "(with X)") or a clean/explicit tag.

A translation in the same script ("Corazón (Heart)") cannot be told from a different song ("Tonight (Love
Song)") by its text alone and is not removed: precision first.
"""

from __future__ import annotations

import re
import unicodedata

import pyarrow as pa
import pyarrow.compute as pc

from miner.markers import version_tags

_PHRASE = re.compile(
    r"^\s*(?:(?:love |main |end |opening |ending )?theme (?:from|of)\b"
    r"|from (?:the )?(?:motion picture|film|movie|series|tv series|musical|soundtrack|game|anime|drama)\b"
    r"|from [\"'\u201c\u2018]|a\.?k\.?a\.?\s)"
)
_NOT_ALT = re.compile(r"^\s*(?:feat|ft|featuring|with|explicit|clean|dirty)\b")
_OPEN, _CLOSE = "([{", ")]}"
#: A folded title that may hold an alternate: a bracket, and non-ASCII text or a phrase above (RE2).
MAYBE_RE2 = r"[^\x00-\x7f].*[\(\[\{]|[\(\[\{].*(?:[^\x00-\x7f]|theme (?:from|of)|from |a\.?k\.?a)"


def _groups(title: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level bracketed group (nesting allowed, any bracket kind)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(title):
        if ch in _OPEN:
            if depth == 0:
                start = i
            depth += 1
        elif ch in _CLOSE and depth:
            depth -= 1
            if depth == 0:
                out.append((start, i + 1))
    return out


def _scripts(text: str) -> set[str]:
    """The scripts of the letters of ``text`` (first word of each letter's Unicode name: LATIN, HANGUL...)."""
    return {unicodedata.name(ch, "?").split(" ", 1)[0] for ch in text if ch.isalpha()}


def without_alternates(folded: str) -> str | None:
    """``folded`` (lower-cased, marker removed) without its alternate-title groups, or None when it has none."""
    groups = _groups(folded)
    if not groups:
        return None
    plain = folded
    for a, b in reversed(groups):
        plain = plain[:a] + " " + plain[b:]
    plain_scripts = _scripts(plain)
    if not plain_scripts:
        return None
    drop = []
    for a, b in groups:
        inner = folded[a + 1:b - 1]
        if _NOT_ALT.match(inner) or version_tags(folded[a:b]):
            continue
        scripts = _scripts(inner)
        if (scripts and not scripts & plain_scripts) or _PHRASE.match(inner):
            drop.append((a, b))
    if not drop:
        return None
    out = folded
    for a, b in reversed(drop):
        out = out[:a] + " " + out[b:]
    return re.sub(r"\s+", " ", out).strip()


def alternate_free(folded: list[str]) -> list[str | None]:
    """``without_alternates`` of each folded title; only those with a bracket and a hint are examined."""
    maybe = pc.match_substring_regex(pa.array(folded, pa.string()), MAYBE_RE2).to_numpy(zero_copy_only=False)
    return [without_alternates(t) if m else None for t, m in zip(folded, maybe.tolist())]
