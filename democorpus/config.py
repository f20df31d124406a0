"""What the demo corpus generator is asked for: ``DemoConfig``, whose fields are the user settings of
``make-demo-corpus`` (``vocalmine.settings``: the command's options and the corpus.json record derive from them).
"""

from __future__ import annotations

from dataclasses import dataclass

from democorpus.encode import FORMATS, LOSSLESS
from vocalmine.errors import UserInputError
from vocalmine.settings import setting

SUPPORTED_RATES = (16000, 22050, 24000, 32000, 44100, 48000)


@dataclass(frozen=True)
class DemoConfig:
    """What to generate.

    ``songs``: number of synthesised songs (each has stems; most get a true instrumental).
    ``seconds``: length of a song, s (each song is 88-100 % of it).
    ``decoys``: add audio decoys, metadata decoys and bad rows; False gives only clean true pairs.
    ``sample_rates``: rates (Hz) the files use; ``formats``: file formats (wav, flac, mp3, ogg).
    ``as_library``: also write the finished corpus as a tagged music folder (``democorpus.library``).

    The bounds are checked by ``validate`` (one message per field, naming the allowed values), not by the
    settings' ``low``/``high``, so the command and the library give the same messages.
    """

    songs: int = setting(40, "Number of synthesised songs.")
    seconds: float = setting(30.0, "Length of a song in seconds (each is 88-100% of it).")
    seed: int = setting(0, "Random seed: the same seed gives the same files.")
    decoys: bool = setting(True, "Add audio decoys, metadata decoys and bad rows (--no-decoys: only clean true "
                                 "pairs).")
    sample_rates: tuple[int, ...] = setting((44100, 48000), "Sample rates (Hz) of the files.", metavar="HZ,...")
    formats: tuple[str, ...] = setting(("wav", "flac", "mp3", "ogg"), "File formats to use.", metavar="EXT,...")
    as_library: bool = setting(False, "Also write the corpus as a tagged music folder, library/Artist/Album/NN "
                                      "Title.ext (truth/library.csv maps each track_id to its file): what "
                                      "mine-pairs DIR reads.")

    def __post_init__(self) -> None:  # accept lists (from JSON or a CLI) but store tuples: the config is hashable
        object.__setattr__(self, "sample_rates", tuple(int(r) for r in self.sample_rates))
        object.__setattr__(self, "formats", tuple(str(f).lower().lstrip(".") for f in self.formats))

    def validate(self) -> None:
        """Raise ``UserInputError`` naming the bad field."""
        if not 1 <= self.songs <= 500:
            raise UserInputError(f"songs must be between 1 and 500, got {self.songs}")
        if self.decoys and self.songs < 4:
            raise UserInputError(f"a corpus with decoys needs at least 4 songs, got {self.songs} "
                                 "(or turn decoys off)")
        if not 4.0 <= self.seconds <= 600.0:
            raise UserInputError(f"seconds must be between 4 and 600, got {self.seconds}")
        if not self.sample_rates or any(r not in SUPPORTED_RATES for r in self.sample_rates):
            raise UserInputError(f"sample rates must be among {SUPPORTED_RATES}, got {list(self.sample_rates)}")
        if not self.formats or any(f not in FORMATS for f in self.formats):
            raise UserInputError(f"formats must be among {sorted(FORMATS)}, got {list(self.formats)}")
        if self.decoys and not any(f in LOSSLESS for f in self.formats):
            raise UserInputError("a corpus with decoys needs a lossless format (wav or flac) for its "
                                 "identical-audio decoys")

    @property
    def lossless(self) -> list[str]:
        """The lossless formats among ``formats``, in their order."""
        return [f for f in self.formats if f in LOSSLESS]
