"""scikit-learn's bundled 8 x 8 handwritten digits: small real images, no download.

1,797 grayscale images with values 0..16 in 10 classes (UCI optical recognition of
handwritten digits, as shipped inside scikit-learn). Scaled to ``[-1, 1]`` by
``x / 8 - 1`` and shaped ``(N, 1, 8, 8)``.

The train/test split is fixed: 360 test images, stratified by class (each class gets
its share of 360 by largest remainder), chosen by a ``numpy.random.RandomState(0)``
permutation inside each class. RandomState's stream is frozen by NumPy, so the split
is the same on every machine and version, and never depends on the `seed` argument.
"""

from __future__ import annotations

import numpy as np
import torch

from featmatch.data.dataset import SPLITS, DataSet, subset

TEST_SIZE = 360
SPLIT_SEED = 0


def digits_test_mask(labels: np.ndarray, test_size: int = TEST_SIZE, seed: int = SPLIT_SEED) -> np.ndarray:
    """Boolean mask of the test images of a fixed, stratified split.

    Args:
        labels: ``(N,)`` integer class labels.
        test_size: Total number of test samples.
        seed: Seed of the ``RandomState`` that picks the samples within each class.

    Returns:
        ``(N,)`` bool array with exactly `test_size` True entries; each class holds
        ``floor`` or ``ceil`` of its proportional share.

    Example:
        >>> int(digits_test_mask(np.repeat(np.arange(2), 10), 4).sum())
        4
    """
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * test_size / counts.sum()
    per_class = np.floor(share).astype(int)
    # Largest remainder; a stable sort breaks ties by class order.
    leftover = test_size - int(per_class.sum())
    per_class[np.argsort(-(share - per_class), kind="stable")[:leftover]] += 1
    rng = np.random.RandomState(seed)
    mask = np.zeros(len(labels), dtype=bool)
    for cls, k in zip(classes, per_class, strict=True):
        members = np.flatnonzero(labels == cls)
        mask[rng.permutation(members)[:k]] = True
    return mask


def load_digits(split: str = "train", *, seed: int = 0, size: int | None = None) -> DataSet:
    """Load one split of the 8 x 8 digits as ``(N, 1, 8, 8)`` images in ``[-1, 1]``.

    Args:
        split: ``"train"`` (1,437 images) or ``"test"`` (360 images).
        seed: Only used to choose the subset when `size` is given.
        size: Keep a random subset of this many images (None keeps the whole split).

    Returns:
        An ``"image"`` `DataSet` with labels ``0..9``.

    Example:
        >>> data = load_digits("test")
        >>> data.x.shape, data.num_classes
        (torch.Size([360, 1, 8, 8]), 10)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    # Imported here: scikit-learn is an optional dependency (featmatch[train]).
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = np.asarray(bunch.images, dtype=np.float32)  # (1797, 8, 8), values 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    keep = digits_test_mask(labels)
    if split == "train":
        keep = ~keep
    x = torch.from_numpy(images[keep] / 8.0 - 1.0).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(labels[keep])
    return subset(DataSet(name="digits", kind="image", x=x, y=y), size, seed)
