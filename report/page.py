"""The self-contained HTML page: static sections rendered here (every string escaped), the pair table by the
inline script from the embedded JSON.

Safety: catalog strings reach the page only (a) escaped with ``html.escape`` in the static sections, or
(b) inside the ``application/json`` data block with ``<``, ``>`` and ``&`` written as ``\\u003c``-style escapes,
from which the script renders them with ``textContent``. A Content-Security-Policy allows only the page's own
script (by its SHA-256), so even a string that escaped both would run nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from importlib import resources
from typing import Any


def asset(name: str) -> str:
    """The text of ``report/assets/<name>``: the page's CSS and script, package data (no CDN, no server: the page
    opens from disk, offline). The script builds the table with ``createElement`` and ``textContent`` only."""
    return (resources.files("report") / "assets" / name).read_text(encoding="utf-8")


# Inlined in the page, each opening on a new line after its tag; the CSP hashes the script's exact text.
CSS = "\n" + asset("report.css")
JS = "\n" + asset("report.js")

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def json_for_script(obj: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&`` can close the tag."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, rep in _JSON_ESCAPES.items():
        text = text.replace(ch, rep)
    return text


def _n(v: Any) -> str:
    return "\u2013" if v is None else f"{v:,}" if isinstance(v, int) else f"{v:,.2f}"


def _hours(h: float | None) -> str:
    if h is None:
        return "\u2013"
    return f"{h:,.2f} h" if h >= 1 else f"{h * 60:,.1f} min"


def _reason_table(table_id: str, reasons: dict[str, int], empty: str) -> str:
    if not reasons:
        return f'<p class="legend-note" id="{table_id}-none">{esc(empty)}</p>'
    rows = "".join(
        f'<tr data-reason="{esc(k)}"><td>{esc(k)}</td><td class="num" data-value="{v}">{_n(v)}</td></tr>'
        for k, v in reasons.items()
    )
    return f'<table class="small" id="{table_id}"><tr><th>reason</th><th class="num">count</th></tr>{rows}</table>'


def funnel_section(fig: dict[str, Any]) -> str:
    f = fig["funnel"]
    audio = fig["mode"] == "audio"
    cards = []
    accepted = next((s["value"] for s in f["stages"] if s["key"] == "accepted"), None)
    cards.append(("candidates", "candidate pairs", _n(next(s["value"] for s in f["stages"] if s["key"] == "candidates")),
                  ""))
    if audio:
        cards.append(("accepted", "accepted pairs", _n(accepted), "acc"))
        cards.append(("hours", "hours of paired audio", _hours(f.get("hours_accepted")), "acc"))
        cards.append(("flagged", "accepted pairs flagged", _n(fig["flags"]["flagged_pairs"]), "flag"))
    card_html = "".join(
        f'<div class="card {cls}" data-key="{key}"><span class="value">{esc(value)}</span>'
        f'<span class="label">{esc(label)}</span></div>'
        for key, label, value, cls in cards
    )
    top = max([s["value"] or 0 for s in f["stages"]] + [1])
    bars = "".join(
        f'<div class="funnel-row" data-key="{esc(s["key"])}"><span class="label">{esc(s["label"])}</span>'
        f'<span class="bar" style="width:{100.0 * (s["value"] or 0) / top:.2f}%"></span>'
        f'<span class="value" data-value="{"" if s["value"] is None else s["value"]}">{_n(s["value"])}</span></div>'
        for s in f["stages"]
    )
    extra = ", ".join(f"{k.replace('_', ' ')}: {_n(v)}" for k, v in f.get("metadata_extra", {}).items())
    parts = [f'<section id="funnel"><h2>Funnel</h2><div class="cards">{card_html}</div>{bars}']
    if extra:
        parts.append(f'<p class="legend-note">Metadata stage: {esc(extra)}.</p>')
    parts.append('<div class="cols"><div><h3>Catalog rows rejected</h3>')
    parts.append(_reason_table("catalog-reasons", f["catalog_rejected_by_reason"], "No catalog row was rejected."))
    parts.append('</div><div><h3>Candidates rejected by the audio check</h3>')
    if audio:
        parts.append(_reason_table("audio-reasons", f["audio_rejected_by_reason"], "No candidate was rejected."))
    else:
        parts.append('<p class="notice" id="audio-absent">No audio stage in this run (<code>mine-pairs '
                     '--metadata-only</code>): there are candidates but no verdicts, alignments, hours or '
                     'audio measurements yet. Run <code>mine-pairs</code> without <code>--metadata-only</code> '
                     'to verify the candidates by their audio.</p>')
    parts.append("</div></div>")
    for w in fig["warnings"]:
        parts.append(f'<p class="warn">{esc(w)}</p>')
    parts.append("</section>")
    return "".join(parts)


def flags_section(fig: dict[str, Any]) -> str:
    if fig["mode"] != "audio":
        return ('<section id="flags"><h2>Flags</h2><p class="notice">Flags need the audio measurements; this run '
                'has none (metadata only).</p></section>')
    fl = fig["flags"]
    rows = "".join(
        f'<tr data-flag="{esc(k)}"><td class="flags">{esc(k)}</td><td class="num" data-value="{fl["counts"][k]}">'
        f'{_n(fl["counts"][k])}</td><td>{esc(fl["definitions"][k])}</td></tr>'
        for k in fl["definitions"]
    )
    return ('<section id="flags"><h2>Flags: accepted pairs worth a look</h2>'
            f'<table class="small"><tr><th>flag</th><th class="num">pairs</th><th>rule</th></tr>{rows}</table>'
            '<p class="legend-note">Filter the table below by flag to list them; flagged pairs carry spectrograms '
            'and clips (up to the bound stated at the end).</p></section>')


def distributions_section(fig: dict[str, Any], plots: dict[str, str]) -> str:
    items = []
    for col, d in fig["distributions"].items():
        if col not in plots:
            items.append(f'<figure data-col="{esc(col)}"><div class="unavailable">{esc(d["title"])}: '
                         f'{esc(d.get("why", "no data"))}</div></figure>')
            continue
        medians = ", ".join(f"{k} median {v:.3g}" for k, v in d["median"].items() if v is not None)
        lines = "; ".join(f'{t["label"]} ({t["source"]})' for t in d["thresholds"] if t["label"])
        missing = f'; {d["missing"]} pairs without this measurement' if d.get("missing") else ""
        caption = f"{d['title']}: {medians}{missing}." + (f" Lines: {lines}." if lines else "")
        items.append(f'<figure data-col="{esc(col)}"><img class="plot" src="{plots[col]}" '
                     f'alt="histogram of {esc(d["title"])}"><figcaption>{esc(caption)}</figcaption></figure>')
    legend = ("accepted and rejected pairs in contrasting colours; dashed lines: the run's acceptance thresholds, "
              "dotted: the report's flag rules" if fig["mode"] == "audio" else
              "metadata candidates; dashed lines: the miner's thresholds")
    return (f'<section id="distributions"><h2>Distributions</h2><p class="legend-note">{esc(legend)}.</p>'
            f'<div class="grid">{"".join(items)}</div></section>')


def groups_section(fig: dict[str, Any]) -> str:
    groups = fig["groups"]
    if not groups:
        return ('<section id="groups"><h2>Pairs by genre, label and year</h2><p class="legend-note">The catalog '
                'has no genre, label or release date values.</p></section>')
    audio = fig["mode"] == "audio"
    tables = []
    for name, g in groups.items():
        head = ('<tr><th>' + esc(name) + '</th><th class="num">candidates</th>'
                + ('<th class="num">accepted</th>' if audio else "") + f'<th class="num">% of {esc(g["share_of"])}'
                '</th></tr>')
        body = "".join(
            f'<tr><td>{esc(r["value"])}</td><td class="num">{_n(r["candidates"])}</td>'
            + (f'<td class="num">{_n(r["accepted"])}</td>' if audio else "")
            + f'<td class="num">{r["share"]:.1f}</td></tr>'
            for r in g["rows"]
        )
        tables.append(f'<div><h3>By {esc(name)} ({g["values"]} values)</h3>'
                      f'<table class="small" id="group-{esc(name)}">{head}{body}</table></div>')
    return ('<section id="groups"><h2>Pairs by genre, label and year</h2><p class="legend-note">The share of '
            + ("accepted pairs" if audio else "candidates") + ' per value, as in Table 1 of Jansson et al. (2017).'
            f'</p><div class="cols">{"".join(tables)}</div></section>')


def table_section(fig: dict[str, Any]) -> str:
    return (
        '<section id="pairs"><h2>Pairs</h2><div class="controls">'
        '<label>Status <select id="f-status"></select></label>'
        '<label>Reason <select id="f-reason"></select></label>'
        '<label>Flag <select id="f-flag"></select></label>'
        '<label>Search <input id="f-text" type="search" placeholder="title, artist or id"></label>'
        '<label><input id="f-media" type="checkbox"> with clips only</label>'
        '<button id="f-reset" type="button">Reset</button><span id="match-count"></span></div>'
        '<p class="legend-note">Click a header to sort, a row to see its details (\u266A: spectrograms and clips). '
        'The min/max boxes filter each quality column.</p>'
        '<div class="table-wrap"><table id="pairs-table"><thead></thead><tbody></tbody></table></div>'
        '<div class="pager"><button id="p-first" type="button">\u00AB</button>'
        '<button id="p-prev" type="button">\u2039</button><span id="p-info"></span>'
        '<button id="p-next" type="button">\u203A</button><button id="p-last" type="button">\u00BB</button></div>'
        "</section>"
    )


def left_out_section(fig: dict[str, Any]) -> str:
    items = "".join(f"<li>{esc(s)}</li>" for s in fig["left_out"])
    return f'<section id="left-out"><h2>What this page leaves out</h2><ul class="left-out">{items}</ul></section>'


def render_page(fig: dict[str, Any], plots: dict[str, str], payload: dict[str, Any]) -> str:
    """The whole page as a string."""
    script_hash = base64.b64encode(hashlib.sha256(JS.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{script_hash}'")
    meta = (f'{fig["pairs_dir"]} \u00B7 {fig["mode"]} \u00B7 generated {fig["generated_at"]} '
            f'\u00B7 vocalmine {fig["code_version"]}')
    body = "".join([
        funnel_section(fig), flags_section(fig), distributions_section(fig, plots), groups_section(fig),
        table_section(fig), left_out_section(fig),
    ])
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>Pair-quality report \u2014 {esc(fig["pairs_dir_name"])}</title>'
        '<link rel="icon" href="data:,">'
        f"<style>{CSS}</style></head><body>"
        f'<header><h1>Pair-quality report</h1><p class="meta">{esc(meta)}</p></header>'
        f"<main>{body}</main>"
        f'<script type="application/json" id="pair-data">{json_for_script(payload)}</script>'
        f"<script>{JS}</script></body></html>\n"
    )
