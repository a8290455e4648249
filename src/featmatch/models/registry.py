"""Build a reference (generator, discriminator) pair by family name for a data set's sample shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from featmatch._checks import check_int
from featmatch.models.conditional import CONDITIONAL_FAMILIES, build_conditional_models
from featmatch.models.conv import IMAGE_SIZES, ConvDiscriminator, ConvGenerator
from featmatch.models.early import ENCODER_FAMILIES
from featmatch.models.mlp import MLPDiscriminator, MLPGenerator
from featmatch.models.multiscale import MultiScaleDiscriminator
from featmatch.models.semi_mlp import SemiMLPDiscriminator, SemiMLPGenerator
from featmatch.models.sequence import SequenceDiscriminator, SequenceGenerator, fitting_depth
from featmatch.models.small_conv import SmallConvDiscriminator, SmallConvGenerator

__all__ = ["MODEL_FAMILIES", "build_models", "default_family"]

#: Family names accepted by :func:`build_models`.
MODEL_FAMILIES: tuple[str, ...] = (
    "mlp",
    "mlp2d_benchmark",
    "conv",
    "small_conv",
    "sequence",
    "multiscale_conv",
    "multiscale_sequence",
    "semi_mlp",
    *CONDITIONAL_FAMILIES,  # cond_*: conditional pairs, built with condition_shape=...
    *ENCODER_FAMILIES,  # early_*: the early task's encoders, built by featmatch.models.build_encoder
)

# Options each family accepts through build_models(**options); anything else is an error.
_OPTIONS: dict[str, frozenset[str]] = {
    "mlp": frozenset({"width", "depth", "activation", "init", "gain", "spectral_norm"}),
    "mlp2d_benchmark": frozenset({"spectral_norm"}),
    "conv": frozenset({"width", "spectral_norm"}),
    "small_conv": frozenset({"width", "depth", "spectral_norm"}),
    "sequence": frozenset({"width", "depth", "spectral_norm"}),
    "multiscale_conv": frozenset({"width", "spectral_norm", "num_scales"}),
    "multiscale_sequence": frozenset({"width", "depth", "spectral_norm", "num_scales"}),
    "semi_mlp": frozenset(
        {
            "num_classes",
            "widths",
            "generator_widths",
            "input_noise",
            "hidden_noise",
            "train_hidden_scale",
            "output",
            "unit_range",
        }
    ),
}

# Sample dimensions each family expects, as written in error messages.
_SHAPES: dict[str, str] = {
    "mlp": "(D,)",
    "mlp2d_benchmark": "(2,)",
    "conv": "(C, S, S) with S in " + str(IMAGE_SIZES),
    "small_conv": "(C, S, S), S >= 4",
    "sequence": "(C, T)",
    "multiscale_conv": "(C, S, S) with S in " + str(IMAGE_SIZES),
    "multiscale_sequence": "(C, T)",
    "semi_mlp": "of any shape (flattened)",
}

Pair = tuple[nn.Module, nn.Module]


def default_family(sample_shape: Sequence[int]) -> str:
    """The family :func:`build_models` uses for data of this shape when none is named.

    ``(D,)`` vectors -> ``"mlp"``, ``(C, T)`` sequences -> ``"sequence"``,
    ``(C, H, W)`` images -> ``"conv"``.

    Args:
        sample_shape: the shape of one sample, without the batch dimension.

    Example:
        >>> default_family((1, 40))
        'sequence'
    """
    shape = _check_shape(sample_shape)
    by_ndim = {1: "mlp", 2: "sequence", 3: "conv"}
    if len(shape) not in by_ndim:
        raise ValueError(
            f"sample_shape must have 1 (D,), 2 (C, T) or 3 (C, H, W) dimensions, got {shape}. "
            "Hint: flatten or reshape your samples."
        )
    return by_ndim[len(shape)]


def build_models(family: str, sample_shape: Sequence[int], *, latent_dim: int | None = None, **options: Any) -> Pair:
    """Build a reference (generator, discriminator) pair for samples of ``sample_shape``.

    Families and their options (``spectral_norm`` applies to the discriminator only):

    - ``"mlp"`` ``(D,)``: ``width`` (128), ``depth`` hidden layers (2), ``activation`` ("tanh"),
      ``init`` ("orthogonal"), ``gain`` (1.4), ``spectral_norm``; latent 256 by default.
      On ``(2,)`` the defaults give the 2-D benchmark architecture.
    - ``"mlp2d_benchmark"`` ``(2,)``: exactly Metz et al. 2017 / VEEGAN (G 256 -> 128 -> 128 -> 2,
      D 2 -> 128 -> 128 -> 1, tanh, orthogonal gain 1.4); ``latent_dim`` must be None or 256.
    - ``"conv"`` ``(C, S, S)``, S in 8/16/32/64: DCGAN; ``width`` (64), ``spectral_norm``; latent 100.
    - ``"small_conv"`` ``(C, S, S)``: more layers than DCGAN gives small images (a 3 x 3 stem, ``depth``
      strided blocks to 2 x 2 at 8 x 8, no batch norm in D, a linear head; G upsamples by nearest
      neighbours with 3 x 3 convolutions): ``width`` (32), ``depth``, ``spectral_norm``; latent 64.
      :mod:`featmatch.models.small_conv`; the digits recipe's.
    - ``"sequence"`` ``(C, T)``: ``width`` (64), ``depth`` (for both models; by default the largest
      up to 4 with ``2**depth <= T``), ``spectral_norm``; latent 64.
    - ``"multiscale_conv"``: ``"conv"`` with a :class:`MultiScaleDiscriminator`, ``num_scales`` (3, at most 3).
    - ``"multiscale_sequence"``: ``"sequence"`` with a :class:`MultiScaleDiscriminator`,
      ``num_scales`` (3); the default depth fits the coarsest scale.
    - ``"semi_mlp"`` (any shape, flattened): the semi-supervised GAN of Salimans et al. 2016,
      whose discriminator returns ``num_classes`` class logits ``(N, K)`` (required option);
      ``widths`` (1000, 500, 250, 250, 250), ``generator_widths`` (500, 500), ``input_noise`` (0.3),
      ``hidden_noise`` (0.5), ``train_hidden_scale`` (False), ``output`` ("tanh"), ``unit_range``
      (False: both models on ``[0, 1]`` inside, the paper's range, for ``[-1, 1]`` data); latent 100.
      See :mod:`featmatch.models.semi_mlp` for the data range.

    Args:
        family: one of ``MODEL_FAMILIES``.
        sample_shape: the shape of one sample, without the batch dimension.
        latent_dim: size of the generator's z; None for the family's default.
        **options: the family's options above. The conditional families ``cond_conv``,
            ``cond_sequence``, ``cond_multiscale_conv`` and ``cond_multiscale_sequence`` take
            ``condition_shape`` (required; ``sample_shape`` is the target's) and the options of
            :func:`featmatch.models.conditional.build_conditional_models`.

    Returns:
        ``(generator, discriminator)``; the generator has ``latent_dim`` and ``sample_shape`` attributes.

    Example:
        >>> g, d = build_models("sequence", (3, 25), width=8)
        >>> import torch
        >>> x = g(torch.randn(4, g.latent_dim))
        >>> x.shape, d(x).logits.shape
        (torch.Size([4, 3, 25]), torch.Size([4]))
    """
    if family not in MODEL_FAMILIES:
        raise ValueError(f"family must be one of {MODEL_FAMILIES}, got {family!r}.")
    if family in ENCODER_FAMILIES:
        raise ValueError(
            f"family {family!r} is an encoder family of the early task (a teacher and a student, not a generator "
            "and a discriminator). Hint: train it with --task early, or build one with "
            "featmatch.models.build_encoder."
        )
    if family in CONDITIONAL_FAMILIES:  # cond_*: their own builder, which needs the condition's shape
        condition_shape = options.pop("condition_shape", None)
        return build_conditional_models(family, condition_shape, sample_shape, latent_dim=latent_dim, **options)
    shape = _check_shape(sample_shape)
    unknown = sorted(set(options) - _OPTIONS[family])
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for model family {family!r}; it accepts {sorted(_OPTIONS[family])}."
        )
    builders: dict[str, Callable[..., Pair]] = {
        "mlp": _build_mlp,
        "mlp2d_benchmark": _build_mlp2d_benchmark,
        "conv": _build_conv,
        "small_conv": _build_small_conv,
        "sequence": _build_sequence,
        "multiscale_conv": _build_multiscale_conv,
        "multiscale_sequence": _build_multiscale_sequence,
        "semi_mlp": _build_semi_mlp,
    }
    return builders[family](shape, latent_dim, **options)


def _check_shape(sample_shape: Sequence[int]) -> tuple[int, ...]:
    if isinstance(sample_shape, (str, bytes)) or not isinstance(sample_shape, Sequence):
        raise TypeError(f"sample_shape must be a tuple of ints such as (3, 32, 32), got {sample_shape!r}.")
    shape = tuple(sample_shape)
    if not shape:
        raise ValueError(f"sample_shape must be a non-empty tuple of positive ints, got {shape}.")
    for i, size in enumerate(shape):
        check_int(
            f"sample_shape[{i}]",
            size,
            minimum=1,
            hint=f" Hint: a tuple of positive ints such as (3, 32, 32), got {shape}.",
        )
    return shape


def _shape_error(family: str, shape: tuple[int, ...], hint: str = "") -> ValueError:
    if not hint and len(shape) <= 3:
        hint = f"Hint: for samples of {len(shape)} dimension(s) use family {default_family(shape)!r}."
    return ValueError(f"model family {family!r} needs sample_shape {_SHAPES[family]}, got {shape}. {hint}".strip())


def _latent(latent_dim: int | None, default: int) -> int:
    return default if latent_dim is None else latent_dim


def _build_mlp(
    shape: tuple[int, ...],
    latent_dim: int | None,
    *,
    width: int = 128,
    depth: int = 2,
    activation: str = "tanh",
    init: str = "orthogonal",
    gain: float = 1.4,
    spectral_norm: bool = False,
) -> Pair:
    if len(shape) != 1:
        raise _shape_error("mlp", shape)
    check_int("depth (number of hidden layers)", depth, minimum=1)
    hidden = (width,) * depth
    generator = MLPGenerator(
        shape[0], hidden, latent_dim=_latent(latent_dim, 256), activation=activation, init=init, gain=gain
    )
    discriminator = MLPDiscriminator(
        shape[0], hidden, activation=activation, init=init, gain=gain, spectral_norm=spectral_norm
    )
    return generator, discriminator


def _build_mlp2d_benchmark(shape: tuple[int, ...], latent_dim: int | None, *, spectral_norm: bool = False) -> Pair:
    if shape != (2,):
        raise _shape_error("mlp2d_benchmark", shape, "Hint: use family 'mlp' for other vector sizes.")
    if latent_dim not in (None, 256):
        raise ValueError(
            f"latent_dim of 'mlp2d_benchmark' is fixed at 256, got {latent_dim}. Hint: use family 'mlp' to change it."
        )
    return MLPGenerator.benchmark2d(), MLPDiscriminator.benchmark2d(spectral_norm=spectral_norm)


def _image_channels_and_size(family: str, shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 3:
        raise _shape_error(family, shape)
    channels, height, width = shape
    if height != width or height not in IMAGE_SIZES:
        sizes = ", ".join(map(str, IMAGE_SIZES[:-1])) + f" or {IMAGE_SIZES[-1]}"
        raise _shape_error(family, shape, f"Hint: resize or pad the images to a square size of {sizes}.")
    return channels, height


def _build_conv(
    shape: tuple[int, ...], latent_dim: int | None, *, width: int = 64, spectral_norm: bool = False
) -> Pair:
    channels, size = _image_channels_and_size("conv", shape)
    generator = ConvGenerator(channels, size, latent_dim=_latent(latent_dim, 100), width=width)
    return generator, ConvDiscriminator(channels, size, width=width, spectral_norm=spectral_norm)


def _build_small_conv(
    shape: tuple[int, ...],
    latent_dim: int | None,
    *,
    width: int = 32,
    depth: int | None = None,
    spectral_norm: bool = False,
) -> Pair:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise _shape_error("small_conv", shape, "Hint: small_conv builds for square images (C, S, S).")
    channels, size = shape[0], shape[1]
    generator = SmallConvGenerator(channels, size, latent_dim=_latent(latent_dim, 64), width=width, depth=depth)
    discriminator = SmallConvDiscriminator(channels, size, width=width, depth=depth, spectral_norm=spectral_norm)
    return generator, discriminator


def _build_multiscale_conv(
    shape: tuple[int, ...],
    latent_dim: int | None,
    *,
    width: int = 64,
    spectral_norm: bool = False,
    num_scales: int = 3,
) -> Pair:
    channels, size = _image_channels_and_size("multiscale_conv", shape)
    check_int("num_scales", num_scales)
    if not 1 <= num_scales <= 3:
        raise ValueError(
            f"num_scales for 'multiscale_conv' must be 1, 2 or 3 (ConvDiscriminator scores its size, "
            f"half and quarter), got {num_scales!r}."
        )
    generator = ConvGenerator(channels, size, latent_dim=_latent(latent_dim, 100), width=width)
    discriminator = MultiScaleDiscriminator(
        lambda: ConvDiscriminator(channels, size, width=width, spectral_norm=spectral_norm), num_scales
    )
    return generator, discriminator


def _sequence_depth(family: str, shape: tuple[int, ...], depth: int | None, num_scales: int) -> int:
    """The discriminator depth for samples ``(C, T)``: :func:`~featmatch.models.sequence.fitting_depth`."""
    if len(shape) != 2:
        raise _shape_error(family, shape)
    return fitting_depth(family, shape[1], depth, num_scales)


def _build_sequence(
    shape: tuple[int, ...],
    latent_dim: int | None,
    *,
    width: int = 64,
    depth: int | None = None,
    spectral_norm: bool = False,
) -> Pair:
    depth = _sequence_depth("sequence", shape, depth, 1)
    channels, length = shape
    generator = SequenceGenerator(channels, length, latent_dim=_latent(latent_dim, 64), width=width, depth=depth)
    discriminator = SequenceDiscriminator(channels, width=width, depth=depth, spectral_norm=spectral_norm)
    return generator, discriminator


def _build_multiscale_sequence(
    shape: tuple[int, ...],
    latent_dim: int | None,
    *,
    width: int = 64,
    depth: int | None = None,
    spectral_norm: bool = False,
    num_scales: int = 3,
) -> Pair:
    depth = _sequence_depth("multiscale_sequence", shape, depth, num_scales)
    channels, length = shape
    generator = SequenceGenerator(channels, length, latent_dim=_latent(latent_dim, 64), width=width, depth=depth)
    discriminator = MultiScaleDiscriminator(
        lambda: SequenceDiscriminator(channels, width=width, depth=depth, spectral_norm=spectral_norm), num_scales
    )
    return generator, discriminator


def _build_semi_mlp(
    shape: tuple[int, ...],
    latent_dim: int | None,
    *,
    num_classes: int | None = None,
    widths: Sequence[int] = (1000, 500, 250, 250, 250),
    generator_widths: Sequence[int] = (500, 500),
    input_noise: float = 0.3,
    hidden_noise: float = 0.5,
    train_hidden_scale: bool = False,
    output: str = "tanh",
    unit_range: bool = False,
) -> Pair:
    if num_classes is None:
        # No default: a silent 10 would build a wrong classifier for data with another number of classes.
        raise ValueError(
            "model family 'semi_mlp' needs num_classes=K (the number of real classes, >= 2), got none. "
            "Hint: build_models('semi_mlp', shape, num_classes=10)."
        )
    generator = SemiMLPGenerator(
        shape, latent_dim=_latent(latent_dim, 100), widths=generator_widths, output=output, unit_range=unit_range
    )
    discriminator = SemiMLPDiscriminator(
        shape,
        num_classes,
        widths=widths,
        input_noise=input_noise,
        hidden_noise=hidden_noise,
        train_hidden_scale=train_hidden_scale,
        unit_range=unit_range,
    )
    return generator, discriminator
