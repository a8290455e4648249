"""The driver of a training run: schedules, logging, checkpoints, non-finite policy, monitor, report.

It knows no task's details: the run's task (``config.task``, see :mod:`featmatch.train.tasks`)
builds the models and says what a step computes; :class:`~featmatch.train.step.TrainStep` runs the
step. Every ``log_every`` steps the scalars go to ``metrics.jsonl`` (and TensorBoard), the balance
monitor and the progress bar; they are only read from the device on those steps, so the other
steps never wait for the GPU.

A run directory holds ``config.yaml``, ``metrics.jsonl``, ``train.log``, ``samples/``,
``checkpoints/``, ``summary.json`` and ``report.md`` with its plots.

Example:
    >>> from featmatch.train.config import build_config
    >>> cfg = build_config({"data.name": "ring8", "data.size": 256, "data.batch_size": 32,
    ...                     "model.family": "mlp", "model.width": 8, "steps": 2})
    >>> trainer = Trainer(cfg)          # no run directory: nothing is written
    >>> scalars = trainer.train_step(measure=True)
    >>> sorted(k for k in scalars if k.startswith("loss/"))
    ['loss/d', 'loss/g_adv', 'loss/g_fm']
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from featmatch._io import atomic_write_text
from featmatch.data import DataSet, batches, load_dataset
from featmatch.train import checkpoint as ckpt
from featmatch.train.config import TrainConfig, config_from_dict, config_to_dict, to_yaml
from featmatch.train.distributed import (
    DistContext,
    all_gather_objects,
    any_rank,
    barrier,
    broadcast_object,
    select_device,
)
from featmatch.train.monitor import BalanceMonitor
from featmatch.train.report import write_report
from featmatch.train.seeds import (
    STREAM_DATA,
    STREAM_NOISE,
    STREAM_SAMPLES,
    derive_seed,
    eval_seed,
    seed_everything,
)
from featmatch.train.step import StepResult, TrainStep
from featmatch.train.tasks import Objective, Streams, Task, TaskModels, get_task

__all__ = [
    "NONFINITE_EXIT",
    "LoadedRun",
    "RunDirError",
    "Trainer",
    "default_run_dir",
    "eval_seed",
    "load_generator",
    "load_run",
    "load_test_split",
    "prepare_run_dir",
    "run_training",
    "seed_everything",
]

log = logging.getLogger("featmatch")

#: Real training samples drawn as the generated ones (``samples/real.png``), beside them in the report.
REAL_SAMPLES_PNG = "real.png"

# Exit status of `featmatch train` when the run stopped on NaN/Inf (optim.on_nonfinite).
NONFINITE_EXIT = 3

# A checkpoint written before tasks existed trained this one.
DEFAULT_TASK = "generation"


class RunDirError(ValueError):
    """The run directory cannot be used as asked (it exists, or is not a featmatch run)."""


def load_test_split(config: TrainConfig) -> DataSet:
    """The real test split a run's metrics compare with, loaded with the run's own data options.

    Example:
        >>> from featmatch.train.config import build_config
        >>> load_test_split(build_config({"data.name": "digits"})).x.shape
        torch.Size([360, 1, 8, 8])
    """
    return load_dataset(config.data.name, "test", seed=config.seed, **config.data.load_options())


def default_run_dir(config: TrainConfig) -> Path:
    """``runs/<data>-<objective>-<YYYYmmdd-HHMMSS>`` (``+`` in the objective becomes ``_``)."""
    name = Path(config.data.name).name if os.sep in config.data.name else config.data.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{config.objective.kind.replace('+', '_')}-{stamp}"


def prepare_run_dir(path: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Create the run directory, refusing to clobber an existing non-empty one.

    Args:
        path: the run directory.
        resume: it must exist and hold ``config.yaml`` (a run to continue).
        overwrite: delete an existing featmatch run directory first (one with ``config.yaml``).

    Raises:
        RunDirError: naming the directory and what to do instead.
    """
    path = Path(path)
    if resume:
        if not (path / "config.yaml").is_file():
            raise RunDirError(
                f"cannot resume from {str(path)!r}: it has no config.yaml, so it is not a featmatch "
                "run directory. Hint: pass the --out directory of an earlier run."
            )
        return path
    if path.exists() and not path.is_dir():
        raise RunDirError(f"run directory {str(path)!r} exists and is a file. Hint: choose another --out.")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise RunDirError(
                f"run directory {str(path)!r} already exists and is not empty; refusing to overwrite it. "
                f"Hint: continue it with --resume {path}, choose a new --out, or pass --overwrite."
            )
        if not (path / "config.yaml").is_file():
            raise RunDirError(
                f"--overwrite refuses to delete {str(path)!r}: it is not a featmatch run directory "
                "(no config.yaml). Hint: choose another --out."
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


class _SignalFlag:
    """Sets ``.raised`` on SIGINT/SIGTERM instead of killing the run; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.raised: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _SignalFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.raised is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.raised = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Trainer:
    """Trains the task ``config.task`` names: builds its data and models once, runs its steps.

    Args:
        config: the (validated) configuration.
        run_dir: where files go; ``None`` writes nothing (handy in tests and notebooks).
        ctx: the distributed context (default: one process).
        device: where to train (default: ``config.device``, ``auto`` = cuda, mps, cpu).

    Attributes:
        G, D: the models as trained (possibly DDP-wrapped / compiled).
        generator, discriminator: the plain modules (what checkpoints hold).
        ema: the moving average of the generator (``None`` when ``optim.ema == 0``).
        step: generator updates done.
        task: the run's :class:`~featmatch.train.tasks.Task`; ``models``: what it built.
        stepper: the shared :class:`~featmatch.train.step.TrainStep` (optimisers, AMP, EMA).

    Example:
        >>> from featmatch.train.config import build_config
        >>> cfg = build_config({"data.name": "ring8", "data.size": 256, "data.batch_size": 16,
        ...                     "model.family": "mlp", "model.width": 8, "steps": 3})
        >>> summary = Trainer(cfg).train()
        >>> summary["steps"]
        3
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        *,
        ctx: DistContext | None = None,
        device: torch.device | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self.task = get_task(getattr(config, "task", DEFAULT_TASK))(config)
        self.ctx = ctx or DistContext()
        self.device = device if device is not None else select_device(config.device, self.ctx.local_rank)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.writes = self.run_dir is not None and self.ctx.is_main
        self.step = 0
        self.elapsed = 0.0  # training seconds over all sessions of this run

        # Identical model initialisation on every rank (DDP also broadcasts rank 0's weights).
        seed_everything(config.seed)
        # Data: this rank's shard, on the training device (data sets here are small).
        self.data: DataSet = self.task.load_data("train", self.device)
        smallest_shard = len(self.data) // self.ctx.world_size
        if config.data.batch_size > smallest_shard >= 1:  # a user's small data set: a batch is all of it
            if self.ctx.is_main:
                log.info(
                    "data.batch_size=%d is larger than the %d training samples%s; lowered to %d",
                    config.data.batch_size,
                    smallest_shard,
                    f" of each of {self.ctx.world_size} processes" if self.ctx.world_size > 1 else "",
                    smallest_shard,
                )
            config = replace(config, data=replace(config.data, batch_size=smallest_shard))
            self.config = self.task.config = config
        self.data_description = self.task.describe_data(self.data)  # what checkpoints record
        self.models = self.task.build_models(self.data_description)
        self.models.generator.to(self.device)
        self.models.discriminator.to(self.device)
        for module in self.models.frozen.values():
            module.to(self.device)
        self.stepper = TrainStep(self.task, self.models, self.ctx, self.device)
        self.task.setup(self.models, self.data, distributed=self.ctx.enabled, device=self.device)
        self.monitor = BalanceMonitor(config.monitor, suggestions=self.task.monitor_suggestions())

        self._batches_fn = batches
        self.data_seed = derive_seed(config.seed, STREAM_DATA, self.ctx.rank)
        self.data_gen = torch.Generator().manual_seed(self.data_seed)
        self.batches_drawn = 0
        self._batches: Iterator[Any] = self._new_batches()
        self.noise_gen = torch.Generator(device=self.device).manual_seed(
            derive_seed(config.seed, STREAM_NOISE, self.ctx.rank)
        )
        # What the task draws from; late-bound, so that a patched _next_batch is the one used.
        self.streams = Streams(next_batch=lambda: self._next_batch(), noise=self.noise_gen, device=self.device)
        sample_gen = torch.Generator().manual_seed(derive_seed(config.seed, STREAM_SAMPLES))
        self.fixed_inputs = self.task.sample_inputs(self.models, config.log.n_samples, sample_gen)

        self.history: list[dict[str, Any]] = []
        self.sample_paths: list[Path] = []
        self.eval_metrics: dict[str, float] = {}
        self._tb: Any = None
        # Non-finite values (optim.on_nonfinite): every detection, every rollback, and why the
        # run stopped (None while it has not).
        self.nonfinite_events: list[dict[str, Any]] = []
        self.rollbacks: list[dict[str, Any]] = []
        self.stopped: dict[str, Any] | None = None
        self._nonfinite_active = False
        self._monitor_pair: tuple[Tensor, Tensor] | None = None

    # ------------------------------------------------------------------------------ what the step holds

    @property
    def generator(self) -> nn.Module:
        """The plain generator (what checkpoints hold)."""
        return self.models.generator

    @property
    def discriminator(self) -> nn.Module:
        """The plain discriminator (what checkpoints hold)."""
        return self.models.discriminator

    @property
    def family(self) -> str:
        return self.models.family

    @property
    def latent_dim(self) -> int | None:
        return self.models.latent_dim

    @property
    def ema(self) -> nn.Module | None:
        return self.stepper.ema

    @property
    def G(self) -> nn.Module:
        return self.stepper.G

    @property
    def D(self) -> nn.Module:
        return self.stepper.D

    @property
    def d_plain(self) -> nn.Module:
        return self.stepper.d_plain

    @property
    def g_params(self) -> list[nn.Parameter]:
        return self.stepper.g_params

    @property
    def d_params(self) -> list[nn.Parameter]:
        return self.stepper.d_params

    @property
    def opt_g(self) -> torch.optim.Optimizer:
        return self.stepper.opt_g

    @property
    def opt_d(self) -> torch.optim.Optimizer:
        return self.stepper.opt_d

    @property
    def scaler_g(self) -> torch.amp.GradScaler:
        return self.stepper.scaler_g

    @property
    def scaler_d(self) -> torch.amp.GradScaler:
        return self.stepper.scaler_d

    @property
    def adv_weight(self) -> float:
        return self.stepper.adv_weight

    # ------------------------------------------------------------------------------ one step

    def _new_batches(self) -> Iterator[Any]:
        return self._batches_fn(
            self.data,
            self.config.data.batch_size,
            self.data_gen,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
            labels=self.task.batch_labels,
        )

    def _next_batch(self) -> Any:
        self.batches_drawn += 1
        return next(self._batches)

    def draw(self) -> Any:
        """One batch of the run's task (from the training streams: it advances them)."""
        return self.task.draw(self.streams, self.models)

    def discriminator_step(self, batch: Any, fake: Any, *, measure: bool = False) -> Objective:
        """One D update on ``batch`` (from :meth:`draw`) and the generated ``fake``."""
        return self.stepper.discriminator_step(batch, fake, measure=measure)

    def generator_objective(self, batch: Any, fake: Any, real_out: Any = None, *, measure: bool = False) -> Objective:
        """The G objective (``loss`` with its graph); call it with D's parameters frozen."""
        return self.stepper.generator_objective(
            batch, fake, real_out, measure=measure, fm_multiplier=self.monitor.fm_weight_multiplier
        )

    def generator_step(self, batch: Any, fake: Any, real_out: Any = None, *, measure: bool = False) -> Objective:
        """One G update (D frozen, no gradient reaches it), then the EMA update."""
        return self.stepper.generator_step(
            batch, fake, real_out, measure=measure, fm_multiplier=self.monitor.fm_weight_multiplier, step=self.step
        )

    def _apply_schedules(self) -> None:
        self.stepper.apply_schedules(self.step)

    def train_step(self, *, measure: bool = False) -> dict[str, float] | None:
        """``optim.d_steps`` D updates then one G update; the step's scalars when ``measure``."""
        result = self.stepper.run(
            self.streams, self.step, measure=measure, fm_multiplier=self.monitor.fm_weight_multiplier
        )
        self.step += 1
        if not measure:
            return None
        # What the monitor looks at on this measured step (read by _after_measure, right after).
        self._monitor_pair = self.task.monitor_batches(result.batch, result.fake)
        return self._scalars(result)

    def _scalars(self, result: StepResult) -> dict[str, float]:
        d, g = result.d, result.g
        assert d.loss is not None and d.real_logits is not None and d.fake_logits is not None
        real_logits = torch.cat([t.float().flatten() for t in d.real_logits])
        fake_logits = torch.cat([t.float().flatten() for t in d.fake_logits])
        correct = (real_logits > 0).sum() + (fake_logits < 0).sum()
        values: dict[str, Tensor] = {f"loss/{name}": term for name, term in d.terms.items()}
        if len(d.terms) > 1:
            values["loss/d"] = d.loss
        values.update({f"loss/{name}": term for name, term in g.terms.items()})
        values.update(
            {
                "d/real_prob": torch.sigmoid(real_logits).mean(),
                "d/fake_prob": torch.sigmoid(fake_logits).mean(),
                "d/accuracy": correct / (real_logits.numel() + fake_logits.numel()),
            }
        )
        if g.grad is not None:
            values["grad/g"] = g.grad
        if d.grad is not None:
            values["grad/d"] = d.grad
        for name, term in g.layers.items():
            values[f"fm/{name}"] = term
        # One transfer for all of them.
        stacked = torch.stack([v.detach().float().reshape(()).to(self.device) for v in values.values()])
        out = dict(zip(values, stacked.tolist(), strict=True))
        out["monitor/fm_weight_multiplier"] = float(self.monitor.fm_weight_multiplier)
        out["lr/g"] = float(self.opt_g.param_groups[0]["lr"])
        out["lr/d"] = float(self.opt_d.param_groups[0]["lr"])
        out["objective/adv_weight"] = float(self.adv_weight)
        return out

    # ------------------------------------------------------------------------------ non-finite values

    def _nonfinite_scalars(self, scalars: dict[str, float]) -> list[str]:
        """``name=value`` of the measured losses/gradients/probabilities that are NaN or infinite.

        Under fp16 an overflowing gradient is the grad scaler's business (it skips that update),
        so ``grad/*`` only counts in the other precisions.
        """
        skip_grads = self.scaler_g.is_enabled()
        bad = [
            f"{key}={value}"
            for key, value in scalars.items()
            if isinstance(value, float)
            and not math.isfinite(value)
            and key.split("/")[0] in ("loss", "grad", "fm", "d")
            and not (skip_grads and key.startswith("grad/"))
        ]
        if self.ctx.enabled and any_rank(bool(bad), self.ctx, self.device) and not bad:
            bad = ["non-finite values on another process"]  # all ranks must act alike
        return bad

    def _handle_nonfinite(self, step: int, quantities: list[str], where: str) -> str:
        """Apply ``optim.on_nonfinite`` to NaN/Inf found at ``step``; return what the loop does next:
        ``"stop"``, ``"rollback"`` (done: the trainer is back at an earlier step) or ``"continue"``."""
        cfg = self.config.optim
        policy = cfg.on_nonfinite
        last_read = next((r["step"] for r in reversed(self.history) if r["step"] < step and "loss/d" in r), None)
        since = f" (the previous reading, at step {last_read}, was finite)" if last_read is not None else ""
        what = f"non-finite {where} at step {step}: {', '.join(quantities)}{since}"
        event = {"step": step, "where": where, "quantities": quantities, "action": policy}
        if policy == "rollback" and len(self.rollbacks) >= cfg.max_rollbacks:
            event["action"] = "stop"
            what += f"; already rolled back {len(self.rollbacks)} time(s) (--max-rollbacks {cfg.max_rollbacks})"
        self.nonfinite_events.append(event)
        if event["action"] == "continue":
            if not self._nonfinite_active and self.ctx.is_main:
                log.warning(
                    "%s. Training continues (--on-nonfinite continue); no checkpoint is written "
                    "while the weights are non-finite.",
                    what,
                )
            self._nonfinite_active = True
            return "continue"
        if event["action"] == "rollback":
            try:
                target = self.rollback(what)
            except ckpt.CheckpointError as err:
                event["action"] = "stop"
                what += f"; cannot roll back: {err}"
            else:
                event["rolled_back_to"] = target
                return "rollback"
        good = self._last_good_checkpoint()
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
        return "stop"

    def _last_good_checkpoint(self) -> str | None:
        if self.run_dir is None:
            return None
        found = ckpt.list_checkpoints(self.run_dir)
        return str(found[-1]) if found else None

    def rollback(self, reason: str = "") -> str:
        """Restore the newest finite checkpoint of the run and continue with a fresh data order.

        The weights, optimisers, monitor and step come back from the checkpoint; the data order
        and the noise are reseeded (from the seed, the step and the number of rollbacks), so the
        same batches do not lead to the same divergence. ``metrics.jsonl`` loses the rows after
        the restored step, as on ``--resume``. Every rollback is logged and kept in ``rollbacks``.

        Returns:
            The path of the checkpoint restored.

        Raises:
            CheckpointError: no run directory, or no usable finite checkpoint in it.
        """
        if self.run_dir is None:
            raise ckpt.CheckpointError("rolling back needs a run directory with checkpoints; got run_dir=None.")
        from_step, elapsed = self.step, self.elapsed
        _, path = ckpt.load_latest(self.run_dir, self.load_state_dict, finite=ckpt.WEIGHT_ENTRIES)
        self.elapsed = elapsed  # the lost steps took time too
        count = len(self.rollbacks) + 1
        seed = self.config.seed + 1_000_003 * count + self.step
        self.data_seed = derive_seed(seed, STREAM_DATA, self.ctx.rank)
        self.data_gen = torch.Generator().manual_seed(self.data_seed)
        self.batches_drawn = 0
        self._batches = self._new_batches()
        self.noise_gen.manual_seed(derive_seed(seed, STREAM_NOISE, self.ctx.rank))
        self._nonfinite_active = False
        self.history = [r for r in self.history if r["step"] <= self.step]
        self.sample_paths = [p for p in self.sample_paths if _step_of(p) <= self.step]
        if self.writes:
            self._truncate_metrics()
        self.rollbacks.append({"from_step": from_step, "to_step": self.step, "checkpoint": str(path), "reason": reason})
        if self.ctx.is_main:
            log.warning(
                "%s. Rolled back (%d of at most %d) to %s at step %d, with a fresh data order.",
                reason,
                count,
                self.config.optim.max_rollbacks,
                path,
                self.step,
            )
        return str(path)

    # ------------------------------------------------------------------------------ samples/eval

    @property
    def sampler(self) -> nn.Module:
        """The generator samples come from: its EMA when the run keeps one, else G."""
        return self.ema if self.ema is not None else self.generator

    @contextlib.contextmanager
    def _eval_mode(self) -> Iterator[nn.Module]:
        model = self.sampler
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                yield model
        finally:
            model.train(was_training)

    def sample(self, inputs: Any) -> Tensor:
        """Samples for the task's ``inputs`` (noise (N, latent_dim) for generation) from the EMA
        generator (else G), on CPU."""
        with self._eval_mode() as model:
            return self.task.sample(model, inputs, self.device)

    def save_samples(self) -> Path | None:
        """Write ``samples/step_<step>.png`` from the fixed inputs (rank 0 with a run directory)."""
        if not self.writes:
            return None
        assert self.run_dir is not None
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._eval_mode() as model:
            path = self.task.save_picture(
                model, self.fixed_inputs, self.data_description, path, title=f"step {self.step}", device=self.device
            )
        if path not in self.sample_paths:
            self.sample_paths.append(path)
        return path

    def evaluate(self) -> dict[str, float]:
        """The task's metrics (generation: ``featmatch.metrics.evaluate_samples``)."""
        # Keep the training random streams untouched, so evaluating never changes training.
        with (
            torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []),
            self._eval_mode() as model,
        ):
            return self.task.evaluate(model, self.models, self.data, self.device)

    # ------------------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly; ``load_state_dict`` takes it back.

        ``ranks`` holds this process's random streams; ``save_checkpoint`` replaces it with
        every rank's, so that each process of a resumed DDP run continues its own. Like
        ``nn.Module.state_dict``, it holds the live tensors: deep-copy it to keep a snapshot.
        """
        state: dict[str, Any] = {
            "step": self.step,
            "elapsed": self.elapsed,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "monitor": self.monitor.state_dict(),
            "config": config_to_dict(self.config),
            "data": self.data_description,
            "task": self.task.name,
            "family": self.family,
            "latent_dim": self.latent_dim,
            "world_size": self.ctx.world_size,
            "ranks": [self._rank_state()],
        }
        if self.models.frozen:  # e.g. a teacher trained in Task.setup: resume and load_run restore it
            state["frozen"] = {name: m.state_dict() for name, m in self.models.frozen.items()}
        return state

    def _rank_state(self) -> dict[str, Any]:
        return {
            "rng": ckpt.get_rng_state(self.device),
            "noise": self.noise_gen.get_state().cpu(),
            "data_seed": self.data_seed,
            "batches_drawn": self.batches_drawn,
            "data_state": self.data_gen.get_state(),
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/step_<step>.pt`` atomically (rank 0) and prune to ``keep_checkpoints``.

        Under DDP every rank must call it: each rank's random state is gathered into the file.

        Raises:
            featmatch.train.checkpoint.NonFiniteError: the weights (or Adam's moments) hold
                NaN/Inf; nothing is written (on any rank) and no checkpoint is pruned.
        """
        bad = ckpt.nonfinite_entries(self.state_dict(), ckpt.WEIGHT_ENTRIES)
        if bad:
            raise ckpt.NonFiniteError(
                f"step {self.step}: not writing a checkpoint: non-finite (NaN/Inf) values in "
                f"{', '.join(bad[:4])}{' and more' if len(bad) > 4 else ''}.",
                names=bad,
            )
        ranks = all_gather_objects(self._rank_state(), self.ctx)
        path = None
        if self.writes:
            assert self.run_dir is not None
            state = {**self.state_dict(), "ranks": ranks}
            path = ckpt.save_checkpoint(
                state, ckpt.checkpoint_path(self.run_dir, self.step), finite=ckpt.WEIGHT_ENTRIES
            )
            ckpt.prune_checkpoints(self.run_dir, self.config.log.keep_checkpoints, protect=path)
            log.info("step %d: saved checkpoint %s", self.step, path)
        barrier(self.ctx)
        return path

    def load_state_dict(self, state: dict[str, Any], path: Path | str = "<state>") -> None:
        """Restore a checkpoint's state; raises ``CheckpointError`` when it does not fit this run."""
        for key in ("generator", "discriminator", "opt_g", "opt_d", "step", "ranks"):
            if key not in state:
                raise ckpt.CheckpointError(f"checkpoint {str(path)!r} lacks the entry {key!r}.")
        self._check_task(state, path)
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        load_frozen(self.models, state)
        if self.ema is not None:
            if state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema.load_state_dict(self.generator.state_dict())
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        # New betas from the config win over the saved ones (learning rates: _apply_schedules below).
        betas = (float(self.config.optim.betas[0]), float(self.config.optim.betas[1]))
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["betas"] = betas
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
        if state.get("scaler_d"):
            self.scaler_d.load_state_dict(state["scaler_d"])
        if state.get("monitor") is not None:
            self.monitor.load_state_dict(state["monitor"])
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))
        # The learning rates and the adversarial weight of the restored step, so that a caller
        # of generator_objective() before the next train_step() sees them too.
        self._apply_schedules()

        ranks = state["ranks"]
        if len(ranks) == self.ctx.world_size:
            mine = ranks[self.ctx.rank]
            ckpt.set_rng_state(mine["rng"], self.device)
            self.noise_gen.set_state(mine["noise"].to(self.noise_gen.get_state().device))
            # The batch stream cuts epochs from permutations: replay it to the same position.
            self.data_gen = torch.Generator().manual_seed(int(mine["data_seed"]))
            self.data_seed = int(mine["data_seed"])
            self._batches = self._new_batches()
            self.batches_drawn = 0
            for _ in range(int(mine["batches_drawn"])):
                self._next_batch()
            if not torch.equal(self.data_gen.get_state(), mine["data_state"]):
                log.warning(
                    "the data stream after replaying %d batches differs from the checkpoint's; "
                    "the data changed since the run was saved, so batches will differ.",
                    self.batches_drawn,
                )
        else:
            log.warning(
                "checkpoint %s was written by %d process(es), this run has %d: training resumes "
                "from its weights and optimiser state with fresh random streams (not bit-exact).",
                path,
                len(ranks),
                self.ctx.world_size,
            )
            seed = self.config.seed + self.step
            self.noise_gen.manual_seed(derive_seed(seed, STREAM_NOISE, self.ctx.rank))
            self.data_gen.manual_seed(derive_seed(seed, STREAM_DATA, self.ctx.rank))
            self._batches = self._new_batches()

    def _check_task(self, state: dict[str, Any], path: Path | str) -> None:
        task = state.get("task", DEFAULT_TASK)
        if task != self.task.name:
            raise ckpt.CheckpointError(
                f"checkpoint {str(path)!r} was written by a {task!r} run; this run's task is "
                f"{self.task.name!r}. Hint: resume it with task {task!r}, or start a new run."
            )

    def resume(self) -> Path:
        """Load the newest usable checkpoint of ``run_dir`` (falling back to older ones)."""
        if self.run_dir is None:
            raise ValueError("resume needs a run directory; got run_dir=None.")
        if self.writes:
            ckpt.remove_orphans(self.run_dir)
        _, path = ckpt.load_latest(self.run_dir, self.load_state_dict, finite=ckpt.WEIGHT_ENTRIES)
        log.info("resumed from %s at step %d", path, self.step)
        if self.writes:
            self._truncate_metrics()
        self.sample_paths = sorted((self.run_dir / "samples").glob("step_*.png")) if self.writes else []
        return path

    def _truncate_metrics(self) -> None:
        """Keep only the rows up to the resumed step (later ones belong to the lost future)."""
        assert self.run_dir is not None
        path = self.run_dir / "metrics.jsonl"
        rows = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    row = json.loads(line)
                    if row.get("step", 0) <= self.step:
                        rows.append(row)
        self.history = [r for r in rows if not any(k.startswith("eval/") for k in r)]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))

    # ------------------------------------------------------------------------------ the run

    def _write_row(self, row: dict[str, Any]) -> None:
        if not self.writes:
            return
        assert self.run_dir is not None
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, allow_nan=True) + "\n")
        if self._tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, row["step"])

    def _open_tensorboard(self) -> None:
        wanted = self.config.log.tensorboard  # None: when installed; True: asked for explicitly
        if not self.writes or wanted is False:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional dependency (tensorboard)
        except ImportError:  # tensorboard is optional: skipped quietly unless it was asked for
            if wanted:
                log.warning(
                    "log.tensorboard is true but the tensorboard package is not installed, so no "
                    "TensorBoard logs are written (metrics.jsonl has every scalar). Install it with: "
                    "pip install 'featmatch[tensorboard]'"
                )
            return
        assert self.run_dir is not None
        self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def _progress_bar(self) -> Any:
        disable = self.config.log.quiet or not self.ctx.is_main or not sys.stderr.isatty()
        try:
            from tqdm.auto import tqdm  # optional dependency (the train extra's)
        except ImportError:
            return None
        return tqdm(
            total=self.config.steps,
            initial=self.step,
            file=sys.stderr,
            disable=disable,
            dynamic_ncols=True,
            unit="step",
            desc="train",
        )

    def train(self) -> dict[str, Any]:
        """Train up to ``config.steps``; write everything; return the summary.

        Ctrl-C or SIGTERM stop the run cleanly at the end of the current step: a checkpoint is
        saved and the summary says ``"interrupted": true``.
        """
        before = list(log.handlers)
        try:
            return self._train()
        finally:
            # Whatever ends the run (a full disk, a bug), its train.log handler leaves the logger.
            for handler in [h for h in log.handlers if h not in before]:
                log.removeHandler(handler)
                handler.close()

    def _train(self) -> dict[str, Any]:
        cfg = self.config
        file_handler = None
        if self.writes:
            assert self.run_dir is not None
            self.run_dir.mkdir(parents=True, exist_ok=True)
            ckpt.remove_orphans(self.run_dir)
            atomic_write_text(self.run_dir / "config.yaml", to_yaml(cfg))
            self.task.write_run_files(self.run_dir)
            real = self.run_dir / "samples" / REAL_SAMPLES_PNG
            if not real.is_file():
                real.parent.mkdir(parents=True, exist_ok=True)
                self.task.save_real_picture(self.data, real, n=cfg.log.n_samples, seed=cfg.seed)
            file_handler = logging.FileHandler(self.run_dir / "train.log", encoding="utf-8")
            file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(file_handler)
            self._open_tensorboard()
        if self.step == 0 and self.ctx.is_main:
            log.info(
                "training %s on %s (%s, %d process(es)) for %d steps; run directory: %s",
                self.family,
                cfg.data.name,
                self.device,
                self.ctx.world_size,
                cfg.steps,
                self.run_dir,
            )
        bar = self._progress_bar()
        interrupted: str | None = None
        last_checkpoint = -1
        session_start = time.perf_counter()
        tick_time, tick_step = session_start, self.step
        # Without a terminal (a log file, CI, a cluster's job) the bar is off: progress lines instead.
        lines = self.ctx.is_main and not cfg.log.quiet and (bar is None or bar.disable)
        self._line_time, self._line_step = session_start, self.step
        try:
            with _SignalFlag() as flag:
                while self.step < cfg.steps:
                    measure = (self.step + 1) % cfg.log.log_every == 0 or self.step + 1 == cfg.steps
                    scalars = self.train_step(measure=measure)
                    step = self.step
                    if bar is not None:
                        bar.update(1)
                    if scalars is not None:
                        now = time.perf_counter()
                        scalars["steps_per_sec"] = (step - tick_step) / max(now - tick_time, 1e-9)
                        tick_time, tick_step = now, step
                        self._after_measure(step, scalars, bar)
                        if lines and now - self._line_time >= cfg.log.progress_every:
                            self._progress_line(step, scalars, now)
                        # The scalars are on the host already: checking them costs no device sync.
                        bad = self._nonfinite_scalars(scalars)
                        action = "continue"
                        if bad:
                            action = self._handle_nonfinite(step, bad, "losses/gradients")
                        elif self._nonfinite_active:
                            self._nonfinite_active = False
                            log.warning("step %d: the measured values are finite again.", step)
                        if action == "stop":
                            break
                        if action == "rollback":
                            last_checkpoint = tick_step = self.step
                            if bar is not None:
                                bar.n = self.step
                            continue
                    if cfg.log.sample_every and step % cfg.log.sample_every == 0:
                        self.save_samples()
                    if cfg.log.eval_every and step % cfg.log.eval_every == 0 and step < cfg.steps:
                        self._evaluate_and_log()
                    if cfg.log.checkpoint_every and step % cfg.log.checkpoint_every == 0:
                        self.elapsed_update(session_start)
                        session_start = time.perf_counter()
                        try:
                            self.save_checkpoint()
                            last_checkpoint = step
                        except ckpt.NonFiniteError as err:
                            action = self._handle_nonfinite(step, err.names, "weights")
                            if action == "stop":
                                break
                            if action == "rollback":
                                last_checkpoint = tick_step = self.step
                                if bar is not None:
                                    bar.n = self.step
                                continue
                    # Under DDP all ranks must agree to stop at the same step.
                    check = not self.ctx.enabled or step % 10 == 0 or step == cfg.steps
                    if check and any_rank(flag.raised is not None, self.ctx, self.device):
                        interrupted = flag.raised or "signal on another rank"
                        break
                self.elapsed_update(session_start)
                session_start = time.perf_counter()
                if last_checkpoint != self.step:
                    try:
                        self.save_checkpoint()
                    except ckpt.NonFiniteError as err:
                        if self.stopped is None and self.ctx.is_main:
                            log.warning("%s The last finite checkpoint is %s.", err, self._last_good_checkpoint())
        finally:
            if bar is not None:
                bar.close()
        if self.stopped is not None:
            pass  # no samples or metrics from diverged weights; the summary and report say why
        elif interrupted:
            log.warning(
                "interrupted (%s) at step %d; checkpoint saved. Continue with: featmatch train --resume %s",
                interrupted,
                self.step,
                self.run_dir,
            )
        else:
            if not self.sample_paths or self.sample_paths[-1].name != f"step_{self.step:06d}.png":
                self.save_samples()
            if self.ctx.is_main:
                self.eval_metrics = self._evaluate_safely()
                if self.eval_metrics:
                    self._write_row({"step": self.step, **{f"eval/{k}": v for k, v in self.eval_metrics.items()}})
        summary = self._summary(interrupted)
        if self.writes:
            assert self.run_dir is not None
            atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
            report = write_report(
                self.run_dir,
                summary=summary,
                history=self.history,
                episodes=self.monitor.episodes,
                sample_paths=list(self.sample_paths),
                extra_sections=self.task.report_sections(self.run_dir, summary, self.history),
                metrics_title=self.task.metrics_title,
                real_samples=_existing(self.run_dir / "samples" / REAL_SAMPLES_PNG),
            )
            log.info("report: %s", report)
        if self._tb is not None:
            self._tb.close()
        if file_handler is not None:
            log.removeHandler(file_handler)
            file_handler.close()
        barrier(self.ctx)
        return summary

    def elapsed_update(self, since: float) -> None:
        """Add the training time since ``since`` (a ``perf_counter`` value) to ``elapsed``."""
        self.elapsed += time.perf_counter() - since

    def _after_measure(self, step: int, scalars: dict[str, float], bar: Any) -> None:
        row = {"step": step, **scalars}
        self.history.append(row)
        self._write_row(row)
        pair = self._monitor_pair
        real, fake = pair if pair is not None else (None, None)
        alerts = self.monitor.update(step, scalars, real_batch=real, fake_batch=fake)
        if self.ctx.is_main:
            for alert in alerts:
                if alert.quiet:  # an episode that does not matter for this run: information only
                    log.info("step %d: %s (%s)", alert.step, alert.message, alert.suggestion)
                else:
                    log.warning("step %d: %s Suggestion: %s", alert.step, alert.message, alert.suggestion)
        if bar is not None:
            bar.set_postfix_str(
                f"d={scalars['loss/d']:.3f} g_adv={scalars['loss/g_adv']:.3f} "
                f"g_fm={scalars['loss/g_fm']:.4f} D(x)={scalars['d/real_prob']:.2f} "
                f"D(G(z))={scalars['d/fake_prob']:.2f} [{self.monitor.status}]",
                refresh=False,
            )

    def _progress_line(self, step: int, scalars: dict[str, float], now: float) -> None:
        """One log line of progress: step, speed since the last line, ETA, the main losses, the monitor."""
        rate = (step - self._line_step) / max(now - self._line_time, 1e-9)
        self._line_time, self._line_step = now, step
        total = self.config.steps
        eta = (total - step) / rate if rate > 0 else float("inf")
        losses = ", ".join(f"{k} {v:.4g}" for k, v in scalars.items() if k.startswith("loss/"))
        log.info(
            "step %d/%d (%d%%), %.3g steps/s, ETA %s; %s [%s]",
            step,
            total,
            100 * step // total,
            rate,
            _duration(eta),
            losses,
            self.monitor.status,
        )

    def _evaluate_and_log(self) -> None:
        if not self.ctx.is_main:
            return
        metrics = self._evaluate_safely()
        if metrics:
            self._write_row({"step": self.step, **{f"eval/{k}": v for k, v in metrics.items()}})

    def _evaluate_safely(self) -> dict[str, float]:
        """Evaluation must not lose a finished run: failures are logged, not raised."""
        try:
            return self.evaluate()
        except Exception as err:
            log.warning("evaluation failed (%s: %s); summary.json has no metrics.", type(err).__name__, err)
            return {}

    def _summary(self, interrupted: str | None) -> dict[str, Any]:
        final = dict(self.history[-1]) if self.history else {}
        return {
            "steps": self.step,
            "target_steps": self.config.steps,
            "interrupted": bool(interrupted),
            "wall_time_sec": round(self.elapsed, 3),
            "steps_per_sec": round(self.step / self.elapsed, 3) if self.elapsed > 0 else None,
            "device": str(self.device),
            "world_size": self.ctx.world_size,
            "family": self.family,
            "stopped": self.stopped,
            "nonfinite": self.nonfinite_events,
            "rollbacks": self.rollbacks,
            "final": {k: _finite_or_str(v) for k, v in final.items()},
            "metrics": self.eval_metrics,
            "episodes": self.monitor.episodes,
            "monitor_status": self.monitor.status,
            "samples": [str(p.relative_to(self.run_dir)) if self.run_dir else str(p) for p in self.sample_paths],
            "config": config_to_dict(self.config),
        }


