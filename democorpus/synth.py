"""A demo song with known stems: sampled instruments under a singer (or a rapper), mixed and mastered.

``random_spec`` draws what a song is (key, tempo, genre, instruments, singer) from its seed; ``render`` plays
it: the arrangement (``arrangement``) through the General MIDI SoundFont (``instruments``), the voice
(``voice`` sings, ``speech`` raps), each part mixed and the release mastered (``mixing``). Songs of the
generalisation split's test side (``held_out``) use instruments and singers no other song uses; an
instrumental-only song has a silent vocal stem and its lead instrument carries the tune.

Shapes and units: stems are float32 ``[2, samples]`` (stereo) at the song's sample rate; times in seconds.
Instruments are rendered at 24 kHz (content below 12 kHz) and the voice below ``band_hz`` (the stems are
band-limited to ``band_hz`` when it is lower than 12 kHz: corpora at low rates), so a song survives
resampling between 44.1 and 48 kHz without losing content (the truth of an instrumental at another rate
stays exact).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

from democorpus import mixing
from democorpus.arrangement import (GENRE_WEIGHTS, GENRES, Part, SectionPlan, choose_parts, random_progression,
                                    section_plan, tracks)
from democorpus.instruments import SYNTH_RATE, render_parts
from democorpus.music import NOTE_NAMES, note_name
from democorpus.song_families import (family_level_db, family_notes, family_parts, family_rng, family_source,
                                      family_voicing)
from democorpus.speech import rap
from democorpus.voice import SINGERS, VoiceParams, draw_voice, melody, sing, singers

__all__ = ["Song", "SongSpec", "note_name", "random_spec", "render", "song_columns"]


@dataclass(frozen=True)
class SongSpec:
    """What a song is. ``seconds``: length of the original; ``band_hz``: highest frequency any source may hold;
    ``parts``: the instruments (choir patches among them are backing vocals); ``voice``: the singer's draw,
    None for an instrumental-only song."""

    song_id: str
    seed: int
    seconds: float
    sample_rate: int
    band_hz: float
    key_root: int  # pitch class 0-11
    mode: str  # "major" | "minor"
    tempo_bpm: float
    progression: tuple[int, ...]
    genre: str
    parts: tuple[Part, ...]
    voice_params: VoiceParams | None
    vocal_level_db: float  # vocal RMS over its active frames relative to the accompaniment's, dB
    peak: float  # peak of the mixture (< 0.9)
    held_out: bool = False
    song_family: str = "band"  # democorpus.song_families

    @property
    def key(self) -> str:
        return f"{NOTE_NAMES[self.key_root]} {self.mode}"

    @property
    def bar_s(self) -> float:
        return 240.0 / self.tempo_bpm

    @property
    def samples(self) -> int:
        return int(round(self.seconds * self.sample_rate))

    @property
    def instrumental_only(self) -> bool:
        return self.voice_params is None

    @property
    def singer(self) -> str:
        return self.voice_params.singer if self.voice_params else ""

    @property
    def voice(self) -> str:
        """female | male (the singer's register) | none."""
        return SINGERS[self.singer].register if self.voice_params else "none"

    @property
    def vocal_style(self) -> str:
        return SINGERS[self.singer].style if self.voice_params else "none"

    @property
    def voice_low(self) -> int:
        return self.voice_params.low if self.voice_params else 0

    @property
    def voice_high(self) -> int:
        return self.voice_params.high if self.voice_params else 0


@dataclass(frozen=True)
class Song:
    """A rendered song: float32 ``[2, samples]`` stems at ``spec.sample_rate``; mixture = vocals + accompaniment."""

    spec: SongSpec
    vocals: np.ndarray
    accompaniment: np.ndarray
    vocal_activity: float  # fraction of the song's time in which the voice sings
    spoken_intro: bool = False  # a spoken ad-lib in the intro (part of the vocal stem)
    parts: dict[str, np.ndarray] | None = None  # render(keep_roles=...): each kept role's share, mastered

    @property
    def mixture(self) -> np.ndarray:
        return self.vocals + self.accompaniment


def random_spec(song_id: str, seed: int, seconds: float, sample_rate: int, band_hz: float, *,
                held_out: bool = False, instrumental_only: bool = False, song_family: str = "band") -> SongSpec:
    """Draw a song from ``seed`` (independent of every other song). ``held_out``: instruments and singers of
    the generalisation split's test side; ``instrumental_only``: no voice at all (a band song);
    ``song_family``: one of ``song_families.SONG_FAMILIES`` (the same draws, then the family's changes)."""
    if instrumental_only and song_family != "band":
        raise ValueError(f"an instrumental-only song is a band song, not {song_family!r}")
    rng = np.random.default_rng([seed, 0x50_4E_47])
    mode = str(rng.choice(["major", "minor"], p=[0.6, 0.4]))
    weights = dict(GENRE_WEIGHTS)
    if instrumental_only:  # mostly the music whose melody instruments "sing": orchestral and acoustic
        weights.update(orchestral=0.45, acoustic=0.25, ballad=0.1, rap=0.0)
    total = sum(weights.values())
    genre = str(rng.choice(list(weights), p=[w / total for w in weights.values()]))
    g = GENRES[genre]
    voice = None
    if not instrumental_only:
        names = singers(g.vocal, held_out)
        voice = draw_voice(names[int(rng.integers(len(names)))], rng)
    f_rng = family_rng(seed, song_family)
    return SongSpec(
        song_id=song_id,
        seed=seed,
        seconds=float(seconds),
        sample_rate=int(sample_rate),
        band_hz=float(band_hz),
        key_root=int(rng.integers(12)),
        mode=mode,
        tempo_bpm=float(rng.integers(g.tempo[0], g.tempo[1] + 1)),
        progression=random_progression(mode, rng),
        genre=genre,
        parts=family_parts(song_family, choose_parts(genre, rng, held_out,
                                                     vocals=voice is not None and g.vocal == "sung")),
        voice_params=voice,
        vocal_level_db=family_level_db(song_family, float(rng.uniform(-1.0, 4.0)), f_rng),
        peak=float(rng.uniform(0.55, 0.85)),
        held_out=held_out,
        song_family=song_family,
    )


def song_columns(song: Song) -> dict[str, str | int]:
    """What ``truth/songs.csv`` says about a song's arrangement: genre, instruments as ``role=gm<program>`` or
    ``role=kit<program>`` separated by ``;`` (choir patches are backing vocals), singer preset, vocal style
    (sung, sung+spoken: a spoken intro, rap, or none) and whether it is instrumental-only (1: silent vocal stem)."""
    spec = song.spec
    style = spec.vocal_style + ("+spoken" if song.spoken_intro else "")
    return {"genre": spec.genre, "instruments": ";".join(p.label for p in spec.parts), "singer": spec.singer,
            "vocal_style": style, "instrumental_only": int(spec.instrumental_only), "song_family": spec.song_family}


def _frame_rms(x: np.ndarray, hop: int) -> np.ndarray:
    frames = x.shape[1] // hop
    return np.sqrt(np.mean(x[:, : frames * hop].reshape(2, frames, hop) ** 2, axis=(0, 2)))


def _to_rate(x: np.ndarray, sr: int, n: int) -> np.ndarray:
    """Stereo ``[2, m]`` at ``SYNTH_RATE`` to ``[2, n]`` at ``sr``."""
    y = soxr.resample(np.ascontiguousarray(x.T, dtype=np.float64), SYNTH_RATE, sr, quality="HQ").T
    out = np.zeros((2, n))
    out[:, : min(n, y.shape[1])] = y[:, :n]
    return out


def _band(spec: SongSpec, plan: SectionPlan, rng: np.random.Generator,
          keep_roles: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The instruments, mixed: the accompaniment ``[2, samples]`` at the song's rate (with the song family's
    own source, ``song_families``), the choir-patch backing vocals ``[2, m]`` still at ``SYNTH_RATE``, and the
    share of the accompaniment of the parts whose roles are in ``keep_roles`` (role -> ``[2, samples]``)."""
    acc_low = np.zeros((2, int(round(spec.seconds * SYNTH_RATE))))
    choir_low = np.zeros_like(acc_low)
    kept = {role: np.zeros_like(acc_low) for role in keep_roles}
    played = tracks(spec.parts, spec.genre, plan, spec.key_root, spec.mode, rng,
                    lead_carries_tune=spec.instrumental_only)
    for (part, _), audio in zip(played, render_parts(played, spec.seconds)):
        audio = audio.astype(np.float64)
        if not np.any(audio):
            continue
        if part.stem == "vocals":
            choir_low += mixing.mix_part(audio, SYNTH_RATE, part, rng)
        else:
            mixed = mixing.mix_part(audio, SYNTH_RATE, part, rng)
            acc_low += mixed
            if part.role in kept:
                kept[part.role] += mixed
    source = family_source(spec.song_family, plan, acc_low, family_rng(spec.seed, spec.song_family))
    if source is not None:
        acc_low += source
    parts = {role: _to_rate(k, spec.sample_rate, spec.samples) for role, k in kept.items()}
    return _to_rate(acc_low, spec.sample_rate, spec.samples), choir_low, parts


def _vocals(spec: SongSpec, plan: SectionPlan, rng: np.random.Generator, choir_low: np.ndarray) -> tuple[np.ndarray, bool]:
    """The vocal stem ``[2, samples]`` before levelling (lead voice through its chain, plus the backing vocals),
    and whether it opens with a spoken intro."""
    sr, n = spec.sample_rate, spec.samples
    vocals = np.zeros((2, n))
    if spec.voice_params is None:
        return vocals, False
    vp = spec.voice_params
    singer = SINGERS[vp.singer]
    if singer.style == "rap":
        dry = rap(plan, singer.variant, int(rng.integers(30, 60)), sr, n, rng)
    else:
        notes = family_notes(spec.song_family, melody(plan, spec.key_root, spec.mode, vp.low, vp.high, rng))
        dry = sing(notes, vp, sr, spec.band_hz, n, rng)
    spoken = singer.style == "sung" and not plan.voiced[0] and rng.random() < 0.3
    if spoken:  # a few spoken words in the intro: a speaking voice of the singer's register and split side
        talker = [k for k in singers("rap", spec.held_out) if SINGERS[k].register == singer.register]
        words = rap(plan, SINGERS[talker[0]].variant, int(rng.integers(30, 60)), sr, n, rng, bars=[0], per_bar=3)
        dry = dry + words * (np.max(np.abs(dry)) / (np.max(np.abs(words)) + 1e-12)) * 0.7
    if np.any(dry):
        vocals = mixing.voice_chain(dry / (np.max(np.abs(dry)) + 1e-12), sr, rng)
    if np.any(choir_low):
        lead_rms = np.sqrt(np.mean(vocals**2)) + 1e-12
        choir = _to_rate(mixing.backing_chain(choir_low, SYNTH_RATE, rng), sr, n)
        vocals = vocals + choir * (lead_rms / (np.sqrt(np.mean(choir**2)) + 1e-12) * 10 ** (rng.uniform(-9, -4) / 20))
    return vocals, spoken


def render(spec: SongSpec, keep_roles: tuple[str, ...] = ()) -> Song:
    """Render ``spec`` into float32 stereo stems ``[2, spec.samples]``; deterministic for a given spec.
    ``keep_roles``: also return those parts' shares of the accompaniment (``Song.parts``, zeros for a role the
    song lacks), mastered as the stems are."""
    rng = np.random.default_rng([spec.seed, 0x52_4E_44])
    sr, n = spec.sample_rate, spec.samples
    plan = section_plan(spec.seconds, spec.tempo_bpm, spec.key_root, spec.mode, spec.progression, rng)
    plan = family_voicing(spec.song_family, plan)
    acc, choir_low, kept = _band(spec, plan, rng, keep_roles)
    vocals, spoken = _vocals(spec, plan, rng, choir_low)

    # vocal level relative to the accompaniment while the voice sings
    hop = 1024
    v_rms, a_rms = _frame_rms(vocals, hop), _frame_rms(acc, hop)
    singing = v_rms > 0.1 * (v_rms.max() + 1e-12) if np.any(vocals) else np.zeros(len(v_rms), dtype=bool)
    if singing.any():
        ratio = np.sqrt(np.mean(a_rms[singing] ** 2)) / (np.sqrt(np.mean(v_rms[singing] ** 2)) + 1e-12)
        vocals *= ratio * 10 ** (spec.vocal_level_db / 20)

    roles = list(kept)
    vocals, acc, *shares = mixing.master(vocals, acc, sr, rng, *(kept[r] for r in roles))
    if spec.band_hz < SYNTH_RATE / 2:  # low-rate corpora: instruments and reverbs reach 12 kHz, the band less
        vocals, acc = mixing.band_limit(vocals, sr, spec.band_hz), mixing.band_limit(acc, sr, spec.band_hz)
        shares = [mixing.band_limit(k, sr, spec.band_hz) for k in shares]
    fade = min(int(0.05 * sr), n)
    ramp = np.linspace(1.0, 0.0, fade)
    for x in (vocals, acc, *shares):
        x[:, n - fade :] *= ramp
    scale = spec.peak / (np.max(np.abs(vocals + acc)) + 1e-12)
    vocals = (vocals * scale).astype(np.float32)
    acc = (acc * scale).astype(np.float32)
    activity = float(np.mean(singing)) if len(singing) else 0.0
    parts = {r: (k * scale).astype(np.float32) for r, k in zip(roles, shares)} if roles else None
    return Song(spec, vocals, acc, activity, spoken, parts)
