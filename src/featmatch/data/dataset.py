"""The `DataSet` container, sharding across ranks, and the infinite random batch iterator.

Every loader in `featmatch.data` returns a `DataSet`; the trainer only needs `x` (and
`y` for class-aware metrics), `kind` to pick a model family, and `batches` to draw data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal, overload

import torch
from torch import Tensor

from featmatch._checks import check_int

KINDS: tuple[str, ...] = ("points", "image", "sequence")

#: The splits every loader in `featmatch.data` takes.
SPLITS: tuple[str, ...] = ("train", "test")

# Number of dimensions of `x` (batch dimension included) for each kind.
_KIND_NDIM = {"points": 2, "image": 4, "sequence": 3}
_KIND_LAYOUT = {"points": "(N, D)", "image": "(N, C, H, W)", "sequence": "(N, C, T)"}


@dataclass(frozen=True, eq=False)
class DataSet:
    """A whole split of a data set, held in memory.

    `eq=False`: two data sets compare by identity, since comparing tensors element-wise
    has no single truth value.

    Attributes:
        name: The built-in name (e.g. ``"digits"``) or the path the data came from.
        kind: ``"points"`` for ``(N, D)``, ``"image"`` for ``(N, C, H, W)``,
            ``"sequence"`` for ``(N, C, T)``.
        x: float32 samples. Built-in images and sequences lie in ``[-1, 1]``.
        y: ``(N,)`` int64 class labels ``0 .. K-1``, or None. For the Gaussian
            mixtures, the index of the component each sample was drawn from.
        centres: ``(K, 2)`` mixture centres (``ring8``, ``grid25``), else None.
        std: Standard deviation of each mixture component, else None.

    Example:
        >>> data = DataSet("tiny", "points", torch.zeros(4, 2))
        >>> len(data), data.sample_shape, data.num_classes
        (4, (2,), None)
    """

    name: str
    kind: str
    x: Tensor
    y: Tensor | None = None
    centres: Tensor | None = None
    std: float | None = None

    def __post_init__(self) -> None:
        # Fail at construction, where the mistake is, not steps later inside a model.
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        if not isinstance(self.x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(self.x).__name__}.")
        expected_ndim = _KIND_NDIM[self.kind]
        if self.x.ndim != expected_ndim:
            raise ValueError(
                f"x of kind {self.kind!r} must have shape {_KIND_LAYOUT[self.kind]} "
                f"({expected_ndim} dims), got shape {tuple(self.x.shape)}."
            )
        if self.x.dtype != torch.float32:
            raise ValueError(
                f"x must be float32, got {self.x.dtype}. Hint: pass x.float()."
            )
        if self.y is not None:
            if not isinstance(self.y, Tensor) or self.y.dtype != torch.int64:
                raise ValueError(
                    f"y must be an int64 tensor or None, got "
                    f"{getattr(self.y, 'dtype', type(self.y).__name__)}. Hint: pass y.long()."
                )
            if tuple(self.y.shape) != (self.x.shape[0],):
                raise ValueError(
                    f"y must have shape ({self.x.shape[0]},) to match x, "
                    f"got {tuple(self.y.shape)}."
                )
            if self.y.numel() and int(self.y.min()) < 0:
                raise ValueError(f"y must hold labels >= 0, found {int(self.y.min())}.")
        if self.centres is not None and (self.centres.ndim != 2 or self.centres.shape[1] != 2):
            raise ValueError(
                f"centres must have shape (K, 2), got {tuple(self.centres.shape)}."
            )

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``x.shape[1:]``."""
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int | None:
        """Number of classes (largest label + 1), or None without labels."""
        if self.y is None or self.y.numel() == 0:
            return None
        return int(self.y.max()) + 1

    def __len__(self) -> int:
        return int(self.x.shape[0])


def subset(data: DataSet, size: int | None, seed: int) -> DataSet:
    """A random subset of `size` samples, chosen reproducibly from `seed`.

    Used by the loaders for their `size` argument on fixed data sets. The chosen samples
    keep their original order.

    Args:
        data: The data set to draw from.
        size: Number of samples to keep, ``1 <= size <= len(data)``; None keeps all.
        seed: Seed of the choice; the same seed gives the same subset.

    Returns:
        `data` itself if `size` is None, else a new `DataSet` of `size` samples.

    Raises:
        ValueError: If `size` is out of range.

    Example:
        >>> small = subset(DataSet("t", "points", torch.randn(10, 2)), 3, seed=0)
        >>> len(small)
        3
    """
    if size is None:
        return data
    check_int(
        "size", size, minimum=1, maximum=len(data),
        hint=f" ({data.name!r} has {len(data)} samples.) Hint: pass size=None for all.",
    )
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(data), generator=generator)[:size].sort().values
    y = None if data.y is None else data.y[keep.to(data.y.device)]
    return replace(data, x=data.x[keep.to(data.x.device)], y=y)


