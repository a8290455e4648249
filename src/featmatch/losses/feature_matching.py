"""The feature-matching generator loss: match the discriminator's features of generated data to real data.

Why one module over 600 lines: it is one loss. The options object, the checks every call shares,
the statistics (paired, mean, mean and std, random Fourier features, MMD), the fused fast path
and the presets are one contract (the Module equals the function on every preset), tested as one.

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

import difflib
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch.errors import UnknownOptionError
from featmatch.losses._fused import FUSED_DISTANCES, fourier_feature_sum, fused_feature_matching
from featmatch.losses._structure import FeatureInput, Layers, as_discriminators, select_layers

__all__ = [
    "DISTANCES",
    "PRESETS",
    "REDUCTIONS",
    "STATISTICS",
    "FeatureMatchingLoss",
    "FeatureMatchingOptions",
    "Preset",
    "feature_matching_loss",
]

DISTANCES = ("l1", "mse", "huber", "smooth_l1")
STATISTICS = ("paired", "mean", "mean_std", "rff", "mmd")
REDUCTIONS = ("mean", "sum")

# Below this many generated feature values in all, plain autograd is faster than the fused walk
# on the CPU (measurements in _use_fused's docstring).
_FUSED_MIN_ELEMENTS = 1 << 18

Distance = str | Callable[[Tensor, Tensor], Tensor]
LayerWeights = None | str | Sequence[float] | Mapping[str, float]


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
    def forward(ctx, tensor: Tensor) -> Tensor:
        out = tensor.clone()
        torch.distributed.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
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


def _per_sample(x: Tensor) -> Tensor:
    """``(N, ...) -> (N, F)``; ``(N,)`` features are one scalar feature per sample, as for ``"mean"``."""
    return x.reshape(x.shape[0], -1)


def _kernel_scales(width: int, bandwidths: Sequence[float]) -> list[float]:
    """Gaussian kernel widths sigma_b = b * sqrt(F): squared distances grow with the width F."""
    return [b * math.sqrt(width) for b in bandwidths]


def _fourier_feature_means(
    fake: Tensor,
    real: Tensor,
    bandwidths: Sequence[float],
    num_features: int,
    sync: bool,
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
    flat_fake = _per_sample(fake)  # (N, F)
    flat_real = _per_sample(real)  # (M, F)
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
    flat_fake = _per_sample(fake)  # (N, F)
    flat_real = _per_sample(real)  # (M, F)
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
    if fake.device != real.device:
        raise ValueError(
            f"device mismatch at {where}: fake is on {fake.device}, real on {real.device}. "
            "Hint: run the discriminator on one device for both, or move real with .to(fake.device)."
        )
    for side, tensor in (("fake", fake), ("real", real)):
        # An empty layer has no mean: the loss would be NaN (or divide by zero).
        if tensor.numel() == 0:
            raise ValueError(
                f"{side} features at {where} are empty, shape {tuple(tensor.shape)}: every layer "
                "needs at least one sample and one feature value."
            )
    if statistic == "paired":
        if fake.shape != real.shape:
            hint = ""
            if fake.shape[1:] == real.shape[1:]:
                hint = (
                    " Hint: paired matching compares sample i with sample i; for batches of "
                    "different sizes use statistic='mean' or 'mean_std'."
                )
            raise ValueError(f"shape mismatch at {where}: fake {tuple(fake.shape)} vs real {tuple(real.shape)}.{hint}")
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


def _checked(value: Any, compared: Tensor, where: str) -> Tensor:
    """A distance's result, which must be a scalar Tensor (a callable ``distance`` may return anything)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"distance must return a scalar Tensor, got {type(value).__name__} at {where}.")
    if value.dim() != 0:
        raise ValueError(
            f"distance must return a scalar Tensor, got shape {tuple(value.shape)} at {where} "
            f"(comparing statistics of shape {tuple(compared.shape)}). Hint: reduce it, "
            "e.g. lambda a, b: (a - b).abs().mean()."
        )
    return value


