"""``URLPath``: the part of ``pathlib.Path`` the stages use, for a folder or file on object storage, so stage
code written with ``/`` works on both (``path(x)`` gives a ``Path`` or one of these)."""

from __future__ import annotations

import errno
import posixpath
from pathlib import Path
from typing import Any

from vocalmine.storage import files as storage
from vocalmine.storage import names


class URLPath:
    """The part of ``pathlib.Path``'s interface the stages use (``/``, ``name``, ``parent``, ``exists``,
    ``is_file``, ``is_dir``, ``glob``, ``iterdir``, ``read_text``, ``read_bytes``, ``mkdir``, ``unlink``), for a URL.
    ``storage.path(x)`` gives a ``Path`` for a local path and one of these for a URL, so stage code written
    with ``/`` works on both. It has no ``__fspath__``: a URL can never be opened as a local file by mistake;
    pass it to ``storage`` functions (``open_file``, ``local_copy``, ``atomic_path``, ...) instead."""

    def __init__(self, url: str):
        self.url = str(url).rstrip("/")

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"URLPath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, URLPath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __lt__(self, other: "URLPath") -> bool:
        return self.url < str(other)

    def __truediv__(self, part: str) -> "URLPath":
        return URLPath(names.join(self.url, str(part)))

    @property
    def name(self) -> str:
        return names.name(self.url)

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    @property
    def parent(self) -> "URLPath":
        return URLPath(names.parent(self.url))

    def with_name(self, new: str) -> "URLPath":
        return self.parent / new

    def with_suffix(self, suffix: str) -> "URLPath":
        return self.parent / (self.stem + suffix)

    def resolve(self) -> "URLPath":
        return self

    def exists(self) -> bool:
        return storage.exists(self.url)

    def is_file(self) -> bool:
        return storage.isfile(self.url)

    def is_dir(self) -> bool:
        return storage.isdir(self.url)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Folders are key prefixes on object stores: nothing to create."""

    def glob(self, pattern: str) -> list["URLPath"]:
        return [URLPath(u) for u in storage.glob(names.join(self.url, pattern))]

    def iterdir(self) -> list["URLPath"]:
        return [self / n for n in storage.listdir(self.url)]

    def read_bytes(self) -> bytes:
        return storage.read_bytes(self.url)

    def read_text(self, encoding: str = "utf-8") -> str:
        return storage.read_text(self.url, encoding)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        storage.write_bytes(text.encode(encoding), self.url)

    def unlink(self, missing_ok: bool = False) -> None:
        if not storage.remove(self.url) and not missing_ok:
            raise FileNotFoundError(errno.ENOENT, "no such object", self.url)


def path(p: Any) -> Any:
    """A ``Path`` for a local path, a ``URLPath`` (``/``, ``exists``, ``glob``, ...) for a URL."""
    if isinstance(p, URLPath):
        return p
    return URLPath(str(p)) if names.is_url(p) else Path(names.local(p))
