"""The alignment map's search: segments with their own offsets, and one clock drift, from local lags.

Run only when one global offset does not explain the pair (``verify.verify_pair``), so a well-behaved pair never
pays for it. Signals are float32 mono ``[samples]`` at ``sr``; lags in samples, ``inst[t + lag(t)] ~= acc[t]``.

Windows of ``map_window_s`` every ``map_step_s`` across the original each find their best lag within
``+-map_search_s`` of the global one (normalised correlation of pre-emphasised signals). Confident windows,
in time order, are chained into segments whose lags lie on one straight line; one slope (the drift) is then
fitted to all segments together, each keeping its own intercept (its offset). A boundary between two
segments is placed where the original switches from matching the one to matching the other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from features.alignmap import AlignmentMap, Segment
from features.audio import resample
from pairing.align import peak_lag
from pairing.config import PairingConfig

#: Windows spread over the song that the map search tries first; none aligning ends the search.
SCOUTS = 8


@dataclass(frozen=True)
class LocalLags:
    centres: np.ndarray  # window centres in the original, samples [windows]
    lags: np.ndarray  # best lag, samples (nan: silent window) [windows]
    peaks: np.ndarray  # its normalised correlation (0 when silent) [windows]


def _window_lag(o_pre: np.ndarray, i_pre: np.ndarray, p: int, window: int, energy: float,
                tries: list[tuple[int, int]], min_peak: float) -> tuple[float, float]:
    """Lag and peak of the original's window at ``p``: the first of ``tries`` (centre lag, reach) whose peak
    reaches ``min_peak``, else the last one searched ((nan, 0) when none fits in the instrumental)."""
    lag, peak = float("nan"), 0.0
    for centre, reach in tries:
        lo, hi = max(0, p + centre - reach), min(len(i_pre), p + centre + window + reach)
        if hi - lo < window + 2:
            continue
        lag, peak = peak_lag(i_pre[lo:hi], o_pre[p : p + window], energy, lo, p)
        if peak >= min_peak:
            break
    return lag, peak


def local_lags(o_pre: np.ndarray, i_pre: np.ndarray, lag: float, sr: int, config: PairingConfig) -> LocalLags:
    """Best lag of each window of the original within ``+-map_search_s`` of ``lag`` (pre-emphasised signals).

    Scouted first: when none of ``SCOUTS`` windows spread over the song aligns anywhere within the search (an
    unrelated recording, a time-stretch), no window is searched further (all lags nan): the wide search of every
    window is what such a pair cost."""
    window = int(config.map_window_s * sr)
    step = max(int(config.map_step_s * sr), (len(o_pre) - window) // max(1, config.map_max_windows - 1) + 1)
    search = int(config.map_search_s * sr)
    positions = np.arange(0, max(1, len(o_pre) - window + 1), step)
    level = float(np.mean(o_pre.astype(np.float64) ** 2)) + 1e-20
    lags = np.full(len(positions), np.nan)
    peaks = np.zeros(len(positions))
    base = int(round(lag))
    near = int(config.window_search_s * sr)
    energies = [float(np.sum(o_pre[p : p + window].astype(np.float64) ** 2)) for p in positions]
    sounding = [k for k, e in enumerate(energies) if e >= level * window * 1e-3]
    scouts = [sounding[int(j)] for j in np.unique(np.linspace(0, len(sounding) - 1, SCOUTS).astype(int))] \
        if sounding else []
    if not any(_window_lag(o_pre, i_pre, int(positions[k]), window, energies[k], [(base, near), (base, search)],
                           config.map_min_peak)[1] >= config.map_min_peak for k in scouts):
        return LocalLags(positions + window / 2, lags, peaks)
    previous = base
    for k in sounding:
        # near the global lag first (a drift stays there), then near the last window's lag (after an edit),
        # the wide search only where neither finds the window
        tries = [(base, near)] + ([(previous, near)] if previous != base else []) + [(base, search)]
        lags[k], peaks[k] = _window_lag(o_pre, i_pre, int(positions[k]), window, energies[k], tries,
                                        config.map_min_peak)
        if peaks[k] >= config.map_min_peak:
            previous = int(round(lags[k]))
    return LocalLags(positions + window / 2, lags, peaks)


@dataclass(frozen=True)
class MapFit:
    """The segments found and how well they explain the windows."""

    amap: AlignmentMap | None  # None when no consistent map exists
    drift: float  # fitted speed ratio (also when out of bounds)
    segment_windows: int  # confident windows on a segment's line
    confident_windows: int
    detail: str  # why there is no map


def _chain(t: np.ndarray, lags: np.ndarray, tol: float, max_slope: float) -> list[list[int]]:
    """Group points (time order) into runs on straight-ish lines; a point off the current run starts a new run
    only when the next point agrees with it, otherwise it is left out."""
    runs: list[list[int]] = []
    current: list[int] = []
    for j in range(len(t)):
        if current:
            last = current[-1]
            if abs(lags[j] - lags[last]) <= tol + max_slope * (t[j] - t[last]):
                current.append(j)
                continue
            nxt = j + 1
            if nxt < len(t) and abs(lags[nxt] - lags[j]) > tol + max_slope * (t[nxt] - t[j]):
                continue  # an outlier: neither the current run nor the next point agrees with it
            runs.append(current)
        current = [j]
    if current:
        runs.append(current)
    return runs


def fit_map(o_pre: np.ndarray, i_pre: np.ndarray, lag: float, sr: int, config: PairingConfig) -> MapFit:
    """Segments and drift of the pair (see module doc). Segment bounds cover the whole original.

    Searched with ``map_window_s`` windows, then, when they give no map, with windows half as long: a drift
    moves the lag within a window (4 samples over 1 s at 0.05 %), which on bright, dense music (cymbals,
    reverb: most of the pre-emphasised energy above 1 kHz) pulls a 1 s window's correlation below
    ``map_min_peak`` even where the instrumental matches the original exactly; half as long halves that smear.
    Searched around ``lag``, then, when that is more than ``map_search_s / 2`` away, around no offset: a drift
    spreads the global correlation's peak so thin that a loop's other beat can win by seconds (-8.7 s against
    the true -0.9 s on a voice 15 dB under a loop-based band), while real instrumentals start within a few
    seconds of their originals.
    """
    centres = [lag] + ([0.0] if abs(lag) > config.map_search_s / 2 * sr else [])
    first = None
    for centre in centres:
        fit = _fit_map(o_pre, i_pre, centre, sr, config)
        if fit.amap is None:
            short = replace(config, map_window_s=config.map_window_s / 2, map_step_s=config.map_step_s / 2)
            second = _fit_map(o_pre, i_pre, centre, sr, short)
            if second.amap is not None:
                return second
        if fit.amap is not None:
            return fit
        first = first or fit
    return first


def _fit_map(o_pre: np.ndarray, i_pre: np.ndarray, lag: float, sr: int, config: PairingConfig) -> MapFit:
    ll = local_lags(o_pre, i_pre, lag, sr, config)
    ok = ll.peaks >= config.map_min_peak
    t, lags = ll.centres[ok], ll.lags[ok]
    n_conf = int(ok.sum())
    if n_conf < max(3, config.min_agreeing_windows):
        return MapFit(None, 1.0, 0, n_conf, f"only {n_conf} windows align anywhere")
    tol = config.map_tolerance_s * sr
    runs = [r for r in _chain(t, lags, tol, config.max_drift) if len(r) >= config.map_min_segment_windows]
    if not runs:
        return MapFit(None, 1.0, 0, n_conf, f"no {config.map_min_segment_windows} neighbouring windows share "
                                            "an offset")
    runs, coef = _line_fit(t, lags, runs, tol, config.map_min_segment_windows)
    if not runs:
        return MapFit(None, 1.0, 0, n_conf, "no run of windows stays on one line")
    if abs(coef[0]) * len(o_pre) < 1.0:  # less than a sample over the whole song: no drift to correct
        runs, coef = _line_fit(t, lags, runs, tol, config.map_min_segment_windows, drift=False)
    slope = float(coef[0])
    inliers = sum(len(r) for r in runs)
    drift = 1.0 + slope
    if abs(slope) > config.max_drift:
        return MapFit(None, drift, inliers, n_conf, f"the instrumental runs {100 * slope:+.2f} % fast or slow "
                                                    f"(more than {100 * config.max_drift:g} %)")
    # merge neighbouring runs on the same line (a vocal-heavy window between them broke the chain)
    merged: list[tuple[list[int], float]] = []
    for k, r in enumerate(runs):
        icpt = float(coef[1 + k])
        if merged and abs(merged[-1][1] - icpt) <= tol * 2:
            merged[-1] = (merged[-1][0] + r, merged[-1][1])
        else:
            merged.append((list(r), icpt))
    if len(merged) > config.max_segments:
        return MapFit(None, drift, inliers, n_conf, f"{len(merged)} segments (more than {config.max_segments})")
    if inliers < config.map_min_share * n_conf:
        return MapFit(None, drift, inliers, n_conf, f"segments explain {inliers} of {n_conf} matching windows "
                                                    f"(need {config.map_min_share:.0%})")
    bounds = [0.0]
    for (ra, ca), (rb, cb) in zip(merged[:-1], merged[1:]):
        bounds.append(_boundary(o_pre, i_pre, t[ra[-1]], t[rb[0]], ca, cb, slope, sr))
    bounds.append(len(o_pre) / sr)
    # offset_s: instrumental time at original time 0 on the segment's line: lag(t) = icpt + slope * t
    segments = tuple(Segment(bounds[k], bounds[k + 1], icpt / sr) for k, (_, icpt) in enumerate(merged))
    amap = _refine(o_pre, i_pre, AlignmentMap(drift, segments), sr)
    return MapFit(amap, amap.drift, inliers, n_conf, "")


def _line_fit(t: np.ndarray, lags: np.ndarray, runs: list[list[int]], tol: float, min_windows: int,
              drift: bool = True) -> tuple[list[list[int]], np.ndarray]:
    """One slope for all runs (none when not ``drift``), an intercept each: least squares on
    ``[t, onehot(run)]``, refitted without the windows further than ``2 * tol``, then ``tol``, then ``tol / 2``
    from their run's line (a run's chain tolerates a drift's slope, so outliers next to a run can join it and
    tilt the line: a song's last hits 30-90 samples off made a drift of 0.05 % one of 0.08 %). Returns the runs
    of inliers (those still holding ``min_windows``) and the coefficients ``[slope, intercept per run]``."""
    coef = np.zeros(1 + len(runs))
    for limit in (2 * tol, 2 * tol, tol, tol / 2):
        if not runs:
            break
        idx = np.concatenate(runs)
        design = np.zeros((len(idx), 1 + len(runs)))
        design[:, 0] = t[idx] if drift else 0.0
        col = np.concatenate([np.full(len(r), 1 + k) for k, r in enumerate(runs)])
        design[np.arange(len(idx)), col] = 1.0
        coef, *_ = np.linalg.lstsq(design, lags[idx], rcond=None)
        resid = np.abs(design @ coef - lags[idx])
        if resid.max() <= tol / 2:
            break
        keep, start = [], 0
        for k, r in enumerate(runs):
            inl = [j for j, e in zip(r, resid[start : start + len(r)]) if e <= limit]
            start += len(r)
            if len(inl) >= min_windows:
                keep.append(inl)
        runs = keep
    return runs, coef


def _refine(o_pre: np.ndarray, i_pre: np.ndarray, amap: AlignmentMap, sr: int, reach: int = 12) -> AlignmentMap:
    """The map with each segment's whole-sample lag (as ``aligned_instrumental`` applies it, on the instrumental
    resampled by the drift) moved to the best correlation of the whole segment within ``+-reach`` samples, and
    without the drift when the map without it (its lags refined likewise) correlates at least as well.

    The fitted line's intercepts carry the 1 s windows' noise (2-3 samples: enough to leave a bright song's
    frames out of step for the trust mask), and a drift of a few tens of ppm fitted to an edited pair's windows
    is noise too (5 samples over 30 s)."""

    def fit(drift: float) -> tuple[float, AlignmentMap]:
        src = i_pre if drift == 1.0 else resample(i_pre, sr, sr / drift)
        num = den_o = den_i = 0.0
        segments = []
        for seg in amap.segments:
            a, b = int(round(seg.start_s * sr)), int(round(seg.end_s * sr))
            mid = (seg.start_s + seg.end_s) / 2
            centre = int(round((seg.offset_s + (amap.drift - drift) * mid) / drift * sr))
            best, best_lag = -1.0, centre
            for lag in range(centre - reach, centre + reach + 1):
                lo, hi = max(a, -lag), min(b, len(src) - lag)
                if hi - lo < sr:
                    continue
                v = abs(float(np.dot(o_pre[lo:hi], src[lo + lag : hi + lag])))
                if v > best:
                    best, best_lag = v, lag
            lo, hi = max(a, -best_lag), min(b, len(src) - best_lag)
            if hi > lo:
                num += max(best, 0.0)
                den_o += float(np.dot(o_pre[lo:hi], o_pre[lo:hi]))
                den_i += float(np.dot(src[lo + best_lag : hi + best_lag], src[lo + best_lag : hi + best_lag]))
            segments.append(Segment(seg.start_s, seg.end_s, best_lag * drift / sr))
        return num / np.sqrt(max(den_o * den_i, 1e-30)), AlignmentMap(drift, tuple(segments))

    score, refined = fit(amap.drift)
    if amap.drift != 1.0:
        plain_score, plain = fit(1.0)
        if plain_score >= score:
            return plain
    return refined


def _boundary(o_pre: np.ndarray, i_pre: np.ndarray, ta: float, tb: float, ca: float, cb: float, slope: float,
              sr: int) -> float:
    """Where (s) between window centres ``ta < tb`` (samples) the original stops matching line ``ca`` and
    starts matching line ``cb``: the split of 1/16 s blocks that maximises the summed correlation."""
    block = max(1, sr // 16)
    starts = np.arange(int(ta), int(tb) - block + 1, block)
    if len(starts) < 2:
        return (ta + tb) / 2 / sr

    def corr(c: float) -> np.ndarray:
        out = np.zeros(len(starts))
        for k, p in enumerate(starts):
            q = int(round(p + c + slope * p))
            if q < 0 or q + block > len(i_pre):
                continue
            a, b = o_pre[p : p + block].astype(np.float64), i_pre[q : q + block].astype(np.float64)
            den = np.sqrt(float(a @ a) * float(b @ b))
            out[k] = abs(float(a @ b)) / den if den > 0 else 0.0
        return out

    ra, rb = corr(ca), corr(cb)
    # split after block j: sum(ra[:j]) + sum(rb[j:])
    score = np.concatenate([[0.0], np.cumsum(ra)]) + np.concatenate([np.cumsum(rb[::-1])[::-1], [0.0]])
    j = int(np.argmax(score))
    return float(starts[0] + j * block) / sr
