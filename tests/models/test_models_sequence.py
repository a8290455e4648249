"""SequenceDiscriminator / SequenceGenerator: shapes over C and T, article design, errors, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from featmatch import DiscriminatorOutput
from featmatch.models import SequenceDiscriminator, SequenceGenerator


def expected_feature_shapes(n: int, width: int, depth: int, length: int) -> list[tuple[int, int, int]]:
    """Independent size arithmetic: each block halves T (floor) and doubles channels up to 8 * width."""
    shapes = []
    for index in range(depth):
        length //= 2
        shapes.append((n, width * min(2**index, 8), length))
    return shapes


@pytest.mark.parametrize(
    ("channels", "length", "depth"),
    [(256, 25, 4), (1, 40, 4), (3, 16, 4), (2, 100, 3), (5, 7, 2), (4, 2, 1), (1, 200, 6)],
)
def test_discriminator_shapes_and_feature_names(channels: int, length: int, depth: int) -> None:
    width = 4
    d = SequenceDiscriminator(channels, width=width, depth=depth)
    out = d(torch.randn(3, channels, length))
    assert isinstance(out, DiscriminatorOutput)
    assert out.logits.shape == (3,)
    assert list(out.features) == [f"block{i}" for i in range(1, depth + 1)]
    assert [tuple(f.shape) for f in out.features.values()] == expected_feature_shapes(3, width, depth, length)


def test_article_case_matches_article_feature_lengths() -> None:
    # The article's discriminator maps T=25 to lengths 16, 8, 4, 2 with a special first block; ours
    # halves with floor: 12, 6, 3, 1 -- four blocks, 256 input channels, like the article's data.
    d = SequenceDiscriminator(256, width=8)
    out = d(torch.randn(2, 256, 25))
    assert [f.shape[-1] for f in out.features.values()] == [12, 6, 3, 1]
    assert d.min_length == 16


def test_batchnorm_on_every_block_but_the_first_and_leaky_relu_02() -> None:
    d = SequenceDiscriminator(3, width=4, depth=4)
    has_bn = [any(isinstance(m, nn.BatchNorm1d) for m in block) for block in d.blocks]
    assert has_bn == [False, True, True, True]
    for block in d.blocks:
        assert isinstance(block[-1], nn.LeakyReLU) and block[-1].negative_slope == 0.2
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())


def test_logits_are_the_head_averaged_over_time_not_a_probability() -> None:
    d = SequenceDiscriminator(2, width=4, depth=2)
    with torch.no_grad():
        d.head.bias.fill_(3.0)  # a probability could never exceed 1
        out = d(torch.randn(4, 2, 20))
        reference = d.head(out.features["block2"]).mean(dim=(1, 2))
    torch.testing.assert_close(out.logits, reference)
    assert (out.logits > 1).all()


def test_dcgan_initialisation() -> None:
    torch.manual_seed(0)
    d = SequenceDiscriminator(64, width=64, depth=3)
    conv = d.blocks[1][0].weight  # 128 x 64 x 4 weights
    assert abs(conv.mean().item()) < 0.002
    assert conv.std().item() == pytest.approx(0.02, rel=0.05)
    bn = d.blocks[2][1]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.3)
    assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_too_short_sequence_names_t_and_minimum() -> None:
    d = SequenceDiscriminator(3, width=4, depth=4)
    with pytest.raises(ValueError, match=r"T >= 16 .*got T = 15.*depth <= 3"):
        d(torch.randn(2, 3, 15))
    d(torch.randn(2, 3, 16))  # the minimum itself works


def test_wrong_channels_or_rank_raise() -> None:
    d = SequenceDiscriminator(3, width=4, depth=2)
    with pytest.raises(ValueError, match=r"\(N, 3, T\), got \(2, 4, 16\)"):
        d(torch.randn(2, 4, 16))
    with pytest.raises(ValueError, match="shape"):
        d(torch.randn(2, 3, 4, 4))


@pytest.mark.parametrize("bad", [{"depth": 0}, {"width": -1}])
def test_bad_constructor_arguments(bad: dict[str, int]) -> None:
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        SequenceDiscriminator(3, **bad)


def test_spectral_norm_variant_has_no_batchnorm_and_unit_spectral_norm() -> None:
    torch.manual_seed(0)
    d = SequenceDiscriminator(3, width=4, depth=3, spectral_norm=True)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in d.modules())
    convs = [block[0] for block in d.blocks] + [d.head]
    assert all(parametrize.is_parametrized(conv, "weight") for conv in convs)
    x = torch.randn(4, 3, 32)
    for _ in range(30):  # power iterations run in training mode
        out = d(x)
    assert out.logits.shape == (4,)
    for conv in convs:
        weight = conv.weight.detach().reshape(conv.weight.shape[0], -1)
        assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.02)


def test_gradients_reach_every_parameter_and_the_input() -> None:
    d = SequenceDiscriminator(3, width=4, depth=3)
    x = torch.randn(4, 3, 30, requires_grad=True)
    out = d(x)
    (out.logits.sum() + sum(f.pow(2).mean() for f in out.features.values())).backward()
    for name, parameter in d.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("channels", "length", "depth"),
    [(256, 25, 4), (1, 40, 3), (3, 16, 2), (2, 3, 3), (1, 1, 1), (4, 33, 2)],
)
def test_generator_shapes_and_range(channels: int, length: int, depth: int) -> None:
    g = SequenceGenerator(channels, length, latent_dim=5, width=4, depth=depth)
    x = g(torch.randn(3, 5))
    assert x.shape == (3, channels, length)
    assert g.sample_shape == (channels, length)
    assert x.abs().max() <= 1.0


def test_generator_output_is_tanh_of_cropped_conv() -> None:
    g = SequenceGenerator(2, 11, latent_dim=3, width=4, depth=2).eval()
    z = torch.randn(2, 3)
    with torch.no_grad():
        h = g.project(z).view(2, g.start_channels, 3)  # ceil(11 / 4) = 3 steps
        h = g.to_output(g.upsample(g.project_norm(h)))  # 12 steps
        assert h.shape[-1] == 12
        torch.testing.assert_close(g(z), torch.tanh(h[..., :11]))


def test_generator_gradients_and_pair_end_to_end() -> None:
    g = SequenceGenerator(3, 20, latent_dim=4, width=4, depth=2)
    d = SequenceDiscriminator(3, width=4, depth=2)
    d(g(torch.randn(5, 4))).logits.mean().backward()
    for name, parameter in g.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_generator_rejects_wrong_latent() -> None:
    g = SequenceGenerator(3, 20, latent_dim=4, width=4, depth=2)
    with pytest.raises(ValueError, match=r"\(N, 4\), got \(2, 5\)"):
        g(torch.randn(2, 5))