def _check_finite(tensor: Tensor, side: str, where: str) -> None:
    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{side} features at {where} contain {bad} non-finite values (NaN or Inf).")


def _layer_weights(layer_weights: LayerWeights, names: list[str], where: str) -> list[float]:
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


def _check_bool(argument: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{argument} must be a bool, got {value!r}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_layer_weights(layer_weights: LayerWeights) -> None:
    if layer_weights is None:
        return
    if isinstance(layer_weights, str):
        _check_choice("layer_weights", layer_weights, ["pix2pixhd"])
        return
    values = layer_weights.values() if isinstance(layer_weights, Mapping) else layer_weights
    if not isinstance(values, Iterable) or not all(_is_number(w) and math.isfinite(w) for w in values):
        raise ValueError(
            "layer_weights must be None, 'pix2pixhd', a sequence of finite numbers or a mapping "
            f"name -> finite number, got {layer_weights!r}."
        )


def _check_bandwidths(bandwidths: Any) -> None:
    if (
        not isinstance(bandwidths, Sequence)
        or isinstance(bandwidths, str)
        or len(bandwidths) == 0
        or not all(_is_number(b) and b > 0 for b in bandwidths)
    ):
        raise ValueError(f"bandwidths must be a non-empty sequence of numbers > 0, got {bandwidths!r}.")


def _check_fused(options: FeatureMatchingOptions) -> None:
    if options.fused not in (None, True, False):
        raise ValueError(f"fused must be None (auto), True or False, got {options.fused!r}.")
    if options.fused is True and not (
        options.statistic == "rff" or (options.statistic == "paired" and options.distance in FUSED_DISTANCES)
    ):
        raise ValueError(
            f"fused=True needs statistic='rff', or statistic='paired' with distance in "
            f"{list(FUSED_DISTANCES)}; "
            f"got statistic={options.statistic!r}, distance={options.distance!r}."
        )


def _validate_options(options: FeatureMatchingOptions) -> None:
    """Raise on any invalid option; called once, when a :class:`FeatureMatchingOptions` is built."""
    if not callable(options.distance):
        _check_choice("distance", options.distance, DISTANCES)
    _check_choice("statistic", options.statistic, STATISTICS)
    _check_choice("layer_reduction", options.layer_reduction, REDUCTIONS)
    _check_choice("discriminator_reduction", options.discriminator_reduction, REDUCTIONS)
    _check_layer_weights(options.layer_weights)
    for flag in ("drop_logits", "relative", "check_finite", "sync_statistics"):
        _check_bool(flag, getattr(options, flag))
    if not isinstance(options.skip_first, int) or isinstance(options.skip_first, bool) or options.skip_first < 0:
        raise ValueError(f"skip_first must be an int >= 0, got {options.skip_first!r}.")
    if options.layers is not None and not all(
        isinstance(item, (int, str)) and not isinstance(item, bool) for item in options.layers
    ):
        raise TypeError(f"layers must be None or a sequence of int indices or str names, got {options.layers!r}.")
    if not (_is_number(options.eps) and options.eps >= 0):
        raise ValueError(f"eps must be a number >= 0, got {options.eps!r}.")
    if not (_is_number(options.weight) and math.isfinite(options.weight)):
        raise ValueError(f"weight must be a finite number, got {options.weight!r}.")
    if not (_is_number(options.huber_delta) and options.huber_delta > 0):
        raise ValueError(f"huber_delta must be a number > 0, got {options.huber_delta!r}.")
    _check_bandwidths(options.bandwidths)
    if (
        isinstance(options.num_random_features, bool)
        or not isinstance(options.num_random_features, int)
        or options.num_random_features < 1
    ):
        raise ValueError(f"num_random_features must be an int >= 1, got {options.num_random_features!r}.")
    if options.statistic == "mmd" and options.sync_statistics:
        raise ValueError(
            "statistic='mmd' cannot be combined with sync_statistics=True (the exact kernel "
            "needs every sample of every rank). Hint: use statistic='rff', its linear "
            "approximation, which synchronises like a mean."
        )
    _check_fused(options)


@dataclass(frozen=True)
class FeatureMatchingOptions:
    """The options of the feature-matching loss, declared once and validated once, when built.

    :func:`feature_matching_loss`, :class:`FeatureMatchingLoss` and :data:`PRESETS` all build
    one of these from their keyword arguments, so a bad option fails where it is written, and
    the loss's forward pass runs no checks on its options (which keeps ``torch.compile`` with
    ``fullgraph=True`` free of Python-side work). Sequences are stored as tuples and a mapping
    of ``layer_weights`` as a read-only mapping, so the object cannot change after validation.

    Attributes:
        distance: ``"l1"``, ``"mse"``, ``"huber"``, ``"smooth_l1"`` (all averaged over elements),
            or a callable ``(fake, real) -> scalar Tensor``.
        statistic: ``"paired"`` (sample i against sample i), ``"mean"`` (batch mean of each
            feature, Salimans et al. 2016), ``"mean_std"`` (batch mean and standard deviation),
            ``"rff"`` (batch mean of random Fourier features of Gaussian kernels: a linear-time
            MMD, matched with ``distance``) or ``"mmd"`` (exact Gaussian-kernel MMD^2, quadratic
            in the batch; ``distance`` is not used). All but ``"paired"`` accept batches of
            different sizes. Features of shape ``(N,)`` are N samples of one scalar feature.
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
            ``cos``/``sin`` for the backward pass (``"rff"``). ``None`` uses it where it was
            measured to pay: on the CPU only (never measured on CUDA), not under torch.compile;
            paired with float32 results, a gradient needed and at least 2^18 generated feature
            values in all; rff always. ``True`` forces it (any device and dtype), ``False``
            forces plain autograd, which double backward (``create_graph=True``) through this
            loss needs. Both paths support ``retain_graph=True``.

    Example:
        >>> options = FeatureMatchingOptions(statistic="mean", weight=2.0)
        >>> options.weight, options.bandwidths
        (2.0, (0.1, 1.0, 10.0))
        >>> FeatureMatchingOptions(weight=float("nan"))
        Traceback (most recent call last):
        ...
        ValueError: weight must be a finite number, got nan.
    """

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

    def __post_init__(self) -> None:
        if isinstance(self.layers, (str, int)):
            raise TypeError(
                f"layers must be a sequence of int indices or str names, got {self.layers!r}. "
                f"Hint: layers=[{self.layers!r}]."
            )
        # Freeze what the caller may still hold a reference to (a list, a dict).
        if self.layers is not None and isinstance(self.layers, Iterable):
            object.__setattr__(self, "layers", tuple(self.layers))
        if isinstance(self.bandwidths, Sequence) and not isinstance(self.bandwidths, str):
            object.__setattr__(self, "bandwidths", tuple(self.bandwidths))
        if isinstance(self.layer_weights, Mapping):
            object.__setattr__(self, "layer_weights", MappingProxyType(dict(self.layer_weights)))
        elif isinstance(self.layer_weights, Sequence) and not isinstance(self.layer_weights, str):
            object.__setattr__(self, "layer_weights", tuple(self.layer_weights))
        _validate_options(self)

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any], caller: str) -> FeatureMatchingOptions:
        """Build from keyword arguments, naming an unknown one and the closest known name.

        Example:
            >>> FeatureMatchingOptions.from_kwargs({"weight": 2.0}, "f").weight
            2.0
        """
        unknown = [name for name in options if name not in _OPTION_NAMES]
        if unknown:
            close = difflib.get_close_matches(unknown[0], _OPTION_NAMES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownOptionError(
                f"{caller}() got an unknown option {unknown[0]!r}.{hint} Options: {', '.join(_OPTION_NAMES)}."
            )
        return cls(**options)


_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(FeatureMatchingOptions))


