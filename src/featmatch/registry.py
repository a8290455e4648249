"""The registries: built-in data names and the kinds of training, below everything that fills or reads them.

The data modules, the models, the configuration and the tasks all import this module, and it
imports none of them, so no import circle runs through a registry. It holds names and classes only:

- :data:`DATASETS` and :data:`PAIRED_DATASETS`: the built-in data sets (``featmatch.data``
  loads them);
- :data:`TASKS`: the task classes by name, each with its options table (``Options``) and flags
  (``flags``), filled by :func:`register_task` when :mod:`featmatch.train.tasks` is imported
  (importing anything under :mod:`featmatch.train` does it), and the questions the configuration
  asks of them: :func:`task_for_data`, :func:`data_names`, :func:`option_owners`,
  :func:`foreign_options_error`, :func:`task_flags`.

The recipes live in :mod:`featmatch.train.config.recipes` (``register_recipe``) and the model
families in :mod:`featmatch.models.registry` (``MODEL_FAMILIES``); neither imports what fills
or reads it.

Example:
    >>> import featmatch.train  # registers the built-in tasks
    >>> sorted(TASKS)
    ['conditional', 'early', 'generation', 'semi']
    >>> "digits" in DATASETS, "digits-superres" in PAIRED_DATASETS
    (True, True)
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from featmatch.errors import InputError

__all__ = [
    "DATASETS",
    "DEFAULT_DATA_NEEDS",
    "PAIRED_DATASETS",
    "TASKS",
    "UnknownTaskError",
    "claims",
    "data_names",
    "foreign_options_error",
    "get_task",
    "option_owners",
    "register_task",
    "task_flags",
    "task_for_data",
]

#: The built-in (unpaired) data sets: ``featmatch.data.load_dataset(NAME)``.
DATASETS: tuple[str, ...] = ("ring8", "grid25", "digits", "mnist1d", "mnist")

#: The built-in paired data sets (condition, target): ``featmatch.data.load_paired_dataset(NAME)``.
PAIRED_DATASETS: tuple[str, ...] = ("digits-superres", "digits-inpaint", "mnist1d-complete")

#: What a task trains on unless it says otherwise (``Task.data_needs``), for messages.
DEFAULT_DATA_NEEDS = "samples (images, sequences or vectors)"

#: Task name -> task class (a ``featmatch.train.tasks.Task`` subclass), in registration order.
TASKS: dict[str, type[Any]] = {}


class UnknownTaskError(InputError, ValueError):
    """A task name that is not registered."""


def register_task(cls: type[Any]) -> type[Any]:
    """Register a task class under ``cls.name`` (usable as a class decorator).

    ``featmatch.train.tasks.register_task`` checks that ``cls`` is a ``Task`` subclass, then
    registers it here.

    Raises:
        ValueError: ``cls.name`` is empty or already taken by another class.

    Example:
        >>> class Nothing:
        ...     name = "nothing-doctest"
        >>> register_task(Nothing) is Nothing
        True
        >>> del TASKS["nothing-doctest"]
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_task needs a Task subclass; got {cls!r}.")
    name = getattr(cls, "name", "")
    if not name:
        raise ValueError(f"task class {cls.__name__} needs a non-empty 'name' class attribute.")
    if TASKS.get(name, cls) is not cls:
        raise ValueError(f"task name {name!r} is already registered by {TASKS[name].__name__}; choose another name.")
    TASKS[name] = cls
    return cls


def get_task(name: str) -> type[Any]:
    """The task class registered as ``name``.

    Raises:
        UnknownTaskError: listing the registered names.

    Example:
        >>> try:
        ...     get_task("generaton")
        ... except UnknownTaskError as err:
        ...     print(str(err).split("Hint: ")[1])
        did you mean 'generation'?
    """
    if name in TASKS:
        return TASKS[name]
    known = ", ".join(repr(n) for n in sorted(TASKS))
    close = difflib.get_close_matches(str(name), list(TASKS), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "register the task (featmatch.train.tasks.register_task) first."
    raise UnknownTaskError(f"unknown task {name!r}; known tasks: {known}. Hint: {hint}")


def task_for_data(name: Any, options: Mapping[str, Any] | None = None) -> str:
    """The task that ``featmatch train --data NAME`` means without ``--task``.

    The first registered task that claims the data set (``Task.claims_data``, given the
    run's data ``options``), else ``"generation"``.

    Example:
        >>> task_for_data("ring8"), task_for_data("digits-superres")
        ('generation', 'conditional')
    """
    for task_name, cls in TASKS.items():
        if claims(cls, name, options):
            return task_name
    return "generation"


def claims(cls: type[Any], name: Any, options: Mapping[str, Any] | None = None) -> bool:
    """``cls.claims_data(name, options)``; a task whose ``claims_data`` takes the name alone (written
    before data options were passed) is asked about the name.

    Example:
        >>> claims(get_task("conditional"), "digits-superres")
        True
    """
    if "options" in inspect.signature(cls.claims_data).parameters:
        return bool(cls.claims_data(name, options))
    return bool(cls.claims_data(name))


def data_names() -> dict[str, tuple[str, ...]]:
    """Each registered task's built-in data sets (``Task.data_names``), in registration order.

    Example:
        >>> data_names()["conditional"][:1]
        ('digits-superres',)
    """
    return {name: cls.data_names() for name, cls in TASKS.items()}


def option_owners(option: str) -> list[str]:
    """The registered tasks that have ``option`` (a field of their ``Options``).

    Example:
        >>> option_owners("labels")
        ['semi']
    """
    return [
        name
        for name, cls in TASKS.items()
        if cls.Options is not None and option in {f.name for f in dataclasses.fields(cls.Options)}
    ]


def _option_flag(task: str, option: str) -> str:
    """How users set ``option`` of ``task``: its flag, else the ``--set`` key."""
    key = f"task_options.{option}"
    flag = next((row.flag for row in TASKS[task].flags if row.key == key), None)
    return f"{flag} ({key})" if flag else f"--set {key}=..."


def foreign_options_error(task: str, values: Mapping[str, Any], data: Any = None) -> ValueError | None:
    """The error for task options that belong to another task (``--labels`` on a generation run),
    naming the option's flag, its task and what that task trains on; ``None`` when there are none.

    ``data`` (the run's ``data.name``) is named in the message when given.

    Example:
        >>> print(foreign_options_error("generation", {"labels": 10}))  # doctest: +ELLIPSIS
        --labels (task_options.labels) is an option of task 'semi', but this run's task is 'generation'...
    """
    own = TASKS[task].Options if task in TASKS else None
    known = set() if own is None else {f.name for f in dataclasses.fields(own)}
    for option in values:
        owners = [o for o in option_owners(option) if o != task]
        if option in known or not owners:
            continue
        owner = owners[0]
        on = "" if data is None else f" on {str(data)!r}"
        builtin = ", ".join(TASKS[owner].data_names())
        examples = f": {builtin}, or your own" if builtin else ""
        return ValueError(
            f"{_option_flag(owner, option)} is an option of task {owner!r}, but this run's task is "
            f"{task!r}{on}. Task {owner!r} trains on {TASKS[owner].data_needs}{examples}. Hint: pass --task "
            f"{owner} (or --data of that kind) for that training, or drop {_option_flag(owner, option).split(' ')[0]}."
        )
    return None


def task_flags() -> list[Any]:
    """Every registered task's flags (rows of the CLI's table, ``featmatch.train.config.Option``), in
    registration order.

    Example:
        >>> "--labels" in [row.flag for row in task_flags()]
        True
    """
    return [row for cls in TASKS.values() for row in cls.flags]
