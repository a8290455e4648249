"""ConvDiscriminator / ConvGenerator (DCGAN): sizes 8-64, features, pooled sizes, errors, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from featmatch import DiscriminatorOutput
from featmatch.models import IMAGE_SIZES, ConvDiscriminator, ConvGenerator


@pytest.mark.parametrize("size", [8, 16, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(size: int, channels: int) -> None:
    width = 2
    g = ConvGenerator(channels, size, latent_dim=6, width=width)
    d = ConvDiscriminator(channels, size, width=width)
    x = g(torch.randn(2, 6))
    assert x.shape == (2, channels, size, size)
    assert g.sample_shape == (channels, size, size)
    assert x.abs().max() <= 1.0
    out = d(x)
    assert isinstance(out, DiscriminatorOutput)
    assert out.logits.shape == (2,)
    depth = int(math.log2(size)) - 2  # down to a 4 x 4 map
    assert list(out.features) == [f"block{i}" for i in range(1, depth + 1)]
    expected = [(2, width * min(2**i, 8), size // 2 ** (i + 1), size // 2 ** (i + 1)) for i in range(depth)]
    assert [tuple(f.shape) for f in out.features.values()] == expected
    assert tuple(out.features[f"block{depth}"].shape[-2:]) == (4, 4)


def test_discriminator_scores_half_and_quarter_sizes_only() -> None:
    d = ConvDiscriminator(3, 32, width=2)
    assert d.accepted_sizes == (32, 16, 8)
    for size, last in [(32, 4), (16, 2), (8, 1)]:
        out = d(torch.randn(2, 3, size, size))
        assert out.logits.shape == (2,)
        assert out.features["block3"].shape[-1] == last
    with pytest.raises(ValueError, match=r"accepts square images of size \(32, 16, 8\), got H x W = 4 x 4"):
        d(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="got H x W = 32 x 16"):
        d(torch.randn(2, 3, 32, 16))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        d(torch.randn(2, 1, 32, 32))


@pytest.mark.parametrize("size", [4, 14, 128, 32.0])
def test_unsupported_image_size_raises(size: object) -> None:
    with pytest.raises(ValueError, match=r"image_size must be one of \(8, 16, 28, 32, 64\)"):
        ConvDiscriminator(3, size)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_size must be one of"):
        ConvGenerator(3, size)  # type: ignore[arg-type]
    assert IMAGE_SIZES == (8, 16, 28, 32, 64)


def test_mnist_size_28_is_built_from_7_by_7() -> None:
    g, d = ConvGenerator(1, 28, latent_dim=8, width=4), ConvDiscriminator(1, 28, width=4)
    x = g(torch.randn(3, 8))
    assert x.shape == (3, 1, 28, 28)
    out = d(x)
    assert out.logits.shape == (3,) and [f.shape[-1] for f in out.features.values()] == [14, 7]
    assert d.accepted_sizes == (28, 14, 7)
    first = g.net[0]
    assert isinstance(first, nn.ConvTranspose2d) and first.kernel_size == (7, 7)


def test_dcgan_structure_no_bn_in_first_block_no_sigmoid() -> None:
    d = ConvDiscriminator(3, 64, width=2)
    has_bn = [any(isinstance(m, nn.BatchNorm2d) for m in block) for block in d.blocks]
    assert has_bn == [False, True, True, True]
    assert all(block[-1].negative_slope == 0.2 for block in d.blocks)
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())
    g = ConvGenerator(3, 64, width=2)
    assert isinstance(g.net[-1], nn.Tanh)
    transposed = [m for m in g.net if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in transposed] == [16, 8, 4, 2, 3]


def test_logits_average_the_patch_head() -> None:
    d = ConvDiscriminator(1, 16, width=2).eval()
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        out = d(x)
        torch.testing.assert_close(out.logits, d.head(out.features["block2"]).mean(dim=(1, 2, 3)))


def test_spectral_norm_variant() -> None:
    torch.manual_seed(0)
    d = ConvDiscriminator(3, 16, width=4, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    convs = [block[0] for block in d.blocks] + [d.head]
    assert all(parametrize.is_parametrized(conv, "weight") for conv in convs)
    x = torch.randn(2, 3, 16, 16)
    for _ in range(30):
        d(x)
    for conv in convs:
        weight = conv.weight.detach().reshape(conv.weight.shape[0], -1)
        assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.02)


def test_gradients_flow_through_the_pair() -> None:
    g = ConvGenerator(3, 16, latent_dim=4, width=2)
    d = ConvDiscriminator(3, 16, width=2)
    out = d(g(torch.randn(3, 4)))
    (out.logits.mean() + sum(f.mean() for f in out.features.values())).backward()
    for module in (g, d):
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_generator_rejects_wrong_latent() -> None:
    g = ConvGenerator(3, 8, latent_dim=4, width=2)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        g(torch.randn(2, 4, 1, 1))
