"""What a path is and how paths combine, for a local path or an fsspec URL: pure string work, no I/O."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any


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


def join(base: Any, *parts: str) -> Any:
    """``base / parts`` for a local path (a ``Path``), ``base/parts`` for a URL (a string)."""
    if not is_url(base):
        return Path(local(base)).joinpath(*parts)
    return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])


def resolve(path: str, base: Any) -> Any:
    """``path`` read relative to folder ``base`` (absolute paths and URLs are kept): ``audio_path`` values are
    relative to the catalog's folder or URL. Against a URL, ``..`` never climbs above the bucket or host
    (``resolve('../../x.wav', 's3://b/corpus')`` is ``s3://b/x.wav``), as a browser resolves a link."""
    if is_url(path) or os.path.isabs(local(path)):
        return path
    if is_url(base):
        # RFC 3986 dot-segment removal: ``..`` stops at the bucket (or host), never leaving the URL
        scheme, rest = str(base).split("://", 1)
        root, _, key = rest.partition("/")
        joined = posixpath.normpath("/" + key.strip("/") + "/" + path).lstrip("/")
        return f"{scheme}://{root}/{joined}" if joined and joined != "." else f"{scheme}://{root}"
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
