"""Recipes: named, tuned defaults for a data set, applied whole under the user's values.

``featmatch train --data grid25`` applies the recipe ``grid25`` (the built-in data set's own),
``--recipe NAME`` picks one explicitly, ``--recipe none`` keeps the dataclass defaults; users'
files get none. The layering is: dataclass defaults, then the recipe, then the config file,
then flags. One rule keeps a recipe from leaking into a choice it was not tuned for:

    A recipe's adversarial schedule (``objective.adv_weight``, ``adv_weight_end``,
    ``adv_ramp_start``) belongs to its objective: it is dropped whole when you choose another
    ``objective.kind`` or set ``objective.adv_weight`` yourself.

So ``--data grid25 --objective adv`` is a plain GAN (weight 1), and ``--adv-weight 0.1`` is a
constant weight. ``--print-config`` shows the recipe (the ``recipe`` key) and says when its
schedule was dropped. Why each recipe holds what it holds: :attr:`Recipe.description` and
BENCHMARKS.md.

Example:
    >>> RECIPES["mnist1d"].values["model.family"]
    'sequence'
    >>> plan_recipe({"data.name": "grid25", "objective.kind": "adv"}).dropped
    ('objective.adv_weight', 'objective.adv_weight_end', 'objective.adv_ramp_start')
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from types import MappingProxyType
from typing import Any

__all__ = [
    "ADVERSARIAL_SCHEDULE",
    "DATASET_DEFAULTS",
    "RECIPES",
    "Recipe",
    "RecipePlan",
    "default_recipe",
    "plan_recipe",
    "register_recipe",
]

#: The keys of the adversarial schedule a recipe drops as a unit (see the module docstring).
ADVERSARIAL_SCHEDULE = ("objective.adv_weight", "objective.adv_weight_end", "objective.adv_ramp_start")


@dataclass(frozen=True)
class Recipe:
    """Named defaults: dotted config keys (field names) and their values, with the reasons.

    Attributes:
        name: how ``--recipe`` names it.
        description: what it sets and why, with the measurements behind it.
        values: dotted config keys -> values, applied over the dataclass defaults.
        task: the kind of training it is for (a name in ``featmatch.train.tasks.TASKS``).
        data: the data set whose default it is for that task (``None``: the recipe's name).

    Example:
        >>> RECIPES["digits"].values["objective.kind"]
        'adv+fm'
        >>> RECIPES["digits"].task, RECIPES["digits"].data
        ('generation', 'digits')
    """

    name: str
    description: str
    values: Mapping[str, Any]
    task: str = "generation"
    data: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))
        if self.data is None:
            object.__setattr__(self, "data", self.name)


_MIXTURES_2D = {
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

_MIXTURES_2D_NOTES = """\
2-D mixtures: the published protocol's budget (VEEGAN/GDPP: benchmark MLPs, batch 512, Adam
betas 0.5/0.999, lr 1e-3 for G, 25,000 steps, 2,500 samples scored) with featmatch's
recommended set-up: feature matching as a Gaussian-kernel MMD (random Fourier features) of both
of D's hidden layers at four small bandwidths, plus the adversarial term at a small weight.
Kernel matching covers every mode and keeps their shares even; the first hidden layer, close to
the data, keeps the long-range pull that recovers a mode G is leaving; the small bandwidths
sharpen the modes. D's lr is 1e-3 instead of the protocol's 1e-4 (a D that learns the fine
structure), and an EMA of G removes G's jitter. The adversarial term pulls samples off the lines
between modes: at 0.003 from the start it keeps every mode (grid25: 83% -> 89% high quality; at
0.01 modes come and go early, at 0.1 and 1 they are lost), and once kernel matching has placed
every mode (40% of the run) it can rise to 0.03 and sharpen further without losing one. A
learning-rate decay, a larger learning rate or a longer EMA did not help. Why, and the numbers:
BENCHMARKS.md, Table 1 (benchmarks/table1_mixtures.py, row featmatch) and its searches."""

# What the image recipes (digits, mnist) share: adversarial + Salimans mean matching, DiffAugment's
# translation of D's inputs, batch 64, Adam 1e-3 with betas (0.5, 0.99) for both, EMA of G.
_IMAGE_GAN = {
    "objective.kind": "adv+fm",
    "objective.augment": ["translation"],
    "data.batch_size": 64,
    "optim.lr_g": 1e-3,
    "optim.lr_d": 1e-3,
    "optim.betas": [0.5, 0.99],
    "optim.ema": 0.999,
}

_RECIPES: dict[str, Recipe] = {
    "digits": Recipe(
        "digits",
        """\
