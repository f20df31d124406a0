"""One door for every path the project reads or writes: a local path or an fsspec URL.

``s3://``, ``gs://``, ``az://`` (and any other fsspec protocol whose package is installed: ``vocalmine[s3]``,
``vocalmine[gcs]``) go through fsspec, configured the way those libraries are: their standard environment
variables and config files (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...),
plus storage options from ``--storage-options JSON`` or ``$VOCALMINE_STORAGE_OPTIONS`` (a JSON object, either
flat options for every protocol or ``{"s3": {...}, "gs": {...}}``). ``https://`` is for reading.

Local paths keep using the operating system directly (no behaviour change for the local case).

Writes are atomic everywhere: locally a temporary name beside the target and a rename; on an object store a
local temporary file uploaded once, complete, so an interrupted run never leaves a half object that looks
whole (S3 and GCS make a single put visible all at once).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any, Iterator

OPTIONS_ENV = "VOCALMINE_STORAGE_OPTIONS"
_options: dict[str, Any] | None = None  # set by configure(); else read from $VOCALMINE_STORAGE_OPTIONS


# ------------------------------------------------------------------------------------------------ errors


def _named(exc: OSError, url: str) -> OSError:
    """The same kind of error, naming ``url`` (s3fs's errors name no path)."""
    return type(exc)(exc.errno or 0, exc.strerror or str(exc), url)


@contextlib.contextmanager
def errors_named(url: Any) -> Iterator[None]:
    """Re-raise a storage library's error as an ``OSError`` naming ``url``: ``FileNotFoundError`` (missing
    key or bucket), ``PermissionError`` (credentials refused or missing), ``ConnectionError`` (endpoint
    unreachable), so ``vocalmine.cli.common`` can say which URL failed and how."""
    try:
        yield
    except OSError as exc:
        if exc.filename or not is_url(url):
            raise
        raise _named(exc, str(url)) from exc
    except Exception as exc:  # botocore / aiohttp / google errors are not OSErrors
        kind = type(exc).__name__
        if any(k in kind for k in ("Connect", "Endpoint", "Timeout", "ServerDisconnected")):
            raise ConnectionError(errno.ECONNREFUSED, f"cannot reach the storage endpoint ({exc})", str(url)) from exc
        if "Credential" in kind or "Auth" in kind:
            raise PermissionError(errno.EACCES, f"no usable credentials ({exc})", str(url)) from exc
        raise


# ------------------------------------------------------------------------------------------- what a path is


def is_url(path: Any) -> bool:
    """True for ``scheme://...`` (not ``file://``), False for local paths (``Path``, plain strings)."""
    if isinstance(path, os.PathLike):
        return False
    s = str(path)
    return "://" in s and not s.startswith("file://")


def local(path: Any) -> str:
    """A local path as a string (``file://`` stripped); unchanged for URLs."""
    s = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    return s[len("file://"):] if isinstance(s, str) and s.startswith("file://") else str(s)


def protocol(path: Any) -> str:
    return str(path).split("://", 1)[0] if is_url(path) else "file"


def configure(options: dict[str, Any] | str | None) -> None:
    """Set the storage options of this process (a dict or JSON text); also exported in
    ``$VOCALMINE_STORAGE_OPTIONS`` so processes started from this one (local Dask workers) get them."""
    global _options
    if isinstance(options, str):
        options = parse_options(options)
    _options = dict(options or {})
    os.environ[OPTIONS_ENV] = json.dumps(_options)
    _fs_cache.clear()


def parse_options(text: str) -> dict[str, Any]:
    from vocalmine.errors import UserInputError

    try:
        value = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise UserInputError(f"--storage-options is not valid JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise UserInputError(f"--storage-options must be a JSON object such as '{{\"anon\": true}}'; got {text!r}")
    return value


def options_for(proto: str) -> dict[str, Any]:
    opts = _options
    if opts is None:
        env = os.environ.get(OPTIONS_ENV, "")
        opts = parse_options(env) if env else {}
    from fsspec.registry import known_implementations

    if proto in opts and isinstance(opts[proto], dict):
        return dict(opts[proto])
    return {k: v for k, v in opts.items() if k not in known_implementations}  # flat options: for every protocol


_fs_cache: dict[str, Any] = {}


def filesystem(path: Any) -> tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` for a URL; the local filesystem for a local path."""
    import fsspec

    proto = protocol(path)
    if proto == "file":
        return fsspec.filesystem("file"), os.path.abspath(local(path))
    if proto not in _fs_cache:
        try:
            _fs_cache[proto] = fsspec.filesystem(proto, **options_for(proto))
        except ImportError as exc:
            from vocalmine.errors import UserInputError

            extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}.get(proto, proto)
            raise UserInputError(f"{path}: {proto}:// needs an optional package ({exc}); install "
                                 f"vocalmine[{extra}]") from None
        except ValueError as exc:  # fsspec: "Protocol not known"
            from vocalmine.errors import UserInputError

            raise UserInputError(f"{path}: {exc}") from None
    fs = _fs_cache[proto]
    return fs, fs._strip_protocol(str(path))


# ------------------------------------------------------------------------------------------------ names


def join(base: Any, *parts: str) -> Any:
    """``base / parts`` for a local path (a ``Path``), ``base/parts`` for a URL (a string)."""
    if not is_url(base):
        return Path(local(base)).joinpath(*parts)
    return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])


def resolve(path: str, base: Any) -> Any:
    """``path`` read relative to folder ``base`` (absolute paths and URLs are kept): ``audio_path`` values are
    relative to the catalog's folder or URL."""
    if is_url(path) or os.path.isabs(local(path)):
        return path
    if is_url(base):
        return posixpath.normpath(str(base).rstrip("/") + "/" + path).replace(":/", "://", 1)
    return os.path.normpath(os.path.join(local(base), path))


def parent(path: Any) -> Any:
    if is_url(path):
        return str(path).rstrip("/").rsplit("/", 1)[0]
    return Path(local(path)).parent


def name(path: Any) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1] if is_url(path) else Path(local(path)).name


def absolute(path: Any) -> str:
    """An absolute local path or the URL itself, as text (what outputs record)."""
    return str(path) if is_url(path) else str(Path(local(path)).resolve())


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
        return sorted(f"{proto}://{m}" for m in fs.glob(p))


# ------------------------------------------------------------------------------------------------ reading


def open_file(path: Any, mode: str = "rb", **kwargs: Any) -> IO:
    """Open a local path or URL (``rb``/``r``; for writing use ``atomic_path`` or ``atomic_open``)."""
    if not is_url(path):
        return open(local(path), mode, **kwargs)
    fs, p = filesystem(path)
    with errors_named(path):
        return fs.open(p, mode, **kwargs)


def read_bytes(path: Any) -> bytes:
    with errors_named(path), open_file(path, "rb") as fh:
        return fh.read()


def read_text(path: Any, encoding: str = "utf-8") -> str:
    return read_bytes(path).decode(encoding)


def read_json(path: Any) -> Any:
    return json.loads(read_bytes(path))


def arrow_filesystem(path: Any) -> tuple[Any, str]:
    """``(pyarrow filesystem or None, path)`` for pyarrow's readers: None and the local path for local files."""
    if not is_url(path):
        return None, local(path)
    import pyarrow.fs as pafs

    fs, p = filesystem(path)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), p


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


def makedirs(path: Any) -> None:
    """Create folder ``path`` (and parents); a no-op on object stores, where folders are key prefixes."""
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
            yield tmp
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()
        return
    fs, p = filesystem(path)
    tmpdir = tempfile.mkdtemp(prefix="vocalmine-put-")
    tmp = Path(tmpdir) / posixpath.basename(p)
    try:
        yield tmp
        with errors_named(path):
            fs.put_file(str(tmp), p)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


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
    fs, p = filesystem(path)
    with contextlib.suppress(FileNotFoundError), errors_named(path):
        fs.rm(p, recursive=True)


# ------------------------------------------------------------------------------------------ more queries


def path(p: Any) -> Any:
    """A ``Path`` for a local path, a ``vocalmine.urlpath.URLPath`` (``/``, ``exists``, ``glob``, ...) for a URL."""
    from vocalmine.urlpath import URLPath

    if isinstance(p, URLPath):
        return p
    return URLPath(str(p)) if is_url(p) else Path(local(p))


def stamp(p: Any) -> list:
    """What tells that a file changed: ``[size, mtime_ns]`` locally, ``[size, ETag or mtime]`` on a store.
    Raises ``OSError`` (``FileNotFoundError``) when it does not exist."""
    if not is_url(p):
        st = os.stat(local(p))
        return [st.st_size, st.st_mtime_ns]
    fs, q = filesystem(p)
    with errors_named(p):
        info = fs.info(q)
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
