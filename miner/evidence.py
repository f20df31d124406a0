"""The "same release" rule for credits that say nothing about the performer.

"Various Artists", "Unknown Artist", "Anonymous", "Traditional", or a composer credited as the artist on a
classical release ("Johann Sebastian Bach": ``DEFAULT_COMPOSERS``): in such a block two recordings of the same title are often different performers, so a
matching title and duration are not enough. A pair whose block key is one of ``ReleaseEvidence.keys`` (or
whose original or instrumental has a genre in ``genres``) also needs evidence of the same release, any of
``kinds``:

- ``album``: the same album title (case and spacing folded);
- ``date``: release dates (ISO ``YYYY-MM-DD``, or ``YYYY-MM`` / ``YYYY`` read as their first day) at most
  ``max_days`` apart; a date with only a year counts only when both say the same year and ``max_days`` is 366
  or more;
- ``isrc``: the same ISRC registrant (characters 3-5 of the code, after the country);
- ``label``: the same label (off by default: a big label holds millions of unrelated recordings).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from miner.normalize import artist_keys

#: Credits that say nothing about who performs (matched by artist key, so spelling variants count too).
DEFAULT_UNINFORMATIVE = ("Various Artists", "Various", "Unknown Artist", "Unknown", "Anonymous",
                         "Traditional", "Trad.", "Public Domain")
#: Composers that classical exports credit as the artist (a few spellings each; ``--uninformative-artist``
#: adds more).
DEFAULT_COMPOSERS = ("Johann Sebastian Bach", "J.S. Bach", "Bach", "Wolfgang Amadeus Mozart", "Mozart",
                     "Ludwig van Beethoven", "Beethoven", "Frédéric Chopin", "Chopin", "Antonio Vivaldi", "Vivaldi",
                     "Pyotr Ilyich Tchaikovsky", "Tchaikovsky", "Johannes Brahms", "Brahms", "Franz Schubert",
                     "Schubert", "George Frideric Handel", "Handel", "Claude Debussy", "Debussy", "Erik Satie",
                     "Satie", "Giuseppe Verdi", "Verdi", "Richard Wagner", "Wagner", "Franz Liszt", "Liszt")
#: Genres whose every credit counts as uninformative (none by default: a per-track genre such as
#: "Classical" also covers performers' credits; ``--uninformative-genre classical`` turns it on).
DEFAULT_GENRES: tuple[str, ...] = ()
EVIDENCE_KINDS = ("album", "date", "isrc", "label")
DEFAULT_KINDS = ("album", "date", "isrc")

_DATE = re.compile(r"^\s*(\d{4})(?:[-/.](\d{1,2}))?(?:[-/.](\d{1,2}))?")


@dataclass(frozen=True)
class ReleaseEvidence:
    """Where the same-release rule applies and what counts as evidence. ``keys``: artist keys of the
    uninformative credits; ``genres``: lower-case genre words; ``kinds``: subset of ``EVIDENCE_KINDS``;
    ``max_days``: the largest release-date difference that counts (days)."""

    keys: frozenset[str] = frozenset(artist_keys(list(DEFAULT_UNINFORMATIVE + DEFAULT_COMPOSERS)).to_pylist())
    genres: tuple[str, ...] = DEFAULT_GENRES
    kinds: tuple[str, ...] = DEFAULT_KINDS
    max_days: int = 31

    @classmethod
    def build(cls, credits: tuple[str, ...] | list[str], genres=DEFAULT_GENRES, kinds=DEFAULT_KINDS,
              max_days: int = 31) -> "ReleaseEvidence":
        unknown = [k for k in kinds if k not in EVIDENCE_KINDS]
        if unknown:
            raise ValueError(f"unknown release evidence {unknown}; known: {', '.join(EVIDENCE_KINDS)}")
        keys = frozenset(k for k in artist_keys(list(credits)).to_pylist() if k) if credits else frozenset()
        return cls(keys, tuple(g.strip().lower() for g in genres if g.strip()), tuple(kinds), int(max_days))

    def applies(self, block_key: str, genre_o: str | None, genre_i: str | None) -> bool:
        if block_key in self.keys:
            return True
        if not self.genres:
            return False
        return any(g and any(w in g.lower() for w in self.genres) for g in (genre_o, genre_i))

    def same_release(self, o: dict, i: dict) -> bool:
        """Whether rows ``o`` and ``i`` (album, label, release_date, isrc) show the same release."""
        for kind in self.kinds:
            if kind == "album" and _same_text(o.get("album"), i.get("album")):
                return True
            if kind == "label" and _same_text(o.get("label"), i.get("label")):
                return True
            if kind == "isrc":
                a, b = _registrant(o.get("isrc")), _registrant(i.get("isrc"))
                if a and a == b:
                    return True
            if kind == "date":
                a, b = _date(o.get("release_date")), _date(i.get("release_date"))
                if a and b:
                    if a[1] and b[1]:
                        if abs((a[0] - b[0]).days) <= self.max_days:
                            return True
                    elif a[0].year == b[0].year and self.max_days >= 366:
                        return True
        return False


def _same_text(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    fa, fb = " ".join(a.casefold().split()), " ".join(b.casefold().split())
    return bool(fa) and fa == fb


def _registrant(isrc: str | None) -> str:
    code = re.sub(r"[^A-Za-z0-9]", "", isrc or "").upper()
    return code[2:5] if len(code) == 12 else ""


def _date(text: str | None) -> tuple[datetime.date, bool] | None:
    """(date, whether more than the year is known) or None."""
    m = _DATE.match(text or "")
    if not m:
        return None
    try:
        d = datetime.date(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError:
        return None
    return d, m.group(2) is not None
