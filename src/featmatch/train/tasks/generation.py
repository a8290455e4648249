"""Unconditional generation (task ``"generation"``): ``fake = G(z)`` against real samples ``x``.

D objective: ``discriminator_loss`` on D's logits (term ``d``). G objective: feature matching of
D's features of ``fake`` against those of ``x`` (term ``g_fm``, real features under ``no_grad``
or reused from the D step) and/or the adversarial loss (term ``g_adv``), as ``objective.kind``
says; with ``measure`` the unused one is computed too, without gradient, for the logs.
Metrics: :func:`featmatch.metrics.evaluate_samples` against the test split.

Example:
    >>> from featmatch.train.config import build_config
    >>> task = GenerationTask(build_config({"data.name": "ring8"}))
    >>> models = task.build_models({"sample_shape": [2]})
    >>> models.family, models.latent_dim
    ('mlp2d_benchmark', 256)
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

import featmatch.metrics  # called as featmatch.metrics.X: replaceable, as the tests do
from featmatch.augment import AugmentParams, apply_augment, draw_augment
from featmatch.data import DataSet
from featmatch.features import DiscriminatorOutput
from featmatch.losses import FeatureMatchingLoss, discriminator_loss, generator_loss
from featmatch.models import build_models, default_family
from featmatch.registry import register_task
from featmatch.train.plots import save_samples
from featmatch.train.seeds import eval_seed
from featmatch.train.tasks.base import Objective, Streams, Task, TaskModels, Weights

__all__ = ["AUGMENTED", "GenerationBatch", "GenerationTask", "r1_penalty", "save_real_samples"]


@dataclass
class GenerationBatch:
    """One batch: real samples ``x`` (B, *sample_shape) and noise ``z`` (B, latent_dim).

    ``augment``: with ``objective.augment``, the random parameters of D's four inputs in this
    step (:data:`AUGMENTED`: the D step's real and generated batches, the G step's generated and
    real ones), drawn from the run's noise stream so that a resumed run draws the same.
    """

    x: Tensor
    z: Tensor
    augment: dict[str, AugmentParams] | None = None


#: D's inputs that ``objective.augment`` augments, each with its own random parameters.
AUGMENTED = ("d_real", "d_fake", "g_fake", "g_real")


def as_list(out: DiscriminatorOutput | list[DiscriminatorOutput]) -> list[DiscriminatorOutput]:
    """One discriminator's output, or a multi-scale list of them, as a list."""
    return [out] if isinstance(out, DiscriminatorOutput) else list(out)


def logits_of(out: Any) -> list[Tensor]:
    """The logits of each discriminator in ``out``."""
    return [o.logits for o in as_list(out)]


def detach_output(out: Any) -> Any:
    """``out`` (one output or a list) with every tensor detached."""

    def one(o: DiscriminatorOutput) -> DiscriminatorOutput:
        return DiscriminatorOutput(o.logits.detach(), {k: v.detach() for k, v in o.features.items()})

    return one(out) if isinstance(out, DiscriminatorOutput) else [one(o) for o in out]


def adversarial_d_objective(real_out: Any, fake_out: Any, *, kind: str, measure: bool) -> Objective:
    """The D objective of a GAN from D's outputs on real and generated data (``fake_out`` of
    detached samples): the discriminator loss of ``kind`` as the term ``d``, the real output kept
    (detached) for ``objective.reuse_real_features``, and the logits when ``measure``.

    Every task whose D tells real from generated with featmatch's discriminator losses uses it.

    Example:
        >>> out = lambda v: DiscriminatorOutput(torch.full((4, 1), v), {})
        >>> o = adversarial_d_objective(out(2.0), out(-2.0), kind="bce", measure=True)
        >>> round(float(o.terms["d"]), 4), len(o.real_logits)
        (0.2539, 1)
    """

    loss = discriminator_loss(fake=logits_of(fake_out), real=logits_of(real_out), kind=kind)
    result = Objective(terms={"d": loss}, weights={"d": 1.0}, real_out=detach_output(real_out))
    if measure:
        result.real_logits = [t.detach() for t in logits_of(real_out)]
        result.fake_logits = [t.detach() for t in logits_of(fake_out)]
    return result


