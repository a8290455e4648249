"""Multi-scale discriminator (pix2pixHD, Wang et al. 2018) for images and sequences."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from featmatch.features import DiscriminatorOutput
from featmatch.models.conv import check_positive_int

__all__ = ["MultiScaleDiscriminator"]


def _check_input(x: Tensor) -> None:
    if x.ndim not in (3, 4):
        raise ValueError(
            f"MultiScaleDiscriminator expects (N, C, T) sequences or (N, C, H, W) images, got shape {tuple(x.shape)}."
        )


def downsample(x: Tensor) -> Tensor:
    """Halve the resolution as pix2pixHD does: average pooling, kernel 3, stride 2, padding 1.

    Padded positions are left out of the averages (``count_include_pad=False``). A length or
    side S becomes ``ceil(S / 2)``: 64 -> 32 -> 16, 25 -> 13 -> 7.

    Args:
        x: ``(N, C, T)`` sequences or ``(N, C, H, W)`` images.

    Example:
        >>> import torch
        >>> downsample(torch.randn(2, 3, 25)).shape
        torch.Size([2, 3, 13])
    """
    _check_input(x)
    if x.ndim == 3:
        return F.avg_pool1d(x, 3, stride=2, padding=1, count_include_pad=False)  # (N, C, ceil(T / 2))
    return F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)  # (N, C, ceil(H / 2), ceil(W / 2))


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` independent discriminators, each on a coarser copy of the input (pix2pixHD).

    Scale 0 sees the input as is; scale s sees it average-pooled s times (:func:`downsample`:
    kernel 3, stride 2, padding 1, ``count_include_pad=False``; 1-D pooling for ``(N, C, T)``,
    2-D for ``(N, C, H, W)``). The forward returns one :class:`~featmatch.DiscriminatorOutput`
    per scale, full resolution first; :func:`featmatch.feature_matching_loss` takes that list
    directly as "several discriminators".

    Every discriminator must accept the pooled sizes: a side S becomes ``ceil(S / 2)`` per scale.
    :class:`~featmatch.models.ConvDiscriminator` accepts its ``image_size`` and its half and
    quarter, so up to 3 scales; :class:`~featmatch.models.SequenceDiscriminator` needs
    ``ceil(T / 2**(num_scales - 1)) >= min_length`` (``2**depth``).

    Args:
        make_discriminator: called ``num_scales`` times, each call returning a new discriminator
            (separate weights) whose forward returns a ``DiscriminatorOutput``.
        num_scales: number of scales k.

    Example:
        >>> import torch
        >>> from featmatch.models import SequenceDiscriminator
        >>> d = MultiScaleDiscriminator(lambda: SequenceDiscriminator(3, width=8, depth=2), num_scales=3)
        >>> outs = d(torch.randn(2, 3, 32))
        >>> [tuple(o.features["block1"].shape) for o in outs]
        [(2, 8, 16), (2, 8, 8), (2, 8, 4)]
    """

    def __init__(self, make_discriminator: Callable[[], nn.Module], num_scales: int = 3) -> None:
        super().__init__()
        # A module is callable too, but calling it runs its forward; each scale needs a new one.
        if isinstance(make_discriminator, nn.Module) or not callable(make_discriminator):
            raise TypeError(
                "make_discriminator must be a callable returning a new discriminator, "
                f"got {type(make_discriminator).__name__}. Hint: pass lambda: ConvDiscriminator(3, 64)."
            )
        self.num_scales = check_positive_int("num_scales", num_scales)
        discriminators: list[nn.Module] = []
        for _ in range(num_scales):
            discriminator = make_discriminator()
            if not isinstance(discriminator, nn.Module):
                raise TypeError(f"make_discriminator must return an nn.Module, got {type(discriminator).__name__}.")
            if any(discriminator is other for other in discriminators):
                raise ValueError(
                    "make_discriminator returned the same module twice; each scale needs its own "
                    "discriminator. Hint: construct it inside the callable (lambda: ConvDiscriminator(...))."
                )
            discriminators.append(discriminator)
        self.discriminators = nn.ModuleList(discriminators)

    def forward(self, x: Tensor) -> list[DiscriminatorOutput]:
        _check_input(x)
        outputs: list[DiscriminatorOutput] = []
        for scale, discriminator in enumerate(self.discriminators):
            if scale > 0:
                x = downsample(x)  # each scale halves every spatial size
            out = discriminator(x)
            if not isinstance(out, DiscriminatorOutput):
                raise TypeError(
                    f"discriminator {scale} returned {type(out).__name__}, expected DiscriminatorOutput. "
                    "Hint: wrap it with featmatch.FeatureTap or return DiscriminatorOutput(logits, features)."
                )
            outputs.append(out)
        return outputs
