"""The training configuration: a typed dataclass tree, built from defaults, a file and flags.

Precedence, lowest first: the dataclass defaults, the per-data-set defaults in
:data:`DATASET_DEFAULTS`, a YAML or TOML file (``--config``), then command-line flags
(including ``--set key=value``). :func:`build_config` applies them in that order and
:meth:`TrainConfig.validate` rejects bad values with a message naming the field, the flag,
the allowed values and the value given.

Example:
    >>> cfg = build_config({"data.name": "ring8", "steps": 10})
    >>> cfg.model.family, cfg.steps
    ('mlp2d_benchmark', 10)
    >>> print(to_yaml(cfg).splitlines()[0])
    steps: 10
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from featmatch.train.monitor import MonitorConfig
from featmatch.train.schedule import LR_SCHEDULES

__all__ = [
    "DATASET_DEFAULTS",
    "DataConfig",
    "LogConfig",
    "ModelConfig",
    "MonitorConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "TrainConfig",
    "OBJECTIVES",
    "D_LOSSES",
    "LR_SCHEDULES",
    "PRECISIONS",
    "NONFINITE_POLICIES",
    "build_config",
    "config_from_dict",
    "config_to_dict",
    "load_config_file",
    "to_yaml",
]

OBJECTIVES = ("adv", "fm", "adv+fm")
D_LOSSES = ("bce", "hinge", "lsgan", "wgan")
PRECISIONS = ("fp32", "bf16", "fp16")
NONFINITE_POLICIES = ("stop", "rollback", "continue")


@dataclass
class DataConfig:
    """Which data to train on.

    Attributes:
        name: a built-in data set (``featmatch.data.DATASETS``), e.g. ``digits``, ``ring8``.
        size: number of training examples to generate/keep; ``None`` uses the data set's default.
        batch_size: examples per step *per process* (under DDP the global batch is
            ``batch_size * world_size``).
        options: extra keyword arguments for ``featmatch.data.load_dataset``.
    """

    name: str = "digits"
    size: int | None = None
    batch_size: int = 64
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """Which generator/discriminator pair to build (``featmatch.models.build_models``).

    Attributes:
        family: a model family (``featmatch.models.MODEL_FAMILIES``); ``None`` picks
            ``featmatch.models.default_family(sample_shape)``.
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

    Attributes:
        kind: ``adv`` (adversarial only), ``fm`` (feature matching only) or ``adv+fm``.
        d_loss: discriminator loss, also the generator's adversarial kind: bce, hinge, lsgan, wgan.
        saturating: use the saturating (original minimax) generator loss for ``bce``.
        fm_preset: a name in ``featmatch.PRESETS``; ``None`` uses the loss's own defaults.
        fm_statistic: overrides the preset's ``statistic`` (``paired``, ``mean``, ``mean_std``).
        fm_distance: overrides the preset's ``distance``.
        fm_layers: discriminator feature names (or indices) to match; ``None`` = all features.
        fm_options: any other ``feature_matching_loss`` option, e.g. ``{"relative": true}``.
        fm_weight: multiplies the FM term (on top of the preset's own ``weight``).
        adv_weight: multiplies the adversarial generator term (``adv`` and ``adv+fm``).
        adv_weight_end: the adversarial weight at the last step, reached linearly from
            ``adv_weight`` after ``adv_ramp_start``; ``None`` keeps ``adv_weight`` throughout
            (`featmatch.train.schedule.ramped_weight`).
        adv_ramp_start: fraction of the steps before the adversarial weight's ramp begins.
        reuse_real_features: reuse the real features from the D step in the G step instead of a
            fresh ``no_grad`` forward. Saves one forward pass, but those features come from D
            *before* its update in this step.
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


@dataclass
class OptimConfig:
    """Optimisers and numerics.

    Attributes:
        d_steps: discriminator updates per generator update.
        lr_g: generator Adam learning rate.
        lr_d: discriminator Adam learning rate.
        betas: Adam ``(beta1, beta2)`` for both optimisers.
        ema: decay of an exponential moving average of G's weights used for samples and
            evaluation; 0 disables it.
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
        quiet: no progress bar.
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
    tensorboard: bool | None = None


@dataclass
class TrainConfig:
    """The root of the configuration tree.

    Attributes:
        steps: generator updates in total (a resumed run continues up to this step).
        seed: seeds Python, NumPy and torch; rank ``r`` under DDP draws noise with ``seed + r``.
        device: ``auto`` (cuda, then mps, then cpu), or a torch device string.
        data, model, objective, optim, log, monitor: the sub-configurations.

    Example:
        >>> cfg = TrainConfig()
        >>> cfg.objective.kind, cfg.data.name
        ('fm', 'digits')
    """

    steps: int = 2000
    seed: int = 0
    device: str = "auto"
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
            ValueError: config field 'steps' (flag --steps) must be an integer >= 1; got -1. ...
        """
        _validate(self)
        return self

    def fm_loss_options(self) -> dict[str, Any]:
        """Options for ``FeatureMatchingLoss`` from the objective config (preset, then overrides)."""
        from featmatch import PRESETS

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


# Per-data-set defaults, in one place. Keys are dotted config paths. They sit between the
# dataclass defaults and the user's file/flags, so anything here is a flag away from changing.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    # 8x8 handwritten digits (sklearn). Tuned by eye and Frechet distance (domain classifier) over
    # 2000-4000 step runs: adversarial + Salimans mean matching on D's conv features, DCGAN lrs
    # and an EMA of G gave the most digit-like samples (FD ~170 at 4000 steps vs ~290 for adv
    # alone at 2000); about 40 s on 2 uncontended CPU threads.
    "digits": {
        "model.family": "conv",
        "objective.kind": "adv+fm",
        "data.batch_size": 64,
        "steps": 4000,
        "optim.lr_g": 2e-4,
        "optim.lr_d": 2e-4,
        "optim.ema": 0.995,
        "log.sample_every": 1000,
        "log.checkpoint_every": 1000,
    },
    # 2-D mixtures: the published protocol's budget (VEEGAN/GDPP: benchmark MLPs, batch 512, Adam
    # betas 0.5/0.999, lr 1e-3 for G, 25,000 steps, 2,500 samples scored) with featmatch's
    # recommended set-up: feature matching as a Gaussian-kernel MMD (random Fourier features) of
    # both of D's hidden layers at four small bandwidths, plus the adversarial term at a small
    # weight. Kernel matching covers every mode and keeps their shares even; the first hidden
    # layer, close to the data, keeps the long-range pull that recovers a mode G is leaving; the
    # small bandwidths sharpen the modes. D's lr is 1e-3 instead of the protocol's 1e-4 (a D that
    # learns the fine structure), and an EMA of G removes G's jitter. The adversarial term pulls
    # samples off the lines between modes: at 0.003 from the start it keeps every mode (grid25:
    # 83% -> 89% high quality; at 0.01 modes come and go early, at 0.1 and 1 they are lost), and
    # once kernel matching has placed every mode (40% of the run) it can rise to 0.03 and sharpen
    # further without losing one. A learning-rate decay, a larger learning rate or a longer EMA
    # did not help. Why, and the numbers: BENCHMARKS.md, Table 1 (benchmarks/table1_mixtures.py,
    # row featmatch) and its searches.
    **{
        name: {
            "model.family": "mlp2d_benchmark",
            "data.batch_size": 512,
            "steps": 25000,
            "objective.kind": "adv+fm",
            "objective.adv_weight": 0.003,
            "objective.adv_weight_end": 0.03,
            "objective.adv_ramp_start": 0.4,
            "objective.fm_statistic": "rff",
            "objective.fm_options": {"num_random_features": 128, "bandwidths": [0.03, 0.1, 0.3, 1.0]},
            "optim.lr_g": 1e-3,
            "optim.lr_d": 1e-3,
            "optim.ema": 0.999,
            "log.n_samples": 2000,
            "log.eval_samples": 2500,
            "log.sample_every": 2500,
            "log.checkpoint_every": 2500,
        }
        for name in ("ring8", "grid25")
    },
    # 1-D sequences (N, 1, 40): the 1-D conv pair from the reference article, at width 32: width
    # 64 costs about 3x more per step on a CPU for the same Frechet distance (BENCHMARKS.md, Table 2).
    "mnist1d": {
        "model.family": "sequence",
        "model.width": 32,
        "data.batch_size": 64,
        "steps": 3000,
        "optim.lr_g": 5e-4,
        "optim.lr_d": 2e-4,
        "log.n_samples": 16,
        "log.sample_every": 1000,
        "log.checkpoint_every": 1000,
    },
}

