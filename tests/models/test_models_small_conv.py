"""The small_conv pair: sizes, depths, features, no batch norm in D, spectral norm, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from featmatch.models import SmallConvDiscriminator, SmallConvGenerator, build_models
from featmatch.models.small_conv import default_depth


@pytest.mark.parametrize(("size", "depth", "smallest"), [(8, 2, 2), (16, 2, 4), (28, 2, 7), (32, 3, 4), (12, 2, 3)])
def test_shapes_and_features_at_each_size(size: int, depth: int, smallest: int) -> None:
    assert default_depth(size) == depth
    g, d = build_models("small_conv", (3, size, size), width=4)
    x = g(torch.randn(5, g.latent_dim)).detach()
    assert x.shape == (5, 3, size, size) and float(x.abs().max()) <= 1.0
    out = d(x)
    assert out.logits.shape == (5,)
    assert list(out.features) == ["stem"] + [f"block{i}" for i in range(1, depth + 1)]
    assert out.features["stem"].shape == (5, 4, size, size)
    assert out.features[f"block{depth}"].shape == (5, 4 * 2**depth, smallest, smallest)


def test_d_has_no_batch_norm_and_g_upsamples_by_nearest_neighbours() -> None:
    g, d = build_models("small_conv", (1, 8, 8))
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in d.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    assert [m.mode for m in g.modules() if isinstance(m, nn.Upsample)] == ["nearest", "nearest"]
    # Without batch norm, D scores each sample on its own: a batch of one gives the same logit.
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(d(x).logits[:1], d(x[:1]).logits)


def test_depth_and_spectral_norm_options() -> None:
    g, d = build_models("small_conv", (1, 16, 16), width=4, depth=3, spectral_norm=True)
    assert d(g(torch.randn(2, g.latent_dim))).features["block3"].shape == (2, 32, 2, 2)
    assert sum(1 for m in d.modules() if hasattr(m, "parametrizations")) == 5  # stem, 3 blocks, head


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match=r"depth=3 halves image_size=8 to 1; .*depth 2"):
        SmallConvDiscriminator(1, 8, depth=3)
    with pytest.raises(ValueError, match="image_size"):
        SmallConvGenerator(1, 2)
    with pytest.raises(ValueError, match=r"small_conv.*\(C, S, S\)"):
        build_models("small_conv", (1, 8, 6))
    with pytest.raises(ValueError, match=r"expects x of shape \(N, 1, 8, 8\)"):
        SmallConvDiscriminator(1, 8)(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['heads'\]"):
        build_models("small_conv", (1, 8, 8), heads=2)
