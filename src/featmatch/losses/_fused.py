"""A paired L1/MSE feature-matching loss that writes its gradient in the same pass as its value.

Autograd's way, ``(fake - real).abs().mean()`` per layer, reads the features in the forward
pass, keeps the difference, and reads it again in the backward pass to build the gradient, then
scales it once per weight on the way back. For large feature maps (pix2pixHD: about 50 MB per
generator step) the loss is bound by memory traffic, so this function walks each layer once in
cache-sized chunks: it accumulates the value and writes the final, fully weighted gradient. The
buffer is saved with ``ctx.save_for_backward``, so autograd owns its lifetime. In the pass that
frees the graph (``loss.backward()``) the buffer is handed over as it is when the loss is
backpropagated with gradient 1 (also as part of a sum), and scaled in place otherwise; autograd
frees its saved reference first, so a leaf's ``.grad`` takes the buffer over without a copy. In a
pass that keeps the graph (``retain_graph=True``) every pass hands out a copy (scaled if needed)
and the buffer stays as written, so the next pass gives the same gradient again, whatever the
caller did to the copy it got.

There is no double backward (``create_graph=True`` through this loss):
``feature_matching_loss(..., fused=False)`` takes autograd's path when it is needed.

The same file holds the batch sum of random Fourier features (``statistic="rff"``), which
keeps ``cos`` and ``sin`` of the projection for its backward pass: autograd's way evaluates
both again there and builds the ``(N, 2K)`` feature matrix of every sample only to average it.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["FUSED_DISTANCES", "fourier_feature_sum", "fused_feature_matching"]

FUSED_DISTANCES = ("l1", "mse")

# 256k elements = 1 MiB of float32 per chunk: the chunk's difference stays in a core's L2 cache
# between computing it, reducing it and turning it into the gradient.
_CPU_CHUNK = 1 << 18


def _walk_layer(
    fake: Tensor,
    real: Tensor,
    distance: str,
    scale: float | Tensor,
    grad_out: Tensor,
    compute_dtype: torch.dtype,
) -> Tensor:
    """Return the sum over elements of the pointwise distance; write ``scale * d(distance)/d(fake)``.

    Computed in ``compute_dtype`` (float32 for float32 and half-precision storage, float64 for
    float64). ``scale`` (a number, or a 0-dim tensor for the relative loss) already includes the
    ``1 / numel`` of the mean.
    """
    fake_flat = fake.reshape(-1)
    real_flat = real.reshape(-1)
    grad_flat = grad_out.view(-1)
    numel = fake_flat.numel()
    chunk = _CPU_CHUNK if fake.device.type == "cpu" else max(numel, 1)
    total = torch.zeros((), dtype=compute_dtype, device=fake.device)
    # A gradient stored in the compute dtype is written in place; half-precision ones go through
    # a buffer of the compute dtype.
    in_place = grad_out.dtype == compute_dtype
    scratch = torch.empty(min(chunk, numel), dtype=compute_dtype, device=fake.device)
    scratch_sign = None if in_place else torch.empty_like(scratch)
    if distance == "mse":
        scale = scale * 2.0
    for start in range(0, numel, chunk):
        stop = min(start + chunk, numel)
        f, r, g = fake_flat[start:stop], real_flat[start:stop], grad_flat[start:stop]
        if not in_place:
            f, r = f.to(compute_dtype), r.to(compute_dtype)
        if distance == "l1":
            diff = scratch[: stop - start]
            torch.sub(f, r, out=diff)
            sign = g if scratch_sign is None else scratch_sign[: stop - start]
            torch.sign(diff, out=sign)
            total += torch.dot(diff, sign)  # sum |d| = d . sign(d)
            result = sign.mul_(scale)
        else:  # mse
            diff = g if in_place else scratch[: stop - start]
            torch.sub(f, r, out=diff)
            total += torch.dot(diff, diff)
            result = diff.mul_(scale)
        if not in_place:
            g.copy_(result)
    return total


class _FusedFeatureMatching(torch.autograd.Function):
    @staticmethod
    def forward(ctx, distance: str, coefficients: list[float | Tensor], *tensors: Tensor):
        half = len(tensors) // 2
        fakes, reals = tensors[:half], tensors[half:]
        # As autograd's path: half precision is compared in float32, float64 stays float64.
        compute_dtype = torch.float32
        for t in tensors:
            compute_dtype = torch.promote_types(compute_dtype, t.dtype)
        values = []
        grads = []
        for index, (fake, real) in enumerate(zip(fakes, reals, strict=True)):
            fake = fake.contiguous()
            real = real.contiguous()
            numel = max(fake.numel(), 1)
            grad = torch.empty_like(fake, memory_format=torch.contiguous_format)
            scale = coefficients[index] / numel
            values.append(_walk_layer(fake, real, distance, scale, grad, compute_dtype) / numel)
            grads.append(grad)
        per_layer = torch.stack(values)  # (L,) mean distance of each layer
        loss = sum(v * c for v, c in zip(values, coefficients, strict=True))
        # Saved, not kept as an attribute: autograd frees the buffers with the graph (before the
        # gradient moves on, so a leaf's .grad can take a buffer over without a copy) or keeps
        # them for another backward pass under retain_graph=True; its version counter would
        # refuse a buffer changed in place in between. Nothing is kept for inputs without gradient.
        ctx.save_for_backward(*(grad if ctx.needs_input_grad[2 + i] else None for i, grad in enumerate(grads)))
        ctx.num_reals = half
        ctx.mark_non_differentiable(per_layer)
        return loss, per_layer

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss: Tensor, _grad_per_layer: Tensor):
        grads = ctx.saved_tensors
        # On CPU, skip a full pass over the gradients in the common case loss.backward().
        unit = grad_loss.device.type == "cpu" and bool(grad_loss == 1)
        if _graph_is_kept():
            # The buffers serve the next pass too: hand out copies, never the buffers themselves
            # (a caller may change what it gets, or get it again from the next pass).
            out = [
                None if grad is None else grad.clone() if unit else grad * grad_loss.to(grad.dtype) for grad in grads
            ]
        else:
            # The last pass: no earlier pass handed the buffers out, so they are ours to hand
            # over or to scale in place (a fresh tensor here would cost twice the time: its
            # pages are mapped on first touch).
            out = [None if grad is None else grad if unit else grad.mul_(grad_loss.to(grad.dtype)) for grad in grads]
        return (None, None, *out, *([None] * ctx.num_reals))


def _graph_is_kept() -> bool:
    """Whether the running backward pass keeps the graph (``retain_graph=True``, ``create_graph``).

    A private torch function, the one AOTAutograd asks for the same decision (whether saved
    tensors are used once: torch/_functorch/_aot_autograd/runtime_wrappers.py); it answers True
    outside a backward pass. Where a torch lacks it, assume the graph is kept: a copy is always
    correct, only slower.
    """
    probe = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if probe is None else bool(probe())


def fused_feature_matching(
    fakes: list[Tensor], reals: list[Tensor], distance: str, coefficients: list[float | Tensor]
) -> tuple[Tensor, Tensor]:
    """``sum_j coefficients[j] * mean_distance(fakes[j], reals[j])`` and the per-layer means.

    Returns ``(loss, per_layer)``: the loss is differentiable w.r.t. ``fakes``; ``per_layer``, shape
    ``(L,)``, is not. ``coefficients`` holds one number (or 0-dim tensor without gradient) per layer.

    Example:
        >>> f = torch.tensor([1.0, 3.0], requires_grad=True)
        >>> loss, per_layer = fused_feature_matching([f], [torch.zeros(2)], "l1", [1.0])
        >>> loss.backward(); f.grad
        tensor([0.5000, 0.5000])
    """
    coefficients = [c.detach() if isinstance(c, Tensor) else float(c) for c in coefficients]
    return _FusedFeatureMatching.apply(distance, coefficients, *fakes, *[r.detach() for r in reals])


class _FourierFeatureSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor) -> Tensor:
        projected = x @ w  # (N, F) @ (F, K) -> (N, K)
        cos, sin = projected.cos(), projected.sin()
        # Nothing is kept for the side without gradient (the real features).
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(
                cos, sin, w if ctx.needs_input_grad[0] else None, x if ctx.needs_input_grad[1] else None
            )
        return torch.cat([cos.sum(0), sin.sum(0)])  # (2K,)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        cos, sin, w, x = ctx.saved_tensors
        k = grad.shape[0] // 2
        grad_cos, grad_sin = grad[:k], grad[k:]  # (K,) each, the same for every sample
        # d cos(p) = -sin(p) dp and d sin(p) = cos(p) dp.
        grad_projected = torch.addcmul(cos * grad_sin, sin, grad_cos, value=-1.0)  # (N, K)
        grad_x = grad_projected @ w.T if ctx.needs_input_grad[0] else None  # (N, F)
        grad_w = x.T @ grad_projected if ctx.needs_input_grad[1] else None  # (F, K)
        return grad_x, grad_w


def fourier_feature_sum(x: Tensor, w: Tensor) -> Tensor:
    """``[cos(x @ w).sum(0), sin(x @ w).sum(0)]``, differentiable once, without recomputing cos/sin.

    Args:
        x: ``(N, F)`` samples.
        w: ``(F, K)`` projection directions.

    Returns:
        ``(2K,)``: the batch sums of the cosine features, then of the sine features.

    Example:
        >>> x = torch.zeros(3, 2, requires_grad=True)
        >>> fourier_feature_sum(x, torch.ones(2, 1))
        tensor([3., 0.], grad_fn=<_FourierFeatureSumBackward>)
    """
    return _FourierFeatureSum.apply(x, w)
