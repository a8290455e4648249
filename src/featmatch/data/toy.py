"""Two-dimensional Gaussian mixtures: the standard mode-collapse benchmarks.

``ring8``: 8 components on the unit circle, at angles ``2*pi*k/8`` for ``k = 0..7``,
std 0.01 (PacGAN, Lin et al. 2018; VEEGAN uses the same ring). Some public code builds
the angles with ``linspace(0, 2*pi, 8)``, which puts the first and last centre on the
same point and leaves 7 modes; we do not.

``grid25``: a 5 x 5 grid of components at ``{-4, -2, 0, 2, 4}^2``, std 0.05.

Both are sampled afresh: equal component weights, so each sample picks a centre
uniformly at random and adds isotropic Gaussian noise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from featmatch._checks import check_int
from featmatch.data.dataset import DataSet

RING8_STD = 0.01
GRID25_STD = 0.05
DEFAULT_SIZES = {"train": 100_000, "test": 10_000}


def ring8_centres() -> Tensor:
    """The 8 centres of ``ring8``: ``(cos, sin)`` of ``2*pi*k/8``, ``k = 0..7``.

    Returns:
        ``(8, 2)`` float32 tensor.

    Example:
        >>> ring8_centres()[2].tolist()  # angle pi/2
        [0.0, 1.0]
    """
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centres = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)  # (8, 2)
    # Round away float noise such as cos(pi/2) = 6e-17, so centres are exact where they can be.
    centres = torch.where(centres.abs() < 1e-12, torch.zeros_like(centres), centres)
    return centres.float()


def grid25_centres() -> Tensor:
    """The 25 centres of ``grid25``: all pairs from ``(-4, -2, 0, 2, 4)``, row-major.

    Returns:
        ``(25, 2)`` float32 tensor; centre ``5*i + j`` is ``(v[i], v[j])``.

    Example:
        >>> grid25_centres()[:2].tolist()
        [[-4.0, -4.0], [-4.0, -2.0]]
    """
    values = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    xs, ys = torch.meshgrid(values, values, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)  # (25, 2)


def sample_mixture_with_labels(
    centres: Tensor, std: float, n: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Draw `n` samples and the index of the component each came from.

    Args:
        centres: ``(K, D)`` component means.
        std: Standard deviation of every component (isotropic), ``>= 0``.
        n: Number of samples, ``>= 0``.
        generator: Source of randomness (on the CPU or on ``centres.device``).

    Returns:
        ``x`` of shape ``(n, D)`` (dtype and device of `centres`) and ``labels`` of
        shape ``(n,)`` int64, with ``x[i] ~ N(centres[labels[i]], std^2 I)``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, labels = sample_mixture_with_labels(ring8_centres(), 0.0, 3, g)
        >>> torch.equal(x, ring8_centres()[labels])
        True
    """
    if centres.ndim != 2 or centres.shape[0] == 0:
        raise ValueError(f"centres must have shape (K, D) with K >= 1, got {tuple(centres.shape)}.")
    check_int("n", n, minimum=0)
    if not std >= 0:  # also rejects NaN
        raise ValueError(f"std must be >= 0, got {std!r}.")
    # Draw on the generator's device, then move: results do not depend on where centres live.
    labels = torch.randint(centres.shape[0], (n,), generator=generator, device=generator.device)
    noise = torch.randn(n, centres.shape[1], generator=generator, device=generator.device, dtype=centres.dtype)
    labels = labels.to(centres.device)
    x = centres[labels] + std * noise.to(centres.device)  # (n, D)
    return x, labels


def sample_mixture(centres: Tensor, std: float, n: int, generator: torch.Generator) -> Tensor:
    """Draw `n` fresh samples from the equal-weight Gaussian mixture on `centres`.

    Args:
        centres: ``(K, D)`` component means.
        std: Standard deviation of every component.
        n: Number of samples.
        generator: Source of randomness; the same seed gives the same samples.

    Returns:
        ``(n, D)`` samples with the dtype and device of `centres`.

    Example:
        >>> x = sample_mixture(grid25_centres(), GRID25_STD, 1000, torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([1000, 2])
    """
    return sample_mixture_with_labels(centres, std, n, generator)[0]


def _split_seed(seed: int, split: str) -> int:
    # Distinct, deterministic streams for the two splits of every seed (injective map).
    return 2 * seed + (0 if split == "train" else 1)


def load_mixture(name: str, split: str = "train", *, seed: int = 0, size: int | None = None) -> DataSet:
    """Sample ``ring8`` or ``grid25``.

    Args:
        name: ``"ring8"`` or ``"grid25"``.
        split: ``"train"`` or ``"test"``; they use different random streams.
        seed: Seed, ``>= 0``; the split's generator is seeded with ``2*seed`` (train)
            or ``2*seed + 1`` (test).
        size: Number of samples; default 100,000 for train and 10,000 for test.

    Returns:
        A ``"points"`` `DataSet` with ``y`` = component index, and `centres`/`std` set.

    Example:
        >>> data = load_mixture("ring8", "test", size=500)
        >>> data.x.shape, data.centres.shape, data.std
        (torch.Size([500, 2]), torch.Size([8, 2]), 0.01)
    """
    if name == "ring8":
        centres, std = ring8_centres(), RING8_STD
    elif name == "grid25":
        centres, std = grid25_centres(), GRID25_STD
    else:
        raise ValueError(f"name must be 'ring8' or 'grid25', got {name!r}.")
    if split not in DEFAULT_SIZES:
        raise ValueError(f"split must be one of {tuple(DEFAULT_SIZES)}, got {split!r}.")
    n = DEFAULT_SIZES[split] if size is None else size
    check_int("size", n, minimum=1, hint=" Hint: or None for the default size.")
    generator = torch.Generator().manual_seed(_split_seed(seed, split))
    x, labels = sample_mixture_with_labels(centres, std, n, generator)
    return DataSet(name=name, kind="points", x=x, y=labels, centres=centres, std=std)
