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


def run_tasks(tasks: list, scheduler: str | None = None, workers: int | None = None, progress: bool = True,
              desc: str = "tasks") -> list:
    """Compute Dask ``tasks`` (delayed objects) and return their results in order, with a progress bar.

    Locally they run on Dask's threaded scheduler (``workers`` threads; the project's heavy calls release the
    GIL); with a cluster (``scheduler`` or ``$DASK_SCHEDULER_ADDRESS``) results are collected as they finish
    and released at once, so the client holds only what it has not yet returned.
    """
    if not tasks:
        return []
    import sys

    import dask
    from tqdm import tqdm

    with dask_client(scheduler) as client:
        if client is None:
            from tqdm.dask import TqdmCallback

            with TqdmCallback(desc=desc, disable=not progress, file=sys.stderr, leave=False):
                return list(dask.compute(*tasks, scheduler="threads", num_workers=workers))
        from distributed import as_completed

        futures = client.compute(tasks)
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(futures)
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress,
                           file=sys.stderr, leave=False):
            results[index[future.key]] = future.result()
            future.release()
        return results
