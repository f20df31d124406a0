"""What ``export_stems`` makes (``StemsConfig``): the layout, the items, the full-rate alignment and matching, the
split. Every field is a ``vocalmine.settings.setting``, so ``export-stems``'s options derive from it
(``commands.options.config_options``) and the manifest records it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from features.splits import SplitConfig
from vocalmine.settings import check, setting

#: Version of what an item holds and how it is computed; item keys and the export key include it.
FORMAT = "vocalmine-stems/1"
#: The layouts ``stems.layouts.LAYOUTS`` writes (kept here too, so the config can be checked without it).
LAYOUT_NAMES = ("musdb18hq", "msst", "openunmix")


@dataclass(frozen=True)
class StemsConfig:
    """What ``export_stems`` makes and how. Raises ``UserInputError`` for a value outside a setting's choices or
    bounds. ``fixed_splits``: ``(artist key, split)`` pairs that override the hashed split (``--split-file``)."""

    layout: str = setting("musdb18hq", "Folder layout: musdb18hq (train|valid|test/<item>/{mixture,vocals,"
                          "accompaniment}.wav), msst (Music-Source-Separation-Training type 1: vocals.wav, other.wav, "
                          "mixture.wav) or openunmix (track folders: vocals.wav, accompaniment.wav).",
                          choices=LAYOUT_NAMES)
    min_item_s: float = setting(3.0, "Shortest run of trusted audio exported as an item (s).", low=0.5)
    split: SplitConfig = field(default_factory=SplitConfig)
    channel_filter: bool = setting(True, "Fit the per-frequency complex channel filter (kept only when held-out "
                                   "vocal-free frames prefer it to the plain gain); --no-channel-filter: plain gain.")
    slow_gain: bool = setting(True, "Scale the instrumental by a slowly varying gain (the map's, or one measured at "
                              "the export rate: fades, bus compressors) where held-out evidence supports one.")
    codec_postfilter: bool = setting(True, "For a lossy instrumental (MP3, Ogg, AAC), remove the codec's noise from "
                                     "the vocals (the instrumental is then mixture - vocals).")
    filter_smoothing: float = setting(0.02, "Half-width of the filter's smoothing over frequency, as a share of the "
                                      "bin's frequency (constant-Q).", low=0.0, high=0.5, cli=False)
    filter_min_bins: int = setting(2, "Smallest half-width of the filter's smoothing, bins.", low=0, cli=False)
    filter_min_gain_db: float = setting(0.1, "The filter must lower the held-out residual by this much (dB).",
                                        low=0.0, cli=False)
    holdout_block_frames: int = setting(16, "Frames per block of the fit / held-out alternation.", low=1, cli=False)
    n_fft: int = setting(4096, "STFT window of the full-rate fit (samples; hop a quarter of it).", low=256,
                         cli=False)
    lag_block_frames: int = setting(64, "Frames per block whose lag is measured.", low=4, cli=False)
    max_lag_change: float = setting(1.5, "Largest change of a map's lag, in samples at 8192 Hz.", low=0.0,
                                    cli=False)
    drift_error_ppm: float = setting(50.0, "How far a map's drift may be off (ppm): the lag search of a drifting "
                                     "pair widens by that over the song.", low=0.0, cli=False)
    min_drift_samples: float = setting(0.05, "A residual drift is corrected when it moves the lag by this many "
                                       "samples over the song.", low=0.0, cli=False)
    workers: int | None = setting(None, "Threads of the local scheduler [default: one per core]; ignored on a "
                                  "cluster.", low=1)
    fixed_splits: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check(self)

    def key_fields(self) -> dict:
        """The fields that change what is written (all but ``workers``), flat, for item and export keys."""
        fields = dataclasses.asdict(self)
        flat = {**fields.pop("split"), **fields}
        flat.pop("workers")
        return flat
