"""Real failing components for the reliability tests of training and separation (issue 22):

- ``small_disk(path, size)``: a real tmpfs of ``size`` bytes mounted at ``path`` (a full disk gives ENOSPC as on
  any disk); the test is skipped where this process may not mount one (it needs root or CAP_SYS_ADMIN);
- ``own_s3_server()``: a moto S3 server of the test's own, which the test may stop (the session's ``s3_endpoint``
  must stay up for the other tests); it exports its endpoint in ``AWS_ENDPOINT_URL`` and restores the previous
  one afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from support.s3server import ENV


@contextlib.contextmanager
def small_disk(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes at ``path`` (created), unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): the disk-full test needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class OwnS3:
    """A stoppable S3 server: ``endpoint``, ``stop()``; the bucket ``bucket`` exists."""

    def __init__(self, server, endpoint: str, bucket: str):
        self.server, self.endpoint, self.bucket = server, endpoint, bucket
        self.stopped = False

    def stop(self) -> None:
        if not self.stopped:
            self.server.stop()
            self.stopped = True


@contextlib.contextmanager
def own_s3_server() -> Iterator[OwnS3]:
    """The server, with a fresh bucket (moto keeps one state per process: bucket names must not repeat)."""
    import logging
    import uuid

    import s3fs
    from moto.server import ThreadedMotoServer

    from vocalmine import storage

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV | {"AWS_ENDPOINT_URL": endpoint})
    for k in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(k, None)
    s3fs.S3FileSystem.clear_instance_cache()  # fsspec keeps filesystems by their options, endpoints aside
    storage.forget_filesystems()
    own = OwnS3(server, endpoint, f"runs-{uuid.uuid4().hex[:10]}")
    try:
        s3fs.S3FileSystem(skip_instance_cache=True).mkdir(own.bucket)
        yield own
    finally:
        own.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        s3fs.S3FileSystem.clear_instance_cache()
        storage.forget_filesystems()