# Which flag sets which field: used in error messages (and by the CLI to build its parser).
FIELD_FLAGS: dict[str, str] = {
    "data.name": "--data",
    "data.size": "--data-size",
    "data.batch_size": "--batch-size",
    "model.family": "--model",
    "model.latent_dim": "--latent-dim",
    "model.width": "--model-width",
    "objective.kind": "--objective",
    "objective.d_loss": "--d-loss",
    "objective.saturating": "--saturating",
    "objective.fm_preset": "--fm-preset",
    "objective.fm_statistic": "--fm-statistic",
    "objective.fm_distance": "--fm-distance",
    "objective.fm_layers": "--fm-layers",
    "objective.fm_weight": "--fm-weight",
    "objective.adv_weight": "--adv-weight",
    "objective.adv_weight_end": "--adv-weight-end",
    "objective.adv_ramp_start": "--adv-ramp-start",
    "objective.reuse_real_features": "--reuse-real-features",
    "optim.d_steps": "--d-steps",
    "optim.lr_g": "--lr-g",
    "optim.lr_d": "--lr-d",
    "optim.betas": "--betas",
    "optim.ema": "--ema",
    "optim.lr_schedule": "--lr-schedule",
    "optim.lr_decay_start": "--lr-decay-start",
    "optim.precision": "--precision",
    "optim.compile": "--compile",
    "optim.on_nonfinite": "--on-nonfinite",
    "optim.max_rollbacks": "--max-rollbacks",
    "log.out": "--out",
    "log.log_every": "--log-every",
    "log.sample_every": "--sample-every",
    "log.checkpoint_every": "--checkpoint-every",
    "log.keep_checkpoints": "--keep-checkpoints",
    "log.eval_every": "--eval-every",
    "log.quiet": "--quiet",
    "steps": "--steps",
    "seed": "--seed",
    "device": "--device",
}


