"""One Dask task of an export: one pair's items (``export_pair``), each written atomically, file by file, with its
``metadata.json`` last (the item's done mark); then the pair's done record under the export's work folder.

A task receives paths or URLs only, so it runs on any worker that reaches them. An item already there with its
key (``metadata.json``) and its files at their recorded sizes is kept, not written again: a killed export resumes
where it stopped, and every file comes out byte for byte as an uninterrupted run writes it.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import numpy as np

import vocalmine
from features.alignmap import AlignmentMap, single
from features.audio import AudioError, decode
from features.shard_config import content_hash
from stems.config import FORMAT, StemsConfig
from stems.items import item_id, item_spans, vocal_activity
from stems.layouts import ACTIVITY, LAYOUTS, METADATA
from stems.plan import StemJob
from stems.postfilter import is_lossy
from stems.render import RenderError, Rendered, render_pair
from vocalmine import storage

log = logging.getLogger(__name__)

#: Folder (under the export) of the pairs' done records.
WORK_DIR = ".work"


def dumps(obj: Any) -> bytes:
    """JSON as every file of an export writes it (stable: the same object gives the same bytes)."""
    return (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def record_path(out_dir: Any, job: StemJob) -> Any:
    return storage.path(out_dir) / WORK_DIR / "pairs" / f"{job.key}.json"


def _rendered(job: StemJob, config: StemsConfig) -> Rendered:
    a = job.alignment
    if not job.original_path or not job.instrumental_path:
        raise RenderError("no-audio-path", "the pair lacks an audio path")
    if not (math.isfinite(a.offset_s) and math.isfinite(a.gain_db)) or a.polarity not in (1, -1):
        raise RenderError("no-alignment", f"offset_s {a.offset_s}, gain_db {a.gain_db}, polarity {a.polarity}")
    try:
        amap = AlignmentMap.from_json(a.map_json) if a.map_json else single(a.offset_s)
    except (ValueError, TypeError, KeyError) as exc:
        raise RenderError("no-alignment", f"unreadable alignment_map: {exc}") from exc
    original, instrumental = decode(job.original_path), decode(job.instrumental_path)
    return render_pair(original, instrumental, amap, a.gain, config, lossy=is_lossy(job.instrumental_path))


def _existing(folder: Any, key: str) -> dict | None:
    """The metadata of a finished item in ``folder`` with ``key`` whose files are there at their sizes."""
    try:
        meta = json.loads(storage.read_bytes(folder / METADATA))
    except (OSError, ValueError):
        return None
    if meta.get("key") != key:
        return None
    for f in meta.get("files", {}).values():
        try:
            if storage.size(folder / f["file"]) != f["bytes"]:
                return None
        except OSError:
            return None
    return meta


def _write_item(folder: Any, job: StemJob, k: int, span: tuple[int, int], rend: Rendered, config: StemsConfig,
                key: str, version: str) -> dict:
    a, b = span
    rate = rend.sample_rate
    stems = {"mixture": rend.mixture[:, a:b], "vocals": rend.vocals[:, a:b], "instrumental": rend.instrumental[:, a:b]}
    files = LAYOUTS[config.layout].write(folder, stems, rate)
    storage.write_bytes(vocal_activity(stems["mixture"], stems["vocals"], rate).encode(), folder / ACTIVITY)
    ev = float(np.sum(stems["vocals"].astype(np.float64) ** 2))
    em = float(np.sum(stems["mixture"].astype(np.float64) ** 2))
    meta = {
        "format": FORMAT,
        "item": item_id(job.pair_id, k),
        **{name: job.info.get(name) for name in ("pair_id", "original_id", "instrumental_id", "artist",
                                                  "original_title", "instrumental_title")},
        "split": job.split,
        "layout": config.layout,
        "start_s": round(a / rate, 6),
        "end_s": round(b / rate, 6),
        "seconds": round((b - a) / rate, 6),
        "samples": b - a,
        "sample_rate": rate,
        "channels": int(rend.mixture.shape[0]),
        "files": files,
        "vocal_activity": ACTIVITY,
        "alignment_map": job.info.get("alignment_map"),
        "measures": {
            "pair": job.info.get("pair_measures", {}),
            "export": {**rend.measures, "vocals_re_mixture_db": round(10 * math.log10(max(ev, 1e-30) / max(em, 1e-30)),
                                                                      3)},
        },
        "code_version": version,
        "key": key,
    }
    storage.write_bytes(dumps(meta), folder / METADATA)
    return meta


def item_record(meta: dict) -> dict:
    """An item's entry in the pair's done record and the manifest."""
    return {
        "item": meta["item"], "split": meta["split"], "path": f"{meta['split']}/{meta['item']}",
        "pair_id": meta["pair_id"], "start_s": meta["start_s"], "end_s": meta["end_s"], "seconds": meta["seconds"],
        "samples": meta["samples"], "sample_rate": meta["sample_rate"], "channels": meta["channels"],
        "files": meta["files"],
    }


def export_pair(job: StemJob, out_dir: str, config: StemsConfig) -> dict:
    """Dask task: ``job``'s items under ``out_dir`` (see the module doc). Returns ``{"pair_id", "items": [...]}``,
    or ``{"pair_id", "reason", "detail"}`` when the pair gives no item; never raises for a bad pair."""
    try:
        rend = _rendered(job, config)
    except (AudioError, RenderError) as exc:
        log.warning("skipping %s: %s", job.pair_id, exc)
        return {"pair_id": job.pair_id, "reason": exc.reason, "detail": exc.detail}
    except Exception as exc:  # one bad pair never stops the export; its reason goes to the manifest
        log.exception("skipping %s: unexpected error", job.pair_id)
        return {"pair_id": job.pair_id, "reason": "error", "detail": f"{type(exc).__name__}: {exc}"}
    spans = item_spans(rend.trusted, rend.sample_rate, config.min_item_s)
    if not spans:
        longest = max((b - a for a, b in rend.trusted), default=0) / rend.sample_rate
        return {"pair_id": job.pair_id, "reason": "too-little-trusted",
                "detail": f"no run of trusted audio of at least {config.min_item_s:g} s "
                          f"(the longest is {longest:.2f} s)"}
    version = vocalmine.code_version()
    items = []
    for k, span in enumerate(spans, start=1):
        folder = storage.path(out_dir) / job.split / item_id(job.pair_id, k)
        key = content_hash([job.key, k, list(span), version])
        meta = _existing(folder, key) or _write_item(folder, job, k, span, rend, config, key, version)
        items.append(item_record(meta))
    result = {"pair_id": job.pair_id, "items": items}
    storage.write_bytes(dumps(result), record_path(out_dir, job))
    return result
