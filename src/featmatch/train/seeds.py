"""Random streams of a run: one seed per (run seed, stream, rank), independent of each other.

Example:
    >>> eval_seed(0) == derive_seed(0, STREAM_EVAL)
    True
"""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = [
    "STREAM_DATA",
    "STREAM_EVAL",
    "STREAM_NOISE",
    "STREAM_SAMPLES",
    "derive_seed",
    "eval_seed",
    "seed_everything",
]

# Independent random streams, derived from (seed, stream, rank) with NumPy's SeedSequence.
STREAM_DATA, STREAM_NOISE, STREAM_SAMPLES, STREAM_EVAL = 0, 1, 2, 3


def derive_seed(seed: int, stream: int, rank: int = 0) -> int:
    """A 63-bit seed for one random stream of one rank, independent of the others.

    Example:
        >>> derive_seed(0, STREAM_DATA) != derive_seed(0, STREAM_DATA, rank=1)
        True
    """
    return int(np.random.SeedSequence([seed, stream, rank]).generate_state(2, np.uint64)[0] >> 1)


def eval_seed(seed: int) -> int:
    """The seed of the noise a run with ``seed`` evaluates its generator on (``featmatch eval``'s default).

    Example:
        >>> isinstance(eval_seed(0), int)
        True
    """
    return derive_seed(seed, STREAM_EVAL)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (all devices).

    Example:
        >>> seed_everything(0); a = torch.rand(1); seed_everything(0)
        >>> bool(torch.equal(a, torch.rand(1)))
        True
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
