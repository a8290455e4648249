"""The one table of the ``featmatch train`` flags: config key, flag, help, parsing.

The CLI builds its parser from :data:`OPTIONS` and nothing else, and error messages name a
key's flag through :data:`FIELD_FLAGS`, derived from the same rows, so the two cannot drift.
Allowed values come from where they are declared: the objective's and optimiser's tuples in
:mod:`featmatch.train.config.schema`, the feature-matching statistics, distances and presets
from :mod:`featmatch.losses`, the recipes from :data:`featmatch.train.config.RECIPES`.

Example:
    >>> FIELD_FLAGS["objective.kind"], option("--monitor-act").key
    ('--objective', 'monitor.act')
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from featmatch.augment import POLICIES as AUGMENT_POLICIES
from featmatch.data.kinds import DATA_KINDS
from featmatch.losses import DISTANCES, PRESETS, STATISTICS
from featmatch.models import MODEL_FAMILIES
from featmatch.registry import TASKS, data_names, task_flags
from featmatch.train.config.recipes import RECIPES
from featmatch.train.config.values import (
    D_LOSSES,
    KEY_ALIASES,
    LR_SCHEDULES,
    NONFINITE_POLICIES,
    OBJECTIVES,
    PRECISIONS,
)

__all__ = ["FIELD_FLAGS", "GROUPS", "OPTIONS", "Option", "all_options", "flag_for", "option", "setting"]

#: Help sections, in the order ``featmatch train --help`` shows them.
GROUPS = ("run", "data and models", "objective", "optimisation", "logging, samples, checkpoints")


@dataclass(frozen=True)
class Option:
    """One row of the table: a config key and the flag that sets it.

    Attributes:
        key: the dotted config key as users write it (``optim.ema_decay``).
        flag: the ``featmatch train`` flag.
        help: the help text, without the default (added per recipe by the CLI).
        group: one of :data:`GROUPS`.
        parse: turns the flag's text into the value (``None``: the text itself); a switch
            (``switch=True``) takes no value and sets ``True``.
        choices: the allowed values, checked by the parser.
        metavar: the value's name in the help.
        switch: a flag without a value that sets ``True``.
        show_default: append ``(default: ...)`` to the help.
        unset: what ``None`` as a default means, e.g. ``the family's``.
    """

    key: str
    flag: str
    help: str
    group: str
    parse: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    switch: bool = False
    show_default: bool = True
    unset: str = "None"


def csv(item_type: type) -> Callable[[str], list[Any]]:
    """A parser of comma-separated values of ``item_type`` (``"0.5,0.9"`` -> ``[0.5, 0.9]``).

    Example:
        >>> csv(float)("0.5, 0.9")
        [0.5, 0.9]
    """

    def parse(text: str) -> list[Any]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        try:
            return [item_type(t) for t in items]
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"expected comma-separated {item_type.__name__}s, got {text!r}") from err

    return parse


def policy_list(text: str) -> list[str]:
    """``--augment``'s value: comma-separated policy names, or ``none`` for none.

    Example:
        >>> policy_list("translation,cutout"), policy_list("none")
        (['translation', 'cutout'], [])
    """
    if text.strip().lower() == "none":
        return []
    names = csv(str)(text)
    unknown = [n for n in names if n not in AUGMENT_POLICIES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown augmentation {', '.join(map(repr, unknown))}; expected names from "
            f"{', '.join(AUGMENT_POLICIES)} (comma-separated), or none"
        )
    return names


def _layers(text: str) -> list[str | int]:
    return [int(t) if t.lstrip("-").isdigit() else t for t in (t.strip() for t in text.split(",")) if t]


def _none_or_str(text: str) -> str | None:
    return None if text.lower() in ("none", "null", "") else text


def _recipe_names() -> str:
    return ", ".join(RECIPES)


_RUN, _DATA, _OBJ, _OPT, _LOG = GROUPS

OPTIONS: tuple[Option, ...] = (
    Option(
        "log.out",
        "--out",
        "run directory (default: runs/<data>-<objective>-<time>)",
        _RUN,
        metavar="DIR",
        show_default=False,
    ),
    Option(
        "recipe",
        "--recipe",
        "named defaults applied whole, under your file and flags: RECIPES, or none (the dataclass "
        "defaults) (default: the recipe of the task on the --data set; none for your data)",
        _RUN,
        parse=_none_or_str,
        metavar="NAME",
        show_default=False,
    ),
    Option(
        "task",
        "--task",
        "kind of training (config key task); see featmatch.train.tasks.TASKS",
        _RUN,
        metavar="NAME",
        unset="generation",
    ),
    Option("steps", "--steps", "generator updates in total", _RUN, parse=int, metavar="N"),
    Option("seed", "--seed", "random seed", _RUN, parse=int, metavar="N"),
    Option("device", "--device", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps", _RUN, metavar="DEV"),
    Option(
        "data.name",
        "--data",
        "a built-in data set of the task (DATA_NAMES) or the path of your data (image folder, .npy/.npz, "
        "IDX); also picks the task's recipe for that data set",
        _DATA,
        metavar="NAME|PATH",
    ),
    Option(
        "data.kind",
        "--data-kind",
        "what a sample of your data is: " + ", ".join(DATA_KINDS) + " (config key data.kind; default: chosen "
        "from the arrays' shape: (N, D) vector, (N, C, H, W) and (N, S, S) image, (N, 1, T) sequence; another "
        "shape such as (N, 3, 32) asks for this flag; built-in data sets have their own)",
        _DATA,
        choices=DATA_KINDS,
        show_default=False,
    ),
    Option(
        "data.size",
        "--data-size",
        "number of training examples (default: the data set's)",
        _DATA,
        parse=int,
        metavar="N",
        show_default=False,
    ),
    Option("data.batch_size", "--batch-size", "examples per step per process", _DATA, parse=int, metavar="N"),
    Option(
        "model.family",
        "--model",
        "model family (config key model.family), by task: FAMILIES",
        _DATA,
        metavar="FAMILY",
        unset="chosen from the task and the sample shape",
    ),
    Option(
        "model.width", "--model-width", "base width of the models", _DATA, parse=int, metavar="N", unset="the family's"
    ),
    Option(
        "model.latent_dim",
        "--latent-dim",
        "size of the generator's noise (default: the family's)",
        _DATA,
        parse=int,
        metavar="N",
        show_default=False,
    ),
    Option("objective.kind", "--objective", "generator objective: " + ", ".join(OBJECTIVES), _OBJ, choices=OBJECTIVES),
    Option(
        "objective.d_loss",
        "--d-loss",
        "discriminator (and adversarial generator) loss: " + ", ".join(D_LOSSES),
        _OBJ,
        choices=D_LOSSES,
    ),
    Option(
        "objective.saturating",
        "--saturating",
        "use the saturating (minimax) generator loss with bce",
        _OBJ,
        switch=True,
        show_default=False,
    ),
    Option(
        "objective.fm_preset",
        "--fm-preset",
        "feature-matching preset: " + ", ".join(PRESETS) + ", or none",
        _OBJ,
        parse=_none_or_str,
        metavar="NAME",
    ),
    Option(
        "objective.fm_statistic",
        "--fm-statistic",
        "override the preset's statistic: " + ", ".join(STATISTICS),
        _OBJ,
        metavar="STAT",
        unset="the preset's",
    ),
    Option(
        "objective.fm_distance",
        "--fm-distance",
        "override the preset's distance: " + ", ".join(DISTANCES),
        _OBJ,
        metavar="DIST",
        unset="the preset's",
    ),
    Option(
        "objective.fm_layers",
        "--fm-layers",
        "comma-separated discriminator feature names or indices to match (default: all features)",
        _OBJ,
        parse=_layers,
        metavar="L1,L2",
        show_default=False,
    ),
    Option(
        "objective.fm_weight",
        "--fm-weight",
        "weight of the feature-matching term (times the preset's)",
        _OBJ,
        parse=float,
        metavar="W",
    ),
    Option(
        "objective.adv_weight",
        "--adv-weight",
        "weight of the adversarial generator term",
        _OBJ,
        parse=float,
        metavar="W",
    ),
    Option(
        "objective.adv_weight_end",
        "--adv-weight-end",
        "adversarial weight at the last step, reached linearly from --adv-weight after --adv-ramp-start",
        _OBJ,
        parse=float,
        metavar="W",
        unset="no ramp",
    ),
    Option(
        "objective.adv_ramp_start",
        "--adv-ramp-start",
        "fraction of the steps before the adversarial weight's ramp begins",
        _OBJ,
        parse=float,
        metavar="FRACTION",
    ),
    Option(
        "objective.reuse_real_features",
        "--reuse-real-features",
        "reuse the D step's real features in the G step (saves a forward; features from before D's update)",
        _OBJ,
        switch=True,
        show_default=False,
    ),
    Option(
        "objective.augment",
        "--augment",
        "augment every input of D, real and generated, in both steps (DiffAugment): "
        + ", ".join(AUGMENT_POLICIES)
        + "; none: no augmentation",
        _OBJ,
        parse=policy_list,
        metavar="P1,P2",
    ),
    Option(
        "objective.r1_weight",
        "--r1",
        "gamma of the R1 penalty on real data, gamma/2 E|grad D(x)|^2 (0: none)",
        _OBJ,
        parse=float,
        metavar="GAMMA",
    ),
    Option("optim.d_steps", "--d-steps", "discriminator updates per generator update", _OPT, parse=int, metavar="N"),
    Option("optim.lr_g", "--lr-g", "generator learning rate", _OPT, parse=float, metavar="LR"),
    Option("optim.lr_d", "--lr-d", "discriminator learning rate", _OPT, parse=float, metavar="LR"),
    Option("optim.betas", "--betas", "Adam betas", _OPT, parse=csv(float), metavar="B1,B2"),
    Option(
        "optim.eps",
        "--adam-eps",
        "Adam's eps (added to the root of its second moment)",
        _OPT,
        parse=float,
        metavar="EPS",
    ),
    Option(
        "optim.fresh_noise",
        "--fresh-noise",
        "the G step samples G from fresh noise (as Improved GAN's code) instead of reusing the D step's sample",
        _OPT,
        switch=True,
        show_default=False,
    ),
    Option(
        "optim.ema_decay",
        "--ema",
        "decay of the generator's weight average (config key optim.ema_decay), 0 = off",
        _OPT,
        parse=float,
        metavar="DECAY",
    ),
    Option(
        "optim.lr_schedule",
        "--lr-schedule",
        "decay of both learning rates to 0 at the last step: " + ", ".join(LR_SCHEDULES),
        _OPT,
        choices=tuple(LR_SCHEDULES),
    ),
    Option(
        "optim.lr_decay_start",
        "--lr-decay-start",
        "fraction of the steps before the decay begins",
        _OPT,
        parse=float,
        metavar="FRACTION",
    ),
    Option(
        "optim.precision", "--precision", "mixed precision on CUDA: " + ", ".join(PRECISIONS), _OPT, choices=PRECISIONS
    ),
    Option("optim.compile", "--compile", "torch.compile the models", _OPT, switch=True, show_default=False),
    Option(
        "optim.on_nonfinite",
        "--on-nonfinite",
        "on a NaN/Inf loss, gradient or weight: stop (exit status 3), "
        "rollback (to the last finite checkpoint, fresh data order) or continue (no checkpoint is written "
        "while weights are non-finite)",
        _OPT,
        choices=NONFINITE_POLICIES,
    ),
    Option(
        "optim.max_rollbacks",
        "--max-rollbacks",
        "rollbacks allowed by --on-nonfinite rollback before the run stops",
        _OPT,
        parse=int,
        metavar="N",
    ),
    Option("log.log_every", "--log-every", "steps between metrics.jsonl rows", _LOG, parse=int, metavar="N"),
    Option(
        "log.sample_every", "--sample-every", "steps between sample images, 0 = end only", _LOG, parse=int, metavar="N"
    ),
    Option(
        "log.checkpoint_every",
        "--checkpoint-every",
        "steps between checkpoints, 0 = end only",
        _LOG,
        parse=int,
        metavar="N",
    ),
    Option(
        "log.keep_checkpoints",
        "--keep-checkpoints",
        "how many recent checkpoints to keep",
        _LOG,
        parse=int,
        metavar="K",
    ),
    Option(
        "log.eval_every", "--eval-every", "steps between metric evaluations, 0 = end only", _LOG, parse=int, metavar="N"
    ),
    Option(
        "monitor.act",
        "--monitor-act",
        "let the balance monitor raise the FM weight while the discriminator dominates",
        _LOG,
        switch=True,
        show_default=False,
    ),
    Option("log.quiet", "--quiet", "no progress bar, warnings only", _LOG, switch=True, show_default=False),
    Option(
        "log.progress_every",
        "--progress-every",
        "seconds between progress lines (step, steps/s, ETA, losses) when the output is no terminal "
        "(a log file, CI), which gets no progress bar; 0 = every --log-every steps",
        _LOG,
        parse=float,
        metavar="SECONDS",
    ),
)

#: Which flag sets which config key (users' spelling, and the field name where it differs).
FIELD_FLAGS: dict[str, str] = {row.key: row.flag for row in OPTIONS}


def _add_field_names() -> None:
    for public, field_key in KEY_ALIASES.items():
        if public in FIELD_FLAGS:
            FIELD_FLAGS.setdefault(field_key, FIELD_FLAGS[public])


_add_field_names()


def all_options() -> tuple[Option, ...]:
    """:data:`OPTIONS` and every registered task's own flags (``Task.flags``): the parser's rows.

    Example:
        >>> option("--task").key in {row.key for row in all_options()}
        True
    """
    rows = []
    for row in OPTIONS:
        # The registries' names, read when the parser is built (tasks add data sets, families, recipes).
        if row.key == "task":
            row = replace(row, help="kind of training: " + ", ".join(TASKS) + " (config key task)")
        elif row.key == "recipe":
            row = replace(row, help=row.help.replace("RECIPES", _recipe_names()))
        elif row.key == "data.name":
            by_task = "; ".join(f"{task}: {', '.join(names)}" for task, names in data_names().items() if names)
            row = replace(row, help=row.help.replace("DATA_NAMES", by_task))
        elif row.key == "model.family":
            own = {name: cls.model_families() for name, cls in TASKS.items()}
            claimed = {f for families in own.values() for f in families}
            # The families no task declares are the generation task's (the plain G/D pairs).
            own["generation"] = (*own.get("generation", ()), *(f for f in MODEL_FAMILIES if f not in claimed))
            text = "; ".join(f"{task}: {', '.join(families)}" for task, families in own.items() if families)
            row = replace(row, help=row.help.replace("FAMILIES", text))
        rows.append(row)
    return (*rows, *task_flags())


def flag_for(key: str) -> str | None:
    """The flag that sets config ``key`` (either spelling), or None when only ``--set`` does.

    Example:
        >>> flag_for("optim.ema"), flag_for("monitor.patience")
        ('--ema', None)
    """
    if key in FIELD_FLAGS:
        return FIELD_FLAGS[key]
    if key.startswith("task_options."):
        return next((row.flag for row in task_flags() if row.key == key), None)
    return None


def option(flag: str) -> Option:
    """The table row of ``flag``.

    Raises:
        KeyError: no row has that flag.

    Example:
        >>> option("--model").key
        'model.family'
    """
    rows = all_options()
    for row in rows:
        if row.flag == flag:
            return row
    raise KeyError(f"no featmatch train flag {flag!r}; flags: {', '.join(r.flag for r in rows)}")


def setting(key: str, value: Any = None) -> str:
    """How a user changes ``key``, for advice texts: the key (``= value``) and its flag.

    Example:
        >>> setting("objective.d_loss", "hinge")
        'objective.d_loss: hinge, flag --d-loss hinge'
        >>> setting("monitor.patience")
        'monitor.patience'
    """
    flag = flag_for(key)
    shown = key if value is None else f"{key}: {value}"
    if flag is None:
        return shown
    return f"{shown}, flag {flag}" + ("" if value is None else f" {value}")