def _check_rank(rank: int, world_size: int) -> None:
    check_int("world_size", world_size, minimum=1)
    check_int("rank", rank, minimum=0, maximum=world_size - 1, hint=f" (world_size={world_size})")


def shard(data: DataSet, rank: int, world_size: int) -> DataSet:
    """This rank's share of `data`: every `world_size`-th sample, starting at `rank`.

    Shards are disjoint and together hold every sample once; their sizes differ by at
    most one.

    Args:
        data: The full data set.
        rank: Index of this process, ``0 <= rank < world_size``.
        world_size: Number of processes.

    Returns:
        A `DataSet` with ``x[rank::world_size]`` (and the matching labels).

    Raises:
        ValueError: If `rank`/`world_size` are out of range, or the shard is empty.

    Example:
        >>> part = shard(DataSet("t", "points", torch.arange(10.0).view(5, 2)), 1, 2)
        >>> part.x[:, 0].tolist()
        [2.0, 6.0]
    """
    _check_rank(rank, world_size)
    if world_size == 1:
        return data
    if len(data) < world_size:
        raise ValueError(
            f"data set {data.name!r} has {len(data)} samples, fewer than world_size="
            f"{world_size}: rank {rank} would get none. Hint: use fewer processes."
        )
    y = None if data.y is None else data.y[rank::world_size]
    return replace(data, x=data.x[rank::world_size], y=y)


@overload
def batches(
    data: DataSet,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
    labels: Literal[False] = False,
) -> Iterator[Tensor]: ...


@overload
def batches(
    data: DataSet,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
    labels: Literal[True],
) -> Iterator[tuple[Tensor, Tensor]]: ...


def batches(
    data: DataSet,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
    labels: bool = False,
) -> Iterator[Tensor] | Iterator[tuple[Tensor, Tensor]]:
    """Endless random batches from this rank's shard, reproducible under `generator`.

    Sampling is by epochs without replacement: each pass draws a fresh permutation of
    the shard from `generator` and cuts it into full batches; the incomplete remainder
    of a pass is dropped (so every batch has exactly `batch_size` samples).

    Args:
        data: The data set; the iterator reads ``shard(data, rank, world_size)``.
        batch_size: Samples per batch, ``1 <= batch_size <= len(shard)``.
        generator: A CPU `torch.Generator`; the same seed gives the same batches.
        rank: Index of this process (see `shard`).
        world_size: Number of processes.
        labels: If True, yield ``(x, y)`` pairs instead of ``x`` alone.

    Returns:
        An infinite iterator of ``(batch_size, *data.sample_shape)`` tensors on the
        device of ``data.x`` (or ``(x, y)`` pairs when `labels` is True).

    Raises:
        ValueError: If `batch_size` does not fit the shard, or `labels` is True for a
            data set without labels.

    Example:
        >>> data = DataSet("t", "points", torch.randn(100, 2))
        >>> it = batches(data, 32, torch.Generator().manual_seed(0))
        >>> next(it).shape
        torch.Size([32, 2])
    """
    part = shard(data, rank, world_size)
    check_int("batch_size", batch_size, minimum=1)
    if batch_size > len(part):
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(part)} samples of "
            f"{data.name!r} on rank {rank} of {world_size}. Hint: use batch_size <= {len(part)}."
        )
    if labels and part.y is None:
        raise ValueError(f"labels=True but data set {data.name!r} has no labels (y is None).")
    # Validate eagerly (above), iterate lazily (below): errors surface at the call.
    return _batch_stream(part, batch_size, generator, labels)


def _batch_stream(
    part: DataSet, batch_size: int, generator: torch.Generator, labels: bool
) -> Iterator[Any]:
    n = len(part)
    while True:
        order = torch.randperm(n, generator=generator).to(part.x.device)
        for start in range(0, n - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            xb = part.x.index_select(0, index)  # (B, *sample_shape)
            if labels:
                assert part.y is not None
                yield xb, part.y.index_select(0, index.to(part.y.device))
            else:
                yield xb
