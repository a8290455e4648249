"""Conditional generators and discriminators: shapes on every built-in paired data set, features,
the condition reaching D, multi-scale with the pix2pixhd preset, and an L1 overfit sanity check."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from featmatch import DiscriminatorOutput, FeatureMatchingLoss
from featmatch.data import PAIRED_DATASETS, load_paired_dataset
from featmatch.models import (
    CONDITIONAL_FAMILIES,
    MODEL_FAMILIES,
    ConditionalDiscriminator,
    ConditionalSequenceGenerator,
    SequenceDiscriminator,
    build_conditional_models,
    build_models,
    default_conditional_family,
    resize_condition,
)


@pytest.fixture(scope="module")
def paired():
    # Test splits, 8 pairs each: the shapes are what matters here.
    return {name: load_paired_dataset(name, "test", size=8) for name in PAIRED_DATASETS}


def _outputs(out):
    return [out] if isinstance(out, DiscriminatorOutput) else list(out)


@pytest.mark.parametrize("name", PAIRED_DATASETS)
@pytest.mark.parametrize("multiscale", [False, True])
def test_every_builtin_pair_goes_through_g_and_d(paired, name, multiscale):
    pairs = paired[name]
    family = default_conditional_family(pairs.condition_shape, pairs.target_shape)
    if multiscale:
        family = family.replace("cond_", "cond_multiscale_")
    torch.manual_seed(0)
    g, d = build_models(family, pairs.target_shape, condition_shape=pairs.condition_shape, width=8)
    assert g.condition_shape == pairs.condition_shape and g.sample_shape == pairs.target_shape
    fake = g(pairs.condition)
    assert fake.shape == pairs.target.shape
    assert fake.abs().max() <= 1  # tanh: the data's range
    outs = _outputs(d(pairs.condition, fake))
    assert len(outs) == (3 if multiscale else 1)
    for out in outs:
        assert out.logits.shape == (len(pairs),)
        assert list(out.features) == [f"block{i + 1}" for i in range(len(out.features))]
        assert out.features  # at least one named feature


def test_default_families():
    assert default_conditional_family((1, 4, 4), (1, 8, 8)) == "cond_conv"
    assert default_conditional_family((2, 40), (1, 40)) == "cond_sequence"
    with pytest.raises(ValueError, match="target_shape"):
        default_conditional_family((3,), (3,))
    assert set(CONDITIONAL_FAMILIES) <= set(MODEL_FAMILIES)


def test_discriminator_features_carry_gradient_to_g_and_d(paired):
    pairs = paired["digits-inpaint"]
    torch.manual_seed(0)
    g, d = build_models("cond_conv", pairs.target_shape, condition_shape=pairs.condition_shape, width=8)
    out = d(pairs.condition, g(pairs.condition))
    for name, feature in out.features.items():
        assert feature.requires_grad, name
    sum(f.square().mean() for f in out.features.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters() if p.ndim > 1)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in d.parameters())


@pytest.mark.parametrize("name", PAIRED_DATASETS)
def test_the_condition_reaches_the_discriminator(paired, name):
    pairs = paired[name]
    family = default_conditional_family(pairs.condition_shape, pairs.target_shape)
    torch.manual_seed(0)
    _, d = build_models(family, pairs.target_shape, condition_shape=pairs.condition_shape, width=8)
    d.eval()  # batch norm from running statistics: rows do not affect each other
    target = pairs.target
    with torch.no_grad():
        same = d(pairs.condition, target)
        other = d(pairs.condition.roll(1, dims=0), target)  # each target with another's condition
        again = d(pairs.condition.clone(), target)
    assert torch.equal(same.logits, again.logits)
    assert not torch.allclose(same.logits, other.logits)
    first = next(iter(same.features))
    assert not torch.allclose(same.features[first], other.features[first])


def test_condition_is_resized_and_stacked_before_the_wrapped_discriminator():
    inner = SequenceDiscriminator(3, width=4, depth=2)
    d = ConditionalDiscriminator(inner, 2, 1)
    condition, target = torch.randn(2, 2, 20), torch.randn(2, 1, 40)
    expected = inner(torch.cat([F.interpolate(condition, size=40, mode="nearest"), target], 1))
    got = d(condition, target)
    assert torch.equal(got.logits, expected.logits)
    with pytest.raises(ValueError, match=r"condition of shape \(2, 2, \.\.\.\)"):
        d(torch.randn(3, 2, 40), target)
    with pytest.raises(ValueError, match=r"target of shape \(N, 1, T\)"):
        d(condition, torch.randn(2, 2, 40))


def test_resize_condition_reference():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    up = resize_condition(x, (8, 8))
    assert torch.equal(up, x.repeat_interleave(2, 2).repeat_interleave(2, 3))
    assert torch.equal(F.avg_pool2d(up, 2), x)  # the average-pooled condition comes back exactly
    down = resize_condition(x, (2, 2))
    assert torch.equal(down, F.avg_pool2d(x, 2))
    assert resize_condition(x, (4, 4)) is x
    with pytest.raises(ValueError, match="must both be images or both sequences"):
        resize_condition(torch.zeros(1, 1, 5), (4, 4))


def test_multiscale_conditional_d_with_pix2pixhd_preset(paired):
    pairs = paired["digits-superres"]
    torch.manual_seed(0)
    g, d = build_models("cond_multiscale_conv", (1, 8, 8), condition_shape=(1, 4, 4), width=8)
    loss_fn = FeatureMatchingLoss.from_preset("pix2pixhd")
    fake = g(pairs.condition)
    fake_out = d(pairs.condition, fake)
    with torch.no_grad():
        real_out = d(pairs.condition, pairs.target)
    loss = loss_fn(fake_out, real_out)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in g.parameters())
    # Zero on identical pairs: fake = real gives the same features, scale by scale.
    with torch.no_grad():
        assert loss_fn(d(pairs.condition, pairs.target), real_out) == 0


def test_noise_is_stacked_on_the_condition():
    torch.manual_seed(0)
    g = ConditionalSequenceGenerator((2, 40), (1, 40), latent_dim=3, width=4).eval()
    condition = torch.randn(2, 2, 40)
    z = torch.randn(2, 3)
    assert torch.equal(g(condition, z), g(condition, z))
    assert not torch.allclose(g(condition, z), g(condition, torch.randn(2, 3)))
    with pytest.raises(ValueError, match=r"expects noise z of shape \(2, 3\), got None"):
        g(condition)
    g0 = ConditionalSequenceGenerator((2, 40), (1, 40), width=4)
    assert g0.latent_dim == 0
    with pytest.raises(ValueError, match="latent_dim=0"):
        g0(condition, z)
    with pytest.raises(ValueError, match=r"condition of shape \(N, 2, T\)"):
        g0(torch.randn(2, 3, 40))


def test_odd_sizes_are_padded_and_cropped():
    g, d = build_conditional_models("cond_sequence", (1, 13), (2, 25), width=4)
    fake = g(torch.randn(3, 1, 13))
    assert fake.shape == (3, 2, 25)
    assert d(torch.randn(3, 1, 13), fake).logits.shape == (3,)


def test_build_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"needs condition_shape.*condition_shape=\(1, 4, 4\)"):
        build_models("cond_conv", (1, 8, 8))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        build_models("cond_conv", (1, 8, 8), condition_shape=(1, 4, 4), colour=1)
    with pytest.raises(ValueError, match=r"square targets .* got target_shape \(1, 8, 6\)"):
        build_models("cond_conv", (1, 8, 6), condition_shape=(1, 4, 3))
    with pytest.raises(ValueError, match=r"condition_shape of \(C, H, W\) images, got \(2, 40\).*cond_\*sequence"):
        build_models("cond_conv", (1, 8, 8), condition_shape=(2, 40))
    with pytest.raises(ValueError, match="num_scales"):
        build_models("cond_multiscale_conv", (1, 8, 8), condition_shape=(1, 4, 4), num_scales=4)


def test_l1_overfits_16_superres_pairs_quickly():
    # Sanity: the generator can reach the targets from the conditions. The reference is the
    # nearest-neighbour upsampled condition, which holds every 2 x 2 block's average.
    pairs = load_paired_dataset("digits-superres", size=16, seed=0)
    baseline = (resize_condition(pairs.condition, (8, 8)) - pairs.target).abs().mean()
    torch.manual_seed(0)
    g, _ = build_models("cond_conv", pairs.target_shape, condition_shape=pairs.condition_shape, width=8)
    optimizer = torch.optim.Adam(g.parameters(), lr=1e-2)
    start = time.perf_counter()
    for _ in range(60):
        loss = (g(pairs.condition) - pairs.target).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        final = (g.eval()(pairs.condition) - pairs.target).abs().mean()
    assert final < 0.5 * baseline, (float(final), float(baseline))
    assert elapsed < 3.0 * 2  # < 3 s alone; slack for a machine shared with other work
