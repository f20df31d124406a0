"""The demo songs' parts: sampled instruments sound in their bands, the generalisation split is disjoint,
mastering keeps the stems exact, rapped words sit on the beat grid, rendering is deterministic."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from democorpus import mixing
from democorpus.arrangement import DRUM_BANK, FAMILIES, GENRES, Note, Part, section_plan
from democorpus.instruments import SYNTH_RATE, render_part, render_parts
from democorpus.speech import ESPEAK_RATE, espeak, rap, split_words
from democorpus.synth import random_spec, render
from democorpus.voice import SINGERS


def band_share(x: np.ndarray, sr: int, lo: float, hi: float) -> tuple[float, float]:
    """Share of the (mono) energy in [lo, hi) Hz, and the frequency of the spectrum's peak."""
    m = x.mean(axis=0)
    power = np.abs(np.fft.rfft(m)) ** 2
    f = np.fft.rfftfreq(len(m), 1 / sr)
    return float(power[(f >= lo) & (f < hi)].sum() / power.sum()), float(f[np.argmax(power)])


KIT = Part("drums", "kit", DRUM_BANK, 0)


@pytest.mark.parametrize("part, notes, band, share, peak_hz", [
    (KIT, [Note(0.05, 0.3, 36, 110)], (20, 200), 0.9, None),  # kick
    (KIT, [Note(0.05, 0.2, 42, 110)], (4000, 12000), 0.8, None),  # closed hi-hat
    (Part("bass", "bass-electric", 0, 33), [Note(0.05, 0.8, 28, 100), Note(0.9, 0.8, 33, 100)], (20, 400), 0.95,
     None),
    (Part("lead", "string-solo", 0, 40), [Note(0.05, 1.2, 81, 100)], (800, 8000), 0.95, 880.0),  # violin A5
    (Part("lead", "woodwind", 0, 73), [Note(0.05, 1.2, 84, 100)], (900, 6000), 0.95, 1046.5),  # flute C6
    (Part("choir", "choir", 0, 52), [Note(0.05, 1.2, k, 100) for k in (60, 64, 67)], (200, 4000), 0.95, None),
], ids=["kick", "hihat", "bass", "violin", "flute", "choir"])
def test_instruments_sound_in_their_bands(part, notes, band, share, peak_hz):
    x = render_part(part, notes, 2.0)
    assert x.shape == (2, 2 * SYNTH_RATE) and x.dtype == np.float32
    got, peak = band_share(x.astype(np.float64), SYNTH_RATE, *band)
    assert got > share, (got, peak)
    if peak_hz is not None:  # the note's fundamental is the strongest partial
        assert abs(peak - peak_hz) < 0.01 * peak_hz, peak


