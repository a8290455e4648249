"""The configuration's schema: one typed dataclass per section, and the allowed values.

Field names are what :class:`featmatch.train.Trainer` reads; the spelling users write in files,
``--set`` and ``--print-config`` is the same, except the aliases in
:data:`KEY_ALIASES` (e.g. ``optim.ema_decay`` for ``optim.ema``).
Values are checked by :meth:`TrainConfig.validate` (:mod:`featmatch.train.config.checks`).

Example:
    >>> TrainConfig().objective.kind, TrainConfig().recipe is None
    ('fm', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from featmatch.losses import PRESETS
from featmatch.registry import DATASETS, PAIRED_DATASETS
from featmatch.train.config.checks import validate
from featmatch.train.config.values import (
    D_LOSSES,
    KEY_ALIASES,
    LR_SCHEDULES,
    NONFINITE_POLICIES,
    OBJECTIVES,
    PRECISIONS,
)

__all__ = [
    "D_LOSSES",
    "KEY_ALIASES",
    "LR_SCHEDULES",
    "NONFINITE_POLICIES",
    "OBJECTIVES",
    "PRECISIONS",
    "DataConfig",
    "LogConfig",
    "ModelConfig",
    "MonitorConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "TrainConfig",
]


@dataclass
class DataConfig:
    """Which data to train on.

    Attributes:
        name: a built-in data set of the run's task (``featmatch.data.DATASETS``, e.g. ``digits``,
            ``ring8``; ``featmatch.data.PAIRED_DATASETS`` for ``conditional``), or the path of
            the user's data.
        kind: what a sample of the user's data is: ``image``, ``sequence`` or ``vector``
            (``featmatch.data.DATA_KINDS``); ``None`` chooses it from the arrays' shape where
            that is unambiguous (``featmatch.data.kinds.infer_kind``; an ambiguous shape stops
            with an error naming the flag). Flag ``--data-kind``. A built-in data set has its
            own kind; set, it must agree.
        size: number of training examples to generate/keep; ``None`` uses the data set's default.
        batch_size: examples per step *per process* (under DDP the global batch is
            ``batch_size * world_size``).
        options: extra keyword arguments for ``featmatch.data.load_dataset`` (or
            ``load_paired_dataset``); :meth:`load_options` adds ``kind``.
    """

    name: str = "digits"
    kind: str | None = None
    size: int | None = None
    batch_size: int = 64
    options: dict[str, Any] = field(default_factory=dict)

    def load_options(self) -> dict[str, Any]:
        """The keyword arguments of the data loaders: :attr:`options`, with :attr:`kind` as the
        option ``kind`` for the user's files (built-in data sets take no options).

        Example:
            >>> DataConfig(name="seq.npy", kind="sequence").load_options()
            {'kind': 'sequence'}
            >>> DataConfig(name="digits", kind="image").load_options()
            {}
        """
        options = dict(self.options)
        if self.kind is not None and self.name not in (*DATASETS, *PAIRED_DATASETS):
            options["kind"] = self.kind
        return options


@dataclass
class ModelConfig:
    """Which generator/discriminator pair to build (``featmatch.models.build_models``).

    Attributes:
        family: a model family (``featmatch.models.MODEL_FAMILIES``); ``None`` picks
            ``featmatch.models.default_family(sample_shape)``. Flag ``--model``.
        latent_dim: the generator's noise size; ``None`` uses the family's default.
        width: base channel/hidden width passed to the family as ``width``; ``None`` = default.
        options: extra keyword arguments for ``build_models``.
    """

    family: str | None = None
    latent_dim: int | None = None
    width: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObjectiveConfig:
    """The losses: the discriminator's, and the generator's adversarial and FM terms.

    The ``fm_*`` fields are the config's view of :class:`featmatch.losses.FeatureMatchingOptions`:
    a preset from :data:`featmatch.PRESETS`, then ``fm_statistic``/``fm_distance``/``fm_layers``,
    then any other option in ``fm_options``; :meth:`TrainConfig.fm_loss_options` merges them and
    validation builds the options object once, so the loss's own checks and messages apply.

    Attributes:
        kind: the generator's terms: ``adv`` (adversarial only), ``fm`` (feature matching only)
            or ``adv+fm``.
        d_loss: discriminator loss, also the generator's adversarial kind
            (``featmatch.losses.ADVERSARIAL_KINDS``).
        saturating: use the saturating (original minimax) generator loss for ``bce``.
        fm_preset: a name in ``featmatch.PRESETS``; ``None`` uses the loss's own defaults.
        fm_statistic: overrides the preset's ``statistic`` (``featmatch.losses.STATISTICS``).
        fm_distance: overrides the preset's ``distance`` (``featmatch.losses.DISTANCES``).
        fm_layers: discriminator feature names (or indices) to match; ``None`` = all features.
        fm_options: any other ``FeatureMatchingOptions`` field, e.g. ``{"relative": true}``.
        fm_weight: multiplies the FM term (on top of the preset's own ``weight``).
        adv_weight: multiplies the adversarial generator term (``adv`` and ``adv+fm``).
        adv_weight_end: the adversarial weight at the last step, reached linearly from
            ``adv_weight`` after ``adv_ramp_start``; ``None`` keeps ``adv_weight`` throughout
            (`featmatch.train.schedule.ramped_weight`).
        adv_ramp_start: fraction of the steps before the adversarial weight's ramp begins.
        reuse_real_features: reuse the real features from the D step in the G step instead of a
            fresh ``no_grad`` forward. Saves one forward pass, but those features come from D
            *before* its update in this step.
        augment: differentiable augmentation of every input of D, real and generated, in both
            players' steps (DiffAugment, :mod:`featmatch.augment`): policies from
            ``featmatch.augment.POLICIES`` (``translation``, ``cutout``, ``color``); empty: none.
        r1_weight: gamma of the R1 penalty ``gamma / 2 * E ||grad_x D(x)||^2`` on real data in D's
            objective (Mescheder et al. 2018; term ``loss/d_r1``); 0: none. Not under DDP.
    """

    kind: str = "fm"
    d_loss: str = "bce"
    saturating: bool = False
    fm_preset: str | None = "salimans2016"
    fm_statistic: str | None = None
    fm_distance: str | None = None
    fm_layers: list[str | int] | None = None
    fm_options: dict[str, Any] = field(default_factory=dict)
    fm_weight: float = 1.0
    adv_weight: float = 1.0
    adv_weight_end: float | None = None
    adv_ramp_start: float = 0.0
    reuse_real_features: bool = False
    augment: list[str] = field(default_factory=list)
    r1_weight: float = 0.0


@dataclass
class OptimConfig:
    """Optimisers and numerics.

    Attributes:
        d_steps: discriminator updates per generator update.
        lr_g: generator Adam learning rate.
        lr_d: discriminator Adam learning rate.
        betas: Adam ``(beta1, beta2)`` for both optimisers.
        eps: Adam's ``eps`` for both optimisers (added to the root of the second moment, as in
            ``torch.optim.Adam``). Larger values damp the steps of parameters whose gradients are
            tiny; the semi-supervised paper's code adds 1e-8 *inside* the root, which acts like 1e-4.
        fresh_noise: the generator's step samples G anew from fresh noise, as Improved GAN's code
            does, instead of reusing the sample the discriminator's step just saw (one more
            forward pass of G per step).
        ema: decay of an exponential moving average of G's weights used for samples and
            evaluation; 0 disables it. Written ``optim.ema_decay`` in files and ``--set``
            (flag ``--ema``); ``optim.ema`` is the old spelling.
        lr_schedule: ``constant``, or ``linear`` / ``cosine`` decay of both learning rates to
            0 at the last step (`featmatch.train.schedule.lr_factor`).
        lr_decay_start: fraction of the steps before the decay begins (pix2pixHD: ``linear``
            from 0.5).
        precision: ``fp32``, ``bf16`` (autocast) or ``fp16`` (autocast + grad scaler); the
            mixed modes apply on CUDA only (elsewhere the run falls back to fp32 with a warning).
        compile: wrap G and D in ``torch.compile``.
        on_nonfinite: what a NaN/Inf loss, gradient or weight does to the run: ``stop`` (end it,
            exit status 3, the last finite checkpoint kept), ``rollback`` (restore the last
            finite checkpoint and continue with a fresh data order and noise, up to
            ``max_rollbacks`` times, then stop) or ``continue`` (train on; no checkpoint is
            written while the weights are non-finite). Checked where the loop already reads
            scalars (every ``log.log_every`` steps) and on every checkpoint's weights.
        max_rollbacks: how many rollbacks ``on_nonfinite: rollback`` may do in one session.
    """

    d_steps: int = 1
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    eps: float = 1e-8
    fresh_noise: bool = False
    ema: float = 0.0
    lr_schedule: str = "constant"
    lr_decay_start: float = 0.0
    precision: str = "fp32"
    compile: bool = False
    on_nonfinite: str = "stop"
    max_rollbacks: int = 3


@dataclass
class LogConfig:
    """What the run writes, and how often.

    Attributes:
        out: run directory; ``None`` = ``runs/<data>-<objective>-<timestamp>``.
        log_every: steps between rows of ``metrics.jsonl`` (and monitor updates).
        sample_every: steps between sample images (0 = only at the end).
        checkpoint_every: steps between checkpoints (0 = only at the end and on interrupt).
        keep_checkpoints: how many recent checkpoints to keep.
        eval_every: steps between metric evaluations (0 = only at the end).
        n_samples: samples per image grid / scatter plot.
        eval_samples: generated samples used by the evaluation metrics.
        quiet: no progress bar (and no progress lines), warnings only.
        progress_every: seconds between progress lines (step, steps/s, ETA, the losses) when the
            output is no terminal (a log file, CI), where no progress bar is drawn; 0: at every
            ``log_every`` step.
        tensorboard: write TensorBoard event files: ``None`` (default) when the ``tensorboard``
            package is installed, ``True`` always (a warning names the extra when it is missing),
            ``False`` never.
    """

    out: str | None = None
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    eval_every: int = 0
    n_samples: int = 64
    eval_samples: int = 1000
    quiet: bool = False
    progress_every: float = 30.0
    tensorboard: bool | None = None


@dataclass
class MonitorConfig:
    """Thresholds and behaviour of the :class:`featmatch.train.monitor.BalanceMonitor`.

    Attributes:
        enabled: Run the monitor at all. When False, ``update`` returns no alerts and
            ``status`` is ``"off"``.
        window: Smoothing length in steps: each scalar is tracked by an exponential
            moving average with ``alpha = 2 / (window + 1)`` per step (steps skipped
            between calls are accounted for). Also the number of steps of ``grad/g``
            seen before its vanishing is judged, and the time over which the
            ``act`` multiplier grows or shrinks by ``act_fm_factor``.
        d_loss_low: The smoothed ``loss/d`` below this is "near zero" (for BCE, both
            terms' probabilities are then within a few percent of the right answer).
            Once ``loss/d`` has been negative (a WGAN critic), this signal is not used.
        d_accuracy_high: The smoothed ``d/accuracy`` above this is "near one".
        fake_prob_low: The smoothed ``d/fake_prob`` (mean D(G(z))) below this is "near zero".
        grad_g_low: The smoothed ``grad/g`` below this fraction of its largest smoothed
            value so far counts as a vanishing generator gradient.
        collapse_ratio: Spread of a generated batch divided by that of a real batch
            (mean per-feature standard deviation), smoothed; below this is collapse.
        patience: Steps a condition must hold before an episode starts, and steps it
            must be clearly gone (thresholds relaxed by a factor of two) before the
            episode ends. Prevents flapping. NaN/Inf episodes start immediately.
        warmup: Steps at the start of training during which no imbalance or collapse
            episode starts (a freshly initialised generator has almost no spread).
            Statistics are still collected; NaN/Inf is flagged from step 0.
        act: Act on dominance: while the discriminator dominates,
            ``fm_weight_multiplier`` grows; the loop multiplies its feature-matching
            weight by it.
        act_fm_factor: While the discriminator dominates the multiplier is multiplied
            by this factor every ``window`` steps (smoothly, per step); once the
            episode ends it is divided by it at the same rate until it is back at 1.
        act_max_multiplier: Cap of the multiplier.

    Example:
        >>> MonitorConfig(patience=100).d_loss_low
        0.1
    """

    enabled: bool = True
    window: int = 50
    d_loss_low: float = 0.1
    d_accuracy_high: float = 0.95
    fake_prob_low: float = 0.05
    grad_g_low: float = 0.1
    collapse_ratio: float = 0.1
    patience: int = 50
    warmup: int = 100
    act: bool = False
    act_fm_factor: float = 2.0
    act_max_multiplier: float = 16.0

    def __post_init__(self) -> None:
        for name in ("window", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"MonitorConfig.{name} must be an integer >= 1, got {value!r}; "
                    f"hint: it counts steps, e.g. {name}=50"
                )
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(
                f"MonitorConfig.warmup must be an integer >= 0, got {self.warmup!r}; hint: use 0 for no warm-up"
            )
        for name in ("d_loss_low", "grad_g_low", "collapse_ratio"):
            value = getattr(self, name)
            if not _is_real(value) or not value >= 0.0:
                raise ValueError(f"MonitorConfig.{name} must be a number >= 0, got {value!r}")
        for name in ("d_accuracy_high", "fake_prob_low"):
            value = getattr(self, name)
            if not _is_real(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"MonitorConfig.{name} must be a probability in [0, 1], got {value!r}")
        if not _is_real(self.act_fm_factor) or self.act_fm_factor < 1.0:
            raise ValueError(
                f"MonitorConfig.act_fm_factor must be a number >= 1, got {self.act_fm_factor!r}; "
                "hint: 2.0 doubles the feature-matching weight every `window` steps of dominance"
            )
        if not _is_real(self.act_max_multiplier) or self.act_max_multiplier < 1.0:
            raise ValueError(f"MonitorConfig.act_max_multiplier must be a number >= 1, got {self.act_max_multiplier!r}")


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class TrainConfig:
    """The root of the configuration tree.

    Attributes:
        steps: generator updates in total (a resumed run continues up to this step).
        seed: seeds Python, NumPy and torch; rank ``r`` under DDP draws noise with ``seed + r``.
        device: ``auto`` (cuda, then mps, then cpu), or a torch device string.
        task: the kind of training, a name in :data:`featmatch.train.tasks.TASKS`
            (``generation``: unconditional GANs). Without it, the task that claims the data
            set (e.g. a paired data set's) or ``generation``.
        task_options: the task's own settings (its ``Task.Options`` fields), e.g.
            ``{"labels": 10}``; checked by the task.
        recipe: the name of the recipe (:data:`featmatch.train.config.RECIPES`) that
            :func:`featmatch.train.config.build_config` applied under the user's values, or
            ``None`` for none (the dataclass defaults). Informational once built: the values
            are in the other fields.
        data, model, objective, optim, log, monitor: the sub-configurations.

    Example:
        >>> cfg = TrainConfig()
        >>> cfg.objective.kind, cfg.data.name
        ('fm', 'digits')
    """

    steps: int = 2000
    seed: int = 0
    device: str = "auto"
    task: str = "generation"
    task_options: dict[str, Any] = field(default_factory=dict)
    recipe: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    log: LogConfig = field(default_factory=LogConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def validate(self) -> TrainConfig:
        """Check every field; raise ``ValueError`` naming the field, allowed and actual values.

        Returns:
            ``self``, so that ``build_config(...).validate()`` chains.

        Example:
            >>> TrainConfig(steps=-1).validate()
            Traceback (most recent call last):
            ...
            ValueError: config field 'steps' (flag --steps) must be an integer >= 1; got -1.
        """
        validate(self)
        return self

    def fm_loss_options(self) -> dict[str, Any]:
        """Options for ``FeatureMatchingLoss`` from the objective config (preset, then overrides).

        Example:
            >>> TrainConfig().fm_loss_options()["statistic"]
            'mean'
        """
        obj = self.objective
        options: dict[str, Any] = dict(PRESETS[obj.fm_preset].options) if obj.fm_preset else {}
        if obj.fm_statistic is not None:
            options["statistic"] = obj.fm_statistic
        if obj.fm_distance is not None:
            options["distance"] = obj.fm_distance
        if obj.fm_layers is not None:
            options["layers"] = list(obj.fm_layers)
        options.update(obj.fm_options)
        return options
