"""What every task shares in a training step; it knows no task's details.

One step (:meth:`TrainStep.run`), for any :class:`~featmatch.train.tasks.Task`:

1. the learning rates and the adversarial weight of this step (functions of the step alone, so a
   resumed run continues the same schedules);
2. ``optim.d_steps`` times: a batch (``task.draw``), ``fake = task.generate(G, batch)`` (only the
   last keeps its graph), the D objective on the DDP-wrapped D -> D update;
3. the G objective with D's parameters frozen (``requires_grad_(False)``, so D gets no gradient)
   and D *unwrapped* (no DDP hooks fire, see distributed.py) -> G update; then the EMA of G.

Autocast and the fp16 grad scalers wrap every forward and update; gradient norms are taken
only when measuring.

Example:
    >>> from featmatch.train.config import build_config
    >>> from featmatch.train.trainer import Trainer
    >>> trainer = Trainer(build_config({"data.name": "ring8", "data.size": 64, "data.batch_size": 16,
    ...                                 "model.family": "mlp", "model.width": 8, "steps": 2}))
    >>> result = trainer.stepper.run(trainer.streams, step=0, measure=True)
    >>> sorted(result.g.terms), sorted(result.g.weights)
    (['g_adv', 'g_fm'], ['g_adv', 'g_fm'])
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from featmatch.train.distributed import DistContext, wrap_ddp
from featmatch.train.schedule import lr_factor, ramped_weight
from featmatch.train.tasks import Objective, Streams, Task, TaskModels, Weights

__all__ = ["StepResult", "TrainStep", "adam", "grad_norm", "measured_scalars"]

log = logging.getLogger("featmatch")


def adam(
    params: list[nn.Parameter], lr: float, betas: tuple[float, float], device: torch.device, eps: float = 1e-8
) -> torch.optim.Adam:
    """Adam, in its single-kernel ("fused") form where this torch has one for ``device``.

    The fused form updates every parameter in one pass instead of a dozen ``foreach`` kernels:
    the same update up to float rounding, and a few percent of a small model's step (BENCHMARKS.md).
    CUDA has it since torch 2.0, the CPU since 2.4; elsewhere (MPS, older torch) the default stays.

    Example:
        >>> opt = adam([nn.Parameter(torch.zeros(2))], 1e-3, (0.5, 0.999), torch.device("cpu"))
        >>> opt.defaults["lr"]
        0.001
    """
    fused = device.type == "cuda" or (device.type == "cpu" and torch.__version__ >= "2.4")
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, fused=fused or None)


def grad_norm(params: list[nn.Parameter]) -> Tensor:
    """Total L2 norm of the gradients (a 0-dim tensor; zero when there are none).

    Example:
        >>> p = nn.Parameter(torch.zeros(2)); p.grad = torch.tensor([3.0, 4.0])
        >>> grad_norm([p])
        tensor(5.)
    """
    norms = [p.grad.detach().float().norm() for p in params if p.grad is not None]
    if not norms:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(norms))


@dataclass
class StepResult:
    """One step's outputs: the last D objective, the G objective, the last batch and its fake."""

    d: Objective
    g: Objective
    batch: Any
    fake: Any


