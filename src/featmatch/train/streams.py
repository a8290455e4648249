"""A rank's random streams in training: its data order (a seeded batch stream) and its noise.

Both are seeded from the run's seed and the rank (:func:`featmatch.train.seeds.derive_seed`), and
a checkpoint records where they are (:meth:`RandomStreams.state`), so a resumed run draws the
same batches and noise as an uninterrupted one.

Example:
    >>> from featmatch.data import load_dataset
    >>> data = load_dataset("ring8", size=64)
    >>> streams = RandomStreams(data, batch_size=16, device=torch.device("cpu"), seed=0)
    >>> streams.next_batch().shape, streams.batches_drawn
    (torch.Size([16, 2]), 1)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch

from featmatch.data import DataSet, batches
from featmatch.train import checkpoint as ckpt
from featmatch.train.seeds import STREAM_DATA, STREAM_NOISE, derive_seed

__all__ = ["RandomStreams", "fitted_batch_size"]

log = logging.getLogger("featmatch")


def fitted_batch_size(batch_size: int, samples: int, world_size: int = 1) -> int:
    """``batch_size``, or this process's share of ``samples`` when that is smaller (a user's small
    data set: a batch is all of it), logged.

    Example:
        >>> fitted_batch_size(64, 1000), fitted_batch_size(64, 40), fitted_batch_size(64, 40, world_size=2)
        (64, 40, 20)
    """
    smallest_shard = samples // world_size
    if batch_size > smallest_shard >= 1:
        log.info(
            "data.batch_size=%d is larger than the %d training samples%s; lowered to %d",
            batch_size,
            smallest_shard,
            f" of each of {world_size} processes" if world_size > 1 else "",
            smallest_shard,
        )
        return smallest_shard
    return batch_size


class RandomStreams:
    """This rank's batch stream over ``data`` and noise generator.

    Args:
        data: this run's training data.
        batch_size: examples per batch per process.
        device: where the noise is drawn.
        seed: the seed the streams start from.
        rank, world_size: this process's shard of every batch.
        labels: the batches are ``(x, y)`` rather than ``x``.

    Attributes:
        data_seed, data_gen: the seed and generator of the data order.
        batches_drawn: batches drawn since the data order was (re)started.
        noise: the noise generator (on ``device``).
    """

    def __init__(
        self,
        data: DataSet,
        batch_size: int,
        device: torch.device,
        seed: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        labels: bool = False,
    ) -> None:
        self.data = data
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.labels = labels
        self.noise = torch.Generator(device=device)
        self.seed(seed)

    def seed(self, seed: int) -> None:
        """(Re)start the data order and the noise from ``seed``."""
        self.data_seed = derive_seed(seed, STREAM_DATA, self.rank)
        self.data_gen = torch.Generator().manual_seed(self.data_seed)
        self.batches_drawn = 0
        self._batches = self._new_batches()
        self.noise.manual_seed(derive_seed(seed, STREAM_NOISE, self.rank))

    def _new_batches(self) -> Iterator[Any]:
        return batches(
            self.data,
            self.batch_size,
            self.data_gen,
            rank=self.rank,
            world_size=self.world_size,
            labels=self.labels,
        )

    def next_batch(self) -> Any:
        """The next batch of this rank's shard."""
        self.batches_drawn += 1
        return next(self._batches)

    def state(self, device: torch.device) -> dict[str, Any]:
        """Where the streams are, and the global random state of ``device`` (a checkpoint's ``ranks`` entry)."""
        return {
            "rng": ckpt.get_rng_state(device),
            "noise": self.noise.get_state().cpu(),
            "data_seed": self.data_seed,
            "batches_drawn": self.batches_drawn,
            "data_state": self.data_gen.get_state(),
        }

    def restore_rank(
        self,
        ranks: list[dict[str, Any]],
        device: torch.device,
        *,
        next_batch: Callable[[], Any],
        fresh_seed: int,
        path: object = "<state>",
    ) -> None:
        """Continue from a checkpoint's ``ranks`` (every process's :meth:`state`): this rank's, or fresh
        streams from ``fresh_seed`` when the checkpoint was written by another number of processes."""
        if len(ranks) == self.world_size:
            self.restore(ranks[self.rank], device, next_batch=next_batch)
            return
        log.warning(
            "checkpoint %s was written by %d process(es), this run has %d: training resumes "
            "from its weights and optimiser state with fresh random streams (not bit-exact).",
            path,
            len(ranks),
            self.world_size,
        )
        self.fresh(fresh_seed)

    def restore(self, state: dict[str, Any], device: torch.device, *, next_batch: Callable[[], Any]) -> None:
        """Continue from a :meth:`state`: the global random state, the noise, and the data order
        replayed to the same position by calling ``next_batch`` (the driver's, which draws from here)."""
        ckpt.set_rng_state(state["rng"], device)
        self.noise.set_state(state["noise"].to(self.noise.get_state().device))
        # The batch stream cuts epochs from permutations: replay it to the same position.
        self.data_gen = torch.Generator().manual_seed(int(state["data_seed"]))
        self.data_seed = int(state["data_seed"])
        self._batches = self._new_batches()
        self.batches_drawn = 0
        for _ in range(int(state["batches_drawn"])):
            next_batch()
        if not torch.equal(self.data_gen.get_state(), state["data_state"]):
            log.warning(
                "the data stream after replaying %d batches differs from the checkpoint's; "
                "the data changed since the run was saved, so batches will differ.",
                self.batches_drawn,
            )

    def fresh(self, seed: int) -> None:
        """New noise and data order from ``seed`` without restarting the batch count (a checkpoint
        of another number of processes: not bit-exact)."""
        self.noise.manual_seed(derive_seed(seed, STREAM_NOISE, self.rank))
        self.data_gen.manual_seed(derive_seed(seed, STREAM_DATA, self.rank))
        self._batches = self._new_batches()
