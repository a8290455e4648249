"""A paired L1/MSE distance that computes its gradient in the same pass as its value.

Autograd's way, ``(fake - real).abs().mean()``, reads the features in the forward pass, keeps
the difference, and reads it again in the backward pass to build the gradient. For large
feature maps (pix2pixHD: about 50 MB per generator step) the loss is bound by memory traffic,
so this function walks each layer once in cache-sized chunks, accumulating the value and writing
the unscaled gradient (``sign(d)`` or ``d``); the backward pass only scales it in place.

The price: the gradient buffer is consumed by the first backward pass, so backpropagating twice
through the same loss (``retain_graph=True``) raises an error, and there is no double backward.
``feature_matching_loss(..., fused=False)`` takes autograd's path when either is needed.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["FUSED_DISTANCES", "fused_paired_distances"]

FUSED_DISTANCES = ("l1", "mse")

# 64k float32 elements = 256 KiB per chunk: the chunk of the difference stays in a core's L2 cache
# between computing it, reducing it and turning it into the gradient.
_CPU_CHUNK = 1 << 16


def _walk_layer(fake: Tensor, real: Tensor, distance: str, grad_out: Tensor) -> Tensor:
    """Return sum of the pointwise distance over all elements; write its unscaled gradient.

    ``grad_out`` receives ``sign(fake - real)`` (l1) or ``fake - real`` (mse; the factor 2 is
    applied in backward). Computed in float32 whatever the storage dtype.
    """
    fake_flat = fake.reshape(-1)
    real_flat = real.reshape(-1)
    grad_flat = grad_out.view(-1)
    numel = fake_flat.numel()
    chunk = _CPU_CHUNK if fake.device.type == "cpu" else max(numel, 1)
    total = torch.zeros((), dtype=torch.float32, device=fake.device)
    low_precision = fake.dtype != torch.float32 or real.dtype != torch.float32
    scratch = None
    if low_precision:
        scratch = torch.empty(min(chunk, numel), dtype=torch.float32, device=fake.device)
    for start in range(0, numel, chunk):
        stop = min(start + chunk, numel)
        if scratch is None:
            diff = grad_flat[start:stop]
            torch.sub(fake_flat[start:stop], real_flat[start:stop], out=diff)
        else:
            diff = scratch[: stop - start]
            torch.sub(fake_flat[start:stop].float(), real_flat[start:stop].float(), out=diff)
        if distance == "l1":
            total += torch.linalg.vector_norm(diff, ord=1)
            diff.sign_()
        else:  # mse
            total += torch.dot(diff, diff)
        if scratch is not None:
            grad_flat[start:stop].copy_(diff)
    return total


class _FusedPairedDistance(torch.autograd.Function):
    @staticmethod
    def forward(ctx, distance: str, *tensors: Tensor) -> Tensor:  # type: ignore[override]
        half = len(tensors) // 2
        fakes, reals = tensors[:half], tensors[half:]
        values = []
        grads = []
        for fake, real in zip(fakes, reals, strict=True):
            fake = fake.contiguous()
            real = real.contiguous()
            grad = torch.empty_like(fake, memory_format=torch.contiguous_format)
            total = _walk_layer(fake, real, distance, grad)
            values.append(total / max(fake.numel(), 1))
            grads.append(grad)
        ctx.distance = distance
        ctx.grads = grads
        ctx.needs = [ctx.needs_input_grad[1 + i] for i in range(half)]
        ctx.num_reals = half
        return torch.stack(values)  # (L,) float32

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_values: Tensor):  # type: ignore[override]
        if ctx.grads is None:
            raise RuntimeError(
                "featmatch's fused feature-matching loss was backpropagated twice; its gradient "
                "buffer is consumed by the first backward pass. Hint: pass fused=False to "
                "feature_matching_loss / FeatureMatchingLoss when you need retain_graph=True."
            )
        grads = ctx.grads
        ctx.grads = None
        factor = 2.0 if ctx.distance == "mse" else 1.0
        out = []
        for index, (grad, needed) in enumerate(zip(grads, ctx.needs, strict=True)):
            if not needed:
                out.append(None)
                continue
            scale = grad_values[index] * (factor / max(grad.numel(), 1))
            out.append(grad.mul_(scale.to(grad.dtype)))
        return (None, *out, *([None] * ctx.num_reals))


def fused_paired_distances(fakes: list[Tensor], reals: list[Tensor], distance: str) -> Tensor:
    """Per-layer mean paired distance, shape ``(L,)`` float32, differentiable w.r.t. ``fakes``.

    Example:
        >>> f = torch.tensor([1.0, 3.0], requires_grad=True)
        >>> fused_paired_distances([f], [torch.zeros(2)], "l1")
        tensor([2.], grad_fn=<_FusedPairedDistanceBackward>)
    """
    return _FusedPairedDistance.apply(distance, *fakes, *[r.detach() for r in reals])
