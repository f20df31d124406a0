"""vocalmine: mine (original, instrumental) pairs from music catalogs, train singing-voice separation on them.

The stages live in top-level packages, each importing only earlier ones:
``catalog_schemas`` -> ``miner`` -> ``features`` -> ``pairing`` -> ``training`` / ``report``.
This package holds the command-line entry points (``vocalmine.cli``) and the version.
"""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("vocalmine")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"


def code_version() -> str:
    """Package version plus the git commit when run from a checkout (``0.1.0+g1a2b3c4``), for manifests."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}" if sha else __version__