def test_every_program_of_every_family_sounds():
    parts = [(Part("x", family, DRUM_BANK if family == "kit" else 0, program),
              [Note(0.01, 0.3, 38 if family == "kit" else (low + high) // 2, 100)])
             for family, (train, held_out, low, high) in FAMILIES.items() for program in train + held_out]
    audio = render_parts(parts, 0.5)  # one synthesiser, one part after another
    quiet = [part for (part, _), x in zip(parts, audio) if np.sqrt(np.mean(x.astype(np.float64) ** 2)) < 0.003]
    assert len(audio) == len(parts) > 40 and quiet == []


def test_families_hold_train_and_held_out_programs_apart():
    train = {(f == "kit", p) for f, (tr, _, _, _) in FAMILIES.items() for p in tr}
    held = {(f == "kit", p) for f, (_, te, _, _) in FAMILIES.items() for p in te}
    assert train and held and not train & held
    for genre in GENRES.values():  # every family a genre names exists and has programs on both sides
        for _, families in genre.parts:
            assert all(FAMILIES[f][0] and FAMILIES[f][1] for f in families)
    assert {s.held_out for s in SINGERS.values() if s.style == "sung"} == {True, False}
    assert {s.held_out for s in SINGERS.values() if s.style == "rap"} == {True, False}


def test_held_out_songs_share_no_instrument_or_singer_with_the_others():
    def draw(held_out: bool) -> tuple[set, set]:
        specs = [random_spec(f"s{i}", 500 + i, 20.0, 44100, 15000.0, held_out=held_out) for i in range(60)]
        return ({(p.bank, p.program) for s in specs for p in s.parts}, {s.singer for s in specs})
    (train_programs, train_singers), (test_programs, test_singers) = draw(False), draw(True)
    assert not train_programs & test_programs and not train_singers & test_singers
    assert len(test_programs) >= 15 and len(test_singers) >= 3  # the held-out side still varies
    silent = random_spec("s0", 3, 20.0, 44100, 15000.0, instrumental_only=True)
    assert silent.instrumental_only and silent.singer == "" and all(p.stem == "accompaniment" for p in silent.parts)


def test_mastering_gain_is_computed_on_the_mix_and_applied_to_both_stems():
    rng = np.random.default_rng(0)
    sr, n = 8000, 8000 * 3
    t = np.arange(n) / sr
    vocals = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]) * (t > 1.0) * 0.8
    acc = rng.standard_normal((2, n)) * 0.2 * (1 + 2 * (t > 2.0))
    v1, a1 = mixing.master(vocals, acc, sr, np.random.default_rng(5))
    v2, a2 = mixing.master(vocals + acc, np.zeros_like(acc), sr, np.random.default_rng(5))
    # the same mastering on the mix alone gives the sum of the mastered stems: gains follow the mix only
    assert np.max(np.abs(v1 + a1 - v2)) < 1e-4 * np.max(np.abs(v2))  # float32 filters: rounding only
    assert np.max(np.abs(a2)) < 1e-12
    # and it did something: the loud end is compressed relative to the quiet start
    before = np.sqrt(np.mean((vocals + acc)[:, -sr:] ** 2)) / np.sqrt(np.mean((vocals + acc)[:, :sr] ** 2))
    after = np.sqrt(np.mean((v1 + a1)[:, -sr:] ** 2)) / np.sqrt(np.mean((v1 + a1)[:, :sr] ** 2))
    assert after < 0.9 * before


def test_limiter_holds_its_ceiling_and_leaves_quiet_parts_alone():
    rng = np.random.default_rng(1)
    sr = 8000
    x = rng.standard_normal((2, 4 * sr)) * 0.1
    x[:, 2 * sr : 2 * sr + 40] *= 20  # a burst
    g = mixing.limiter_gain(x, sr, ceiling=0.5)
    assert np.max(np.abs(x * g)) <= 0.5 + 1e-12
    assert np.min(g[:, None].T[: sr]) == 1.0 or np.all(g[:sr] == 1.0)  # nothing near the ceiling in the first second
    assert g[2 * sr + 20] < 0.5


def test_rapped_words_start_on_sixteenth_notes():
    speech = espeak("rivers city lights never stop", "en-us+m1", 200, 40, 6)
    assert len(split_words(speech, ESPEAK_RATE)) == 5
    rng = np.random.default_rng(2)
    plan = section_plan(10.0, 90.0, 0, "minor", (0, 5, 3, 4), rng)
    sr = 16000
    x = rap(plan, "en-us+m1", 40, sr, 10 * sr, rng)
    on = np.abs(x) > 0
    onsets = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    assert len(onsets) >= 10
    steps = (onsets / sr - plan.lead_s) / (plan.bar_s / 16)
    assert np.max(np.abs(steps - np.round(steps))) < 0.01 * 16 / plan.bar_s  # within 10 ms of a sixteenth
    voiced = {int((o / sr - plan.lead_s) // plan.bar_s) for o in onsets}
    assert all(plan.voiced[b] for b in voiced)


def test_rendering_is_deterministic_whatever_came_before_or_the_thread():
    spec = random_spec("s0", 77, 5.0, 44100, 14994.0)
    first = render(spec)
    render(random_spec("s1", 78, 5.0, 48000, 14994.0))  # other instruments in between, on this thread's synth
    again = []
    thread = threading.Thread(target=lambda: again.append(render(spec)))  # a fresh synth on another thread
    thread.start()
    thread.join()
    for other in (render(spec), again[0]):
        assert first.vocals.tobytes() == other.vocals.tobytes()
        assert first.accompaniment.tobytes() == other.accompaniment.tobytes()
    assert np.max(np.abs(first.mixture)) == pytest.approx(spec.peak, rel=1e-5)


def test_a_missing_soundfont_is_a_one_line_message_and_exit_2(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from commands.demo import main

    monkeypatch.setenv("VOCALMINE_SOUNDFONT", str(tmp_path / "nowhere.sf2"))
    result = CliRunner().invoke(main, [str(tmp_path / "corpus"), "--songs", "4", "--seconds", "4", "--workers", "1"])
    assert result.exit_code == 2
    assert "nowhere.sf2 is missing: install Debian's fluid-soundfont-gm" in result.output
    assert "Traceback" not in result.output


def test_songs_at_low_rates_hold_nothing_above_their_band():
    song = render(random_spec("s0", 11, 4.0, 16000, 5440.0))
    for stem in (song.vocals, song.accompaniment):
        above, _ = band_share(stem.astype(np.float64), 16000, 5440.0, 8001.0)
        assert above < 1e-6



def test_a_spoken_intro_is_in_the_vocal_stem_and_the_songs_table():
    from democorpus.synth import song_columns

    def intro_share(seed: int) -> tuple[str, float]:
        spec = random_spec("s0", seed, 10.0, 44100, 14994.0)
        song = render(spec)
        plan = section_plan(spec.seconds, spec.tempo_bpm, spec.key_root, spec.mode, spec.progression,
                            np.random.default_rng([spec.seed, 0x52_4E_44]))  # the plan render draws first
        intro = slice(0, int(plan.t(1) * spec.sample_rate) - 2048)  # before the first sung bar (and its pickup)
        energy = np.sum(song.vocals.astype(np.float64) ** 2)
        return song_columns(song)["vocal_style"], float(np.sum(song.vocals[:, intro].astype(np.float64) ** 2) / energy)

    spoken, sung = intro_share(300), intro_share(303)  # both have an intro bar
    assert spoken[0] == "sung+spoken" and spoken[1] > 0.01
    assert sung[0] == "sung" and sung[1] < 1e-6
