"""Plan the demo corpus (everything but the audio): the songs, their artists and titles, which songs get a true
instrumental or host decoys, how every row is spelled, the originals and the true instrumentals with their
expected pairs. The decoys and bad rows are ``decoys``'s.

Every draw comes from one generator seeded by ``config.seed``, in a fixed order: the steps of ``plan`` run in
the order they are written, so the same seed gives the same plan (and the same files).
"""

from __future__ import annotations

import math

import numpy as np

from democorpus import names
from democorpus.config import DemoConfig
from democorpus.decoys import add_decoys
from democorpus.releases import CODEC_KINDS, RELEASE_KINDS, plan_release
from democorpus.rows import (
    AUDIO_DECOYS,
    MARKERS,
    METADATA_DECOYS,
    Artists,
    Draft,
    Pair,
    Plan,
    Recipe,
    Roles,
    Row,
    Spellings,
)
from democorpus.song_families import demo_family
from democorpus.split import silent_song_in_test, split_specs
from democorpus.synth import SongSpec, random_spec


def plan(config: DemoConfig) -> Plan:
    """Everything about the corpus but the audio: songs, artists, titles, roles, recipes, expected pairs."""
    rng = np.random.default_rng([config.seed, 0xC0_DE])
    specs = song_specs(config, rng)
    artists = draw_artists(config.songs, rng)
    titles = draw_titles(artists.of_song, rng)
    roles = draw_roles(config, rng)
    credits = artists.credits
    silent_song_in_test(artists.splits, credits, roles.decoy_host, roles.hosts)
    specs = split_specs(config.seed, specs, [artists.splits[a] for a in credits], roles.decoy_host, roles.hosts)
    draft = Draft(config, specs, artists, titles, spell_names(config, artists, titles, roles, rng))
    add_originals(draft, roles, rng)
    add_true_instrumentals(draft, roles, rng)
    if config.decoys:
        add_decoys(draft, roles, rng)
    return draft.plan()


def song_specs(config: DemoConfig, rng: np.random.Generator) -> list[SongSpec]:
    """One spec per song (``s000``, ``s001``, ...): 88-100 % of ``config.seconds`` long, the rates in turn, every
    source band-limited below the lowest rate's Nyquist frequency; from song 12 on, every third of a new song
    family (``song_families.demo_family``)."""
    n = config.songs
    width = max(3, len(str(n - 1)))
    band = min(15000.0, 0.34 * min(config.sample_rates))
    rate_order = rng.permutation(len(config.sample_rates))
    specs = []
    for i in range(n):
        song_seed = int(np.random.SeedSequence([config.seed, i]).generate_state(1)[0])
        seconds = round(config.seconds * float(np.random.default_rng(song_seed).uniform(0.88, 1.0)), 2)
        rate = config.sample_rates[int(rate_order[i % len(rate_order)])]
        specs.append(random_spec(f"s{i:0{width}d}", song_seed, seconds, rate, band, song_family=demo_family(i)))
    return specs


def _group_sizes(n: int, rng: np.random.Generator) -> list[int]:
    """Songs per artist: 2 to 5 (consecutive song ids), at least two artists from 4 songs on."""
    sizes: list[int] = []
    while sum(sizes) < n:
        left = n - sum(sizes)
        size = int(rng.integers(2, 5))
        if not sizes and n >= 4:
            size = min(size, n - 2)  # at least two artists
        sizes.append(left if left - size < 2 else size)
    return [1] if n == 1 else sizes


def _split_hints(artist_names: list[str], rng: np.random.Generator) -> dict[str, str]:
    """Artist -> train, valid or test: about 15 % of the artists each to test and valid (one test artist of two)."""
    order = [int(k) for k in rng.permutation(len(artist_names))]
    n_test = n_valid = 0
    if len(artist_names) >= 3:
        n_test = n_valid = max(1, round(0.15 * len(artist_names)))
    elif len(artist_names) == 2:
        n_test = 1
    return {artist_names[a]: "test" if rank < n_test else "valid" if rank < n_test + n_valid else "train"
            for rank, a in enumerate(order)}


def draw_artists(n: int, rng: np.random.Generator) -> Artists:
    """The artists of ``n`` songs, each with an album, genre, label, release date and split."""
    sizes = _group_sizes(n, rng)
    pool = [f"{a} {b}" for a in names.ARTIST_FIRST for b in names.ARTIST_SECOND]
    picked = rng.choice(len(pool), size=len(sizes), replace=False)
    artist_names = [pool[int(k)] for k in picked]
    of_song = [a for a, size in enumerate(sizes) for _ in range(size)]
    albums = [f"{rng.choice(names.ADJECTIVES)} {rng.choice(names.NOUNS)}" for _ in artist_names]
    genres = [str(rng.choice(names.GENRES)) for _ in artist_names]
    labels = [str(rng.choice(names.LABELS)) for _ in artist_names]
    dates = [f"{rng.integers(2008, 2025)}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}" for _ in artist_names]
    return Artists(artist_names, albums, genres, labels, dates, of_song, _split_hints(artist_names, rng))


