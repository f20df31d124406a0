"""Which files of an output folder a shard build may remove or replace: only those it can prove it wrote.

A build removes ``manifest.json`` (while it remakes the build), shards no plan names, temporary files of
interrupted writes and ``.work/``; it writes ``{train,valid,test}/part-NNNNN.parquet``. Before it touches
anything, ``check_shard_folder`` finds every file there it would remove or replace and proves each one its own:

- ``manifest.json``: a JSON object with ``format`` ``vocalmine-shards/1`` and a ``build_key``;
- a shard: named ``part-NNNNN.parquet`` (five digits) with the content hash ``write_shard`` stores in its footer;
- a temporary file: ``.part-NNNNN.parquet.tmp-XXXXXXXX`` (``vocalmine.storage.atomic_path``'s names);
- ``.work/``: only ``parts/<sha1>.npy`` / ``.json`` (and their temporary names).

Anything else with one of those names (Spark's, Dask's and pandas' ``part-00000-c000.snappy.parquet``, a
``manifest.json`` of another tool) makes the folder foreign: ``UserInputError`` listing what was found, and
nothing is changed. Files with other names are never touched, so they do not matter.
"""

from __future__ import annotations

import re
from typing import Any

from features.shard_config import FORMAT
from features.shard_writer import SHARD_NAME, SHARD_TMP, existing_spec
from features.splits import SPLITS
from vocalmine import storage
from vocalmine.errors import UserInputError

MANIFEST = "manifest.json"
WORK_DIR = ".work"
#: Names under .work/parts (a part's patches and its done mark, and their temporary files).
PART_NAME = re.compile(r"\.?[0-9a-f]{40}\.(npy|json)(\.tmp-[0-9a-f]{8})?")


def touched(name: str) -> bool:
    """Whether a build may remove or replace a file of a split folder with this name."""
    return (name.startswith("part-") and name.endswith(".parquet")) or ".tmp-" in name


def own_manifest(path: Any) -> str | None:
    """None when the manifest at ``path`` is one ``build-shards`` wrote (or there is none); else what it is."""
    try:
        data = storage.read_json(path)
    except FileNotFoundError:
        return None
    except ValueError:
        return "not JSON"
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not a shard manifest"
    if data.get("format") != FORMAT or not isinstance(data.get("build_key"), str):
        return f"not a shard manifest: no format {FORMAT!r} and build_key"
    return None


def _foreign_shards(out_dir: Any) -> list[str]:
    found = []
    for split in SPLITS:
        folder = storage.join(out_dir, split)
        for name in storage.listdir(folder):
            if not touched(name) or SHARD_TMP.fullmatch(name):
                continue
            if not SHARD_NAME.fullmatch(name):
                found.append(f"{split}/{name} (not a shard name build-shards writes)")
            elif existing_spec(storage.join(folder, name)) is None:
                found.append(f"{split}/{name} (no build-shards content hash in its footer)")
    return found


def _foreign_work(out_dir: Any) -> list[str]:
    work = storage.join(out_dir, WORK_DIR)
    found = [f"{WORK_DIR}/{n}" for n in storage.listdir(work) if n != "parts"]
    parts = storage.join(work, "parts")
    found += [f"{WORK_DIR}/parts/{n}" for n in storage.listdir(parts) if not PART_NAME.fullmatch(n)]
    return [f"{f} (not a file build-shards writes)" for f in found]


def check_shard_folder(out_dir: Any) -> None:
    """``UserInputError`` when ``out_dir`` holds a file a build would remove or replace that it cannot prove
    its own (see the module doc); a new, empty or own folder passes."""
    found = []
    problem = own_manifest(storage.join(out_dir, MANIFEST))
    if problem is not None:
        found.append(f"{MANIFEST} ({problem})")
    found += _foreign_shards(out_dir) + _foreign_work(out_dir)
    if found:
        more = f"; and {len(found) - 5} more" if len(found) > 5 else ""
        raise UserInputError(f"{out_dir} is not a shard folder of build-shards: it holds {'; '.join(found[:5])}"
                             f"{more}. Nothing was changed: choose a new or empty folder for -o, or move those "
                             "files away")
