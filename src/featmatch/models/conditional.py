"""Conditional generators (condition -> target) and the pix2pix conditional discriminator.

Generators are small U-Nets (Ronneberger et al. 2015, as pix2pix's generator) for images
``(N, C, H, W)`` and sequences ``(N, C, T)``. The condition is first resized to the target's
size (:func:`resize_condition`: nearest-neighbour up, area average down), so a 4 x 4 condition
can produce an 8 x 8 target; the encoder is the DCGAN discriminator's strided blocks
(``featmatch.models.conv.downsampling_blocks``), the decoder its generator's transposed blocks
with the encoder's outputs concatenated back in, and a last 3-tap convolution sees the decoder
output next to the resized condition itself, so observed pixels or steps can pass straight
through.

Noise: ``latent_dim`` (default 0: none, deterministic, as pix2pixHD and HiFi-GAN). With
``latent_dim = k > 0`` the generator takes ``z (N, k)``, repeated over every pixel or step and
stacked on the condition's channels (BicycleGAN's "add to input"). Not pix2pix's dropout as
noise: that makes outputs depend on train/eval mode and on the global random generator, and
pix2pix reports it gives little variety; an explicit ``z`` drawn by the caller keeps sampling
reproducible from the caller's seeded generator.

The discriminator (:class:`ConditionalDiscriminator`) stacks the resized condition and the
target on channels and runs an existing featmatch discriminator over ``C_cond + C_target``
channels, as pix2pix and pix2pixHD do: a :class:`~featmatch.models.ConvDiscriminator`, a
:class:`~featmatch.models.SequenceDiscriminator` or a
:class:`~featmatch.models.MultiScaleDiscriminator` of either (which pools condition and target
together at each scale). Its output is the wrapped discriminator's: a
:class:`~featmatch.DiscriminatorOutput` with named features, or a list of them.

Example:
    >>> import torch
    >>> g, d = build_conditional_models("cond_conv", (1, 4, 4), (1, 8, 8), width=8)
    >>> condition = torch.randn(3, 1, 4, 4)
    >>> fake = g(condition)
    >>> fake.shape, list(d(condition, fake).features)
    (torch.Size([3, 1, 8, 8]), ['block1'])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch._checks import check_int
from featmatch.features import DiscriminatorOutput
from featmatch.models.conv import (
    ConvDiscriminator,
    block_channels,
    check_positive_int,
    downsampling_blocks,
    init_dcgan_weights,
    upsampling_layers,
)
from featmatch.models.multiscale import MultiScaleDiscriminator
from featmatch.models.sequence import SequenceDiscriminator, fitting_depth

__all__ = [
    "CONDITIONAL_FAMILIES",
    "ConditionalConvGenerator",
    "ConditionalDiscriminator",
    "ConditionalSequenceGenerator",
    "build_conditional_models",
    "default_conditional_family",
    "resize_condition",
]

#: Target sizes (height = width) the conditional U-Net builds for: it halves them down to 1 x 1.
UNET_IMAGE_SIZES: tuple[int, ...] = (8, 16, 32, 64)

#: Conditional model families (also accepted by :func:`featmatch.models.build_models` with ``condition_shape=``).
CONDITIONAL_FAMILIES: tuple[str, ...] = (
    "cond_conv",
    "cond_sequence",
    "cond_multiscale_conv",
    "cond_multiscale_sequence",
)

_OPTIONS: dict[str, frozenset[str]] = {
    "cond_conv": frozenset({"width", "depth", "spectral_norm"}),
    "cond_sequence": frozenset({"width", "depth", "spectral_norm"}),
    "cond_multiscale_conv": frozenset({"width", "depth", "spectral_norm", "num_scales"}),
    "cond_multiscale_sequence": frozenset({"width", "depth", "spectral_norm", "num_scales"}),
}
# A U-Net deeper than this gains little on the small data here.
_MAX_DEFAULT_DEPTH = 4
_DEFAULT_WIDTH = 32


def resize_condition(condition: Tensor, size: Sequence[int]) -> Tensor:
    """Resize conditions to the target's spatial size: nearest-neighbour up, area average down.

    Nearest-neighbour upsampling keeps the condition's values: each 2 x 2 block of an
    upsampled 4 x 4 average-pooled image holds its average, so pooling it again gives the
    condition back exactly. A condition of the target's size is returned as is.

    Args:
        condition: ``(N, C, T)`` or ``(N, C, H, W)``.
        size: the target's ``(T,)`` or ``(H, W)``.

    Returns:
        ``(N, C, *size)``.

    Example:
        >>> resize_condition(torch.arange(4.0).view(1, 1, 2, 2), (4, 4))[0, 0, 0].tolist()
        [0.0, 0.0, 1.0, 1.0]
    """
    size = tuple(int(s) for s in size)
    if condition.ndim != len(size) + 2:
        raise ValueError(
            f"condition must have shape (N, C, {', '.join('*' * len(size))}) to be resized to {size}, "
            f"got {tuple(condition.shape)}. Hint: conditions and targets must both be images or both sequences."
        )
    current = tuple(condition.shape[2:])
    if current == size:
        return condition
    if all(c >= s for c, s in zip(current, size, strict=True)):
        if len(size) == 1:
            return F.adaptive_avg_pool1d(condition, size[0])
        return F.adaptive_avg_pool2d(condition, (size[0], size[1]))
    return F.interpolate(condition, size=size, mode="nearest-exact")


def _check_shapes(
    family_or_class: str, condition_shape: Sequence[int], target_shape: Sequence[int], dims: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shapes = []
    for what, shape in (("condition_shape", condition_shape), ("target_shape", target_shape)):
        if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
            raise TypeError(f"{what} must be a tuple of ints such as (1, 8, 8), got {shape!r}.")
        shape = tuple(shape)
        for i, s in enumerate(shape):
            check_int(f"{what}[{i}]", s, minimum=1, hint=f" Hint: a tuple of positive ints, got {shape}.")
        if len(shape) != dims + 1:
            layout = "(C, T) sequences" if dims == 1 else "(C, H, W) images"
            hints = {
                3: " Hint: for images use a cond_*conv family.",
                2: " Hint: for sequences use a cond_*sequence family.",
            }
            raise ValueError(f"{family_or_class} needs {what} of {layout}, got {shape}.{hints.get(len(shape), '')}")
        shapes.append(shape)
    return shapes[0], shapes[1]


def _default_depth(spatial: Sequence[int]) -> int:
    # Halve down to a side of at least 2 (2 x 2 for 8 x 8 digits), at most _MAX_DEFAULT_DEPTH times.
    smallest = min(spatial)
    return max(1, min(_MAX_DEFAULT_DEPTH, smallest.bit_length() - 2))


class _ConditionalUNet(nn.Module):
    """The U-Net shared by the 1-D and 2-D conditional generators."""

    _dims = 2

    def __init__(
        self,
        condition_shape: Sequence[int],
        target_shape: Sequence[int],
        *,
        latent_dim: int = 0,
        width: int = _DEFAULT_WIDTH,
        depth: int | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.condition_shape, self.sample_shape = _check_shapes(name, condition_shape, target_shape, self._dims)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=0, hint=" (0: no noise input)")
        self.width = check_positive_int("width", width)
        self.depth = _default_depth(self.sample_shape[1:]) if depth is None else check_positive_int("depth", depth)
        conv, conv_transpose, norm = (
            (nn.Conv1d, nn.ConvTranspose1d, nn.BatchNorm1d)
            if self._dims == 1
            else (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)
        )
        in_channels = self.condition_shape[0] + self.latent_dim
        self.down, channels = downsampling_blocks(conv, norm, in_channels, width, self.depth, spectral_norm=False)
        stages = []
        for index in range(self.depth - 2, -1, -1):  # up to block index's size, then its output joins in
            layers, out = upsampling_layers(conv_transpose, norm, channels, width, [index])
            stages.append(nn.Sequential(*layers))
            channels = out + block_channels(width, index)
        layers, out = upsampling_layers(conv_transpose, norm, channels, width, [0])  # to full size
        stages.append(nn.Sequential(*layers))
        self.up = nn.ModuleList(stages)
        self.to_output = conv(out + in_channels, self.sample_shape[0], 3, padding=1)
        self.apply(init_dcgan_weights)

    def forward(self, condition: Tensor, z: Tensor | None = None) -> Tensor:
        name = type(self).__name__
        spatial = self.sample_shape[1:]
        if condition.ndim != self._dims + 2 or condition.shape[1] != self.condition_shape[0]:
            layout = "T" if self._dims == 1 else "H, W"
            raise ValueError(
                f"{name} expects a condition of shape (N, {self.condition_shape[0]}, {layout}), "
                f"got {tuple(condition.shape)}."
            )
        x = resize_condition(condition, spatial)  # (N, C_cond, *spatial)
        if self.latent_dim:
            if z is None or z.ndim != 2 or z.shape != (condition.shape[0], self.latent_dim):
                got = None if z is None else tuple(z.shape)
                raise ValueError(
                    f"{name}(latent_dim={self.latent_dim}) expects noise z of shape "
                    f"({condition.shape[0]}, {self.latent_dim}), got {got}."
                )
            x = torch.cat([x, z.view(*z.shape, *(1,) * self._dims).expand(-1, -1, *spatial)], dim=1)
        elif z is not None:
            raise ValueError(f"{name} was built with latent_dim=0 (no noise), but z was given. Hint: leave z out.")
        # Pad the far end so every halving is exact; the padding is cut off at the end.
        multiple = 2**self.depth
        pad = [(-s) % multiple for s in spatial]
        if any(pad):
            x = F.pad(x, [p for amount in reversed(pad) for p in (0, amount)])
        skips = []
        h = x
        for block in self.down:
            h = block(h)  # halves every side
            skips.append(h)
        skips.pop()  # the innermost block's output is h itself
        for stage in self.up[:-1]:
            h = torch.cat([stage(h), skips.pop()], dim=1)  # doubles every side, then the skip joins
        h = torch.cat([self.up[-1](h), x], dim=1)  # (N, width + C_in, *padded)
        h = self.to_output(h)
        crop = (slice(None), slice(None), *(slice(0, s) for s in spatial))
        return h[crop].tanh()  # (N, C_target, *spatial)


class ConditionalConvGenerator(_ConditionalUNet):
    """U-Net generator for images: condition ``(N, C_c, h, w)`` (+ noise) -> target ``(N, C_t, H, W)`` in [-1, 1].

    The condition is resized to H x W (:func:`resize_condition`), stacked with the noise (when
    ``latent_dim > 0``), encoded by ``depth`` strided blocks (Conv2d 4/2/1, BatchNorm but in the
    first, LeakyReLU 0.2; block i has ``width * min(2**i, 8)`` channels) and decoded by as many
    transposed blocks (ConvTranspose2d 4/2/1, BatchNorm, ReLU), each encoder output joining the
    decoder at its size; a 3 x 3 convolution over the last decoder output and the resized
    condition gives the target, bounded by tanh. Sides that do not divide by ``2**depth`` are
    padded and cropped back.

    Args:
        condition_shape: ``(C_c, h, w)``; any h and w (resized to the target's).
        target_shape: ``(C_t, H, W)``.
        latent_dim: size of the noise ``z``; 0 for none (deterministic).
        width: channels of the first encoder block and the last decoder block.
        depth: number of halvings; by default down to a side of at least 2, at most 4.

    Example:
        >>> g = ConditionalConvGenerator((2, 8, 8), (1, 8, 8), latent_dim=4, width=8)
        >>> g(torch.randn(5, 2, 8, 8), torch.randn(5, 4)).shape
        torch.Size([5, 1, 8, 8])
    """

    _dims = 2


class ConditionalSequenceGenerator(_ConditionalUNet):
    """1-D U-Net generator: condition ``(N, C_c, t)`` (+ noise) -> target ``(N, C_t, T)`` in [-1, 1].

    :class:`ConditionalConvGenerator` with 1-D layers (Conv1d, ConvTranspose1d, BatchNorm1d). A
    condition of the target's length (as ``mnist1d-complete``'s) lines up step by step with the
    target, so the observed steps reach the output through the skips.

    Args:
        condition_shape: ``(C_c, t)``; any t (resized to T).
        target_shape: ``(C_t, T)``.
        latent_dim: size of the noise ``z``; 0 for none (deterministic).
        width: channels of the first encoder block and the last decoder block.
        depth: number of halvings; by default down to a length of at least 2, at most 4.

    Example:
        >>> g = ConditionalSequenceGenerator((2, 40), (1, 40), width=8)
        >>> g(torch.randn(3, 2, 40)).shape
        torch.Size([3, 1, 40])
    """

    _dims = 1


class ConditionalDiscriminator(nn.Module):
    """pix2pix's conditional discriminator: any featmatch discriminator over (condition, target) stacked on channels.

    ``forward(condition, target)`` resizes the condition to the target's size
    (:func:`resize_condition`), concatenates ``[condition, target]`` on channels and returns what
    the wrapped discriminator returns for that: a :class:`~featmatch.DiscriminatorOutput` with
    its named features, or a list of them for a :class:`~featmatch.models.MultiScaleDiscriminator`.
    Pass the generated target (with its condition) for "fake", the real target (with the same
    condition) for "real": paired feature matching then compares pair i with pair i.

    Args:
        discriminator: a discriminator taking ``C_cond + C_target`` input channels.
        condition_channels: ``C_cond``.
        target_channels: ``C_target``.

    Example:
        >>> from featmatch.models import SequenceDiscriminator
        >>> d = ConditionalDiscriminator(SequenceDiscriminator(3, width=8, depth=2), 2, 1)
        >>> out = d(torch.randn(4, 2, 40), torch.randn(4, 1, 40))
        >>> out.logits.shape, list(out.features)
        (torch.Size([4]), ['block1', 'block2'])
    """

    def __init__(self, discriminator: nn.Module, condition_channels: int, target_channels: int) -> None:
        super().__init__()
        if not isinstance(discriminator, nn.Module):
            raise TypeError(f"discriminator must be an nn.Module, got {type(discriminator).__name__}.")
        self.discriminator = discriminator
        self.condition_channels = check_positive_int("condition_channels", condition_channels)
        self.target_channels = check_positive_int("target_channels", target_channels)

    def forward(self, condition: Tensor, target: Tensor) -> DiscriminatorOutput | list[DiscriminatorOutput]:
        if target.ndim not in (3, 4) or target.shape[1] != self.target_channels:
            raise ValueError(
                f"ConditionalDiscriminator expects a target of shape (N, {self.target_channels}, T) or "
                f"(N, {self.target_channels}, H, W), got {tuple(target.shape)}."
            )
        if condition.ndim != target.ndim or condition.shape[:2] != (target.shape[0], self.condition_channels):
            raise ValueError(
                f"ConditionalDiscriminator expects a condition of shape ({target.shape[0]}, "
                f"{self.condition_channels}, ...) with {target.ndim - 2} spatial dim(s) like the target "
                f"{tuple(target.shape)}, got {tuple(condition.shape)}. Hint: pass the condition of each target."
            )
        x = torch.cat([resize_condition(condition, target.shape[2:]), target], dim=1)  # (N, C_c + C_t, ...)
        return self.discriminator(x)


def default_conditional_family(condition_shape: Sequence[int], target_shape: Sequence[int]) -> str:
    """The conditional family for targets of this shape: ``cond_conv`` for images, ``cond_sequence`` for sequences.

    Example:
        >>> default_conditional_family((2, 40), (1, 40))
        'cond_sequence'
    """
    target = tuple(target_shape)
    if len(target) == 3:
        return "cond_conv"
    if len(target) == 2:
        return "cond_sequence"
    raise ValueError(
        f"conditional models need (C, H, W) image or (C, T) sequence targets, got target_shape {target}. "
        f"Hint: reshape the targets to (1, D) to treat vectors as sequences."
    )


def build_conditional_models(
    family: str,
    condition_shape: Sequence[int] | None,
    target_shape: Sequence[int],
    *,
    latent_dim: int | None = None,
    **options: Any,
) -> tuple[nn.Module, nn.Module]:
    """Build a conditional (generator, discriminator) pair for conditions and targets of these shapes.

    Families (options: ``width`` (32, both models), ``depth`` (the U-Net's halvings; for
    sequences also the discriminator's blocks; by default the most that fit, at most 4),
    ``spectral_norm`` (discriminator), ``num_scales`` (multi-scale, 3)):

    - ``"cond_conv"``: :class:`ConditionalConvGenerator` and a :class:`ConditionalDiscriminator`
      around a :class:`~featmatch.models.ConvDiscriminator`; targets ``(C, S, S)``, S in 8/16/32/64.
    - ``"cond_multiscale_conv"``: the same with a 1-3 scale
      :class:`~featmatch.models.MultiScaleDiscriminator` (pix2pixHD).
    - ``"cond_sequence"``: :class:`ConditionalSequenceGenerator` and a conditional
      :class:`~featmatch.models.SequenceDiscriminator` (the reference article's kind).
    - ``"cond_multiscale_sequence"``: the same with a multi-scale discriminator.

    Args:
        family: one of ``CONDITIONAL_FAMILIES``.
        condition_shape: one condition's shape, ``(C_c, h, w)`` or ``(C_c, t)``.
        target_shape: one target's shape, ``(C_t, H, W)`` or ``(C_t, T)``.
        latent_dim: noise size; None or 0 for none.
        **options: the family's options above.

    Returns:
        ``(generator, discriminator)``; ``generator(condition, z=None)`` and
        ``discriminator(condition, target)``; the generator has ``condition_shape``,
        ``sample_shape`` (the target's) and ``latent_dim`` attributes.

    Example:
        >>> g, d = build_conditional_models("cond_multiscale_sequence", (2, 40), (1, 40), width=8, num_scales=2)
        >>> outs = d(torch.randn(2, 2, 40), torch.randn(2, 1, 40))
        >>> len(outs), list(outs[0].features)
        (2, ['block1', 'block2', 'block3', 'block4'])
    """
    if family not in CONDITIONAL_FAMILIES:
        raise ValueError(f"family must be one of {CONDITIONAL_FAMILIES}, got {family!r}.")
    dims = 2 if family.endswith("conv") else 1
    if condition_shape is None:
        example = "(1, 4, 4)" if dims == 2 else "(2, 40)"
        raise ValueError(
            f"model family {family!r} needs condition_shape, the shape of one condition, got none. "
            f"Hint: build_models({family!r}, target_shape, condition_shape={example}), or "
            f"condition_shape=pairs.condition_shape for a PairedDataSet."
        )
    unknown = sorted(set(options) - _OPTIONS[family])
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for model family {family!r}; it accepts {sorted(_OPTIONS[family])}."
        )
    condition, target = _check_shapes(f"model family {family!r}", condition_shape, target_shape, dims)
    width = options.get("width", _DEFAULT_WIDTH)
    depth = options.get("depth")
    spectral_norm = bool(options.get("spectral_norm", False))
    multiscale = "multiscale" in family
    num_scales = check_int("num_scales", options.get("num_scales", 3), minimum=1) if multiscale else 1
    in_channels = condition[0] + target[0]
    latent = 0 if latent_dim is None else latent_dim
    make_d: Any
    if dims == 2:
        _, height, side = target
        if height != side or side not in UNET_IMAGE_SIZES:
            raise ValueError(
                f"model family {family!r} needs square targets (C, S, S) with S in {UNET_IMAGE_SIZES} "
                f"(its ConvDiscriminator's sizes), got target_shape {target}. Hint: resize the pairs "
                f"(image_size=...) to one of these sizes."
            )
        if multiscale and num_scales > 3:
            raise ValueError(
                f"num_scales for {family!r} must be 1, 2 or 3 (ConvDiscriminator scores its size, half "
                f"and quarter), got {num_scales}."
            )
        generator: nn.Module = ConditionalConvGenerator(condition, target, latent_dim=latent, width=width, depth=depth)

        def make_d() -> nn.Module:
            return ConvDiscriminator(in_channels, side, width=width, spectral_norm=spectral_norm)
    else:
        d_depth = fitting_depth(family, target[1], depth, num_scales)  # a depth that fits every scale
        generator = ConditionalSequenceGenerator(condition, target, latent_dim=latent, width=width, depth=depth)

        def make_d() -> nn.Module:
            return SequenceDiscriminator(in_channels, width=width, depth=d_depth, spectral_norm=spectral_norm)

    inner = MultiScaleDiscriminator(make_d, num_scales) if multiscale else make_d()
    return generator, ConditionalDiscriminator(inner, condition[0], target[0])
