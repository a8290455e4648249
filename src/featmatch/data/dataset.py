"""The `DataSet` and `PairedDataSet` containers, sharding across ranks, and the infinite random batch iterator.

Every unpaired loader in `featmatch.data` returns a `DataSet`; the trainer only needs `x`
(and `y` for class-aware metrics), `kind` to pick a model family, and `batches` to draw
data. The paired loader (`featmatch.data.paired`) returns a `PairedDataSet` of
(condition, target) pairs, which `subset`, `shard` and `batches` take alike: they choose
the same rows as for a `DataSet` of the same length, and keep every pair together.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar, overload

import torch
from torch import Tensor

from featmatch._checks import check_int

KINDS: tuple[str, ...] = ("points", "image", "sequence")

#: The splits every loader in `featmatch.data` takes.
SPLITS: tuple[str, ...] = ("train", "test")

# Number of dimensions of `x` (batch dimension included) for each kind.
_KIND_NDIM = {"points": 2, "image": 4, "sequence": 3}
_KIND_LAYOUT = {"points": "(N, D)", "image": "(N, C, H, W)", "sequence": "(N, C, T)"}


def _check_kind_and_tensor(kind: str, tensor: object, what: str, kind_field: str) -> None:
    """Check one samples tensor against its kind; `what` and `kind_field` name them in messages."""
    if kind not in KINDS:
        raise ValueError(f"{kind_field} must be one of {KINDS}, got {kind!r}.")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(tensor).__name__}.")
    expected_ndim = _KIND_NDIM[kind]
    if tensor.ndim != expected_ndim:
        raise ValueError(
            f"{what} of kind {kind!r} must have shape {_KIND_LAYOUT[kind]} "
            f"({expected_ndim} dims), got shape {tuple(tensor.shape)}."
        )
    if tensor.dtype != torch.float32:
        raise ValueError(f"{what} must be float32, got {tensor.dtype}. Hint: pass {what}.float().")


def check_split_and_seed(split: str, seed: int) -> None:
    """What every data loader checks first: a known split and a seed ``>= 0``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    check_int("seed", seed, minimum=0)


def reject_options(name: str, options: Mapping[str, Any], what: str, applies_to: str) -> None:
    """Built-in data sets take no loader options; ``None`` means an option's default."""
    given = sorted(k for k, v in options.items() if v is not None)
    if given:
        raise ValueError(f"{what} {name!r} takes no options, got {given}. {applies_to}")


def _num_classes(y: Tensor | None) -> int | None:
    """Largest label + 1, or None without labels (what both data set kinds report)."""
    if y is None or y.numel() == 0:
        return None
    return int(y.max()) + 1