def _with_option_parameters(func: Callable[..., Any]) -> Callable[..., Any]:
    """Show the options as keyword parameters in ``inspect.signature`` / ``help()``.

    The options are declared once, in :class:`FeatureMatchingOptions`; the function and the
    Module take ``**options``, and this rebuilds the signature from the dataclass fields, so
    introspection still lists every option with its default.
    """
    signature = inspect.signature(func)
    kinds = inspect.Parameter
    params = [p for p in signature.parameters.values() if p.kind is not kinds.VAR_KEYWORD]
    leading = [p for p in params if p.kind is not kinds.KEYWORD_ONLY]  # fake, real (or self)
    trailing = [p for p in params if p.kind is kinds.KEYWORD_ONLY]  # return_terms
    option_params = [
        kinds(f.name, kinds.KEYWORD_ONLY, default=f.default, annotation=f.type) for f in fields(FeatureMatchingOptions)
    ]
    func.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*leading, *option_params, *trailing]
    )
    return func


def _use_fused(options: FeatureMatchingOptions, tensors: Sequence[Tensor]) -> bool:
    """Whether a call takes the fused path (:mod:`featmatch.losses._fused`) or plain autograd.

    ``tensors`` are the call's matched features, generated and real. ``fused=True`` and
    ``fused=False`` are obeyed (validation refused ``True`` for settings without a fused path).
    ``fused=None`` (auto) picks the fused path only where it was measured to pay:

    - only on the CPU. Measured there (BENCHMARKS.md, "Feature-matching loss", one thread,
      ``benchmarks/loss_speed.py``): paired L1 forward + backward 21.6 ms fused against 96.6 ms
      with autograd on pix2pixHD-sized features (46 MB), 41.9 against 99.8 ms on HiFi-GAN-like
      ones (102 MB); ``rff`` keeps cos/sin for its backward pass, 37 against 41 ms per grid25
      training step (BENCHMARKS.md, "Run time", commit 043b659). Neither fused path has been
      timed against autograd's on CUDA or any other device (the one CUDA run in BENCHMARKS.md,
      step cost at commit 3283226, timed whole training steps with an older loss; commit 7d5d16c
      then turned the paired path off on CUDA on an argument, not a measurement), so autograd's
      path is taken there until a measurement says otherwise;
    - never under ``torch.compile``: the compiler fuses the plain expression itself (the
      compiled loop, 21.2 ms, is on par with the fused path in the same table);
    - paired ``l1``/``mse`` only with a gradient to write (the walk writes it in the forward
      pass: without one it is wasted work), float32 results (float32 or half-precision storage:
      the measured case; float64 keeps autograd's path, the reference), and at least
      ``_FUSED_MIN_ELEMENTS`` (2^18) generated feature values needing gradient in all. Smaller
      features are bound by per-call overhead, where the walk's chunked loop loses: fused /
      autograd time, forward + ``autograd.grad``, one thread, one layer (four layers) of
      ``(4, n)``: 1.29 (1.10) at 2^14 values, 1.04 (1.01) at 2^16, 0.77 (0.94) at 2^17, 0.54
      (0.85) at 2^18 (an ad hoc sweep on the 2-core development machine, not yet a script in
      ``benchmarks/``), so the threshold sits one step above the crossover.

    Example:
        >>> big = torch.zeros(4, 1 << 16, requires_grad=True)  # 2^18 values on the CPU
        >>> _use_fused(FeatureMatchingOptions(), [big, torch.zeros(4, 1 << 16)])
        True
        >>> _use_fused(FeatureMatchingOptions(), [big.to("meta"), torch.zeros(4, 1 << 16, device="meta")])
        False
    """
    if options.fused is not None:
        return options.fused
    if options.statistic not in ("paired", "rff") or torch.compiler.is_compiling():
        return False
    if not all(t.device.type == "cpu" for t in tensors):
        return False
    if options.statistic == "rff":
        return True
    if options.distance not in FUSED_DISTANCES:
        return False
    result_dtype = torch.float32
    for t in tensors:
        result_dtype = torch.promote_types(result_dtype, t.dtype)
    return (
        result_dtype == torch.float32
        and torch.is_grad_enabled()
        and any(t.requires_grad for t in tensors)
        and sum(t.numel() for t in tensors if t.requires_grad) >= _FUSED_MIN_ELEMENTS
    )


