"""Verdicts of the audio stage: one row per candidate (the pairing stage's output)."""

from __future__ import annotations

import pyarrow as pa

from catalog_schemas._fields import field, schema
from catalog_schemas.candidates import CANDIDATES

_PAIR_FIELDS = [
    field("pair_id", pa.string(), "Stable id of the pair: '<original_id>~<instrumental_id>'.", nullable=False),
    field("status", pa.string(), "'accepted' or 'rejected'.", nullable=False),
    field("reason", pa.string(),
          "Empty when accepted; else missing-file, unreadable, silent, too-short, same-content, "
          "different-recording, drift, low-confidence, too-little-trusted, duplicate-of:<pair_id>, no-audio-path, error.", nullable=False),
    field("detail", pa.string(), "Plain-words evidence for a rejection (which file, the measured value against its threshold); empty when accepted."),
    field("offset_s", pa.float64(), "Seconds by which the instrumental's content starts later than the original's (see module doc)."),
    field("gain_db", pa.float64(), "Level of the instrumental relative to the original's accompaniment, dB (least squares, re-fitted on the frames where the derived vocal is silent)."),
    field("polarity", pa.int8(), "+1, or -1 when the instrumental is phase-inverted."),
    field("fingerprint_similarity", pa.float64(), "Share of matching chromaprint bits at the best offset (0.5 = unrelated, 1 = identical)."),
    field("alignment_confidence", pa.float64(), "Normalised correlation of the original and the aligned instrumental over their overlap (0-1; the vocal's share lowers it)."),
    field("vocal_free_correlation", pa.float64(), "Correlation of original and aligned instrumental in the frames where the derived vocal is silent (the tenth of frames where it is quietest, when it never is)."),
    field("vocal_energy_share", pa.float64(), "Energy of the derived vocal (original - aligned instrumental) over the original's energy, where the instrumental covers the original."),
    field("vocal_activity", pa.float64(), "Fraction of the non-silent 0.125 s frames where the derived vocal is active (within 15 dB of the original)."),
    field("clipping", pa.float64(), "Fraction of samples at or near full scale in either file."),
    field("original_sha1", pa.string(), "SHA-1 of the decoded original's audio content (mono float32 at 8192 Hz): equal for files with the same audio."),
    field("instrumental_sha1", pa.string(), "SHA-1 of the decoded instrumental's audio content (mono float32 at 8192 Hz)."),
    field("content_group", pa.string(), "Id of the group of originals with the same audio (its smallest original_id); filled whenever the original's audio decodes; a split never divides a group."),
    field("alignment_map", pa.string(), "The alignment map as JSON (features.alignmap, docs/pairing.md): `drift` (instrumental seconds per original second), `segments` [[start_s, end_s, offset_s], ...] on the original's timeline (instrumental time = offset_s + drift * t), `band_gain_db` (level match per band), `gain_step_s` and `gain_db` (slowly varying gain, dB, at t = k * gain_step_s), `trusted` [[start_s, end_s], ...] (frames whose centre lies inside may give patches). Null when no alignment was found."),
    field("segments", pa.int16(), "Number of segments of the alignment map (1 for an unedited instrumental)."),
    field("drift_ppm", pa.float64(), "Clock drift corrected by resampling, parts per million (+500: the instrumental's content lasts 0.05 % longer)."),
    field("usable_s", pa.float64(), "Seconds of the original whose frames are trusted (aligned, level-matched instrumental matches the accompaniment): what the shards may use."),
    field("leakage_db", pa.float64(), "Estimated accompaniment leakage into the vocal target: the derived vocal's level relative to the original in the quietest tenth of the trusted frames (where the voice rests), dB; lower is better."),
    field("target_error", pa.float64(), "Estimated error of the pair's vocal target (relative L2 of magnitudes on the trusted frames) divided by the error the ideal target max(0, |X| - |A_true|) would have, computed without the truth from the aligned, level-matched pair (pairing.quality, docs/pairing.md): 1 = as good as the true accompaniment; the report flags it above 1.15, build-shards --max-target-error skips pairs above a limit. Null when not accepted."),
    field("level_corrections", pa.string(), "What the level match applied beyond the main gain, space-separated (docs/pairing.md): `eq` (band gains), `gain-smooth` or `gain-frame` (time-varying gain, smoothed or at the frame rate), `at-bound` (a band gain clipped to its bound: flagged by the report); empty when the plain gain stands. Null when not accepted."),
    field("original_seconds", pa.float64(), "Decoded duration of the original, seconds."),
    field("instrumental_seconds", pa.float64(), "Decoded duration of the instrumental, seconds."),
]

PAIRS = schema(
    _PAIR_FIELDS[:1]
    + [CANDIDATES.field("original_id"), CANDIDATES.field("instrumental_id")]
    + _PAIR_FIELDS[1:]
    + [f for f in CANDIDATES if f.name not in {"original_id", "instrumental_id"}],
    "`pairs.parquet`: every candidate with an audio verdict; accepted rows are what `build-shards` reads.",
)