8x8 handwritten digits (sklearn), the quick start. Each choice measured on its own at 4,000 steps
(BENCHMARKS.md, Table 2b; the Frechet distance in the digits classifier's feature space, whose real
floor is 12.7): the pair of small convnets (``small_conv``, width 32) instead of the 8x8 DCGAN pair
(FD ~160 -> ~50), Adam at lr 1e-3 with betas (0.5, 0.99) for both players, DiffAugment's
translation of every input of D (real and generated), an EMA of G at 0.999, and adversarial +
Salimans mean matching of D's features. Together: FD 14.8, all 10 classes, precision 0.78, recall
0.88 on seed 0 (one torch thread); about 2 minutes on an idle 2-core CPU (width 16: about half).""",
        {
            **_IMAGE_GAN,
            "model.family": "small_conv",
            "model.width": 32,
            "steps": 4000,
            "log.sample_every": 1000,
            "log.checkpoint_every": 1000,
        },
    ),
    "ring8": Recipe("ring8", _MIXTURES_2D_NOTES, _MIXTURES_2D),
    "grid25": Recipe("grid25", _MIXTURES_2D_NOTES, _MIXTURES_2D),
    "mnist1d": Recipe(
        "mnist1d",
        """\
1-D sequences (N, 1, 40): the 1-D conv pair from the reference article, at width 32: width 64
costs about 3x more per step on a CPU for the same Frechet distance (BENCHMARKS.md, Table 2).""",
        {
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
    ),
    "mnist": Recipe(
        "mnist",
        """\
