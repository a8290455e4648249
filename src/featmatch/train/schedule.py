"""Schedules of the trainer: learning-rate decay and the adversarial weight's ramp.

Both are pure functions of the step, so a resumed run continues the same schedule without
saving any scheduler state. ``linear`` with ``decay_start=0.5`` is pix2pixHD's learning-rate
schedule (constant for the first half, then linearly to zero).
"""

from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "linear", "cosine")


def progress(step: int, total_steps: int, start: float = 0.0) -> float:
    """How far ``step`` is through the part of a run that begins at fraction ``start``.

    Args:
        step: Number of updates already made (0-based).
        total_steps: Length of the run.
        start: Fraction of ``total_steps`` before which the progress is 0, in ``[0, 1)``.

    Returns:
        0 up to ``start * total_steps``, then rising linearly to 1 at ``total_steps`` (and
        staying there past it).

    Example:
        >>> [progress(s, 100, start=0.5) for s in (0, 50, 75, 100, 120)]
        [0.0, 0.0, 0.5, 1.0, 1.0]
    """
    if not 0.0 <= start < 1.0:
        raise ValueError(f"start must be in [0, 1), got {start!r}.")
    if total_steps <= 0:
        return 1.0
    begin = start * total_steps
    return min(max((step - begin) / (total_steps - begin), 0.0), 1.0)


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
    if schedule == "constant":
        return 1.0
    done = progress(step, total_steps, decay_start)
    if schedule == "linear":
        return 1.0 - done
    return 0.5 * (1.0 + math.cos(math.pi * done))


def ramped_weight(
    step: int, total_steps: int, weight: float, weight_end: float | None = None, ramp_start: float = 0.0
) -> float:
    """A loss weight that stays at ``weight`` until ``ramp_start``, then moves linearly to ``weight_end``.

    Args:
        step: Number of updates already made (0-based).
        total_steps: Length of the run; the weight reaches ``weight_end`` there.
        weight: The weight at the start.
        weight_end: The weight at the last step; ``None`` keeps ``weight`` throughout.
        ramp_start: Fraction of ``total_steps`` before the ramp begins, in ``[0, 1)``.

    Example:
        >>> [round(ramped_weight(s, 100, 0.003, 0.03, ramp_start=0.4), 4) for s in (0, 40, 70, 100)]
        [0.003, 0.003, 0.0165, 0.03]
    """
    if weight_end is None:
        return weight
    return weight + (weight_end - weight) * progress(step, total_steps, ramp_start)
