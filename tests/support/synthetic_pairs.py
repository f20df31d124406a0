"""Generated pairs for the shard tests: audio files with a known alignment, and the pairs.parquet naming them.

Each song is an accompaniment (chords, a bass and noise hits) plus a vocal line (a vibrato harmonic tone sung
in phrases); the original file holds their sum, the instrumental file holds ``g * accompaniment`` delayed by
``offset_s`` (the project's convention), with a tail of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from catalog_schemas import PAIRS


@dataclass(frozen=True)
class SongSpec:
    """One generated pair. Rates in Hz; ``stereo`` writes two (different) channels."""

    original_id: str
    instrumental_id: str
    artist: str
    seconds: float = 10.0
    offset_s: float = 0.5
    gain_db: float = -2.0
    polarity: int = 1
    original_rate: int = 8192
    instrumental_rate: int = 8192
    stereo: bool = False
    content_group: str | None = None
    status: str = "accepted"
    missing_instrumental: bool = False
    trim_end_s: float = 0.0  # the instrumental lacks this much of the song's end (it is shorter than the original)

    @property
    def pair_id(self) -> str:
        return f"{self.original_id}~{self.instrumental_id}"


def synth_stems(seconds: float, sr: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(accompaniment, vocals), float64 ``[samples]`` each, peak below 0.5."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    beat = 0.5
    idx = (t / beat).astype(int)
    roots = rng.integers(45, 57, size=idx.max() + 2)[idx]
    acc = np.zeros(n)
    for interval, amp in ((0, 0.12), (4, 0.08), (7, 0.08), (-12, 0.15)):
        f = 440.0 * 2 ** ((roots + interval - 69) / 12)
        phase = 2 * np.pi * np.cumsum(f) / sr
        acc += amp * (np.sin(phase) + 0.3 * np.sin(2 * phase))
    hits = np.exp(-((t % beat) / 0.03)) * rng.standard_normal(n) * 0.15
    acc += hits
    notes = rng.integers(62, 76, size=int(seconds) + 2)[t.astype(int)]
    f0 = 440.0 * 2 ** ((notes - 69) / 12) * (1 + 0.012 * np.sin(2 * np.pi * 5.5 * t))
    vphase = 2 * np.pi * np.cumsum(f0) / sr
    gate = (np.sin(2 * np.pi * t / 4.0 + rng.uniform(0, 6)) > -0.3).astype(float)
    gate = np.convolve(gate, np.hanning(int(0.05 * sr)) / np.hanning(int(0.05 * sr)).sum(), mode="same")
    vocals = sum(0.25 / k * np.sin(k * vphase) for k in range(1, 9)) * gate
    scale = 0.45 / max(np.abs(acc).max(), np.abs(vocals).max(), np.abs(acc + vocals).max())
    return acc * scale, vocals * scale


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    import soxr

    return soxr.resample(x, sr_in, sr_out, quality="VHQ")


def write_pairs(root: Path, specs: list[SongSpec], seed: int = 0) -> Path:
    """Write each spec's audio under ``root/audio`` and ``root/pairs/pairs.parquet``; returns the pairs dir.

    Stems at 8192 Hz are saved as ``root/stems/<original_id>_{accompaniment,vocals}.npy`` (float32).
    """
    audio = root / "audio"
    stems = root / "stems"
    audio.mkdir(parents=True, exist_ok=True)
    stems.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, spec in enumerate(specs):
        acc8, voc8 = synth_stems(spec.seconds, 8192, seed * 1000 + i)
        np.save(stems / f"{spec.original_id}_accompaniment.npy", acc8.astype(np.float32))
        np.save(stems / f"{spec.original_id}_vocals.npy", voc8.astype(np.float32))
        mix = _resample(acc8 + voc8, 8192, spec.original_rate)
        acc = _resample(acc8, 8192, spec.instrumental_rate)
        g = spec.polarity * 10 ** (spec.gain_db / 20)
        shift = int(round(spec.offset_s * spec.instrumental_rate))
        tail = np.zeros(0 if spec.trim_end_s else int(0.7 * spec.instrumental_rate))
        body = g * acc[: len(acc) - int(round(spec.trim_end_s * spec.instrumental_rate))]
        inst = np.concatenate([np.zeros(shift), body, tail]) if shift >= 0 else np.concatenate([body[-shift:], tail])

        def channels(x: np.ndarray) -> np.ndarray:
            # Stereo: opposite small offsets around the mono signal, so the channel mean is the signal.
            return np.stack([x * 1.1, x * 0.9], axis=1) if spec.stereo else x

        orig_path = audio / f"{spec.original_id}.wav"
        inst_path = audio / f"{spec.instrumental_id}.wav"
        sf.write(orig_path, channels(mix).astype(np.float32), spec.original_rate, subtype="FLOAT")
        if not spec.missing_instrumental:
            sf.write(inst_path, channels(inst).astype(np.float32), spec.instrumental_rate, subtype="FLOAT")
        rows.append({
            "pair_id": spec.pair_id,
            "original_id": spec.original_id,
            "instrumental_id": spec.instrumental_id,
            "status": spec.status,
            "reason": "" if spec.status == "accepted" else "drift",
            "offset_s": spec.offset_s,
            "gain_db": spec.gain_db,
            "polarity": spec.polarity,
            "content_group": spec.content_group or spec.original_id,
            "artist": spec.artist,
            "artist_key": spec.artist.lower(),
            "original_audio_path": str(orig_path.resolve()),
            "instrumental_audio_path": str(inst_path.resolve()),
        })
    pairs_dir = root / "pairs"
    pairs_dir.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PAIRS), pairs_dir / "pairs.parquet")
    return pairs_dir


def default_specs() -> list[SongSpec]:
    """Nine pairs over six artists: one 44.1 kHz stereo original with a 48 kHz instrumental, one inverted
    instrumental, a negative offset, a content group shared across two artists, a rejected pair and a pair
    whose instrumental file is missing."""
    return [
        SongSpec("a1", "a1i", "Alpha", seconds=14.0, offset_s=0.5, gain_db=-2.0),
        SongSpec("a2", "a2i", "Alpha", seconds=9.0, offset_s=1.25, gain_db=3.0, polarity=-1),
        SongSpec("b1", "b1i", "Beta", seconds=13.0, offset_s=-0.3, gain_db=0.0),
        SongSpec("c1", "c1i", "Gamma", seconds=10.0, offset_s=0.2, gain_db=-6.0, original_rate=44100,
                 instrumental_rate=48000, stereo=True),
        SongSpec("d1", "d1i", "Delta", seconds=8.0, offset_s=0.0, gain_db=1.0, content_group="g-shared"),
        SongSpec("e1", "e1i", "Epsilon", seconds=8.0, offset_s=0.1, gain_db=0.0, content_group="g-shared"),
        SongSpec("f1", "f1i", "Zeta", seconds=9.0, offset_s=0.4, gain_db=-1.0),
        SongSpec("f2", "f2i", "Zeta", seconds=6.0, status="rejected"),
        SongSpec("g1", "g1i", "Eta", seconds=6.0, missing_instrumental=True),
    ]


# ---- independent checks shared by the shard tests -------------------------------------------------------

def reference_magnitude(signal: np.ndarray) -> np.ndarray:
    """Independent STFT magnitude ``[512, frames]``: librosa, centred, zero padding, Hann 1024, hop 768,
    Nyquist dropped."""
    import librosa

    spec = librosa.stft(signal.astype(np.float32), n_fft=1024, hop_length=768, window="hann", center=True,
                        pad_mode="constant")
    return np.abs(spec)[:512]


def stored_tensor(table: pa.Table, name: str) -> np.ndarray:
    """A tensor column of shard rows as float32 ``[N, 512, 128]`` (as stored: divided by ``scale``)."""
    col = table.column(name).combine_chunks()
    return np.frombuffer(col.buffers()[1], "<f2", offset=col.offset * 131072, count=len(col) * 65536).reshape(
        -1, 512, 128).astype(np.float32)


def vocal_distance(pair_rows: pa.Table, reference: np.ndarray) -> float:
    """Relative Frobenius distance of one pair's stored vocal target (times ``scale``) to ``reference``
    ``[512, frames]``, over the frames its patches cover."""
    est = stored_tensor(pair_rows, "vocals") * pair_rows["scale"].to_numpy()[:, None, None]
    num = den = 0.0
    for patch, start in zip(est, pair_rows["start_frame"].to_pylist()):
        n = min(128, reference.shape[1] - start)
        num += float(np.sum((patch[:, :n] - reference[:, start : start + n]) ** 2))
        den += float(np.sum(reference[:, start : start + n] ** 2))
    return (num / den) ** 0.5
