"""The models' features drive a feature-matching loss: a reference per-layer MSE and featmatch's own loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import featmatch
from featmatch import DiscriminatorOutput
from featmatch.models import build_models

PAIRS = [
    ("mlp2d_benchmark", (2,), {}),
    ("conv", (3, 16, 16), {"width": 2}),
    ("sequence", (256, 25), {"width": 4}),  # the reference article's data shape
    ("multiscale_conv", (1, 32, 32), {"width": 2}),
    ("multiscale_sequence", (2, 40), {"width": 4, "depth": 2}),
]


def as_list(outs: DiscriminatorOutput | list[DiscriminatorOutput]) -> list[DiscriminatorOutput]:
    return outs if isinstance(outs, list) else [outs]


def reference_layer_mse(fake: list[DiscriminatorOutput], real: list[DiscriminatorOutput]) -> torch.Tensor:
    """The reference article's loss: MSE per layer, mean over layers; then mean over discriminators."""
    per_discriminator = []
    for f, r in zip(fake, real, strict=True):
        assert list(f.features) == list(r.features)
        layers = [F.mse_loss(f.features[name], r.features[name]) for name in f.features]
        per_discriminator.append(torch.stack(layers).mean())
    return torch.stack(per_discriminator).mean()


def generator_step(family: str, shape: tuple[int, ...], options: dict[str, int]) -> tuple[nn.Module, list, list]:
    torch.manual_seed(0)
    g, d = build_models(family, shape, **options)
    d.requires_grad_(False)  # the G step: D gets no gradient
    real = torch.rand(4, *shape) * 2 - 1
    with torch.no_grad():
        real_out = as_list(d(real))
    fake_out = as_list(d(g(torch.randn(4, g.latent_dim))))
    return g, fake_out, real_out


@pytest.mark.parametrize(("family", "shape", "options"), PAIRS)
def test_reference_mse_is_zero_on_identical_input_and_trains_the_generator(
    family: str, shape: tuple[int, ...], options: dict[str, int]
) -> None:
    g, fake_out, real_out = generator_step(family, shape, options)
    assert reference_layer_mse(real_out, real_out).item() == 0.0
    loss = reference_layer_mse(fake_out, real_out)
    assert loss.item() > 0
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())
    assert sum(p.grad.abs().sum() for p in g.parameters()) > 0


@pytest.mark.parametrize(("family", "shape", "options"), PAIRS)
def test_featmatch_loss_takes_discriminator_outputs_directly(
    family: str, shape: tuple[int, ...], options: dict[str, int]
) -> None:
    _, fake_out, real_out = generator_step(family, shape, options)
    # a single DiscriminatorOutput, or the multi-scale list as "several discriminators"
    fake_arg = fake_out if family.startswith("multiscale") else fake_out[0]
    real_arg = real_out if family.startswith("multiscale") else real_out[0]
    loss = featmatch.feature_matching_loss(fake_arg, real_arg, distance="mse")
    torch.testing.assert_close(loss, reference_layer_mse(fake_out, real_out))