def draw_titles(of_song: list[int], rng: np.random.Generator) -> list[str]:
    """Adjective + noun per song, no word shared within an artist, words unique across the corpus while they last."""
    adjectives = [names.ADJECTIVES[int(k)] for k in rng.permutation(len(names.ADJECTIVES))]
    nouns = [names.NOUNS[int(k)] for k in rng.permutation(len(names.NOUNS))]
    titles: list[str] = []
    used: dict[int, set[str]] = {}
    all_titles: set[str] = set()
    for i in range(len(of_song)):
        taken = used.setdefault(of_song[i], set())
        for j in range(len(adjectives) * len(nouns)):
            adj, noun = adjectives[(i + j) % len(adjectives)], nouns[(i + 3 * j) % len(nouns)]
            title = f"{adj} {noun}"
            if adj not in taken and noun not in taken and title not in all_titles:
                break
        taken.update((adj, noun))
        all_titles.add(title)
        titles.append(title)
    return titles


def draw_roles(config: DemoConfig, rng: np.random.Generator) -> Roles:
    """Which songs get a true instrumental, which host the audio and metadata decoys, which is released twice
    (decoy corpora; without decoys every song gets a true instrumental)."""
    n = config.songs
    song_order = [int(k) for k in rng.permutation(n)]
    meta_kinds = list(METADATA_DECOYS) + (["orphan-instrumental"] if n >= 20 else [])
    if not config.decoys:
        return Roles(sorted(song_order), -1, [], {}, meta_kinds, {})
    n_true = max(2, math.ceil(0.65 * n))
    n_hosts = min(len(AUDIO_DECOYS), n - n_true)
    duplicate_song = song_order[0]
    hosts = song_order[1 : 1 + n_hosts]
    true_songs = sorted([duplicate_song] + song_order[1 + n_hosts :])
    plain_true = [s for s in true_songs if s != duplicate_song]
    decoy_host = {kind: hosts[k] if k < len(hosts) else plain_true[(k - len(hosts)) % len(plain_true)]
                  for k, kind in enumerate(AUDIO_DECOYS)}
    meta_pool = [plain_true[int(k)] for k in rng.permutation(len(plain_true))]
    meta_song = {k: meta_pool[k % len(meta_pool)] for k in range(len(meta_kinds))}
    return Roles(true_songs, duplicate_song, hosts, decoy_host, meta_kinds, meta_song)


def spell_names(config: DemoConfig, artists: Artists, titles: list[str], roles: Roles,
                rng: np.random.Generator) -> Spellings:
    """The spelling variety real catalogs have (decoy corpora only): part numbers, featured credits, accents,
    "The". ``titles`` is changed in place where the song's own title changes (part number, accent)."""
    credits = artists.credits
    spell = Spellings(list(titles), list(credits), list(titles), list(credits))
    if not config.decoys:
        return spell
    numbered = roles.meta_song[roles.meta_kinds.index("numbered-sibling")]
    titles[numbered] = spell.title[numbered] = spell.inst_title[numbered] = f"{titles[numbered]}, Part 2"
    variety = [s for s in roles.plain_true if s != numbered]
    variety = [variety[int(k)] for k in rng.permutation(len(variety))]
    guests = [str(g) for g in rng.permutation(names.GUESTS)]
    if len(variety) >= 1:  # featured artist in the original's title only
        s = variety[0]
        spell.title[s] = f"{titles[s]} (feat. {guests[0]})"
    if len(variety) >= 2:  # featured artist in the original's artist credit only
        s = variety[1]
        spell.artist[s] = f"{credits[s]} feat. {guests[1]}"
    if len(variety) >= 3:  # accented title; the instrumental's spelling drops the accent
        s = variety[2]
        word = list(names.ACCENTED)[int(rng.integers(len(names.ACCENTED)))]
        titles[s] = spell.title[s] = f"{word} {titles[s].split(' ', 1)[1]}"
        spell.inst_title[s] = f"{names.ACCENTED[word]} {titles[s].split(' ', 1)[1]}"
    if len(variety) >= 4:  # "The X" on the instrumental's credit (only when the artist is not split)
        s = variety[3]
        spell.inst_artist[s] = f"The {credits[s]}"
    return spell


