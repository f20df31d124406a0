"""Histograms of the report's distributions (matplotlib, Agg backend) as SVG data URIs.

Drawn from the figures dict (``report.distributions.distributions``), so the plot shows exactly report.json's counts.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib
import numpy as np

from features.alignmap import AlignmentMap

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: Colour-blind-safe contrast (Okabe-Ito blue and vermillion); metadata-only candidates in grey.
COLOURS = {"accepted": "#0072B2", "rejected": "#D55E00", "candidates": "#555555"}
THRESHOLD_STYLE = {"accept": {"color": "#111111", "linestyle": "--"}, "flag": {"color": "#7B2FBE", "linestyle": ":"}}


def histogram_svg(entry: dict[str, Any]) -> str:
    """An ``image/svg+xml`` data URI of one distribution: one bar series per status, threshold lines on top."""
    edges = entry["edges"]
    with plt.rc_context({"svg.fonttype": "none", "font.size": 8, "svg.hashsalt": entry["column"]}):
        fig, ax = plt.subplots(figsize=(4.2, 2.5), dpi=100)
        for name, counts in entry["counts"].items():
            colour = COLOURS.get(name, "#777777")
            # One filled step path per series (not one path per bar): a small SVG whatever the bin count.
            ax.stairs(counts, edges, fill=True, alpha=0.45, color=colour, label=f"{name} ({entry['n'][name]})")
            ax.stairs(counts, edges, color=colour, linewidth=1.0)
        labelled = set()
        for t in entry.get("thresholds", []):
            style = THRESHOLD_STYLE[t["kind"]]
            label = ("run threshold" if t["kind"] == "accept" else "report flag") if t["kind"] not in labelled else None
            labelled.add(t["kind"])
            ax.axvline(t["value"], linewidth=1.2, label=label, **style)
        ax.set_xlabel(f"{entry['title']} ({entry['unit']})")
        ax.set_ylabel("pairs")
        ax.spines[["top", "right"]].set_visible(False)
        # Legend in one row above the axes, never over the bars.
        ax.legend(frameon=False, fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=4,
                  borderaxespad=0.2, handlelength=1.6, columnspacing=1.0)
        fig.tight_layout(pad=0.4)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def alignment_map_svg(amap: AlignmentMap, seconds: float) -> str:
    """An ``image/svg+xml`` data URI of a pair's alignment map (``features.alignmap.AlignmentMap``) over the
    original's ``seconds``: each segment's offset (ms, one colour per segment; the drift makes it slope), the
    trusted spans (shaded) and the slowly varying gain (dB)."""
    palette = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
    with plt.rc_context({"svg.fonttype": "none", "font.size": 8, "svg.hashsalt": "alignment-map"}):
        fig, (ax, gx) = plt.subplots(2, 1, figsize=(6.0, 2.6), dpi=100, sharex=True,
                                     gridspec_kw={"height_ratios": [2, 1]})
        for a, b in amap.trusted or ():
            for axis in (ax, gx):
                axis.axvspan(a, b, color="#009E73", alpha=0.12, linewidth=0)
        for k, seg in enumerate(amap.segments):
            t = np.array([max(seg.start_s, 0.0), min(seg.end_s, seconds)])
            ax.plot(t, 1000 * (seg.offset_s + (amap.drift - 1.0) * t), color=palette[k % len(palette)], linewidth=2,
                    label=f"segment {k + 1}: {seg.offset_s * 1000:.1f} ms")
            if k:
                ax.axvline(seg.start_s, color="#555555", linestyle=":", linewidth=1)
        ax.set_ylabel("offset (ms)")
        drift = f", drift {(amap.drift - 1.0) * 1e6:+.0f} ppm" if amap.drift != 1.0 else ""
        ax.set_title(f"alignment map: {len(amap.segments)} segment(s){drift}; shaded: trusted", fontsize=8)
        ax.legend(frameon=False, fontsize=7, loc="best")
        if amap.gain_db:
            t = np.arange(len(amap.gain_db)) * amap.gain_step_s
            gx.plot(t, amap.gain_db, color="#555555", linewidth=1)
        gx.axhline(0, color="#999999", linewidth=0.5)
        gx.set_ylabel("gain (dB)")
        gx.set_xlabel("original (s)")
        gx.set_xlim(0, seconds)
        for axis in (ax, gx):
            axis.spines[["top", "right"]].set_visible(False)
        fig.tight_layout(pad=0.4)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
        plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