# ----------------------------------------------------------------------------------------
# dict <-> dataclass


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict (lists, not tuples) of a config dataclass, safe for YAML/JSON/torch.save."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = config_to_dict(value)
        else:
            out[f.name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}``; dict-valued *fields* (``options``) stay whole."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and _is_section(path):
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _is_section(path: str) -> bool:
    """True when ``path`` names a sub-dataclass of TrainConfig (not a dict-valued field)."""
    tp: Any = TrainConfig
    for part in path.split("."):
        hints = _hints(tp)
        if part not in hints:
            return False
        tp = hints[part]
    return dataclasses.is_dataclass(tp)


def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def all_keys(cls: Any = TrainConfig, prefix: str = "") -> list[str]:
    """Every settable dotted key of the config tree, e.g. ``optim.lr_g``."""
    keys: list[str] = []
    for name, tp in _hints(cls).items():
        if dataclasses.is_dataclass(tp):
            keys.extend(all_keys(tp, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def config_from_dict(
    values: dict[str, Any], *, source: str = "config", base: TrainConfig | None = None
) -> TrainConfig:
    """Build a :class:`TrainConfig` from a nested or dotted dict, on top of ``base``.

    Args:
        values: nested (``{"optim": {"lr_g": 1e-3}}``) or dotted (``{"optim.lr_g": 1e-3}``) keys.
        source: where the values came from, for error messages (e.g. a file name).
        base: the config to start from; default ``TrainConfig()``.

    Raises:
        ValueError: on an unknown key (with close-match suggestions) or a value of the wrong type.

    Example:
        >>> config_from_dict({"optim": {"lr_g": 0.001}}).optim.lr_g
        0.001
    """
    cfg = copy.deepcopy(base) if base is not None else TrainConfig()
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and _is_section(key):
            flat.update(flatten(value, key + "."))
        else:
            flat[key] = value
    known = all_keys()
    for key, value in flat.items():
        field_key, _, inner = _split_dict_key(key, known)
        if field_key is not None:
            # e.g. model.options.spectral_norm: one entry of a dict-valued field.
            *parents, leaf = field_key.split(".")
            obj = cfg
            for part in parents:
                obj = getattr(obj, part)
            getattr(obj, leaf)[inner] = value
            continue
        if key not in known:
            raise ValueError(_unknown_key_message(key, known, source))
        _set(cfg, key, value, source)
    return cfg


def _split_dict_key(key: str, known: list[str]) -> tuple[str | None, str, str]:
    """``model.options.width`` -> ``("model.options", ".", "width")`` when ``model.options`` is a dict field."""
    parts = key.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in known and not _is_section(head):
            *parents, leaf = head.split(".")
            owner: Any = TrainConfig
            for part in parents:
                owner = _hints(owner)[part]
            tp = _hints(owner)[leaf]
            if tp is dict or typing.get_origin(tp) is dict:
                return head, ".", ".".join(parts[cut:])
    return None, "", ""


def _unknown_key_message(key: str, known: list[str], source: str) -> str:
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(key, known, n=2, cutoff=0.75)
    close += [k for k in known if k.rsplit(".", 1)[-1] == leaf and k not in close]
    section = key.rsplit(".", 1)[0] if "." in key else ""
    in_section = [k for k in known if k.startswith(section + ".")] if section else []
    msg = f"unknown key {key!r} in {source}."
    if close:
        msg += " Did you mean " + " or ".join(repr(c) for c in close[:3]) + "?"
    if in_section:
        msg += f" Keys allowed in {section!r}: " + ", ".join(k.split(".")[-1] for k in in_section) + "."
    elif not close:
        msg += " Top-level keys: " + ", ".join(sorted({k.split(".")[0] for k in known})) + "."
    return msg


def _set(cfg: Any, key: str, value: Any, source: str) -> None:
    *parents, leaf = key.split(".")
    obj = cfg
    for part in parents:
        obj = getattr(obj, part)
    tp = _hints(type(obj))[leaf]
    setattr(obj, leaf, _coerce(value, tp, key, source))


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; convert the harmless cases (int -> float)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, source)
            except ValueError as err:
                errors.append(err)
        raise errors[0]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, (list, tuple)):
            (item_tp,) = typing.get_args(tp) or (Any,)
            return [_coerce(v, item_tp, key, source) for v in value]
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return dict(value)
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(value)
    else:
        return value
    flag = FIELD_FLAGS.get(key)
    where = f" (flag {flag})" if flag else ""
    raise ValueError(
        f"config field {key!r}{where} in {source} must be of type {_type_name(tp)}; "
        f"got {value!r} ({type(value).__name__})."
    )


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp)


