"""What the report shows and how much of it: a frozen config with the page's bounds and the flag rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportConfig:
    """Bounds and flag rules of the pair-quality report.

    Media (spectrogram thumbnails and audio clips) exist only for ``sample_accepted + sample_rejected``
    pairs drawn at random (``seed``) and for at most ``flagged_media`` flagged pairs, so the page's media
    size is bounded whatever the number of pairs. ``media=False`` leaves all media out.

    Flags mark *accepted* pairs worth a look before training on them (a rejected pair already has its reason):
    alignment confidence below ``low_confidence``; derived-vocal energy share below ``vocal_share_low`` (the
    "instrumental" may still hold the voice) or above ``vocal_share_high`` (the instrumental explains little
    of the original); ``|offset_s|`` above ``large_offset_s``; a clipped-sample share above ``clipping``; an
    alignment map with several segments (``edited``) or a corrected clock drift of ``drift_ppm`` or more; trusted
    audio below ``usable_share_low`` of the original; estimated leakage above ``leakage_db_high``.

    The plots draw the run's acceptance thresholds: those recorded in ``summary.json`` (``audio.config``,
    ``metadata.config``), else the defaults of ``pairing.config.PairingConfig`` and ``miner.pipeline.MinerConfig``
    (``report.data.resolve_thresholds``; each line says its source).
    """

    sample_accepted: int = 8
    sample_rejected: int = 4
    flagged_media: int = 12
    media: bool = True
    seed: int = 0
    clip_seconds: float = 8.0
    clip_sample_rate: int = 8192
    clip_format: str = "ogg"  # "ogg" (Vorbis, ~20 kB per 8 s clip) or "wav" (16-bit PCM, 128 kB)
    thumb_height: int = 96
    thumb_max_width: int = 320
    bins: int = 40
    page_rows: int = 50
    max_table_rows: int = 250_000
    group_rows: int = 20

    low_confidence: float = 0.5
    vocal_share_low: float = 0.06
    vocal_share_high: float = 0.85
    large_offset_s: float = 2.0
    clipping: float = 0.001
    drift_ppm: float = 1.0
    usable_share_low: float = 0.8
    leakage_db_high: float = -20.0

    def __post_init__(self) -> None:
        if self.clip_format not in ("ogg", "wav"):
            raise ValueError(f"clip_format must be 'ogg' or 'wav', not {self.clip_format!r}")
        for name in ("sample_accepted", "sample_rejected", "flagged_media", "page_rows", "bins", "group_rows"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.page_rows == 0 or self.bins == 0:
            raise ValueError("page_rows and bins must be positive")
