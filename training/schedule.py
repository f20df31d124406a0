"""Learning-rate schedules: a pure function of the step, so a resumed run follows the same curve.

``lr_at(step, base_lr, max_steps, schedule, warmup_steps)`` is the rate of the optimizer step that follows
``step`` steps taken (step 0 is the first update):

- ``constant``: ``base_lr`` (the paper: Adam at 1e-4 throughout);
- ``cosine``: half a cosine from ``base_lr`` down to ``MIN_RATIO * base_lr`` at ``max_steps``;

both after a linear warm-up from ``base_lr / warmup_steps`` over the first ``warmup_steps`` steps (0: none).
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")
#: Where the cosine ends, as a share of the base rate.
MIN_RATIO = 0.05


def lr_at(step: int, base_lr: float, max_steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """Learning rate for the update after ``step`` steps (see the module doc)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / span))
    return base_lr * (MIN_RATIO + (1 - MIN_RATIO) * 0.5 * (1 + math.cos(math.pi * progress)))