# ----------------------------------------------------------------------------------------
# files and the full build


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config file into a nested dict.

    Raises:
        ValueError: the file is missing, has another extension, or does not parse to a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {str(path)!r} does not exist. Hint: check the --config path.")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    elif suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"config file {str(path)!r} is not valid TOML: {err}") from err
    else:
        raise ValueError(
            f"config file {str(path)!r} must end in .yaml, .yml or .toml; got {suffix!r}."
        )
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(
            f"config file {str(path)!r} must contain a mapping of keys to values; "
            f"got {type(data).__name__}."
        )
    return data


def build_config(
    overrides: dict[str, Any] | None = None,
    *,
    file: str | Path | dict[str, Any] | None = None,
    base: TrainConfig | None = None,
    validate: bool = True,
) -> TrainConfig:
    """Defaults, then per-data-set defaults, then ``file``, then ``overrides``.

    Args:
        overrides: dotted or nested keys (typically from flags); highest precedence.
        file: a YAML/TOML path, or an already-loaded dict, applied before ``overrides``.
        base: start from this config (e.g. a resumed run's) instead of the defaults; the
            per-data-set defaults are then not applied again.
        validate: call :meth:`TrainConfig.validate` on the result.

    Example:
        >>> build_config({"objective.kind": "adv+fm", "data.name": "mnist1d"}).model.family
        'sequence'
    """
    overrides = dict(overrides or {})
    file_values: dict[str, Any] = {}
    source = "config"
    if isinstance(file, (str, Path)):
        file_values = load_config_file(file)
        source = f"config file {str(file)!r}"
    elif isinstance(file, dict):
        file_values = file
    if base is None:
        # The data set decides which defaults apply, so find its name first.
        probe = config_from_dict(file_values, source=source)
        probe = config_from_dict(overrides, source="command-line flags", base=probe)
        cfg = TrainConfig()
        user_keys = set(flatten(file_values)) | set(flatten(overrides))
        defaults = _defaults_not_superseded(DATASET_DEFAULTS.get(probe.data.name, {}), user_keys, probe)
        cfg = config_from_dict(defaults, source=f"DATASET_DEFAULTS[{probe.data.name!r}]", base=cfg)
    else:
        cfg = base
    cfg = config_from_dict(file_values, source=source, base=cfg)
    cfg = config_from_dict(overrides, source="command-line flags", base=cfg)
    if validate:
        cfg.validate()
    return cfg


