"""MNIST-1D (Greydanus 2020): 1-D digit-like sequences, generated locally.

Built with ``mnist1d.data.make_dataset(mnist1d.data.get_dataset_args())``: 5,000
sequences of length 40 in 10 classes, split 4,000 train / 1,000 test by the package
itself. Nothing is downloaded: only ``make_dataset`` is called, which builds the data
from templates with NumPy/SciPy. (``get_dataset``, which would download a pickle and
write files, is never used.)

Scaling: the package standardises the whole set to mean 0 and std 1. We divide both
splits by one fixed constant, the largest absolute value in the *train* split (about
5.48 with the default arguments), so train lies exactly in ``[-1, 1]``; test values are
clamped to ``[-1, 1]`` (with the default arguments the test split's largest absolute
value is about 4.41, so the clamp changes nothing). Shape ``(N, 1, 40)``.

``make_dataset`` reseeds Python's and NumPy's global random generators (with 42); we
save and restore their states so that loading MNIST-1D leaves callers' randomness alone.
Generation takes a few seconds, so the result is cached once per process.
"""

from __future__ import annotations

import functools
import random

import numpy as np
import torch

from featmatch.data.dataset import SPLITS, DataSet, subset


@functools.lru_cache(maxsize=1)
def _generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Generate MNIST-1D once: (x_train, y_train, x_test, y_test, scale), read-only arrays."""
    # Imported here: mnist1d is an optional dependency, and importing it loads matplotlib.
    from mnist1d.data import get_dataset_args, make_dataset

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        raw = make_dataset(get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    x_train = np.asarray(raw["x"], dtype=np.float64)
    x_test = np.asarray(raw["x_test"], dtype=np.float64)
    scale = float(np.abs(x_train).max())
    arrays = (
        (x_train / scale).astype(np.float32),
        np.asarray(raw["y"], dtype=np.int64),
        np.clip(x_test / scale, -1.0, 1.0).astype(np.float32),
        np.asarray(raw["y_test"], dtype=np.int64),
    )
    for array in arrays:
        array.setflags(write=False)  # the cache is shared: nobody may change it
    return (*arrays, scale)


def mnist1d_scale() -> float:
    """The constant both splits are divided by: max ``|x|`` of the standardised train split.

    Example:
        >>> round(mnist1d_scale(), 2)
        5.48
    """
    return _generate()[4]


def load_mnist1d(split: str = "train", *, seed: int = 0, size: int | None = None) -> DataSet:
    """Load one split of MNIST-1D as ``(N, 1, 40)`` sequences in ``[-1, 1]``.

    Args:
        split: ``"train"`` (4,000 sequences) or ``"test"`` (1,000 sequences).
        seed: Only used to choose the subset when `size` is given.
        size: Keep a random subset of this many sequences (None keeps the whole split).

    Returns:
        A ``"sequence"`` `DataSet` with labels ``0..9``.

    Example:
        >>> load_mnist1d("test").x.shape
        torch.Size([1000, 1, 40])
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    x_train, y_train, x_test, y_test, _ = _generate()
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    # torch.tensor copies: callers get their own tensors and cannot touch the cache.
    data = DataSet(
        name="mnist1d",
        kind="sequence",
        x=torch.tensor(x).unsqueeze(1),  # (N, 1, 40)
        y=torch.tensor(y),
    )
    return subset(data, size, seed)
