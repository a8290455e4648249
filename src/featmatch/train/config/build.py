"""The full build: dataclass defaults, then a recipe, then a config file, then flags.

Example:
    >>> cfg = build_config({"data.name": "ring8", "steps": 10})
    >>> cfg.recipe, cfg.model.family, cfg.steps
    ('ring8', 'mlp2d_benchmark', 10)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from featmatch._checks import warn_deprecated
from featmatch.registry import task_for_data
from featmatch.train.config.io import (
    DEPRECATED_KEYS,
    config_from_dict,
    load_config_file,
    normalize_keys,
)
from featmatch.train.config.recipes import RecipePlan, plan_recipe
from featmatch.train.config.schema import TrainConfig

__all__ = ["build_config", "explain_recipe"]


def _read(file: str | Path | Mapping[str, Any] | None) -> tuple[Mapping[str, Any], str]:
    if isinstance(file, (str, Path)):
        return load_config_file(file), f"config file {str(file)!r}"
    return (file or {}), "config"


def _user_values(file_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The user's values as flat field keys, flags over file; warns once per old spelling."""
    merged: dict[str, Any] = {}
    for values in (file_values, overrides):
        flat, old = normalize_keys(values)
        for key in old:
            warn_deprecated(f"config key {key!r} is deprecated; write {DEPRECATED_KEYS[key]!r} (same value).")
        merged.update(flat)
    return merged


def _data_options(user: Mapping[str, Any]) -> dict[str, Any]:
    """The user's ``data.options``, given whole or key by key (``--set data.options.key=x``)."""
    options = dict(user.get("data.options") or {})
    prefix = "data.options."
    options.update({k[len(prefix) :]: v for k, v in user.items() if k.startswith(prefix)})
    return options


def _with_task(user: dict[str, Any]) -> dict[str, Any]:
    """``user`` with the task the data means (``task_for_data``) when the user named none."""
    if "task" not in user:
        task = task_for_data(user.get("data.name", "digits"), _data_options(user))
        if task != "generation":  # e.g. a paired data set: the task that claims it
            user["task"] = task
    return user


def explain_recipe(
    overrides: Mapping[str, Any] | None = None, *, file: str | Path | Mapping[str, Any] | None = None
) -> RecipePlan:
    """Which recipe :func:`build_config` applies for these values, and what of it it drops.

    Example:
        >>> plan = explain_recipe({"data.name": "grid25", "objective.kind": "adv"})
        >>> print(plan.notes()[1])  # doctest: +NORMALIZE_WHITESPACE
        its adversarial schedule (objective.adv_weight, objective.adv_weight_end, objective.adv_ramp_start)
        was dropped: you chose objective.kind 'adv'
        >>> explain_recipe({"data.name": "digits-superres"}).name  # the task the data means, as build_config
        'digits-superres'
    """
    file_values, _ = _read(file)
    return plan_recipe(_with_task(_user_values(file_values, overrides or {})))


def build_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    file: str | Path | Mapping[str, Any] | None = None,
    base: TrainConfig | None = None,
    validate: bool = True,
) -> TrainConfig:
    """Defaults, then a recipe (:mod:`featmatch.train.config.recipes`), then ``file``, then ``overrides``.

    Args:
        overrides: dotted or nested keys (typically from flags); highest precedence. The key
            ``recipe`` picks a recipe by name (``None``: none); without it, the data set's own.
        file: a YAML/TOML path, or an already-loaded dict, applied before ``overrides``.
        base: start from this config (e.g. a resumed run's) instead of the defaults; no recipe
            is applied again.
        validate: call :meth:`TrainConfig.validate` on the result.

    Raises:
        ValueError: an unknown key or recipe, a value of the wrong type, or (with ``validate``)
            a value out of range; the message names the key, its flag and the value.

    Example:
        >>> build_config({"objective.kind": "adv+fm", "data.name": "mnist1d"}).model.family
        'sequence'
        >>> build_config({"data.name": "mnist1d", "recipe": None}).model.family is None
        True
    """
    overrides = dict(overrides or {})
    file_values, source = _read(file)
    user = _user_values(file_values, overrides)
    if base is None and "task" not in user:
        _with_task(user)
        if "task" in user:
            overrides["task"] = user["task"]
    if base is None:
        # Type errors in the user's values first, named by their source, before the recipe.
        config_from_dict(overrides, source="command-line flags", base=config_from_dict(file_values, source=source))
        plan = plan_recipe(user)
        cfg = config_from_dict(plan.values, source=f"RECIPES[{plan.name!r}]")
        cfg.recipe = plan.name
    else:
        if "recipe" in user and user["recipe"] != base.recipe:
            raise ValueError(
                f"recipe {user['recipe']!r} cannot be applied to a resumed run (it continues with its own "
                f"config, recipe {base.recipe!r}). Hint: drop --recipe, or start a new run."
            )
        cfg = base
    cfg = config_from_dict(file_values, source=source, base=cfg)
    cfg = config_from_dict(overrides, source="command-line flags", base=cfg)
    if validate:
        cfg.validate()
    return cfg