def _duration(seconds: float) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"``, ``"42 s"`` (``"?"`` when unknown)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def load_frozen(models: TaskModels, state: dict[str, Any]) -> None:
    """Load the checkpoint's ``frozen`` modules (a task's fixed extras, e.g. a teacher) into ``models.frozen``.

    A checkpoint without the entry (or without one of the modules) leaves those modules as built.
    """
    saved = state.get("frozen") or {}
    for name, module in models.frozen.items():
        if name in saved:
            module.load_state_dict(saved[name])


def _finite_or_str(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _to_cpu(data: Any) -> Any:
    return replace(data, x=data.x.cpu())


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _step_of(path: Path) -> int:
    """The step in a ``step_<n>.png`` / ``step_<n>.pt`` name (-1 when there is none)."""
    digits = path.stem.rpartition("_")[2]
    return int(digits) if digits.isdigit() else -1


def run_training(
    config: TrainConfig,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    ctx: DistContext | None = None,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """Prepare the run directory (rank 0), build a :class:`Trainer`, resume if asked, train.

    Args:
        config: the validated configuration.
        run_dir: the run directory (default ``config.log.out`` or :func:`default_run_dir`).
        resume: continue the run in ``run_dir`` from its newest usable checkpoint.
        overwrite: replace an existing run directory.
        ctx, device: distributed context and device (default: one process, ``config.device``).

    Returns:
        The summary (also written to ``summary.json``), with ``run_dir`` added.
    """
    ctx = ctx or DistContext()
    if run_dir is None:
        run_dir = config.log.out or default_run_dir(config)
    run_dir = Path(broadcast_object(str(run_dir), ctx))
    error: str | None = None
    if ctx.is_main:
        try:
            prepare_run_dir(run_dir, resume=resume, overwrite=overwrite)
        except RunDirError as err:
            error = str(err)
    error = broadcast_object(error, ctx)
    if error is not None:
        raise RunDirError(error)
    trainer = Trainer(config, run_dir, ctx=ctx, device=device)
    if resume:
        trainer.resume()
    summary = trainer.train()
    summary["run_dir"] = str(run_dir)
    return summary


@dataclass
class LoadedRun:
    """A trained run rebuilt from a checkpoint by its task (what :func:`load_run` returns).

    Attributes:
        task: the run's task, made from its config.
        models: the task's models, the generator with the chosen weights, in eval mode.
        state: the checkpoint's state (``state["data"]`` describes the data, ``state["step"]``).
        config: the run's config.
        path: the checkpoint file used.
    """

    task: Task
    models: TaskModels
    state: dict[str, Any]
    config: TrainConfig
    path: Path

    @property
    def generator(self) -> nn.Module:
        return self.models.generator


def load_run(checkpoint: str | Path, *, device: torch.device | str = "cpu", use_ema: bool = True) -> LoadedRun:
    """Rebuild a run's task and models from a checkpoint file (or a run directory: its newest usable one).

    What :func:`load_generator`, ``featmatch sample`` and ``featmatch eval`` start from: the task
    draws the inputs, samples and pictures, and evaluates, as it did in training.

    Example:
        >>> run = load_run("runs/digits-fm-20250101-120000")  # doctest: +SKIP
        >>> run.task.evaluate(run.generator, run.models, run.task.load_data("train", torch.device("cpu")),
        ...                   torch.device("cpu"))  # doctest: +SKIP
    """
    state, path = ckpt.load_usable(
        checkpoint, required=("generator", "data", "family", "config"), finite=("generator", "ema")
    )
    state.setdefault("task", DEFAULT_TASK)
    try:
        task_cls = get_task(state["task"])
        config = config_from_dict(state["config"])
        if state.get("latent_dim") is not None:  # the width the run trained with
            config = replace(config, model=replace(config.model, latent_dim=state["latent_dim"]))
        task = task_cls(config)
        models = task.build_models(state["data"], family=state["family"])
        weights = state["ema"] if use_ema and state.get("ema") is not None else state["generator"]
        models.generator.load_state_dict(weights)
        load_frozen(models, state)
    except (RuntimeError, ValueError, TypeError, KeyError) as err:
        raise ckpt.CheckpointError(
            f"checkpoint {str(path)!r} does not fit its own model description "
            f"(task {state.get('task')!r}, family {state.get('family')!r}): {err}"
        ) from err
    device = torch.device(device)
    for module in (models.generator, models.discriminator, *models.frozen.values()):
        module.to(device).eval()
    return LoadedRun(task, models, state, config, Path(path))


def load_generator(
    checkpoint: str | Path, *, device: torch.device | str = "cpu", use_ema: bool = True
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a run's generator from a checkpoint file (or a run directory: its newest one).

    The models are built by the run's task (``state["task"]``; a checkpoint without one was
    written by a "generation" run), the same way training builds them.

    Args:
        checkpoint: a ``.pt`` checkpoint, or a run directory.
        device: where to put the generator.
        use_ema: load the moving-average weights when the run kept them.

    Returns:
        ``(generator in eval mode, checkpoint state)``; ``state["data"]`` describes the data
        (``name``, ``kind``, ``sample_shape``, ``centres``), ``state["config"]`` the run and
        ``state["task"]`` its task.

    A run directory gives its newest *usable* checkpoint: unreadable ones, ones whose checksum
    does not match and ones with non-finite weights are skipped with a warning (and left as they
    are). A file is used as it is: any of these problems is an error.

    Raises:
        CheckpointError: the file is missing, corrupt, holds NaN/Inf weights
            (:class:`~featmatch.train.checkpoint.NonFiniteError`) or its weights do not fit its
            model; or the run directory has no usable checkpoint.

    Example:
        >>> g, state = load_generator("runs/digits-fm-20250101-120000")  # doctest: +SKIP
        >>> g(torch.randn(16, g.latent_dim)).shape  # doctest: +SKIP
        torch.Size([16, 1, 8, 8])
    """
    run = load_run(checkpoint, device=device, use_ema=use_ema)
    return run.generator, run.state