class TrainStep:
    """Optimisers, AMP, EMA, DDP wrapping and the update of one step, for any task.

    Args:
        task: the run's task (already holding its config).
        models: what ``task.build_models`` returned, on ``device``.
        ctx: the distributed context.
        device: the training device.

    Attributes:
        G, D: the models as trained (possibly DDP-wrapped / compiled); ``d_plain``: D without DDP.
        opt_g, opt_d, scaler_g, scaler_d: optimisers and fp16 grad scalers.
        ema: the moving average of the generator (``None`` when ``optim.ema == 0``).
        adv_weight: the adversarial weight of the current step.
    """

    def __init__(self, task: Task, models: TaskModels, ctx: DistContext, device: torch.device) -> None:
        config = task.config
        self.task, self.models, self.config, self.device = task, models, config, device
        self.generator, self.discriminator = models.generator, models.discriminator
        self.ema: nn.Module | None = None
        if config.optim.ema > 0:
            self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)

        g_run: nn.Module = self.generator
        d_run: nn.Module = self.discriminator
        if config.optim.compile:
            # Inductor's layout optimisation turns conv outputs channels-last on CUDA, and the
            # meta kernel of convolution_backward then predicts the wrong strides for chains of
            # transposed convolutions (pytorch/pytorch#171622): turn it off there.
            options: dict[str, str | int | bool | Callable[..., Any]] | None = (
                {"layout_optimization": False} if device.type == "cuda" else None
            )
            # torch.compile of a Module returns a callable wrapper that is a Module at run time.
            g_run = cast(nn.Module, torch.compile(g_run, options=options))
            d_run = cast(nn.Module, torch.compile(d_run, options=options))
        # G step: D without DDP (see distributed.py): no hooks, no gradient sync for D there.
        self.d_plain: nn.Module = d_run
        self.G: nn.Module = wrap_ddp(g_run, ctx, device)
        self.D: nn.Module = wrap_ddp(d_run, ctx, device)
        self.d_params = list(self.discriminator.parameters())
        self.g_params = list(self.generator.parameters())

        betas = (float(config.optim.betas[0]), float(config.optim.betas[1]))
        self.opt_g = adam(self.g_params, config.optim.lr_g, betas, device, config.optim.eps)
        self.opt_d = adam(self.d_params, config.optim.lr_d, betas, device, config.optim.eps)
        self.adv_weight = float(config.objective.adv_weight)

        self.amp_dtype: torch.dtype | None = None
        precision = config.optim.precision
        if precision != "fp32":
            if device.type == "cuda":
                self.amp_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
            else:
                log.warning("precision %r needs CUDA; training on %s in fp32 instead.", precision, device)
        fp16 = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast to ``optim.precision`` (a no-op in fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _update(
        self,
        objective: Objective,
        opt: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        params: list[nn.Parameter],
        measure: bool,
    ) -> None:
        """Back-propagate ``objective.loss`` and step ``opt``; the gradient norm when measuring."""
        assert objective.loss is not None
        opt.zero_grad(set_to_none=True)
        scaler.scale(objective.loss).backward()
        if measure:
            scaler.unscale_(opt)  # true gradient norms under fp16
            objective.grad = grad_norm(params)
        scaler.step(opt)
        scaler.update()
        objective.loss = objective.loss.detach()

    def apply_schedules(self, step: int) -> None:
        """The learning rates and adversarial weight of ``step`` (functions of the step alone)."""
        cfg = self.config
        opt, obj = cfg.optim, cfg.objective
        factor = lr_factor(step, cfg.steps, opt.lr_schedule, opt.lr_decay_start)
        for optimiser, base in ((self.opt_g, opt.lr_g), (self.opt_d, opt.lr_d)):
            for group in optimiser.param_groups:
                group["lr"] = base * factor
        self.adv_weight = ramped_weight(step, cfg.steps, obj.adv_weight, obj.adv_weight_end, obj.adv_ramp_start)

    def discriminator_step(self, batch: Any, fake: Any, *, measure: bool = False) -> Objective:
        """One D update on ``batch`` and the (detached) generated ``fake``."""
        with self.autocast():
            fake = fake.detach() if isinstance(fake, Tensor) else fake
            result = self.task.discriminator_objective(self.D, batch, fake, measure=measure)
            result.loss = result.total()
        self._update(result, self.opt_d, self.scaler_d, self.d_params, measure)
        return result

    def generator_objective(
        self, batch: Any, fake: Any, real_out: Any = None, *, measure: bool = False, fm_multiplier: float = 1.0
    ) -> Objective:
        """The G objective (``loss`` set, with its graph). Call it with D frozen (``generator_step`` does)."""
        weights = Weights(adv=self.adv_weight, fm_multiplier=fm_multiplier)
        with self.autocast():
            result = self.task.generator_objective(self.d_plain, batch, fake, real_out, weights, measure=measure)
            result.loss = result.total()
        return result

    def generator_step(
        self,
        batch: Any,
        fake: Any,
        real_out: Any = None,
        *,
        measure: bool = False,
        fm_multiplier: float = 1.0,
        step: int = 0,
    ) -> Objective:
        """One G update with D frozen (no gradient reaches it), then the EMA update for ``step``."""
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            result = self.generator_objective(batch, fake, real_out, measure=measure, fm_multiplier=fm_multiplier)
            self._update(result, self.opt_g, self.scaler_g, self.g_params, measure)
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        self.update_ema(step)
        return result

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """Move the EMA of G towards G (warm-up: early on the average follows G closely)."""
        if self.ema is None:
            return
        decay = min(self.config.optim.ema, (1 + step) / (10 + step))
        ema_p: list[Tensor] = list(self.ema.parameters())
        torch._foreach_lerp_(ema_p, [p.detach() for p in self.g_params], 1.0 - decay)
        for e, b in zip(self.ema.buffers(), self.generator.buffers(), strict=True):
            e.copy_(b)

    def run(self, streams: Streams, step: int, *, measure: bool = False, fm_multiplier: float = 1.0) -> StepResult:
        """``optim.d_steps`` D updates then one G update (the step numbered ``step``, from 0)."""
        cfg = self.config
        self.apply_schedules(step)
        d_result: Objective | None = None
        batch = fake = None
        for i in range(cfg.optim.d_steps):
            last = i == cfg.optim.d_steps - 1
            batch = self.task.draw(streams, self.models)
            # Only the last fake is reused by the G step, so only it keeps its graph.
            with torch.set_grad_enabled(last and not cfg.optim.fresh_noise), self.autocast():
                fake = self.task.generate(self.G, batch)
            d_result = self.discriminator_step(batch, fake, measure=measure and last)
        assert d_result is not None and fake is not None
        if cfg.optim.fresh_noise:  # G's own sample for its step, from new noise (Improved GAN's code)
            batch = self.task.redraw_noise(batch, streams, self.models)
            with self.autocast():
                fake = self.task.generate(self.G, batch)
        reuse = d_result.real_out if cfg.objective.reuse_real_features else None
        g_result = self.generator_step(batch, fake, reuse, measure=measure, fm_multiplier=fm_multiplier, step=step)
        self.task.after_step(self.models, step)
        return StepResult(d_result, g_result, batch, fake)


def measured_scalars(result: StepResult, device: torch.device) -> dict[str, float]:
    """A measured step's scalars: the terms as ``loss/<name>``, D's probabilities (``d/real_prob``,
    ``d/fake_prob``) and accuracy, gradient norms (``grad/g``, ``grad/d``) and per-layer feature
    matching (``fm/<layer>``), read from the device in one transfer.

    Example:
        >>> from featmatch.train.config import build_config
        >>> from featmatch.train.trainer import Trainer
        >>> trainer = Trainer(build_config({"data.name": "ring8", "data.size": 64, "model.family": "mlp",
        ...                                 "model.width": 8, "steps": 1}))
        >>> result = trainer.stepper.run(trainer.streams, 0, measure=True)
        >>> sorted(measured_scalars(result, trainer.device))[:3]
        ['d/accuracy', 'd/fake_prob', 'd/real_prob']
    """
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
    stacked = torch.stack([v.detach().float().reshape(()).to(device) for v in values.values()])
    return dict(zip(values, stacked.tolist(), strict=True))
