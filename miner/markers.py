"""Instrumental markers and version tags in track titles.

A title is *marked* when one of its segments carries an instrumental marker. A segment is a bracketed group
("(Instrumental)", "[Instrumental Version]", "{Inst.}") or a dash suffix ("- Instrumental", " - Inst."). A
marker word in the plain title ("Instrumental Interlude") does not mark it: that is a song called so.

The detection pattern is written in the subset of regular-expression syntax that both RE2 (pyarrow.compute,
used to scan every title of a catalog at once) and Python's ``re`` (used to strip the marker from the few
marked titles) read the same way: classes, ``\\b``, alternation, no look-around. Python compiles it with
``re.ASCII`` so that ``\\b`` and ``\\s`` mean what RE2 means by them. Titles are matched after NFKC and
lower-casing, so "（Ｉｎｓｔ．）" and "(INST.)" are found too.

Version tags ("(Live)", "- Radio Edit", "(Acapella)", ...) are not markers: a pair needs the same set of
version tags on both sides once the marker is gone. "Acapella" in particular is a version tag, never a marker:
an a cappella release can share the exact duration of its original.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

#: Marker phrases recognised by default; ``--marker`` adds more. Matching is case-insensitive, on word
#: boundaries, allows spaces or hyphens between the words of a phrase and an optional trailing dot
#: ("inst" matches "(Inst.)" and "- Inst").
DEFAULT_MARKERS: tuple[str, ...] = ("instrumental", "instr", "inst", "off vocal")

#: Words that may surround a marker inside its segment and go with it: "(Official Instrumental)",
#: "[Instrumental Version]", "(Instrumental Mix)".
MARKER_FILLERS = ("official", "version", "ver", "mix", "track")

_OPEN = r"\(\[\{"
_CLOSE = r"\)\]\}"
_SEGMENT_CHARS = r"[^\(\)\[\]\{\}]"
_DASH = r"\s[-\x{2013}\x{2014}]+\s*"  # " - ", " – ", " —"; RE2 spelling of the dashes, translated for Python

#: Version tags: name -> pattern searched inside a title's segments (lower-cased, marker removed).
VERSION_TAGS: dict[str, str] = {
    "live": r"\blive\b|\bin concert\b",
    "remix": r"\bre-?mix(?:ed)?\b|\brmx\b|\bdub\b|\brework\b|\bbootleg\b|\bflip\b",
    "mix": r"\bmix\b",
    "acoustic": r"\bacoustic\b|\bunplugged\b|\bstripped\b",
    "acapella": r"\ba\s?-?\s?c+ap+el+a\b|\bvocals? only\b",
    "extended": r"\bextended\b|\bext\.",
    "demo": r"\bdemo\b",
    "edit": r"\bedit\b",
    "radio": r"\bradio\b",
    "club": r"\bclub\b",
    "slowed": r"\bslowed\b|\bsped[\s-]?up\b|\bnightcore\b|\breverb\b",
    "karaoke": r"\bkaraoke\b",
    "orchestral": r"\borchestral\b|\bsymphonic\b|\bpiano\b|\bstrings? version\b",
    "reprise": r"\breprise\b",
    "cover": r"\bcover\b|\btribute\b",
    "rehearsal": r"\brehearsal\b|\bsession\b|\btake \d+\b",
    "intro": r"\bintro\b|\boutro\b|\binterlude\b|\bskit\b",
}
#: Segment phrases that name the original itself in some genres and are not versions: "(Original Mix)".
_NOT_TAGS = re.compile(r"\boriginal (?:mix|version)\b|\balbum version\b|\bsingle version\b", re.ASCII)
_SEGMENTS = re.compile(rf"[{_OPEN}]({_SEGMENT_CHARS}*)[{_CLOSE}]|\s[-\u2013\u2014]+\s({_SEGMENT_CHARS}+)", re.ASCII)
_TAG_RES = {name: re.compile(rx, re.ASCII) for name, rx in VERSION_TAGS.items()}


def phrase_pattern(phrase: str) -> str:
    """Regex for one marker phrase: its words in order, spaces or hyphens between them, word-bounded."""
    words = [w for w in re.split(r"[\s\-]+", phrase.strip().lower().rstrip(".")) if w]
    if not words:
        raise ValueError(f"empty marker phrase: {phrase!r}")
    return r"[\s\-]*".join(re.escape(w) for w in words)


def _to_python(pattern: str) -> str:
    """Translate the RE2 spellings used here (``\\x{2013}``) into Python's (``\\u2013``)."""
    return re.sub(r"\\x\{([0-9a-fA-F]{4})\}", r"\\u\1", pattern)


