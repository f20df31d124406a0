"""Histograms of the report's distributions (matplotlib, Agg backend) as SVG data URIs.

Drawn from the figures dict (``report.data.distributions``), so the plot shows exactly report.json's counts.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

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