def _check_labels(y: object, n: int, against: str) -> None:
    if y is None:
        return
    if not isinstance(y, Tensor) or y.dtype != torch.int64:
        raise ValueError(
            f"y must be an int64 tensor or None, got {getattr(y, 'dtype', type(y).__name__)}. Hint: pass y.long()."
        )
    if tuple(y.shape) != (n,):
        raise ValueError(f"y must have shape ({n},) to match {against}, got {tuple(y.shape)}.")
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"y must hold labels >= 0, found {int(y.min())}.")


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
        _check_kind_and_tensor(self.kind, self.x, "x", "kind")
        _check_labels(self.y, self.x.shape[0], "x")
        if self.centres is not None and (self.centres.ndim != 2 or self.centres.shape[1] != 2):
            raise ValueError(f"centres must have shape (K, 2), got {tuple(self.centres.shape)}.")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``x.shape[1:]``."""
        return tuple(self.x.shape[1:])

    @property
    def num_classes(self) -> int | None:
        """Number of classes (largest label + 1), or None without labels."""
        return _num_classes(self.y)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def _take(self, index: Tensor) -> DataSet:
        """The samples at `index` (a 1-D int64 tensor), labels kept with them."""
        y = None if self.y is None else self.y[index.to(self.y.device)]
        return replace(self, x=self.x[index.to(self.x.device)], y=y)

    def _batch(self, index: Tensor, labels: bool) -> Any:
        xb = self.x.index_select(0, index.to(self.x.device))  # (B, *sample_shape)
        if labels:
            assert self.y is not None
            return xb, self.y.index_select(0, index.to(self.y.device))
        return xb


@dataclass(frozen=True, eq=False)
class PairedDataSet:
    """A whole split of a paired data set, held in memory: row i of `condition` goes with row i of `target`.

    The container of conditional tasks (image-to-image, sequence completion): a generator
    maps a condition to a target, and paired feature matching compares the generated
    target of pair i with the real target of pair i. Like `DataSet`: frozen, compared by
    identity, checked at construction; `subset`, `shard` and `batches` take it too.

    Attributes:
        name: The built-in name (e.g. ``"digits-superres"``) or the path the data came from.
        condition: float32 conditions, ``(N, *condition_shape)``.
        target: float32 targets, ``(N, *target_shape)``; built-in targets lie in ``[-1, 1]``.
        condition_kind: The kind of `condition` (``"points"``, ``"image"``, ``"sequence"``,
            as `DataSet.kind`).
        target_kind: The kind of `target`.
        y: ``(N,)`` int64 class labels of the pairs, or None.

    Example:
        >>> pairs = PairedDataSet("t", torch.zeros(4, 1, 4, 4), torch.zeros(4, 1, 8, 8), "image", "image")
        >>> len(pairs), pairs.condition_shape, pairs.target_shape
        (4, (1, 4, 4), (1, 8, 8))
    """

    name: str
    condition: Tensor
    target: Tensor
    condition_kind: str
    target_kind: str
    y: Tensor | None = None

    def __post_init__(self) -> None:
        _check_kind_and_tensor(self.condition_kind, self.condition, "condition", "condition_kind")
        _check_kind_and_tensor(self.target_kind, self.target, "target", "target_kind")
        n_condition, n_target = self.condition.shape[0], self.target.shape[0]
        if n_condition != n_target:
            raise ValueError(
                f"paired data set {self.name!r} has {n_condition} conditions but {n_target} "
                f"targets; each condition needs exactly one target (the same N on both sides)."
            )
        _check_labels(self.y, n_target, "the pairs")

    @property
    def condition_shape(self) -> tuple[int, ...]:
        """Shape of one condition: ``condition.shape[1:]``."""
        return tuple(self.condition.shape[1:])

    @property
    def target_shape(self) -> tuple[int, ...]:
        """Shape of one target: ``target.shape[1:]`` (what the generator produces)."""
        return tuple(self.target.shape[1:])

    @property
    def num_classes(self) -> int | None:
        """Number of classes (largest label + 1), or None without labels."""
        return _num_classes(self.y)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def target_set(self) -> DataSet:
        """The targets (with the labels) as a `DataSet`, for metrics such as Frechet distance.

        Example:
            >>> PairedDataSet("t", torch.zeros(2, 3), torch.zeros(2, 1, 5), "points", "sequence").target_set().kind
            'sequence'
        """
        return DataSet(name=self.name, kind=self.target_kind, x=self.target, y=self.y)

    def condition_set(self) -> DataSet:
        """The conditions (with the labels) as a `DataSet`."""
        return DataSet(name=self.name, kind=self.condition_kind, x=self.condition, y=self.y)

    def to(self, device: torch.device | str) -> PairedDataSet:
        """The same pairs with every tensor on `device` (labels included)."""
        y = None if self.y is None else self.y.to(device)
        return replace(self, condition=self.condition.to(device), target=self.target.to(device), y=y)

    def _take(self, index: Tensor) -> PairedDataSet:
        y = None if self.y is None else self.y[index.to(self.y.device)]
        return replace(
            self,
            condition=self.condition[index.to(self.condition.device)],
            target=self.target[index.to(self.target.device)],
            y=y,
        )

    def _batch(self, index: Tensor, labels: bool) -> Any:
        cb = self.condition.index_select(0, index.to(self.condition.device))  # (B, *condition_shape)
        tb = self.target.index_select(0, index.to(self.target.device))  # (B, *target_shape)
        if labels:
            assert self.y is not None
            return cb, tb, self.y.index_select(0, index.to(self.y.device))
        return cb, tb


#: What `subset`, `shard` and `batches` take.
AnyDataSet = DataSet | PairedDataSet
_D = TypeVar("_D", DataSet, PairedDataSet)


def subset(data: _D, size: int | None, seed: int) -> _D:
    """A random subset of `size` samples, chosen reproducibly from `seed`.

    Used by the loaders for their `size` argument on fixed data sets. The chosen samples
    keep their original order. A `PairedDataSet` keeps the same rows as a `DataSet` of its
    length would, each pair whole.

    Args:
        data: The data set (or paired data set) to draw from.
        size: Number of samples to keep, ``1 <= size <= len(data)``; None keeps all.
        seed: Seed of the choice; the same seed gives the same subset.

    Returns:
        `data` itself if `size` is None, else a new data set of the same type with `size` samples.

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
        "size",
        size,
        minimum=1,
        maximum=len(data),
        hint=f" ({data.name!r} has {len(data)} samples.) Hint: pass size=None for all.",
    )
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(data), generator=generator)[:size].sort().values
    return data._take(keep)


