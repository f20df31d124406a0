"""A music folder of real encoded, really tagged files, built from a demo corpus' songs, with what each file says.

The tags are written by other writers than the reader under test: mutagen's tag writers (ID3v2.3 and v2.4,
Vorbis comments, MP4 atoms), libsndfile's RIFF INFO writer, ffmpeg's AAC encoder for the M4A file.
``build_library(root, corpus)`` writes (songs s000, s001, s002 of the clean corpus, ``tests/conftest.py``):

- three true pairs: a FLAC original (Vorbis comments, non-ASCII, a Hangul alternate title in brackets) with an
  MP3 instrumental (ID3v2.4, a wrong TLEN length tag); an MP3 original (ID3v2.3, a bracketed version) with an
  M4A instrumental (MP4 atoms, freeform ISRC and LABEL); a WAV original (RIFF INFO) with an untagged
  ``Artist - Title (Instrumental).mp3``;
- a decoy pair by its metadata whose audio is of two other songs: an Ogg Vorbis original and a WAV instrumental
  with ID3 tags (rejected ``different-recording``);
- an untagged WAV in ``Artist/Album/NN Title.wav`` folders, a corrupt FLAC (random bytes), a cover image and a
  text file (not audio).
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TCON, TDRC, TIT2, TLEN, TPE1, TPE2, TPUB, TRCK, TSRC, TYER
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from features.audio import decode

A = "Ånnika Sørensen/Første Album"
B = "Beta Band/Glass [Deluxe]"
PAIR_A = (f"{A}/01 Hjerte.flac", f"{A}/09 Hjerte - Instrumental.mp3")
PAIR_B = (f"{B}/02 Glass Promises [Live at Home].mp3", f"{B}/03 Glass Promises [Live at Home] (Instrumental).m4a")
PAIR_C = ("Gamma Trio/Singles/Night Drive.wav", "Gamma Trio - Night Drive (Instrumental).mp3")
DECOY = ("Delta Echo - Ghost Light.ogg", "Delta Echo/Ghost/02 Ghost Light (Instrumental).wav")
LONE = "Delta Echo/Demos/04 Sketch.wav"
CORRUPT = f"{B}/04 Broken.flac"
NOT_AUDIO = (f"{B}/cover.jpg", f"{A}/lyrics.txt")


@dataclass(frozen=True)
class Library:
    """The folder (``root``), the corpus its audio comes from, and ``expected[rel]``: the catalog values and
    sources the walk must find per file (its duration aside)."""

    root: Path
    corpus_dir: Path
    expected: dict[str, dict[str, str | None]]

    @property
    def true_pairs(self) -> list[tuple[str, str]]:
        return [PAIR_A, PAIR_B, PAIR_C]


def corpus_songs(corpus_dir: Path) -> dict[str, tuple[Path, Path]]:
    """``song_id -> (original file, instrumental file)`` of a demo corpus' true pairs."""
    tracks = {r["track_id"]: r for r in csv.DictReader(open(corpus_dir / "truth" / "tracks.csv", newline=""))}
    audio = {r["track_id"]: corpus_dir / r["audio_path"]
             for r in csv.DictReader(open(corpus_dir / "catalog.csv", newline=""))}
    out = {}
    for p in csv.DictReader(open(corpus_dir / "truth" / "pairs.csv", newline="")):
        if p["expected_status"] == "accepted":
            out[tracks[p["original_id"]]["song_id"]] = (audio[p["original_id"]], audio[p["instrumental_id"]])
    return out


def _write(path: Path, source: Path, fmt: str, subtype: str) -> None:
    """``source`` decoded and written to ``path`` by libsndfile (``fmt``, ``subtype``)."""
    d = decode(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, d.samples.T, d.sample_rate, subtype=subtype, format=fmt)


def _m4a(path: Path, source: Path) -> None:
    d = decode(source)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "x.wav"
        sf.write(wav, d.samples.T, d.sample_rate, subtype="PCM_16")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "256k", str(path)],
                       check=True)


def _id3(frames: list, path: Path, version: int, wave: bool = False) -> None:
    if wave:
        audio = WAVE(path)
        audio.add_tags()
        for f in frames:
            audio.tags.add(f)
        audio.save(v2_version=version)
        return
    tags = ID3()
    for f in frames:
        tags.add(f)
    tags.save(path, v2_version=version)


