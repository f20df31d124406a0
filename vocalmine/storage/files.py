"""Reading, writing and querying files and objects, for a local path or an fsspec URL.

Local paths use the operating system directly. Writes are atomic everywhere: locally a temporary name beside the
target and a rename; on an object store a local temporary file uploaded once, complete, so an interrupted run
never leaves a half object that looks whole (S3 and GCS make a single put visible all at once).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import posixpath
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any, Iterator

from vocalmine.errors import UserInputError
from vocalmine.storage.backends import errors_named, filesystem
from vocalmine.storage.names import is_url, local, protocol


# ------------------------------------------------------------------------------------------------ queries


def _info(url: Any) -> dict | None:
    """fsspec's ``info`` of a URL, None when nothing is there; other errors (credentials, endpoint) raise, so a
    refused key is not mistaken for a missing file."""
    fs, p = filesystem(url)
    try:
        with errors_named(url):
            return fs.info(p)
    except FileNotFoundError:
        return None


def exists(path: Any) -> bool:
    if not is_url(path):
        return os.path.exists(local(path))
    return _info(path) is not None


def isdir(path: Any) -> bool:
    if not is_url(path):
        return os.path.isdir(local(path))
    info = _info(path)
    return info is not None and info.get("type") == "directory"


def isfile(path: Any) -> bool:
    if not is_url(path):
        return os.path.isfile(local(path))
    info = _info(path)
    return info is not None and info.get("type") == "file"


def size(path: Any) -> int:
    if not is_url(path):
        return os.path.getsize(local(path))
    fs, p = filesystem(path)
    with errors_named(path):
        return int(fs.size(p))


def listdir(path: Any) -> list[str]:
    """Names (not paths) in folder ``path``, sorted; empty when it does not exist."""
    if not is_url(path):
        try:
            return sorted(os.listdir(local(path)))
        except FileNotFoundError:
            return []
    fs, p = filesystem(path)
    try:
        with errors_named(path):
            return sorted(posixpath.basename(e.rstrip("/")) for e in fs.ls(p, detail=False))
    except FileNotFoundError:
        return []


def glob(pattern: Any) -> list[Any]:
    """Paths (or URLs) matching ``pattern``, sorted."""
    if not is_url(pattern):
        import glob as _glob

        return sorted(Path(p) for p in _glob.glob(local(pattern)))
    fs, p = filesystem(pattern)
    proto = protocol(pattern)
    with errors_named(pattern):
        return sorted(m if "://" in m else f"{proto}://{m}" for m in fs.glob(p))  # http keeps whole URLs


def find(root: Any, skip_hidden: bool = True) -> list[tuple[Any, list]]:
    """Every file under folder ``root`` (at any depth) with its ``stamp``, sorted by path: ``[(path or URL,
    stamp)]``; one listing on an object store (no request per object). ``skip_hidden``: leave out names that
    start with a dot, and what lies under them. Empty when ``root`` is not a folder."""
    if not is_url(root):
        out = []
        for folder, dirs, files in os.walk(local(root)):
            if skip_hidden:
                dirs[:] = [d for d in dirs if not d.startswith(".")]
            for f in files:
                if skip_hidden and f.startswith("."):
                    continue
                path = os.path.join(folder, f)
                try:
                    st = os.stat(path)
                except OSError:  # gone since the listing, or a broken link: the caller never sees it
                    continue
                out.append((path, [st.st_size, st.st_mtime_ns]))
        return sorted(out)
    fs, p = filesystem(root)
    proto = protocol(root)
    base = p.rstrip("/") + "/"
    with errors_named(root):
        found = fs.find(p, detail=True)
    out = []
    for key, info in found.items():
        rel = key[len(base):] if key.startswith(base) else key
        if info.get("type", "file") != "file" or (skip_hidden and any(s.startswith(".") for s in rel.split("/"))):
            continue
        out.append((f"{proto}://{key}", _stamp_of(info)))
    return sorted(out)


# ------------------------------------------------------------------------------------------------ reading


def open_file(path: Any, mode: str = "rb", **kwargs: Any) -> IO:
    """Open a local path or URL (``rb``/``r``; for writing use ``atomic_path`` or ``atomic_open``).

    An ``http(s)://`` file is downloaded whole, streamed once into an anonymous temporary file: servers such as
    ``python -m http.server`` answer no range requests, and one that ignored a range would give wrong bytes."""
    if not is_url(path):
        return open(local(path), mode, **kwargs)
    fs, p = filesystem(path)
    if protocol(path) in READ_ONLY_PROTOCOLS and mode in ("rb", "r"):
        fh = _downloaded(fs, p, path)
        return fh if mode == "rb" else io.TextIOWrapper(fh, **kwargs)
    with errors_named(path):
        return fs.open(p, mode, **kwargs)


def _downloaded(fs: Any, p: str, url: Any) -> IO[bytes]:
    """The whole body of ``url`` in an anonymous temporary file (removed when closed), at its start."""
    tmp = tempfile.TemporaryFile(prefix="vocalmine-http-")
    try:
        with errors_named(url), fs.open(p, "rb", block_size=0) as src:  # block_size 0: one streamed GET
            shutil.copyfileobj(src, tmp, 1 << 20)
    except BaseException:
        tmp.close()
        raise
    tmp.seek(0)
    return tmp


def read_bytes(path: Any) -> bytes:
    with errors_named(path), open_file(path, "rb") as fh:
        return fh.read()


def read_text(path: Any, encoding: str = "utf-8") -> str:
    return read_bytes(path).decode(encoding)


def read_json(path: Any) -> Any:
    return json.loads(read_bytes(path))


@contextlib.contextmanager
def local_copy(path: Any, suffix: str | None = None) -> Iterator[str]:
    """A local file path holding ``path``'s bytes: the path itself when local, else a temporary download
    (removed afterwards), for readers that need a real file (libsndfile, ffmpeg)."""
    if not is_url(path):
        yield local(path)
        return
    fs, p = filesystem(path)
    ext = suffix if suffix is not None else os.path.splitext(p)[1]
    fd, tmp = tempfile.mkstemp(prefix="vocalmine-", suffix=ext)
    os.close(fd)
    try:
        with errors_named(path):
            fs.get_file(p, tmp)
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# ------------------------------------------------------------------------------------------------ writing


#: Protocols that are read, never written (``check_writable``).
READ_ONLY_PROTOCOLS = ("http", "https")


def check_writable(path: Any) -> None:
    """``UserInputError`` for an output on a read-only protocol (``http(s)://``), before anything is tried
    (a web server would answer "501 Unsupported method")."""
    if is_url(path) and protocol(path) in READ_ONLY_PROTOCOLS:
        raise UserInputError(f"{path}: {protocol(path)}:// URLs are read-only; write to a local folder or an "
                             "object store (s3://, gs://, az://)")


def makedirs(path: Any) -> None:
    """Create folder ``path`` (and parents); a no-op on object stores, where folders are key prefixes."""
    check_writable(path)
    if not is_url(path):
        Path(local(path)).mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def atomic_path(path: Any) -> Iterator[Path]:
    """Yield a local temporary path; on success it becomes ``path`` at once, on error it is removed.

    Locally the temporary file lies beside ``path`` (same file system) and is renamed; for a URL it is a local
    temporary file uploaded in one put when the block ends."""
    if not is_url(path):
        final = Path(local(path))
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            with _naming(final):
                yield tmp
                os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        return
    check_writable(path)
    fs, p = filesystem(path)
    tmpdir = tempfile.mkdtemp(prefix="vocalmine-put-")
    tmp = Path(tmpdir) / posixpath.basename(p)
    try:
        with _naming(tmp):  # a full local disk here is the temporary folder's, not the store's
            yield tmp
        with errors_named(path):
            fs.put_file(str(tmp), p)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _short_write(exc: OSError) -> bool:
    """numpy's ``tofile`` on a full disk: ``OSError("32 requested and 11 written")``, no errno."""
    text = str(exc)
    return exc.errno is None and "requested and" in text and text.rstrip().endswith("written")


@contextlib.contextmanager
def _naming(where: Path) -> Iterator[None]:
    """Re-raise an ``OSError`` that names no file (a writer's "No space left on device", numpy's short write)
    as the same error naming ``where``, so the message says which disk is full."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        code = errno.ENOSPC if _short_write(exc) else exc.errno
        if code is None:
            raise
        text = (exc.strerror or str(exc)) + (f" ({exc})" if _short_write(exc) else "")
        raise OSError(code, text, str(where)) from exc  # OSError(errno, ...) makes the errno's own subclass


def write_bytes(data: bytes, path: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def remove(path: Any) -> bool:
    """Remove file ``path`` when it exists; returns whether it did."""
    if not is_url(path):
        try:
            os.unlink(local(path))
            return True
        except FileNotFoundError:
            return False
    check_writable(path)
    fs, p = filesystem(path)
    try:
        with errors_named(path):
            fs.rm_file(p)
        return True
    except FileNotFoundError:
        return False


def rmtree(path: Any) -> None:
    """Remove folder ``path`` and everything under it (no error when missing)."""
    if not is_url(path):
        shutil.rmtree(local(path), ignore_errors=True)
        return
    check_writable(path)
    fs, p = filesystem(path)
    with contextlib.suppress(FileNotFoundError), errors_named(path):
        fs.rm(p, recursive=True)


def stamp(p: Any) -> list:
    """What tells that a file changed: ``[size, mtime_ns]`` locally, ``[size, ETag or mtime]`` on a store.
    Raises ``OSError`` (``FileNotFoundError``) when it does not exist."""
    if not is_url(p):
        st = os.stat(local(p))
        return [st.st_size, st.st_mtime_ns]
    fs, q = filesystem(p)
    with errors_named(p):
        info = fs.info(q)
    return _stamp_of(info)


def _stamp_of(info: dict) -> list:
    """``[size, ETag or mtime]`` of an fsspec ``info`` dict."""
    return [int(info.get("size") or 0), str(info.get("ETag") or info.get("etag") or info.get("mtime")
                                              or info.get("LastModified") or "")]


def read_parquet(p: Any, **kwargs: Any):
    """``pyarrow.parquet.read_table`` of a local path or URL."""
    import pyarrow.parquet as pq

    if not is_url(p):
        return pq.read_table(local(p), **kwargs)
    with errors_named(p), open_file(p, "rb") as fh:
        return pq.read_table(fh, **kwargs)


def parquet_file(p: Any, **kwargs: Any):
    """``pyarrow.parquet.ParquetFile`` of a local path or URL (the URL's file stays open with the object)."""
    import pyarrow.parquet as pq

    if not is_url(p):
        return pq.ParquetFile(local(p), **kwargs)
    with errors_named(p):
        return pq.ParquetFile(open_file(p, "rb"), **kwargs)


def write_json(obj: Any, path: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (no provenance record: see ``vocalmine.atomic``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
