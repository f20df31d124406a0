"""The demo corpus's truth is what its files are.

Every check recomputes the claim from the files with its own tools (scipy's polyphase resampler instead of
soxr, an FFT cross-correlation, least squares), so a generator that wrote one thing and recorded another fails.
"""

from __future__ import annotations

import csv
import re
from math import gcd
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.signal import resample, resample_poly

from democorpus import AUDIO_DECOYS, CATALOG_COLUMNS, PAIRS_COLUMNS, TRACKS_COLUMNS, DemoConfig, make_corpus
from democorpus.synth import random_spec
from features.audio import AudioError, decode
from commands.demo import main

LOSSY = {"mp3", "ogg"}


# ---------------------------------------------------------------------------------------------- helpers


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load(corpus: Path, rel: str) -> tuple[np.ndarray, int]:
    d = decode(corpus / rel)
    return d.samples.astype(np.float64), d.sample_rate


def stem(corpus: Path, song_id: str, name: str) -> tuple[np.ndarray, int]:
    return load(corpus, f"truth/stems/{song_id}/{name}.wav")


def to_rate(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """scipy's polyphase resampler (not soxr, which the generator uses)."""
    if rate_in == rate_out:
        return x
    g = gcd(rate_in, rate_out)
    return resample_poly(x, rate_out // g, rate_in // g, axis=-1, window=("kaiser", 10.0))


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((estimate - reference) ** 2), 1e-30)))