Unconditional MNIST (28x28), about 12 minutes on one CPU core: the DCGAN pair (``conv``) at width
32, adversarial + Salimans mean matching of D's features, DiffAugment's translation of D's inputs,
Adam at lr 1e-3 with betas (0.5, 0.99), an EMA of G at 0.999, 12,000 steps of 64 images. At 3,000
steps, seed 0, in the MNIST classifier's feature space (real floor 1.3): FD 55 at DCGAN's lr 2e-4
(9 classes), 45 at 1e-3, 26 with the translation (BENCHMARKS.md, Table 7).""",
        {
            **_IMAGE_GAN,
            "model.family": "conv",
            "model.width": 32,
            "steps": 12000,
            "log.sample_every": 3000,
            "log.checkpoint_every": 3000,
        },
    ),
}
#: Every recipe by name: the five above, and those tasks add with :func:`register_recipe`.
RECIPES: Mapping[str, Recipe] = MappingProxyType(_RECIPES)


def register_recipe(recipe: Recipe) -> Recipe:
    """Add a recipe (a task module registers the recipes of its data sets this way).

    Raises:
        ValueError: another recipe has that name, or is already the default of the same task
            and data set.

    Example:
        >>> r = register_recipe(Recipe("doc-recipe", "for the docs", {"steps": 5}, data="doc-data"))
        >>> default_recipe("generation", "doc-data") is r
        True
        >>> del _RECIPES["doc-recipe"]
    """
    if _RECIPES.get(recipe.name, recipe) != recipe:
        raise ValueError(f"a different recipe is already registered as {recipe.name!r}; choose another name.")
    other = default_recipe(recipe.task, recipe.data)
    if other is not None and other.name != recipe.name:
        raise ValueError(
            f"recipe {other.name!r} is already the default of task {recipe.task!r} on data {recipe.data!r}; "
            f"cannot register {recipe.name!r} for the same."
        )
    _RECIPES[recipe.name] = recipe
    return recipe


#: ``Recipe.data`` of a task's recipe for users' own files: ``--data PATH``, a name with a suffix
#: (``seqs.npz``) or a ``/``, gets it when no recipe names that path.
USER_FILES = "<file>"


def default_recipe(task: str, data: Any) -> Recipe | None:
    """The recipe a run of ``task`` on data set ``data`` gets without ``--recipe``, or ``None``.

    A user's file gets the task's recipe for :data:`USER_FILES`, if the task has one.

    Example:
        >>> default_recipe("generation", "ring8").name, default_recipe("generation", "my.npy")
        ('ring8', None)
        >>> default_recipe("early", "runs/seqs.npz").name
        'early-sequences'
    """
    for recipe in _RECIPES.values():
        if recipe.task == task and recipe.data == data:
            return recipe
    if isinstance(data, str) and data != USER_FILES and ("/" in data or "\\" in data or PurePath(data).suffix):
        return default_recipe(task, USER_FILES)
    return None


#: Deprecated alias of :data:`RECIPES` (each recipe's values by data set name); kept for one
#: release. Use ``RECIPES[name].values``.
DATASET_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {name: recipe.values for name, recipe in RECIPES.items()}
)


@dataclass(frozen=True)
class RecipePlan:
    """Which recipe applies to a user's values, and what of it.

    Attributes:
        name: the recipe's name, or ``None`` for none.
        values: the recipe's values that apply (dotted field keys).
        dropped: the recipe's keys left out by the rule in the module docstring.
        reason: why they were dropped (empty when nothing was).

    Example:
        >>> plan_recipe({"data.name": "ring8", "objective.adv_weight": 0.1}).reason
        'you set objective.adv_weight'
    """

    name: str | None
    values: Mapping[str, Any]
    dropped: tuple[str, ...] = ()
    reason: str = ""

    def notes(self) -> list[str]:
        """One line per fact worth showing above ``--print-config``'s YAML.

        Example:
            >>> plan_recipe({"recipe": None}).notes()
            ['recipe: none (the dataclass defaults, then your file and flags)']
        """
        if self.name is None:
            return ["recipe: none (the dataclass defaults, then your file and flags)"]
        lines = [f"recipe: {self.name} (its values, then your file and flags; see RECIPES[{self.name!r}])"]
        if self.dropped:
            lines.append(f"its adversarial schedule ({', '.join(self.dropped)}) was dropped: {self.reason}")
        return lines


def plan_recipe(user: Mapping[str, Any]) -> RecipePlan:
    """The recipe for a user's values (flat dotted field keys: the file's, then the flags').

    ``user["recipe"]`` names it (``None``: none); without that key the default recipe of the
    task (``user["task"]``, default ``generation``) on ``data.name`` (default ``digits``)
    applies, if there is one (:func:`default_recipe`).

    Raises:
        ValueError: ``recipe`` names no recipe; the message lists them.

    Example:
        >>> plan_recipe({}).name, plan_recipe({"data.name": "my.npy"}).name
        ('digits', None)
    """
    if "recipe" in user:
        name = user["recipe"]
        if name is not None and (not isinstance(name, str) or name not in RECIPES):
            close = difflib.get_close_matches(str(name), list(RECIPES), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"config key 'recipe' (flag --recipe) must be one of {', '.join(map(repr, RECIPES))} or "
                f"none; got {name!r}. Hint: {hint}--recipe none keeps the dataclass defaults."
            )
    else:
        found = default_recipe(user.get("task", "generation"), user.get("data.name", "digits"))
        name = None if found is None else found.name
    if name is None:
        return RecipePlan(None, MappingProxyType({}))
    recipe = RECIPES[name]
    task = user.get("task", recipe.task)
    if task != recipe.task:
        raise ValueError(
            f"recipe {name!r} is for task {recipe.task!r}, but the config asks for task {task!r}. Hint: drop "
            f"--task, or pick a recipe of task {task!r} (--recipe none keeps the dataclass defaults)."
        )
    reason = ""
    kind = user.get("objective.kind")
    if "objective.kind" in user and kind != recipe.values.get("objective.kind", kind):
        reason = f"you chose objective.kind {kind!r}"
    elif "objective.adv_weight" in user:
        reason = "you set objective.adv_weight"
    dropped = tuple(k for k in ADVERSARIAL_SCHEDULE if k in recipe.values) if reason else ()
    values = {k: v for k, v in recipe.values.items() if k not in dropped}
    if recipe.task != "generation":
        values["task"] = recipe.task  # --recipe NAME alone selects its task
    return RecipePlan(name, MappingProxyType(values), dropped, reason if dropped else "")
