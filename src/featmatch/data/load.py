"""`load_dataset`: one entry point for the built-in data sets and the user's own files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featmatch.data.dataset import SPLITS, DataSet, check_split_and_seed, reject_options  # noqa: F401 (SPLITS: the split names, re-exported)
from featmatch.data.digits import load_digits
from featmatch.data.files import load_file_dataset
from featmatch.data.mnist import load_mnist
from featmatch.data.mnist1d import load_mnist1d
from featmatch.data.toy import load_mixture
from featmatch.registry import DATASETS, PAIRED_DATASETS  # DATASETS: the built-in names, re-exported


def load_dataset(
    name: str | Path,
    split: str = "train",
    *,
    seed: int = 0,
    size: int | None = None,
    **options: Any,
) -> DataSet:
    """Load one split of a built-in data set, or of the user's data from a path.

    Built-in names: ``ring8`` and ``grid25`` (2-D Gaussian mixtures, sampled from
    `seed`), ``digits`` (scikit-learn's 8 x 8 digits, fixed 1,437/360 split) and
    ``mnist1d`` (MNIST-1D, fixed 4,000/1,000 split) and ``mnist`` (MNIST, 60,000/10,000,
    found in ``$FEATMATCH_DATA/mnist`` or the cache, or downloaded once and verified:
    `featmatch.data.mnist`). Anything else is taken as a path:
    a folder of images, a ``.npy``/``.npz`` file or an IDX file (see
    `featmatch.data.files` for their options, scaling and splits).

    Args:
        name: A name from `DATASETS`, or a path.
        split: ``"train"`` or ``"test"``.
        seed: Seed, ``>= 0``. Mixtures are sampled from it; fixed data sets only use it
            to choose the subset when `size` is given. Test splits never depend on it.
        size: Number of samples: for mixtures the number drawn (default 100,000 train,
            10,000 test); otherwise a random subset of the split (None keeps it all).
        **options: Options of file data (``image_size``, ``channels``, ``key``, ...).
            Built-in data sets take none. An option given as None means its default.

    Returns:
        The `DataSet` of that split.

    Raises:
        ValueError: For an unknown name or split, or bad data (the message says which).
        FileNotFoundError: For a path that does not exist.

    Example:
        >>> train = load_dataset("ring8", size=1000, seed=1)
        >>> train.x.shape, len(train.centres)
        (torch.Size([1000, 2]), 8)
    """
    check_split_and_seed(split, seed)
    if isinstance(name, str) and name in DATASETS:
        reject_options(name, options, "built-in data set", "Options such as image_size or key apply to data files.")
        if name in ("ring8", "grid25"):
            return load_mixture(name, split, seed=seed, size=size)
        if name == "digits":
            return load_digits(split, seed=seed, size=size)
        if name == "mnist":
            return load_mnist(split, seed=seed, size=size)
        return load_mnist1d(split, seed=seed, size=size)
    path = Path(name).expanduser()
    if not path.exists() and isinstance(name, str) and _looks_like_a_name(name):
        if name in PAIRED_DATASETS:
            raise ValueError(
                f"{name!r} is a paired data set (condition, target): load it with featmatch.data.load_paired_dataset."
            )
        raise ValueError(
            f"unknown data set {name!r}: expected one of {DATASETS}, or the path of a folder "
            f"of images, a .npy/.npz file or an IDX file."
        )
    return load_file_dataset(path, split, seed=seed, size=size, **options)


def _looks_like_a_name(name: str) -> bool:
    # A bare word ("mnist", "ring") is more likely a mistyped name than a missing file.
    return "/" not in name and "\\" not in name and "." not in name and not name.endswith("ubyte")
