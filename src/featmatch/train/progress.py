"""Progress of a run: a progress bar on a terminal, else a log line every ``log.progress_every`` seconds.

Example:
    >>> progress = Progress(total=10, step=0, show=False, every=30.0)
    >>> scalars = {"loss/d": 0.7, "loss/g_adv": 0.9, "loss/g_fm": 0.01, "d/real_prob": 0.6, "d/fake_prob": 0.4}
    >>> progress.measured(5, scalars, "ok", now=1.0)
    >>> progress.close()
    >>> duration(3725), duration(65), duration(float("inf"))
    ('1 h 02 min', '1 min 05 s', '?')
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

__all__ = ["Progress", "duration"]

log = logging.getLogger("featmatch")


def duration(seconds: float) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"``, ``"42 s"`` (``"?"`` when unknown)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class Progress:
    """Shows a run's progress from ``step`` to ``total``.

    Args:
        total: the run's last step (``config.steps``).
        step: the step the session starts from.
        show: whether this process shows progress (rank 0, not ``log.quiet``).
        every: seconds between progress lines when there is no terminal for the bar.
    """

    def __init__(self, total: int, step: int, *, show: bool, every: float) -> None:
        self.total = total
        self.every = every
        self.bar = _progress_bar(total, step, disable=not show or not sys.stderr.isatty())
        # Without a terminal (a log file, CI, a cluster's job) the bar is off: progress lines instead.
        self.lines = show and (self.bar is None or self.bar.disable)
        self._line_time, self._line_step = time.perf_counter(), step

    def advance(self) -> None:
        """One step done."""
        if self.bar is not None:
            self.bar.update(1)

    def jump(self, step: int) -> None:
        """The run is at ``step`` now (after a rollback)."""
        if self.bar is not None:
            self.bar.n = step

    def measured(self, step: int, scalars: dict[str, float], status: str, now: float) -> None:
        """Show a measured step's losses and the monitor's ``status`` (a line when one is due)."""
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"d={scalars['loss/d']:.3f} g_adv={scalars['loss/g_adv']:.3f} "
                f"g_fm={scalars['loss/g_fm']:.4f} D(x)={scalars['d/real_prob']:.2f} "
                f"D(G(z))={scalars['d/fake_prob']:.2f} [{status}]",
                refresh=False,
            )
        if self.lines and now - self._line_time >= self.every:
            self._line(step, scalars, status, now)

    def _line(self, step: int, scalars: dict[str, float], status: str, now: float) -> None:
        """One log line: step, speed since the last line, ETA, the main losses, the monitor."""
        rate = (step - self._line_step) / max(now - self._line_time, 1e-9)
        self._line_time, self._line_step = now, step
        eta = (self.total - step) / rate if rate > 0 else float("inf")
        losses = ", ".join(f"{k} {v:.4g}" for k, v in scalars.items() if k.startswith("loss/"))
        log.info(
            "step %d/%d (%d%%), %.3g steps/s, ETA %s; %s [%s]",
            step,
            self.total,
            100 * step // self.total,
            rate,
            duration(eta),
            losses,
            status,
        )

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


def _progress_bar(total: int, step: int, *, disable: bool) -> Any:
    try:
        from tqdm.auto import tqdm  # optional dependency (the train extra's)
    except ImportError:
        return None
    return tqdm(
        total=total, initial=step, file=sys.stderr, disable=disable, dynamic_ncols=True, unit="step", desc="train"
    )
