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
TIMEOUT_ENV = "VOCALMINE_STORAGE_TIMEOUT"
#: Seconds to connect, and between bytes of an answer, before a storage request gives up (then tried again:
#: botocore twice (one retry), within s3fs's two tries: four tries at most).
DEFAULT_TIMEOUT_S = 15.0
_options: dict[str, Any] | None = None  # set by configure(); else read from $VOCALMINE_STORAGE_OPTIONS
_fs_cache: dict[str, Any] = {}


def timeout_s() -> float:
    """Seconds a storage request may wait for the endpoint to connect or to send the next bytes
    (``$VOCALMINE_STORAGE_TIMEOUT``, default :data:`DEFAULT_TIMEOUT_S`)."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        raise UserInputError(f"${TIMEOUT_ENV} must be a number of seconds; got {text!r}") from None
    if not value > 0:
        raise UserInputError(f"${TIMEOUT_ENV} must be above 0 seconds; got {text!r}")
    return value


def _timeout_error(exc: BaseException, url: str) -> TimeoutError:
    endpoint = str((getattr(exc, "kwargs", None) or {}).get("endpoint_url") or "")  # botocore's errors carry it
    endpoint = "/".join(endpoint.split("/")[:3]) if "://" in endpoint else ""
    return TimeoutError(errno.ETIMEDOUT, f"no answer from the storage endpoint{f' {endpoint}' if endpoint else ''} "
                        f"within {timeout_s():g} s, tried again, gave up ({type(exc).__name__}; ${TIMEOUT_ENV} "
                        "sets the wait)", url)


def _named(exc: OSError, url: str) -> OSError:
    """The same kind of error, naming ``url`` (s3fs's errors name no path); an ``OSError`` of the nearest
    standard kind when the library's own type takes other arguments (botocore's)."""
    try:
        return type(exc)(exc.errno or 0, exc.strerror or str(exc), url)
    except TypeError:
        kind = next((k for k in (FileNotFoundError, PermissionError, TimeoutError, ConnectionError)
                     if isinstance(exc, k)), OSError)
        return kind(exc.errno or 0, exc.strerror or str(exc), url)


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of the server's answer behind ``exc`` (aiohttp's error, chained), None when there is none."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        status = getattr(seen, "status", None)
        if isinstance(status, int):
            return status
        seen = seen.__cause__ or seen.__context__
    return None


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__


@contextlib.contextmanager
def errors_named(url: Any) -> Iterator[None]:
    """Re-raise a storage library's error as an ``OSError`` naming ``url``: ``FileNotFoundError`` (missing
    key or bucket), ``PermissionError`` (credentials refused or missing), ``ConnectionError`` (endpoint
    unreachable), ``TimeoutError`` (an endpoint that does not answer), so the commands can say which URL
    failed and how."""
    try:
        yield
    except OSError as exc:
        if exc.filename or not is_url(url):
            raise
        status = _http_status(exc)
        if isinstance(exc, FileNotFoundError) and status in (401, 403):  # fsspec's http calls any failure "missing"
            raise PermissionError(errno.EACCES, f"the server refused it (HTTP {status})", str(url)) from exc
        if isinstance(exc, FileNotFoundError) and status is not None and status != 404:
            raise OSError(errno.EIO, f"the server answered HTTP {status}", str(url)) from exc
        if _is_timeout(exc):
            raise _timeout_error(exc, str(url)) from exc
        raise _named(exc, str(url)) from exc
    except Exception as exc:  # botocore / aiohttp / google errors are not OSErrors
        kind = type(exc).__name__
        if not is_url(url):
            raise
        if _is_timeout(exc):
            raise _timeout_error(exc, str(url)) from exc
        if any(k in kind for k in ("Connect", "Endpoint", "ServerDisconnected")):
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
        given = dict(opts[proto])
    else:
        given = {k: v for k, v in opts.items() if k not in known_implementations}  # flat: for every protocol
    return _with_timeouts(proto, given)


def _with_timeouts(proto: str, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` over bounded waits (``timeout_s`` to connect and between bytes, a few tries), so an endpoint
    that accepts connections and never answers stops a command within a minute or two, not seven."""
    t = timeout_s()
    if proto in ("s3", "s3a"):
        config = {"connect_timeout": t, "read_timeout": t, "retries": {"max_attempts": 1, "mode": "standard"}}
        return {**given, "config_kwargs": {**config, **(given.get("config_kwargs") or {})}}
    if proto in ("http", "https"):
        import aiohttp

        client = dict(given.get("client_kwargs") or {})
        client.setdefault("timeout", aiohttp.ClientTimeout(total=None, sock_connect=t, sock_read=t))
        return {**given, "client_kwargs": client}
    return given


def filesystem(path: Any) -> tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` for a URL; the local filesystem for a local path."""
    import fsspec

    proto = protocol(path)
    if proto == "file":
        return fsspec.filesystem("file"), os.path.abspath(local(path))
    if proto not in _fs_cache:
        try:
            _fs_cache[proto] = fsspec.filesystem(proto, **options_for(proto))
            if proto in ("s3", "s3a"):
                _fs_cache[proto].retries = 2  # s3fs's own tries (a class attribute, 5), each with botocore's
        except ImportError as exc:
            extra = {"s3": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}.get(proto, proto)
            raise UserInputError(f"{path}: {proto}:// needs an optional package ({exc}); install "
                                 f"vocalmine[{extra}]") from None
        except ValueError as exc:  # fsspec: "Protocol not known"
            raise UserInputError(f"{path}: {exc}") from None
    fs = _fs_cache[proto]
    return fs, fs._strip_protocol(str(path))
