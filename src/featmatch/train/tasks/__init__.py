"""Kinds of training ("tasks"): the built-in tasks, registered, and their interface re-exported.

A task says what is specific to one kind of training; the shared step (:mod:`featmatch.train.step`)
and the driver (:mod:`featmatch.train.trainer`) know no task's details. A task:

- loads its data (:meth:`Task.load_data`) and describes it for checkpoints (:meth:`Task.describe_data`);
- builds its models from config + that description, once, for training and for loading
  (:meth:`Task.build_models`), and prepares its losses (:meth:`Task.setup`);
- draws a batch from the shared, seeded, DDP-sharded batch stream (:meth:`Task.draw`);
- calls G (:meth:`Task.generate`) and gives the D and G objectives as named terms
  (:meth:`Task.discriminator_objective`, :meth:`Task.generator_objective`) in an :class:`Objective`;
- draws, shows and evaluates samples (:meth:`Task.sample_inputs`, :meth:`Task.sample`,
  :meth:`Task.save_picture`, :meth:`Task.evaluate`).

The interface is :mod:`featmatch.train.tasks.base`, the registry :mod:`featmatch.registry` (both
re-exported here). Adding a task is one module with a :class:`Task` subclass and
``register_task(MyTask)``, imported here.

Example:
    >>> sorted(TASKS)
    ['conditional', 'early', 'generation', 'semi']
    >>> get_task("generation").name
    'generation'
"""

from __future__ import annotations

from typing import cast

from featmatch import registry
from featmatch.registry import (
    TASKS,
    UnknownTaskError,
    claims,
    data_names,
    foreign_options_error,
    option_owners,
    task_flags,
    task_for_data,
)

# Imported to register the built-in tasks (generation first: conditional imports it).
from featmatch.train.tasks import conditional, early, generation, semi  # noqa: F401
from featmatch.train.tasks.base import Objective, Streams, Task, TaskModels, Weights

__all__ = [
    "TASKS",
    "Objective",
    "Streams",
    "Task",
    "TaskModels",
    "UnknownTaskError",
    "Weights",
    "claims",
    "data_names",
    "foreign_options_error",
    "get_task",
    "option_owners",
    "register_task",
    "task_flags",
    "task_for_data",
]


def register_task(cls: type[Task]) -> type[Task]:
    """Register a :class:`Task` subclass under ``cls.name`` (usable as a class decorator).

    Raises:
        TypeError: ``cls`` is not a :class:`Task` subclass.
        ValueError: ``cls.name`` is empty or already taken by another class.

    Example:
        >>> class Nothing(Task):
        ...     name = "nothing-doctest"
        >>> register_task(Nothing) is Nothing
        True
        >>> del TASKS["nothing-doctest"]
    """
    if not isinstance(cls, type) or not issubclass(cls, Task):
        raise TypeError(f"register_task needs a Task subclass; got {cls!r}.")
    return cast("type[Task]", registry.register_task(cls))


def get_task(name: str) -> type[Task]:
    """The task class registered as ``name`` (:func:`featmatch.registry.get_task`, typed).

    Raises:
        UnknownTaskError: listing the registered names.

    Example:
        >>> get_task("generation").name
        'generation'
    """
    return cast("type[Task]", registry.get_task(name))