_ADVERSARIAL_SCHEDULE = ("objective.adv_weight", "objective.adv_weight_end", "objective.adv_ramp_start")


def _defaults_not_superseded(defaults: dict[str, Any], user_keys: set[str], probe: TrainConfig) -> dict[str, Any]:
    """A data set's defaults without the adversarial schedule that the user's choice replaces.

    That schedule belongs to the data set's objective: ``--objective adv`` on ``grid25`` is a
    plain GAN (weight 1), not the recommended objective's weight of 0.003, and a weight given
    with ``--adv-weight`` stays constant unless a ramp is also given.
    """
    dropped: set[str] = set()
    kind = defaults.get("objective.kind")
    if "objective.kind" in user_keys and kind is not None and probe.objective.kind != kind:
        dropped.update(_ADVERSARIAL_SCHEDULE)
    if "objective.adv_weight" in user_keys:
        dropped.update(_ADVERSARIAL_SCHEDULE[1:])
    return {key: value for key, value in defaults.items() if key not in dropped}


def to_yaml(cfg: TrainConfig) -> str:
    """The config as YAML text, sections in declaration order (what ``--print-config`` shows)."""
    import yaml

    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=False)


# ----------------------------------------------------------------------------------------
# validation


def _field_error(key: str, expected: str, value: Any, hint: str = "") -> ValueError:
    flag = FIELD_FLAGS.get(key)
    where = f" (flag {flag})" if flag else ""
    msg = f"config field {key!r}{where} must be {expected}; got {value!r}."
    if hint:
        msg += f" Hint: {hint}"
    return ValueError(msg)


def _one_of(key: str, value: Any, allowed: typing.Iterable[Any], hint: str = "") -> None:
    allowed = list(allowed)
    if value not in allowed:
        close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
        if close and not hint:
            hint = f"did you mean {close[0]!r}?"
        raise _field_error(key, "one of " + ", ".join(repr(a) for a in allowed), value, hint)


