"""One song separated as a stream of blocks: memory stays flat whatever the song's length, and the result is the
whole-song separation's, sample for sample (the streams of ``separation.streams`` and ``separation.masks`` are
exact; block seams cannot be heard because there are none).

Two passes over the input:

1. ``magnitude_scale``: the mono mix at the model's rate, its STFT magnitude's maximum (the shards' per-track
   normalisation needs the whole song's maximum before the first mask);
2. ``separate_stream`` (a ``SongStream``): per block, the mono mix -> model rate -> STFT -> magnitude / scale
   -> ``MaskStream`` per model (combined when there are two) and each channel -> (model rate ->) STFT -> times
   the mask -> inverse STFT (-> input rate); the instrumental is the mixture minus the vocals when there is no
   instrumental model.
   A block's outputs lag its input by what the masks need (128 frames plus one batch of patches, about 60 s at
   the defaults): that lag is all the song audio held at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from separation.masks import FullBandMask, MaskStream, combine_masks, full_band_params, with_nyquist
from separation.streams import IstftStream, Resampler, StftStream

STEMS = ("vocals", "instrumental")


@dataclass(frozen=True)
class Plan:
    """What to run: the models (``separation.separate.LoadedModel``), the band, the batch, the combination."""

    vocals: object
    instrumental: object | None = None
    full_band: bool = False
    batch_size: int = 8
    combine: str = "wiener"

    @property
    def masked(self) -> tuple[str, ...]:
        """The stems that get a mask of their own (the instrumental is otherwise mixture minus vocals)."""
        return STEMS if self.instrumental is not None else ("vocals",)


def magnitude_scale(blocks: Iterable[np.ndarray], rate: int, params) -> tuple[float, int]:
    """(maximum of ``|STFT|`` (Nyquist bin left out) of the blocks' channel mean at ``params.sample_rate``,
    samples per channel)."""
    res, spec, peak, length = Resampler(rate, params.sample_rate), StftStream(params), 0.0, 0
    for block in blocks:
        length += block.shape[1]
        frames = spec.push(res.push(block.mean(axis=0)))
        peak = max(peak, float(np.abs(frames[:-1]).max(initial=0.0)))
    frames = np.concatenate([spec.push(res.finish()), spec.finish()], axis=1)
    return max(peak, float(np.abs(frames[:-1]).max(initial=0.0))), length


class _Columns:
    """Columns (frames or samples, the last axis) with absolute indices: ``append``, ``get(a, b)``, ``drop(a)``."""

    def __init__(self, rows: int | None, dtype):
        self.data = np.zeros((rows, 0) if rows else 0, dtype)
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + self.data.shape[-1]

    def append(self, x: np.ndarray) -> None:
        self.data = np.concatenate([self.data, x], axis=-1)

    def get(self, a: int, b: int) -> np.ndarray:
        return self.data[..., a - self.start : b - self.start]

    def drop(self, a: int) -> None:
        cut = a - self.start
        self.data, self.start = self.data[..., cut:], a


class _Channel:
    """One channel's STFT, inverse STFTs and resamplers; ``grid`` is the STFT its masks apply on."""

    def __init__(self, rate: int, plan: Plan):
        mp = plan.vocals.params
        self.grid = full_band_params(rate, mp) if plan.full_band else mp
        resample = not plan.full_band
        self.up = Resampler(rate, mp.sample_rate) if resample else None
        self.down = {s: Resampler(mp.sample_rate, rate) for s in STEMS} if resample else None
        self.stft = StftStream(self.grid)
        self.spec = _Columns(self.grid.bins, np.complex64)
        self.signal = _Columns(None, np.float32)  # on the grid's rate: what the vocals are subtracted from
        self.istft = {s: IstftStream(self.grid) for s in plan.masked}
        self.subtract = plan.instrumental is None

    def feed(self, x: np.ndarray, last: bool = False) -> None:
        """Input samples (``last``: the end of the song: flush the resampler and the STFT's padding)."""
        if self.up is not None:
            x = np.concatenate([self.up.push(x), self.up.finish()]) if last else self.up.push(x)
        self.signal.append(x)
        self.spec.append(self.stft.push(x))
        if last:
            for s in self.istft.values():
                s.length = self.stft.samples
            self.spec.append(self.stft.finish())

    def apply(self, a: int, b: int, masks: dict[str, np.ndarray], last: bool = False) -> dict[str, np.ndarray]:
        """Mask frames ``a .. b - 1`` (``masks[stem]`` on the grid, ``[bins, b - a]``); the stems' samples at
        the input's rate that are final."""
        spec = self.spec.get(a, b)
        est = {s: self.istft[s].push(spec * masks[s]) for s in self.istft}
        if last:
            est = {s: np.concatenate([est[s], self.istft[s].finish()]) for s in est}
        self.spec.drop(b)
        if self.subtract:
            start = self.istft["vocals"].emitted - len(est["vocals"])
            est["instrumental"] = self.signal.get(start, start + len(est["vocals"])) - est["vocals"]
            self.signal.drop(start + len(est["vocals"]))
        else:
            self.signal.drop(self.signal.end)
        if self.down is None:
            return est
        if last:
            return {s: np.concatenate([self.down[s].push(est[s]), self.down[s].finish()]) for s in STEMS}
        return {s: self.down[s].push(est[s]) for s in STEMS}


