"""What keeps a run's saved state trustworthy: non-finite losses and weights stop it, and Ctrl-C waits for the
step in progress to finish.

``FiniteGuard`` notes, on the device and without a host sync per step, the first step whose loss (or whose
batch) was not finite; ``check()`` reads it at the loop's sync points (a log row, a validation, a checkpoint),
together with the weights, the same way on every rank, and raises ``Diverged`` (exit 2) naming the step, so no
non-finite checkpoint or ``best.pt`` is ever written and the last one written stays the last finite one.

``StepInterrupts`` makes a step atomic with respect to Ctrl-C: a SIGINT that arrives inside a step (optimizer
update, step counter, data position) is held until the step is whole, then raised; a second Ctrl-C inside the
same step stops at once and marks the state ``torn`` (nothing is saved from it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
from typing import Iterator

import torch

from training.distributed import Dist, gather
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)


class Diverged(UserInputError):
    """The loss, the batch or the weights became non-finite (NaN or inf); the message names the step."""


class FiniteGuard:
    """First non-finite loss and first non-finite batch of the steps seen (device scalars, -1 for none)."""

    def __init__(self, device: torch.device):
        self.bad_loss = torch.full((), -1, dtype=torch.int64, device=device)
        self.bad_input = torch.full((), -1, dtype=torch.int64, device=device)

    def observe(self, step: int, loss: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> None:
        """Note step ``step``'s loss and batch (no host sync)."""
        loss_bad = ~torch.isfinite(loss.detach())
        input_bad = torch.stack([~torch.isfinite(t).all() for t in inputs]).any()
        self.bad_loss = torch.where(loss_bad & (self.bad_loss < 0), step, self.bad_loss)
        self.bad_input = torch.where(input_bad & (self.bad_input < 0), step, self.bad_input)

    def local_state(self, model: torch.nn.Module) -> tuple[int, int, bool]:
        """(first bad loss step, first bad batch step, weights finite) of this rank (a host sync)."""
        finite = all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())
        return int(self.bad_loss), int(self.bad_input), finite

    def check(self, model: torch.nn.Module, d: Dist, step: int, kept: str, valid_loss: float | None = None,
              valid_damaged: bool = False) -> None:
        """Raise ``Diverged`` when any rank saw a non-finite loss, batch or weight, or ``valid_loss`` is not
        finite; every rank calls it at the same point and decides the same. ``kept`` says which checkpoint is
        the last finite one; ``valid_damaged``: the validation patches held NaN or inf (the cause then)."""
        states = gather(self.local_state(model), d)
        losses = [s[0] for s in states if s[0] >= 0]
        inputs = [s[1] for s in states if s[1] >= 0]
        weights_ok = all(s[2] for s in states)
        if not losses and not inputs and weights_ok and (valid_loss is None or math.isfinite(valid_loss)):
            return
        if losses or inputs:
            what = f"the loss of step {min(losses + inputs)} is not finite (NaN or inf)"
        elif not weights_ok:
            what = f"the weights became non-finite (NaN or inf) by step {step}"
        else:
            what = f"the validation loss at step {step} is not finite (NaN or inf)"
        if inputs:
            why = (f"the batch of step {min(inputs)} holds NaN or inf values: the shards are damaged; rebuild them "
                   "with build-shards")
        elif valid_damaged and not losses and weights_ok:
            why = ("the valid split's patches hold NaN or inf values: the shards are damaged; rebuild them with "
                   "build-shards")
        else:
            why = "the learning rate is too high for this run: lower --lr (or warm up: --warmup-steps)"
        raise Diverged(f"training diverged: {what}; stopped at step {step} without saving it. {kept}. Cause: {why}.")


class StepInterrupts:
    """SIGINT handling for the training loop (see the module doc); a no-op outside the main thread, where no
    signal is delivered."""

    def __init__(self) -> None:
        self.in_step = False
        self.pending = False
        self.torn = False
        self._previous = None

    def __enter__(self) -> "StepInterrupts":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum, frame) -> None:
        if self.in_step and not self.pending:
            self.pending = True
            log.warning("Ctrl-C: stopping once this step is done (press again to stop at once, without a checkpoint)")
            return
        if self.in_step:
            self.torn = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """The block of one whole step; a Ctrl-C held during it is raised when it ends."""
        self.in_step = True
        try:
            yield
        finally:
            self.in_step = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt
