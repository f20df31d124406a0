"""The demo corpus's plan as values: how a file derives from a song (``Recipe``), a catalog row (``Row``), a
candidate pair with its expected verdict (``Pair``), the finished ``Plan``, and the ``Draft`` a plan is built in
(``planning`` fills it with songs, originals and true instrumentals, ``decoys`` adds the decoys and bad rows).

Songs are referred to by their index into ``Draft.specs``; ``song_id`` (``s003``) names them in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from democorpus.config import DemoConfig
from democorpus.releases import Release
from democorpus.synth import SongSpec

#: Audio decoys: instrumental-titled rows that metadata cannot tell from a real instrumental.
AUDIO_DECOYS = ("same-content", "different-recording", "drift", "too-short", "silent", "unreadable",
                "missing-file")
#: Metadata decoys: rows a correct miner never pairs (a corpus of 20 songs or more gets a second orphan).
METADATA_DECOYS = ("orphan-instrumental", "other-artist", "other-version:live", "other-version:remix",
                   "other-version:remix-original", "numbered-sibling", "duration-far-off", "acapella",
                   "title-prefix")
#: Spellings of the instrumental marker, used in turn by the true instrumentals.
MARKERS = ("{t} (Instrumental)", "{t} - Instrumental", "{t} [Instrumental Version]", "{t} (Inst.)",
           "{t} (Off Vocal)", "{t} (INSTRUMENTAL)", "{t} - Inst.", "{t} (Instrumental Mix)",
           "{t} (Official Instrumental)")


@dataclass(frozen=True)
class Recipe:
    """How a file's audio derives from a song's stems. Applied in this order: repeat, stretch, resample to
    ``sample_rate``, gain, offset (``offset_s`` > 0 adds leading silence, < 0 trims the start; whole samples
    at ``sample_rate``), tail (> 0 adds trailing silence, < 0 cuts the end), keep a fraction, fit a length."""

    content: str  # mixture | accompaniment | vocals | silence | random-bytes | none
    source: str  # song_id whose stems it is made from (for silence, bytes and none: the song it claims to be)
    sample_rate: int
    gain_db: float = 0.0
    polarity: int = 1
    offset_s: float = 0.0
    tail_s: float = 0.0
    stretch: float = 1.0
    keep_fraction: float = 1.0
    repeat: int = 1
    length_s: float | None = None
    release: Release | None = None  # how a true instrumental differs beyond offset and gain (releases.py)


@dataclass
class Row:
    """One catalog row and the file behind it."""

    key: str  # stable internal name, e.g. "s003:instrumental"
    artist: str
    title: str
    album: str
    genre: str
    release_date: str
    label: str
    ext: str
    role: str  # original | instrumental | audio-decoy | metadata-decoy | bad-row
    song_id: str
    note: str
    recipe: Recipe
    kind: str = ""  # metadata-decoy kind or audio-decoy reason
    blank_duration: bool = False
    track_id: str = ""
    duration_s: float | None = None  # set once the file is written (or planned, for missing files)
    realised: dict[str, float] = field(default_factory=dict)  # offset_s, gain_db, polarity as written

    @property
    def audio_path(self) -> str:
        return f"audio/{self.track_id}.{self.ext}"


@dataclass
class Pair:
    """A candidate pair a correct miner proposes, and the verdict the audio stage should reach."""

    original: Row
    instrumental: Row
    reason: str  # "" for a true pair
    song_id: str
    split_hint: str
    duplicate_group: str = ""
    note: str = ""
    status: str = "accepted"

    @property
    def pair_id(self) -> str:
        return f"{self.original.track_id}~{self.instrumental.track_id}"


@dataclass
class Plan:
    """Everything about the corpus but the audio."""

    specs: list[SongSpec]
    artists: list[str]  # artist credit (primary) per song
    titles: list[str]  # title per song, as the original's row spells it
    splits: dict[str, str]  # artist -> split hint
    rows: list[Row]
    pairs: list[Pair]


@dataclass
class Artists:
    """The catalog's artists, one entry per artist in each list; ``of_song``: the artist index of each song."""

    names: list[str]
    albums: list[str]
    genres: list[str]
    labels: list[str]
    dates: list[str]  # release dates, YYYY-MM-DD
    of_song: list[int]
    splits: dict[str, str]  # artist name -> split hint (train, valid, test)

    @property
    def credits(self) -> list[str]:
        """The (primary) artist credit of each song."""
        return [self.names[a] for a in self.of_song]


@dataclass
class Spellings:
    """How each song is spelled on its rows (per song): the original's title and artist credit, and the base
    title and artist credit of its instrumentals (featured credits, "The", accents differ between them)."""

    title: list[str]
    artist: list[str]
    inst_title: list[str]
    inst_artist: list[str]


@dataclass(frozen=True)
class Roles:
    """Which songs get a true instrumental, which is released twice (album and single, ``duplicate_song``;
    -1: none), which host the audio decoys (``hosts``: songs without a true instrumental; ``decoy_host``: kind
    -> song) and which the metadata decoys (``meta_song``: index into ``meta_kinds`` -> song)."""

    true_songs: list[int]
    duplicate_song: int
    hosts: list[int]
    decoy_host: dict[str, int]
    meta_kinds: list[str]
    meta_song: dict[int, int]

    @property
    def plain_true(self) -> list[int]:
        """Songs with a true instrumental, but the one released twice."""
        return [s for s in self.true_songs if s != self.duplicate_song]


@dataclass
class Draft:
    """A plan being built: what the planners of originals, true instrumentals and decoys share. ``titles``: base
    title per song (the numbered and accented songs' changed in place by the spellings step)."""

    config: DemoConfig
    specs: list[SongSpec]
    artists: Artists
    titles: list[str]
    spell: Spellings
    rows: list[Row] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    originals: dict[int, list[Row]] = field(default_factory=dict)  # song -> its original rows (album, single)

    @property
    def ids(self) -> list[str]:
        return [s.song_id for s in self.specs]

    @property
    def credits(self) -> list[str]:
        return self.artists.credits

    def split_of(self, song: int) -> str:
        return self.artists.splits[self.artists.names[self.artists.of_song[song]]]

    def meta(self, song: int, instrumental: bool = False) -> dict[str, str]:
        """A row's album, genre, release date and label (instrumentals: on the deluxe edition)."""
        a = self.artists.of_song[song]
        album = self.artists.albums[a] + (" (Deluxe Edition)" if instrumental else "")
        return {"album": album, "genre": self.artists.genres[a], "release_date": self.artists.dates[a],
                "label": self.artists.labels[a]}

    def fmt_for(self, i: int, avoid: str = "", need_lossless: bool = False) -> str:
        """The ``i``-th format in turn, not ``avoid`` when another is allowed (lossless ones if asked)."""
        pool = self.config.lossless if need_lossless else list(self.config.formats)
        options = [f for f in pool if f != avoid] or pool
        return options[i % len(options)]

    def other_rate(self, rate: int) -> int:
        """The first configured rate that is not ``rate`` (``rate`` when there is none)."""
        others = [r for r in self.config.sample_rates if r != rate]
        return others[0] if others else rate

    def plan(self) -> Plan:
        return Plan(self.specs, self.credits, self.spell.title, self.artists.splits, self.rows, self.pairs)
