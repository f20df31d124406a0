"""The demo corpus's generalisation split and instrumental-only songs.

Songs of the test artists (``split_hint`` test) are drawn with held-out instruments and singers
(``random_spec(held_out=True)``); about 10 % of the songs are instrumental-only: a silent vocal stem. Such a
song cannot have a true instrumental (it would be its own original), so only songs without one that host
audio decoys whose verdict needs no voice are chosen, test artists first. Song arguments are indices.
"""

from __future__ import annotations

import numpy as np

from democorpus.synth import SongSpec, random_spec

#: Audio decoys whose expected verdict holds whether or not the host song has a voice.
VOICE_FREE_DECOYS = frozenset({"same-content", "different-recording", "too-short", "silent", "unreadable",
                               "missing-file"})


def voice_free_hosts(decoy_host: dict[str, int], hosts: list[int]) -> list[int]:
    """Songs without a true instrumental that host only audio decoys whose verdict needs no voice."""
    hosted: dict[int, set[str]] = {h: set() for h in hosts}
    for kind, host in decoy_host.items():
        if host in hosted:
            hosted[host].add(kind)
    return [h for h, kinds in sorted(hosted.items()) if kinds and kinds <= VOICE_FREE_DECOYS]


def silent_song_in_test(splits: dict[str, str], artists: list[str], decoy_host: dict[str, int],
                        hosts: list[int]) -> None:
    """Make sure a test artist can have an instrumental-only song: when no test artist hosts a voice-free decoy,
    the first such host's artist trades its split with the first test artist (in place)."""
    free = voice_free_hosts(decoy_host, hosts)
    tests = sorted(a for a, hint in splits.items() if hint == "test")
    if not free or not tests or any(splits[artists[h]] == "test" for h in free):
        return
    host_artist = artists[free[0]]
    splits[host_artist], splits[tests[0]] = "test", splits[host_artist]


def split_specs(seed: int, specs: list[SongSpec], split_hints: list[str],
                decoy_host: dict[str, int], hosts: list[int]) -> list[SongSpec]:
    """The songs again, drawn for the generalisation split (test songs: held-out instruments and singers) and
    with some instrumental-only songs: hosts of voice-free audio decoys only (a song without a voice cannot
    have a true instrumental: it would be its own original), test-split hosts first, about 10 % of the songs;
    each keeps its song family (an instrumental-only song is a band song)."""
    rng = np.random.default_rng([seed, 0x1F])
    free = voice_free_hosts(decoy_host, hosts)
    free = [free[int(k)] for k in rng.permutation(len(free))]
    free.sort(key=lambda h: split_hints[h] != "test")
    silent = set(free[: max(1, round(0.1 * len(specs)))])
    return [random_spec(s.song_id, s.seed, s.seconds, s.sample_rate, s.band_hz, held_out=split_hints[i] == "test",
                        instrumental_only=i in silent, song_family="band" if i in silent else s.song_family)
            for i, s in enumerate(specs)]
