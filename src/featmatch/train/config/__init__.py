"""The training configuration: a typed dataclass tree, built from a recipe, a file and flags.

Precedence, lowest first: the dataclass defaults (:mod:`.schema`), a named recipe
(:data:`RECIPES`, by default the one of the built-in data set named by ``data.name``), a YAML
or TOML file (``--config``), then command-line flags (including ``--set key=value``).
:func:`build_config` applies them in that order and :meth:`TrainConfig.validate` rejects bad
values with a message naming the key, the flag, the allowed values and the value given.

One module per job: :mod:`.schema` (the dataclasses and allowed values), :mod:`.options` (the
one table of flags), :mod:`.recipes`, :mod:`.io` (dicts, files, type checks), :mod:`.checks`
(validation), :mod:`.build` (the layering).

Example:
    >>> cfg = build_config({"data.name": "ring8", "steps": 10})
    >>> cfg.model.family, cfg.steps
    ('mlp2d_benchmark', 10)
    >>> print(to_yaml(cfg).splitlines()[0])
    steps: 10
"""

from __future__ import annotations

from featmatch.train.config.build import build_config, explain_recipe
from featmatch.train.config.io import (
    DEPRECATED_KEYS,
    all_keys,
    config_from_dict,
    config_to_dict,
    flatten,
    load_config_file,
    normalize_keys,
    to_yaml,
)
from featmatch.train.config.options import (
    FIELD_FLAGS,
    OPTIONS,
    Option,
    all_options,
    flag_for,
    setting,
)
from featmatch.train.config.recipes import (
    DATASET_DEFAULTS,
    RECIPES,
    Recipe,
    RecipePlan,
    default_recipe,
    plan_recipe,
    register_recipe,
)
from featmatch.train.config.schema import (
    D_LOSSES,
    KEY_ALIASES,
    LR_SCHEDULES,
    NONFINITE_POLICIES,
    OBJECTIVES,
    PRECISIONS,
    DataConfig,
    LogConfig,
    ModelConfig,
    MonitorConfig,
    ObjectiveConfig,
    OptimConfig,
    TrainConfig,
)

__all__ = [
    "DATASET_DEFAULTS",
    "DEPRECATED_KEYS",
    "D_LOSSES",
    "FIELD_FLAGS",
    "KEY_ALIASES",
    "LR_SCHEDULES",
    "NONFINITE_POLICIES",
    "OBJECTIVES",
    "OPTIONS",
    "PRECISIONS",
    "RECIPES",
    "DataConfig",
    "LogConfig",
    "ModelConfig",
    "MonitorConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "Option",
    "Recipe",
    "RecipePlan",
    "TrainConfig",
    "all_keys",
    "all_options",
    "build_config",
    "config_from_dict",
    "config_to_dict",
    "default_recipe",
    "explain_recipe",
    "flag_for",
    "flatten",
    "load_config_file",
    "normalize_keys",
    "plan_recipe",
    "register_recipe",
    "setting",
    "to_yaml",
]
