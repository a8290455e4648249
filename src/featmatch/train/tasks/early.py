"""Early prediction of a sequence's class (task ``"early"``): the reference article's system.

A student classifies a sequence ``(C, T)`` from its first fraction ``r`` only. The parts:

- the *teacher*: a :class:`~featmatch.models.SequenceEncoder` with a classifier head, trained on
  whole sequences in :meth:`EarlyTask.setup` (``task_options.teacher_steps``), then frozen
  (``TaskModels.frozen["teacher"]``; checkpoints hold it, so resume and ``featmatch eval`` use
  the very weights the run trained, and a resumed run never depends on re-training it);
- the *student* (the run's "generator", checkpoint entry ``generator``): an encoder of the same
  shape on :func:`~featmatch.models.observe` ``(x, r)`` (zeros after the prefix plus a mask
  channel), so that its features ``(N, C_feat, T_feat)`` have the teacher's shape;
- the *discriminator*: :class:`~featmatch.models.SequenceDiscriminator` over those features, BCE
  (``objective.d_loss``), the teacher's features real, the student's fake.

The student's objective (terms logged as ``loss/<name>``):

- ``ce``: cross-entropy of the student's logits, weight ``task_options.ce_weight``;
- ``g_fm``: paired feature matching of D's block features, student against teacher (the article's
  ``G_rof_loss`` is the ``layer_mse`` preset, the recipe's), weight ``objective.fm_weight``;
- ``g_adv``: the adversarial generator loss on D's logits, weight ``objective.adv_weight``;
- ``distill``: MSE of the student's features to the teacher's (no D), weight
  ``task_options.distill_weight`` (Table 5's row (b)).

``objective.kind`` says which of ``g_fm``/``g_adv`` count (``fm``, ``adv+fm``, ``adv``), as in
the generation task, unless ``task_options.use_discriminator`` is false (then neither: the plain
classifier, Table 5's row (a)); ``ce`` and ``distill`` always count. Every term is measured on
logged steps.

Fractions: ``r`` is drawn per sample, uniformly from ``[min_fraction, max_fraction]``
(``fraction_sampling="uniform"``) or from the evaluation grid 0.1, 0.2, ... 1.0 inside that range
(``"grid"``), so one student serves every ratio; ``min_fraction == max_fraction`` trains one ratio.

Metrics: ``accuracy@0.1`` ... ``accuracy@1.0`` and ``accuracy_auc`` of the student on the whole
test split (:func:`featmatch.metrics.accuracy_by_fraction`); the report adds the frozen teacher's
curve on the same prefixes (zero-filled). ``featmatch sample --out P.npy`` writes the student's
predicted class of each drawn test sequence at each of those ten fractions, ``(N, 10)`` int64.

Example:
    >>> from featmatch.train.config import build_config
    >>> task = EarlyTask(build_config({"task": "early", "data.name": "mnist1d", "recipe": None}))
    >>> models = task.build_models({"sample_shape": [1, 40], "num_classes": 10})
    >>> models.family, models.latent_dim, sorted(models.frozen)
    ('early_encoder', None, ['teacher'])
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch.data import DataSet
from featmatch.train.config import Option, Recipe, register_recipe, setting
from featmatch.train.monitor import either
from featmatch.train.seeds import derive_seed
from featmatch.train.tasks import Objective, Streams, Task, TaskModels, Weights, register_task

__all__ = ["FRACTION_SAMPLING", "EarlyBatch", "EarlyInputs", "EarlyOptions", "EarlyTask"]

#: How training draws each sample's observed fraction: ``"uniform"`` in the range, or ``"grid"``
#: (the evaluation fractions 0.1 ... 1.0 that lie in the range).
FRACTION_SAMPLING: tuple[str, ...] = ("uniform", "grid")
# The teacher's batches come from a random stream of their own (not the run's data or noise).
_STREAM_TEACHER = 16
# Fractions shown in the sample picture.
_PICTURE_FRACTIONS = (0.2, 0.5, 1.0)


@dataclass(frozen=True)
class EarlyOptions:
    """The early-prediction task's settings (``task_options``; flags in ``featmatch train --help``).

    Attributes:
        teacher_steps: Adam steps of the teacher on whole sequences before the GAN (batch
            ``data.batch_size``).
        teacher_lr: the teacher's learning rate.
        min_fraction, max_fraction: the range of observed fractions the student trains on.
        fraction_sampling: one of :data:`FRACTION_SAMPLING`.
        ce_weight: weight of the student's cross-entropy.
        distill_weight: weight of the direct MSE of student to teacher features (no D; 0: off).
        use_discriminator: ``False`` leaves every term through D (``g_fm``, ``g_adv``) out of the
            student's objective (still measured, D still trains for the monitor): the classifier
            alone, or with ``distill_weight`` distillation without a discriminator.
        student_init: ``"random"``, or ``"teacher"``: the student starts from the teacher's
            weights (the mask channel's input weights at zero).
        depth, pool: the encoders' strided blocks and head spans (``model.width``: their width).
        d_width, d_depth: the discriminator over features (``2**d_depth <= T_feat``).
    """

    teacher_steps: int = 1000
    teacher_lr: float = 3e-3
    min_fraction: float = 0.1
    max_fraction: float = 1.0
    fraction_sampling: str = "uniform"
    ce_weight: float = 1.0
    distill_weight: float = 0.0
    use_discriminator: bool = True
    student_init: str = "random"
    depth: int = 2
    pool: int = 4
    d_width: int = 32
    d_depth: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.min_fraction <= self.max_fraction <= 1:
            raise ValueError(
                "min_fraction and max_fraction must satisfy 0 < min_fraction <= max_fraction <= 1; got "
                f"{self.min_fraction} and {self.max_fraction}."
            )
        if self.fraction_sampling not in FRACTION_SAMPLING:
            raise ValueError(f"fraction_sampling must be one of {FRACTION_SAMPLING}; got {self.fraction_sampling!r}.")
        if self.student_init not in ("random", "teacher"):
            raise ValueError(f"student_init must be 'random' or 'teacher'; got {self.student_init!r}.")
        for name in ("teacher_steps",):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be an integer >= 0; got {getattr(self, name)!r}.")
        for name in ("depth", "pool", "d_width", "d_depth"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {getattr(self, name)!r}.")
        for name in ("teacher_lr", "ce_weight", "distill_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}.")
        if self.fraction_sampling == "grid" and not self.grid():
            raise ValueError(
                f"fraction_sampling='grid' needs a fraction of 0.1, 0.2, ... 1.0 in [{self.min_fraction}, "
                f"{self.max_fraction}]; there is none. Hint: widen the range or use 'uniform'."
            )

    def grid(self) -> list[float]:
        """The evaluation fractions inside ``[min_fraction, max_fraction]``."""
        from featmatch.metrics.early import EARLY_FRACTIONS

        return [f for f in EARLY_FRACTIONS if self.min_fraction - 1e-9 <= f <= self.max_fraction + 1e-9]


@dataclass
class EarlyBatch:
    """One batch: sequences ``x`` (B, C, T), labels ``y`` (B,), fractions ``r`` (B,), the student's
    input ``observed`` (B, C + 1, T) and the teacher's features ``teacher`` (B, C_feat, T_feat)."""

    x: Tensor
    y: Tensor
    r: Tensor
    observed: Tensor
    teacher: Tensor


@dataclass
class EarlyInputs:
    """Sequences to predict (``featmatch sample``): ``x`` (N, C, T) and labels ``y`` (N,; -1: unknown)."""

    x: Tensor
    y: Tensor


def _as_list(out: Any) -> list[Any]:
    return out if isinstance(out, list) else [out]


class EarlyTask(Task):
    """Early prediction with a frozen teacher, a student encoder and a discriminator over features."""

    name = "early"
    summary = "early prediction of a sequence's class from its beginning (the reference article's system)"
    data_needs = "labelled sequences (N, C, T) with class labels y"
    Options = EarlyOptions
    batch_labels = True
    flags = (
        Option(
            "task_options.teacher_steps",
            "--teacher-steps",
            "early: teacher training steps on whole sequences",
            "objective",
            parse=int,
            metavar="N",
        ),
        Option(
            "task_options.min_fraction",
            "--min-fraction",
            "early: smallest observed fraction in training",
            "objective",
            parse=float,
            metavar="R",
        ),
        Option(
            "task_options.max_fraction",
            "--max-fraction",
            "early: largest observed fraction in training",
            "objective",
            parse=float,
            metavar="R",
        ),
        Option(
            "task_options.fraction_sampling",
            "--fraction-sampling",
            "early: draw training fractions uniformly or from the 0.1 grid",
            "objective",
            choices=FRACTION_SAMPLING,
        ),
        Option(
            "task_options.ce_weight",
            "--ce-weight",
            "early: weight of the student's cross-entropy",
            "objective",
            parse=float,
            metavar="W",
        ),
        Option(
            "task_options.distill_weight",
            "--distill-weight",
            "early: weight of the MSE of student to teacher features (no discriminator)",
            "objective",
            parse=float,
            metavar="W",
        ),
        Option(
            "task_options.student_init",
            "--student-init",
            "early: start the student at random or from the teacher's weights",
            "objective",
            choices=("random", "teacher"),
        ),
    )

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        kind = config.objective.kind
        self.use_fm = "fm" in kind and self.options.use_discriminator
        self.use_adv = "adv" in kind and self.options.use_discriminator
        self.fm_loss: nn.Module | None = None
        self.teacher_curve: dict[str, float] = {}  # set by evaluate(), drawn by report_sections()
        self._test: DataSet | None = None

    @classmethod
    def data_names(cls) -> tuple[str, ...]:
        """The built-in data sets of labelled sequences."""
        from featmatch.data import DATASETS
        from featmatch.data.kinds import BUILTIN_KINDS

        return tuple(name for name in DATASETS if BUILTIN_KINDS.get(name) == "sequence")

    @classmethod
    def model_families(cls) -> tuple[str, ...]:
        """The teacher's and student's encoder families (``featmatch.models.ENCODER_FAMILIES``)."""
        from featmatch.models import ENCODER_FAMILIES

        return tuple(ENCODER_FAMILIES)

    def monitor_suggestions(self) -> dict[str, str | None]:
        """Without terms through D (``use_discriminator`` false) D's dominance does not touch the
        student; the collapse measured here is the student's features against the teacher's."""
        general = super().monitor_suggestions()
        opts, obj = self.options, self.config.objective
        moves = []
        if self.use_fm:
            moves.append(f"raise the feature-matching weight ({setting('objective.fm_weight')}, now {obj.fm_weight:g})")
        if opts.distill_weight == 0:
            moves.append(f"add distillation of the teacher's features ({setting('task_options.distill_weight')})")
        else:
            moves.append(
                f"raise the distillation weight ({setting('task_options.distill_weight')}, now {opts.distill_weight:g})"
            )
        if opts.student_init != "teacher":
            moves.append(f"start the student from the teacher ({setting('task_options.student_init', 'teacher')})")
        collapse = (
            "the student's features are far less spread than the teacher's (it maps many prefixes to the same "
            "features): " + either(moves)
        )
        dominates = general["d_dominates"] if opts.use_discriminator else None
        return {**general, "d_dominates": dominates, "collapse": collapse}

    # --- data and models ---------------------------------------------------------------

    def load_data(self, split: str, device: torch.device) -> DataSet:
        """A split of labelled sequences (N, C, T); a user's file is read as sequences (``kind="sequence"``)."""
        from dataclasses import replace

        from featmatch.data import DATASETS, load_dataset

        cfg = self.config
        options = cfg.data.load_options()
        if cfg.data.name not in DATASETS:
            options.setdefault("kind", "sequence")  # (N, C, T) arrays would otherwise read as images
        size = cfg.data.size if split == "train" else None
        data = load_dataset(cfg.data.name, split, seed=cfg.seed, size=size, **options)
        if data.kind != "sequence" or data.y is None:
            raise ValueError(
                f"task 'early' needs labelled sequences (N, C, T) with labels y; data {cfg.data.name!r} gives "
                f"kind {data.kind!r} {'without' if data.y is None else 'with'} labels. Hint: use --data mnist1d, "
                "or an .npz with x of shape (N, C, T) and y of shape (N,)."
            )
        if device.type != "cpu":
            data = replace(data, x=data.x.to(device), y=data.y.to(device))
        return data

    def describe_data(self, data: DataSet) -> dict[str, Any]:
        return {**super().describe_data(data), "num_classes": data.num_classes}

    def build_models(self, data: Mapping[str, Any], *, family: str | None = None) -> TaskModels:
        from featmatch.models import SequenceDiscriminator, SequenceEncoder

        opts = self.options
        channels, length = (int(v) for v in data["sample_shape"])
        classes = int(data["num_classes"])
        width = self.config.model.width or 32
        teacher = SequenceEncoder(channels, classes, width=width, depth=opts.depth, pool=opts.pool)
        student = SequenceEncoder(channels + 1, classes, width=width, depth=opts.depth, pool=opts.pool)
        feat_channels, feat_length = teacher.feature_shape(length)
        if 2**opts.d_depth > feat_length:
            raise ValueError(
                f"task_options.d_depth={opts.d_depth} needs features of length >= {2**opts.d_depth}; the encoders "
                f"give {feat_length} (T={length}, depth={opts.depth}). Hint: lower d_depth or depth."
            )
        discriminator = SequenceDiscriminator(feat_channels, width=opts.d_width, depth=opts.d_depth)
        teacher.requires_grad_(False).eval()
        return TaskModels(
            generator=student,
            discriminator=discriminator,
            family="early_encoder",
            latent_dim=None,
            frozen={"teacher": teacher},
        )

    def setup(self, models: TaskModels, data: DataSet, *, distributed: bool, device: torch.device) -> None:
        """Train the teacher on whole sequences (every rank alike, from the run's seed), freeze it;
        optionally start the student from it; build the feature-matching loss."""
        from featmatch.losses import FeatureMatchingLoss
        from featmatch.models import freeze

        self.fm_loss = FeatureMatchingLoss(**{**self.config.fm_loss_options(), "return_terms": True})
        teacher = models.frozen["teacher"]
        self.train_teacher(teacher, data, device)
        if self.options.student_init == "teacher":
            self.copy_teacher(teacher, models.generator)
        freeze(teacher)

    def train_teacher(self, teacher: nn.Module, data: DataSet, device: torch.device) -> None:
        """``teacher_steps`` Adam steps of cross-entropy on random whole-sequence batches."""
        assert data.y is not None
        gen = torch.Generator().manual_seed(derive_seed(self.config.seed, _STREAM_TEACHER))
        teacher.requires_grad_(True).train()
        opt = torch.optim.Adam(teacher.parameters(), lr=self.options.teacher_lr)
        batch = min(self.config.data.batch_size, len(data))
        for _ in range(self.options.teacher_steps):
            index = torch.randint(0, len(data), (batch,), generator=gen).to(data.x.device)
            loss = F.cross_entropy(teacher(data.x[index]).logits, data.y[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        teacher.zero_grad(set_to_none=True)  # frozen from here: no stale gradients left on it

    @staticmethod
    @torch.no_grad()
    def copy_teacher(teacher: nn.Module, student: nn.Module) -> None:
        """The teacher's weights into the student; the stem's extra (mask) input channel gets zeros."""
        mine = student.state_dict()
        for key, value in teacher.state_dict().items():
            if mine[key].shape == value.shape:
                mine[key].copy_(value)
            else:  # the stem conv: (width, C, k) -> (width, C + 1, k)
                mine[key].zero_()
                mine[key][:, : value.shape[1]].copy_(value)

    # --- one step ------------------------------------------------------------------------

    def draw_fractions(self, n: int, generator: torch.Generator, device: torch.device) -> Tensor:
        """``n`` observed fractions as ``fraction_sampling`` says (float32, on ``device``)."""
        opts = self.options
        if opts.fraction_sampling == "grid":
            grid = torch.tensor(opts.grid(), device=device)
            return grid[torch.randint(0, len(grid), (n,), generator=generator, device=device)]
        r = torch.rand(n, generator=generator, device=device)
        return opts.min_fraction + (opts.max_fraction - opts.min_fraction) * r

    def draw(self, streams: Streams, models: TaskModels) -> EarlyBatch:
        from featmatch.models import observe

        x, y = streams.next_batch()  # (B, C, T), (B,)
        r = self.draw_fractions(len(x), streams.noise, streams.device)
        with torch.no_grad():
            teacher = models.frozen["teacher"](x).features  # (B, C_feat, T_feat): the whole sequence
        return EarlyBatch(x, y, r, observe(x, r), teacher)  # observed: (B, C + 1, T)

    def generate(self, G: nn.Module, batch: EarlyBatch) -> Any:
        return G(batch.observed)  # EncoderOutput: features (B, C_feat, T_feat), logits (B, K)

    def discriminator_objective(self, D: nn.Module, batch: EarlyBatch, fake: Any, *, measure: bool) -> Objective:
        from featmatch.train.tasks.generation import adversarial_d_objective

        real_out = D(batch.teacher)
        fake_out = D(fake.features.detach())
        return adversarial_d_objective(real_out, fake_out, kind=self.config.objective.d_loss, measure=measure)

    def generator_objective(
        self, D: nn.Module, batch: EarlyBatch, fake: Any, real_out: Any, weights: Weights, *, measure: bool
    ) -> Objective:
        from featmatch.losses import generator_loss
        from featmatch.train.tasks.generation import logits_of

        assert self.fm_loss is not None, "call setup() first"
        obj, opts = self.config.objective, self.options
        result = Objective(terms={"ce": F.cross_entropy(fake.logits, batch.y)}, weights={"ce": opts.ce_weight})
        fake_out = D(fake.features)
        if self.use_fm or measure:
            with contextlib.nullcontext() if self.use_fm else torch.no_grad():
                if real_out is None:
                    with torch.no_grad():
                        real_out = D(batch.teacher)
                fm, layers = self.fm_loss(fake_out, real_out)  # paired: sample i against sample i
            result.terms["g_fm"], result.layers = fm, layers
            if self.use_fm:
                result.weights["g_fm"] = obj.fm_weight * weights.fm_multiplier
        if self.use_adv or measure:
            with contextlib.nullcontext() if self.use_adv else torch.no_grad():
                result.terms["g_adv"] = generator_loss(logits_of(fake_out), kind=obj.d_loss, saturating=obj.saturating)
            if self.use_adv:
                result.weights["g_adv"] = weights.adv
        if opts.distill_weight or measure:
            with contextlib.nullcontext() if opts.distill_weight else torch.no_grad():
                result.terms["distill"] = F.mse_loss(fake.features, batch.teacher)
            if opts.distill_weight:
                result.weights["distill"] = opts.distill_weight
        return result

    def monitor_batches(self, batch: EarlyBatch, fake: Any) -> tuple[Tensor, Tensor]:
        return batch.teacher.detach(), fake.features.detach()

    # --- samples and evaluation -----------------------------------------------------------

    def test_split(self) -> DataSet:
        """The test split on the CPU (loaded once)."""
        if self._test is None:
            self._test = self.load_data("test", torch.device("cpu"))
        return self._test

    def sample_inputs(self, models: TaskModels, n: int, generator: torch.Generator) -> EarlyInputs:
        """``n`` test sequences drawn (with their labels) by ``generator``."""
        test = self.test_split()
        assert test.y is not None
        index = torch.randint(0, len(test), (n,), generator=generator)
        return EarlyInputs(test.x[index], test.y[index])

    @torch.no_grad()
    def sample(self, G: nn.Module, inputs: EarlyInputs, device: torch.device) -> Tensor:
        """The student's predicted class at r = 0.1, 0.2, ... 1.0: ``(N, 10)`` int64 on the CPU."""
        from featmatch.metrics.early import EARLY_FRACTIONS

        return self.predict(G, inputs.x, EARLY_FRACTIONS, device)

    @staticmethod
    @torch.no_grad()
    def predict(G: nn.Module, x: Tensor, fractions: tuple[float, ...], device: torch.device) -> Tensor:
        """Predicted classes of sequences ``x`` (N, C, T) observed up to each fraction: ``(N, F)`` int64."""
        from featmatch.models import observe

        out = []
        for r in fractions:
            preds = [G(observe(chunk.to(device), r)).logits.argmax(1).cpu() for chunk in x.split(512)]
            out.append(torch.cat(preds))
        return torch.stack(out, dim=1)

    def save_picture(
        self,
        G: nn.Module,
        inputs: EarlyInputs,
        data: Mapping[str, Any],
        path: Path,
        *,
        title: str,
        device: torch.device,
    ) -> Path:
        """A few sequences (rows) at a few fractions (columns): the observed prefix drawn solid, the
        rest faint, and the student's prediction against the truth in each panel's title."""
        import numpy as np

        from featmatch.models.early import observed_steps
        from featmatch.train.plots import new_figure, save_figure

        x, y = inputs.x[:4], inputs.y[:4]
        preds = self.predict(G, x, _PICTURE_FRACTIONS, device)
        rows, cols, length = len(x), len(_PICTURE_FRACTIONS), x.shape[-1]
        figure = new_figure(2.6 * cols + 0.3, 1.5 * rows + 0.6)
        axes = figure.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
        t = np.arange(length)
        for i in range(rows):
            for j, r in enumerate(_PICTURE_FRACTIONS):
                ax, k = axes[i, j], int(observed_steps(r, length))
                for c in range(x.shape[1]):
                    ax.plot(t, x[i, c].numpy(), color="0.8", linewidth=1.0)
                    ax.plot(t[:k], x[i, c, :k].numpy(), color="tab:blue", linewidth=1.2)
                ax.axvline(k - 0.5, color="0.5", linewidth=0.8, linestyle=":")
                truth = int(y[i])
                right = truth < 0 or int(preds[i, j]) == truth
                label = f"r={r:g}: {int(preds[i, j])}" + (f" (true {truth})" if truth >= 0 else "")
                ax.set_title(label, fontsize=8, color="tab:green" if right else "tab:red")
                ax.tick_params(labelsize=6)
        figure.suptitle(f"{title}: student's class from the observed prefix", fontsize=9)
        figure.tight_layout()
        return save_figure(figure, path)

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
        """``accuracy@0.1`` ... ``accuracy@1.0`` and ``accuracy_auc`` of the student on the whole test
        split (deterministic: ``n`` and ``seed`` do not apply); the teacher's curve on the same
        prefixes goes to :attr:`teacher_curve` for the report."""
        from featmatch.metrics import accuracy_by_fraction

        test = self.test_split()
        assert test.y is not None
        x, y = test.x.to(device), test.y.to(device)
        metrics = {k: float(v) for k, v in accuracy_by_fraction(G, x, y, mode="mask").items()}
        teacher = models.frozen.get("teacher")
        if teacher is not None:
            curve = accuracy_by_fraction(teacher, x, y, mode="zero")
            self.teacher_curve = {k: float(v) for k, v in curve.items()}
        return metrics

    def report_sections(self, run_dir: Path, summary: Mapping[str, Any], history: list[dict[str, Any]]) -> list[str]:
        """Test accuracy against the observed fraction, the student's and the frozen teacher's
        (``accuracy_by_fraction.png`` and a table)."""
        from featmatch.train.plots import new_figure, save_figure

        metrics = dict(summary.get("metrics") or {})
        points = sorted((float(k.split("@")[1]), v) for k, v in metrics.items() if k.startswith("accuracy@"))
        if not points:
            return []
        figure = new_figure(5.0, 3.4)
        ax = figure.add_subplot()
        ax.plot([p for p, _ in points], [v for _, v in points], marker="o", label="student (prefix + mask)")
        teacher = sorted(
            (float(k.split("@")[1]), v) for k, v in self.teacher_curve.items() if k.startswith("accuracy@")
        )
        if teacher:
            ax.plot(
                [p for p, _ in teacher],
                [v for _, v in teacher],
                marker="s",
                linestyle="--",
                color="0.4",
                label="teacher (zero-filled prefix)",
            )
        ax.set_xlabel("observed fraction r")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        figure.tight_layout()
        save_figure(figure, run_dir / "accuracy_by_fraction.png")
        rows = "\n".join(
            f"| {p:g} | {v:.3f} | " + (f"{dict(teacher).get(p, float('nan')):.3f} |" if teacher else "- |")
            for p, v in points
        )
        auc = metrics.get("accuracy_auc")
        text = (
            "## Accuracy by observed fraction\n\n"
            "![accuracy by fraction](accuracy_by_fraction.png)\n\n"
            "| r | student | teacher |\n|---|---|---|\n" + rows + "\n"
        )
        if auc is not None:
            text += f"\nStudent's mean over r (accuracy_auc): {auc:.3f}"
            if "accuracy_auc" in self.teacher_curve:
                text += f"; teacher's: {self.teacher_curve['accuracy_auc']:.3f}"
            text += ".\n"
        return [text]

    def inputs_from_file(self, path: Path, models: TaskModels) -> EarlyInputs:
        """Sequences from a ``.npy`` file, ``(N, C, T)`` (or ``(N, T)`` for one channel); labels unknown."""
        import numpy as np

        array = np.load(path)
        x = torch.as_tensor(array, dtype=torch.float32)
        if x.ndim == 2:
            x = x.unsqueeze(1)  # (N, T) -> (N, 1, T)
        channels = models.frozen["teacher"].in_channels if "teacher" in models.frozen else None
        if x.ndim != 3 or (channels is not None and x.shape[1] != channels):
            raise ValueError(
                f"--condition {str(path)!r} must hold sequences (N, {channels}, T) (or (N, T) for one channel); "
                f"got shape {tuple(array.shape)}."
            )
        return EarlyInputs(x, torch.full((len(x),), -1, dtype=torch.int64))


register_task(EarlyTask)

register_recipe(
    Recipe(
        "early-mnist1d",
        "Early prediction on MNIST-1D (the reference article's system): teacher 1000 steps, student 2000 steps "
        "on uniform fractions in [0.1, 1], paired layer_mse feature matching through a 3-block D over features "
        "(BENCHMARKS.md, Table 5).",
        {
            "steps": 2000,
            "data.batch_size": 128,
            "model.width": 32,
            "objective.kind": "fm",
            "objective.fm_preset": "layer_mse",
            "objective.fm_weight": 1.0,
            "objective.adv_weight": 0.0,
            "optim.lr_g": 3e-3,
            "optim.lr_d": 2e-4,
            "optim.betas": [0.5, 0.999],
            "log.sample_every": 1000,
            "log.checkpoint_every": 1000,
        },
        task="early",
        data="mnist1d",
    )
)
