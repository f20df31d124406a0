"""A local working copy of an output folder that lives on object storage, for writers that need a real
folder (the trainer's CSV log appended line by line, TensorBoard's event files, ``torch.save``).

``staged_folder(url)`` downloads what the folder already holds (so ``--resume`` finds its checkpoint), yields a
local temporary folder, and uploads every file back, each object written whole, when the block ends, also
after an error or Ctrl-C. The local folder is removed only once every file is uploaded: when the upload fails
(the store went away), it is kept and ``UploadFailed`` (exit 2 in the commands) says where it is. Limit: a run
killed outright (SIGKILL, a lost machine) uploads nothing since its start; its last checkpoint is in the local
folder only. For a local path it yields the path itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from vocalmine import storage
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)


def download_tree(url: Any, dest: Path, exclude: tuple[str, ...] = ()) -> int:
    """Copy every object under folder ``url`` into ``dest`` (but those whose relative path starts with one of
    ``exclude``); returns how many."""
    fs, root = storage.filesystem(url)
    n = 0
    with storage.errors_named(url):
        found = fs.find(root) if fs.exists(root) else []
    for key in found:
        rel = key[len(root.rstrip("/")) + 1:]
        if not rel or rel.startswith((".vocalmine.lock", *exclude)):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with storage.errors_named(url):
            fs.get_file(key, str(target))
        n += 1
    return n


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = (Path(dirpath) / name).stat()
            out[(Path(dirpath) / name).relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def upload_tree(src: Path, url: Any, unchanged: dict[str, tuple[int, int]] | None = None) -> int:
    """Upload every file under ``src`` to folder ``url`` (each as one complete object), but those whose
    (size, mtime) is still the one in ``unchanged``; returns how many."""
    n = 0
    unchanged = unchanged or {}
    for dirpath, _, files in os.walk(src):
        for name in sorted(files):
            if ".tmp-" in name:
                continue
            local = Path(dirpath) / name
            rel = local.relative_to(src).as_posix()
            st = local.stat()
            if unchanged.get(rel) == (st.st_size, st.st_mtime_ns):
                continue
            with storage.atomic_path(storage.join(url, rel)) as tmp:
                shutil.copyfile(local, tmp)
            n += 1
    return n


class UploadFailed(UserInputError):
    """A staged folder's files could not all be uploaded; ``local`` is the folder that keeps every one of them."""

    def __init__(self, message: str, local: Path | None = None):
        super().__init__(message)
        self.local = local


def _kept(folder: Any, work: Path, exc: BaseException) -> UploadFailed:
    why = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__
    names = sorted(p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file() and ".tmp-" not in p.name)
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return UploadFailed(
        f"could not upload the files of {folder} ({why}); nothing is lost: they are kept in {work} ({shown}). "
        f"Copy that folder's files to {folder} once the storage answers again, or go on from the local copy",
        work)


@contextlib.contextmanager
def staged_folder(folder: Any, exclude: tuple[str, ...] = ()) -> Iterator[Path]:
    """``folder`` itself when local; for a URL a local copy (without the paths starting with one of
    ``exclude``), whose new and changed files are uploaded back when the block ends. ``UploadFailed`` when that
    upload fails: the local copy is then kept (see the module doc)."""
    if not storage.is_url(folder):
        yield Path(storage.local(folder))
        return
    work = Path(tempfile.mkdtemp(prefix="vocalmine-stage-"))
    keep = False
    try:
        got = download_tree(folder, work, exclude)
        before = _stamps(work)
        log.info("working in %s for %s (%d files fetched)", work, folder, got)
        try:
            yield work
        finally:
            try:
                sent = upload_tree(work, folder, before)
            except Exception as exc:  # noqa: BLE001 - whatever the store raised, the local copy must survive it
                keep = True
                log.debug("upload of %s to %s failed", work, folder, exc_info=True)
                raise _kept(folder, work, exc) from exc
            log.info("uploaded %d files to %s", sent, folder)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