def _check_rank(rank: int, world_size: int) -> None:
    check_int("world_size", world_size, minimum=1)
    check_int("rank", rank, minimum=0, maximum=world_size - 1, hint=f" (world_size={world_size})")


def shard(data: _D, rank: int, world_size: int) -> _D:
    """This rank's share of `data`: every `world_size`-th sample, starting at `rank`.

    Shards are disjoint and together hold every sample once; their sizes differ by at
    most one.

    Args:
        data: The full data set (or paired data set: pairs stay whole).
        rank: Index of this process, ``0 <= rank < world_size``.
        world_size: Number of processes.

    Returns:
        A data set of the same type with rows ``rank::world_size`` (and the matching labels).

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
    return data._take(torch.arange(rank, len(data), world_size))


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


@overload
def batches(
    data: PairedDataSet,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
    labels: Literal[False] = False,
) -> Iterator[tuple[Tensor, Tensor]]: ...


@overload
def batches(
    data: PairedDataSet,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
    labels: Literal[True],
) -> Iterator[tuple[Tensor, Tensor, Tensor]]: ...


@overload
def batches(  # labels known only at run time (a task's batch_labels)
    data: _D,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
    labels: bool = False,
) -> Iterator[Any]: ...


def batches(
    data: _D,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
    labels: bool = False,
) -> Iterator[Any]:
    """Endless random batches from this rank's shard, reproducible under `generator`.

    Sampling is by epochs without replacement: each pass draws a fresh permutation of
    the shard from `generator` and cuts it into full batches; the incomplete remainder
    of a pass is dropped (so every batch has exactly `batch_size` samples). A
    `PairedDataSet` yields ``(condition, target)`` batches of the rows a `DataSet` of the
    same length would give under the same generator, rank and world size.

    Args:
        data: The data set or paired data set; the iterator reads ``shard(data, rank, world_size)``.
        batch_size: Samples per batch, ``1 <= batch_size <= len(shard)``.
        generator: A CPU `torch.Generator`; the same seed gives the same batches.
        rank: Index of this process (see `shard`).
        world_size: Number of processes.
        labels: If True, also yield the labels: ``(x, y)`` for a `DataSet`,
            ``(condition, target, y)`` for a `PairedDataSet`.

    Returns:
        An infinite iterator of ``(batch_size, *data.sample_shape)`` tensors on the
        device of ``data.x`` (or ``(x, y)`` pairs when `labels` is True); for a
        `PairedDataSet`, ``(condition, target)`` tuples (``(condition, target, y)`` with
        `labels`).

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


def _batch_stream(part: AnyDataSet, batch_size: int, generator: torch.Generator, labels: bool) -> Iterator[Any]:
    n = len(part)
    # One transfer per pass, not per batch (the generator lives on the CPU).
    device = (part.x if isinstance(part, DataSet) else part.target).device
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield part._batch(order[start : start + batch_size], labels)
