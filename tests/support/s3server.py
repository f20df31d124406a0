"""A real S3-compatible server on loopback (moto's standalone server, as s3fs's own tests use), for the
object-storage tests: the fixtures ``s3_endpoint`` and ``s3``, which tests/conftest.py offers to every test. The
code under test is configured only through the standard variables (``AWS_ENDPOINT_URL``, dummy keys), as a
user's would be."""

from __future__ import annotations

import os
import uuid

import pytest

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_SESSION_TOKEN": "", "AWS_SECURITY_TOKEN": ""}


@pytest.fixture(scope="session")
def s3_endpoint():
    """``http://127.0.0.1:PORT`` of a moto server started for the session, exported in ``AWS_ENDPOINT_URL``
    (inherited by the subprocesses and Dask workers the tests start)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV | {"AWS_ENDPOINT_URL": endpoint})
    for k in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(k, None)
    from vocalmine import storage

    storage.forget_filesystems()
    yield endpoint
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    storage.forget_filesystems()


@pytest.fixture
def s3(s3_endpoint):
    """A fresh bucket on the loopback server: yields ``s3://<bucket>``."""
    import s3fs

    bucket = f"test-{uuid.uuid4().hex[:10]}"
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir(bucket)
    yield f"s3://{bucket}"
