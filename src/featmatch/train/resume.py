"""Checkpointing and resume: writing a run's checkpoints, and finding the one to continue from.

:class:`Checkpoints` writes ``checkpoints/step_<step>.pt`` atomically (never with non-finite
weights), gathers every rank's random streams into it, prunes old ones, and loads the newest usable
one for ``--resume`` and rollbacks. The state itself is the driver's
(:meth:`featmatch.train.trainer.Trainer.state_dict`); the file format is :mod:`featmatch.train.checkpoint`.

Example:
    >>> Checkpoints(None).last_good() is None
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from featmatch.train import checkpoint as ckpt
from featmatch.train.distributed import DistContext, all_gather_objects, barrier
from featmatch.train.monitor import BalanceMonitor
from featmatch.train.step import TrainStep
from featmatch.train.tasks import TaskModels

__all__ = [
    "DEFAULT_TASK",
    "Checkpoints",
    "check_task",
    "load_frozen",
    "load_training_state",
    "training_state",
]

log = logging.getLogger("featmatch")

#: A checkpoint written before tasks existed trained this one.
DEFAULT_TASK = "generation"


class Checkpoints:
    """The checkpoints of one run directory.

    Args:
        run_dir: the run directory (``None``: no checkpoints; loading raises).
        ctx: the distributed context (every rank calls :meth:`save`; rank 0 writes).
        keep: how many checkpoints to keep (``log.keep_checkpoints``).
        writes: whether this process writes files (rank 0 with a run directory).
    """

    def __init__(
        self, run_dir: Path | None, ctx: DistContext | None = None, *, keep: int = 3, writes: bool = False
    ) -> None:
        self.run_dir = run_dir
        self.ctx = ctx or DistContext()
        self.keep = keep
        self.writes = writes and run_dir is not None

    def save(self, step: int, state: Callable[[], dict[str, Any]], rank_state: dict[str, Any]) -> Path | None:
        """Write ``state()`` with every rank's ``rank_state`` as the checkpoint of ``step``; prune.

        Raises:
            featmatch.train.checkpoint.NonFiniteError: the weights (or Adam's moments) hold NaN/Inf;
                nothing is written (on any rank) and no checkpoint is pruned.
        """
        bad = ckpt.nonfinite_entries(state(), ckpt.WEIGHT_ENTRIES)
        if bad:
            raise ckpt.NonFiniteError(
                f"step {step}: not writing a checkpoint: non-finite (NaN/Inf) values in "
                f"{', '.join(bad[:4])}{' and more' if len(bad) > 4 else ''}.",
                names=bad,
            )
        ranks = all_gather_objects(rank_state, self.ctx)
        path = None
        if self.writes:
            assert self.run_dir is not None
            path = ckpt.save_checkpoint(
                {**state(), "ranks": ranks}, ckpt.checkpoint_path(self.run_dir, step), finite=ckpt.WEIGHT_ENTRIES
            )
            ckpt.prune_checkpoints(self.run_dir, self.keep, protect=path)
            log.info("step %d: saved checkpoint %s", step, path)
        barrier(self.ctx)
        return path

    def load_latest(self, load: Callable[[dict[str, Any], Path], None], *, why: str = "resuming") -> Path:
        """Hand the newest usable checkpoint's state to ``load(state, path)`` (falling back to older
        ones when it raises ``CheckpointError``); return its path.

        Raises:
            CheckpointError: no run directory, or no usable finite checkpoint in it.
        """
        if self.run_dir is None:
            raise ckpt.CheckpointError(f"{why} needs a run directory with checkpoints; got run_dir=None.")
        _, path = ckpt.load_latest(self.run_dir, load, finite=ckpt.WEIGHT_ENTRIES)
        return Path(path)

    def last_good(self) -> str | None:
        """The newest checkpoint of the run, or ``None``."""
        if self.run_dir is None:
            return None
        found = ckpt.list_checkpoints(self.run_dir)
        return str(found[-1]) if found else None

    def remove_orphans(self) -> None:
        """Remove the temporary files of checkpoints whose writing was cut short (rank 0)."""
        if self.writes:
            assert self.run_dir is not None
            ckpt.remove_orphans(self.run_dir)


def check_task(state: dict[str, Any], path: Path | str, task: str) -> None:
    """Raise ``CheckpointError`` unless the checkpoint ``state`` was written by a ``task`` run."""
    written_by = state.get("task", DEFAULT_TASK)
    if written_by != task:
        raise ckpt.CheckpointError(
            f"checkpoint {str(path)!r} was written by a {written_by!r} run; this run's task is "
            f"{task!r}. Hint: resume it with task {written_by!r}, or start a new run."
        )


def load_frozen(models: TaskModels, state: dict[str, Any]) -> None:
    """Load the checkpoint's ``frozen`` modules (a task's fixed extras, e.g. a teacher) into ``models.frozen``.

    A checkpoint without the entry (or without one of the modules) leaves those modules as built.
    """
    saved = state.get("frozen") or {}
    for name, module in models.frozen.items():
        if name in saved:
            module.load_state_dict(saved[name])


def training_state(stepper: TrainStep, models: TaskModels, monitor: BalanceMonitor) -> dict[str, Any]:
    """What a checkpoint holds of the training itself: the models, their EMA, the optimisers, the
    grad scalers, the balance monitor and the task's frozen modules (live tensors, as ``state_dict``)."""
    state: dict[str, Any] = {
        "generator": models.generator.state_dict(),
        "discriminator": models.discriminator.state_dict(),
        "ema": stepper.ema.state_dict() if stepper.ema is not None else None,
        "opt_g": stepper.opt_g.state_dict(),
        "opt_d": stepper.opt_d.state_dict(),
        "scaler_g": stepper.scaler_g.state_dict(),
        "scaler_d": stepper.scaler_d.state_dict(),
        "monitor": monitor.state_dict(),
    }
    if models.frozen:  # e.g. a teacher trained in Task.setup: resume and load_run restore it
        state["frozen"] = {name: m.state_dict() for name, m in models.frozen.items()}
    return state


def load_training_state(
    state: dict[str, Any],
    stepper: TrainStep,
    models: TaskModels,
    monitor: BalanceMonitor,
    *,
    betas: tuple[float, float],
) -> None:
    """Load :func:`training_state`'s entries back; ``betas`` (the config's) win over the saved ones."""
    models.generator.load_state_dict(state["generator"])
    models.discriminator.load_state_dict(state["discriminator"])
    load_frozen(models, state)
    if stepper.ema is not None:
        stepper.ema.load_state_dict(state["ema"] if state.get("ema") is not None else models.generator.state_dict())
    stepper.opt_g.load_state_dict(state["opt_g"])
    stepper.opt_d.load_state_dict(state["opt_d"])
    for opt in (stepper.opt_g, stepper.opt_d):
        for group in opt.param_groups:
            group["betas"] = betas
    for key, scaler in (("scaler_g", stepper.scaler_g), ("scaler_d", stepper.scaler_d)):
        if state.get(key):
            scaler.load_state_dict(state[key])
    if state.get("monitor") is not None:
        monitor.load_state_dict(state["monitor"])
