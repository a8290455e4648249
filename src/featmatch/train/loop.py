"""Deprecated home of the training loop, kept importable for one release.

The loop is now split by job: :mod:`featmatch.train.trainer` (the driver: ``Trainer``,
``run_training``, ``load_generator``), :mod:`featmatch.train.step` (the shared step) and
:mod:`featmatch.train.tasks` (what each kind of training computes). Import from those.

Importing it warns (``DeprecationWarning``) and gives the same objects:

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from featmatch.train.loop import Trainer
    >>> from featmatch.train.trainer import Trainer as T
    >>> Trainer is T
    True
"""

from __future__ import annotations

import warnings

from featmatch.train.nonfinite import NONFINITE_EXIT
from featmatch.train.rundir import RunDirError, default_run_dir, prepare_run_dir
from featmatch.train.seeds import derive_seed, eval_seed, seed_everything
from featmatch.train.trainer import Trainer, load_generator, load_test_split, run_training

warnings.warn(
    "featmatch.train.loop is deprecated and will be removed in the next release; import Trainer, "
    "run_training and load_generator from featmatch.train.trainer (or featmatch.train).",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "NONFINITE_EXIT",
    "RunDirError",
    "Trainer",
    "default_run_dir",
    "derive_seed",
    "eval_seed",
    "load_generator",
    "load_test_split",
    "prepare_run_dir",
    "run_training",
    "seed_everything",
]