@dataclass(frozen=True)
class MarkerSet:
    """The instrumental markers in use. ``phrases``: the marker phrases (defaults plus ``--marker``)."""

    phrases: tuple[str, ...] = DEFAULT_MARKERS

    @classmethod
    def with_extra(cls, extra: tuple[str, ...] | list[str] = ()) -> "MarkerSet":
        phrases = list(DEFAULT_MARKERS)
        for p in extra:
            if p.strip().lower() not in phrases:
                phrases.append(p.strip().lower())
        return cls(tuple(phrases))

    @cached_property
    def alternation(self) -> str:
        # Longest first so "instrumental" wins over "inst" at the same place.
        pats = sorted({phrase_pattern(p) for p in self.phrases}, key=len, reverse=True)
        return "(?:" + "|".join(pats) + ")"

    @cached_property
    def detect_pattern(self) -> str:
        """RE2 pattern that finds a marked segment in a lower-cased, NFKC-normalised title."""
        m = self.alternation
        bracket = rf"[{_OPEN}]{_SEGMENT_CHARS}*\b{m}\b\.?{_SEGMENT_CHARS}*[{_CLOSE}]"
        dash = rf"{_DASH}(?:official\s+)?{m}\b\.?(?:\s+(?:version|ver\b\.?|mix))?"
        return f"{bracket}|{dash}"

    @cached_property
    def _detect(self) -> re.Pattern:
        return re.compile(_to_python(self.detect_pattern), re.ASCII)

    @cached_property
    def _in_segment(self) -> re.Pattern:
        return re.compile(rf"(?:\bofficial\s+)?\b{_to_python(self.alternation)}\b\.?", re.ASCII)

    def find(self, title_lower: str) -> re.Match | None:
        """The first marked segment of a lower-cased NFKC title, or None."""
        return self._detect.search(title_lower)

    def strip(self, title_lower: str, as_written: str | None = None) -> tuple[str, str]:
        """Remove the marker from a lower-cased NFKC title: ``(title without marker, marker as written)``.

        A bracketed segment goes entirely when only the marker and filler words are in it ("(Official
        Instrumental)", "[Instrumental Version]"); otherwise only the marker leaves it: "(Instrumental Radio
        Edit)" becomes "(radio edit)" and "(Extended Instrumental Mix)" becomes "(extended mix)", so they pair
        with "(Radio Edit)" and "(Extended Mix)". A title with no marker comes back unchanged, marker "".
        ``as_written``: the raw title, to report the marker with the catalog's spelling."""
        m = self._detect.search(title_lower)
        if m is None:
            return title_lower, ""
        seg = m.group(0)
        if seg[:1] in "([{":
            inner = re.sub(r"\s+", " ", self._in_segment.sub(" ", seg[1:-1])).strip(" -,.")
            words = re.findall(r"[^\s.]+", inner)
            keep = inner if any(w not in MARKER_FILLERS for w in words) else ""
            replacement = f" {seg[0]}{keep}{seg[-1]} " if keep else " "
        else:
            replacement = " "
        stripped = title_lower[: m.start()] + replacement + title_lower[m.end():]
        # The marker as the catalog wrote it, when folding kept the positions (it does for nearly every title).
        if as_written is not None and len(as_written) == len(title_lower):
            seg = as_written[m.start():m.end()]
        return re.sub(r"\s+", " ", stripped).strip(), seg.strip(" -\u2013\u2014")


def version_tags(title_lower: str) -> frozenset[str]:
    """Version tags named in the segments of a lower-cased title (marker already removed)."""
    tags: set[str] = set()
    for m in _SEGMENTS.finditer(title_lower):
        seg = m.group(1) if m.group(1) is not None else m.group(2)
        seg = _NOT_TAGS.sub(" ", seg)
        for name, rx in _TAG_RES.items():
            if rx.search(seg):
                tags.add(name)
    return frozenset(tags)
