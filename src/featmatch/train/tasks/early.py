"""Early prediction of a sequence's class (task ``"early"``): the reference article's system.

Why one module over 600 lines: a task is one module (adding one is one module and its
registration); this one has the most parts (teacher, student, discriminator over features, the
fractions, early stopping, its report sections), all behind the :class:`Task` interface.

A student classifies a sequence ``(C, T)`` from its first fraction ``r`` only. The parts:

- the *teacher*: an encoder with a classifier head (family ``model.family``: ``early_resnet``, a
  :class:`~featmatch.models.ResNetEncoder`, by default; ``early_encoder``, the smaller
  :class:`~featmatch.models.SequenceEncoder` of Table 5's first measurement), trained on
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
predicted class of each drawn test sequence at each of those ten fractions, ``(N, 10)`` int64;
``--probabilities`` its class probabilities at the stopping rule's fractions, ``(N, R, K)`` float32.

Early decisions: the student's probabilities at ``r = 1/R, 2/R, ..., 1`` (``stop_points`` R, 20 by
default); the rule stops at the first fraction whose largest probability reaches a threshold
(:mod:`featmatch.metrics.early`). The threshold is ``stop_threshold`` when given; otherwise a
stratified share ``holdout`` of the training split is kept out of training (teacher and student)
and the threshold that maximises the harmonic mean of accuracy and 1 - earliness on it is chosen.
``summary.json["metrics"]`` adds ``earliness``, ``accuracy_at_stop``, ``harmonic_mean`` (on the
test split) and ``stop_threshold``.

Scaling: ``normalize="series"`` z-normalises every sequence, channel by channel, by its own mean
and standard deviation over the whole sequence (as the UCR archive's files already are). The
default, ``"none"``, takes the data as given: a whole series' statistics include the steps an
early classifier has not seen yet, and the encoders' batch norm handles the scale of the data.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch.data import DATASETS, DataSet, load_dataset
from featmatch.data.kinds import BUILTIN_KINDS
from featmatch.losses import FeatureMatchingLoss, generator_loss
from featmatch.metrics import accuracy_by_fraction
from featmatch.metrics.early import EARLY_FRACTIONS, choose_threshold, decision_metrics, stop_fractions, stopping_point
from featmatch.models import ENCODER_FAMILIES, SequenceDiscriminator, build_encoder, freeze, observe
from featmatch.models.early import observed_steps
from featmatch.registry import register_task
from featmatch.train.config import Option, Recipe, register_recipe, setting
from featmatch.train.config.recipes import USER_FILES
from featmatch.train.monitor import either
from featmatch.train.plots import new_figure, save_figure
from featmatch.train.seeds import derive_seed
from featmatch.train.tasks.base import Objective, Streams, Task, TaskModels, Weights
from featmatch.train.tasks.generation import adversarial_d_objective, logits_of

__all__ = ["FRACTION_SAMPLING", "NORMALIZE", "EarlyBatch", "EarlyInputs", "EarlyOptions", "EarlyTask"]

#: How training draws each sample's observed fraction: ``"uniform"`` in the range, or ``"grid"``
#: (the evaluation fractions 0.1 ... 1.0 that lie in the range).
FRACTION_SAMPLING: tuple[str, ...] = ("uniform", "grid")
#: How the task scales sequences: ``"none"`` (as given) or ``"series"`` (each sequence z-normalised).
NORMALIZE: tuple[str, ...] = ("none", "series")
# The teacher's batches come from a random stream of their own (not the run's data or noise).
_STREAM_TEACHER = 16
# The held-out share of the training split is drawn from another stream.
_STREAM_HOLDOUT = 17
# The discriminator over features gets at most this many blocks (fewer where T_feat is short).
_MAX_D_DEPTH = 3
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
        depth, pool: the encoders' blocks and head spans (``model.width``: their width); None: the
            family's (:func:`featmatch.models.build_encoder`).
        d_width, d_depth: the discriminator over features; ``d_depth`` None: as deep as the
            features' length allows, at most 3 (``2**d_depth <= T_feat``).
        stop_threshold: the stopping rule's confidence, fixed; None: chosen on held-out data.
        holdout: the share of the training split (per class) held out to choose the threshold
            (not used when ``stop_threshold`` is given).
        stop_points: R: the rule may stop at ``1/R, 2/R, ..., 1`` (and ``--probabilities`` gives R columns).
        normalize: one of :data:`NORMALIZE`.
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
    depth: int | None = None
    pool: int | None = None
    d_width: int = 32
    d_depth: int | None = None
    stop_threshold: float | None = None
    holdout: float = 0.2
    stop_points: int = 20
    normalize: str = "none"

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
        for name in ("depth", "pool", "d_width", "d_depth", "stop_points"):
            value = getattr(self, name)
            if value is None and name in ("depth", "pool", "d_depth"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}.")
        if self.normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {NORMALIZE}; got {self.normalize!r}.")
        if self.stop_threshold is not None and not 0 <= self.stop_threshold <= 1:
            raise ValueError(
                f"stop_threshold must lie in [0, 1] (a class probability); got {self.stop_threshold!r}. "
                "Hint: leave it out to choose it on held-out training data."
            )
        if not 0 <= self.holdout < 1:
            raise ValueError(f"holdout must lie in [0, 1) (a share of the training split); got {self.holdout!r}.")
        if self.stop_threshold is None and self.holdout == 0:
            raise ValueError(
                "holdout=0 leaves no held-out training data to choose the stopping threshold on. Hint: give "
                "--stop-threshold P to fix it, or a holdout share such as 0.2."
            )
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


def zscore(x: Tensor) -> Tensor:
    """Each sequence of ``x`` (N, C, T), channel by channel, minus its mean over T, over its standard
    deviation (population; a constant channel is only centred).

    Example:
        >>> zscore(torch.tensor([[[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]]))
        tensor([[[-1.2247,  0.0000,  1.2247],
                 [ 0.0000,  0.0000,  0.0000]]])
    """
    mean = x.mean(dim=-1, keepdim=True)  # (N, C, 1)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.where(std > 1e-8, std, torch.ones_like(std))


def holdout_index(y: Tensor, share: float, seed: int, name: str = "data") -> Tensor:
    """Sorted indices of a stratified held-out share of labelled samples ``y`` (N,).

    Of each class's n samples, ``round(share * n)`` are held out, at most n - 1 (one always
    stays for training), chosen by a permutation from ``seed``.

    Raises:
        ValueError: the share holds no sample (too few samples per class).

    Example:
        >>> holdout_index(torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1]), 0.25, seed=0).tolist()
        [2, 8]
    """
    gen = torch.Generator().manual_seed(seed)
    held = []
    for label in torch.unique(y).tolist():
        members = torch.nonzero(y.cpu() == label).squeeze(1)
        count = min(round(share * len(members)), len(members) - 1)
        held.append(members[torch.randperm(len(members), generator=gen)[:count]])
    index = torch.cat(held).sort().values if held else torch.zeros(0, dtype=torch.int64)
    if len(index) == 0:
        raise ValueError(
            f"task_options.holdout={share} holds out no training series of {name!r} ({len(y)} series, "
            f"{len(torch.unique(y))} classes), so the stopping threshold has nothing to be chosen on. Hint: "
            "a larger --holdout, or --stop-threshold P to fix it."
        )
    return index


class EarlyTask(Task):
    """Early prediction with a frozen teacher, a student encoder and a discriminator over features."""

    name = "early"
    summary = "early prediction of a sequence's class from its beginning (the reference article's system)"
    data_needs = "labelled sequences (N, C, T) with class labels y"
    metrics_title = "Early prediction: the student's test accuracy by observed fraction, and its stopping rule"
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
        Option(
            "task_options.stop_threshold",
            "--stop-threshold",
            "early: fix the stopping rule's confidence (default: chosen on held-out training data)",
            "objective",
            parse=float,
            metavar="P",
        ),
        Option(
            "task_options.holdout",
            "--holdout",
            "early: share of the training split held out to choose the stopping threshold",
            "objective",
            parse=float,
            metavar="R",
        ),
        Option(
            "task_options.normalize",
            "--normalize",
            "early: 'series' z-normalises each sequence by its own mean and std; 'none' keeps the data as given",
            "data and models",
            choices=NORMALIZE,
        ),
    )

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        kind = config.objective.kind
        self.use_fm = "fm" in kind and self.options.use_discriminator
        self.use_adv = "adv" in kind and self.options.use_discriminator
        self.fm_loss: nn.Module | None = None
        self.teacher_curve: dict[str, float] = {}  # set by evaluate(), drawn by report_sections()
        self.stop_counts: list[int] = []  # test sequences stopped at each stop fraction, set by evaluate()
        self._test: DataSet | None = None
        self._holdout: DataSet | None = None

    @classmethod
    def data_names(cls) -> tuple[str, ...]:
        """The built-in data sets of labelled sequences."""

        return tuple(name for name in DATASETS if BUILTIN_KINDS.get(name) == "sequence")

    @classmethod
    def model_families(cls) -> tuple[str, ...]:
        """The teacher's and student's encoder families (``featmatch.models.ENCODER_FAMILIES``)."""

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
        """A split of labelled sequences (N, C, T); a user's file is read as sequences (``kind="sequence"``).

        ``"train"`` is the training split less the held-out share (:meth:`holdout_split`) when
        the stopping threshold is chosen on held-out data; ``"holdout"`` is that share.
        """
        cfg = self.config
        options = cfg.data.load_options()
        if cfg.data.name not in DATASETS:
            options.setdefault("kind", "sequence")  # (N, C, T) arrays would otherwise read as images
        size = cfg.data.size if split in ("train", "holdout") else None
        data = load_dataset(cfg.data.name, "test" if split == "test" else "train", seed=cfg.seed, size=size, **options)
        if data.kind != "sequence" or data.y is None:
            raise ValueError(
                f"task 'early' needs labelled sequences (N, C, T) with labels y; data {cfg.data.name!r} gives "
                f"kind {data.kind!r} {'without' if data.y is None else 'with'} labels. Hint: use --data mnist1d, "
                "or an .npz with x of shape (N, C, T) and y of shape (N,)."
            )
        x, y = data.x, data.y  # (N, C, T), (N,)
        if self.options.normalize == "series":
            x = zscore(x)
        if split != "test" and self.options.stop_threshold is None:
            held = holdout_index(y, self.options.holdout, derive_seed(cfg.seed, _STREAM_HOLDOUT), data.name)
            keep = torch.ones(len(y), dtype=torch.bool)
            keep[held] = False
            index = held if split == "holdout" else torch.nonzero(keep).squeeze(1)
            x, y = x[index], y[index]
        return replace(data, x=x.to(device), y=y.to(device))

    def describe_data(self, data: DataSet) -> dict[str, Any]:
        return {**super().describe_data(data), "num_classes": data.num_classes}

    def build_models(self, data: Mapping[str, Any], *, family: str | None = None) -> TaskModels:
        """Teacher and student of encoder family ``family`` (default ``model.family``, else
        ``early_resnet``) and the discriminator over their features (its depth follows T_feat)."""

        opts = self.options
        family = family or self.config.model.family or ENCODER_FAMILIES[0]
        if family not in ENCODER_FAMILIES:
            raise ValueError(
                f"config field 'model.family' (flag --model) must be an encoder family {ENCODER_FAMILIES} for task "
                f"'early'; got {family!r}. Hint: leave --model out for early_resnet."
            )
        channels, length = (int(v) for v in data["sample_shape"])
        classes = int(data["num_classes"])
        shape = {"width": self.config.model.width, "depth": opts.depth, "pool": opts.pool}
        teacher = build_encoder(family, channels, classes, **shape)
        student = build_encoder(family, channels + 1, classes, **shape)
        if length < teacher.min_length:
            raise ValueError(
                f"sequences of length T={length} are too short for the {family} encoder of depth {teacher.depth}, "
                f"which needs T >= {teacher.min_length}. Hint: --set task_options.depth=1, or the default early_resnet."
            )
        feat_channels, feat_length = teacher.feature_shape(length)
        d_depth = opts.d_depth if opts.d_depth is not None else min(_MAX_D_DEPTH, feat_length.bit_length() - 1)
        if d_depth < 1 or 2**d_depth > feat_length:
            raise ValueError(
                f"task_options.d_depth={d_depth} needs features of length >= {2 ** max(d_depth, 1)}; the encoders "
                f"give {feat_length} (T={length}, depth={teacher.depth}). Hint: lower d_depth or depth."
            )
        discriminator = SequenceDiscriminator(feat_channels, width=opts.d_width, depth=d_depth)
        teacher.requires_grad_(False).eval()
        return TaskModels(
            generator=student,
            discriminator=discriminator,
            family=family,
            latent_dim=None,
            frozen={"teacher": teacher},
        )

    def setup(self, models: TaskModels, data: DataSet, *, distributed: bool, device: torch.device) -> None:
        """Train the teacher on whole sequences (every rank alike, from the run's seed), freeze it;
        optionally start the student from it; build the feature-matching loss."""

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

        x, y = streams.next_batch()  # (B, C, T), (B,)
        r = self.draw_fractions(len(x), streams.noise, streams.device)
        with torch.no_grad():
            teacher = models.frozen["teacher"](x).features  # (B, C_feat, T_feat): the whole sequence
        return EarlyBatch(x, y, r, observe(x, r), teacher)  # observed: (B, C + 1, T)

    def generate(self, G: nn.Module, batch: EarlyBatch) -> Any:
        return G(batch.observed)  # EncoderOutput: features (B, C_feat, T_feat), logits (B, K)

    def discriminator_objective(self, D: nn.Module, batch: EarlyBatch, fake: Any, *, measure: bool) -> Objective:

        real_out = D(batch.teacher)
        fake_out = D(fake.features.detach())
        return adversarial_d_objective(real_out, fake_out, kind=self.config.objective.d_loss, measure=measure)

    def generator_objective(
        self, D: nn.Module, batch: EarlyBatch, fake: Any, real_out: Any, weights: Weights, *, measure: bool
    ) -> Objective:

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

    def holdout_split(self) -> DataSet | None:
        """The held-out share of the training split on the CPU (loaded once); None with ``stop_threshold``."""
        if self.options.stop_threshold is not None:
            return None
        if self._holdout is None:
            self._holdout = self.load_data("holdout", torch.device("cpu"))
        return self._holdout

    def stop_fractions(self) -> tuple[float, ...]:
        """Where the stopping rule may stop: ``1/R, 2/R, ..., 1`` (R = ``stop_points``)."""

        return stop_fractions(self.options.stop_points)

    def sample_inputs(self, models: TaskModels, n: int, generator: torch.Generator) -> EarlyInputs:
        """``n`` test sequences drawn (with their labels) by ``generator``."""
        test = self.test_split()
        assert test.y is not None
        index = torch.randint(0, len(test), (n,), generator=generator)
        return EarlyInputs(test.x[index], test.y[index])

    @torch.no_grad()
    def sample(self, G: nn.Module, inputs: EarlyInputs, device: torch.device) -> Tensor:
        """The student's predicted class at r = 0.1, 0.2, ... 1.0: ``(N, 10)`` int64 on the CPU."""

        return self.predict(G, inputs.x, EARLY_FRACTIONS, device)

    @torch.no_grad()
    def probabilities(self, G: nn.Module, inputs: EarlyInputs, device: torch.device) -> Tensor:
        """The student's class probabilities at the stop fractions: ``(N, R, K)`` float32 on the CPU
        (``featmatch sample --probabilities``)."""
        return self.predict_proba(G, inputs.x, self.stop_fractions(), device)

    @staticmethod
    @torch.no_grad()
    def predict_proba(G: nn.Module, x: Tensor, fractions: tuple[float, ...], device: torch.device) -> Tensor:
        """Class probabilities of sequences ``x`` (N, C, T) observed up to each fraction: ``(N, F, K)`` float32."""

        was_training = G.training
        G.eval()
        try:
            out = []
            for r in fractions:
                chunks = [G(observe(c.to(device), r)).logits.float().softmax(1).cpu() for c in x.split(512)]
                out.append(torch.cat(chunks))  # (N, K)
        finally:
            G.train(was_training)
        return torch.stack(out, dim=1)  # (N, F, K)

    @staticmethod
    @torch.no_grad()
    def predict(G: nn.Module, x: Tensor, fractions: tuple[float, ...], device: torch.device) -> Tensor:
        """Predicted classes of sequences ``x`` (N, C, T) observed up to each fraction: ``(N, F)`` int64."""

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
        split (deterministic: ``n`` and ``seed`` do not apply), then the stopping rule's
        ``earliness``, ``accuracy_at_stop``, ``harmonic_mean`` on it and its ``stop_threshold``
        (fixed, or chosen on the held-out share); the teacher's curve on the same prefixes goes to
        :attr:`teacher_curve` for the report."""

        test = self.test_split()
        assert test.y is not None
        x, y = test.x.to(device), test.y.to(device)
        metrics = {k: float(v) for k, v in accuracy_by_fraction(G, x, y, mode="mask").items()}
        fractions = self.stop_fractions()
        threshold = self.options.stop_threshold
        if threshold is None:
            held = self.holdout_split()
            assert held is not None and held.y is not None
            threshold = choose_threshold(self.predict_proba(G, held.x, fractions, device), held.y, fractions)
        probabilities = self.predict_proba(G, test.x, fractions, device)  # (N, R, K)
        metrics.update({k: float(v) for k, v in decision_metrics(probabilities, test.y, fractions, threshold).items()})
        metrics["stop_threshold"] = float(threshold)
        index, _ = stopping_point(probabilities, threshold)
        self.stop_counts = torch.bincount(index, minlength=len(fractions)).tolist()
        teacher = models.frozen.get("teacher")
        if teacher is not None:
            curve = accuracy_by_fraction(teacher, x, y, mode="zero")
            self.teacher_curve = {k: float(v) for k, v in curve.items()}
        return metrics

    def report_sections(self, run_dir: Path, summary: Mapping[str, Any], history: list[dict[str, Any]]) -> list[str]:
        """Test accuracy against the observed fraction, the student's and the frozen teacher's
        (``accuracy_by_fraction.png`` and a table)."""

        metrics = dict(summary.get("metrics") or {})
        points = sorted((float(k.split("@")[1]), v) for k, v in metrics.items() if k.startswith("accuracy@"))
        if not points:
            return []
        stop = metrics.get("earliness"), metrics.get("accuracy_at_stop")
        figure = new_figure(9.0 if self.stop_counts else 5.0, 3.4)
        ax = figure.add_subplot(1, 2 if self.stop_counts else 1, 1)
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
        if stop[0] is not None and stop[1] is not None:
            ax.plot(
                [stop[0]],
                [stop[1]],
                marker="*",
                markersize=13,
                color="tab:red",
                linestyle="none",
                label="stopping rule (mean stop, accuracy at stop)",
            )
        ax.set_xlabel("observed fraction r")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if self.stop_counts:
            fractions = self.stop_fractions()
            hist = figure.add_subplot(1, 2, 2)
            total = max(sum(self.stop_counts), 1)
            hist.bar(fractions, [c / total for c in self.stop_counts], width=0.8 / len(fractions), color="tab:red")
            hist.set_xlabel("observed fraction at the stop")
            hist.set_ylabel("share of test sequences")
            hist.set_xlim(0, 1.05)
            hist.grid(alpha=0.3)
            hist.set_title("where the stopping rule stops", fontsize=9)
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
        if "harmonic_mean" in metrics:
            fractions = self.stop_fractions()
            how = (
                "fixed by --stop-threshold"
                if self.options.stop_threshold is not None
                else f"chosen on a held-out {self.options.holdout:g} of the training split to maximise the "
                "harmonic mean"
            )
            text += (
                "\n## Early decisions: the stopping rule\n\n"
                f"Observe r = {fractions[0]:g}, {fractions[1] if len(fractions) > 1 else 1:g}, ... 1 and stop at the "
                f"first r where the student's largest class probability reaches {metrics['stop_threshold']:.3f} "
                f"({how}). On the test split it stops at a mean fraction of {metrics['earliness']:.3f} (earliness) "
                f"with accuracy {metrics['accuracy_at_stop']:.3f} at the stop: harmonic mean of accuracy and "
                f"1 - earliness {metrics['harmonic_mean']:.3f} (the red star above; the right panel shows where "
                "it stops).\n"
            )
        return [text]

    def inputs_from_file(self, path: Path, models: TaskModels) -> EarlyInputs:
        """Sequences from a ``.npy`` file, ``(N, C, T)`` (or ``(N, T)`` for one channel), scaled as the run's
        data (``normalize``); labels unknown."""

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
        if self.options.normalize == "series":  # as the run's own data
            x = zscore(x)
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

register_recipe(
    Recipe(
        "early-sequences",
        "Early prediction on a user's labelled sequences (--data FILE.npz: x (N, C, T), y (N,), x_test/y_test): "
        "the early_resnet encoders at width 16, teacher 300 steps, student 400 steps at lr 1e-3 started from the "
        "teacher, paired layer_mse feature matching through D; tuned on OSULeaf, BasicMotions and ACSF1 only "
        "(BENCHMARKS.md, Table 5b: starting from the teacher raised OSULeaf's AUC from 0.654 to 0.705, seed 0).",
        {
            "steps": 400,
            "data.batch_size": 32,
            "model.width": 16,
            "task_options.teacher_steps": 300,
            "task_options.student_init": "teacher",
            "objective.kind": "fm",
            "objective.fm_preset": "layer_mse",
            "objective.fm_weight": 1.0,
            "objective.adv_weight": 0.0,
            "optim.lr_g": 1e-3,
            "optim.lr_d": 2e-4,
            "optim.betas": [0.9, 0.999],
            "log.sample_every": 200,
            "log.checkpoint_every": 200,
        },
        task="early",
        data=USER_FILES,
    )
)
