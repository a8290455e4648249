"""1-D convolutional generator and discriminator for sequences (N, C, T) of any channel count and length.

The discriminator follows the design of the reference article's ``rof_discriminator``
(strided Conv1d blocks, LeakyReLU(0.2), batch norm on every block but the first, DCGAN
initialisation, one feature map per block) without its limits: any C, any T from
``min_length`` up, configurable width and depth, logits rather than probabilities.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from featmatch._checks import check_int
from featmatch.features import DiscriminatorOutput
from featmatch.models.conv import (
    block_channels,
    check_positive_int,
    downsampling_blocks,
    finish_discriminator,
    init_dcgan_weights,
    upsampling_layers,
)

__all__ = ["SequenceDiscriminator", "SequenceGenerator", "fitting_depth"]

# A sequence discriminator deeper than this gains little and needs T >= 2**depth.
MAX_DEFAULT_DEPTH = 4


def fitting_depth(family: str, length: int, depth: int | None, num_scales: int) -> int:
    """The depth of a sequence discriminator over length-``length`` sequences at ``num_scales`` scales.

    ``depth`` as given (checked to fit the coarsest scale, halved ``num_scales - 1`` times), or
    the largest that fits, up to 4. ``family`` names the model family in error messages.

    Example:
        >>> fitting_depth("sequence", 40, None, 1), fitting_depth("multiscale_sequence", 40, None, 3)
        (4, 3)
    """
    check_int("num_scales", num_scales, minimum=1)
    coarsest = length
    for _ in range(num_scales - 1):
        coarsest = -(-coarsest // 2)  # ceil: what the pix2pixHD pooling does to a length
    fits = coarsest.bit_length() - 1  # floor(log2(coarsest)): 2**fits <= coarsest
    if depth is None:
        if fits < 1:
            raise ValueError(
                f"sequence length T = {length} is too short for model family {family!r} with "
                f"num_scales={num_scales}: the coarsest scale has length {coarsest}, and the "
                "discriminator needs at least 2. Hint: use fewer scales or longer sequences."
            )
        return min(fits, MAX_DEFAULT_DEPTH)
    check_int("depth", depth, minimum=1)
    if depth > fits:
        raise ValueError(
            f"depth={depth} needs sequence length >= {2**depth} at every scale, but T = {length} "
            f"gives {coarsest} at the coarsest of {num_scales} scale(s). "
            f"Hint: use depth <= {max(fits, 1)}{'' if fits >= 1 else ' and longer sequences'}."
        )
    return depth


class SequenceDiscriminator(nn.Module):
    """1-D convolutional discriminator; returns logits and each block's output as features.

    ``depth`` blocks ``Conv1d(4, stride 2, padding 1) -> [BatchNorm1d] -> LeakyReLU(0.2)``, each
    mapping length L to ``floor(L / 2)``; block 1 has no batch norm. Block i (1-based) has
    ``width * min(2**(i-1), 8)`` channels. The head, a 3-tap Conv1d to one channel averaged over
    time, gives one logit per sample for any length, so the model needs no fixed T; the
    shortest accepted length is ``min_length = 2**depth`` (every block keeps at least one step).

    Args:
        in_channels: channels C of the sequences.
        width: channels of the first block.
        depth: number of strided blocks (features ``block1..block{depth}``).
        spectral_norm: wrap every convolution with spectral normalisation and drop batch norm.

    Input ``(N, C, T)`` with ``T >= min_length``. Output ``DiscriminatorOutput(logits (N,), features)``
    where ``features["block{i}"]`` has shape ``(N, width * min(2**(i-1), 8), floor(T / 2**i))``.

    Example:
        >>> import torch
        >>> d = SequenceDiscriminator(256, width=16, depth=4)  # the article's C=256, T=25 data
        >>> out = d(torch.randn(2, 256, 25))
        >>> out.logits.shape, [tuple(f.shape) for f in out.features.values()]
        (torch.Size([2]), [(2, 16, 12), (2, 32, 6), (2, 64, 3), (2, 128, 1)])
    """

    def __init__(self, in_channels: int, *, width: int = 64, depth: int = 4, spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.width = check_positive_int("width", width)
        self.depth = check_positive_int("depth", depth)
        self.spectral_norm = bool(spectral_norm)

        self.blocks, channels_out = downsampling_blocks(
            nn.Conv1d, nn.BatchNorm1d, in_channels, width, depth, self.spectral_norm
        )
        self.head = nn.Conv1d(channels_out, 1, 3, padding=1)
        finish_discriminator(self, self.spectral_norm)

    @property
    def min_length(self) -> int:
        """The shortest sequence length T this discriminator accepts: ``2**depth``."""
        return 2**self.depth

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"SequenceDiscriminator expects x of shape (N, {self.in_channels}, T), got {tuple(x.shape)}."
            )
        length = x.shape[-1]
        if length < self.min_length:
            largest_depth = length.bit_length() - 1  # floor(log2(T)) for T >= 1
            hint = f"use depth <= {largest_depth} or longer sequences" if largest_depth >= 1 else "use longer sequences"
            raise ValueError(
                f"SequenceDiscriminator(depth={self.depth}) needs sequence length T >= {self.min_length} "
                f"(2**depth), got T = {length}. Hint: {hint}."
            )
        features: dict[str, Tensor] = {}
        h = x
        for index, block in enumerate(self.blocks):
            h = block(h)  # (N, C_i, floor(T / 2**i))
            features[f"block{index + 1}"] = h
        logits = self.head(h).mean(dim=(1, 2))  # (N, 1, L) -> (N,)
        return DiscriminatorOutput(logits, features)


class SequenceGenerator(nn.Module):
    """1-D convolutional generator: ``z (N, latent_dim) -> x (N, C, T)`` in [-1, 1], for any T.

    ``z`` goes through a linear layer to ``(width * min(2**depth, 8), T0)`` with
    ``T0 = ceil(T / 2**depth)``; ``depth`` blocks ``ConvTranspose1d(4, stride 2, padding 1) ->
    BatchNorm1d -> ReLU`` double the length (last block: ``width`` channels); a 3-tap Conv1d maps
    to C channels, the first T steps are kept (the upsampled length is ``T0 * 2**depth >= T``),
    and tanh bounds the output.

    Args:
        out_channels: channels C of the generated sequences.
        length: length T of the generated sequences.
        latent_dim: size of z.
        width: channels of the last upsampling block.
        depth: number of upsampling blocks.

    Example:
        >>> import torch
        >>> g = SequenceGenerator(3, 25, latent_dim=8, width=8, depth=2)
        >>> g(torch.randn(4, 8)).shape
        torch.Size([4, 3, 25])
    """

    def __init__(
        self, out_channels: int, length: int, *, latent_dim: int = 64, width: int = 64, depth: int = 3
    ) -> None:
        super().__init__()
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.length = check_positive_int("length", length)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.width = check_positive_int("width", width)
        self.depth = check_positive_int("depth", depth)
        self.sample_shape: tuple[int, ...] = (out_channels, length)
        self.start_length = math.ceil(length / 2**depth)
        self.start_channels = block_channels(width, depth)

        self.project = nn.Linear(latent_dim, self.start_channels * self.start_length, bias=False)
        self.project_norm = nn.Sequential(nn.BatchNorm1d(self.start_channels), nn.ReLU())
        layers, channels = upsampling_layers(
            nn.ConvTranspose1d, nn.BatchNorm1d, self.start_channels, width, range(depth - 1, -1, -1)
        )
        self.upsample = nn.Sequential(*layers)
        self.to_output = nn.Conv1d(channels, out_channels, 3, padding=1)
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"SequenceGenerator expects z of shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        h = self.project(z).view(z.shape[0], self.start_channels, self.start_length)  # (N, C0, T0)
        h = self.upsample(self.project_norm(h))  # (N, width, T0 * 2**depth)
        h = self.to_output(h)[..., : self.length]  # (N, C, T)
        return h.tanh()
