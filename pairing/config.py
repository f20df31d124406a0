"""Thresholds and working rates of the audio stage, as one frozen dataclass.

Every field that changes a per-pair verdict enters :meth:`PairingConfig.verdict_hash`, the key under which
verdicts are cached; run-time knobs (``batch_size``, ``decoded_cache_files``, ``workers``) do not.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

#: Bump when the per-pair computation changes in a way that changes verdict rows (invalidates cached verdicts).
ALGORITHM_VERSION = "pairing-4"  # 3: alignment map, level match, trust mask (issue 10); 4: map searched when no
#   window agrees with the global offset (a drift on dense songs), and with half-length windows as a fallback

_RUNTIME_FIELDS = frozenset({"batch_size", "decoded_cache_files", "workers"})


@dataclass(frozen=True)
class PairingConfig:
    """Defaults work on the demo corpus and on the shape of real catalogs (see README, "Verifying pairs")."""

    # --- working rates -------------------------------------------------------------------------------------
    #: Alignment and quality measures run on mono audio at this rate (Hz); one sample = 0.122 ms.
    align_rate: int = 8192

    # --- bad audio -----------------------------------------------------------------------------------------
    #: A file whose mono RMS is below this level (dBFS) is ``silent``.
    silent_rms_db: float = -60.0
    #: A file shorter than this share of its catalog duration is ``too-short`` (truncated or wrong file).
    too_short_ratio: float = 0.75
    #: A file shorter than this (s) is ``too-short`` whatever the catalog says.
    min_seconds: float = 2.0
    #: Samples at or above this magnitude count as clipped.
    clip_level: float = 0.999

    # --- alignment -----------------------------------------------------------------------------------------
    #: Largest |offset| searched (s): real instrumentals start up to a few seconds earlier or later (the
    #: miner pairs durations within about 3 s). It also sizes the FFTs: length of the longer file + this.
    max_offset_s: float = 10.0
    #: Length (s) of the windows whose local offsets must agree, and how many at most.
    window_s: float = 1.5
    max_windows: int = 16
    #: Each window searches this far (s) around the global offset.
    window_search_s: float = 0.25
    #: A window's offset counts when its peak normalised correlation reaches this.
    window_min_correlation: float = 0.2
    #: Local offsets further than this (s) from the global one disagree (an edit or a drift).
    drift_tolerance_s: float = 0.001
    #: ``drift`` when at least this many windows, and this share of the confident ones, disagree.
    drift_min_windows: int = 2
    drift_min_share: float = 0.2
    #: ``drift`` when this share of frames is louder after subtracting the instrumental than before
    #: (the instrumental is out of step there), among pairs that otherwise align.
    misaligned_max_share: float = 0.2
    #: When the waveform aligns nowhere, the speed change (up to this share) that best lines up the onset
    #: envelopes is undone; if the waveform then aligns in this share of the windows, the pair is ``drift``
    #: (the same recording, played faster or slower), else ``different-recording``.
    max_stretch: float = 0.05
    min_stretch: float = 0.002
    stretch_min_window_share: float = 0.5
    #: Windows (s) of that second look, and how far (s) their lags may stray from one straight line.
    stretch_window_s: float = 0.5
    stretch_tolerance_s: float = 0.002

    # --- alignment map (issue 10): segments and clock drift, searched only when one offset does not fit ------
    #: Windows (s) of the map search, their step (s), and how far (s) each searches around the global offset
    #: (edits, inserted or removed bars, other intros).
    map_window_s: float = 1.0
    map_step_s: float = 0.5
    map_max_windows: int = 400
    map_search_s: float = 6.0
    #: A window's lag counts when its peak normalised correlation reaches this.
    map_min_peak: float = 0.3
    #: Lags of one segment lie within this (s) of one straight line.
    map_tolerance_s: float = 0.002
    #: Largest clock drift corrected by resampling (a share: 0.005 = 0.5 %); a larger speed change is ``drift``.
    max_drift: float = 0.005
    #: At most this many segments; the segments must hold this share of the confident windows.
    max_segments: int = 8
    map_min_share: float = 0.6
    #: A segment needs at least this many windows on its line (shorter stretches are left to the trust mask).
    map_min_segment_windows: int = 3
    #: The map is searched when some windows disagree with the global offset, or this share of the frames is
    #: out of step with it.
    map_trigger_misaligned: float = 0.05

    # --- level match and trust mask (on the paper's STFT at align_rate) -------------------------------------
    #: Per-band gains are bounded to +-this (dB); the slowly varying gain's knots are this far apart (s).
    max_band_gain_db: float = 12.0
    gain_step_s: float = 0.25
    #: A frame is trusted when the slowly varying gain it needs lies within [-max_cut_db, +max_boost_db] and at
    #: most this share of the level-matched instrumental's energy exceeds the original (out of step, or content
    #: in one release only).
    max_boost_db: float = 6.0
    max_cut_db: float = 12.0
    max_excess_share: float = 0.3
    #: ... and subtracting it (complex STFT) leaves at most this ratio of the original's energy in the frame.
    max_residual_ratio: float = 1.0
    #: ``too-little-trusted`` when the trusted frames hold less than this share of the original.
    min_trusted_share: float = 0.4

    # --- verdict thresholds ----------------------------------------------------------------------------------
    #: Windows agreeing with the global offset needed to call the two the same recording.
    min_agreeing_windows: int = 2
    #: Normalised correlation of the aligned signals below which the pair is ``different-recording``.
    min_alignment_confidence: float = 0.2
    #: Correlation in the vocal-free parts below which the pair is ``different-recording``.
    min_vocal_free_correlation: float = 0.5
    #: Frames (s) of the quality measures, and the level (dB below the original's frame) at which the
    #: derived vocal counts as silent in a frame.
    frame_s: float = 0.125
    vocal_free_db: float = 15.0
    #: Frames quieter than this (dB below the original's mean frame energy) are silence, left out.
    frame_silence_db: float = 40.0
    #: Derived-vocal energy share at or below which the "instrumental" is the original again: ``same-content``.
    same_content_max_vocal_share: float = 0.03
    #: Share of the original covered by the instrumental below which the pair is ``low-confidence``.
    min_coverage: float = 0.5

    # --- content groups (global step) ---------------------------------------------------------------------
    #: Two originals with fingerprint similarity at or above this, and durations this close (s), are the
    #: same audio released twice.
    duplicate_min_similarity: float = 0.9
    duplicate_max_duration_delta_s: float = 2.0

    # --- run-time knobs (not part of the verdict hash) ------------------------------------------------------
    #: Candidates per Dask task (a group of candidates sharing a file is never split).
    batch_size: int = 8
    #: Prepared (decoded, resampled) files kept in memory inside one task.
    decoded_cache_files: int = 4
    #: Threads of Dask's local scheduler (None: one per core); a distributed cluster sets its own.
    workers: int | None = None

    def verdict_hash(self) -> str:
        """Hex digest of the fields that change per-pair verdicts, plus the algorithm version."""
        fields = {k: v for k, v in asdict(self).items() if k not in _RUNTIME_FIELDS}
        blob = json.dumps({"version": ALGORITHM_VERSION, **fields}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]
