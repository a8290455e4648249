"""MultiScaleDiscriminator: k outputs on halving sizes, pix2pixHD pooling, independent weights, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from featmatch import DiscriminatorOutput
from featmatch.models import ConvDiscriminator, MultiScaleDiscriminator, SequenceDiscriminator
from featmatch.models.multiscale import downsample


def test_downsample_averages_without_padding_1d() -> None:
    x = torch.arange(5.0).view(1, 1, 5)
    # windows of 3, stride 2, padding 1 with pads left out: [0, 1], [1, 2, 3], [3, 4]
    torch.testing.assert_close(downsample(x), torch.tensor([[[0.5, 2.0, 3.5]]]))


def test_downsample_averages_without_padding_2d() -> None:
    x = torch.arange(16.0).view(1, 1, 4, 4)
    expected = torch.empty(1, 1, 2, 2)
    for i, rows in enumerate([slice(0, 2), slice(1, 4)]):
        for j, cols in enumerate([slice(0, 2), slice(1, 4)]):
            expected[0, 0, i, j] = x[0, 0, rows, cols].mean()
    torch.testing.assert_close(downsample(x), expected)


@pytest.mark.parametrize(("length", "lengths"), [(32, [32, 16, 8]), (25, [25, 13, 7]), (64, [64, 32, 16])])
def test_sequence_scales_halve(length: int, lengths: list[int]) -> None:
    d = MultiScaleDiscriminator(lambda: SequenceDiscriminator(3, width=4, depth=2), num_scales=3)
    outs = d(torch.randn(2, 3, length))
    assert isinstance(outs, list) and len(outs) == 3
    assert all(isinstance(out, DiscriminatorOutput) and out.logits.shape == (2,) for out in outs)
    # block1 halves each scale's input length (floor)
    assert [out.features["block1"].shape[-1] for out in outs] == [n // 2 for n in lengths]
    assert all(list(out.features) == ["block1", "block2"] for out in outs)


def test_image_scales_halve_with_conv_discriminator() -> None:
    d = MultiScaleDiscriminator(lambda: ConvDiscriminator(3, 32, width=2), num_scales=3)
    outs = d(torch.randn(2, 3, 32, 32))
    assert len(outs) == 3
    assert [tuple(out.features["block1"].shape[-2:]) for out in outs] == [(16, 16), (8, 8), (4, 4)]
    assert [out.logits.shape for out in outs] == [(2,)] * 3


def test_each_scale_is_its_own_discriminator_on_pooled_input() -> None:
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(lambda: SequenceDiscriminator(2, width=4, depth=2), num_scales=3).eval()
    first, second = d.discriminators[0], d.discriminators[1]
    assert first is not second
    assert not torch.equal(first.blocks[0][0].weight, second.blocks[0][0].weight)
    x = torch.randn(3, 2, 40)
    pooled = torch.nn.functional.avg_pool1d(x, 3, 2, 1, count_include_pad=False)
    twice = torch.nn.functional.avg_pool1d(pooled, 3, 2, 1, count_include_pad=False)
    with torch.no_grad():
        outs = d(x)
        for out, sub, inp in zip(outs, d.discriminators, [x, pooled, twice], strict=True):
            torch.testing.assert_close(out.logits, sub(inp).logits)


def test_gradients_reach_every_scale() -> None:
    d = MultiScaleDiscriminator(lambda: ConvDiscriminator(1, 16, width=2), num_scales=2)
    x = torch.randn(2, 1, 16, 16, requires_grad=True)
    sum(out.logits.sum() for out in d(x)).backward()
    for name, parameter in d.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_too_many_scales_for_the_discriminator() -> None:
    d = MultiScaleDiscriminator(lambda: ConvDiscriminator(3, 32, width=2), num_scales=4)
    with pytest.raises(ValueError, match=r"got H x W = 4 x 4"):
        d(torch.randn(2, 3, 32, 32))
    s = MultiScaleDiscriminator(lambda: SequenceDiscriminator(3, width=2, depth=3), num_scales=3)
    with pytest.raises(ValueError, match=r"T >= 8 .*got T = 5"):
        s(torch.randn(2, 3, 20))  # 20 -> 10 -> 5


def test_construction_and_input_errors() -> None:
    with pytest.raises(TypeError, match="make_discriminator must be a callable"):
        MultiScaleDiscriminator(ConvDiscriminator(3, 32), 2)  # type: ignore[arg-type]
    shared = SequenceDiscriminator(3, width=2, depth=1)
    with pytest.raises(ValueError, match="same module twice"):
        MultiScaleDiscriminator(lambda: shared, 2)
    with pytest.raises(TypeError, match="must return an nn.Module"):
        MultiScaleDiscriminator(lambda: 3, 2)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="num_scales must be >= 1, got 0"):
        MultiScaleDiscriminator(lambda: SequenceDiscriminator(3), 0)
    plain = MultiScaleDiscriminator(lambda: nn.Conv1d(3, 1, 3), 2)
    with pytest.raises(TypeError, match="discriminator 0 returned Tensor, expected DiscriminatorOutput"):
        plain(torch.randn(2, 3, 8))
    d = MultiScaleDiscriminator(lambda: SequenceDiscriminator(3, width=2, depth=1), 2)
    with pytest.raises(ValueError, match=r"\(N, C, T\) sequences or \(N, C, H, W\) images, got shape \(2, 3\)"):
        d(torch.randn(2, 3))