def best_lag(signal: np.ndarray, reference: np.ndarray, max_lag: int | None = None) -> tuple[int, float]:
    """Lag L maximising |sum_t signal[t + L] * reference[t]| (mono, FFT), and the normalised peak."""
    n = 1 << int(np.ceil(np.log2(len(signal) + len(reference))))
    corr = np.fft.irfft(np.fft.rfft(signal, n) * np.conj(np.fft.rfft(reference, n)), n)
    lags = np.where(np.arange(n) < n // 2, np.arange(n), np.arange(n) - n)
    if max_lag is not None:
        corr = np.where(np.abs(lags) <= max_lag, corr, 0.0)
    k = int(np.argmax(np.abs(corr)))
    lag = int(lags[k])
    norm = np.sqrt(np.sum(signal**2) * np.sum(reference**2)) + 1e-30
    return lag, float(abs(corr[k]) / norm)


def overlap(inst: np.ndarray, ref: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts where ``inst[t + lag]`` and ``ref[t]`` both exist: ``(inst part, ref part)``."""
    t0 = max(0, -lag)
    t1 = min(ref.shape[-1], inst.shape[-1] - lag)
    return inst[..., t0 + lag : t1 + lag], ref[..., t0:t1]


def align(inst: np.ndarray, inst_rate: int, ref: np.ndarray, ref_rate: int) -> dict[str, float]:
    """Independent alignment of ``inst`` against ``ref`` (both ``[channels, samples]``): the reference is
    resampled to the instrumental's rate, the lag found by cross-correlation, the gain by least squares."""
    ref = to_rate(ref, ref_rate, inst_rate)
    lag, peak = best_lag(inst.mean(axis=0), ref.mean(axis=0))
    a, b = overlap(inst, ref, lag)
    g = float(np.sum(a * b) / np.sum(b * b))
    return {"offset_s": lag / inst_rate, "lag": lag, "gain_db": 20 * np.log10(abs(g)), "polarity": 1 if g > 0 else -1,
            "snr_db": snr_db(g * b, a), "peak": peak}


# ---------------------------------------------------------------------------------------------- the corpus


@pytest.fixture(scope="module")
def corpus(demo_corpus) -> Path:
    """The shared demo corpus (tests/conftest.py): 4 songs of 8 s, seed 0."""
    assert not demo_corpus.reused
    return demo_corpus.out_dir


@pytest.fixture(scope="module")
def tables(corpus: Path) -> dict[str, object]:
    catalog = {r["track_id"]: r for r in read_csv(corpus / "catalog.csv")}
    tracks = {r["track_id"]: r for r in read_csv(corpus / "truth" / "tracks.csv")}
    pairs = read_csv(corpus / "truth" / "pairs.csv")
    songs = {r["song_id"]: r for r in read_csv(corpus / "truth" / "songs.csv")}
    decoys = {r["track_id"]: r for r in read_csv(corpus / "truth" / "metadata_decoys.csv")}
    return {"catalog": catalog, "tracks": tracks, "pairs": pairs, "songs": songs, "decoys": decoys}


def test_tables_have_the_contract_columns_and_cover_every_row(corpus, tables):
    with open(corpus / "catalog.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == CATALOG_COLUMNS
    with open(corpus / "truth" / "pairs.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == PAIRS_COLUMNS
    with open(corpus / "truth" / "tracks.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == TRACKS_COLUMNS
    catalog, tracks = tables["catalog"], tables["tracks"]
    assert set(catalog) == set(tracks)  # one truth row per catalog row
    for row in catalog.values():
        assert row["audio_path"] == f"audio/{row['track_id']}.{tracks[row['track_id']]['format']}"
        assert not Path(row["audio_path"]).is_absolute()
    existing = {p.name for p in (corpus / "audio").iterdir()}
    missing = {r["track_id"] for r in tracks.values() if r["content"] == "none"}
    assert len(missing) == 1
    assert {Path(r["audio_path"]).name for r in catalog.values()} - existing == {
        Path(catalog[t]["audio_path"]).name for t in missing}
    # the four formats and both sample rates are exercised
    assert {r["format"] for r in tracks.values()} == {"wav", "flac", "mp3", "ogg"}
    assert {r["sample_rate"] for r in tracks.values() if r["sample_rate"]} == {"44100", "48000"}


def test_bad_rows_are_what_the_miner_rejects(tables):
    catalog, tracks = tables["catalog"], tables["tracks"]
    bad = {tracks[t]["note"].split(": ")[-1]: catalog[t] for t in tracks if tracks[t]["role"] == "bad-row"}
    assert set(bad) == {"empty-title", "missing-duration", "empty-artist"}
    assert bad["empty-title"]["title"] == "" and bad["empty-title"]["duration_s"]
    assert bad["missing-duration"]["duration_s"] == "" and bad["missing-duration"]["title"]
    assert bad["empty-artist"]["artist"] == ""
    good = [r for t, r in catalog.items() if tracks[t]["role"] != "bad-row"]
    assert all(r["title"] and r["artist"] and float(r["duration_s"]) > 0 for r in good)


def test_catalog_durations_are_the_files_durations(corpus, tables):
    catalog, tracks = tables["catalog"], tables["tracks"]
    checked = 0
    for tid, row in catalog.items():
        truth = tracks[tid]
        if truth["content"] in ("none", "random-bytes") or truth["role"] == "bad-row" or "quarter" in truth["note"]:
            continue
        samples, rate = load(corpus, row["audio_path"])
        assert samples.shape[0] == 2 and str(rate) == truth["sample_rate"]
        assert abs(samples.shape[1] / rate - float(row["duration_s"])) < 1e-3, tid
        checked += 1
    assert checked >= 18


def test_stems_add_up_to_the_original_files(corpus, tables):
    originals = [t for t in tables["tracks"].values() if t["role"] == "original"]
    assert {t["song_id"] for t in originals} == set(tables["songs"])
    for truth in originals:
        song = truth["song_id"]
        vocals, rate = stem(corpus, song, "vocals")
        accompaniment, _ = stem(corpus, song, "accompaniment")
        mixture, _ = stem(corpus, song, "mixture")
        original, orig_rate = load(corpus, tables["catalog"][truth["track_id"]]["audio_path"])
        assert orig_rate == rate == int(tables["songs"][song]["sample_rate"])
        assert original.shape == mixture.shape == vocals.shape and original.shape[0] == 2
        assert np.max(np.abs(mixture)) < 0.9  # no clipping
        assert np.max(np.abs(vocals + accompaniment - mixture)) <= 2.5 / 32768  # 16-bit stems: a rounding each
        if truth["format"] in LOSSY:
            assert snr_db(mixture, original) > 18, truth["track_id"]
        else:
            np.testing.assert_array_equal(original, mixture)


def test_true_instrumentals_are_the_accompaniment_shifted_and_scaled(corpus, tables):
    catalog, tracks = tables["catalog"], tables["tracks"]
    true_pairs = [p for p in tables["pairs"] if tracks[p["instrumental_id"]]["role"] == "instrumental"]
    assert len(true_pairs) == 4  # three songs, one released twice
    formats, deltas, rate_changes, polarities = set(), [], 0, set()
    for pair in true_pairs:
        inst_row = catalog[pair["instrumental_id"]]
        inst, inst_rate = load(corpus, inst_row["audio_path"])
        acc, acc_rate = stem(corpus, pair["song_id"], "accompaniment")
        found = align(inst, inst_rate, acc, acc_rate)
        fmt = tracks[pair["instrumental_id"]]["format"]
        formats.add(fmt)
        assert abs(found["lag"] - round(float(pair["offset_s"]) * inst_rate)) <= 1, (pair, found)
        assert found["polarity"] == int(pair["polarity"])
        assert abs(found["gain_db"] - float(pair["gain_db"])) < (0.3 if fmt in LOSSY else 0.02), (pair, found)
        assert found["snr_db"] > (18 if fmt in LOSSY else 55), (pair, found)
        assert -1.0 <= float(pair["offset_s"]) <= 1.0 and -4.0 <= float(pair["gain_db"]) <= 4.0
        assert np.max(np.abs(inst)) < 1.0
        deltas.append(float(inst_row["duration_s"]) - float(catalog[pair["original_id"]]["duration_s"]))
        rate_changes += inst_rate != acc_rate
        polarities.add(int(pair["polarity"]))
    # real releases differ: some durations by 2-3 s either way, another rate, a phase inversion, lossy files
    assert any(2.0 <= d <= 3.0 for d in deltas) and any(-3.0 <= d <= -2.0 for d in deltas), deltas
    assert rate_changes >= 1 and polarities == {1, -1} and formats & LOSSY


def test_audio_decoys_are_what_the_truth_says(corpus, tables):
    catalog, tracks = tables["catalog"], tables["tracks"]
    decoys = {p["expected_reason"]: p for p in tables["pairs"] if tracks[p["instrumental_id"]]["role"] == "audio-decoy"}
    assert set(decoys) == set(AUDIO_DECOYS)
    assert all(p["expected_status"] == "rejected" and p["offset_s"] == "" for p in decoys.values())

    def files(reason: str) -> tuple[str, str, dict]:
        p = decoys[reason]
        return catalog[p["original_id"]]["audio_path"], catalog[p["instrumental_id"]]["audio_path"], p

    orig_path, inst_path, _ = files("same-content")
    a, ra = load(corpus, orig_path)
    b, rb = load(corpus, inst_path)
    assert ra == rb and Path(orig_path).suffix != Path(inst_path).suffix
    np.testing.assert_array_equal(a, b)

    _, inst_path, p = files("silent")
    silent, _ = load(corpus, inst_path)
    assert silent.shape[1] > 0 and not np.any(silent)

    _, inst_path, _ = files("unreadable")
    with pytest.raises(AudioError) as err:
        decode(corpus / inst_path)
    assert err.value.reason == "unreadable"

    _, inst_path, _ = files("missing-file")
    assert not (corpus / inst_path).exists()
    with pytest.raises(AudioError) as err:
        decode(corpus / inst_path)
    assert err.value.reason == "missing-file"

    _, inst_path, p = files("too-short")
    short, rate = load(corpus, inst_path)
    assert short.shape[1] / rate < 0.5 * float(catalog[p["instrumental_id"]]["duration_s"])
    found = align(short, rate, *stem(corpus, p["song_id"], "accompaniment"))
    assert found["snr_db"] > 18  # it is the start of the right accompaniment, only cut short

    # another song's accompaniment: it aligns with that song's stem, not with the song its title claims
    _, inst_path, p = files("different-recording")
    source = tracks[p["instrumental_id"]]["source_song_id"]
    assert source != p["song_id"] and tables["songs"][source]["artist"] == tables["songs"][p["song_id"]]["artist"]
    other, rate = load(corpus, inst_path)
    assert align(other, rate, *stem(corpus, source, "accompaniment"))["snr_db"] > 18
    assert align(other, rate, *stem(corpus, p["song_id"], "accompaniment"))["snr_db"] < 3
    durations = [float(catalog[p[k]]["duration_s"]) for k in ("instrumental_id", "original_id")]
    assert abs(durations[0] - durations[1]) < 1.5  # a matching length: metadata cannot tell

    # time-stretched (varispeed): no single offset fits, and undoing the stretch the note gives makes it fit
    _, inst_path, p = files("drift")
    stretch = float(re.search(r"factor of (\d\.\d+)", tracks[p["instrumental_id"]]["note"]).group(1))
    assert 0.015 <= abs(stretch - 1) <= 0.035
    drifted, rate = load(corpus, inst_path)
    undone = resample(drifted, int(round(drifted.shape[1] / stretch)), axis=1)
    assert align(undone, rate, *stem(corpus, p["song_id"], "accompaniment"))["snr_db"] > 15
    assert align(drifted, rate, *stem(corpus, p["song_id"], "accompaniment"))["snr_db"] < 6  # no single offset fits


def test_duplicate_release_is_one_group_with_one_accepted_pair(corpus, tables):
    catalog = tables["catalog"]
    group = [p for p in tables["pairs"] if p["duplicate_group"]]
    assert len(group) == 2 and len({p["duplicate_group"] for p in group}) == 1
    assert len({p["instrumental_id"] for p in group}) == 1
    accepted = [p for p in group if p["expected_status"] == "accepted"]
    assert len(accepted) == 1 and accepted[0]["pair_id"] == min(p["pair_id"] for p in group)
    other = next(p for p in group if p is not accepted[0])
    assert other["expected_status"] == "rejected"
    assert other["expected_reason"] == f"duplicate-of:{accepted[0]['pair_id']}"
    assert other["offset_s"] == accepted[0]["offset_s"] and other["gain_db"] == accepted[0]["gain_db"]
    album, rate_a = load(corpus, catalog[group[0]["original_id"]]["audio_path"])
    single, rate_b = load(corpus, catalog[group[1]["original_id"]]["audio_path"])
    assert catalog[group[0]["original_id"]]["audio_path"] != catalog[group[1]["original_id"]]["audio_path"]
    assert rate_a == rate_b
    np.testing.assert_array_equal(album, single)


def test_metadata_decoys_are_never_candidates_and_look_like_their_kind(corpus, tables):
    catalog, tracks, decoys = tables["catalog"], tables["tracks"], tables["decoys"]
    assert set(decoys) == {t for t, r in tracks.items() if r["role"] == "metadata-decoy"}
    kinds = {}
    for tid, row in decoys.items():
        kinds.setdefault(row["kind"], []).append(tid)
    assert set(kinds) == {"orphan-instrumental", "other-artist", "other-version", "numbered-sibling",
                          "duration-far-off", "acapella", "title-prefix"}
    in_pairs = {p["original_id"] for p in tables["pairs"]} | {p["instrumental_id"] for p in tables["pairs"]}
    bad_rows = {t for t, r in tracks.items() if r["role"] == "bad-row"}
    assert not in_pairs & (set(decoys) | bad_rows)

    def original_of(tid: str) -> dict[str, str]:
        song = tracks[tid]["song_id"]
        return next(catalog[t] for t, r in tracks.items() if r["song_id"] == song and r["role"] == "original")

    (acapella,) = kinds["acapella"]
    orig = original_of(acapella)
    assert catalog[acapella]["duration_s"] == orig["duration_s"] and "(Acapella)" in catalog[acapella]["title"]
    vocals, rate = stem(corpus, tracks[acapella]["song_id"], "vocals")
    sung, sung_rate = load(corpus, catalog[acapella]["audio_path"])
    assert sung_rate == rate and snr_db(vocals, sung) > 60

    (far,) = kinds["duration-far-off"]
    assert float(catalog[far]["duration_s"]) > 1.5 * float(original_of(far)["duration_s"])

    (sibling,) = kinds["numbered-sibling"]
    assert "Part 3" in catalog[sibling]["title"] and "Part 2" in original_of(sibling)["title"]

    (other,) = kinds["other-artist"]
    assert catalog[other]["artist"] != original_of(other)["artist"]
    assert catalog[other]["title"].startswith(original_of(other)["title"].split(" (feat.")[0])

    versions = " ".join(catalog[t]["title"] for t in kinds["other-version"])
    assert "(Live)" in versions and "(Remix)" in versions


def test_marker_spellings_and_credits_vary(tables):
    catalog, tracks = tables["catalog"], tables["tracks"]
    marked = [catalog[t]["title"] for t, r in tracks.items() if r["role"] in ("instrumental", "audio-decoy")]
    spellings = {m for m in ("(Instrumental)", "- Instrumental", "[Instrumental Version]", "(Inst.)", "(Off Vocal)")
                 if any(m in title for title in marked)}
    assert len(spellings) >= 4, marked
    assert any("feat." in r["title"] or "feat." in r["artist"] for r in catalog.values())


def test_songs_are_music_with_a_voice_that_comes_and_goes(corpus, tables):
    songs = tables["songs"]
    assert len({(s["key"], s["tempo_bpm"]) for s in songs.values()}) == len(songs)
    silent = [s for s, row in songs.items() if row["instrumental_only"] == "1"]
    assert len(silent) == 1  # the 4-song corpus has one host of a voice-free decoy
    for song in songs:
        vocals, rate = stem(corpus, song, "vocals")
        acc, _ = stem(corpus, song, "accompaniment")
        if song in silent:  # an instrumental-only song: a silent vocal stem, the band plays on
            assert not np.any(vocals) and songs[song]["vocal_activity"] == "0.000"
            assert songs[song]["singer"] == "" and songs[song]["voice"] == "none"
            assert np.sqrt(np.mean(acc**2)) > 0.05
            continue
        hop = rate // 20  # 50 ms frames
        frames = vocals.shape[1] // hop
        v = np.sqrt(np.mean(vocals[:, : frames * hop].reshape(2, frames, hop) ** 2, axis=(0, 2)))
        a = np.sqrt(np.mean(acc[:, : frames * hop].reshape(2, frames, hop) ** 2, axis=(0, 2)))
        singing = v > 0.05 * v.max()
        assert 0.2 < singing.mean() < 0.95, song  # intros, rests and breaks without the voice
        assert np.mean(a[~singing] > 0.1 * a.max()) > 0.5  # where the voice rests, the band plays on
        # separation is a real task: voice and accompaniment share the band where the voice lives
        spec_v = np.abs(np.fft.rfft(vocals.mean(axis=0))) ** 2
        spec_a = np.abs(np.fft.rfft(acc.mean(axis=0))) ** 2
        f = np.fft.rfftfreq(vocals.shape[1], 1 / rate)
        band = (f > 200) & (f < 4000)
        assert spec_v[band].sum() / spec_v.sum() > 0.5
        assert spec_a[band].sum() / spec_v[band].sum() > 0.1  # chords, snare, hats sit there too
        level = 10 * np.log10(np.mean(v[singing] ** 2) / np.mean(a[singing] ** 2))
        assert -8 < level < 8, (song, level)


def test_test_split_songs_use_instruments_and_singers_no_other_song_uses(tables):
    songs = list(tables["songs"].values())

    def used(rows: list[dict[str, str]]) -> tuple[set[str], set[str]]:
        programs = {p.split("=")[1] for r in rows for p in r["instruments"].split(";") if p}
        return programs, {r["singer"] for r in rows if r["singer"]}

    test = [r for r in songs if r["split_hint"] == "test"]
    others = [r for r in songs if r["split_hint"] != "test"]
    assert test and others and all(r["genre"] and r["instruments"] for r in songs)
    (test_programs, test_singers), (other_programs, other_singers) = used(test), used(others)
    assert test_programs and not test_programs & other_programs
    assert not test_singers & other_singers
    # a test artist has the instrumental-only song; the pairs carry the songs' split hints
    assert [r["split_hint"] for r in songs if r["instrumental_only"] == "1"] == ["test"]
    by_song = {r["song_id"]: r["split_hint"] for r in songs}
    assert all(p["split_hint"] == by_song[p["song_id"]] for p in tables["pairs"])


def test_song_specs_vary_in_key_tempo_genre_and_voice():
    specs = [random_spec(f"s{i}", seed, 30.0, 44100, 15000.0) for i, seed in enumerate(range(100, 140))]
    assert len({s.key for s in specs}) >= 8
    assert len({s.tempo_bpm for s in specs}) >= 10
    assert len({s.genre for s in specs}) >= 5
    assert len({s.singer for s in specs}) >= 5
    assert {s.voice for s in specs} == {"female", "male"} and {s.vocal_style for s in specs} == {"sung", "rap"}
    sung = [s for s in specs if s.vocal_style == "sung"]
    female = [s.voice_low for s in sung if s.voice == "female"]
    male = [s.voice_low for s in sung if s.voice == "male"]
    assert min(female) > max(male)  # registers differ
    assert min(s.voice_params.formant_scale for s in sung if s.voice == "female") > max(
        s.voice_params.formant_scale for s in sung if s.voice == "male")
    assert all(s.peak < 0.9 for s in specs)


# ---------------------------------------------------------------------------------------------- determinism, cache, CLI


def _digests(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "corpus.json"}


@pytest.mark.slow
def test_same_seed_gives_byte_identical_files_whatever_the_threads(tmp_path):
    config = DemoConfig(songs=4, seconds=4.5, seed=7)
    a = _digests(make_corpus(tmp_path / "a", config, progress=False, workers=1).out_dir)
    b = _digests(make_corpus(tmp_path / "b", config, progress=False, workers=2).out_dir)
    assert a.keys() == b.keys() and any(k.endswith(".ogg") for k in a) and any(k.endswith(".mp3") for k in a)
    assert [k for k in a if a[k] != b[k]] == []
    c = _digests(make_corpus(tmp_path / "c", DemoConfig(songs=4, seconds=4.5, seed=8), progress=False).out_dir)
    assert c["catalog.csv"] != a["catalog.csv"]


def test_without_decoys_only_clean_true_pairs(clean_corpus):
    info = clean_corpus  # 3 songs without decoys (tests/conftest.py)
    pairs = read_csv(info.pairs)
    tracks = read_csv(info.tracks)
    assert len(pairs) == 3 and all(p["expected_status"] == "accepted" and p["expected_reason"] == "" for p in pairs)
    assert sorted(r["role"] for r in tracks) == ["instrumental"] * 3 + ["original"] * 3
    assert read_csv(info.metadata_decoys) == []
    assert info.counts["true_pairs"] == 3 and info.counts["rows"] == 6


def test_cache_reuses_a_finished_corpus_and_regenerates_on_change(tmp_path):
    config = DemoConfig(songs=2, seconds=4.0, seed=3, decoys=False)
    first = make_corpus(tmp_path / "c", config, progress=False)
    stamp = first.catalog.stat().st_mtime_ns
    again = make_corpus(tmp_path / "c", config, progress=False)
    assert again.reused and again.counts == first.counts and first.catalog.stat().st_mtime_ns == stamp
    # an interrupted run (no corpus.json) leaves stray files: a new run clears them and finishes
    first.manifest.unlink()
    stray = first.audio_dir / "t9999.wav"
    stray.write_bytes(b"left over")
    redone = make_corpus(tmp_path / "c", config, progress=False)
    assert not redone.reused and not stray.exists() and redone.manifest.exists()
    other = make_corpus(tmp_path / "c", DemoConfig(songs=2, seconds=4.0, seed=4, decoys=False), progress=False)
    assert not other.reused


def test_cli_writes_the_corpus_then_reuses_it(tmp_path):
    out = tmp_path / "demo"
    runner = CliRunner()
    args = [str(out), "--songs", "4", "--seconds", "4", "--seed", "5"]
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "Wrote the demo corpus" in first.output and "27 catalog rows" in first.output
    for rel in ("catalog.csv", "corpus.json", "truth/pairs.csv", "truth/tracks.csv", "truth/songs.csv",
                "truth/metadata_decoys.csv"):
        assert (out / rel).is_file(), rel
    assert len(list((out / "truth" / "stems").iterdir())) == 4
    stamp = (out / "catalog.csv").stat().st_mtime_ns
    second = runner.invoke(main, args)
    assert second.exit_code == 0 and "Reusing the demo corpus" in second.output
    assert (out / "catalog.csv").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--songs", "0"], "songs must be between 1 and 500"),
        (["--songs", "3"], "needs at least 4 songs"),
        (["--seconds", "2"], "seconds must be between 4 and 600"),
        (["--formats", "wav,aac"], "formats must be among"),
        (["--sample-rates", "44100,96000"], "sample rates must be among"),
        (["--formats", "mp3,ogg"], "needs a lossless format"),
    ],
)
def test_cli_bad_options_give_a_message_and_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(main, [str(tmp_path / "x"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x").exists()


def test_cli_refuses_a_folder_that_is_not_a_corpus(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(main, [str(tmp_path), "--songs", "4"])
    assert result.exit_code == 2 and "holds no demo corpus" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep me"
