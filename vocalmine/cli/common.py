"""What every command shares: logging setup, seeding, and turning bad input into a message and exit code."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable

import click

from vocalmine.errors import UserInputError

log = logging.getLogger("vocalmine")


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # distributed is chatty at INFO; keep its warnings.
    logging.getLogger("distributed").setLevel(logging.WARNING)


def verbose_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``-v/--verbose`` and logging setup for a command."""

    @click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
    @functools.wraps(fn)
    def wrapper(*args: Any, verbose: bool, **kwargs: Any) -> Any:
        setup_logging(verbose)
        return fn(*args, **kwargs)

    return wrapper


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ``UserInputError`` into ``Error: <message>`` on stderr and its exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserInputError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; re-run the same command to resume.", err=True)
            sys.exit(130)

    return wrapper