def build_library(root: Path, corpus_dir: Path) -> Library:
    """Write the library (module doc) under ``root`` from the clean corpus in ``corpus_dir``."""
    songs = corpus_songs(corpus_dir)
    (mix0, acc0), (mix1, acc1), (mix2, acc2) = songs["s000"], songs["s001"], songs["s002"]
    r = root
    # pair A: FLAC + Vorbis comments / MP3 + ID3v2.4 (with a length tag that lies)
    _write(r / PAIR_A[0], mix0, "FLAC", "PCM_16")
    flac = FLAC(r / PAIR_A[0])
    flac.update({"TITLE": "Hjerte (죽어도 너야)", "ARTIST": "Ånnika Sørensen", "ALBUMARTIST": "Ånnika Sørensen",
                 "ALBUM": "Første Album", "TRACKNUMBER": "1/9", "DATE": "2019-03-01", "ISRC": "NOXYZ1900001",
                 "LABEL": "Nordlys Plater", "GENRE": "Pop"})
    flac.save()
    _write(r / PAIR_A[1], acc0, "MP3", "MPEG_LAYER_III")
    _id3([TIT2(encoding=3, text="Hjerte - Instrumental"), TPE1(encoding=3, text="Ånnika Sørensen"),
          TALB(encoding=3, text="Første Album"), TRCK(encoding=3, text="9/9"), TDRC(encoding=3, text="2019-03-01"),
          TSRC(encoding=3, text="NOXYZ1900009"), TPUB(encoding=3, text="Nordlys Plater"),
          TLEN(encoding=3, text="999000")], r / PAIR_A[1], 4)
    # pair B: MP3 + ID3v2.3 / M4A + MP4 atoms
    _write(r / PAIR_B[0], mix2, "MP3", "MPEG_LAYER_III")
    _id3([TIT2(encoding=1, text="Glass Promises [Live at Home]"), TPE1(encoding=1, text="Beta Band"),
          TPE2(encoding=1, text="Beta Band"), TALB(encoding=1, text="Glass [Deluxe]"), TRCK(encoding=1, text="02"),
          TYER(encoding=1, text="2017"), TCON(encoding=1, text="Rock")], r / PAIR_B[0], 3)  # v2.3's year frame
    _m4a(r / PAIR_B[1], acc2)
    m4a = MP4(r / PAIR_B[1])
    m4a.update({"\xa9nam": ["Glass Promises [Live at Home] (Instrumental)"], "\xa9ART": ["Beta Band"],
                "aART": ["Beta Band"], "\xa9alb": ["Glass [Deluxe]"], "trkn": [(3, 10)], "\xa9day": ["2017-06-30"],
                "----:com.apple.iTunes:ISRC": [MP4FreeForm(b"GBXYZ1700003")],
                "----:com.apple.iTunes:LABEL": [MP4FreeForm("Glasshaus Records".encode())]})
    m4a.save()
    # pair C: WAV + RIFF INFO (libsndfile writes it) / an untagged "Artist - Title (Instrumental).mp3"
    d = decode(mix1)
    (r / PAIR_C[0]).parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(r / PAIR_C[0], "w", d.sample_rate, d.channels, "PCM_16", format="WAV") as fh:
        fh.title, fh.artist, fh.album, fh.date, fh.genre = "Night Drive", "Gamma Trio", "Singles", "2021", "Synth"
        fh.write(d.samples.T)
    _write(r / PAIR_C[1], acc1, "MP3", "MPEG_LAYER_III")
    # the decoy: Ogg Vorbis / WAV + ID3, of two other songs
    _write(r / DECOY[0], mix0, "OGG", "VORBIS")
    ogg = OggVorbis(r / DECOY[0])
    ogg.update({"title": "Ghost Light", "artist": "Delta Echo"})
    ogg.save()
    _write(r / DECOY[1], acc2, "WAV", "PCM_16")
    _id3([TIT2(encoding=3, text="Ghost Light (Instrumental)"), TPE1(encoding=3, text="Delta Echo")], r / DECOY[1], 4,
         wave=True)
    # an untagged WAV named by its folders, a corrupt file, files that are not audio
    _write(r / LONE, mix1, "WAV", "PCM_16")
    (r / CORRUPT).write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (r / NOT_AUDIO[0]).write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (r / NOT_AUDIO[1]).write_text("not a song\n")
    return Library(root, corpus_dir, _expected())


def _expected() -> dict[str, dict[str, str | None]]:
    """What the walk must find per file: values, and ``<field>_source``."""
    def tag(kind: str, **values: str) -> dict[str, str | None]:
        return {**values, **{f"{k}_source": f"tag:{kind}" for k in values}}

    return {
        PAIR_A[0]: tag("vorbis", title="Hjerte (죽어도 너야)", artist="Ånnika Sørensen", album_artist="Ånnika Sørensen",
                       album="Første Album", track_number="1", release_date="2019-03-01", isrc="NOXYZ1900001",
                       label="Nordlys Plater", genre="Pop"),
        PAIR_A[1]: tag("id3", title="Hjerte - Instrumental", artist="Ånnika Sørensen", album="Første Album",
                       track_number="9", release_date="2019-03-01", isrc="NOXYZ1900009", label="Nordlys Plater"),
        PAIR_B[0]: tag("id3", title="Glass Promises [Live at Home]", artist="Beta Band", album_artist="Beta Band",
                       album="Glass [Deluxe]", track_number="2", release_date="2017", genre="Rock"),
        PAIR_B[1]: tag("mp4", title="Glass Promises [Live at Home] (Instrumental)", artist="Beta Band",
                       album_artist="Beta Band", album="Glass [Deluxe]", track_number="3", release_date="2017-06-30",
                       isrc="GBXYZ1700003", label="Glasshaus Records"),
        PAIR_C[0]: tag("riff-info", title="Night Drive", artist="Gamma Trio", album="Singles", release_date="2021",
                       genre="Synth"),
        PAIR_C[1]: {"title": "Night Drive (Instrumental)", "artist": "Gamma Trio",
                    "title_source": "path:artist-title", "artist_source": "path:artist-title"},
        DECOY[0]: tag("vorbis", title="Ghost Light", artist="Delta Echo"),
        DECOY[1]: {**tag("id3", title="Ghost Light (Instrumental)", artist="Delta Echo"),  # the path fills the rest
                   "album": "Ghost", "album_source": "path:folders", "track_number": "2",
                   "track_number_source": "path:number-title"},
        LONE: {"title": "Sketch", "track_number": "4", "artist": "Delta Echo", "album": "Demos",
               "title_source": "path:number-title", "track_number_source": "path:number-title",
               "artist_source": "path:folders", "album_source": "path:folders"},
    }