def _compute(
    fake: FeatureInput, real: FeatureInput, options: FeatureMatchingOptions, return_terms: bool
) -> tuple[Tensor, dict[str, Tensor]]:
    # No option checks here: FeatureMatchingOptions validated them when it was built.
    fake_ds = as_discriminators(fake, "fake")
    real_ds = as_discriminators(real, "real")
    if len(fake_ds) != len(real_ds):
        raise ValueError(
            f"fake has {len(fake_ds)} discriminators but real has {len(real_ds)}; they must match one to one."
        )
    several = len(fake_ds) > 1
    distance = _distance_fn(options.distance, options.huber_delta)
    sync = _sync_active(options.sync_statistics)

    # Gather every matched (fake, real) pair first, so the fused path can take them all at once.
    pairs: list[tuple[Tensor, Tensor]] = []
    wheres: list[str] = []  # each pair's layer, for error messages
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
        layer_weights = _layer_weights(options.layer_weights, names, where)
        for i, name in zip(indices, names, strict=True):
            f, r = fake_layers.tensors[i], real_layers.tensors[i]
            layer_where = f"layer {name!r}" + (f" of discriminator {d}" if several else "")
            _check_pair(f, r, options.statistic, layer_where)
            if options.check_finite:
                _check_finite(f, "fake", layer_where)
                _check_finite(r, "real", layer_where)
            if pairs and f.device != pairs[0][0].device:
                raise ValueError(
                    f"device mismatch at {layer_where}: its features are on {f.device}, the "
                    f"first matched layer's on {pairs[0][0].device}; all layers must be on one device."
                )
            pairs.append((f, r.detach()))
            wheres.append(layer_where)
        plan.append((f"d{d}." if several else "", names, layer_weights))

    fakes = [f for f, _ in pairs]
    reals = [r for _, r in pairs]
    # Half-precision features are compared and accumulated in float32; float64 stays float64.
    result_dtype = torch.float32
    for t in (*fakes, *reals):
        result_dtype = torch.promote_types(result_dtype, t.dtype)

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

    fused = _use_fused(options, [*fakes, *reals])
    if fused and options.statistic == "paired":
        loss, per_layer_values = fused_feature_matching(fakes, reals, str(options.distance), coefficients)
        values = list(per_layer_values.unbind(0)) if return_terms else []
    else:
        values = []
        for (f, r), where in zip(pairs, wheres, strict=True):
            f, r = f.to(result_dtype), r.to(result_dtype)
            if options.statistic == "mmd":
                values.append(_gaussian_mmd(f, r, options.bandwidths))
                continue
            if options.statistic == "rff":
                mean_f, mean_r = _fourier_feature_means(
                    f, r, options.bandwidths, options.num_random_features, sync, fused
                )
                stats_f, stats_r = [mean_f], [mean_r]
            else:
                stats_f = _statistics(f, options.statistic, sync)
                stats_r = _statistics(r, options.statistic, sync)
            layer = [_checked(distance(sf, sr), sf, where) for sf, sr in zip(stats_f, stats_r, strict=True)]
            # Summed from the first term (not from 0), so the sum is a Tensor.
            values.append(sum(layer[1:], layer[0]).to(result_dtype))
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


