"""Plan the demo corpus's decoys and bad rows, after its originals and true instrumentals (``planning``):

- audio decoys (``AUDIO_DECOYS``): instrumental-titled rows a correct miner proposes, wrong by their audio,
  each with the pairs to its host's originals and the rejection the audio stage should reach;
- metadata decoys (``METADATA_DECOYS``): rows a correct miner never pairs, each looking like its kind;
- bad rows: what real exports leave empty (title, duration, artist), rejected by the miner.

Song arguments are indices into ``Draft.specs``; draws come from the planner's generator, in order.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from democorpus import names
from democorpus.rows import AUDIO_DECOYS, MARKERS, Draft, Pair, Recipe, Roles, Row


def add_decoys(draft: Draft, roles: Roles, rng: np.random.Generator) -> None:
    """Append the audio decoys with their pairs, the metadata decoys and the bad rows to ``draft``."""
    markers = Markers(draft)
    add_audio_decoys(draft, roles, markers, rng)
    add_metadata_decoys(draft, roles, markers, rng)
    add_bad_rows(draft, roles, markers)


class Markers:
    """Instrumental titles that are still free per song: a song's decoys and true instrumental never share
    a spelling of the marker."""

    def __init__(self, draft: Draft) -> None:
        self.inst_title = draft.spell.inst_title
        self.taken: dict[int, set[str]] = {}
        for row in draft.rows:
            if row.role == "instrumental":
                self.taken.setdefault(int(row.song_id[1:]), set()).add(row.title)

    def marked(self, song: int, base: str | None = None) -> str:
        """``base`` (default: the song's instrumental title) with the next marker spelling not yet taken."""
        base = self.inst_title[song] if base is None else base
        for k in range(len(MARKERS)):
            title = MARKERS[(song + 2 * k + 1) % len(MARKERS)].format(t=base)
            if title not in self.taken.setdefault(song, set()):
                self.taken[song].add(title)
                return title
        return MARKERS[0].format(t=base)


def sibling(draft: Draft, song: int, rng: np.random.Generator) -> int:
    """Another song of the same artist, drawn."""
    of = draft.artists.of_song
    same = [s for s in range(len(draft.specs)) if of[s] == of[song] and s != song]
    return same[int(rng.integers(len(same)))]


def _audio_decoy(draft: Draft, k: int, kind: str, host: int,
                 rng: np.random.Generator) -> tuple[str, str, dict[str, Any], str, str]:
    """The ``k``-th audio decoy's content, source song id, recipe keywords, format and note."""
    spec = draft.specs[host]
    orig_ext = draft.originals[host][0].ext
    gain = round(float(rng.uniform(-3.0, 3.0)), 2)
    offset = float(rng.uniform(-0.5, 0.5))
    source, content, note = spec.song_id, "accompaniment", ""
    recipe_kw: dict[str, Any] = {"gain_db": gain, "offset_s": offset}
    ext = draft.fmt_for(k, avoid=orig_ext)
    if kind == "same-content":
        content, recipe_kw, ext = "mixture", {}, draft.fmt_for(k, avoid=orig_ext, need_lossless=True)
        note = "the file is the original mix itself (identical decoded audio)"
    elif kind == "different-recording":
        other = draft.specs[sibling(draft, host, rng)].song_id
        source = other
        recipe_kw["length_s"] = spec.seconds + float(rng.uniform(-0.4, 0.4))
        note = f"the accompaniment of another song of the artist ({other}), cut to this title's length"
    elif kind == "drift":
        change = min(float(rng.uniform(0.02, 0.03)), 2.0 / spec.seconds)
        recipe_kw["stretch"] = round(1.0 + (change if k % 2 == 0 else -change), 4)
        note = f"the accompaniment time-stretched by a factor of {recipe_kw['stretch']:.4f} (varispeed)"
    elif kind == "too-short":
        recipe_kw["keep_fraction"] = 0.25
        note = "only the first quarter of the accompaniment; the catalog gives the full duration"
    elif kind == "silent":
        content, recipe_kw, ext = "silence", {}, draft.fmt_for(k, need_lossless=True)
        note = "digital silence of the right length"
    elif kind == "unreadable":
        content, recipe_kw, ext = "random-bytes", {}, ("flac" if k % 2 else "wav")
        note = "random bytes, not audio"
    elif kind == "missing-file":
        content, recipe_kw = "none", {}
        note = "audio_path points to a file that does not exist"
    return content, source, recipe_kw, ext, note


def add_audio_decoys(draft: Draft, roles: Roles, markers: Markers, rng: np.random.Generator) -> None:
    """One row per audio decoy kind, each a candidate of its host's originals (pairs expected rejected)."""
    for k, kind in enumerate(AUDIO_DECOYS):
        host = roles.decoy_host[kind]
        sid = draft.specs[host].song_id
        content, source, recipe_kw, ext, note = _audio_decoy(draft, k, kind, host, rng)
        recipe = Recipe(content, source, draft.specs[host].sample_rate, **recipe_kw)
        row = Row(f"{sid}:decoy:{kind}", draft.credits[host], markers.marked(host), ext=ext, role="audio-decoy",
                  song_id=sid, note=note, recipe=recipe, kind=kind, **draft.meta(host, instrumental=True))
        draft.rows.append(row)
        for o in draft.originals[host]:
            draft.pairs.append(Pair(o, row, kind, sid, draft.split_of(host), note=note, status="rejected"))


def _other_artist(draft: Draft, song: int) -> str:
    """The first other artist none of whose titles shares a word with the song's title (else the first other)."""
    credits, titles = draft.credits, draft.titles
    words = set(titles[song].split())
    others = [a for a in draft.artists.names if a != credits[song]]
    clear = [a for a in others if not any(words & set(titles[x].split()) for x in range(len(titles))
                                          if credits[x] == a)]
    return (clear or others)[0]


def _metadata_decoy(draft: Draft, k: int, kind: str, s: int, markers: Markers, recipe: Recipe,
                    rng: np.random.Generator) -> tuple[str, str, Recipe, str]:
    """The ``k``-th metadata decoy's artist, title, recipe (``recipe`` unless the kind changes it) and note."""
    spec, titles, inst_title = draft.specs[s], draft.titles, draft.spell.inst_title
    artist = draft.credits[s]
    if kind == "orphan-instrumental":
        of = draft.artists.of_song
        used = {w for t in (titles[x] for x in range(len(titles)) if of[x] == of[s]) for w in t.split()}
        adj = [a for a in names.ADJECTIVES[::-1] if a not in used][k % 7]
        noun = [w for w in names.NOUNS[::-1] if w not in used][k % 7]
        return artist, f"{adj} {noun} (Instrumental)", recipe, "an instrumental whose original is not in the catalog"
    if kind == "other-artist":
        return (_other_artist(draft, s), markers.marked(s), recipe,
                f"same title as {spec.song_id}'s original, credited to another artist")
    if kind == "other-version:live":
        return (artist, f"{inst_title[s]} (Live) - Instrumental", recipe,
                "instrumental of a live version the catalog does not have")
    if kind == "other-version:remix":
        return (artist, f"{inst_title[s]} (Remix) [Instrumental]", recipe,
                "instrumental of a remix the catalog does not have")
    if kind == "other-version:remix-original":
        inst = next(r.recipe for r in draft.rows if r.key == f"{spec.song_id}:instrumental")
        closer = spec.seconds + inst.offset_s + inst.tail_s + float(rng.uniform(-0.2, 0.2))
        return (artist, f"{titles[s]} (Remix)", replace(recipe, content="mixture", length_s=closer),
                "a remix (no marker) whose duration is as close to the instrumental as the original's")
    if kind == "numbered-sibling":
        title = markers.marked(s, base=titles[s].replace("Part 2", "Part 3"))
        recipe = replace(recipe, source=draft.specs[sibling(draft, s, rng)].song_id,
                         length_s=spec.seconds + float(rng.uniform(-1, 1)))
        return artist, title, recipe, "Part 3 instrumental beside a Part 2 original"
    if kind == "duration-far-off":
        return (artist, markers.marked(s), replace(recipe, repeat=2),
                "an extended instrumental, twice the original's length")
    if kind == "acapella":
        return (artist, f"{titles[s]} (Acapella)", Recipe("vocals", spec.song_id, spec.sample_rate),
                "the vocal stem, with exactly the original's duration")
    if kind == "title-prefix":
        title = markers.marked(s, base=f"{titles[s]} {names.PREFIX_WORDS[k % len(names.PREFIX_WORDS)]}")
        recipe = replace(recipe, source=draft.specs[sibling(draft, s, rng)].song_id,
                         length_s=spec.seconds + float(rng.uniform(-1, 1)))
        return artist, title, recipe, "a longer title that starts with the original's title"
    raise AssertionError(kind)  # pragma: no cover - METADATA_DECOYS is the registry


def add_metadata_decoys(draft: Draft, roles: Roles, markers: Markers, rng: np.random.Generator) -> None:
    """One row per metadata decoy kind (``roles.meta_kinds``), on its song (``roles.meta_song``); no pairs."""
    for k, kind in enumerate(roles.meta_kinds):
        s = roles.meta_song[k]
        spec = draft.specs[s]
        gain = round(float(rng.uniform(-3.0, 3.0)), 2)
        ext = draft.fmt_for(k + 1, need_lossless=True)  # never decoded by a correct pipeline: cheap to write
        recipe = Recipe("accompaniment", spec.song_id, spec.sample_rate, gain_db=gain)
        artist, title, recipe, note = _metadata_decoy(draft, k, kind, s, markers, recipe, rng)
        draft.rows.append(Row(f"{spec.song_id}:meta:{k}:{kind}", artist, title, ext=ext, role="metadata-decoy",
                              song_id=spec.song_id, note=note, recipe=recipe, kind=kind.split(":")[0],
                              **draft.meta(s, instrumental=True)))


def add_bad_rows(draft: Draft, roles: Roles, markers: Markers) -> None:
    """Rows with what real exports leave empty: an empty title, a missing duration, an empty artist."""
    pool = sorted(roles.meta_song.values())
    lossless = draft.config.lossless
    for k, reason in enumerate(("empty-title", "missing-duration", "empty-artist")):
        s = pool[(k * 3 + 1) % len(pool)]
        spec = draft.specs[s]
        recipe = Recipe("mixture" if reason == "empty-title" else "accompaniment", spec.song_id, spec.sample_rate)
        draft.rows.append(Row(f"{spec.song_id}:bad:{reason}", "" if reason == "empty-artist" else draft.credits[s],
                              "" if reason == "empty-title" else markers.marked(s),
                              ext=lossless[k % len(lossless)], role="bad-row", song_id=spec.song_id,
                              note=f"the miner rejects it: {reason}", recipe=recipe, kind=reason,
                              blank_duration=reason == "missing-duration", **draft.meta(s)))
