"""DCGAN-style generator and discriminator for square images (N, C, H, W), H = W in {8, 16, 28, 32, 64}.

Also holds the two small helpers the convolutional models share: the DCGAN weight
initialisation and optional spectral normalisation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import cast

from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from featmatch._checks import check_positive_int
from featmatch.features import DiscriminatorOutput

__all__ = ["IMAGE_SIZES", "ConvDiscriminator", "ConvGenerator", "init_dcgan_weights"]

#: Image sizes (height = width) that :class:`ConvGenerator` and :class:`ConvDiscriminator` build for:
#: 4 x 4 doubled, and MNIST's 28 (7 x 7 doubled twice).
IMAGE_SIZES: tuple[int, ...] = (8, 16, 28, 32, 64)

# DCGAN doubles the channels per block; capping the multiplier keeps deep models small.
_MAX_CHANNEL_MULT = 8


def init_dcgan_weights(module: nn.Module) -> None:
    """Initialise one module as in DCGAN (Radford et al. 2016), for use with ``Module.apply``.

    Convolutions (also transposed) get weights ~ N(0, 0.02); batch norms get weights
    ~ N(1, 0.02) and zero bias. Other modules are left alone.

    Args:
        module: any module; only conv and batch-norm layers are changed.

    Example:
        >>> net = nn.Sequential(nn.Conv1d(3, 8, 4), nn.BatchNorm1d(8))
        >>> _ = net.apply(init_dcgan_weights)
    """
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def maybe_spectral_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``layer`` with spectral normalisation when ``enabled`` (after it was initialised)."""
    return _spectral_norm(layer) if enabled else layer


def _check_image_size(image_size: object) -> int:
    # A choice from IMAGE_SIZES, so a ValueError for any other value; 32.0 == 32 and True == 1, hence the types.
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size not in IMAGE_SIZES:
        raise ValueError(
            f"image_size must be one of {IMAGE_SIZES} (square images), got {image_size!r}. "
            "Hint: resize or pad your images to one of these sizes."
        )
    return image_size


def base_size(image_size: int) -> int:
    """The smallest map of a model for ``image_size``: 7 for sizes built from 7 (28), else 4.

    Example:
        >>> base_size(32), base_size(28)
        (4, 7)
    """
    return 7 if image_size % 7 == 0 else 4


def block_channels(width: int, index: int) -> int:
    """Channels of block ``index`` (0-based): doubling per block, capped at 8 x ``width`` (DCGAN)."""
    return width * min(2**index, _MAX_CHANNEL_MULT)


def downsampling_blocks(
    conv: type[nn.Module],
    norm: type[nn.Module],
    in_channels: int,
    width: int,
    depth: int,
    spectral_norm: bool,
) -> tuple[nn.ModuleList, int]:
    """The DCGAN-style strided blocks shared by the 1-D and 2-D discriminators.

    Each block is ``conv(4, stride 2, padding 1) -> [norm] -> LeakyReLU(0.2)``, with no norm in
    the first block (DCGAN) nor anywhere under spectral normalisation; block i has
    ``width * min(2**i, 8)`` channels. Returns the blocks and the last block's channels.

    Example:
        >>> blocks, channels = downsampling_blocks(nn.Conv1d, nn.BatchNorm1d, 3, 8, 2, False)
        >>> len(blocks), channels
        (2, 16)
    """
    blocks = []
    channels_in = in_channels
    for index in range(depth):
        channels_out = block_channels(width, index)
        use_norm = index > 0 and not spectral_norm
        layers: list[nn.Module] = [conv(channels_in, channels_out, 4, stride=2, padding=1, bias=not use_norm)]
        if use_norm:
            layers.append(norm(channels_out))
        layers.append(nn.LeakyReLU(0.2))
        blocks.append(nn.Sequential(*layers))
        channels_in = channels_out
    return nn.ModuleList(blocks), channels_in


def upsampling_layers(
    conv_transpose: type[nn.Module],
    norm: type[nn.Module],
    channels_in: int,
    width: int,
    indices: Iterable[int],
) -> tuple[list[nn.Module], int]:
    """The DCGAN-style generator stages shared by the 1-D and 2-D generators.

    One ``conv_transpose(4, stride 2, padding 1) -> norm -> ReLU`` stage per index, doubling the
    length (or height and width), to ``width * min(2**index, 8)`` channels. Returns the layers and
    the last stage's channels.

    Example:
        >>> layers, channels = upsampling_layers(nn.ConvTranspose1d, nn.BatchNorm1d, 32, 8, [1, 0])
        >>> len(layers), channels
        (6, 8)
    """
    layers: list[nn.Module] = []
    channels = channels_in
    for index in indices:
        channels_out = block_channels(width, index)
        layers += [
            conv_transpose(channels, channels_out, 4, stride=2, padding=1, bias=False),
            norm(channels_out),
            nn.ReLU(),
        ]
        channels = channels_out
    return layers, channels


