"""What every command shares: logging setup, storage options, and turning bad input and OS errors into a
one-line message and exit code 2 (the one place that does)."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import sys
from typing import Any, Callable

import click

from vocalmine import storage
from vocalmine.atomic import check_json_objects
from vocalmine.errors import UserInputError
from vocalmine.locking import output_lock
from vocalmine.provenance import PROVENANCE_FILE

log = logging.getLogger("vocalmine")

DEVICE = click.Choice(["auto", "cpu", "cuda"])


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
    """``-v/--verbose`` and ``--storage-options JSON`` for a command: logging setup and the fsspec options
    of every URL the command reads or writes (``vocalmine.storage``)."""

    @click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
    @click.option("--storage-options", default=None, metavar="JSON",
                  help="fsspec options for URLs (s3://, gs://, ...), e.g. '{\"anon\": true}' or "
                       "'{\"s3\": {\"endpoint_url\": \"http://host:9000\"}}' [default: $VOCALMINE_STORAGE_OPTIONS; "
                       "credentials as the libraries read them: environment, config files].")
    @functools.wraps(fn)
    def wrapper(*args: Any, verbose: bool, storage_options: str | None, **kwargs: Any) -> Any:
        setup_logging(verbose)
        if storage_options is not None:
            try:
                storage.configure(storage_options)
            except UserInputError as exc:
                click.echo(f"Error: {printable(str(exc), one_line=True)}", err=True)
                sys.exit(exc.exit_code)
        return fn(*args, **kwargs)

    return wrapper


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 and C1 controls but tab and newline
_CONTROLS_AND_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str, one_line: bool = False) -> str:
    """``text`` with control characters shown as escapes (ESC as ``\\x1b``, CR as ``\\r``), so a file name
    cannot move the cursor, recolour or clear the terminal; ``one_line`` also escapes newlines and tabs (an
    ``Error:`` line is one line)."""
    pattern = _CONTROLS_AND_BREAKS if one_line else _CONTROLS
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def echo(text: Any = "") -> None:
    """``click.echo`` of ``printable(text)``: what a command prints about its inputs and outputs."""
    click.echo(printable(text))


def _where(exc: BaseException) -> str:
    names = [str(n) for n in (getattr(exc, "filename", None), getattr(exc, "filename2", None)) if n]
    return " -> ".join(names)


def os_error_message(exc: BaseException) -> str | None:
    """One line for an OS or storage error (permissions, disk full, read-only file system, credentials, a
    missing bucket, an unreachable endpoint), naming the path or URL; None for anything else."""
    text = str(exc).strip() or type(exc).__name__
    where = _where(exc)
    name = type(exc).__name__
    mod = type(exc).__module__ or ""
    if mod.startswith(("botocore", "aiobotocore", "urllib3", "aiohttp", "google", "azure")):
        if "Connect" in name or "Endpoint" in name or "Timeout" in name:
            return (f"cannot reach the storage endpoint ({text}); check AWS_ENDPOINT_URL / endpoint_url in "
                    "--storage-options and the network")
        if "Credential" in name:
            return f"no usable credentials for object storage ({text}); set them as the storage library expects"
        return f"object storage error: {text}"
    if not isinstance(exc, OSError):
        return None
    code = exc.errno
    subject = where or text
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        if subject.startswith(("http://", "https://")):
            return (f"access denied: {subject} ({exc.strerror or text}); check the URL, and that it is still "
                    "valid (a presigned link expires)")
        if "://" in subject:
            return (f"access denied: {subject} ({exc.strerror or text}); check the credentials "
                    "(AWS_ACCESS_KEY_ID / AWS_PROFILE, --storage-options) and that they may use this bucket")
        return f"permission denied: {subject}; check its permissions, or choose another folder"
    if code == errno.EROFS:
        return f"read-only file system: {subject}; choose an output folder on a writable disk"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"no space left on the device (or quota) holding {subject}; free some space or choose another folder"
    if isinstance(exc, FileNotFoundError):
        if "://" in subject:
            return f"not found: {subject} ({exc.strerror or text}); check the URL and that the bucket exists"
        return f"no such file or folder: {subject}"
    if isinstance(exc, (NotADirectoryError, IsADirectoryError, FileExistsError)):
        return f"{exc.strerror or text}: {subject}"
    if isinstance(exc, (ConnectionError, TimeoutError)):
        if "://" in subject:
            return (f"{subject}: {exc.strerror or text}; check AWS_ENDPOINT_URL (or endpoint_url in "
                    "--storage-options) and the network")
        return f"cannot reach {subject or 'the server'} ({text})"
    if where:
        return f"{exc.strerror or text}: {where}"
    return f"{text}"


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ``UserInputError`` and OS / storage errors into ``Error: <message>`` on stderr and exit code 2,
    never a traceback (``-v`` logs the traceback of an OS error)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserInputError as exc:
            click.echo(f"Error: {printable(str(exc), one_line=True)}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; re-run the same command to resume.", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - OS and storage errors only; anything else is re-raised
            message = os_error_message(exc)
            if message is None:
                raise
            log.debug("%s", message, exc_info=True)
            click.echo(f"Error: {printable(message, one_line=True)}", err=True)
            sys.exit(2)

    return wrapper


@contextlib.contextmanager
def writer_lock(folder: Any, command: str, json_files: tuple[str, ...] = ()):
    """The writer lock of output ``folder`` for this command (``vocalmine.locking``); under torchrun only
    rank 0 takes it (the other ranks write nothing there). Then, before anything is written, the folder's
    ``.provenance.json`` and ``json_files`` (JSON the command reads and rewrites) must be JSON objects
    (``vocalmine.atomic.check_json_objects``): a foreign file stops the command with the folder unchanged."""
    if int(os.environ.get("RANK", "0") or 0) != 0:
        yield
        return
    with output_lock(folder, command):
        check_json_objects(folder, (PROVENANCE_FILE, *json_files))
        yield