def _int_at_least(key: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _field_error(key, f"an integer >= {low}", value)


def _number_in(key: str, value: Any, low: float, high: float, *, low_open: bool = False,
               high_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise _field_error(key, f"a number in {lb}{low}, {high}{hb}", value)


def _validate(cfg: TrainConfig) -> None:
    _int_at_least("steps", cfg.steps, 1)
    _int_at_least("seed", cfg.seed, 0)
    if not isinstance(cfg.device, str) or not (
        cfg.device == "auto" or cfg.device.split(":")[0] in ("cpu", "cuda", "mps")
    ):
        raise _field_error("device", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'", cfg.device)

    from featmatch.data import DATASETS

    if cfg.data.name not in DATASETS and not Path(cfg.data.name).exists():
        _one_of("data.name", cfg.data.name, list(DATASETS),
                hint="name a built-in data set or an existing file or folder of your data.")
    if cfg.data.size is not None:
        _int_at_least("data.size", cfg.data.size, 1)
    _int_at_least("data.batch_size", cfg.data.batch_size, 1)

    from featmatch.models import MODEL_FAMILIES

    if cfg.model.family is not None:
        _one_of("model.family", cfg.model.family, sorted(MODEL_FAMILIES))
    if cfg.model.latent_dim is not None:
        _int_at_least("model.latent_dim", cfg.model.latent_dim, 1)
    if cfg.model.width is not None:
        _int_at_least("model.width", cfg.model.width, 1)

    obj = cfg.objective
    _one_of("objective.kind", obj.kind, OBJECTIVES)
    _one_of("objective.d_loss", obj.d_loss, D_LOSSES)
    _number_in("objective.fm_weight", obj.fm_weight, 0.0, float("inf"), high_open=True)
    _number_in("objective.adv_weight", obj.adv_weight, 0.0, float("inf"), high_open=True)
    if "fm" in obj.kind:
        from featmatch import PRESETS, FeatureMatchingLoss

        if obj.fm_preset is not None:
            _one_of("objective.fm_preset", obj.fm_preset, sorted(PRESETS))
        if obj.fm_weight == 0:
            raise _field_error(
                "objective.fm_weight", "> 0 when the objective includes 'fm'", obj.fm_weight,
                "use --objective adv to train without feature matching.",
            )
        try:
            FeatureMatchingLoss(**cfg.fm_loss_options())
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"the feature-matching options (fields objective.fm_*, flags --fm-*) are "
                f"invalid: {err}"
            ) from err
    if obj.kind == "adv" and obj.adv_weight == 0:
        raise _field_error("objective.adv_weight", "> 0 when the objective is 'adv'", obj.adv_weight)
    if obj.adv_weight_end is not None:
        _number_in("objective.adv_weight_end", obj.adv_weight_end, 0.0, float("inf"), high_open=True)
        if obj.kind == "fm":
            raise _field_error(
                "objective.adv_weight_end", "unset when the objective is 'fm' (no adversarial term)",
                obj.adv_weight_end, "use --objective adv+fm to ramp the adversarial term.",
            )
    _number_in("objective.adv_ramp_start", obj.adv_ramp_start, 0.0, 1.0, high_open=True)

    opt = cfg.optim
    _int_at_least("optim.d_steps", opt.d_steps, 1)
    _number_in("optim.lr_g", opt.lr_g, 0.0, 1.0, low_open=True)
    _number_in("optim.lr_d", opt.lr_d, 0.0, 1.0, low_open=True)
    if len(opt.betas) != 2:
        raise _field_error("optim.betas", "two numbers (beta1, beta2)", opt.betas)
    for beta in opt.betas:
        _number_in("optim.betas", beta, 0.0, 1.0, high_open=True)
    _number_in("optim.ema", opt.ema, 0.0, 1.0, high_open=True)
    _one_of("optim.lr_schedule", opt.lr_schedule, LR_SCHEDULES)
    _number_in("optim.lr_decay_start", opt.lr_decay_start, 0.0, 1.0, high_open=True)
    _one_of("optim.precision", opt.precision, PRECISIONS)
    _one_of("optim.on_nonfinite", opt.on_nonfinite, NONFINITE_POLICIES)
    _int_at_least("optim.max_rollbacks", opt.max_rollbacks, 0)

    log = cfg.log
    _int_at_least("log.log_every", log.log_every, 1)
    _int_at_least("log.sample_every", log.sample_every, 0)
    _int_at_least("log.checkpoint_every", log.checkpoint_every, 0)
    _int_at_least("log.keep_checkpoints", log.keep_checkpoints, 1)
    _int_at_least("log.eval_every", log.eval_every, 0)
    _int_at_least("log.n_samples", log.n_samples, 1)
    _int_at_least("log.eval_samples", log.eval_samples, 1)
    try:  # MonitorConfig checks itself on construction; fields set later are checked here
        MonitorConfig(**dataclasses.asdict(cfg.monitor))
    except (ValueError, TypeError) as err:
        raise ValueError(f"config section 'monitor' is invalid: {err}") from err
