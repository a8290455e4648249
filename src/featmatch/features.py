"""What a discriminator returns, and how to read intermediate features out of any module."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["DiscriminatorOutput"]


class DiscriminatorOutput(NamedTuple):
    """The output of a featmatch discriminator, or of a :class:`FeatureTap`.

    Attributes:
        logits: the discriminator's score before any sigmoid, usually ``(N,)`` or ``(N, 1, ...)``.
        features: an ordered mapping ``name -> Tensor`` of intermediate outputs, first layer first.
            The logits are never among the features.

    Example:
        >>> import torch
        >>> out = DiscriminatorOutput(torch.zeros(4), {"block1": torch.ones(4, 8)})
        >>> logits, features = out
        >>> list(features)
        ['block1']
    """

    logits: Tensor
    features: dict[str, Tensor]
