"""A small disk for the disk-full tests: a real tmpfs of a few KiB mounted on a folder in a private mount
namespace (``unshare -rm``: the mount exists only for the command run there and vanishes with it, and needs no
root where user namespaces are allowed).

``run_on_small_disk(folder, kib, argv)`` runs ``argv`` with the tmpfs on ``folder`` and returns its exit code, its
stdout and stderr, and the files left on the tmpfs (``{relative path: size}``), listed inside the namespace
before it goes. ``small_disks()`` says whether this machine can make one; the tests skip with the reason when
it cannot.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_LIST = ("import json, os, sys; r = sys.argv[1]; print(json.dumps({os.path.relpath(os.path.join(d, f), r): "
         "os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(r) for f in fs}))")
_MARK = "---files-on-the-small-disk---"


@dataclass(frozen=True)
class SmallDiskRun:
    returncode: int
    stdout: str
    stderr: str
    files: dict[str, int]


@functools.lru_cache(maxsize=1)
def small_disks() -> str | None:
    """None when a tmpfs can be mounted in a private namespace here; else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=16k probe /mnt 2>&1 || "
                            "mount -t tmpfs -o size=16k probe /tmp 2>&1"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot mount a tmpfs in a private mount namespace: {(probe.stderr or probe.stdout).strip()}"
    return None


def run_on_small_disk(folder: Path, kib: int, argv: list[str], cwd: Path | None = None,
                      timeout: float = 300) -> SmallDiskRun:
    """Run ``argv`` with a ``kib`` KiB tmpfs mounted on ``folder`` (created when missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = ('mount -t tmpfs -o size="$1"k vocalmine-test "$2" || exit 97; d="$2"; shift 2; "$@"; rc=$?; '
              f'echo {_MARK}; "{sys.executable}" -c "$LIST" "$d"; exit $rc')
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(kib), str(folder), *argv],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LIST": _LIST})
    out, _, listing = proc.stdout.partition(_MARK + "\n")
    files = json.loads(listing) if listing.strip() else {}
    return SmallDiskRun(proc.returncode, out, proc.stderr, files)
