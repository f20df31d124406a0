"""BSS Eval scores of one song, and summaries over songs. Knows nothing of where the audio came from.

- ``v3`` (the paper's, Jansson et al. 2017 section 4.2): ``mir_eval.separation.bss_eval_sources`` on the whole
  song, mono, no permutation; ``NSDR = SDR(estimate) - SDR(mixture as estimate)``.
- ``v4`` (SiSEC 2018, the MUSDB18 leaderboards): ``museval.evaluate`` (BSS Eval v4, images, 1 s windows and hop,
  all channels); a song's value is the median over its windows (windows where a reference is silent are NaN
  and skipped, as museval's own aggregation does); NSDR is the median SDR of the estimate minus that of the
  mixture. Over songs, the summary's median is then the median of medians, the figure papers report.

Rows: ``{source}_{metric}`` for source in ``SOURCES`` and metric in ``METRICS`` (v4 adds ``{source}_isr``),
plus ``{source}_sdr_mixture``. Summary (the paper's Tables 4 and 5): mean, SD (sample, ddof=1), min, max, median.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from features.audio import fit_length

SOURCES = ("vocals", "accompaniment")
METRICS = ("nsdr", "sdr", "sir", "sar")
STATS = ("mean", "sd", "min", "max", "median")
METRIC_VERSIONS = ("v3", "v4")
#: Level of the white noise that replaces an all-zero estimate (BSS Eval cannot score silence): -180 dBFS.
SILENT_ESTIMATE_NOISE = 1e-9
#: A true vocal stem this far below the mixture (energy ratio, -60 dB) is silent: an instrumental-only song.
SILENT_STEM_RATIO = 1e-6


def _audible(x: np.ndarray, i: int) -> np.ndarray:
    """``x`` with an all-zero signal replaced by faint white noise (seeded by ``i``)."""
    if np.any(x):
        return x
    return SILENT_ESTIMATE_NOISE * np.random.default_rng([0x5111E47, i]).standard_normal(x.shape)


def bss_eval(references: np.ndarray, estimates: np.ndarray) -> dict[str, np.ndarray]:
    """BSS Eval v3: SDR, SIR, SAR (dB) per source of ``estimates`` vs ``references`` (both ``[sources, samples]``).

    ``mir_eval.separation.bss_eval_sources`` without permutation; an all-zero estimate is replaced by white
    noise at ``SILENT_ESTIMATE_NOISE`` so that it gets a (very low) score instead of an error.
    """
    import mir_eval.separation  # imported on first use: scoring only, and only the version asked for

    est = np.array(estimates, dtype=np.float64)
    est = np.stack([_audible(e, i) for i, e in enumerate(est)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
            np.asarray(references, np.float64), est, compute_permutation=False
        )
    return {"sdr": sdr, "sir": sir, "sar": sar}


def bss_eval_v4(references: np.ndarray, estimates: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """BSS Eval v4 per window: SDR, ISR, SIR, SAR ``[sources, windows]`` of ``[sources, samples, channels]``
    signals, 1 s windows and hop at ``sample_rate`` (``museval.evaluate``, mode v4)."""
    import museval  # imported on first use: scoring only, and only the version asked for

    est = np.array(estimates, dtype=np.float64)
    est = np.stack([_audible(e, i) for i, e in enumerate(est)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdr, isr, sir, sar = museval.evaluate(np.asarray(references, np.float64), est, win=sample_rate,
                                              hop=sample_rate, mode="v4", padding=True)
    return {"sdr": sdr, "isr": isr, "sir": sir, "sar": sar}


def _track_median(frames: np.ndarray) -> float:
    frames = np.asarray(frames, np.float64)
    frames = frames[np.isfinite(frames)]
    return float(np.median(frames)) if len(frames) else math.nan


def _channels_last(x: np.ndarray) -> np.ndarray:
    """``[samples]`` -> ``[samples, 1]``; ``[channels, samples]`` -> ``[samples, channels]``."""
    x = np.asarray(x, np.float64)
    return x[:, None] if x.ndim == 1 else x.T


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x if x.ndim == 1 else x.mean(axis=0)


def silent_sources(stems) -> list[str]:
    """Names of the true sources that are silent (energy below ``SILENT_STEM_RATIO`` of the mixture's)."""
    mix = float(np.sum(np.square(stems.mixture, dtype=np.float64)))
    out = []
    for s in SOURCES:
        e = float(np.sum(np.square(getattr(stems, s), dtype=np.float64)))
        if e == 0.0 or e <= SILENT_STEM_RATIO * mix:
            out.append(s)
    return out


def level_db(estimate: np.ndarray, mixture: np.ndarray) -> float:
    """Energy of ``estimate`` relative to ``mixture`` in dB (floored at -200 dB)."""
    e = float(np.sum(np.square(estimate, dtype=np.float64)))
    m = float(np.sum(np.square(mixture, dtype=np.float64)))
    return 10 * math.log10(max(e, 1e-20 * m, 1e-30) / max(m, 1e-30))


def score_song(stems, estimates: dict[str, np.ndarray], metrics: str = "v3",
               mixture_sdr: list[float] | None = None) -> dict[str, float]:
    """Metrics of one song (see the module doc); ``stems`` holds the true signals (``[samples]``, or
    ``[channels, samples]`` for v4; v3 mixes channels to mono) and ``estimates`` has the same shapes.
    ``mixture_sdr``: the song's ``mixture_sdr(stems, metrics)`` when already computed (it is per song, not per
    system).

    Raises ``ValueError`` when a true stem is silent (BSS Eval is undefined then).
    """
    for name in silent_sources(stems):
        raise ValueError(f"silent-reference: the true {name} are all zeros")
    if metrics not in METRIC_VERSIONS:
        raise ValueError(f"unknown metrics {metrics!r} (known: {', '.join(METRIC_VERSIONS)})")
    n = np.shape(stems.mixture)[-1]
    if metrics == "v3":
        refs = np.stack([_mono(getattr(stems, s)) for s in SOURCES])
        est = np.stack([fit_length(_mono(estimates[s]).reshape(-1), n) for s in SOURCES])
        got = bss_eval(refs, est)
        agg = {m: [float(v) for v in got[m]] for m in got}
    else:
        refs = np.stack([_channels_last(getattr(stems, s)) for s in SOURCES])
        est = np.stack([_channels_last(estimates[s])[:n] for s in SOURCES])
        got = bss_eval_v4(refs, est, stems.sample_rate)
        agg = {m: [_track_median(v) for v in got[m]] for m in got}
    agg_mix = mixture_sdr if mixture_sdr is not None else mixture_sdr_of(stems, metrics)
    row: dict[str, float] = {}
    for i, s in enumerate(SOURCES):
        for m in agg:
            row[f"{s}_{m}"] = agg[m][i]
        row[f"{s}_sdr_mixture"] = agg_mix[i]
        row[f"{s}_nsdr"] = agg["sdr"][i] - agg_mix[i]
    return row


def mixture_sdr_of(stems, metrics: str = "v3") -> list[float]:
    """SDR of the mixture as the estimate of each source (``SOURCES`` order): the baseline of NSDR."""
    if metrics == "v3":
        refs = np.stack([_mono(getattr(stems, s)) for s in SOURCES])
        return [float(v) for v in bss_eval(refs, np.stack([_mono(stems.mixture)] * 2))["sdr"]]
    refs = np.stack([_channels_last(getattr(stems, s)) for s in SOURCES])
    base = bss_eval_v4(refs, np.stack([_channels_last(stems.mixture)] * 2), stems.sample_rate)
    return [_track_median(v) for v in base["sdr"]]


def summarize(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """``{source: {metric: {mean, sd, min, max, median}}}`` over the songs' rows (NaN values skipped)."""
    out: dict = {}
    for s in SOURCES:
        out[s] = {}
        for m in METRICS:
            v = np.array([r[f"{s}_{m}"] for r in rows], np.float64)
            v = v[np.isfinite(v)]
            if len(v) == 0:
                out[s][m] = {k: math.nan for k in STATS}
                continue
            out[s][m] = {
                "mean": float(v.mean()),
                "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                "min": float(v.min()),
                "max": float(v.max()),
                "median": float(np.median(v)),
            }
    return out


def summarize_levels(rows: list[dict], limit_db: float = -10.0) -> dict:
    """Over instrumental-only songs: mean and max vocal-estimate level (dB re mixture), songs at or below ``limit_db``."""
    v = np.array([r["vocals_level_db"] for r in rows], np.float64)
    if len(v) == 0:
        return {"songs": 0, "mean_db": math.nan, "max_db": math.nan, "at_or_below_limit": 0, "limit_db": limit_db}
    return {"songs": len(v), "mean_db": float(v.mean()), "max_db": float(v.max()),
            "at_or_below_limit": int(np.sum(v <= limit_db)), "limit_db": limit_db}


def summary_markdown(summary: dict, songs: int, title: str = "") -> str:
    """The summary as a Markdown table: one row per (source, metric), dB."""
    lines = [f"{title} ({songs} songs, dB)" if title else f"{songs} songs, dB", "",
             "| source | metric | mean | SD | min | max | median |", "|---|---|---:|---:|---:|---:|---:|"]
    for s in SOURCES:
        for m in METRICS:
            st = summary[s][m]
            lines.append(f"| {s} | {m.upper()} | " + " | ".join(f"{st[k]:.2f}" for k in STATS) + " |")
    return "\n".join(lines) + "\n"