def add_originals(draft: Draft, roles: Roles, rng: np.random.Generator) -> None:
    """One original per song, its format in turn (lossless where an identical-audio decoy or release needs it);
    the song released twice also gets a single with identical audio."""
    config = draft.config
    fmt_cycle = [config.formats[int(k)] for k in rng.permutation(len(config.formats))]
    for i, spec in enumerate(draft.specs):
        need_lossless = i == roles.duplicate_song or (config.decoys and i == roles.decoy_host.get("same-content"))
        ext = draft.fmt_for(i, need_lossless=need_lossless) if need_lossless else fmt_cycle[i % len(fmt_cycle)]
        recipe = Recipe("mixture", spec.song_id, spec.sample_rate)
        row = Row(f"{spec.song_id}:original", draft.spell.artist[i], draft.spell.title[i], ext=ext, role="original",
                  song_id=spec.song_id, note="the song's mix", recipe=recipe, **draft.meta(i))
        draft.originals[i] = [row]
        draft.rows.append(row)
        if i == roles.duplicate_song:
            row.note = "album release; the single has identical audio"
            other = [f for f in config.lossless if f != ext]
            single = Row(f"{spec.song_id}:single", draft.spell.artist[i], draft.spell.title[i],
                         album=f"{draft.titles[i]} - Single", genre=row.genre, release_date=row.release_date,
                         label=row.label, ext=other[0] if other else ext, role="original", song_id=spec.song_id,
                         note="single release; identical audio to the album release", recipe=recipe)
            draft.originals[i].append(single)
            draft.rows.append(single)


def _release_slots(config: DemoConfig, n_true: int) -> tuple[list[str], list[int]]:
    """The release kinds in use (a lossy file's kind only with its format) and the true instrumentals (by rank)
    that get one: from 9 true instrumentals on, ranks 3 and up but those whose catalog duration is off, two per
    kind."""
    kinds = [k for k in RELEASE_KINDS if k not in CODEC_KINDS or CODEC_KINDS[k][0] in config.formats]
    slots = [k for k in range(3, n_true) if k % 10 not in (5, 6)] if n_true >= 9 else []
    return kinds, slots[: 2 * len(kinds)]


def _offset_and_tail(idx: int, seconds: float, rng: np.random.Generator) -> tuple[float, float, str]:
    """The ``idx``-th true instrumental's offset (s; alternately later and earlier), tail (s) and duration note:
    ranks 1, 2 and those ending in 5 or 6 have a catalog duration 2-2.8 s longer or shorter than the song's."""
    magnitude = float(rng.uniform(0.05, 1.0))
    offset = magnitude if idx % 2 == 0 else -magnitude
    if not (idx in (1, 2) or idx % 10 in (5, 6)):
        return offset, 0.0, ""
    shorter = (idx == 2 or idx % 10 == 6) and seconds >= 6.0
    delta = float(rng.uniform(2.0, 2.8))
    if shorter:
        offset = -abs(offset)
        tail = -(delta + offset)  # file = seconds + offset + tail = seconds - delta
    else:
        tail = delta - offset
    return offset, tail, f"catalog duration {'shorter' if shorter else 'longer'} by {delta:.2f} s"


def add_true_instrumentals(draft: Draft, roles: Roles, rng: np.random.Generator) -> None:
    """A true instrumental per song of ``roles.true_songs`` (the accompaniment shifted and scaled, every third at
    another rate, from 9 of them on some differing as real releases do), paired with each of the song's
    originals (one duplicate group for the song released twice)."""
    kinds, slots = _release_slots(draft.config, len(roles.true_songs))
    for idx, i in enumerate(roles.true_songs):
        spec, sid = draft.specs[i], draft.specs[i].song_id
        rate = draft.other_rate(spec.sample_rate) if idx % 3 == 1 else spec.sample_rate
        offset, tail, duration_note = _offset_and_tail(idx, spec.seconds, rng)
        release = None
        if idx in slots:
            release = plan_release(kinds[slots.index(idx) % len(kinds)], spec.seconds, spec.bar_s, rng)
        recipe = Recipe("accompaniment", sid, rate, gain_db=round(float(rng.uniform(-4.0, 4.0)), 2),
                        polarity=-1 if idx == 2 else 1, offset_s=offset, tail_s=tail, release=release,
                        stretch=release.stretch if release else 1.0)
        marker = MARKERS[idx % len(MARKERS)]
        orig_ext = draft.originals[i][0].ext
        codec = CODEC_KINDS.get(release.kind) if release is not None else None
        ext = codec[0] if codec else draft.fmt_for(idx, avoid=orig_ext)
        row = Row(f"{sid}:instrumental", draft.spell.inst_artist[i], marker.format(t=draft.spell.inst_title[i]),
                  ext=ext, role="instrumental", song_id=sid,
                  note="; ".join(x for x in ("the accompaniment, shifted and scaled", duration_note,
                                             f"release: {release.kind}" if release else "") if x),
                  recipe=recipe, **draft.meta(i, instrumental=True))
        draft.rows.append(row)
        group = f"dup-{sid}" if len(draft.originals[i]) > 1 else ""
        for o in draft.originals[i]:
            draft.pairs.append(Pair(o, row, "", sid, draft.split_of(i), duplicate_group=group,
                                    note="true pair" + (f"; {duration_note}" if duration_note else "")))
