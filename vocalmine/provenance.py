"""Which run wrote each output, and from which inputs: stale outputs are removed, stale inputs refused.

Every output folder has a ``.provenance.json``: for each recorded output (a file name, or ``file#section`` for a
section of a JSON file) a fresh token, the run that wrote it (host, pid, command, time) and the tokens of the
inputs it was made from (files in the same folder). Writing an output with a new token removes every output
that was made from an earlier version of it (a ``--metadata-only`` re-run removes the old ``pairs.parquet``
and the ``audio`` section of ``summary.json``), and ``require_fresh`` refuses an input whose own inputs have
changed since, with what to re-run.

The file is rewritten by the run that holds the folder's lock (``vocalmine.locking``); tasks on Dask workers
never write it.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from typing import Any, Sequence

from vocalmine import storage
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

PROVENANCE_FILE = ".provenance.json"
RUN = {
    "run_id": uuid.uuid4().hex[:12],
    "host": socket.gethostname(),
    "pid": os.getpid(),
    "command": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python",
    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
}


def run_info() -> dict[str, Any]:
    """This process's run: ``run_id``, ``host``, ``pid``, ``command``, ``started`` (UTC)."""
    return dict(RUN, pid=os.getpid())


def load(folder: Any) -> dict[str, dict]:
    """The records of ``folder``: ``{output name: {token, run, written, inputs: {name: token}}}``."""
    path = storage.join(folder, PROVENANCE_FILE)
    try:
        data = storage.read_json(path) or {}
    except FileNotFoundError:
        data = {}
    except ValueError:  # not JSON: never overwritten (it is not ours); the command says so
        raise UserInputError(f"{path} is not JSON: not the record vocalmine writes; nothing was changed: move "
                             "it away, or choose another output folder") from None
    return data.get("outputs", {}) if isinstance(data, dict) else {}


def _save(folder: Any, records: dict[str, dict]) -> None:
    storage.write_json({"outputs": records}, storage.join(folder, PROVENANCE_FILE))


def _remove_json_section(path: Any, section: str) -> bool:
    """Drop ``section`` from the JSON object in ``path``; returns whether it was there."""
    try:
        data = storage.read_json(path)
    except FileNotFoundError:
        return False
    if not isinstance(data, dict) or section not in data:
        return False
    del data[section]
    storage.write_json(data, path)
    return True


def _remove_output(folder: Any, name: str) -> None:
    file, _, section = name.partition("#")
    path = storage.join(folder, file)
    if section:
        removed = _remove_json_section(path, section)
    else:
        removed = storage.remove(path)
    if removed:
        log.warning("removed %s%s: it was made from an earlier run's inputs", path, f" section {section!r}"
                    if section else "")


def record(folder: Any, name: str, inputs: Sequence[str] = ()) -> str:
    """Record that this run wrote output ``name`` of ``folder`` from ``inputs``; remove the outputs made from
    an earlier version of ``name`` (transitively). Returns the new token."""
    records = load(folder)
    token = uuid.uuid4().hex
    records[name] = {
        "token": token,
        "run": run_info(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": {i: records.get(i, {}).get("token") for i in inputs},
    }
    stale = [name]
    while stale:
        changed = stale.pop()
        for other, rec in list(records.items()):
            if changed in rec.get("inputs", {}) and rec["inputs"][changed] != records[changed]["token"]:
                _remove_output(folder, other)
                del records[other]
                stale.append(other)
    _save(folder, records)
    return token


def stale_reason(folder: Any, name: str, inputs: Sequence[str]) -> str | None:
    """Why output ``name`` of ``folder`` does not match its ``inputs`` as they are now, or None when it does (or
    when nothing about the folder is recorded: outputs of versions before this record)."""
    records = load(folder)
    rec = records.get(name)
    known = [i for i in inputs if i in records]
    if rec is None:
        return f"{name} has no record of the run that wrote it while {', '.join(known)} has" if known else None
    for i in inputs:
        want = records.get(i, {}).get("token")
        if want is not None and rec.get("inputs", {}).get(i) != want:
            when = records[i].get("written", "?")
            return f"{name} was made from an earlier {i} (rewritten at {when} by {records[i]['run']['command']})"
    return None


def require_fresh(folder: Any, name: str, inputs: Sequence[str], rerun: str) -> None:
    """Raise ``UserInputError`` naming what to re-run when ``name`` is older than one of its ``inputs``."""
    reason = stale_reason(folder, name, inputs)
    if reason is not None:
        raise UserInputError(f"{storage.join(folder, name)} is stale: {reason}; {rerun}")
