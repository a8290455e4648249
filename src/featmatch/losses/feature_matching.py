"""The feature-matching generator loss: match the discriminator's features of generated data to real data.

One function, :func:`feature_matching_loss`, and a thin Module, :class:`FeatureMatchingLoss`, that
agree. Presets reproduce published variants exactly (see :data:`PRESETS`).

Per discriminator ``d`` and matched layer ``j`` with generated features ``f`` and real features ``r``::

    term[d, j] = layer_weight[j] * distance(stat(f), stat(r)) / (mean|r| + eps if relative else 1)
    loss       = weight * reduce_d( reduce_j( term[d, j] ) )

where ``stat`` is the identity (``paired``), the batch mean of each feature (``mean``), the
batch mean and standard deviation (``mean_std``), or the batch mean of random Fourier features
(``rff``); ``mmd`` replaces the distance by an exact Gaussian-kernel MMD^2; ``reduce`` is a mean
or a sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch.losses._fused import FUSED_DISTANCES, fourier_feature_sum, fused_feature_matching
from featmatch.losses._structure import FeatureInput, Layers, as_discriminators, select_layers

__all__ = [
    "DISTANCES",
    "STATISTICS",
    "REDUCTIONS",
    "PRESETS",
    "Preset",
    "FeatureMatchingLoss",
    "feature_matching_loss",
]

DISTANCES = ("l1", "mse", "huber", "smooth_l1")
STATISTICS = ("paired", "mean", "mean_std", "rff", "mmd")
REDUCTIONS = ("mean", "sum")

# Below this many generated feature values in all, plain autograd is faster than the fused walk.
_FUSED_MIN_ELEMENTS = 1 << 18

Distance = Union[str, Callable[[Tensor, Tensor], Tensor]]
LayerWeights = Union[None, str, Sequence[float], Mapping[str, float]]


def _check_choice(argument: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{argument} must be one of {list(allowed)}, got {value!r}.")


def _distance_fn(distance: Distance, huber_delta: float) -> Callable[[Tensor, Tensor], Tensor]:
    if callable(distance):
        return distance
    _check_choice("distance", distance, DISTANCES)
    if distance == "l1":
        return F.l1_loss
    if distance == "mse":
        return F.mse_loss
    if distance == "huber":
        return lambda a, b: F.huber_loss(a, b, delta=huber_delta)
    return lambda a, b: F.smooth_l1_loss(a, b, beta=huber_delta)


class _AllReduceSum(torch.autograd.Function):
    """Sum a tensor over DDP ranks; the backward pass sums the gradients the same way.

    Kept here rather than using ``torch.distributed.nn.functional.all_reduce``, which recent
    PyTorch deprecates without a differentiable replacement.
    """

    @staticmethod
    def forward(ctx, tensor: Tensor) -> Tensor:  # type: ignore[override]
        out = tensor.clone()
        torch.distributed.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        out = grad.clone()
        torch.distributed.all_reduce(out)
        return out


def _batch_sum(x: Tensor, sync: bool) -> tuple[Tensor, Tensor | int]:
    """Sum over the batch dimension and the number of samples, across DDP ranks when ``sync``."""
    return _sum_over_ranks(x.sum(0), x.shape[0], sync)  # (N, ...) -> (...)


def _sum_over_ranks(total: Tensor, count: int, sync: bool) -> tuple[Tensor, Tensor | int]:
    """A batch sum and its sample count, summed over DDP ranks when ``sync``."""
    if not sync:
        return total, count
    # The all-reduce sums gradients across ranks in backward; DDP's averaging of the generator's
    # gradients then divides by the world size, so the result equals one process holding the
    # whole batch.
    count_all = torch.tensor(float(count), device=total.device)
    torch.distributed.all_reduce(count_all)
    return _AllReduceSum.apply(total), count_all


def _statistics(x: Tensor, statistic: str, sync: bool) -> list[Tensor]:
    """The batch statistics that are matched: ``[x]``, ``[mean]`` or ``[mean, std]``."""
    if statistic == "paired":
        return [x]
    total, count = _batch_sum(x, sync)
    mean = total / count  # (...)
    if statistic == "mean":
        return [mean]
    centred_sq, _ = _batch_sum((x - mean).square(), sync)
    # Unbiased like torch.std; clamp before sqrt so a constant feature has a finite gradient.
    var = centred_sq / max(count - 1, 1) if isinstance(count, int) else centred_sq / (count - 1).clamp_min(1.0)
    return [mean, var.clamp_min(1e-12).sqrt()]


def _kernel_scales(width: int, bandwidths: Sequence[float]) -> list[float]:
    """Gaussian kernel widths sigma_b = b * sqrt(F): squared distances grow with the width F."""
    return [b * math.sqrt(width) for b in bandwidths]


def _fourier_feature_means(
    fake: Tensor, real: Tensor, bandwidths: Sequence[float], num_features: int, sync: bool,
    fused: bool,
) -> tuple[Tensor, Tensor]:
    """Batch means of the same random Fourier features of Gaussian kernels, for both sides.

    ``phi(x) = sqrt(2) [cos(W x), sin(W x)]`` with ``W ~ N(0, 1 / sigma_b^2)``, D directions for
    each of B bandwidths (Rahimi and Recht 2007). Then the mean squared difference of the batch
    means of ``phi`` estimates the Gaussian MMD^2 averaged over bandwidths, in time linear in the
    batch: with ``distance="mse"`` the ``"rff"`` loss estimates the ``"mmd"`` loss. A fresh W is
    drawn at every call (from torch's global generator), so the estimate is unbiased over steps
    rather than tied to one fixed set of directions. Under DDP (``sync``) rank 0's W is used
    everywhere, since the batch means of different ranks must be of the same features. ``fused``
    takes `fourier_feature_sum` (cos and sin kept for the backward pass) instead of autograd.
    """
    flat_fake = fake.flatten(1)  # (N, F)
    flat_real = real.flatten(1)  # (M, F)
    width = flat_fake.shape[1]
    scales = torch.tensor(_kernel_scales(width, bandwidths), dtype=fake.dtype, device=fake.device)
    w = torch.randn(width, len(bandwidths), num_features, dtype=fake.dtype, device=fake.device)
    w = (w / scales[:, None]).flatten(1)  # (F, B * D)
    if sync:
        torch.distributed.broadcast(w, src=0)

    def mean_phi(x: Tensor) -> Tensor:
        if fused:
            total = fourier_feature_sum(x, w)  # (2 * B * D,)
        else:
            projected = x @ w  # (N, B * D)
            total = torch.cat([projected.cos(), projected.sin()], dim=1).sum(0)  # (2 * B * D,)
        total, count = _sum_over_ranks(total, x.shape[0], sync)
        return total * (math.sqrt(2.0) / count)

    return mean_phi(flat_fake), mean_phi(flat_real)


def _gaussian_mmd(fake: Tensor, real: Tensor, bandwidths: Sequence[float]) -> Tensor:
    """Biased estimate of MMD^2 between the batches, averaged over Gaussian kernels of several widths.

    Quadratic in the batch size (Li et al. 2017, MMD GAN); ``"rff"`` is the linear approximation.
    """
    flat_fake = fake.flatten(1)  # (N, F)
    flat_real = real.flatten(1)  # (M, F)
    both = torch.cat([flat_fake, flat_real])  # (N + M, F)
    squared = torch.cdist(both, both).square()  # (N + M, N + M)
    n = flat_fake.shape[0]
    total = torch.zeros((), dtype=fake.dtype, device=fake.device)
    for sigma in _kernel_scales(flat_fake.shape[1], bandwidths):
        kernel = torch.exp(-squared / (2 * sigma**2))
        total = total + kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()
    return total / len(bandwidths)


def _sync_active(sync_statistics: bool) -> bool:
    return (
        sync_statistics
        and torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def _check_pair(fake: Tensor, real: Tensor, statistic: str, where: str) -> None:
    if statistic == "paired":
        if fake.shape != real.shape:
            hint = ""
            if fake.shape[1:] == real.shape[1:]:
                hint = (
                    " Hint: paired matching compares sample i with sample i; for batches of "
                    "different sizes use statistic='mean' or 'mean_std'."
                )
            raise ValueError(
                f"shape mismatch at {where}: fake {tuple(fake.shape)} vs real "
                f"{tuple(real.shape)}.{hint}"
            )
    else:
        if fake.dim() == 0 or real.dim() == 0 or fake.shape[1:] != real.shape[1:]:
            raise ValueError(
                f"shape mismatch at {where}: fake {tuple(fake.shape)} vs real "
                f"{tuple(real.shape)} (statistic={statistic!r} needs equal shapes after the "
                "batch dimension)."
            )
        if statistic == "mean_std" and fake.shape[0] < 2:
            raise ValueError(
                f"statistic='mean_std' needs at least 2 samples per batch, got {fake.shape[0]} at {where}."
            )


def _check_finite(tensor: Tensor, side: str, where: str) -> None:
    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(
            f"{side} features at {where} contain {bad} non-finite values (NaN or Inf)."
        )


def _layer_weights(
    layer_weights: LayerWeights, names: list[str], where: str
) -> list[float]:
    count = len(names)
    if layer_weights is None:
        return [1.0] * count
    if isinstance(layer_weights, str):
        _check_choice("layer_weights", layer_weights, ["pix2pixhd"])
        # pix2pixHD: feat_weights = 4 / (n_layers_D + 1), one per matched layer.
        return [4.0 / count] * count
    if isinstance(layer_weights, Mapping):
        unknown = [k for k in layer_weights if k not in names]
        missing = [n for n in names if n not in layer_weights]
        if unknown or missing:
            raise ValueError(
                f"layer_weights keys must be the matched layers of {where} {names}; "
                f"unknown: {unknown}, missing: {missing}."
            )
        return [float(layer_weights[n]) for n in names]
    weights = [float(w) for w in layer_weights]
    if len(weights) != count:
        raise ValueError(
            f"layer_weights has {len(weights)} entries but {where} has {count} matched "
            f"layers {names}. Hint: give one weight per matched layer, or a mapping by name."
        )
    return weights


@dataclass(frozen=True)
class _Options:
    distance: Distance = "l1"
    statistic: str = "paired"
    layers: Sequence[int | str] | None = None
    drop_logits: bool = False
    skip_first: int = 0
    layer_weights: LayerWeights = None
    layer_reduction: str = "mean"
    discriminator_reduction: str = "mean"
    relative: bool = False
    eps: float = 1e-8
    weight: float = 1.0
    huber_delta: float = 1.0
    check_finite: bool = False
    sync_statistics: bool = False
    bandwidths: Sequence[float] = (0.1, 1.0, 10.0)
    num_random_features: int = 512
    fused: bool | None = None

    def validate(self) -> None:
        if not callable(self.distance):
            _check_choice("distance", self.distance, DISTANCES)
        _check_choice("statistic", self.statistic, STATISTICS)
        _check_choice("layer_reduction", self.layer_reduction, REDUCTIONS)
        _check_choice("discriminator_reduction", self.discriminator_reduction, REDUCTIONS)
        if isinstance(self.layer_weights, str):
            _check_choice("layer_weights", self.layer_weights, ["pix2pixhd"])
        if isinstance(self.skip_first, bool) or not isinstance(self.skip_first, int) or self.skip_first < 0:
            raise ValueError(f"skip_first must be an int >= 0, got {self.skip_first!r}.")
        if isinstance(self.layers, (str, int)):
            raise TypeError(
                f"layers must be a sequence of int indices or str names, got {self.layers!r}. "
                f"Hint: layers=[{self.layers!r}]."
            )
        if not (isinstance(self.eps, (int, float)) and self.eps >= 0):
            raise ValueError(f"eps must be a number >= 0, got {self.eps!r}.")
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight)):
            raise ValueError(f"weight must be a finite number, got {self.weight!r}.")
        if not (isinstance(self.huber_delta, (int, float)) and self.huber_delta > 0):
            raise ValueError(f"huber_delta must be a number > 0, got {self.huber_delta!r}.")
        if (
            isinstance(self.bandwidths, (str, int, float))
            or len(self.bandwidths) == 0
            or not all(isinstance(b, (int, float)) and b > 0 for b in self.bandwidths)
        ):
            raise ValueError(
                f"bandwidths must be a non-empty sequence of numbers > 0, got {self.bandwidths!r}."
            )
        if (
            isinstance(self.num_random_features, bool)
            or not isinstance(self.num_random_features, int)
            or self.num_random_features < 1
        ):
            raise ValueError(
                f"num_random_features must be an int >= 1, got {self.num_random_features!r}."
            )
        if self.statistic == "mmd" and self.sync_statistics:
            raise ValueError(
                "statistic='mmd' cannot be combined with sync_statistics=True (the exact kernel "
                "needs every sample of every rank). Hint: use statistic='rff', its linear "
                "approximation, which synchronises like a mean."
            )
        if self.fused not in (None, True, False):
            raise ValueError(f"fused must be None (auto), True or False, got {self.fused!r}.")
        if self.fused is True and not (
            self.statistic == "rff"
            or (self.statistic == "paired" and self.distance in FUSED_DISTANCES)
        ):
            raise ValueError(
                f"fused=True needs statistic='rff', or statistic='paired' with distance in "
                f"{list(FUSED_DISTANCES)}; "
                f"got statistic={self.statistic!r}, distance={self.distance!r}."
            )


def _use_fused(options: _Options, fakes: list[Tensor], result_dtype: torch.dtype) -> bool:
    if options.fused is False:
        return False
    # The fused walk accumulates in float32, so float64 features take autograd's exact path.
    eligible = (
        options.statistic == "paired"
        and options.distance in FUSED_DISTANCES
        and result_dtype == torch.float32
    )
    if not eligible:
        return False
    if options.fused is True:
        return True
    # Auto: where it pays and is safe. It pays on the CPU for large features, where the loss is
    # bound by memory traffic; small features are bound by per-call overhead instead, and a GPU's
    # bandwidth makes the extra pass of autograd's way cheap. Under torch.compile the compiler
    # fuses the plain expression itself; without grad there is no gradient to write.
    return (
        torch.is_grad_enabled()
        and not torch.compiler.is_compiling()
        and any(f.requires_grad for f in fakes)
        and all(f.device.type == "cpu" for f in fakes)
        and sum(f.numel() for f in fakes) >= _FUSED_MIN_ELEMENTS
    )


def _compute(
    fake: FeatureInput, real: FeatureInput, options: _Options, return_terms: bool
) -> tuple[Tensor, dict[str, Tensor]]:
    options.validate()
    fake_ds = as_discriminators(fake, "fake")
    real_ds = as_discriminators(real, "real")
    if len(fake_ds) != len(real_ds):
        raise ValueError(
            f"fake has {len(fake_ds)} discriminators but real has {len(real_ds)}; "
            "they must match one to one."
        )
    several = len(fake_ds) > 1
    distance = _distance_fn(options.distance, options.huber_delta)
    sync = _sync_active(options.sync_statistics)

    # Gather every matched (fake, real) pair first, so the fused path can take them all at once.
    pairs: list[tuple[Tensor, Tensor]] = []
    plan: list[tuple[str, list[str], list[float]]] = []  # per discriminator: prefix, names, weights
    for d, (fake_layers, real_layers) in enumerate(zip(fake_ds, real_ds, strict=True)):
        where = f"discriminator {d}" if several else "the features"
        _check_same_layers(fake_layers, real_layers, where)
        indices = select_layers(
            fake_layers,
            drop_logits=options.drop_logits,
            skip_first=options.skip_first,
            chosen=options.layers,
            where=where,
        )
        names = [fake_layers.names[i] for i in indices]
        weights = _layer_weights(options.layer_weights, names, where)
        for i, name in zip(indices, names, strict=True):
            f, r = fake_layers.tensors[i], real_layers.tensors[i]
            layer_where = f"layer {name!r}" + (f" of discriminator {d}" if several else "")
            _check_pair(f, r, options.statistic, layer_where)
            if options.check_finite:
                _check_finite(f, "fake", layer_where)
                _check_finite(r, "real", layer_where)
            pairs.append((f, r.detach()))
        plan.append((f"d{d}." if several else "", names, weights))

    fakes = [f for f, _ in pairs]
    reals = [r for _, r in pairs]
    # Half-precision features are compared and accumulated in float32; float64 stays float64.
    result_dtype = torch.float32
    for t in (*fakes, *reals):
        result_dtype = torch.promote_types(result_dtype, t.dtype)
    device = fakes[0].device

    # loss = sum_j coefficient[j] * value[j]: the layer weights, both reductions and the overall
    # weight folded into one Python number per matched layer. Python numbers, not a device
    # tensor: building one would be a host-to-device copy, which waits for the GPU on every call.
    weights: list[float] = []
    coefficients: list[float | Tensor] = []
    for _, names, layer_weights in plan:
        per_layer = 1.0 / len(names) if options.layer_reduction == "mean" else 1.0
        per_disc = 1.0 / len(plan) if options.discriminator_reduction == "mean" else 1.0
        for w in layer_weights:
            weights.append(w)
            coefficients.append(options.weight * per_disc * per_layer * w)
    normalisers: list[Tensor] | None = None
    if options.relative:
        normalisers = [r.to(result_dtype).abs().mean() + options.eps for r in reals]
        coefficients = [c / n for c, n in zip(coefficients, normalisers, strict=True)]

    if _use_fused(options, fakes, result_dtype):
        loss, per_layer_values = fused_feature_matching(
            fakes, reals, str(options.distance), coefficients
        )
        values = list(per_layer_values.unbind(0)) if return_terms else []
    else:
        values = []
        for f, r in pairs:
            f, r = f.to(result_dtype), r.to(result_dtype)
            if options.statistic == "mmd":
                values.append(_gaussian_mmd(f, r, options.bandwidths))
                continue
            if options.statistic == "rff":
                # Autograd's way only where asked, or where the compiler fuses it itself.
                fused = options.fused is not False and not torch.compiler.is_compiling()
                mean_f, mean_r = _fourier_feature_means(
                    f, r, options.bandwidths, options.num_random_features, sync, fused
                )
                stats_f, stats_r = [mean_f], [mean_r]
            else:
                stats_f = _statistics(f, options.statistic, sync)
                stats_r = _statistics(r, options.statistic, sync)
            layer = [distance(sf, sr) for sf, sr in zip(stats_f, stats_r, strict=True)]
            values.append((layer[0] if len(layer) == 1 else sum(layer)).to(result_dtype))
        weighted = [v * c for v, c in zip(values, coefficients, strict=True)]
        loss = weighted[0] if len(weighted) == 1 else torch.stack(weighted).sum()

    terms: dict[str, Tensor] = {}
    if return_terms:
        # Logged: layer weight x distance (relative if asked), without reductions or weight.
        names = [prefix + name for prefix, layer_names, _ in plan for name in layer_names]
        for j, (name, value, w) in enumerate(zip(names, values, weights, strict=True)):
            term = value.detach() * w
            terms[name] = term / normalisers[j] if normalisers is not None else term
    return loss, terms


def _check_same_layers(fake: Layers, real: Layers, where: str) -> None:
    if len(fake.tensors) != len(real.tensors):
        raise ValueError(
            f"{where}: fake has {len(fake.tensors)} layers but real has {len(real.tensors)}; "
            "they must match one to one (nothing is truncated)."
        )
    if fake.names != real.names:
        only_fake = [n for n in fake.names if n not in real.names]
        only_real = [n for n in real.names if n not in fake.names]
        if only_fake or only_real:
            raise ValueError(
                f"{where}: fake and real have different layer names; only in fake: {only_fake}, "
                f"only in real: {only_real}."
            )
        raise ValueError(
            f"{where}: fake and real list the same layers in a different order: "
            f"{list(fake.names)} vs {list(real.names)}."
        )


def feature_matching_loss(
    fake: FeatureInput,
    real: FeatureInput,
    *,
    distance: Distance = "l1",
    statistic: str = "paired",
    layers: Sequence[int | str] | None = None,
    drop_logits: bool = False,
    skip_first: int = 0,
    layer_weights: LayerWeights = None,
    layer_reduction: str = "mean",
    discriminator_reduction: str = "mean",
    relative: bool = False,
    eps: float = 1e-8,
    weight: float = 1.0,
    huber_delta: float = 1.0,
    check_finite: bool = False,
    sync_statistics: bool = False,
    bandwidths: Sequence[float] = (0.1, 1.0, 10.0),
    num_random_features: int = 512,
    fused: bool | None = None,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """Feature-matching loss between generated (``fake``) and real discriminator features.

    Args:
        fake: generated features, with gradient. A Tensor; a sequence of Tensors (layers); a
            mapping name -> Tensor; a :class:`~featmatch.DiscriminatorOutput` (its ``features``;
            its logits are not features); or a sequence of those, one per discriminator.
        real: real features in the same structure. Never receives gradient.
        distance: ``"l1"``, ``"mse"``, ``"huber"``, ``"smooth_l1"`` (all averaged over elements),
            or a callable ``(fake, real) -> scalar Tensor``.
        statistic: ``"paired"`` (sample i against sample i), ``"mean"`` (batch mean of each
            feature, Salimans et al. 2016), ``"mean_std"`` (batch mean and standard deviation),
            ``"rff"`` (batch mean of random Fourier features of Gaussian kernels: a linear-time
            MMD, matched with ``distance``) or ``"mmd"`` (exact Gaussian-kernel MMD^2, quadratic
            in the batch; ``distance`` is not used). All but ``"paired"`` accept batches of
            different sizes.
        layers: explicit layers to match, by index or name, taken after ``drop_logits`` and
            ``skip_first``. ``None`` matches all remaining layers.
        drop_logits: drop the last entry of a plain list or mapping, which is the logits in the
            pix2pixHD and HiFi-GAN conventions. A DiscriminatorOutput keeps its logits apart, so
            nothing is dropped from it.
        skip_first: skip the first k layers.
        layer_weights: one weight per matched layer (a sequence, or a mapping by name), or
            ``"pix2pixhd"`` for 4 / (number of matched layers) each.
        layer_reduction: ``"mean"`` or ``"sum"`` of the weighted layer terms.
        discriminator_reduction: ``"mean"`` or ``"sum"`` over discriminators.
        relative: divide each layer's distance by the mean absolute value of its real features
            plus ``eps`` (EnCodec's relative feature loss).
        eps: added to the relative normaliser.
        weight: overall factor.
        huber_delta: ``delta`` of ``"huber"`` and ``beta`` of ``"smooth_l1"``.
        check_finite: raise ValueError if any matched feature contains NaN or Inf.
        sync_statistics: under DDP, compute batch statistics over all ranks with a differentiable
            all-reduce, so K processes of batch b match one process of batch K*b.
        bandwidths: Gaussian kernel widths for ``"rff"`` and ``"mmd"``, in units of sqrt(feature
            width): sigma = b * sqrt(F) for features flattened to F values per sample.
        num_random_features: random directions per bandwidth for ``"rff"``.
        fused: compute the gradient in the same pass as the value (paired l1/mse), or keep
            ``cos``/``sin`` for the backward pass (``"rff"``). ``None`` uses it where it pays and
            is safe (paired: CPU, at least 2^18 generated feature values in all, gradient
            needed; rff: always; neither under torch.compile); ``False`` forces plain autograd
            (needed for double backward through this loss, and for ``retain_graph=True`` with
            the paired distances).
        return_terms: also return a dict of the weighted per-layer terms (detached), keyed by
            layer name, prefixed ``"d<i>."`` when there are several discriminators.

    Returns:
        A scalar, float32 (float64 for float64 features), or ``(loss, terms)`` when ``return_terms``.

    Example:
        >>> import torch
        >>> fake = [torch.ones(4, 8, requires_grad=True), torch.zeros(4, 3)]
        >>> real = [torch.zeros(4, 8), torch.zeros(4, 3)]
        >>> feature_matching_loss(fake, real).item()  # mean over layers of the mean |fake - real|
        0.5
    """
    options = _Options(
        distance=distance,
        statistic=statistic,
        layers=layers,
        drop_logits=drop_logits,
        skip_first=skip_first,
        layer_weights=layer_weights,
        layer_reduction=layer_reduction,
        discriminator_reduction=discriminator_reduction,
        relative=relative,
        eps=eps,
        weight=weight,
        huber_delta=huber_delta,
        check_finite=check_finite,
        sync_statistics=sync_statistics,
        bandwidths=tuple(bandwidths),
        num_random_features=num_random_features,
        fused=fused,
    )
    loss, terms = _compute(fake, real, options, return_terms)
    return (loss, terms) if return_terms else loss


@dataclass(frozen=True)
class Preset:
    """A published feature-matching variant: the options that reproduce it, and where it comes from."""

    options: Mapping[str, Any]
    description: str
    paper: str
    code: str
    extra: Mapping[str, Any] = field(default_factory=dict)


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "salimans2016": Preset(
            options=MappingProxyType(
                {"distance": "mse", "statistic": "mean", "layer_reduction": "mean",
                 "discriminator_reduction": "mean", "weight": 1.0}
            ),
            description="Squared difference of the batch means of each feature, averaged over "
            "feature dimensions; layers as given (usually one intermediate layer).",
            paper="Salimans et al. 2016, Improved Techniques for Training GANs, section 3.1",
            code="openai/improved-gan, mnist_svhn_cifar10/train_mnist_feature_matching.py "
            "(loss_gen = mean(square(mean(f_real) - mean(f_fake))))",
        ),
        "pix2pixhd": Preset(
            options=MappingProxyType(
                {"distance": "l1", "statistic": "paired", "drop_logits": True,
                 "layer_weights": "pix2pixhd", "layer_reduction": "sum",
                 "discriminator_reduction": "mean", "weight": 10.0}
            ),
            description="L1 between paired features of every layer but the logits, each layer "
            "weighted 4/L and summed, averaged over discriminators, times lambda_feat = 10.",
            paper="Wang et al. 2018, High-Resolution Image Synthesis and Semantic Manipulation "
            "with Conditional GANs (also SPADE, Park et al. 2019)",
            code="NVIDIA/pix2pixHD, models/pix2pixHD_model.py (loss_G_GAN_Feat)",
        ),
        "hifigan": Preset(
            options=MappingProxyType(
                {"distance": "l1", "statistic": "paired", "layer_reduction": "sum",
                 "discriminator_reduction": "sum", "weight": 2.0}
            ),
            description="L1 between paired features of every entry, summed over layers and "
            "discriminators, times 2.",
            paper="Kong et al. 2020, HiFi-GAN (also BigVGAN, VITS)",
            code="jik876/hifi-gan, models.py (feature_loss)",
        ),
        "encodec": Preset(
            options=MappingProxyType(
                {"distance": "l1", "statistic": "paired", "relative": True, "eps": 1e-8,
                 "layer_reduction": "mean", "discriminator_reduction": "mean", "weight": 1.0}
            ),
            description="Relative L1: each layer's L1 divided by the mean absolute value of its "
            "real features, averaged over layers and discriminators.",
            paper="Defossez et al. 2022, High Fidelity Neural Audio Compression (EnCodec), eq. 2",
            code="facebookresearch/audiocraft, audiocraft/losses/stftloss.py and "
            "audiocraft/adversarial/losses.py (FeatureMatchingLoss)",
        ),
        "layer_mse": Preset(
            options=MappingProxyType(
                {"distance": "mse", "statistic": "paired", "layer_reduction": "mean",
                 "discriminator_reduction": "mean", "weight": 1.0}
            ),
            description="MSE between paired features of every entry, averaged over layers.",
            paper="The reference article of this project (G_rof_loss)",
            code="shared/reference/000_1cfc18721ae57fa6.txt",
        ),
    }
)


class FeatureMatchingLoss(nn.Module):
    """Module form of :func:`feature_matching_loss`; ``forward(fake, real)`` equals the function.

    Example:
        >>> import torch
        >>> criterion = FeatureMatchingLoss.from_preset("hifigan")
        >>> fake = [[torch.ones(2, 4, requires_grad=True)], [torch.ones(2, 3, requires_grad=True)]]
        >>> real = [[torch.zeros(2, 4)], [torch.zeros(2, 3)]]
        >>> criterion(fake, real).item()  # 2 * (1 + 1)
        4.0
    """

    def __init__(
        self,
        *,
        distance: Distance = "l1",
        statistic: str = "paired",
        layers: Sequence[int | str] | None = None,
        drop_logits: bool = False,
        skip_first: int = 0,
        layer_weights: LayerWeights = None,
        layer_reduction: str = "mean",
        discriminator_reduction: str = "mean",
        relative: bool = False,
        eps: float = 1e-8,
        weight: float = 1.0,
        huber_delta: float = 1.0,
        check_finite: bool = False,
        sync_statistics: bool = False,
        bandwidths: Sequence[float] = (0.1, 1.0, 10.0),
        num_random_features: int = 512,
        fused: bool | None = None,
        return_terms: bool = False,
    ) -> None:
        super().__init__()
        self.options = _Options(
            distance=distance,
            statistic=statistic,
            layers=tuple(layers) if layers is not None and not isinstance(layers, (str, int)) else layers,
            drop_logits=drop_logits,
            skip_first=skip_first,
            layer_weights=layer_weights,
            layer_reduction=layer_reduction,
            discriminator_reduction=discriminator_reduction,
            relative=relative,
            eps=eps,
            weight=weight,
            huber_delta=huber_delta,
            check_finite=check_finite,
            sync_statistics=sync_statistics,
            bandwidths=tuple(bandwidths),
            num_random_features=num_random_features,
            fused=fused,
        )
        # Fail at construction, not at the first training step.
        self.options.validate()
        self.return_terms = return_terms

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> FeatureMatchingLoss:
        """Build the loss of a published variant; ``overrides`` change single options.

        Example:
            >>> FeatureMatchingLoss.from_preset("pix2pixhd", weight=5.0).options.weight
            5.0
        """
        _check_choice("preset", name, list(PRESETS))
        return cls(**{**PRESETS[name].options, **overrides})

    def forward(
        self, fake: FeatureInput, real: FeatureInput
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        loss, terms = _compute(fake, real, self.options, self.return_terms)
        return (loss, terms) if self.return_terms else loss

    def extra_repr(self) -> str:
        defaults = _Options()
        changed = [
            f"{name}={getattr(self.options, name)!r}"
            for name in self.options.__dataclass_fields__
            if getattr(self.options, name) != getattr(defaults, name)
        ]
        return ", ".join(changed)