def finish_discriminator(model: nn.Module, spectral_norm: bool) -> None:
    """DCGAN initialisation of ``model.blocks`` and ``model.head``, then spectral norm if asked.

    Spectral normalisation wraps every block's convolution and the head after initialisation, so
    it normalises the initialised weights.
    """
    model.apply(init_dcgan_weights)
    if spectral_norm:
        # torch types a Module's attributes as Tensor | Module; these are downsampling_blocks' ModuleList
        # of Sequentials and the caller's head.
        blocks, head = cast(Iterable[nn.Sequential], model.blocks), cast(nn.Module, model.head)
        for block in blocks:
            block[0] = maybe_spectral_norm(block[0], True)
        model.head = maybe_spectral_norm(head, True)


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator whose forward returns logits and the output of every block.

    Blocks are ``Conv2d(4, stride 2, padding 1) -> [BatchNorm2d] -> LeakyReLU(0.2)``, halving
    height and width, with no batch norm in the first block (as in DCGAN). There are
    ``log2(image_size / 4)`` blocks, so an image of ``image_size`` ends as a 4 x 4 map (7 x 7 for
    28 x 28 images: two blocks); block i
    (1-based) has ``width * min(2**(i-1), 8)`` channels. The head is a 3 x 3 convolution to one
    channel whose patch scores are averaged into one logit per sample: unlike DCGAN's 4 x 4 valid
    convolution, it also scores images of half and quarter ``image_size``, which is what a
    3-scale :class:`~featmatch.models.MultiScaleDiscriminator` feeds it.

    Args:
        in_channels: image channels C.
        image_size: height = width of the images, one of ``IMAGE_SIZES`` (8, 16, 28, 32, 64).
        width: channels of the first block.
        spectral_norm: wrap every convolution with spectral normalisation and drop batch norm.

    Input ``(N, C, S, S)`` with ``S`` in ``accepted_sizes`` = image_size, image_size / 2, image_size / 4.
    Output: ``DiscriminatorOutput(logits (N,), {"block1": ..., "blockK": ...})``.

    Example:
        >>> d = ConvDiscriminator(3, 32, width=8)
        >>> out = d(torch.randn(2, 3, 32, 32))
        >>> out.logits.shape, list(out.features)
        (torch.Size([2]), ['block1', 'block2', 'block3'])
    """

    def __init__(self, in_channels: int, image_size: int, *, width: int = 64, spectral_norm: bool = False) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.image_size = _check_image_size(image_size)
        self.width = check_positive_int("width", width)
        self.spectral_norm = bool(spectral_norm)
        self.depth = int(math.log2(image_size // base_size(image_size)))
        self.accepted_sizes: tuple[int, ...] = tuple(image_size // 2**s for s in range(3))

        self.blocks, channels_out = downsampling_blocks(
            nn.Conv2d, nn.BatchNorm2d, in_channels, width, self.depth, self.spectral_norm
        )
        self.head = nn.Conv2d(channels_out, 1, 3, padding=1)
        finish_discriminator(self, self.spectral_norm)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ConvDiscriminator expects x of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}."
            )
        height, width = x.shape[-2:]
        if height != width or height not in self.accepted_sizes:
            raise ValueError(
                f"ConvDiscriminator(image_size={self.image_size}) accepts square images of size "
                f"{self.accepted_sizes}, got H x W = {height} x {width}. "
                "Hint: build it with image_size equal to your data's size."
            )
        features: dict[str, Tensor] = {}
        h = x
        for index, block in enumerate(self.blocks):
            h = block(h)  # (N, C_i, S / 2**i, S / 2**i)
            features[f"block{index + 1}"] = h
        logits = self.head(h).mean(dim=(1, 2, 3))  # (N, 1, s, s) -> (N,)
        return DiscriminatorOutput(logits, features)


class ConvGenerator(nn.Module):
    """DCGAN generator: ``z (N, latent_dim) -> image (N, C, S, S)`` in [-1, 1].

    ``z`` is projected by a 4 x 4 (7 x 7 for S = 28) transposed convolution to ``width * min(2**(k-1), 8)``
    channels, then ``k = log2(S / 4)`` (``log2(S / 7)``) transposed convolutions (4, stride 2, padding 1)
    double the size; all
    but the last are followed by BatchNorm2d and ReLU, the last maps to C channels and tanh.

    Args:
        out_channels: image channels C.
        image_size: height = width S, one of ``IMAGE_SIZES`` (8, 16, 28, 32, 64).
        latent_dim: size of z.
        width: channels of the last hidden block.

    Example:
        >>> g = ConvGenerator(1, 16, latent_dim=8, width=8)
        >>> g(torch.randn(2, 8)).shape
        torch.Size([2, 1, 16, 16])
    """

    def __init__(self, out_channels: int, image_size: int, *, latent_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.image_size = _check_image_size(image_size)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.width = check_positive_int("width", width)
        self.sample_shape: tuple[int, ...] = (out_channels, image_size, image_size)
        base = base_size(image_size)
        num_up = int(math.log2(image_size // base))

        channels = block_channels(width, num_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, channels, base, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ]
        upsampling, channels = upsampling_layers(
            nn.ConvTranspose2d, nn.BatchNorm2d, channels, width, range(num_up - 2, -1, -1)
        )
        layers += upsampling
        layers += [nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"ConvGenerator expects z of shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.net(z[:, :, None, None])  # (N, latent, 1, 1) -> (N, C, S, S)
