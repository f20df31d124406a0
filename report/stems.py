"""The link from a pair to the items ``export-stems`` made of it (``pair-report --stems DIR``): each accepted pair's
items, their split, length and folder (relative to the report's page, so the page links to them offline)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stems.manifest import read_manifest
from vocalmine import storage
from vocalmine.errors import UserInputError


def exported_items(stems_dir: Any, pairs_dir: Any) -> dict[str, Any]:
    """``{"dir", "layout", "items": {pair_id: [{"item", "split", "seconds", "href"}]}, "skipped": {pair_id:
    reason}}`` of the export in ``stems_dir`` (``href``: the item's folder relative to ``pairs_dir``, or its URL).
    Raises ``UserInputError`` when ``stems_dir`` holds no export's manifest."""
    manifest = read_manifest(stems_dir)
    if manifest is None:
        raise UserInputError(f"--stems {stems_dir}: not an export-stems folder (no manifest.json of an export)")
    url = storage.is_url(stems_dir)
    base = str(stems_dir).rstrip("/") if url else Path(stems_dir).resolve()
    page = None if url or storage.is_url(pairs_dir) else Path(pairs_dir).resolve()
    items: dict[str, list[dict]] = {}
    for item in manifest["items"]:
        where = f"{base}/{item['path']}" if url else base / item["path"]
        href = str(where) if page is None else os.path.relpath(where, page)
        items.setdefault(item["pair_id"], []).append(
            {"item": item["item"], "split": item["split"], "seconds": item["seconds"], "href": href})
    return {"dir": str(base), "layout": manifest["layout"]["name"], "items": items,
            "skipped": {s["pair_id"]: s["reason"] for s in manifest["skipped"]}}