class SongStream:
    """A song of ``channels`` at ``rate``, separated as blocks come (``push``, then ``finish``); outputs are
    ``{stem: float32 [channels, k]}`` at the input's rate, ``length`` samples in all (``finish`` cuts or pads)."""

    def __init__(self, plan: Plan, rate: int, channels: int, length: int, scale: float):
        mp = plan.vocals.params
        self.plan, self.length, self.scale = plan, length, scale
        self.mono_res, self.mono_stft = Resampler(rate, mp.sample_rate), StftStream(mp)
        models = {"vocals": plan.vocals, "instrumental": plan.instrumental}
        self.masks = {s: MaskStream(models[s], plan.batch_size) for s in plan.masked}
        self.channels = [_Channel(rate, plan) for _ in range(channels)]
        grid = self.channels[0].grid
        self.fb = {s: FullBandMask(mp, grid) for s in plan.masked} if plan.full_band else None
        self.mask_buf = {s: _Columns(mp.bins, np.float32) for s in plan.masked}
        self.applied = 0  # grid frames masked so far
        self.given = 0  # output samples given (per channel)

    def _masks(self, mag: np.ndarray, last: bool = False) -> None:
        """Magnitude frames in; the model's new mask frames (combined) to the buffers."""
        if self.scale > 0:
            new = {s: m.push(mag / self.scale) for s, m in self.masks.items()}
            if last:
                new = {s: np.concatenate([new[s], self.masks[s].finish()], axis=1) for s in new}
        else:  # silence: nothing to separate
            new = {s: np.zeros_like(mag) for s in self.masks}
        new = {s: with_nyquist(m) for s, m in new.items()}
        if self.plan.instrumental is not None:
            new["vocals"], new["instrumental"] = combine_masks(new["vocals"], new["instrumental"],
                                                               self.plan.combine)
        for s, m in new.items():
            (self.fb[s].push(m) if self.fb else self.mask_buf[s].append(m))
            if last and self.fb:
                self.fb[s].finish()

    def _apply(self, last: bool = False) -> dict[str, np.ndarray]:
        a, ch0 = self.applied, self.channels[0]
        if self.fb:
            b = a + min(self.fb[s].ready(a, ch0.spec.end) for s in self.fb)
            masks = {s: self.fb[s].frames(a, b) for s in self.fb}
        else:
            b = min([ch0.spec.end] + [buf.end for buf in self.mask_buf.values()])
            masks = {s: buf.get(a, b) for s, buf in self.mask_buf.items()}
            for buf in self.mask_buf.values():
                buf.drop(b)
        self.applied = b
        outs = [ch.apply(a, b, masks, last) for ch in self.channels]
        return self._give({s: np.stack([o[s] for o in outs]) for s in STEMS}, last)

    def _give(self, out: dict[str, np.ndarray], last: bool) -> dict[str, np.ndarray]:
        """Cut at ``length`` samples; at the end, pad to it (the whole-song separation's ``fit_length``)."""
        k = out["vocals"].shape[1]
        keep = min(k, self.length - self.given)
        out = {s: x[:, :keep] for s, x in out.items()}
        self.given += keep
        if last and self.given < self.length:
            pad = self.length - self.given
            out = {s: np.pad(x, [(0, 0), (0, pad)]) for s, x in out.items()}
            self.given = self.length
        return out

    def push(self, block: np.ndarray) -> dict[str, np.ndarray]:
        """Input float32 ``[channels, m]``; the outputs that are final."""
        self._masks(np.abs(self.mono_stft.push(self.mono_res.push(block.mean(axis=0))))[:-1])
        for ch, x in zip(self.channels, block):
            ch.feed(x)
        return self._apply()

    def finish(self) -> dict[str, np.ndarray]:
        """The rest of the outputs."""
        mono = self.mono_res.finish()
        mag = np.abs(np.concatenate([self.mono_stft.push(mono), self.mono_stft.finish()], axis=1))[:-1]
        self._masks(mag, last=True)
        for ch in self.channels:
            ch.feed(np.zeros(0, np.float32), last=True)
        return self._apply(last=True)


def separate_stream(source, plan: Plan, scale: float, length: int,
                    write: Callable[[dict[str, np.ndarray]], None]) -> None:
    """The second pass (module doc): ``source.blocks()`` (float32 ``[channels, m]`` at ``source.rate``, ``length``
    samples in all, ``scale`` from ``magnitude_scale``) separated, each piece of output handed to ``write``."""
    song = SongStream(plan, source.rate, source.channels, length, scale)
    for block in source.blocks():
        write(song.push(block))
    write(song.finish())
