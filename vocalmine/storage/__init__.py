"""One door for every path the project reads or writes: a local path or an fsspec URL.

``s3://``, ``gs://``, ``az://`` (and any other fsspec protocol whose package is installed: ``vocalmine[s3]``,
``vocalmine[gcs]``) go through fsspec, configured the way those libraries are: their standard environment
variables and config files (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...),
plus storage options from ``--storage-options JSON`` or ``$VOCALMINE_STORAGE_OPTIONS``; a request waits at most
``$VOCALMINE_STORAGE_TIMEOUT`` seconds (15) to connect or for the next bytes, then is tried again and given up.
``http(s)://`` is for reading (each file downloaded whole: no range requests). Local paths keep using the
operating system directly.

Modules, each importing only those before it: ``names`` (what a path is, pure), ``backends`` (the fsspec
filesystem, its options and errors), ``files`` (query, read, write atomically, remove), ``urlpath`` (``URLPath``
and ``path()``, so stage code written with ``/`` works on both). Callers use this package:
``from vocalmine import storage; storage.join(...)``.
"""

from vocalmine.storage.backends import (OPTIONS_ENV, TIMEOUT_ENV, configure, errors_named, filesystem,
                                        forget_filesystems, options_for, parse_options, timeout_s)
from vocalmine.storage.files import (READ_ONLY_PROTOCOLS, atomic_path, check_writable, exists, find, glob, isdir,
                                     isfile, listdir, local_copy, makedirs, open_file, parquet_file, read_bytes,
                                     read_json, read_parquet, read_text, remove, rmtree, size, stamp, write_bytes, write_json)
from vocalmine.storage.names import absolute, is_url, join, local, name, parent, protocol, resolve
from vocalmine.storage.urlpath import URLPath, path

__all__ = [
    "OPTIONS_ENV", "TIMEOUT_ENV", "configure", "errors_named", "filesystem", "forget_filesystems", "options_for",
    "parse_options", "timeout_s", "READ_ONLY_PROTOCOLS", "atomic_path", "check_writable", "exists", "find", "glob",
    "isdir", "isfile", "listdir", "local_copy", "makedirs", "open_file", "parquet_file", "read_bytes", "read_json",
    "read_parquet", "read_text", "remove", "rmtree", "size", "stamp", "write_bytes", "write_json", "absolute",
    "is_url", "join", "local", "name", "parent", "protocol", "resolve", "URLPath", "path",
]
