"""Small catalogs written by hand, for tests that need a valid catalog but not its audio."""

from __future__ import annotations

from pathlib import Path

ONE_PAIR = "track_id,artist,title,duration_s\n1,A,Song,200\n2,A,Song (Instrumental),200\n"


def one_pair_catalog(path: Path) -> Path:
    """A two-row catalog CSV at ``path`` (an original and its instrumental, no audio paths); returns ``path``."""
    path.write_text(ONE_PAIR)
    return path
