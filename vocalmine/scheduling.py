"""Where a Dask graph runs: the local scheduler by default, a ``dask.distributed`` cluster when asked."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator

log = logging.getLogger(__name__)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


def scheduler_address(explicit: str | None = None) -> str | None:
    """The cluster address to use: ``explicit``, else ``$DASK_SCHEDULER_ADDRESS``, else None (local)."""
    return explicit or os.environ.get(SCHEDULER_ENV) or None


@contextlib.contextmanager
def dask_client(address: str | None = None) -> Iterator[object | None]:
    """Connect to the ``dask.distributed`` scheduler at ``address`` (or ``$DASK_SCHEDULER_ADDRESS``) for the
    duration of the block, making it the default scheduler; yield None and use Dask's local scheduler when
    neither is set."""
    address = scheduler_address(address)
    if address is None:
        yield None
        return
    from distributed import Client

    log.info("connecting to dask scheduler %s", address)
    with Client(address, set_as_default=True) as client:
        yield client
