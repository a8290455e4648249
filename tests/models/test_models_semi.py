"""SemiMLPDiscriminator / SemiMLPGenerator and the 'semi_mlp' family: the paper's architecture, noise, weight norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from featmatch import (
    DiscriminatorOutput,
    FeatureTap,
    classification_error,
    semi_supervised_discriminator_loss,
)
from featmatch.models import (
    MODEL_FAMILIES,
    GaussianNoise,
    SemiMLPDiscriminator,
    SemiMLPGenerator,
    build_models,
)

STEPS = 100  # every seed tried (0-4) reaches 0 errors by step 60; about 1.5 s on one loaded CPU thread
SHAPES = [(1, 28, 28), (1, 8, 8), (1, 40)]


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_paper_discriminator_architecture() -> None:
    d = SemiMLPDiscriminator((1, 28, 28), 10)
    assert [(m.in_features, m.out_features) for m in linears(d)] == [
        (784, 1000), (1000, 500), (500, 250), (250, 250), (250, 250), (250, 10)
    ]
    noises = [m.std for m in d.modules() if isinstance(m, GaussianNoise)]
    assert noises == [0.3, 0.5, 0.5, 0.5, 0.5, 0.5]  # before every layer, the logits' too
    assert all(parametrize.is_parametrized(m, "weight") for m in linears(d))
    assert [isinstance(m, c) for m, c in zip(d.blocks[0], (GaussianNoise, nn.Linear, nn.ReLU), strict=True)] == [True] * 3
    # The paper's code trains only the output layer's weight-norm scale; the hidden ones are buffers,
    # so that D.requires_grad_(True) after a generator step cannot make them trainable.
    d.requires_grad_(False)
    d.requires_grad_(True)
    trained = {name for name, _ in d.named_parameters()}
    assert {name for name in trained if name.endswith("original0")} == {"head.1.parametrizations.weight.original0"}
    assert all(f"blocks.{i}.1.parametrizations.weight.original1" in trained for i in range(5))
    fixed = {name for name, _ in d.named_buffers()}
    assert fixed == {f"blocks.{i}.1.parametrizations.weight.original0" for i in range(5)}
    trainable = SemiMLPDiscriminator((1, 28, 28), 10, train_hidden_scale=True)
    assert sum(name.endswith("original0") for name, _ in trainable.named_parameters()) == 6
    assert set(trainable.state_dict()) == set(d.state_dict())


def test_weight_norm_starts_with_unit_rows() -> None:
    d = SemiMLPDiscriminator((5,), 3, widths=(7,))
    for m in linears(d):
        torch.testing.assert_close(m.weight.norm(dim=1), torch.ones(m.out_features))


def test_paper_generator_architecture() -> None:
    g = SemiMLPGenerator((1, 28, 28), output="sigmoid")
    assert g.latent_dim == 100
    kinds = [type(m) for m in g.net]
    assert kinds[:4] == [nn.Linear, nn.BatchNorm1d, type(g.net[2]), nn.Softplus]
    assert kinds[-1] is nn.Sigmoid
    assert [(m.in_features, m.out_features) for m in linears(g)] == [(100, 500), (500, 500), (500, 784)]
    assert g.net[0].bias is None and not g.net[1].affine  # BN: a shift, no scale; the Linear has no bias
    assert parametrize.is_parametrized(g.net[-2], "weight")
    assert not parametrize.is_parametrized(g.net[0], "weight")
    x = g(torch.rand(6, 100)).detach()
    assert x.shape == (6, 1, 28, 28) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    tanh = SemiMLPGenerator((1, 28, 28))
    assert isinstance(tanh.net[-1], nn.Tanh)
    assert float(tanh(torch.randn(4, 100)).detach().abs().max()) <= 1.0


@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_and_features(shape: tuple[int, ...]) -> None:
    g, d = build_models("semi_mlp", shape, num_classes=10, widths=(32, 16, 8), generator_widths=(16, 16))
    assert isinstance(g, SemiMLPGenerator) and isinstance(d, SemiMLPDiscriminator)
    assert g.sample_shape == shape and g.latent_dim == 100
    x = g(torch.rand(5, g.latent_dim))
    assert x.shape == (5, *shape)
    out = d(x)
    assert isinstance(out, DiscriminatorOutput)
    assert out.logits.shape == (5, 10)
    assert {k: tuple(v.shape) for k, v in out.features.items()} == {"hidden1": (5, 32), "hidden2": (5, 16), "hidden3": (5, 8)}


def test_family_defaults_are_the_papers() -> None:
    g, d = build_models("semi_mlp", (1, 28, 28), num_classes=10)
    assert d.widths == (1000, 500, 250, 250, 250) and g.widths == (500, 500)
    assert (d.input_noise, d.hidden_noise) == (0.3, 0.5)
    assert list(d(torch.rand(2, 1, 28, 28)).features)[-1] == "hidden5"
    assert "semi_mlp" in MODEL_FAMILIES


def test_last_hidden_feature_is_the_last_blocks_output() -> None:
    """hidden5 is what the code matches (layers[-3]): the ReLU output, before the noise of the logits layer."""
    d = SemiMLPDiscriminator((1, 8, 8), 4, widths=(16, 8)).eval()
    x = torch.rand(3, 1, 8, 8)
    with FeatureTap(d, layers="blocks.1") as tap:
        tapped = tap(x)
    torch.testing.assert_close(tapped.features["blocks.1"], d(x).features["hidden2"])


def test_noise_only_in_training_mode() -> None:
    torch.manual_seed(0)
    d = SemiMLPDiscriminator((1, 8, 8), 10, widths=(32, 16))
    x = torch.rand(4, 1, 8, 8)
    d.eval()
    first, second = d(x), d(x)
    assert torch.equal(first.logits, second.logits)
    assert all(torch.equal(first.features[k], second.features[k]) for k in first.features)
    d.train()
    noisy = d(x)
    assert not torch.equal(noisy.logits, d(x).logits)
    assert not torch.equal(noisy.features["hidden1"], first.features["hidden1"])
    silent = SemiMLPDiscriminator((1, 8, 8), 10, widths=(32, 16), input_noise=0, hidden_noise=0)
    assert torch.equal(silent(x).logits, silent(x).logits)


def test_gaussian_noise_std() -> None:
    torch.manual_seed(0)
    added = GaussianNoise(0.5)(torch.zeros(200_000))
    assert abs(float(added.std()) - 0.5) < 0.005 and abs(float(added.mean())) < 0.005
    assert "std=0.5" in repr(GaussianNoise(0.5))


def test_init_from_data_normalises_every_layer() -> None:
    torch.manual_seed(0)
    d = SemiMLPDiscriminator((1, 8, 8), 5, widths=(40, 30), input_noise=0, hidden_noise=0)
    x = torch.rand(100, 1, 8, 8) * 2 - 1
    assert d.init_from_data(x) is d
    h = x.reshape(100, -1)
    for linear, relu in [(d.blocks[0][1], True), (d.blocks[1][1], True), (d.head[1], False)]:
        pre = linear(h)
        torch.testing.assert_close(pre.mean(0), torch.zeros(pre.shape[1]), atol=1e-4, rtol=0)
        torch.testing.assert_close(pre.std(0, unbiased=False), torch.ones(pre.shape[1]), atol=1e-4, rtol=0)
        h = torch.relu(pre) if relu else pre
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        d.init_from_data(x[:1])


def test_overfits_a_tiny_labelled_set() -> None:
    """A few hundred steps of the semi-supervised loss drive the training error on 20 labels to 0."""
    torch.manual_seed(0)
    k, shape = 4, (1, 8, 8)
    g, d = build_models("semi_mlp", shape, num_classes=k, widths=(64, 32), generator_widths=(32,),
                        input_noise=0.3, hidden_noise=0.3)
    prototypes = torch.rand(k, *shape) * 2 - 1
    labels = torch.arange(k).repeat(5)  # (20,)
    labelled = (prototypes[labels] + 0.3 * torch.randn(20, *shape)).clamp(-1, 1)
    unlabelled = (prototypes[torch.randint(0, k, (64,))] + 0.3 * torch.randn(64, *shape)).clamp(-1, 1)
    d.init_from_data(unlabelled)
    optimiser = torch.optim.Adam(d.parameters(), lr=3e-3, betas=(0.5, 0.999))
    for _ in range(STEPS):
        with torch.no_grad():
            fake = g(torch.rand(32, g.latent_dim))
        loss = semi_supervised_discriminator_loss(
            fake=d(fake), unlabelled=d(unlabelled[torch.randint(0, 64, (32,))]), labelled=d(labelled), labels=labels
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    d.eval()
    with torch.no_grad():
        assert float(classification_error(d(labelled), labels)) == 0.0


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"needs num_classes=K .* got none"):
        build_models("semi_mlp", (1, 8, 8))
    with pytest.raises(ValueError, match=r"num_classes must be an int >= 2, got 1"):
        SemiMLPDiscriminator((4,), 1)
    with pytest.raises(ValueError, match=r"widths must be a non-empty sequence of ints such as \(1000, 500, 250, 250, 250\), got \(\)"):
        SemiMLPDiscriminator((4,), 3, widths=())
    with pytest.raises(ValueError, match=r"input_noise must be a finite number >= 0 .* got -0.1"):
        SemiMLPDiscriminator((4,), 3, input_noise=-0.1)
    with pytest.raises(ValueError, match=r"output must be one of \('tanh', 'sigmoid', 'softplus'\), got 'relu'"):
        SemiMLPGenerator((4,), output="relu")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['width'\] for model family 'semi_mlp'"):
        build_models("semi_mlp", (4,), num_classes=3, width=8)
    d = SemiMLPDiscriminator((1, 8, 8), 3, widths=(4,))
    with pytest.raises(ValueError, match=r"expects x of shape \(N, 1, 8, 8\), got \(2, 64\)"):
        d(torch.zeros(2, 64))
    g = SemiMLPGenerator((4,), widths=(4,))
    with pytest.raises(ValueError, match=r"expects z of shape \(N, 100\), got \(2, 3\)"):
        g(torch.zeros(2, 3))
    assert SemiMLPGenerator(4, widths=(4,)).sample_shape == (4,)


def test_unit_range_sees_minus_one_to_one_data_on_zero_to_one() -> None:
    torch.manual_seed(0)
    d = SemiMLPDiscriminator((1, 4, 4), 3, widths=(8, 8), input_noise=0.3, unit_range=True).eval()
    plain = SemiMLPDiscriminator((1, 4, 4), 3, widths=(8, 8), input_noise=0.3).eval()
    plain.load_state_dict(d.state_dict())
    x = torch.rand(5, 1, 4, 4) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(d(x).logits, plain((x + 1) / 2).logits)
    # A background pixel at -1 reaches the first layer as 0: its weights get no gradient from it.
    d.train(False)
    background = -torch.ones(2, 1, 4, 4)
    d(background).logits.sum().backward()
    first = d.blocks[0][1].parametrizations.weight.original1
    assert float(first.grad.abs().max()) == 0.0

    g = SemiMLPGenerator((1, 4, 4), widths=(8,), output="sigmoid", unit_range=True)
    reference = SemiMLPGenerator((1, 4, 4), widths=(8,), output="sigmoid")
    reference.load_state_dict(g.state_dict())
    z = torch.rand(6, g.latent_dim)
    g.eval(), reference.eval()
    torch.testing.assert_close(g(z), 2 * reference(z) - 1)
    soft = SemiMLPGenerator((1, 4, 4), widths=(8,), output="softplus", unit_range=True).eval()
    soft.load_state_dict(g.state_dict())
    torch.testing.assert_close(soft(z), 2 * torch.nn.functional.softplus(g.net[:-1](z)).view(6, 1, 4, 4) - 1)
    with pytest.raises(ValueError, match=r"unit_range=True .* needs output='sigmoid' .* got output='tanh'"):
        SemiMLPGenerator((1, 4, 4), unit_range=True)