@_with_option_parameters
def feature_matching_loss(
    fake: FeatureInput,
    real: FeatureInput,
    *,
    return_terms: bool = False,
    **options: Any,
) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
    """Feature-matching loss between generated (``fake``) and real discriminator features.

    Args:
        fake: generated features, with gradient. A Tensor; a sequence of Tensors (layers); a
            mapping name -> Tensor; a :class:`~featmatch.DiscriminatorOutput` (its ``features``;
            its logits are not features); or a sequence of those, one per discriminator.
        real: real features in the same structure. Never receives gradient.
        return_terms: also return a dict of the weighted per-layer terms (detached), keyed by
            layer name, prefixed ``"d<i>."`` when there are several discriminators.
        **options: the fields of :class:`FeatureMatchingOptions`, where each is described:
            ``distance``, ``statistic``, ``layers``, ``drop_logits``, ``skip_first``,
            ``layer_weights``, ``layer_reduction``, ``discriminator_reduction``, ``relative``,
            ``eps``, ``weight``, ``huber_delta``, ``check_finite``, ``sync_statistics``,
            ``bandwidths``, ``num_random_features``, ``fused``.

    Returns:
        A scalar, float32 (float64 for float64 features), or ``(loss, terms)`` when ``return_terms``.

    Raises:
        TypeError: an unknown option, or features that are not Tensors.
        ValueError: an invalid option; features that do not pair up (shapes, layers, devices);
            an empty layer; a callable ``distance`` that does not return a scalar.

    Example:
        >>> import torch
        >>> fake = [torch.ones(4, 8, requires_grad=True), torch.zeros(4, 3)]
        >>> real = [torch.zeros(4, 8), torch.zeros(4, 3)]
        >>> feature_matching_loss(fake, real).item()  # mean over layers of the mean |fake - real|
        0.5
    """
    settings = FeatureMatchingOptions.from_kwargs(options, "feature_matching_loss")
    loss, terms = _compute(fake, real, settings, return_terms)
    return (loss, terms) if return_terms else loss


