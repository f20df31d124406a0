"""Train / valid / test assignment of pairs: by artist, never dividing a content group, deterministic.

Pairs are linked when they share an artist or a ``content_group`` (originals with the same audio); each connected
group of pairs (union-find over those keys) goes to one split. A pair's artists are every key the miner emits for
it: the key it was blocked on (``artist_key``, else the normalised ``artist``) and the keys of every artist its
credit names (``miner.normalize.credit_keys``: "JIN; V" -> jin and v, "A feat. C" -> a and c), so no artist,
primary or featured, appears in two splits (``pair_keys``). A group's
split comes from a hash of ``(seed, the group's smallest key)`` compared with the cumulative ratios, so it is
stable: adding other artists never moves an existing one unless they get linked. When that leaves ``valid`` or
``test`` empty and there are at least three groups, the group whose hash lies nearest the empty split's range
is moved there from the split with the most groups (deterministic too).

A fixed assignment (``read_split_file``: artist -> split, e.g. a held-out test set) overrides the hash: a group
with a listed artist (any of its pairs' keys, featured ones too) goes where the list says, whole (two listed
artists of one group in different splits are an error); unlisted groups are hashed as above.

``SPLIT_RULES`` names these rules; a shard build's key includes it, so a build made under other rules is rebuilt.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from miner.normalize import artist_key, credit_keys
from vocalmine.errors import UserInputError
from vocalmine.settings import setting
from vocalmine.unionfind import SmallestRootUnionFind

SPLITS = ("train", "valid", "test")
#: The grouping rules (in build keys): version 2 links every credited artist's key, not only the blocked one.
SPLIT_RULES = "splits/2: blocked artist key, every credit key, content group"


@dataclass(frozen=True)
class SplitConfig:
    """Split ratios (train, valid, test; they need not sum to 1, they are normalised) and the hash seed.
    Raises ``UserInputError`` for ratios that are not three non-negative numbers with a positive sum."""

    ratios: tuple[float, float, float] = setting((0.8, 0.1, 0.1), "train,valid,test shares (by artist).",
                                                    metavar="TRAIN,VALID,TEST")
    seed: int = setting(0, "Seed of the split and of the row order.")

    def __post_init__(self) -> None:
        if len(self.ratios) != 3 or any(r < 0 for r in self.ratios) or sum(self.ratios) <= 0:
            raise UserInputError(f"ratios must be three non-negative numbers with a positive sum, got {self.ratios}")


@dataclass(frozen=True)
class PairKeys:
    """What links pairs: the pair id, its artist key, its content group (either may be empty) and the keys of the
    other artists its credit names (``credits``)."""

    pair_id: str
    artist_key: str | None
    content_group: str | None = None
    credits: tuple[str, ...] = ()

    @property
    def artists(self) -> tuple[str, ...]:
        """Every artist key of the pair: ``artist_key`` first, then ``credits`` (empty ones left out)."""
        return tuple(k for k in dict.fromkeys((self.artist_key, *self.credits)) if k)


def unit_hash(seed: int, key: str) -> float:
    """A deterministic number in [0, 1) from ``(seed, key)``."""
    digest = hashlib.sha1(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def link_groups(pairs: Iterable[PairKeys]) -> dict[str, str]:
    """``pair_id -> group key``: pairs sharing an artist key (any of ``PairKeys.artists``) or a content group get
    the same group key (the smallest linked key, so it does not depend on row order)."""
    uf = SmallestRootUnionFind()
    pair_ids = []
    for p in pairs:
        node = f"pair:{p.pair_id}"
        pair_ids.append(p.pair_id)
        uf.find(node)
        for key in p.artists:
            uf.union(node, f"artist:{key}")
        if p.content_group:
            uf.union(node, f"content:{p.content_group}")
    return {pid: uf.find(f"pair:{pid}") for pid in pair_ids}


def _split_of(u: float, bounds: Sequence[float]) -> str:
    for name, bound in zip(SPLITS, bounds):
        if u < bound:
            return name
    return SPLITS[-1]


def read_split_file(path: str | os.PathLike) -> dict[str, str]:
    """``artist key -> split`` from a CSV with an ``artist`` column and a ``split`` column (``train``, ``valid``
    or ``test``; a ``split_hint`` column serves when there is no ``split``, so the demo corpus'
    ``truth/songs.csv`` works as it is). Artists are keyed as the miner keys them (``miner.normalize``)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            column = "split" if "split" in fields else "split_hint" if "split_hint" in fields else None
            if "artist" not in fields or column is None:
                raise UserInputError(f"--split-file {path} needs the columns artist and split; found "
                                     f"{', '.join(fields) or 'none'}")
            out: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                artist, split = (row.get("artist") or "").strip(), (row.get(column) or "").strip()
                if split not in SPLITS:
                    raise UserInputError(f"--split-file {path}, line {line}: split must be one of "
                                         f"{', '.join(SPLITS)}, got {split!r}")
                key = artist_key(artist) if artist else ""
                if not key:
                    raise UserInputError(f"--split-file {path}, line {line}: empty artist")
                if out.setdefault(key, split) != split:
                    raise UserInputError(f"--split-file {path}, line {line}: artist {artist!r} is listed in "
                                         f"both {out[key]} and {split}")
            return out
    except OSError as exc:
        raise UserInputError(f"--split-file {path}: cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserInputError(f"--split-file {path}: not a UTF-8 CSV ({exc})") from None


def assign_splits(pairs: Iterable[PairKeys], config: SplitConfig = SplitConfig(),
                  fixed: Mapping[str, str] | None = None) -> dict[str, str]:
    """``pair_id -> 'train' | 'valid' | 'test'`` (see the module doc); ``fixed``: artist key -> split."""
    pairs = list(pairs)
    groups = link_groups(pairs)
    total = sum(config.ratios)
    bounds = [sum(config.ratios[: i + 1]) / total for i in range(3)]
    keys = sorted(set(groups.values()))
    u = {k: unit_hash(config.seed, k) for k in keys}
    split = {k: _split_of(u[k], bounds) for k in keys}
    pinned: dict[str, str] = {}
    for p in pairs if fixed else ():
        for key in p.artists:
            want = fixed.get(key)
            if want is None:
                continue
            g = groups[p.pair_id]
            if pinned.setdefault(g, want) != want:
                raise UserInputError(f"the split file puts artists of one group (linked by a credited artist or "
                                     f"identical audio, e.g. {key!r}) in both {pinned[g]} and {want}")
    split.update(pinned)
    if len(keys) >= 3 and not fixed:  # a fixed assignment is the user's: no group is moved to fill a split
        lo_hi = {name: (bounds[i - 1] if i else 0.0, bounds[i]) for i, name in enumerate(SPLITS)}
        for name in ("test", "valid"):
            if config.ratios[SPLITS.index(name)] == 0 or name in split.values():
                continue
            counts = {s: sum(1 for v in split.values() if v == s) for s in SPLITS}
            donor = max((s for s in SPLITS if s != name), key=lambda s: (counts[s], -SPLITS.index(s)))
            lo, hi = lo_hi[name]
            centre = (lo + hi) / 2
            moved = min((k for k in keys if split[k] == donor), key=lambda k: (abs(u[k] - centre), k))
            split[moved] = name
    return {pid: split[g] for pid, g in groups.items()}


def artist_key_of(artist_key: str | None, artist: str | None, pair_id: str) -> str:
    """The key a pair's artist is grouped by: ``artist_key``, else the casefolded ``artist``, else the pair's
    original id (an unknown artist is its own group)."""
    if artist_key:
        return artist_key
    if artist and artist.strip():
        return " ".join(artist.casefold().split())
    return f"unknown:{pair_id.split('~', 1)[0]}"


def pair_keys(rows: Sequence[Mapping]) -> list[PairKeys]:
    """``PairKeys`` of pairs.parquet rows (dicts with ``pair_id``, ``artist_key``, ``artist``, ``content_group``):
    the blocked key (``artist_key_of``) and the keys of every artist the ``artist`` credit names, primary and
    featured, as the miner splits credits (``miner.normalize.credit_keys``). The one place build-shards and
    export-stems take their split keys from, so both split a pairs table alike."""
    if not rows:
        return []
    primary, others = credit_keys([r.get("artist") or "" for r in rows])
    out = []
    for r, first, rest in zip(rows, primary.to_pylist(), others.to_pylist()):
        named = (first, *(rest or ())) if (r.get("artist") or "").strip() else ()
        out.append(PairKeys(r["pair_id"], artist_key_of(r.get("artist_key"), r.get("artist"), r["pair_id"]),
                            r.get("content_group"), tuple(k for k in named if k)))
    return out
