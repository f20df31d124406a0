"""Thresholds and working rates of the audio stage, as one frozen dataclass of settings.

Each field is a ``vocalmine.settings.setting``: its default, help text (with units) and bounds are written
once, here. A TOML file of field names sets them (``mine-pairs --config pairing.toml``, read with
``settings.load_toml``; docs/pairing.md); a run records the whole config in the ``audio`` section of
``summary.json``. Every field that changes a per-pair verdict enters :meth:`PairingConfig.verdict_hash`, the
key under which verdicts are cached; run-time knobs (``batch_size``, ``decoded_cache_files``, ``workers``) do
not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from vocalmine.settings import flat_dict, setting

#: Bump when the per-pair computation changes in a way that changes verdict rows (invalidates cached verdicts).
ALGORITHM_VERSION = "pairing-7"  # 3: alignment map, level match, trust mask (issue 10); 4: map searched when no
#   window agrees with the global offset (a drift on dense songs), and with half-length windows as a fallback;
#   5: corrections that earn their place, target_error (issue 18); 6: target_error's spread read per segment of
#   the map, its ideal term by the interference model; 7: target_error's bass leak (frames whose derived vocal is
#   mostly 90-200 Hz)

_RUNTIME_FIELDS = frozenset({"batch_size", "decoded_cache_files", "workers"})


@dataclass(frozen=True)
class PairingConfig:
    """Defaults work on the demo corpus and on the shape of real catalogs (see README, "Verifying pairs")."""

    # --- working rates -------------------------------------------------------------------------------------
    align_rate: int = setting(8192, "Rate (Hz) of the mono audio that alignment and quality measures run on "
                                    "(one sample = 0.122 ms at 8192 Hz).", low=1)

    # --- bad audio -----------------------------------------------------------------------------------------
    silent_rms_db: float = setting(-60.0, "A file whose mono RMS is below this level (dBFS) is silent.")
    too_short_ratio: float = setting(0.75, "A file shorter than this share of its catalog duration is too-short "
                                           "(truncated or wrong file).", low=0.0)
    min_seconds: float = setting(2.0, "A file shorter than this (s) is too-short whatever the catalog says.",
                                 low=0.0)
    clip_level: float = setting(0.999, "Samples at or above this magnitude (full scale = 1) count as clipped.",
                                low=0.0, high=1.0, open_low=True)

    # --- alignment -----------------------------------------------------------------------------------------
    max_offset_s: float = setting(10.0, "Largest |offset| searched (s): real instrumentals start up to a few "
                                        "seconds earlier or later (the miner pairs durations within about 3 s). "
                                        "It also sizes the FFTs: length of the longer file + this.", low=0.0)
    window_s: float = setting(1.5, "Length (s) of the windows whose local offsets must agree with the global one.",
                              low=0.0, open_low=True)
    max_windows: int = setting(16, "Most windows checked against the global offset.", low=1)
    window_search_s: float = setting(0.25, "How far (s) each window searches around the global offset.", low=0.0)
    window_min_correlation: float = setting(0.2, "A window's offset counts when its peak normalised correlation "
                                                 "reaches this (0-1).", low=0.0, high=1.0)
    drift_tolerance_s: float = setting(0.001, "Local offsets further than this (s) from the global one disagree "
                                              "(an edit or a drift).", low=0.0)
    drift_min_windows: int = setting(2, "drift when at least this many windows disagree (and drift_min_share of "
                                        "the confident ones).", low=0)
    drift_min_share: float = setting(0.2, "drift when at least this share of the confident windows disagree (and "
                                          "drift_min_windows).", low=0.0, high=1.0)
    misaligned_max_share: float = setting(0.2, "drift when this share of frames is louder after subtracting the "
                                               "instrumental than before (out of step there), among pairs that "
                                               "otherwise align.", low=0.0, high=1.0)
    max_stretch: float = setting(0.05, "When the waveform aligns nowhere, the largest speed change (a share: 0.05 "
                                       "= 5 %) searched to line up the onset envelopes; undone, the pair is drift "
                                       "if the waveform then aligns, else different-recording.", low=0.0, high=1.0,
                                 open_high=True)
    min_stretch: float = setting(0.002, "Smallest speed change (a share) worth undoing.", low=0.0)
    stretch_min_window_share: float = setting(0.5, "With the speed change undone, the same recording aligns in "
                                                   "this share of the windows.", low=0.0, high=1.0)
    stretch_window_s: float = setting(0.5, "Windows (s) of the second look, with the speed change undone.",
                                      low=0.0, open_low=True)
    stretch_tolerance_s: float = setting(0.002, "How far (s) the second look's lags may stray from one straight "
                                                "line (the speed left to undo).", low=0.0)

    # --- alignment map (issue 10): segments and clock drift, searched only when one offset does not fit ------
    map_window_s: float = setting(1.0, "Windows (s) of the alignment map's search (edits, inserted or removed "
                                       "bars, other intros).", low=0.0, open_low=True)
    map_step_s: float = setting(0.5, "Step (s) between the map search's windows.", low=0.0, open_low=True)
    map_max_windows: int = setting(400, "Most windows of the map search (the step grows on long songs).", low=1)
    map_search_s: float = setting(6.0, "How far (s) each map window searches around the global offset.", low=0.0)
    map_min_peak: float = setting(0.3, "A map window's lag counts when its peak normalised correlation reaches "
                                       "this (0-1).", low=0.0, high=1.0)
    map_tolerance_s: float = setting(0.002, "Lags of one segment lie within this (s) of one straight line.",
                                     low=0.0)
    max_drift: float = setting(0.005, "Largest clock drift corrected by resampling (a share: 0.005 = 0.5 %); a "
                                      "larger speed change is drift.", low=0.0)
    max_segments: int = setting(8, "Most segments of an alignment map.", low=1)
    map_min_share: float = setting(0.6, "The segments must hold this share of the confident windows.", low=0.0,
                                   high=1.0)
    map_min_segment_windows: int = setting(3, "Fewest windows on a segment's line (shorter stretches are left to "
                                              "the trust mask).", low=1)
    map_trigger_misaligned: float = setting(0.05, "The map is searched when some windows disagree with the global "
                                                  "offset, or this share of the frames is out of step with it.",
                                            low=0.0, high=1.0)

    # --- level match and trust mask (on the paper's STFT at align_rate) -------------------------------------
    max_band_gain_db: float = setting(12.0, "Per-band gains of the level match are bounded to +-this (dB).",
                                      low=0.0)
    min_band_gain_db: float = setting(0.5, "A band gain of the level match smaller than this (dB) is not applied.",
                                      low=0.0)
    gain_step_s: float = setting(0.25, "Distance (s) between the knots of the smooth time-varying gain (a "
                                       "frame-rate one has a knot per STFT frame).", low=0.0, open_low=True)
    max_boost_db: float = setting(6.0, "A frame is trusted only when the slowly varying gain it needs is at most "
                                       "+this (dB).", low=0.0)
    max_cut_db: float = setting(12.0, "A frame is trusted only when the slowly varying gain it needs is at least "
                                      "-this (dB): a fade to silence, a section the instrumental lacks.", low=0.0)
    max_excess_share: float = setting(0.3, "A frame is trusted only when at most this share of the level-matched "
                                           "instrumental's energy exceeds the original (out of step, or content in "
                                           "one release only).", low=0.0, high=1.0)
    max_residual_ratio: float = setting(1.0, "A frame is trusted only when subtracting the level-matched "
                                             "instrumental (complex STFT) leaves at most this ratio of the "
                                             "original's energy in it.", low=0.0)
    min_trusted_share: float = setting(0.4, "too-little-trusted when the trusted frames hold less than this share "
                                            "of the original.", low=0.0, high=1.0)

    # --- verdict thresholds ----------------------------------------------------------------------------------
    min_agreeing_windows: int = setting(2, "Windows agreeing with the global offset needed to call the two the "
                                           "same recording.", low=0)
    min_alignment_confidence: float = setting(0.2, "Normalised correlation (0-1) of the aligned signals below "
                                                   "which the pair is different-recording.", low=0.0, high=1.0)
    min_vocal_free_correlation: float = setting(0.5, "Correlation in the vocal-free parts below which the pair is "
                                                     "different-recording.", low=-1.0, high=1.0)
    frame_s: float = setting(0.125, "Frames (s) of the quality measures.", low=0.0, open_low=True)
    vocal_free_db: float = setting(15.0, "The derived vocal counts as silent in a frame at this level (dB) below "
                                         "the original's frame.", low=0.0)
    frame_silence_db: float = setting(40.0, "Frames quieter than this (dB below the original's mean frame energy) "
                                            "are silence, left out.", low=0.0)
    same_content_max_vocal_share: float = setting(0.03, "Derived-vocal energy share at or below which the "
                                                        "instrumental may be the original again (same-content, "
                                                        "with same_content_max_vocal_db).", low=0.0, high=1.0)
    same_content_max_vocal_db: float = setting(-17.0, "same-content only when the magnitude-derived vocal's "
                                                      "loudest tenth of frames is at most this level (dB) "
                                                      "against the original: a voice far under the band rises "
                                                      "above a re-encode's noise in its phrases.", high=0.0)
    min_coverage: float = setting(0.5, "Share of the original covered by the instrumental below which the pair is "
                                       "low-confidence.", low=0.0, high=1.0)

    # --- content groups (global step) ---------------------------------------------------------------------
    duplicate_min_similarity: float = setting(0.9, "Two originals with fingerprint similarity (0-1) at or above "
                                                   "this, and durations within duplicate_max_duration_delta_s, are "
                                                   "the same audio released twice.", low=0.0, high=1.0)
    duplicate_max_duration_delta_s: float = setting(2.0, "Largest duration difference (s) of two originals that "
                                                          "are the same audio (with duplicate_min_similarity).",
                                                    low=0.0)

    # --- run-time knobs (not part of the verdict hash) ------------------------------------------------------
    batch_size: int = setting(8, "Candidates per Dask task (a group of candidates sharing a file is never split).",
                              low=1)
    decoded_cache_files: int = setting(4, "Prepared (decoded, resampled) files kept in memory inside one task.",
                                       low=1)
    workers: int | None = setting(None, "Threads of Dask's local scheduler (none: one per core); a distributed "
                                        "cluster sets its own.", low=1)

    def verdict_hash(self) -> str:
        """Hex digest of the fields that change per-pair verdicts, plus the algorithm version."""
        fields = {k: v for k, v in flat_dict(self).items() if k not in _RUNTIME_FIELDS}
        blob = json.dumps({"version": ALGORITHM_VERSION, **fields}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]
