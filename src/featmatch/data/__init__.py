"""Data sets: 2-D Gaussian mixtures, 8 x 8 digits, MNIST-1D, the user's own files, and paired data.

Example:
    >>> from featmatch.data import load_dataset, batches
    >>> data = load_dataset("digits")
    >>> x = next(batches(data, 64, torch.Generator().manual_seed(0)))  # doctest: +SKIP
"""

from __future__ import annotations

from featmatch.data.dataset import (
    KINDS,
    SPLITS,
    DataSet,
    PairedDataSet,
    batches,
    shard,
    subset,
)
from featmatch.data.digits import load_digits
from featmatch.data.files import load_file_dataset, read_idx
from featmatch.data.load import DATASETS, load_dataset
from featmatch.data.mnist1d import load_mnist1d
from featmatch.data.paired import (
    DIRECTIONS,
    PAIRED_DATASETS,
    PAIRED_FILE_OPTIONS,
    is_paired_source,
    load_paired_dataset,
    make_condition,
)
from featmatch.data.toy import (
    grid25_centres,
    load_mixture,
    ring8_centres,
    sample_mixture,
    sample_mixture_with_labels,
)

__all__ = [
    "DATASETS",
    "DIRECTIONS",
    "KINDS",
    "PAIRED_DATASETS",
    "PAIRED_FILE_OPTIONS",
    "SPLITS",
    "DataSet",
    "PairedDataSet",
    "batches",
    "grid25_centres",
    "is_paired_source",
    "load_dataset",
    "load_digits",
    "load_file_dataset",
    "load_mixture",
    "load_mnist1d",
    "load_paired_dataset",
    "make_condition",
    "read_idx",
    "ring8_centres",
    "sample_mixture",
    "sample_mixture_with_labels",
    "shard",
    "subset",
]
