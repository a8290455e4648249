"""Learning-rate schedules of the trainer: a factor on both optimisers' base learning rates.

The factor is a pure function of the step, so a resumed run continues the same schedule
without saving any scheduler state. ``linear`` with ``decay_start=0.5`` is pix2pixHD's
schedule (constant for the first half, then linearly to zero).
"""

from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(step: int, total_steps: int, schedule: str = "constant", decay_start: float = 0.0) -> float:
    """The multiplier of the base learning rate for the update made at ``step`` (0-based).

    Args:
        step: Number of updates already made.
        total_steps: Length of the run; the factor reaches 0 there.
        schedule: ``constant`` (always 1), ``linear`` or ``cosine`` decay to 0.
        decay_start: Fraction of ``total_steps`` during which the rate stays constant
            before the decay begins, in ``[0, 1)``.

    Returns:
        A factor in ``[0, 1]``.

    Example:
        >>> [lr_factor(s, 100, "linear", decay_start=0.5) for s in (0, 50, 75, 100)]
        [1.0, 1.0, 0.5, 0.0]
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(LR_SCHEDULES)}, got {schedule!r}.")
    if not 0.0 <= decay_start < 1.0:
        raise ValueError(f"decay_start must be in [0, 1), got {decay_start!r}.")
    if schedule == "constant" or total_steps <= 0:
        return 1.0
    start = decay_start * total_steps
    progress = min(max((step - start) / (total_steps - start), 0.0), 1.0)
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))
