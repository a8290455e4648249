"""The driver of a training run: :func:`run_training` and the :class:`Trainer` it builds.

Why one module over 600 lines: the :class:`Trainer` (about 500 of them: the loop, the checkpoint
round trip, and the step-by-step API and attribute names that tests and benchmarks drive) with
:func:`run_training`, and :func:`load_run`, which rebuilds a finished run the way training builds
it; everything else a run needs is in the collaborators named below.

A run, in order: agree on the run directory and prepare it (:mod:`featmatch.train.rundir`), build
the trainer (the task's data and models, the shared step, the random streams), resume from the
newest checkpoint when asked (:mod:`featmatch.train.resume`), then train: open the run's files,
run the steps (the non-finite policy, :mod:`featmatch.train.nonfinite`, on every measured step;
samples, metrics and checkpoints on their schedules), and close with samples, metrics,
``summary.json`` and ``report.md`` (:mod:`featmatch.train.evaluation`).

It knows no task's details: the run's task (``config.task``, see :mod:`featmatch.train.tasks`)
builds the models and says what a step computes; :class:`~featmatch.train.step.TrainStep` runs the
step. Every ``log_every`` steps the scalars go to ``metrics.jsonl`` (and TensorBoard), the balance
monitor and the progress bar (:mod:`featmatch.train.progress`); they are only read from the device
on those steps, so the other steps never wait for the GPU.

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

import importlib
import logging
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import featmatch.train.rundir as rundir
from featmatch._checks import warn_deprecated
from featmatch._io import atomic_write_text
from featmatch.data import DataSet, load_dataset
from featmatch.train import checkpoint as ckpt
from featmatch.train.config import TrainConfig, config_from_dict, config_to_dict, to_yaml
from featmatch.train.distributed import DistContext, any_rank, barrier, broadcast_object, select_device
from featmatch.train.evaluation import Evaluator, run_summary, write_summary_and_report
from featmatch.train.monitor import BalanceMonitor
from featmatch.train.nonfinite import NonFinitePolicy
from featmatch.train.progress import Progress
from featmatch.train.resume import (
    DEFAULT_TASK,
    Checkpoints,
    check_task,
    load_frozen,
    load_training_state,
    training_state,
)
from featmatch.train.rundir import RunLog
from featmatch.train.seeds import STREAM_SAMPLES, derive_seed, eval_seed, seed_everything
from featmatch.train.step import TrainStep, measured_scalars
from featmatch.train.streams import RandomStreams, fitted_batch_size
from featmatch.train.tasks import Objective, Streams, Task, TaskModels, get_task

__all__ = [
    "LoadedRun",
    "Trainer",
    "eval_seed",
    "load_generator",
    "load_run",
    "load_test_split",
    "run_training",
    "seed_everything",
]

log = logging.getLogger("featmatch")

#: Names that moved to the driver's collaborators (issue 26): importing them from here still works
#: for one release and warns (DeprecationWarning).
MOVED = {
    "NONFINITE_EXIT": "featmatch.train.nonfinite",
    "RunDirError": "featmatch.train.rundir",
    "default_run_dir": "featmatch.train.rundir",
    "prepare_run_dir": "featmatch.train.rundir",
    "REAL_SAMPLES_PNG": "featmatch.train.rundir",
}


def __getattr__(name: str) -> Any:
    """A name in :data:`MOVED`, from its new module, with a DeprecationWarning."""
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warn_deprecated(
        f"featmatch.train.trainer.{name} moved to {MOVED[name]}.{name}; import it from there "
        "(the old path goes in the next release)."
    )
    return getattr(importlib.import_module(MOVED[name]), name)


def load_test_split(config: TrainConfig) -> DataSet:
    """The real test split a run's metrics compare with, loaded with the run's own data options.

    Example:
        >>> from featmatch.train.config import build_config
        >>> load_test_split(build_config({"data.name": "digits"})).x.shape
        torch.Size([360, 1, 8, 8])
    """
    return load_dataset(config.data.name, "test", seed=config.seed, **config.data.load_options())


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

    The driver of a run; its collaborators (the module's docstring names them) each do one job.

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
        batch_size = fitted_batch_size(config.data.batch_size, len(self.data), self.ctx.world_size)
        if batch_size != config.data.batch_size:
            self.config = self.task.config = replace(config, data=replace(config.data, batch_size=batch_size))
        self.data_description = self.task.describe_data(self.data)  # what checkpoints record
        self.models = self.task.build_models(self.data_description)
        for module in (self.models.generator, self.models.discriminator, *self.models.frozen.values()):
            module.to(self.device)
        self.stepper = TrainStep(self.task, self.models, self.ctx, self.device)
        self.task.setup(self.models, self.data, distributed=self.ctx.enabled, device=self.device)
        self.monitor = BalanceMonitor(self.config.monitor, suggestions=self.task.monitor_suggestions())

        self.random = RandomStreams(
            self.data,
            self.config.data.batch_size,
            self.device,
            self.config.seed,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
            labels=self.task.batch_labels,
        )
        # What the task draws from; late-bound, so that a patched _next_batch is the one used.
        self.streams = Streams(next_batch=lambda: self._next_batch(), noise=self.random.noise, device=self.device)
        sample_gen = torch.Generator().manual_seed(derive_seed(self.config.seed, STREAM_SAMPLES))
        self.fixed_inputs = self.task.sample_inputs(self.models, self.config.log.n_samples, sample_gen)

        written = self.run_dir if self.writes else None
        self.history: list[dict[str, Any]] = []
        self.eval_metrics: dict[str, float] = {}
        self.run_log = RunLog(written, tensorboard=self.config.log.tensorboard)
        self.checkpoints = Checkpoints(
            self.run_dir, self.ctx, keep=self.config.log.keep_checkpoints, writes=self.writes
        )
        self.evaluator = Evaluator(
            self.task,
            self.models,
            self.data,
            self.data_description,
            self.device,
            sampler=self.sampler,
            fixed_inputs=self.fixed_inputs,
            run_dir=written,
        )
        self.nonfinite = NonFinitePolicy(
            self.config.optim,
            self.ctx,
            self.device,
            rollback=self.rollback,
            last_good=self.checkpoints.last_good,
            run_dir=self.run_dir,
        )
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

    family = property(lambda self: self.models.family, doc="The model family's name.")
    latent_dim = property(lambda self: self.models.latent_dim, doc="The noise width (None without noise).")
    ema = property(lambda self: self.stepper.ema, doc="The generator's moving average (None without one).")
    G = property(lambda self: self.stepper.G, doc="The generator as trained (DDP-wrapped / compiled).")
    D = property(lambda self: self.stepper.D, doc="The discriminator as trained (DDP-wrapped / compiled).")
    d_plain = property(lambda self: self.stepper.d_plain, doc="D without DDP hooks (the G step's).")
    g_params = property(lambda self: self.stepper.g_params, doc="G's trained parameters.")
    d_params = property(lambda self: self.stepper.d_params, doc="D's trained parameters.")
    opt_g = property(lambda self: self.stepper.opt_g, doc="G's optimiser.")
    opt_d = property(lambda self: self.stepper.opt_d, doc="D's optimiser.")
    scaler_g = property(lambda self: self.stepper.scaler_g, doc="G's grad scaler (fp16).")
    scaler_d = property(lambda self: self.stepper.scaler_d, doc="D's grad scaler (fp16).")
    adv_weight = property(lambda self: self.stepper.adv_weight, doc="The adversarial weight of this step.")

    # What the collaborators keep, under the driver's old names.
    noise_gen = property(lambda self: self.random.noise, doc="This rank's noise generator.")
    data_gen = property(lambda self: self.random.data_gen, doc="This rank's data-order generator.")
    data_seed = property(lambda self: self.random.data_seed, doc="The seed of this rank's data order.")
    batches_drawn = property(lambda self: self.random.batches_drawn, doc="Batches drawn since it started.")
    sample_paths = property(lambda self: self.evaluator.sample_paths, doc="The sample pictures written.")
    nonfinite_events = property(lambda self: self.nonfinite.events, doc="Every NaN/Inf detection.")
    rollbacks = property(lambda self: self.nonfinite.rollbacks, doc="Every rollback done.")
    stopped = property(lambda self: self.nonfinite.stopped, doc="Why the run stopped (None while it has not).")

    # ------------------------------------------------------------------------------ one step

    def _next_batch(self) -> Any:
        return self.random.next_batch()

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
        return measured_scalars(result, self.device) | {
            "monitor/fm_weight_multiplier": float(self.monitor.fm_weight_multiplier),
            "lr/g": float(self.opt_g.param_groups[0]["lr"]),
            "lr/d": float(self.opt_d.param_groups[0]["lr"]),
            "objective/adv_weight": float(self.adv_weight),
        }

    # ------------------------------------------------------------------------------ samples, metrics

    @property
    def sampler(self) -> nn.Module:
        """The generator samples come from: its EMA when the run keeps one, else G."""
        return self.ema if self.ema is not None else self.generator

    def sample(self, inputs: Any) -> Tensor:
        """Samples for the task's ``inputs`` (noise (N, latent_dim) for generation) from the EMA
        generator (else G), on CPU."""
        return self.evaluator.sample(inputs)

    def save_samples(self) -> Path | None:
        """Write ``samples/step_<step>.png`` from the fixed inputs (rank 0 with a run directory)."""
        return self.evaluator.save_samples(self.step)

    def evaluate(self) -> dict[str, float]:
        """The task's metrics (generation: ``featmatch.metrics.evaluate_samples``)."""
        return self.evaluator.evaluate()

    def _evaluate_safely(self) -> dict[str, float]:
        """Evaluation must not lose a finished run: failures are logged, not raised."""
        try:
            return self.evaluate()
        except Exception as err:
            log.warning("evaluation failed (%s: %s); summary.json has no metrics.", type(err).__name__, err)
            return {}

    def _evaluate_and_log(self) -> dict[str, float]:
        """Evaluate (rank 0) and log the metrics as ``eval/<name>`` at this step."""
        if not self.ctx.is_main:
            return {}
        metrics = self._evaluate_safely()
        if metrics:
            self.run_log.write_row({"step": self.step, **{f"eval/{k}": v for k, v in metrics.items()}})
        return metrics

    # ------------------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly; ``load_state_dict`` takes it back.

        ``ranks`` holds this process's random streams; ``save_checkpoint`` replaces it with
        every rank's, so that each process of a resumed DDP run continues its own. Like
        ``nn.Module.state_dict``, it holds the live tensors: deep-copy it to keep a snapshot.
        """
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            **training_state(self.stepper, self.models, self.monitor),
            "config": config_to_dict(self.config),
            "data": self.data_description,
            "task": self.task.name,
            "family": self.family,
            "latent_dim": self.latent_dim,
            "world_size": self.ctx.world_size,
            "ranks": [self.random.state(self.device)],
        }

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/step_<step>.pt`` atomically (rank 0) and prune to ``keep_checkpoints``.

        Under DDP every rank must call it: each rank's random state is gathered into the file.

        Raises:
            featmatch.train.checkpoint.NonFiniteError: the weights (or Adam's moments) hold
                NaN/Inf; nothing is written (on any rank) and no checkpoint is pruned.
        """
        return self.checkpoints.save(self.step, self.state_dict, self.random.state(self.device))

    def load_state_dict(self, state: dict[str, Any], path: Path | str = "<state>") -> None:
        """Restore a checkpoint's state; raises ``CheckpointError`` when it does not fit this run."""
        for key in ("generator", "discriminator", "opt_g", "opt_d", "step", "ranks"):
            if key not in state:
                raise ckpt.CheckpointError(f"checkpoint {str(path)!r} lacks the entry {key!r}.")
        check_task(state, path, self.task.name)
        betas = (float(self.config.optim.betas[0]), float(self.config.optim.betas[1]))
        load_training_state(state, self.stepper, self.models, self.monitor, betas=betas)
        self.step = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))
        # The learning rates and the adversarial weight of the restored step, so that a caller
        # of generator_objective() before the next train_step() sees them too.
        self.stepper.apply_schedules(self.step)
        fresh_seed = self.config.seed + self.step
        self.random.restore_rank(
            state["ranks"], self.device, next_batch=self._next_batch, fresh_seed=fresh_seed, path=path
        )

    def resume(self) -> Path:
        """Load the newest usable checkpoint of ``run_dir`` (falling back to older ones)."""
        if self.run_dir is None:
            raise ValueError("resume needs a run directory; got run_dir=None.")
        self.checkpoints.remove_orphans()
        path = self.checkpoints.load_latest(self.load_state_dict)
        log.info("resumed from %s at step %d", path, self.step)
        if self.writes:
            self._forget_rows_after_step()
        self.evaluator.find_samples()
        return path

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
        from_step, elapsed = self.step, self.elapsed
        path = self.checkpoints.load_latest(self.load_state_dict, why="rolling back")
        self.elapsed = elapsed  # the lost steps took time too
        self.random.seed(self.config.seed + 1_000_003 * (len(self.rollbacks) + 1) + self.step)
        self.history = [r for r in self.history if r["step"] <= self.step]
        self.evaluator.forget_after(self.step)
        if self.writes:
            self._forget_rows_after_step()
        self.nonfinite.rolled_back(from_step, self.step, str(path), reason)
        return str(path)

    def _forget_rows_after_step(self) -> None:
        """``metrics.jsonl`` and the history keep only the rows up to the restored step."""
        rows = self.run_log.rows_until(self.step)
        self.history = [r for r in rows if not any(k.startswith("eval/") for k in r)]

    # ------------------------------------------------------------------------------ the run

    def train(self) -> dict[str, Any]:
        """Train up to ``config.steps``; write everything; return the summary.

        Ctrl-C or SIGTERM stop the run cleanly at the end of the current step: a checkpoint is
        saved and the summary says ``"interrupted": true``.
        """
        before = list(log.handlers)
        try:
            self._open_run()
            interrupted = self._train_steps()
            self._finish(interrupted)
            summary = self._summary(interrupted)
            self._write_closing_files(summary)
        finally:
            self.run_log.close()
            # Whatever ends the run (a full disk, a bug), its train.log handler leaves the logger.
            for handler in [h for h in log.handlers if h not in before]:
                log.removeHandler(handler)
                handler.close()
        barrier(self.ctx)
        return summary

    def _open_run(self) -> None:
        """The run directory's opening files (rank 0): config.yaml, the task's, real samples, the logs."""
        cfg = self.config
        if self.writes:
            assert self.run_dir is not None
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints.remove_orphans()
            atomic_write_text(self.run_dir / "config.yaml", to_yaml(cfg))
            self.task.write_run_files(self.run_dir)
            self.evaluator.save_real_samples(n=cfg.log.n_samples, seed=cfg.seed)
            self.run_log.open()
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

    def _train_steps(self) -> str | None:
        """Train to ``config.steps`` (or a stop); checkpoint at the end. Returns what interrupted it."""
        cfg = self.config
        progress = Progress(
            cfg.steps, self.step, show=self.ctx.is_main and not cfg.log.quiet, every=cfg.log.progress_every
        )
        interrupted: str | None = None
        last_checkpoint = -1
        session_start = time.perf_counter()
        tick_time, tick_step = session_start, self.step
        try:
            with _SignalFlag() as flag:
                while self.step < cfg.steps:
                    measure = (self.step + 1) % cfg.log.log_every == 0 or self.step + 1 == cfg.steps
                    scalars = self.train_step(measure=measure)
                    step = self.step
                    progress.advance()
                    action = "continue"
                    if scalars is not None:
                        now = time.perf_counter()
                        scalars["steps_per_sec"] = (step - tick_step) / max(now - tick_time, 1e-9)
                        tick_time, tick_step = now, step
                        self._after_measure(step, scalars)
                        progress.measured(step, scalars, self.monitor.status, now)
                        action = self._check_measured(step, scalars)
                    if action == "continue":
                        if cfg.log.sample_every and step % cfg.log.sample_every == 0:
                            self.save_samples()
                        if cfg.log.eval_every and step % cfg.log.eval_every == 0 and step < cfg.steps:
                            self._evaluate_and_log()
                        if cfg.log.checkpoint_every and step % cfg.log.checkpoint_every == 0:
                            self.elapsed_update(session_start)
                            session_start = time.perf_counter()
                            action = self._checkpoint_or_handle(step)
                            if action == "continue":
                                last_checkpoint = step
                    if action == "stop":
                        break
                    if action == "rollback":
                        last_checkpoint = tick_step = self.step
                        progress.jump(self.step)
                        continue
                    # Under DDP all ranks must agree to stop at the same step.
                    check = not self.ctx.enabled or step % 10 == 0 or step == cfg.steps
                    if check and any_rank(flag.raised is not None, self.ctx, self.device):
                        interrupted = flag.raised or "signal on another rank"
                        break
                self.elapsed_update(session_start)
                if last_checkpoint != self.step:
                    self._final_checkpoint()
        finally:
            progress.close()
        return interrupted

    def _check_measured(self, step: int, scalars: dict[str, float]) -> str:
        """The non-finite policy on a measured step's scalars (already on the host: no device sync)."""
        bad = self.nonfinite.find(scalars, skip_grads=self.scaler_g.is_enabled())
        if bad:
            return self.nonfinite.handle(step, bad, "losses/gradients", history=self.history)
        self.nonfinite.finite_again(step)
        return "continue"

    def _checkpoint_or_handle(self, step: int) -> str:
        """Save a checkpoint; non-finite weights go to the non-finite policy instead."""
        try:
            self.save_checkpoint()
        except ckpt.NonFiniteError as err:
            action = self.nonfinite.handle(step, err.names, "weights", history=self.history)
            # A run that trains on through NaN weights has no checkpoint of this step.
            return "skipped" if action == "continue" else action
        return "continue"

    def _final_checkpoint(self) -> None:
        try:
            self.save_checkpoint()
        except ckpt.NonFiniteError as err:
            if self.stopped is None and self.ctx.is_main:
                log.warning("%s The last finite checkpoint is %s.", err, self.checkpoints.last_good())

    def _finish(self, interrupted: str | None) -> None:
        """The closing samples and metrics of a run that ended well; the advice of one that did not."""
        if self.stopped is not None:
            return  # no samples or metrics from diverged weights; the summary and report say why
        if interrupted:
            log.warning(
                "interrupted (%s) at step %d; checkpoint saved. Continue with: featmatch train --resume %s",
                interrupted,
                self.step,
                self.run_dir,
            )
            return
        if not self.evaluator.has_samples_of(self.step):
            self.save_samples()
        self.eval_metrics = self._evaluate_and_log()

    def _write_closing_files(self, summary: dict[str, Any]) -> None:
        if self.writes:
            assert self.run_dir is not None
            report = write_summary_and_report(
                self.run_dir,
                summary,
                task=self.task,
                history=self.history,
                episodes=self.monitor.episodes,
                sample_paths=list(self.sample_paths),
            )
            log.info("report: %s", report)

    def elapsed_update(self, since: float) -> None:
        """Add the training time since ``since`` (a ``perf_counter`` value) to ``elapsed``."""
        self.elapsed += time.perf_counter() - since

    def _after_measure(self, step: int, scalars: dict[str, float]) -> None:
        row = {"step": step, **scalars}
        self.history.append(row)
        self.run_log.write_row(row)
        real, fake = self._monitor_pair if self._monitor_pair is not None else (None, None)
        alerts = self.monitor.update(step, scalars, real_batch=real, fake_batch=fake)
        if self.ctx.is_main:
            for alert in alerts:
                if alert.quiet:  # an episode that does not matter for this run: information only
                    log.info("step %d: %s (%s)", alert.step, alert.message, alert.suggestion)
                else:
                    log.warning("step %d: %s Suggestion: %s", alert.step, alert.message, alert.suggestion)

    def _summary(self, interrupted: str | None) -> dict[str, Any]:
        return run_summary(
            steps=self.step,
            config=self.config,
            interrupted=interrupted,
            elapsed=self.elapsed,
            device=self.device,
            world_size=self.ctx.world_size,
            family=self.family,
            nonfinite=self.nonfinite,
            final=self.history[-1] if self.history else {},
            metrics=self.eval_metrics,
            monitor=self.monitor,
            samples=[str(p.relative_to(self.run_dir)) if self.run_dir else str(p) for p in self.sample_paths],
        )


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
        run_dir: the run directory (default ``config.log.out`` or
            :func:`featmatch.train.rundir.default_run_dir`).
        resume: continue the run in ``run_dir`` from its newest usable checkpoint.
        overwrite: replace an existing run directory.
        ctx: the distributed context (default: one process).
        device: the device (default: ``config.device``).

    Returns:
        The summary (also written to ``summary.json``), with ``run_dir`` added.
    """
    ctx = ctx or DistContext()
    run_dir = _agreed_run_dir(config, run_dir, ctx)
    _prepare_on_main(run_dir, ctx, resume=resume, overwrite=overwrite)
    trainer = Trainer(config, run_dir, ctx=ctx, device=device)  # data, models, optimisers, streams
    if resume:
        trainer.resume()  # weights, optimisers, monitor and random streams of the newest checkpoint
    summary = trainer.train()  # steps, checkpoints, samples, metrics, summary.json, report.md
    summary["run_dir"] = str(run_dir)
    return summary


def _agreed_run_dir(config: TrainConfig, run_dir: str | Path | None, ctx: DistContext) -> Path:
    """The run directory every process uses: the given one, ``log.out``, or rank 0's default."""
    if run_dir is None:
        run_dir = config.log.out or rundir.default_run_dir(config)
    return Path(broadcast_object(str(run_dir), ctx))


def _prepare_on_main(run_dir: Path, ctx: DistContext, *, resume: bool, overwrite: bool) -> None:
    """Rank 0 prepares the run directory; every rank raises its ``RunDirError``."""
    error: str | None = None
    if ctx.is_main:
        try:
            rundir.prepare_run_dir(run_dir, resume=resume, overwrite=overwrite)
        except rundir.RunDirError as err:
            error = str(err)
    error = broadcast_object(error, ctx)
    if error is not None:
        raise rundir.RunDirError(error)


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
