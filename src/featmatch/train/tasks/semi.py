"""Semi-supervised classification with feature matching (task ``"semi"``; Salimans et al. 2016).

Why one module over 600 lines: a task is one module (adding one is one module and its
registration); this one holds the labelled split, the averaged discriminator and the paper's
code's choices point by point, all behind the :class:`Task` interface.

The discriminator has K class logits (the "generated" class is implicit, ``D(x) = sigmoid(lse)``
with ``lse = logsumexp`` over the classes) and is trained on a few labelled examples plus the rest
of the training split, unlabelled; the generator matches the batch mean of D's last hidden layer
(the ``salimans2016`` preset) or, for the paper's ablation, fools D (``objective.kind adv``).
D's moving average is the classifier the run is judged by.

One batch (:class:`SemiBatch`): ``B`` labelled examples with their labels, two unlabelled batches
and ``B`` noise vectors (``B = data.batch_size``; 100 in the paper). The unlabelled batches come
from the shared, seeded, DDP-sharded batch stream (``streams.next_batch()`` twice: the D step's
real batch, and an independent one for the G step's real features, as openai/improved-gan's
``train_mnist_feature_matching.py`` does); the labelled ones from the task's own stream, a tiling
of the labelled set by successive seeded permutations (the code's tiling to the unlabelled length),
whose position is a buffer of ``models.frozen["labelled_stream"]``, so checkpoints hold it.

The split (:func:`labelled_split`): ``labels`` examples of each class, drawn with a generator
seeded from ``config.seed``; the rest of the training split is the unlabelled set. (The paper's
code also keeps the labelled examples in its unlabelled set; the difference is ``labels * K``
samples.)

The moving average of D (``models.frozen["discriminator_ema"]``, :class:`DiscriminatorAverage`):
D's parameters averaged with rate ``d_ema`` (1e-4 in the paper) after every step. The paper's
code starts the average at zero and never corrects it, which is harmless over its 180,000 steps
((1 - 1e-4)^180000 = 1.5e-8) but not over a few thousand; here it is bias-corrected, as Adam's
moments: the same average as the code's divided by ``1 - (1 - rate)^updates``, so it starts at D's
weights and forgets the start as the code's does. Evaluated in eval mode (no noise).

Metrics: ``test_error`` (fraction of the test split the averaged D misclassifies) and
``test_errors`` (their count), plus, with ``sample_metrics``, the generation task's metrics of G's
samples (:func:`featmatch.metrics.evaluate_samples`).

Example:
    >>> from featmatch.train.config import build_config
    >>> task = SemiTask(build_config({"task": "semi", "data.name": "digits"}))
    >>> task.options.labels, task.config.model.family
    (10, 'semi_mlp')
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import featmatch.metrics  # called as featmatch.metrics.X: replaceable, as the tests do
from featmatch._io import atomic_path
from featmatch.data import DataSet
from featmatch.features import DiscriminatorOutput
from featmatch.losses import FeatureMatchingLoss, semi_supervised_discriminator_loss
from featmatch.models import build_models
from featmatch.models.semi_mlp import SemiMLPDiscriminator
from featmatch.registry import register_task
from featmatch.train.config import Option, Recipe, register_recipe
from featmatch.train.config.options import setting
from featmatch.train.plots import new_figure, save_figure, save_samples
from featmatch.train.seeds import derive_seed, eval_seed
from featmatch.train.tasks.base import Objective, Streams, Task, TaskModels, Weights
from featmatch.train.tasks.generation import save_real_samples

__all__ = ["LABELLED_FILE", "DiscriminatorAverage", "SemiBatch", "SemiOptions", "SemiTask", "labelled_split"]

#: The run directory's file of the labelled examples' indices into the training split.
LABELLED_FILE = "labelled.npy"

# Random streams of this task (beside featmatch.train.seeds' 0..3): the split, the labelled batches.
_STREAM_SPLIT = 18_001
_STREAM_LABELLED = 18_002


@dataclass(frozen=True)
class SemiOptions:
    """The semi-supervised task's settings (``config.task_options``).

    Attributes:
        labels: labelled examples per class (``--labels``); 10 gives the paper's 100 on MNIST.
        unsupervised_weight: weight of the real/generated term of D's loss (1 in the paper;
            0 trains D on the labelled examples alone, G then has no effect on it).
        d_ema: rate of D's moving average, the evaluated classifier (1e-4 in the paper; 0: D itself).
        sample_metrics: also score G's samples (the generation task's metrics) at each evaluation.
    """

    labels: int = 10
    unsupervised_weight: float = 1.0
    d_ema: float = 1e-4
    sample_metrics: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.labels, bool) or not isinstance(self.labels, int) or self.labels < 1:
            raise ValueError(f"labels (labelled examples per class) must be an integer >= 1; got {self.labels!r}.")
        if not float(self.unsupervised_weight) >= 0.0:
            raise ValueError(f"unsupervised_weight must be >= 0; got {self.unsupervised_weight!r}.")
        if not 0.0 <= float(self.d_ema) < 1.0:
            raise ValueError(
                f"d_ema (rate of D's moving average) must be in [0, 1); got {self.d_ema!r}. "
                "Hint: the paper's 1e-4; 0 evaluates D itself."
            )


@dataclass
class SemiBatch:
    """One batch: labelled ``x_lab`` (B, ...) with labels ``y_lab`` (B,), unlabelled ``x_unl`` (D step)
    and ``x_unl2`` (G step's real features), noise ``z`` (B, latent_dim), uniform on [0, 1)."""

    x_lab: Tensor
    y_lab: Tensor
    x_unl: Tensor
    x_unl2: Tensor
    z: Tensor


def labelled_split(y: Tensor, per_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """A class-balanced labelled subset: ``per_class`` indices of each class, and the rest.

    Args:
        y: ``(N,)`` int64 labels ``0 .. K-1``; every class must have more than ``per_class`` samples.
        per_class: labelled examples per class.
        seed: the split's seed (the same seed, labels and ``per_class`` give the same split).

    Returns:
        ``(labelled, unlabelled)`` sorted int64 index tensors, disjoint, together ``0 .. N-1``.

    Raises:
        ValueError: a class in ``0 .. K-1`` with no more than ``per_class`` samples.

    Example:
        >>> lab, unl = labelled_split(torch.tensor([0, 1, 0, 1, 0, 1]), 1, seed=0)
        >>> len(lab), len(unl), sorted(torch.tensor([0, 1, 0, 1, 0, 1])[lab].tolist())
        (2, 4, [0, 1])
    """
    y = y.cpu()
    counts = torch.bincount(y)
    if int(counts.min()) <= per_class:
        # The class with the fewest samples sets the limit (the first short class need not be it).
        k = int(torch.argmin(counts))
        c = int(counts[k])
        short = int((counts <= per_class).sum())
        others = f" ({short} classes have too few)" if short > 1 else ""
        raise ValueError(
            f"labels={per_class} (flag --labels) labelled examples per class needs more than {per_class} training "
            f"samples of every class (one at least stays unlabelled); class {k} has {c}, the fewest{others}. "
            f"Hint: use --labels {max(c - 1, 1)} or fewer."
        )
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for k in range(len(counts)):
        members = torch.nonzero(y == k).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    labelled = torch.cat(chosen).sort().values
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[labelled] = False
    return labelled, torch.nonzero(mask).flatten()


class DiscriminatorAverage(nn.Module):
    """A bias-corrected exponential moving average of a discriminator's parameters (buffers copied).

    ``update(source, rate)`` after each step ``n`` (from 1) moves the average by
    ``rate / (1 - (1 - rate)^n)`` towards ``source``: the zero-started average of the paper's code
    divided by its bias, so the first update copies ``source``. ``rate = 0``: a copy of ``source``.

    Example:
        >>> avg = DiscriminatorAverage(nn.Linear(2, 1))
        >>> src = nn.Linear(2, 1); avg.update(src, 1e-4)
        >>> torch.equal(avg.model.weight, src.weight), int(avg.updates)
        (True, 1)
    """

    updates: Tensor  # buffer: the number of updates so far (int64)

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model: nn.Module = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def reset(self, source: nn.Module) -> None:
        """Start again from ``source`` (no updates yet)."""
        self.model.load_state_dict(source.state_dict())
        self.updates.zero_()

    @torch.no_grad()
    def update(self, source: nn.Module, rate: float) -> None:
        self.updates += 1
        n = int(self.updates)
        weight = 1.0 if rate == 0.0 else rate / (1.0 - (1.0 - rate) ** n)
        mine: list[Tensor] = list(self.model.parameters())
        theirs = [p.detach() for p in source.parameters()]
        torch._foreach_lerp_(mine, theirs, min(weight, 1.0))
        for a, b in zip(self.model.buffers(), source.buffers(), strict=True):
            a.copy_(b)

    def forward(self, x: Tensor) -> Any:
        return self.model(x)


class _LabelledStream(nn.Module):
    """The position in the labelled stream, as a buffer (so checkpoints keep it)."""

    drawn: Tensor  # buffer: labelled examples drawn so far (int64)

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("drawn", torch.zeros((), dtype=torch.int64))


def _average(models: TaskModels) -> DiscriminatorAverage:
    """D's moving average, kept with the task's frozen modules (so checkpoints hold it)."""
    return cast(DiscriminatorAverage, models.frozen["discriminator_ema"])


def _lse(logits: Tensor) -> Tensor:
    """D's "real" logit: ``logsumexp`` over the classes, ``(N, K) -> (N,)`` (``sigmoid`` of it is D(x))."""
    return torch.logsumexp(logits.float(), dim=1)


class SemiTask(Task):
    """Semi-supervised GAN: D classifies K classes and tells real from generated; G matches its features."""

    name = "semi"
    summary = "semi-supervised classification (Improved GAN): D classifies K classes from a few labels"
    data_needs = "labelled samples (class labels y)"
    metrics_title = "Classification by D's moving average on the test split (test_error), and G's samples"
    Options = SemiOptions
    flags = (
        Option(
            "task_options.labels",
            "--labels",
            "semi: labelled examples per class (class-balanced, seeded)",
            "data and models",
            parse=int,
            metavar="N",
        ),
        Option(
            "task_options.unsupervised_weight",
            "--unsupervised-weight",
            "semi: weight of D's real/generated term (0: D learns from the labels alone)",
            "objective",
            parse=float,
            metavar="W",
        ),
        Option(
            "task_options.d_ema",
            "--d-ema",
            "semi: rate of D's moving average, the evaluated classifier (0: D itself)",
            "optimisation",
            parse=float,
            metavar="RATE",
        ),
    )

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        kind = config.objective.kind
        self.use_fm = "fm" in kind
        self.use_adv = "adv" in kind
        self.fm_loss: nn.Module | None = None
        self.labelled: DataSet | None = None  # the labelled examples (set by load_data("train"))
        self.labelled_index: Tensor | None = None  # their indices in the training split (int64)
        self._perms: dict[int, Tensor] = {}

    def monitor_suggestions(self) -> dict[str, str | None]:
        """D dominance is expected here (D is also the classifier); the run is judged by test_error."""
        lr_d = f"{setting('optim.lr_d')}, now {self.config.optim.lr_d:g}"
        judge = "Judge the run by test_error (test_error.png)"
        if self.use_fm:
            dominates = (
                "expected in semi-supervised training: D is also the classifier, and with feature matching the "
                "generator helps it by matching its features, not by fooling it (Salimans et al. 2016 report their "
                f"best test errors this way). {judge}; only if the test error rises while this lasts, lower the "
                f"discriminator's learning rate ({lr_d})"
            )
        else:
            dominates = (
                "D is also the classifier, so it wins the real/generated game easily; with the adversarial term "
                f"alone (the paper's ablation) the generator then gets little signal. {judge}; feature matching "
                f"({setting('objective.kind', 'fm')}) is the paper's remedy"
            )
        collapse = (
            "generated samples are far less spread than real ones; here they matter only as far as they help D "
            f"classify. {judge}; only if the test error rises while this lasts, lower the generator's learning "
            f"rate ({setting('optim.lr_g')}, now {self.config.optim.lr_g:g})"
        )
        return {**super().monitor_suggestions(), "d_dominates": dominates, "collapse": collapse}

    @classmethod
    def model_families(cls) -> tuple[str, ...]:
        return ("semi_mlp",)

    # --- data and models ---------------------------------------------------------------

    def load_data(self, split: str, device: torch.device) -> DataSet:
        """The test split whole; for ``"train"``, the unlabelled rest of the training split
        (the labelled examples go to :attr:`labelled`)."""
        data = super().load_data(split, device)
        if data.y is None:
            raise ValueError(
                f"task 'semi' needs class labels, but data set {self.config.data.name!r} ({split}) has none. "
                "Hint: an .npz with 'y' (or data.options.label_key), IDX images with their labels file "
                "next to them (or data.options.labels), or a folder of class subfolders."
            )
        if split != "train":
            return data
        lab, unl = labelled_split(data.y, self.options.labels, self.split_seed)
        self.labelled_index = lab
        self.labelled = replace(data, x=data.x[lab.to(data.x.device)], y=data.y[lab.to(data.y.device)])
        # The unlabelled set keeps its labels for the sample metrics' reference only: the batch
        # stream yields x alone (batch_labels is False).
        return replace(data, x=data.x[unl.to(data.x.device)], y=data.y[unl.to(data.y.device)])

    @property
    def split_seed(self) -> int:
        """The seed of the labelled split (from ``config.seed``)."""
        return derive_seed(self.config.seed, _STREAM_SPLIT)

    def write_run_files(self, run_dir: Path) -> list[Path]:
        """``labelled.npy``: the labelled examples' indices into the training split (int64, sorted),
        so that another method can be trained on exactly the same labels."""
        if self.labelled_index is None:
            raise RuntimeError("call load_data('train') first: it chooses the labelled examples.")
        path = run_dir / LABELLED_FILE
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, self.labelled_index.cpu().numpy().astype(np.int64))
        return [path]

    def describe_data(self, data: DataSet) -> dict[str, Any]:
        labelled = self.labelled
        num_classes = max(int(data.num_classes or 0), int(labelled.num_classes or 0) if labelled else 0)
        return {
            **super().describe_data(data),
            "num_classes": num_classes,
            "labels_per_class": self.options.labels,
            "split_seed": self.split_seed,
        }

    def build_models(self, data: Mapping[str, Any], *, family: str | None = None) -> TaskModels:

        model = self.config.model
        family = family or model.family or "semi_mlp"
        if family != "semi_mlp":
            raise ValueError(
                f"task 'semi' trains model family 'semi_mlp' (K class logits); got {family!r}. "
                "Hint: drop --model, or pass --model semi_mlp."
            )
        options = {"num_classes": int(data["num_classes"]), **model.options}
        g, d = build_models(family, tuple(data["sample_shape"]), latent_dim=model.latent_dim, **options)
        frozen = {"discriminator_ema": DiscriminatorAverage(d), "labelled_stream": _LabelledStream()}
        latent_dim = cast(int, g.latent_dim)  # an int attribute (torch types Module attributes as Tensor | Module)
        return TaskModels(generator=g, discriminator=d, family=family, latent_dim=latent_dim, frozen=frozen)

    def setup(self, models: TaskModels, data: DataSet, *, distributed: bool, device: torch.device) -> None:

        D = cast(SemiMLPDiscriminator, models.discriminator)
        # Data-dependent initialisation of the weight-normalised layers, as the paper's code, once.
        D.init_from_data(data.x[:500])
        _average(models).reset(D)
        options = {**self.config.fm_loss_options(), "sync_statistics": distributed, "return_terms": True}
        if self.config.objective.fm_layers is None:
            options["layers"] = [f"hidden{len(D.widths)}"]  # the last hidden layer, as the paper
        self.fm_loss = FeatureMatchingLoss(**options)
        if self.labelled is None or self.labelled.y is None:
            raise RuntimeError("call load_data('train') before setup(): it splits off the labelled examples.")
        self.labelled = replace(self.labelled, x=self.labelled.x.to(device), y=self.labelled.y.to(device))
        rank = torch.distributed.get_rank() if distributed and torch.distributed.is_initialized() else 0
        self._stream_seed = derive_seed(self.config.seed, _STREAM_LABELLED, rank)
        self._perms = {}

    # --- one step ------------------------------------------------------------------------

    def _labelled_batch(self, stream: _LabelledStream, n: int) -> tuple[Tensor, Tensor]:
        """The next ``n`` of the labelled stream: epoch ``e`` is a permutation seeded by (seed, rank, e)."""
        assert self.labelled is not None and self.labelled.y is not None  # set by load_data and setup
        size = len(self.labelled)
        start = int(stream.drawn)
        parts = []
        position = start
        while position < start + n:
            epoch, offset = divmod(position, size)
            if epoch not in self._perms:
                self._perms = {
                    epoch: torch.randperm(
                        size, generator=torch.Generator().manual_seed(derive_seed(self._stream_seed, epoch))
                    )
                }
            take = min(start + n - position, size - offset)
            parts.append(self._perms[epoch][offset : offset + take])
            position += take
        stream.drawn.fill_(start + n)
        index = torch.cat(parts).to(self.labelled.x.device)
        return self.labelled.x[index], self.labelled.y[index]

    def draw(self, streams: Streams, models: TaskModels) -> SemiBatch:
        x_unl = streams.next_batch()  # (B, *sample_shape)
        x_unl2 = streams.next_batch()
        b = self.config.data.batch_size
        x_lab, y_lab = self._labelled_batch(cast(_LabelledStream, models.frozen["labelled_stream"]), b)
        assert models.latent_dim is not None
        z = torch.rand(b, models.latent_dim, generator=streams.noise, device=streams.device)  # (B, Z), U[0, 1)
        return SemiBatch(x_lab, y_lab, x_unl, x_unl2, z)

    def redraw_noise(self, batch: SemiBatch, streams: Streams, models: TaskModels) -> SemiBatch:
        z = torch.rand(batch.z.shape, generator=streams.noise, device=streams.device)  # (B, Z), U[0, 1)
        return replace(batch, z=z)

    def generate(self, G: nn.Module, batch: SemiBatch) -> Tensor:
        return G(batch.z)

    def discriminator_objective(self, D: nn.Module, batch: SemiBatch, fake: Tensor, *, measure: bool) -> Objective:

        n_lab, n_unl = len(batch.x_lab), len(batch.x_unl)
        # One forward for the three batches (D has no batch statistics: the same as three calls).
        out = D(torch.cat([batch.x_lab, batch.x_unl, fake]))
        lab, unl, gen = out.logits.split([n_lab, n_unl, len(fake)])
        loss, terms = semi_supervised_discriminator_loss(
            gen, unl, lab, batch.y_lab, unsupervised_weight=self.options.unsupervised_weight, return_terms=True
        )
        real_out = DiscriminatorOutput(
            unl.detach(), {k: v[n_lab : n_lab + n_unl].detach() for k, v in out.features.items()}
        )
        result = Objective(
            terms={"d": loss, "d_sup": terms.supervised, "d_unsup": terms.unsupervised},
            weights={"d": 1.0},
            real_out=real_out,
        )
        if measure:
            result.real_logits = [_lse(unl.detach())]
            result.fake_logits = [_lse(gen.detach())]
            result.terms["d_train_error"] = (lab.detach().argmax(1) != batch.y_lab).float().mean()
        return result

    def generator_objective(
        self, D: nn.Module, batch: SemiBatch, fake: Tensor, real_out: Any, weights: Weights, *, measure: bool
    ) -> Objective:
        assert self.fm_loss is not None, "call setup() first"
        obj = self.config.objective
        fake_out = D(fake)  # D in training mode (noise on), as the paper's code
        result = Objective(terms={}, weights={})
        with contextlib.nullcontext() if self.use_fm else torch.no_grad():
            if real_out is None:
                with torch.no_grad():
                    real_out = D(batch.x_unl2)
            fm, layers = self.fm_loss(fake_out, real_out)
        result.terms["g_fm"], result.layers = fm, layers
        if self.use_fm:
            result.weights["g_fm"] = obj.fm_weight * weights.fm_multiplier
        with contextlib.nullcontext() if self.use_adv else torch.no_grad():
            # -log D(G(z)) with D = sigmoid(lse): the non-saturating loss on the implicit "real" logit.
            result.terms["g_adv"] = F.softplus(-_lse(fake_out.logits)).mean()
        if self.use_adv:
            result.weights["g_adv"] = weights.adv
        return result

    def after_step(self, models: TaskModels, step: int) -> None:
        _average(models).update(models.discriminator, float(self.options.d_ema))

    def monitor_batches(self, batch: SemiBatch, fake: Tensor) -> tuple[Tensor, Tensor]:
        return batch.x_unl.detach(), fake.detach()

    # --- samples and evaluation -----------------------------------------------------------

    def sample_inputs(self, models: TaskModels, n: int, generator: torch.Generator) -> Tensor:
        assert models.latent_dim is not None
        return torch.rand(n, models.latent_dim, generator=generator)  # (N, Z), as in training

    @torch.no_grad()
    def sample(self, G: nn.Module, inputs: Tensor, device: torch.device) -> Tensor:
        return torch.cat([G(chunk.to(device)).float().cpu() for chunk in inputs.split(512)])

    def save_picture(
        self, G: nn.Module, inputs: Tensor, data: Mapping[str, Any], path: Path, *, title: str, device: torch.device
    ) -> Path:

        samples, kind = self.sample(G, inputs, device), data["kind"]
        if kind == "points" and samples.shape[1] != 2:  # vectors of a user's .npz: drawn as curves
            samples, kind = samples[:, None, :], "sequence"
        return save_samples(samples, kind, path, title=title)

    def save_real_picture(self, data: DataSet, path: Path, *, n: int, seed: int) -> Path | None:
        return save_real_samples(data, path, n=n, seed=seed)

    @torch.no_grad()
    def test_errors(self, models: TaskModels, device: torch.device) -> tuple[int, int]:
        """``(errors, n)`` of D's moving average (eval mode, no noise) on the test split."""
        test = self.load_data("test", torch.device("cpu"))
        if test.y is None:
            raise ValueError(f"the test split of {self.config.data.name!r} has no labels; test_error needs them.")
        classifier = _average(models).model.eval()
        errors = 0
        for x, y in zip(test.x.split(1000), test.y.split(1000), strict=True):
            errors += int((classifier(x.to(device)).logits.argmax(1).cpu() != y).sum())
        return errors, len(test)

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
        """``test_error`` and ``test_errors`` of D's average; with ``sample_metrics``, G's sample metrics."""
        errors, total = self.test_errors(models, device)
        metrics = {"test_error": errors / total, "test_errors": float(errors)}
        if self.options.sample_metrics:
            gen = torch.Generator().manual_seed(eval_seed(self.config.seed) if seed is None else seed)
            fake = self.sample(
                G, self.sample_inputs(models, self.config.log.eval_samples if n is None else n, gen), device
            )
            # The reference is the whole training split, as for the generation task.
            train = Task.load_data(self, "train", torch.device("cpu"))
            test = self.load_data("test", torch.device("cpu"))
            metrics.update(
                {k: float(v) for k, v in featmatch.metrics.evaluate_samples(train, fake, real_test=test).items()}
            )
        return metrics

    def report_sections(self, run_dir: Path, summary: Mapping[str, Any], history: list[dict[str, Any]]) -> list[str]:
        rows = []
        path = run_dir / "metrics.jsonl"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    row = json.loads(line)
                    if "eval/test_error" in row:
                        rows.append((int(row["step"]), float(row["eval/test_error"])))
        metrics = summary.get("metrics") or {}
        lines = [
            "## Semi-supervised classification",
            "",
            f"{self.options.labels} labelled examples per class (split seed {self.split_seed}, from seed "
            f"{self.config.seed}); the rest of the training split unlabelled. Classifier: D's moving "
            f"average (rate {self.options.d_ema}). The labelled examples are in `{LABELLED_FILE}` (int64 "
            "indices into the training split, as loaded), so another method can use exactly the same labels.",
        ]
        if "test_error" in metrics:
            lines += ["", f"Test error: **{metrics['test_error']:.4f}** ({int(metrics['test_errors'])} errors)."]
        if len(rows) >= 2:
            fig = new_figure(5.0, 3.0)
            ax = fig.add_subplot(1, 1, 1)
            ax.plot([r[0] for r in rows], [r[1] for r in rows], marker="o")
            ax.set_xlabel("step")
            ax.set_ylabel("test error")
            ax.grid(alpha=0.3)
            save_figure(fig, run_dir / "test_error.png")
            lines += ["", "![test error over steps](test_error.png)"]
        return ["\n".join(lines) + "\n"]


_SEMI_COMMON = {
    "model.family": "semi_mlp",
    "objective.kind": "fm",
    "objective.fm_preset": "salimans2016",
    "data.batch_size": 100,
    "optim.lr_g": 0.003,
    "optim.lr_d": 0.003,
    "optim.betas": [0.5, 0.999],
}

register_recipe(
    Recipe(
        "semi-mnist",
        """\
The paper's MNIST setting (Salimans et al. 2016; openai/improved-gan, train_mnist_feature_matching.py),
the default of --task semi --data mnist: D 1000-500-250-250-250 with Gaussian noise (0.3 on the
input, 0.5 on each layer) and weight norm with its data-dependent initialisation, G 500-500 softplus
with batch norm and a weight-normalised sigmoid output, both on [0, 1] inside as the code's data
(unit_range: D sees (x + 1) / 2, G's sigmoid is mapped to featmatch's [-1, 1]); feature matching of
batch means on D's last 250-unit layer; 100 labelled + 100 unlabelled + 100 generated per D step, a
fresh generated batch and another 100 unlabelled for the G step; Adam beta1 0.5 with eps 1e-4 (the
code adds 1e-8 inside the root), learning rate 0.001 for both (the code's first version; its later
0.003 gave more test errors at 10 epochs here: 1406 against 746 and 1088, two seeds, one probe each,
BENCHMARKS.md, Table 6b); 300 epochs of 60,000 (180,000 steps); D's moving average at 1e-4.""",
        {
            **_SEMI_COMMON,
            "steps": 180_000,
            "optim.lr_g": 0.001,
            "optim.lr_d": 0.001,
            "optim.eps": 1e-4,
            "optim.fresh_noise": True,
            "model.options": {"input_noise": 0.3, "hidden_noise": 0.5, "output": "sigmoid", "unit_range": True},
            "task_options": {"labels": 10, "d_ema": 1e-4},
            "log.eval_every": 3000,
            "log.sample_every": 6000,
            "log.checkpoint_every": 3000,
        },
        task="semi",
        data="mnist",
    )
)

_SMALL = {
    "widths": [500, 250, 250, 250, 250],
    "generator_widths": [250, 250],
    "input_noise": 0.6,
    "hidden_noise": 0.5,
    "output": "tanh",
}

register_recipe(
    Recipe(
        "semi-digits",
        """\
8x8 digits (1,437 training samples; 10 labelled per class by default): the paper's recipe with
D 500-250-250-250-250 and G 250-250 (a fifth of the paper's cost per step), 1,000 steps (about
70 epochs of the unlabelled set), D's moving average at 1e-2 (the paper's 1e-4 averages over
10,000 steps, longer than the run). BENCHMARKS.md, Table 6.""",
        {
            **_SEMI_COMMON,
            "steps": 1000,
            "model.options": dict(_SMALL),
            "task_options": {"labels": 10, "d_ema": 1e-2},
            "log.eval_every": 100,
            "log.sample_every": 500,
            "log.checkpoint_every": 500,
        },
        task="semi",
        data="digits",
    )
)

register_recipe(
    Recipe(
        "semi-mnist1d",
        """\
MNIST-1D (4,000 training sequences of 40; 10 labelled per class by default): as semi-digits with
less noise (input 0.15, hidden 0.3: the digits noise left D unable to fit the labelled set, test
error 0.79 against 0.73 at step 300, one seed), 1,500 steps. MNIST-1D is hard for an MLP with few
labels: the errors stay high. BENCHMARKS.md, Table 6.""",
        {
            **_SEMI_COMMON,
            "steps": 1500,
            "model.options": {**_SMALL, "input_noise": 0.15, "hidden_noise": 0.3},
            "task_options": {"labels": 10, "d_ema": 1e-2},
            "log.eval_every": 150,
            "log.sample_every": 500,
            "log.checkpoint_every": 500,
            "log.n_samples": 16,
        },
        task="semi",
        data="mnist1d",
    )
)

register_task(SemiTask)
