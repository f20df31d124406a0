"""What the report shows and how much of it: a frozen config with the page's bounds and the flag rules, each field a
``vocalmine.settings.setting`` (default, help, bounds written once; ``pair-report``'s options derive from them)."""

from __future__ import annotations

from dataclasses import dataclass

from vocalmine.settings import setting


@dataclass(frozen=True)
class ReportConfig:
    """Bounds and flag rules of the pair-quality report.

    Media (spectrogram thumbnails and audio clips) exist only for ``sample_accepted + sample_rejected``
    pairs drawn at random (``seed``) and for at most ``flagged_media`` flagged pairs, so the page's media
    size is bounded whatever the number of pairs. ``media=False`` leaves all media out.

    Flags mark *accepted* pairs worth a look before training on them (a rejected pair already has its reason);
    the rules are the settings from ``low_confidence`` on (``report.flags``).

    The plots draw the run's acceptance thresholds: those recorded in ``summary.json`` (``audio.config``,
    ``metadata.config``), else the defaults of ``pairing.config.PairingConfig`` and ``miner.pipeline.MinerConfig``
    (``report.distributions.resolve_thresholds``; each line says its source).

    The first seven settings and ``stems_dir`` are ``pair-report``'s options; the others are set from Python only.
    """

    # --- media: which pairs get spectrograms and clips (pair-report's options) ---------------------------------
    sample_accepted: int = setting(8, "Accepted pairs drawn at random that get spectrograms and clips.", low=0,
                                   flag="--sample")
    sample_rejected: int = setting(4, "Measured rejected pairs drawn at random that get spectrograms and clips.",
                                   low=0)
    flagged_media: int = setting(12, "Most flagged accepted pairs that get spectrograms and clips.", low=0,
                                 flag="--flagged")
    clip_seconds: float = setting(8.0, "Length of each audio clip (s).", low=1.0, high=60.0)
    clip_format: str = setting("ogg", "Ogg Vorbis (small, ~20 kB per 8 s clip) or 16-bit WAV clips (128 kB).",
                               choices=("ogg", "wav"))
    media: bool = setting(True, "Spectrograms and clips; --no-media: numbers only (fastest).")
    seed: int = setting(0, "Seed of the media sample.")
    stems_dir: str | None = setting(None, "An export-stems folder made from these pairs: each pair lists and links "
                                    "its exported items.", flag="--stems", metavar="DIR")

    # --- the page's bounds --------------------------------------------------------------------------------------
    clip_sample_rate: int = setting(8192, "Rate (Hz) of the mono clips and of the audio the spectrograms show.",
                                    low=1, cli=False)
    thumb_height: int = setting(96, "Most rows (frequency bands) of a spectrogram thumbnail.", low=1, cli=False)
    thumb_max_width: int = setting(320, "Most columns (frame groups) of a spectrogram thumbnail.", low=1, cli=False)
    bins: int = setting(40, "Bins of each histogram.", low=1, cli=False)
    page_rows: int = setting(50, "Rows per page of the pair table.", low=1, cli=False)
    max_table_rows: int = setting(250_000, "Most rows the page's table lists (flagged and sampled pairs first); "
                                           "the rest are in the Parquet file only.", low=0, cli=False)
    group_rows: int = setting(20, "Values shown in each genre, label and year table (the rest summed in one row).",
                              low=0, cli=False)

    # --- flag rules (accepted pairs only) -----------------------------------------------------------------------
    low_confidence: float = setting(0.5, "Flag an alignment confidence below this (0-1).", cli=False)
    vocal_share_low: float = setting(0.06, "Flag a derived-vocal energy share below this (0-1): the "
                                           "\"instrumental\" may still hold the voice.", cli=False)
    vocal_share_high: float = setting(0.85, "Flag a derived-vocal energy share above this (0-1): the instrumental "
                                            "explains little of the original.", cli=False)
    large_offset_s: float = setting(2.0, "Flag an |offset| above this (s).", cli=False)
    clipping: float = setting(0.001, "Flag a share of clipped samples above this (0-1).", cli=False)
    drift_ppm: float = setting(1.0, "Flag a corrected clock drift of this many ppm or more (an alignment map with "
                                    "several segments is flagged too: edited).", cli=False)
    usable_share_low: float = setting(0.8, "Flag trusted audio below this share of the original (0-1).", cli=False)
    leakage_db_high: float = setting(-20.0, "Flag an estimated accompaniment leakage above this (dB).", cli=False)
    target_error_high: float = setting(1.15, "Flag an estimated target error above this (times the ideal target's: "
                                            "pairing.quality).", low=1.0, cli=False)

    def __post_init__(self) -> None:
        if self.clip_format not in ("ogg", "wav"):
            raise ValueError(f"clip_format must be 'ogg' or 'wav', not {self.clip_format!r}")
        for name in ("sample_accepted", "sample_rejected", "flagged_media", "page_rows", "bins", "group_rows"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.page_rows == 0 or self.bins == 0:
            raise ValueError("page_rows and bins must be positive")
