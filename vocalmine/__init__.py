"""vocalmine's foundation: what every stage stands on and which imports no stage.

``storage`` (local paths and fsspec URLs through one door), ``atomic`` (outputs written whole, with their
``provenance``), ``locking`` (one writer per output folder), ``staging`` (a local working copy of a URL folder),
``scheduling`` (the Dask client), ``errors`` (``UserInputError``), ``unionfind``, and the code version.

The stages sit above it in top-level packages, each importing only earlier ones (docs/architecture.md):
``catalog_schemas`` -> ``miner`` -> ``features`` -> ``pairing`` -> ``training`` -> ``separation`` ->
``evaluation``, with ``report`` and ``democorpus`` beside them; ``workflows`` composes stages and ``commands``
(the click entry points) is the top layer.
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
