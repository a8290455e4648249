"""Evaluation and the report: a run's sample pictures, its metrics, ``summary.json`` and ``report.md``.

:class:`Evaluator` draws and scores samples of the generator the run shows (its EMA when it keeps
one) through the run's task, without touching the training random streams;
:func:`write_summary_and_report` writes the run's closing files.

Example:
    >>> from featmatch.train.config import build_config
    >>> from featmatch.train.trainer import Trainer
    >>> trainer = Trainer(build_config({"data.name": "ring8", "data.size": 64, "model.family": "mlp",
    ...                                 "model.width": 8, "steps": 1, "log.n_samples": 16}))
    >>> trainer.evaluator.sample(trainer.fixed_inputs).shape
    torch.Size([16, 2])
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from featmatch._io import atomic_write_text
from featmatch.data import DataSet
from featmatch.train.config import TrainConfig, config_to_dict
from featmatch.train.monitor import BalanceMonitor
from featmatch.train.nonfinite import NonFinitePolicy
from featmatch.train.report import write_report
from featmatch.train.rundir import REAL_SAMPLES_PNG
from featmatch.train.tasks import Task, TaskModels

__all__ = ["Evaluator", "run_summary", "step_of", "write_summary_and_report"]

log = logging.getLogger("featmatch")


class Evaluator:
    """Samples, pictures and metrics of one run's generator.

    Args:
        task, models, data: the run's task, its models and its training data.
        description: the task's description of the data (what checkpoints record).
        device: the training device.
        sampler: the generator samples come from (the EMA when the run keeps one, else G).
        fixed_inputs: the inputs of every sample picture (the task's, drawn once).
        run_dir: where pictures go; ``None`` writes none (another rank, or no run directory).

    Attributes:
        sample_paths: the pictures written (``samples/step_<step>.png``), oldest first.
    """

    def __init__(
        self,
        task: Task,
        models: TaskModels,
        data: DataSet,
        description: Mapping[str, Any],
        device: torch.device,
        *,
        sampler: nn.Module,
        fixed_inputs: Any,
        run_dir: Path | None,
    ) -> None:
        self.task = task
        self.models = models
        self.data = data
        self.description = description
        self.device = device
        self.sampler = sampler
        self.fixed_inputs = fixed_inputs
        self.run_dir = run_dir
        self.sample_paths: list[Path] = []

    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[nn.Module]:
        """The sampler in eval mode under ``no_grad`` (its mode restored after)."""
        model = self.sampler
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                yield model
        finally:
            model.train(was_training)

    def sample(self, inputs: Any) -> Tensor:
        """Samples for the task's ``inputs`` (noise (N, latent_dim) for generation), on CPU."""
        with self.eval_mode() as model:
            return self.task.sample(model, inputs, self.device)

    def save_samples(self, step: int) -> Path | None:
        """Write ``samples/step_<step>.png`` from the fixed inputs (when this process writes)."""
        if self.run_dir is None:
            return None
        path = self.run_dir / "samples" / f"step_{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.eval_mode() as model:
            path = self.task.save_picture(
                model, self.fixed_inputs, self.description, path, title=f"step {step}", device=self.device
            )
        if path not in self.sample_paths:
            self.sample_paths.append(path)
        return path

    def has_samples_of(self, step: int) -> bool:
        """Whether the newest picture is of ``step``."""
        return bool(self.sample_paths) and self.sample_paths[-1].name == f"step_{step:06d}.png"

    def save_real_samples(self, n: int, seed: int) -> None:
        """Write ``samples/real.png`` (real training samples drawn as the generated ones), once per run."""
        if self.run_dir is None:
            return
        real = self.run_dir / "samples" / REAL_SAMPLES_PNG
        if not real.is_file():
            real.parent.mkdir(parents=True, exist_ok=True)
            self.task.save_real_picture(self.data, real, n=n, seed=seed)

    def evaluate(self) -> dict[str, float]:
        """The task's metrics; the training random streams are left as they were."""
        with (
            torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []),
            self.eval_mode() as model,
        ):
            return self.task.evaluate(model, self.models, self.data, self.device)

    def forget_after(self, step: int) -> None:
        """Forget the pictures of steps after ``step`` (a rollback's lost future)."""
        self.sample_paths = [p for p in self.sample_paths if step_of(p) <= step]

    def find_samples(self) -> None:
        """The pictures already in the run directory (on resume)."""
        self.sample_paths = sorted((self.run_dir / "samples").glob("step_*.png")) if self.run_dir else []


def write_summary_and_report(
    run_dir: Path,
    summary: dict[str, Any],
    *,
    task: Task,
    history: list[dict[str, Any]],
    episodes: Sequence[dict[str, Any]],
    sample_paths: Sequence[Path],
) -> Path:
    """Write ``summary.json`` and ``report.md`` (with the task's own sections); return the report's path."""
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    return write_report(
        run_dir,
        summary=summary,
        history=history,
        episodes=list(episodes),
        sample_paths=list(sample_paths),
        extra_sections=task.report_sections(run_dir, summary, history),
        metrics_title=task.metrics_title,
        real_samples=_existing(run_dir / "samples" / REAL_SAMPLES_PNG),
    )


def run_summary(
    *,
    steps: int,
    config: TrainConfig,
    interrupted: str | None,
    elapsed: float,
    device: torch.device,
    world_size: int,
    family: str,
    nonfinite: NonFinitePolicy,
    final: Mapping[str, Any],
    metrics: Mapping[str, float],
    monitor: BalanceMonitor,
    samples: Sequence[str],
) -> dict[str, Any]:
    """What ``summary.json`` holds: the run's length and speed, how it ended (``interrupted``,
    ``stopped``, ``nonfinite``, ``rollbacks``), its last measured row (``final``, NaN/Inf as text),
    its ``metrics``, the monitor's episodes and status, its pictures and its config.

    Example:
        >>> from featmatch.train.config import TrainConfig
        >>> summary = run_summary(steps=10, config=TrainConfig(steps=10), interrupted=None, elapsed=2.0,
        ...     device=torch.device("cpu"), world_size=1, family="mlp", nonfinite=NonFinitePolicy(TrainConfig().optim),
        ...     final={"loss/d": float("nan")}, metrics={}, monitor=BalanceMonitor(TrainConfig().monitor), samples=[])
        >>> summary["steps_per_sec"], summary["final"]
        (5.0, {'loss/d': 'nan'})
    """
    return {
        "steps": steps,
        "target_steps": config.steps,
        "interrupted": bool(interrupted),
        "wall_time_sec": round(elapsed, 3),
        "steps_per_sec": round(steps / elapsed, 3) if elapsed > 0 else None,
        "device": str(device),
        "world_size": world_size,
        "family": family,
        "stopped": nonfinite.stopped,
        "nonfinite": nonfinite.events,
        "rollbacks": nonfinite.rollbacks,
        "final": {k: _finite_or_str(v) for k, v in final.items()},
        "metrics": metrics,
        "episodes": monitor.episodes,
        "monitor_status": monitor.status,
        "samples": list(samples),
        "config": config_to_dict(config),
    }


def _finite_or_str(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def step_of(path: Path) -> int:
    """The step in a ``step_<n>.png`` / ``step_<n>.pt`` name (-1 when there is none).

    Example:
        >>> step_of(Path("samples/step_000120.png")), step_of(Path("real.png"))
        (120, -1)
    """
    digits = path.stem.rpartition("_")[2]
    return int(digits) if digits.isdigit() else -1


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None
