"""Running the stage's Dask graphs: on the local scheduler or a ``dask.distributed`` cluster, with progress
bars on stderr when asked."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Any, Iterator

import dask
from dask.diagnostics import ProgressBar

from vocalmine.errors import UserInputError
from vocalmine.scheduling import dask_client, scheduler_address

log = logging.getLogger(__name__)


class Runner:
    """``compute`` on the local scheduler (``client`` None) or the connected cluster, with a progress bar
    when asked."""

    def __init__(self, client: Any, progress: bool):
        self.client = client
        self.progress = progress

    def compute(self, obj: Any, label: str) -> Any:
        """The value of the Dask collection or delayed ``obj``; ``label`` names the step in the debug log."""
        t0 = time.perf_counter()
        if self.client is not None:
            fut = self.client.compute(obj)
            if self.progress:
                from distributed import progress  # only with a cluster (start-up speed: 0.3 s to import)

                with contextlib.redirect_stdout(sys.stderr):  # the console summary owns stdout
                    progress(fut, multi=False)
            result = self.client.gather(fut)
        else:
            ctx: Any = contextlib.nullcontext()
            if self.progress:
                ctx = ProgressBar(out=sys.stderr, minimum=0.5)
            with ctx:
                (result,) = dask.compute(obj)
        log.debug("%s: %.2f s", label, time.perf_counter() - t0)
        return result


@contextlib.contextmanager
def connect(scheduler: str | None) -> Iterator[Any]:
    """``dask_client`` (None: the local scheduler), with an unreachable scheduler reported as a
    ``UserInputError``."""
    stack = contextlib.ExitStack()
    try:
        client = stack.enter_context(dask_client(scheduler))
    except (OSError, TimeoutError) as exc:
        raise UserInputError(f"cannot reach the Dask scheduler at {scheduler_address(scheduler)} ({exc})") from None
    with stack:
        yield client
