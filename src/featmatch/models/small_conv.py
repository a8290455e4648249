"""A convolutional pair for small images (family ``small_conv``): more layers than DCGAN gives them.

DCGAN (:mod:`featmatch.models.conv`) halves an image down to 4 x 4, so at 8 x 8 its discriminator
has a single strided block and its generator a single upsampling: too little to learn the strokes
of a digit (the quick start's samples were blotchy at Frechet distance 163 against a floor of 12.7).
This pair follows the "standard CNN" of SNGAN (Miyato et al. 2018), scaled down:

- discriminator: a 3 x 3 convolution at full resolution (``stem``), then ``depth`` 4 x 4
  convolutions of stride 2 (``block1`` ... ``blockK``, doubling the channels, at most 8 x
  ``width``), each followed by LeakyReLU(0.2), without batch norm (so its features of a sample do
  not depend on the rest of the batch); a linear head on the last map gives one logit;
- generator: a linear layer to the smallest map (with batch norm and ReLU), then ``depth`` times
  nearest-neighbour upsampling and a 3 x 3 convolution with batch norm and ReLU, then a 3 x 3
  convolution to C channels and tanh. Nearest-neighbour upsampling does not leave the
  checkerboard of transposed convolutions, which is a large share of an 8 x 8 image.

Sizes: any square S that halves ``depth`` times to an integer of at least 2; by default ``depth``
halves until the map is at most 4 wide (or odd: 28 -> 14 -> 7), at least twice (8 -> 2 x 2).

Example:
    >>> import torch
    >>> g, d = SmallConvGenerator(1, 8, width=8), SmallConvDiscriminator(1, 8, width=8)
    >>> x = g(torch.randn(3, g.latent_dim))
    >>> x.shape, list(d(x).features)
    (torch.Size([3, 1, 8, 8]), ['stem', 'block1', 'block2'])
"""

from __future__ import annotations

from torch import Tensor, nn

from featmatch._checks import check_int, check_positive_int
from featmatch.features import DiscriminatorOutput
from featmatch.models.conv import block_channels, maybe_spectral_norm

__all__ = ["SmallConvDiscriminator", "SmallConvGenerator", "default_depth"]

_MIN_MAP = 2  # the smallest map the models go down to


def default_depth(image_size: int) -> int:
    """Halvings of ``image_size`` until the map is at most 4 wide or odd, at least 2.

    Example:
        >>> default_depth(8), default_depth(16), default_depth(28), default_depth(32)
        (2, 2, 2, 3)
    """
    depth, size = 0, image_size
    while size > 4 and size % 2 == 0:
        size //= 2
        depth += 1
    return max(depth, 2)


def _check_size_and_depth(image_size: object, depth: object) -> tuple[int, int, int]:
    """``(image_size, depth, smallest map)``, or a clear error."""
    size = check_int("image_size", image_size, minimum=2 * _MIN_MAP)
    depth = default_depth(size) if depth is None else check_int("depth", depth, minimum=1)
    smallest = size / 2**depth
    if smallest != int(smallest) or smallest < _MIN_MAP:
        raise ValueError(
            f"depth={depth} halves image_size={size} to {smallest:g}; it must stay an integer of at least "
            f"{_MIN_MAP}. Hint: use depth {default_depth(size)} (the default) or fewer."
        )
    return size, depth, int(smallest)


class SmallConvDiscriminator(nn.Module):
    """The ``small_conv`` discriminator: a 3 x 3 stem and ``depth`` strided blocks, a linear head.

    Args:
        in_channels: image channels C.
        image_size: height = width S of the images.
        width: channels of the stem (block i has ``width * min(2**i, 8)``).
        depth: strided blocks (default :func:`default_depth`).
        spectral_norm: spectral normalisation of every convolution and of the head.

    Output: ``DiscriminatorOutput(logits (N,), {"stem": (N, width, S, S), "block1": ..., "blockK": ...})``.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        *,
        width: int = 32,
        depth: int | None = None,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.image_size, self.depth, smallest = _check_size_and_depth(image_size, depth)
        self.width = check_positive_int("width", width)
        self.spectral_norm = bool(spectral_norm)
        sn = self.spectral_norm
        self.stem = nn.Sequential(
            maybe_spectral_norm(nn.Conv2d(in_channels, width, 3, padding=1), sn), nn.LeakyReLU(0.2)
        )
        blocks, channels = [], width
        for index in range(1, self.depth + 1):
            out = block_channels(width, index)
            blocks.append(
                nn.Sequential(
                    maybe_spectral_norm(nn.Conv2d(channels, out, 4, stride=2, padding=1), sn), nn.LeakyReLU(0.2)
                )
            )
            channels = out
        self.blocks = nn.ModuleList(blocks)
        self.head = maybe_spectral_norm(nn.Linear(channels * smallest * smallest, 1), sn)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"SmallConvDiscriminator expects x of shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}."
            )
        h = self.stem(x)  # (N, width, S, S)
        features = {"stem": h}
        for index, block in enumerate(self.blocks):
            h = block(h)  # (N, C_i, S / 2**i, S / 2**i)
            features[f"block{index + 1}"] = h
        return DiscriminatorOutput(self.head(h.flatten(1)).squeeze(1), features)  # logits (N,)


class SmallConvGenerator(nn.Module):
    """The ``small_conv`` generator: z -> a small map -> ``depth`` x (upsample, 3 x 3 conv) -> image in [-1, 1].

    Args:
        out_channels: image channels C.
        image_size: height = width S.
        latent_dim: size of z.
        width: channels of the last hidden map (the first has ``width * min(2**depth, 8)``).
        depth: upsamplings (default :func:`default_depth`).
    """

    def __init__(
        self,
        out_channels: int,
        image_size: int,
        *,
        latent_dim: int = 64,
        width: int = 32,
        depth: int | None = None,
    ) -> None:
        super().__init__()
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.image_size, self.depth, smallest = _check_size_and_depth(image_size, depth)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.width = check_positive_int("width", width)
        self.sample_shape: tuple[int, ...] = (out_channels, self.image_size, self.image_size)
        channels = block_channels(width, self.depth)
        self._first = (channels, smallest)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, channels * smallest * smallest),
            nn.BatchNorm1d(channels * smallest * smallest),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        for index in range(self.depth - 1, -1, -1):
            out = block_channels(width, index)
            layers += [
                nn.Upsample(scale_factor=2),
                nn.Conv2d(channels, out, 3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(),
            ]
            channels = out
        layers += [nn.Conv2d(channels, out_channels, 3, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"SmallConvGenerator expects z of shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        channels, side = self._first
        return self.net(self.project(z).view(-1, channels, side, side))  # (N, C0, s, s) -> (N, C, S, S)