def r1_penalty(real_out: Any, x: Tensor) -> Tensor:
    """``E ||grad_x D(x)||^2`` over the batch (R1, Mescheder et al. 2018): the squared norm of the
    gradient of D's real logits (summed over discriminators) with respect to its input ``x``,
    which must require grad; the graph is kept, so the penalty trains D.

    Example:
        >>> x = torch.ones(3, 2, requires_grad=True)
        >>> out = DiscriminatorOutput((2.0 * x).sum(1), {})
        >>> float(r1_penalty(out, x))  # the gradient is (2, 2) for each sample
        8.0
    """
    total = torch.stack([t.float().sum() for t in logits_of(real_out)]).sum()
    (grad,) = torch.autograd.grad(total, x, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def save_real_samples(data: DataSet, path: Path, *, n: int, seed: int) -> Path:
    """``n`` real samples of ``data`` (a seeded random choice), drawn as generated ones are.

    Example:
        >>> import tempfile
        >>> from featmatch.data import load_dataset
        >>> out = Path(tempfile.mkdtemp()) / "real.png"
        >>> save_real_samples(load_dataset("ring8", size=100), out, n=50, seed=0) == out
        True
    """

    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    samples, kind = data.x[index.to(data.x.device)].float().cpu(), data.kind
    if kind == "points" and samples.shape[1] != 2:  # vectors of a user's .npz: drawn as curves, as G's samples
        samples, kind = samples[:, None, :], "sequence"
    centres = None if data.centres is None else data.centres.cpu()
    return save_samples(samples, kind, path, centres=centres, title="real training samples")


class GenerationTask(Task):
    """Today's unconditional GAN training with a feature-matching generator loss."""

    name = "generation"
    summary = "unconditional GANs: G(z) against real samples (the default)"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        kind = config.objective.kind
        self.use_fm = "fm" in kind
        self.use_adv = "adv" in kind
        self.fm_loss: nn.Module | None = None

    def build_models(self, data: Mapping[str, Any], *, family: str | None = None) -> TaskModels:

        model = self.config.model
        shape = tuple(data["sample_shape"])
        family = family or model.family or default_family(shape)
        options = dict(model.options)
        if model.width is not None:
            options["width"] = model.width
        g, d = build_models(family, shape, latent_dim=model.latent_dim, **options)
        latent_dim = cast(int, g.latent_dim)  # an int attribute (torch types Module attributes as Tensor | Module)
        return TaskModels(generator=g, discriminator=d, family=family, latent_dim=latent_dim)

    def setup(self, models: TaskModels, data: DataSet, *, distributed: bool, device: torch.device) -> None:

        if distributed and self.config.objective.r1_weight > 0:
            raise ValueError(
                "config field 'objective.r1_weight' (flag --r1) must be 0 under DDP (torchrun): the R1 penalty "
                f"differentiates D twice, which DistributedDataParallel does not support; got "
                f"{self.config.objective.r1_weight}. Hint: train on one process, or drop --r1."
            )
        if self.config.objective.augment and len(data.sample_shape) not in (2, 3):
            raise ValueError(
                f"config field 'objective.augment' (flag --augment) needs images or sequences; data set "
                f"{self.config.data.name!r} has samples of shape {data.sample_shape}. Hint: drop --augment."
            )
        options = {**self.config.fm_loss_options(), "sync_statistics": distributed, "return_terms": True}
        self.fm_loss = FeatureMatchingLoss(**options)

    # --- one step ------------------------------------------------------------------------

    def draw(self, streams: Streams, models: TaskModels) -> GenerationBatch:
        x = streams.next_batch()  # (B, *sample_shape)
        assert models.latent_dim is not None
        z = torch.randn(
            self.config.data.batch_size, models.latent_dim, generator=streams.noise, device=streams.device
        )  # (B, Z)
        augment = None
        if self.config.objective.augment:
            shape, policies = tuple(x.shape[1:]), self.config.objective.augment
            augment = {
                name: draw_augment(len(x) if "real" in name else len(z), shape, policies, streams.noise, streams.device)
                for name in AUGMENTED
            }
        return GenerationBatch(x, z, augment)

    def redraw_noise(self, batch: GenerationBatch, streams: Streams, models: TaskModels) -> GenerationBatch:
        z = torch.randn(batch.z.shape, generator=streams.noise, device=streams.device)  # (B, Z)
        return replace(batch, z=z)

    @staticmethod
    def augmented(x: Tensor, batch: GenerationBatch, which: str) -> Tensor:
        """``x`` as D sees it: augmented with ``batch``'s parameters for input ``which`` (if any)."""
        return x if batch.augment is None else apply_augment(x, batch.augment[which])

    def generate(self, G: nn.Module, batch: GenerationBatch) -> Tensor:
        return G(batch.z)  # (B, *sample_shape)

    def discriminator_objective(
        self, D: nn.Module, batch: GenerationBatch, fake: Tensor, *, measure: bool
    ) -> Objective:
        x = self.augmented(batch.x, batch, "d_real")
        r1 = self.config.objective.r1_weight
        if r1 > 0:
            x = x.detach().requires_grad_(True)
        real_out = D(x)
        fake_out = D(self.augmented(fake, batch, "d_fake"))
        result = adversarial_d_objective(real_out, fake_out, kind=self.config.objective.d_loss, measure=measure)
        if r1 > 0:
            result.terms["d_r1"] = r1_penalty(real_out, x)
            result.weights["d_r1"] = r1 / 2
        return result

    def generator_objective(
        self, D: nn.Module, batch: GenerationBatch, fake: Tensor, real_out: Any, weights: Weights, *, measure: bool
    ) -> Objective:

        assert self.fm_loss is not None, "call setup() first"
        obj = self.config.objective
        fake_out = D(self.augmented(fake, batch, "g_fake"))
        result = Objective(terms={}, weights={})
        if self.use_fm or measure:
            with contextlib.nullcontext() if self.use_fm else torch.no_grad():
                if real_out is None:
                    with torch.no_grad():
                        real_out = D(self.augmented(batch.x, batch, "g_real"))
                fm, layers = self.fm_loss(fake_out, real_out)
            result.layers = layers
            if self.use_fm:
                result.weights["g_fm"] = obj.fm_weight * weights.fm_multiplier
        else:
            fm = None
        if self.use_adv or measure:
            with contextlib.nullcontext() if self.use_adv else torch.no_grad():
                adv = generator_loss(logits_of(fake_out), kind=obj.d_loss, saturating=obj.saturating)
            result.terms["g_adv"] = adv
            if self.use_adv:
                result.weights["g_adv"] = weights.adv
        if fm is not None:
            result.terms["g_fm"] = fm
        return result

    def monitor_batches(self, batch: GenerationBatch, fake: Tensor) -> tuple[Tensor, Tensor]:
        return batch.x.detach(), fake.detach()

    # --- samples and evaluation -----------------------------------------------------------

    def sample_inputs(self, models: TaskModels, n: int, generator: torch.Generator) -> Tensor:
        assert models.latent_dim is not None
        return torch.randn(n, models.latent_dim, generator=generator)  # (N, Z)

    @torch.no_grad()
    def sample(self, G: nn.Module, inputs: Tensor, device: torch.device) -> Tensor:
        return torch.cat([G(chunk.to(device)).float().cpu() for chunk in inputs.split(512)])

    def save_picture(
        self, G: nn.Module, inputs: Tensor, data: Mapping[str, Any], path: Path, *, title: str, device: torch.device
    ) -> Path:

        samples = self.sample(G, inputs, device)
        centres = data.get("centres")
        return save_samples(
            samples, data["kind"], path, centres=None if centres is None else centres.cpu(), title=title
        )

    def save_real_picture(self, data: DataSet, path: Path, *, n: int, seed: int) -> Path | None:
        return save_real_samples(data, path, n=n, seed=seed)

    def evaluate(
        self,
        G: nn.Module,
        models: TaskModels,
        data: DataSet,
        device: torch.device,
        *,
        n: int | None = None,
        seed: int | None = None,
    ) -> dict[str, float]:
        """Metrics of ``n`` (``log.eval_samples``) samples from noise seeded by ``seed`` (:func:`eval_seed`)."""

        gen = torch.Generator().manual_seed(eval_seed(self.config.seed) if seed is None else seed)
        z = self.sample_inputs(models, self.config.log.eval_samples if n is None else n, gen)
        fake = self.sample(G, z, device)
        data = data if data.x.device.type == "cpu" else replace(data, x=data.x.cpu())
        metrics = featmatch.metrics.evaluate_samples(data, fake, real_test=self.load_data("test", torch.device("cpu")))
        return {k: float(v) for k, v in metrics.items()}


register_task(GenerationTask)
