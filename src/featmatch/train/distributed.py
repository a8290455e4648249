"""Device choice and PyTorch DDP plumbing for ``torchrun --nproc_per_node=K -m featmatch train``.

Conventions (documented in the CLI help too):

- ``--batch-size`` is *per process*: K processes with batch b train on a global batch of K*b.
- Every rank reads its own shard of the data (``featmatch.data.batches(..., rank, world_size)``)
  and draws its own noise; rank 0 alone writes files.
- Both G and D are wrapped in ``DistributedDataParallel``. The generator step runs the
  discriminator through the *unwrapped* module (the one passed to :func:`wrap_ddp`) with its parameters frozen:
  no DDP hooks fire, so D's gradients are not synchronised (there are none) and DDP does not
  wait for D gradients that never come in the generator's backward.
- Batch-statistic feature matching (``statistic="mean"``/``"mean_std"``) uses the loss's
  ``sync_statistics=True``: a differentiable all-reduce, so K processes match one process
  with the whole global batch.

Example:
    >>> ctx = DistContext()
    >>> ctx.is_main, ctx.world_size
    (True, 1)
    >>> select_device("cpu").type
    'cpu'
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "DistContext",
    "all_gather_objects",
    "any_rank",
    "barrier",
    "broadcast_object",
    "cleanup_distributed",
    "init_distributed",
    "select_device",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in a (possibly one-process) job.

    Attributes:
        rank: global rank (0 = the one that writes files).
        world_size: number of processes.
        local_rank: rank on this machine (picks the CUDA device).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when more than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the rank that writes files and shows progress."""
        return self.rank == 0


def select_device(requested: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> cuda (this rank's GPU), then mps, then cpu; otherwise the named device.

    Raises:
        ValueError: a named device is not available here (naming it and what is).
    """
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {requested!r} was requested but CUDA is not available. "
                "Hint: use --device cpu or --device auto."
            )
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r} was requested but MPS is not available. Hint: use --device cpu.")
    return device


def init_distributed(requested_device: str = "auto") -> tuple[DistContext, torch.device]:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1).

    Uses NCCL on CUDA and Gloo otherwise; a single process gets ``DistContext()`` and no group.

    Returns:
        ``(context, device)``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(requested_device, local_rank)
    if world_size <= 1:
        return DistContext(), device
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed.")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=10))
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank), device


def cleanup_distributed(ctx: DistContext) -> None:
    """Leave the process group (after a final barrier)."""
    if ctx.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, ctx: DistContext, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(module)`` under DDP, else ``module`` unchanged."""
    if not ctx.enabled:
        return module
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op on one process)."""
    if ctx.enabled:
        dist.barrier()


def broadcast_object(obj: Any, ctx: DistContext) -> Any:
    """Rank 0's ``obj`` on every rank (for small Python values: a run directory, a flag)."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` on one process)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank when ``flag`` is True on any rank (e.g. "stop now")."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
