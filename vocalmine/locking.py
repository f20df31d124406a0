"""One writer per output folder: a lock held for the whole run of a command.

Local folders: an OS lock (``flock``) on ``FOLDER/.vocalmine.lock``, which holds the holder's host, pid, command
and start time for the message a second run gets. The kernel releases the lock when its holder dies, so a lock
file left by a killed run is taken over at once; a finished run removes the file, so the folder keeps only
its outputs (the reason this is not the ``filelock`` package, which leaves its lock files behind). ``flock``
is reliable on local disks, not on every network file system: use one host per local output folder.

Object stores (URLs) have no locks: the lock is the object ``FOLDER/.vocalmine.lock``, written by the
holder, refreshed every ``HEARTBEAT_S`` seconds and removed at the end. A run finding one whose heartbeat is
older than ``STALE_AFTER_S`` takes it over (its holder is gone). Limits: two runs starting within the same
second can both believe they hold it (the store has no atomic create-if-absent through fsspec); a holder
paused longer than ``STALE_AFTER_S`` loses it. Run one command per output URL at a time.

A second run fails at once with a message naming the holder, or waits up to ``$VOCALMINE_LOCK_WAIT`` seconds.
The lock is re-entrant within a process (``mine-pairs`` locks its folder once for both stages).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid
from typing import Any, Iterator

from vocalmine import storage
from vocalmine.errors import UserInputError
from vocalmine.provenance import run_info

LOCK_FILE = ".vocalmine.lock"
INFO_FILE = LOCK_FILE  # the lock file names its holder
WAIT_ENV = "VOCALMINE_LOCK_WAIT"
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0

_held: dict[str, int] = {}
_held_guard = threading.Lock()


def _wait_s(wait: float | None) -> float:
    if wait is not None:
        return wait
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, "0") or 0))
    except ValueError:
        raise UserInputError(f"${WAIT_ENV} must be a number of seconds; got {os.environ[WAIT_ENV]!r}") from None


def _holder_text(info: Any) -> str:
    if not isinstance(info, dict):
        return "another run"
    return (f"{info.get('command', '?')} (host {info.get('host', '?')}, pid {info.get('pid', '?')}, "
            f"since {info.get('started', '?')})")


def _info(command: str | None) -> dict[str, Any]:
    info = run_info()
    if command:
        info["command"] = command
    info["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    info["heartbeat"] = time.time()
    info["token"] = uuid.uuid4().hex
    return info


def _busy(folder: Any, info: Any) -> UserInputError:
    return UserInputError(
        f"{folder} is being written by {_holder_text(info)}; wait for it to finish (or set ${WAIT_ENV} to wait), "
        f"or write to another folder. If that run is gone, remove {storage.join(folder, INFO_FILE)}")


@contextlib.contextmanager
def output_lock(folder: Any, command: str | None = None, wait: float | None = None) -> Iterator[None]:
    """Hold the writer lock of ``folder`` (created when missing) for the block; ``UserInputError`` naming the
    holder when another run holds it after ``wait`` seconds (default ``$VOCALMINE_LOCK_WAIT`` or 0)."""
    storage.check_writable(folder)
    key = storage.absolute(folder)
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    cm = _url_lock(folder, command, _wait_s(wait)) if storage.is_url(folder) else \
        _local_lock(folder, command, _wait_s(wait))
    with cm:
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)


def _try_flock(path: str) -> int | None:
    """An fd of ``path`` holding an exclusive ``flock``, or None when another process holds it. Retries when
    the file it locked was unlinked or replaced meanwhile (a holder releasing), so two runs never both hold
    a lock on different files of the same name."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def _local_lock(folder: Any, command: str | None, wait: float) -> Iterator[None]:
    created = not storage.exists(folder)
    try:
        storage.makedirs(folder)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(folder)) from None
    path = str(storage.join(folder, LOCK_FILE))
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = _try_flock(path)
        except OSError as exc:  # an unwritable folder: name the folder, not the lock file
            raise type(exc)(exc.errno, exc.strerror, str(folder)) from None
        if fd is not None:
            break
        if time.monotonic() >= deadline:
            try:
                with open(path) as fh:
                    info = json.loads(fh.read())
            except (OSError, ValueError):
                info = None
            raise _busy(folder, info)
        time.sleep(0.1)
    try:
        try:
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(_info(command)) + "\n").encode())
        except OSError as exc:  # a full disk: name the folder
            raise type(exc)(exc.errno, exc.strerror, str(folder)) from None
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # while still held: a waiter that opened this file retries on the new one
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        if created:  # a run that wrote nothing (bad input) leaves no empty folder behind
            with contextlib.suppress(OSError):
                os.rmdir(storage.local(folder))


@contextlib.contextmanager
def _url_lock(folder: Any, command: str | None, wait: float) -> Iterator[None]:
    info_path = storage.join(folder, INFO_FILE)
    deadline = time.monotonic() + wait
    while True:
        try:
            current = storage.read_json(info_path)
        except (FileNotFoundError, ValueError):
            current = None
        fresh = isinstance(current, dict) and time.time() - float(current.get("heartbeat", 0)) < STALE_AFTER_S
        if not fresh:
            break
        if time.monotonic() >= deadline:
            raise _busy(folder, current)
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    mine = _info(command)
    storage.write_bytes(json.dumps(mine).encode(), info_path)
    time.sleep(0.2)  # a run that wrote at the same moment: the last write wins, the other one backs off
    current = storage.read_json(info_path)
    if current.get("token") != mine["token"]:
        raise _busy(folder, current)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            mine["heartbeat"] = time.time()
            with contextlib.suppress(Exception):
                storage.write_bytes(json.dumps(mine).encode(), info_path)

    thread = threading.Thread(target=beat, name="vocalmine-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        with contextlib.suppress(Exception):
            storage.remove(info_path)