@dataclass(frozen=True)
class Preset:
    """A published feature-matching variant: the options that reproduce it, and where it comes from.

    ``options`` holds the options as published; ``settings`` is the validated
    :class:`FeatureMatchingOptions` built from them when the preset is defined, so a bad preset
    fails at import.

    Example:
        >>> PRESETS["spade"].settings.layer_reduction, PRESETS["spade"].options["weight"]
        ('sum', 10.0)
    """

    options: Mapping[str, Any]
    description: str
    paper: str
    code: str
    #: The options validated, built from ``options`` when the preset is defined.
    settings: FeatureMatchingOptions = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", FeatureMatchingOptions.from_kwargs(self.options, "Preset"))


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "salimans2016": Preset(
            options=MappingProxyType(
                {
                    "distance": "mse",
                    "statistic": "mean",
                    "layer_reduction": "mean",
                    "discriminator_reduction": "mean",
                    "weight": 1.0,
                }
            ),
            description="Squared difference of the batch means of each feature, averaged over "
            "feature dimensions; layers as given (usually one intermediate layer).",
            paper="Salimans et al. 2016, Improved Techniques for Training GANs, section 3.1",
            code="openai/improved-gan, mnist_svhn_cifar10/train_mnist_feature_matching.py "
            "(loss_gen = mean(square(mean(f_real) - mean(f_fake))))",
        ),
        "pix2pixhd": Preset(
            options=MappingProxyType(
                {
                    "distance": "l1",
                    "statistic": "paired",
                    "drop_logits": True,
                    "layer_weights": "pix2pixhd",
                    "layer_reduction": "sum",
                    "discriminator_reduction": "mean",
                    "weight": 10.0,
                }
            ),
            description="L1 between paired features of every layer but the logits, each layer "
            "weighted 4/L and summed, averaged over discriminators, times lambda_feat = 10. "
            "Equals SPADE's loss only when L = 4 layers are matched (SPADE's n_layers_D = 4, its "
            "current default); SPADE has no 4/L factor, so at n_layers_D = 3 this gives 4/3 of "
            "SPADE's loss: use the 'spade' preset for SPADE.",
            paper="Wang et al. 2018, High-Resolution Image Synthesis and Semantic Manipulation with Conditional GANs",
            code="NVIDIA/pix2pixHD, models/pix2pixHD_model.py (loss_G_GAN_Feat: D_weights = "
            "1/num_D, feat_weights = 4/(n_layers_D + 1))",
        ),
        "spade": Preset(
            options=MappingProxyType(
                {
                    "distance": "l1",
                    "statistic": "paired",
                    "drop_logits": True,
                    "layer_reduction": "sum",
                    "discriminator_reduction": "mean",
                    "weight": 10.0,
                }
            ),
            description="L1 between paired features of every layer but the logits, summed over "
            "layers (no per-layer weight), averaged over discriminators, times lambda_feat = 10. "
            "Equal to 'pix2pixhd' when 4 layers are matched, at any other depth L it is L/4 of it.",
            paper="Park et al. 2019, Semantic Image Synthesis with Spatially-Adaptive Normalization (SPADE)",
            code="NVlabs/SPADE, models/pix2pix_model.py (compute_generator_loss, GAN_Feat: "
            "L1 * lambda_feat / num_D per intermediate output)",
        ),
        "hifigan": Preset(
            options=MappingProxyType(
                {
                    "distance": "l1",
                    "statistic": "paired",
                    "layer_reduction": "sum",
                    "discriminator_reduction": "sum",
                    "weight": 2.0,
                }
            ),
            description="L1 between paired features of every entry, summed over layers and discriminators, times 2.",
            paper="Kong et al. 2020, HiFi-GAN (also BigVGAN, VITS)",
            code="jik876/hifi-gan, models.py (feature_loss)",
        ),
        "encodec": Preset(
            options=MappingProxyType(
                {
                    "distance": "l1",
                    "statistic": "paired",
                    "relative": True,
                    "eps": 1e-8,
                    "layer_reduction": "mean",
                    "discriminator_reduction": "mean",
                    "weight": 1.0,
                }
            ),
            description="Relative L1: each layer's L1 divided by the mean absolute value of its "
            "real features, averaged over layers and discriminators, as the paper's eq. 2 "
            "writes it. audiocraft's code computes the same without the division (plain L1, "
            "as this preset with relative=False).",
            paper="Defossez et al. 2022, High Fidelity Neural Audio Compression (EnCodec), eq. 2",
            code="No public code computes eq. 2 as written. facebookresearch/audiocraft, "
            "audiocraft/adversarial/losses.py (FeatureMatchingLoss, averaged over "
            "sub-discriminators by AdversarialLoss) sums mean|real| per layer but does not divide "
            "by it: it is this preset with relative=False.",
        ),
        "layer_mse": Preset(
            options=MappingProxyType(
                {
                    "distance": "mse",
                    "statistic": "paired",
                    "layer_reduction": "mean",
                    "discriminator_reduction": "mean",
                    "weight": 1.0,
                }
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

    def __init__(self, *, return_terms: bool = False, **options: Any) -> None:
        """Build the loss; ``options`` are the fields of :class:`FeatureMatchingOptions`.

        Args:
            return_terms: ``forward`` also returns the per-layer terms (see
                :func:`feature_matching_loss`).
            **options: validated here, once; the forward pass does not check them again.
        """
        super().__init__()
        self.options = FeatureMatchingOptions.from_kwargs(options, "FeatureMatchingLoss")
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

    def forward(self, fake: FeatureInput, real: FeatureInput) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        loss, terms = _compute(fake, real, self.options, self.return_terms)
        return (loss, terms) if self.return_terms else loss

    def extra_repr(self) -> str:
        defaults = FeatureMatchingOptions()
        changed = [
            f"{name}={getattr(self.options, name)!r}"
            for name in self.options.__dataclass_fields__
            if getattr(self.options, name) != getattr(defaults, name)
        ]
        return ", ".join(changed)


# The Module's signature lists the options too (see _with_option_parameters).
_with_option_parameters(FeatureMatchingLoss.__init__)
