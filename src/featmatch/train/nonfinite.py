"""The non-finite policy (``optim.on_nonfinite``): what a NaN/Inf loss, gradient or weight does to a run.

``stop`` ends the run (the summary and report say why, ``featmatch train`` exits with
:data:`NONFINITE_EXIT`), ``rollback`` restores the newest finite checkpoint (at most
``optim.max_rollbacks`` times, then it stops), ``continue`` trains on and writes no checkpoint while
the weights are non-finite. :class:`NonFinitePolicy` finds the values, decides and keeps the record
(``events``, ``rollbacks``, ``stopped``); the driver does the rolling back.

Example:
    >>> from featmatch.train.config import OptimConfig
    >>> policy = NonFinitePolicy(OptimConfig(on_nonfinite="continue"))
    >>> policy.find({"loss/d": float("nan"), "lr/g": 0.1})
    ['loss/d=nan']
    >>> policy.handle(7, ["loss/d=nan"], "losses/gradients", history=[])
    'continue'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from featmatch.train.checkpoint import CheckpointError
from featmatch.train.config import OptimConfig
from featmatch.train.distributed import DistContext, any_rank

__all__ = ["NONFINITE_EXIT", "NonFinitePolicy"]

log = logging.getLogger("featmatch")

#: Exit status of ``featmatch train`` when the run stopped on NaN/Inf (``optim.on_nonfinite``).
NONFINITE_EXIT = 3

# The measured keys whose NaN/Inf counts: losses, gradient norms, per-layer terms, D's outputs.
_WATCHED = ("loss", "grad", "fm", "d")


class NonFinitePolicy:
    """Finds non-finite measured values and applies ``optim.on_nonfinite`` to them.

    Args:
        optim: the run's optimisation config (``on_nonfinite``, ``max_rollbacks``).
        ctx, device: the distributed context (all ranks must act alike) and the training device.
        rollback: restores the newest finite checkpoint given the reason; returns its path, raises
            :class:`~featmatch.train.checkpoint.CheckpointError` when there is none.
        last_good: the newest checkpoint of the run (``None`` when there is none).
        run_dir: the run directory, named in the advice to resume.

    Attributes:
        events: every detection (step, where, quantities, action).
        rollbacks: every rollback done (from/to step, checkpoint, reason; :meth:`rolled_back`).
        stopped: why the run stopped (``None`` while it has not).
        active: non-finite values are being trained through (``continue``).
    """

    def __init__(
        self,
        optim: OptimConfig,
        ctx: DistContext | None = None,
        device: torch.device | None = None,
        *,
        rollback: Callable[[str], str] | None = None,
        last_good: Callable[[], str | None] = lambda: None,
        run_dir: Path | None = None,
    ) -> None:
        self.optim = optim
        self.ctx = ctx or DistContext()
        self.device = device if device is not None else torch.device("cpu")
        self._rollback = rollback
        self._last_good = last_good
        self.run_dir = run_dir
        self.events: list[dict[str, Any]] = []
        self.rollbacks: list[dict[str, Any]] = []
        self.stopped: dict[str, Any] | None = None
        self.active = False

    def find(self, scalars: dict[str, float], *, skip_grads: bool = False) -> list[str]:
        """``name=value`` of the measured losses/gradients/probabilities that are NaN or infinite.

        Under fp16 an overflowing gradient is the grad scaler's business (it skips that update), so
        ``skip_grads`` leaves ``grad/*`` out. Under DDP a rank with none reports another's.
        """
        bad = [
            f"{key}={value}"
            for key, value in scalars.items()
            if isinstance(value, float)
            and not math.isfinite(value)
            and key.split("/")[0] in _WATCHED
            and not (skip_grads and key.startswith("grad/"))
        ]
        if self.ctx.enabled and any_rank(bool(bad), self.ctx, self.device) and not bad:
            bad = ["non-finite values on another process"]  # all ranks must act alike
        return bad

    def finite_again(self, step: int) -> None:
        """The measured values of ``step`` are finite: a ``continue`` episode, if any, is over."""
        if self.active:
            self.active = False
            log.warning("step %d: the measured values are finite again.", step)

    def rolled_back(self, from_step: int, to_step: int, checkpoint: str, reason: str) -> None:
        """Record (and log) a rollback the driver did from ``from_step`` to ``checkpoint``'s ``to_step``;
        a ``continue`` episode ends with it."""
        self.active = False
        self.rollbacks.append({"from_step": from_step, "to_step": to_step, "checkpoint": checkpoint, "reason": reason})
        if self.ctx.is_main:
            log.warning(
                "%s. Rolled back (%d of at most %d) to %s at step %d, with a fresh data order.",
                reason,
                len(self.rollbacks),
                self.optim.max_rollbacks,
                checkpoint,
                to_step,
            )

    def handle(self, step: int, quantities: list[str], where: str, *, history: Sequence[dict[str, Any]]) -> str:
        """Apply the policy to NaN/Inf found at ``step``; return what the loop does next: ``"stop"``,
        ``"rollback"`` (done: the driver is back at an earlier step) or ``"continue"``.

        ``history`` (the measured rows so far) names the last finite reading in the message.
        """
        policy = self.optim.on_nonfinite
        last_read = next((r["step"] for r in reversed(history) if r["step"] < step and "loss/d" in r), None)
        since = f" (the previous reading, at step {last_read}, was finite)" if last_read is not None else ""
        what = f"non-finite {where} at step {step}: {', '.join(quantities)}{since}"
        event = {"step": step, "where": where, "quantities": quantities, "action": policy}
        if policy == "rollback" and len(self.rollbacks) >= self.optim.max_rollbacks:
            event["action"] = "stop"
            what += f"; already rolled back {len(self.rollbacks)} time(s) (--max-rollbacks {self.optim.max_rollbacks})"
        self.events.append(event)
        if event["action"] == "continue":
            if not self.active and self.ctx.is_main:
                log.warning(
                    "%s. Training continues (--on-nonfinite continue); no checkpoint is written "
                    "while the weights are non-finite.",
                    what,
                )
            self.active = True
            return "continue"
        if event["action"] == "rollback":
            try:
                if self._rollback is None:
                    raise CheckpointError("rolling back needs a run directory with checkpoints.")
                target = self._rollback(what)
            except CheckpointError as err:
                event["action"] = "stop"
                what += f"; cannot roll back: {err}"
            else:
                event["rolled_back_to"] = target
                return "rollback"
        self._stop(step, quantities, where, what)
        return "stop"

    def _stop(self, step: int, quantities: list[str], where: str, what: str) -> None:
        good = self._last_good()
        hint = (
            f"resume from it with: featmatch train --resume {self.run_dir} (after lowering --lr-g/--lr-d), "
            "or train with --on-nonfinite rollback"
            if good
            else "lower the learning rates (--lr-g, --lr-d)"
        )
        message = f"stopped: {what}. Last finite checkpoint: {good or 'none'}. Hint: {hint}."
        self.stopped = {
            "reason": "non_finite",
            "step": step,
            "where": where,
            "quantities": quantities,
            "last_good_checkpoint": good,
            "message": message,
        }
        if self.ctx.is_main:
            log.error("%s", message)
