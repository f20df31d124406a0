"""The fsspec filesystem behind a URL, its options, and its errors turned into ``OSError``s naming the URL.

Options come from ``--storage-options JSON`` (``configure``) or ``$VOCALMINE_STORAGE_OPTIONS``: a JSON object,
either flat options for every protocol or ``{"s3": {...}, "gs": {...}}``; credentials as the storage libraries
read them (environment, config files).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from typing import Any, Iterator

from vocalmine.errors import UserInputError
from vocalmine.storage.names import is_url, local, protocol

OPTIONS_ENV = "VOCALMINE_STORAGE_OPTIONS"
_options: dict[str, Any] | None = None  # set by configure(); else read from $VOCALMINE_STORAGE_OPTIONS
_fs_cache: dict[str, Any] = {}


def _named(exc: OSError, url: str) -> OSError:
    """The same kind of error, naming ``url`` (s3fs's errors name no path)."""
    return type(exc)(exc.errno or 0, exc.strerror or str(exc), url)


@contextlib.contextmanager
def errors_named(url: Any) -> Iterator[None]:
    """Re-raise a storage library's error as an ``OSError`` naming ``url``: ``FileNotFoundError`` (missing
    key or bucket), ``PermissionError`` (credentials refused or missing), ``ConnectionError`` (endpoint
    unreachable), so the commands can say which URL failed and how."""
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


def configure(options: dict[str, Any] | str | None) -> None:
    """Set the storage options of this process (a dict or JSON text); also exported in
    ``$VOCALMINE_STORAGE_OPTIONS`` so processes started from this one (local Dask workers) get them."""
    global _options
    if isinstance(options, str):
        options = parse_options(options)
    _options = dict(options or {})
    os.environ[OPTIONS_ENV] = json.dumps(_options)
    forget_filesystems()


def forget_filesystems() -> None:
    """Drop the filesystems made so far: the next URL gets one built from the options and environment now."""
    _fs_cache.clear()


def parse_options(text: str) -> dict[str, Any]:
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
            extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}.get(proto, proto)
            raise UserInputError(f"{path}: {proto}:// needs an optional package ({exc}); install "
                                 f"vocalmine[{extra}]") from None
        except ValueError as exc:  # fsspec: "Protocol not known"
            raise UserInputError(f"{path}: {exc}") from None
    fs = _fs_cache[proto]
    return fs, fs._strip_protocol(str(path))
