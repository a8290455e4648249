"""Range and choice checks of a built config; each message names the key, its flag, the
allowed values, the value given and, where one helps, a hint.

Allowed values come from where they are declared (:mod:`featmatch.train.config.values`,
``featmatch.data.DATASETS``, ``featmatch.models.MODEL_FAMILIES``, ``featmatch.PRESETS``); the
feature-matching options are checked by building :class:`featmatch.losses.FeatureMatchingOptions`
once, so the loss's own checks and messages apply.

Example:
    >>> from featmatch.train.config import TrainConfig
    >>> validate(TrainConfig(steps=0))
    Traceback (most recent call last):
    ...
    ValueError: config field 'steps' (flag --steps) must be an integer >= 1; got 0.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featmatch.augment import POLICIES as AUGMENT_POLICIES
from featmatch.augment import check_policies
from featmatch.data.kinds import BUILTIN_KINDS, DATA_KINDS
from featmatch.losses import PRESETS, FeatureMatchingOptions
from featmatch.models import MODEL_FAMILIES
from featmatch.registry import DEFAULT_DATA_NEEDS, TASKS, claims, data_names, foreign_options_error, get_task
from featmatch.train.config.options import FIELD_FLAGS
from featmatch.train.config.recipes import RECIPES
from featmatch.train.config.values import D_LOSSES, LR_SCHEDULES, NONFINITE_POLICIES, OBJECTIVES, PRECISIONS

if TYPE_CHECKING:  # for annotations only: the schema imports this module to validate itself
    from featmatch.train.config.schema import TrainConfig

__all__ = ["validate"]


def _field_error(key: str, expected: str, value: Any, hint: str = "") -> ValueError:
    flag = FIELD_FLAGS.get(key)
    where = f" (flag {flag})" if flag else ""
    msg = f"config field {key!r}{where} must be {expected}; got {value!r}."
    if hint:
        msg += f" Hint: {hint}"
    return ValueError(msg)


def _one_of(key: str, value: Any, allowed: Iterable[Any], hint: str = "") -> None:
    allowed = list(allowed)
    if value not in allowed:
        close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
        if close and not hint:
            hint = f"did you mean {close[0]!r}?"
        raise _field_error(key, "one of " + ", ".join(repr(a) for a in allowed), value, hint)


def _int_at_least(key: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _field_error(key, f"an integer >= {low}", value)


def _number_in(
    key: str, value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False
) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        raise _field_error(key, f"a number in {lb}{low}, {high}{hb}", value)


def validate(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` on the first field of ``cfg`` out of its allowed values.

    Example:
        >>> from featmatch.train.config import TrainConfig
        >>> validate(TrainConfig())
    """
    _int_at_least("steps", cfg.steps, 1)
    _int_at_least("seed", cfg.seed, 0)
    if not isinstance(cfg.device, str) or not (
        cfg.device == "auto" or cfg.device.split(":")[0] in ("cpu", "cuda", "mps")
    ):
        raise _field_error("device", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'", cfg.device)
    _check_task(cfg)
    if cfg.recipe is not None:
        _one_of("recipe", cfg.recipe, list(RECIPES), hint="--recipe none keeps the dataclass defaults.")
    _check_data_and_model(cfg)
    _check_objective(cfg)
    _check_optim(cfg)
    log = cfg.log
    _int_at_least("log.log_every", log.log_every, 1)
    _int_at_least("log.sample_every", log.sample_every, 0)
    _int_at_least("log.checkpoint_every", log.checkpoint_every, 0)
    _int_at_least("log.keep_checkpoints", log.keep_checkpoints, 1)
    _int_at_least("log.eval_every", log.eval_every, 0)
    _int_at_least("log.n_samples", log.n_samples, 1)
    _int_at_least("log.eval_samples", log.eval_samples, 1)
    _number_in("log.progress_every", log.progress_every, 0.0, float("inf"), high_open=True)
    try:  # MonitorConfig checks itself on construction; fields set later are checked here
        type(cfg.monitor)(**dataclasses.asdict(cfg.monitor))
    except (ValueError, TypeError) as err:
        raise ValueError(f"config section 'monitor' is invalid: {err}") from err


def _check_task(cfg: TrainConfig) -> None:
    _one_of("task", cfg.task, sorted(TASKS))
    # Another task's option (--labels on a generation run) is named with its flag and task first.
    foreign = foreign_options_error(cfg.task, cfg.task_options, cfg.data.name)
    if foreign is not None:
        raise foreign
    get_task(cfg.task).parse_options(cfg.task_options)


def _task_claims(cfg: TrainConfig) -> bool:
    # A task's own data (e.g. the conditional task's paired files) is valid for it.
    return cfg.task in TASKS and claims(TASKS[cfg.task], cfg.data.name, cfg.data.options)


def _looks_like_a_path(name: str) -> bool:
    # "runs/x.npz", "x.npy", "train-images-idx3-ubyte": a file the user meant; "digits-superes": a name.
    return any(c in name for c in "/\\.~") or name.endswith("ubyte")


def _listed(names: Iterable[str]) -> str:
    return ", ".join(names) or "none built in"


def _check_data_name(cfg: TrainConfig) -> None:
    """A built-in data set of the run's task, another task's (saying why it does not fit), an
    existing path, or an error listing every task's names, with "did you mean" or "not found"."""
    name = cfg.data.name
    if not isinstance(name, str) or not name:
        raise _field_error("data.name", "a data set name or a path", name)
    names = data_names()
    mine = names.get(cfg.task, ())
    if name in mine or _task_claims(cfg):
        return
    task = TASKS[cfg.task]
    owners = [t for t, ns in names.items() if name in ns]
    if owners:  # a built-in data set, of another task
        owner = TASKS[owners[0]]
        if owner.data_needs != DEFAULT_DATA_NEEDS:  # data of a kind only that task trains on
            what = f"is {owner.data_needs}, the data of task {owner.name!r}"
        else:
            what = f"holds {BUILTIN_KINDS.get(name, 'sample')}s"
        raise ValueError(
            f"data set {name!r} (flag --data) does not fit task {cfg.task!r}: the task trains on {task.data_needs}, "
            f"and {name!r} {what}. Hint: --task {owner.name} trains on it, or give task {cfg.task!r} one of its data "
            f"sets ({_listed(mine)}) or your own data's path."
        )
    path = Path(name).expanduser()
    if path.exists():
        # The user's file, unless it is data only another task takes (a paired .npz for semi).
        takers = [t for t, cls in TASKS.items() if t != cfg.task and claims(cls, name, cfg.data.options)]
        if takers:
            owner = TASKS[takers[0]]
            raise ValueError(
                f"data {name!r} (flag --data) does not fit task {cfg.task!r}: the task trains on {task.data_needs}, "
                f"and {name!r} is {owner.data_needs}, the data of task {owner.name!r}. Hint: --task {owner.name} "
                f"trains on it (leave --task out and it is chosen), or give task {cfg.task!r} other data."
            )
        return
    everything = {n: t for t, ns in reversed(list(names.items())) for n in ns}  # name -> first task listing it
    others = "; ".join(
        f"task {t}: {_listed(n for n in ns if n not in mine)}"
        for t, ns in names.items()
        if t != cfg.task and any(n not in mine for n in ns)
    )
    listing = f"data sets of task {cfg.task!r}: {_listed(mine)}" + (f" (other tasks': {others})" if others else "")
    if _looks_like_a_path(name):
        raise ValueError(
            f"config field 'data.name' (flag --data): data file or folder {name!r} not found (looked for "
            f"{str(path.absolute())!r}). Hint: check the path; or name a built-in data set, {listing}."
        )
    close = difflib.get_close_matches(name, list(everything), n=1)
    hint = ""
    if close:
        other_task = everything[close[0]]
        hint = f"did you mean {close[0]!r}" + (f" (task {other_task})?" if close[0] not in mine else "?") + " "
    raise ValueError(
        f"config field 'data.name' (flag --data) must be a built-in data set or the path of your data "
        f"(a folder of images, a .npy/.npz or an IDX file); got {name!r}, which is neither. Hint: {hint}"
        f"The {listing}."
    )


def _check_data_kind(cfg: TrainConfig) -> None:
    kind = cfg.data.kind
    if kind is None:
        return
    _one_of("data.kind", kind, DATA_KINDS, hint="leave it out to choose it from the data's shape.")
    own = BUILTIN_KINDS.get(cfg.data.name)
    if own is not None and own != kind:
        raise _field_error(
            "data.kind",
            f"{own!r} for the built-in data set {cfg.data.name!r} (its samples are {own}s)",
            kind,
            "leave --data-kind out for built-in data sets; it is for your files.",
        )
    given = cfg.data.options.get("kind")
    if given is not None and given != kind and not {given, kind} <= {"vector", "points"}:
        raise _field_error(
            "data.kind",
            f"the same as data.options.kind ({given!r}), which also sets it",
            kind,
            "set one of them (data.kind, flag --data-kind).",
        )


def _check_data_and_model(cfg: TrainConfig) -> None:
    _check_data_name(cfg)
    _check_data_kind(cfg)
    if cfg.data.size is not None:
        _int_at_least("data.size", cfg.data.size, 1)
    _int_at_least("data.batch_size", cfg.data.batch_size, 1)
    if cfg.model.family is not None:
        _one_of("model.family", cfg.model.family, sorted(MODEL_FAMILIES))
    if cfg.model.latent_dim is not None:
        _int_at_least("model.latent_dim", cfg.model.latent_dim, 1)
    if cfg.model.width is not None:
        _int_at_least("model.width", cfg.model.width, 1)


def _check_objective(cfg: TrainConfig) -> None:
    obj = cfg.objective
    _one_of("objective.kind", obj.kind, OBJECTIVES)
    _one_of("objective.d_loss", obj.d_loss, D_LOSSES)
    _number_in("objective.fm_weight", obj.fm_weight, 0.0, float("inf"), high_open=True)
    _number_in("objective.adv_weight", obj.adv_weight, 0.0, float("inf"), high_open=True)
    if "fm" in obj.kind:
        if obj.fm_preset is not None:
            _one_of("objective.fm_preset", obj.fm_preset, list(PRESETS))
        if obj.fm_weight == 0:
            raise _field_error(
                "objective.fm_weight",
                "> 0 when the objective includes 'fm'",
                obj.fm_weight,
                "use --objective adv to train without feature matching.",
            )
        try:
            FeatureMatchingOptions.from_kwargs(cfg.fm_loss_options(), "FeatureMatchingOptions")
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"the feature-matching options (keys objective.fm_*, flags --fm-*; the preset's "
                f"options, then fm_statistic, fm_distance, fm_layers, fm_options) are invalid: {err}"
            ) from err
    if obj.kind == "adv" and obj.adv_weight == 0:
        raise _field_error("objective.adv_weight", "> 0 when the objective is 'adv'", obj.adv_weight)
    if obj.adv_weight_end is not None:
        _number_in("objective.adv_weight_end", obj.adv_weight_end, 0.0, float("inf"), high_open=True)
        if obj.kind == "fm":
            raise _field_error(
                "objective.adv_weight_end",
                "unset when the objective is 'fm' (no adversarial term)",
                obj.adv_weight_end,
                "use --objective adv+fm to ramp the adversarial term.",
            )
    _number_in("objective.adv_ramp_start", obj.adv_ramp_start, 0.0, 1.0, high_open=True)
    _number_in("objective.r1_weight", obj.r1_weight, 0.0, float("inf"), high_open=True)
    try:
        check_policies(obj.augment, "objective.augment")
    except (TypeError, ValueError) as err:
        raise _field_error("objective.augment", f"a list of names from {AUGMENT_POLICIES}", obj.augment) from err


def _check_optim(cfg: TrainConfig) -> None:
    opt = cfg.optim
    _int_at_least("optim.d_steps", opt.d_steps, 1)
    _number_in("optim.lr_g", opt.lr_g, 0.0, 1.0, low_open=True)
    _number_in("optim.lr_d", opt.lr_d, 0.0, 1.0, low_open=True)
    if len(opt.betas) != 2:
        raise _field_error("optim.betas", "two numbers (beta1, beta2)", opt.betas)
    for beta in opt.betas:
        _number_in("optim.betas", beta, 0.0, 1.0, high_open=True)
    _number_in("optim.eps", opt.eps, 0.0, 1.0, low_open=True)
    _number_in("optim.ema_decay", opt.ema, 0.0, 1.0, high_open=True)
    _one_of("optim.lr_schedule", opt.lr_schedule, LR_SCHEDULES)
    _number_in("optim.lr_decay_start", opt.lr_decay_start, 0.0, 1.0, high_open=True)
    _one_of("optim.precision", opt.precision, PRECISIONS)
    _one_of("optim.on_nonfinite", opt.on_nonfinite, NONFINITE_POLICIES)
    _int_at_least("optim.max_rollbacks", opt.max_rollbacks, 0)
