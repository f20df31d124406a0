"""The one exception type for bad input that a user can fix: the CLI prints its message and exits 2."""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input (a missing column, an empty split, a wrong checkpoint). The message says what and where."""

    exit_code = 2
