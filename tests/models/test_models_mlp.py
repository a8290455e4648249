"""MLPDiscriminator / MLPGenerator: the exact 2-D benchmark architecture, features, options, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from featmatch import DiscriminatorOutput
from featmatch.models import MLPDiscriminator, MLPGenerator

GAIN = 1.4


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def assert_orthogonal(weight: torch.Tensor, gain: float) -> None:
    """W W^T = gain^2 I over the smaller dimension (rows orthonormal if out <= in, else columns)."""
    w = weight.detach().double()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    torch.testing.assert_close(gram, gain**2 * torch.eye(gram.shape[0], dtype=torch.float64), atol=1e-5, rtol=0)


def test_benchmark_generator_architecture() -> None:
    g = MLPGenerator.benchmark2d()
    assert g.latent_dim == 256 and g.sample_shape == (2,)
    layers = linears(g)
    assert [(m.in_features, m.out_features) for m in layers] == [(256, 128), (128, 128), (128, 2)]
    kinds = [type(m) for m in g.net]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]  # linear output
    for layer in layers:
        assert_orthogonal(layer.weight, GAIN)
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_benchmark_discriminator_architecture() -> None:
    d = MLPDiscriminator.benchmark2d()
    layers = linears(d)
    assert [(m.in_features, m.out_features) for m in layers] == [(2, 128), (128, 128), (128, 1)]
    assert all(isinstance(layer[1], nn.Tanh) for layer in d.layers)
    for layer in layers:
        assert_orthogonal(layer.weight, GAIN)
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_discriminator_features_are_post_activation_hidden_outputs() -> None:
    d = MLPDiscriminator.benchmark2d()
    with torch.no_grad():
        for layer in linears(d):  # non-zero biases so the reference checks them too
            layer.bias.uniform_(-0.5, 0.5)
    x = torch.randn(7, 2)
    out = d(x)
    assert isinstance(out, DiscriminatorOutput)
    w1, w2, w3 = (m.weight for m in linears(d))
    b1, b2, b3 = (m.bias for m in linears(d))
    h1 = torch.tanh(x @ w1.T + b1)
    h2 = torch.tanh(h1 @ w2.T + b2)
    assert list(out.features) == ["hidden1", "hidden2"]
    torch.testing.assert_close(out.features["hidden1"], h1)
    torch.testing.assert_close(out.features["hidden2"], h2)
    torch.testing.assert_close(out.logits, (h2 @ w3.T + b3).squeeze(1))
    assert out.logits.shape == (7,)


def test_generator_output_is_linear_not_squashed() -> None:
    g = MLPGenerator.benchmark2d()
    z = torch.randn(500, 256)
    w1, w2, w3 = (m.weight for m in linears(g))
    reference = torch.tanh(torch.tanh(z @ w1.T) @ w2.T) @ w3.T
    x = g(z)
    torch.testing.assert_close(x, reference)
    assert x.abs().max() > 1.0  # tanh would cap it at 1


def test_custom_hidden_sizes_activation_and_default_init() -> None:
    torch.manual_seed(0)
    d = MLPDiscriminator(5, (16, 8, 4), activation="relu", init="default")
    out = d(torch.randn(3, 5))
    assert {k: tuple(v.shape) for k, v in out.features.items()} == {
        "hidden1": (3, 16), "hidden2": (3, 8), "hidden3": (3, 4)
    }
    assert all(isinstance(layer[1], nn.ReLU) for layer in d.layers)
    assert (torch.cat(list(out.features.values()), dim=1) >= 0).all()
    # PyTorch's default init is not orthogonal: W W^T is far from gain^2 I
    w = linears(d)[0].weight.detach()
    assert not torch.allclose(w @ w.T, GAIN**2 * torch.eye(16), atol=0.1)
    leaky = MLPDiscriminator(2, (4,), activation="leaky_relu")
    assert leaky.layers[0][1].negative_slope == 0.2
    g = MLPGenerator(3, (8,), latent_dim=4, activation="gelu", gain=1.0)
    assert g(torch.randn(2, 4)).shape == (2, 3)
    assert_orthogonal(linears(g)[0].weight, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"activation": "swish"}, ValueError, r"activation must be one of .*'tanh'.*got 'swish'"),
        ({"init": "xavier"}, ValueError, r"init must be one of \('orthogonal', 'default'\), got 'xavier'"),
        ({"hidden": ()}, ValueError, "at least one hidden layer"),
        ({"hidden": (8, 0)}, ValueError, r"hidden\[1\] must be >= 1, got 0"),
        ({"hidden": 128}, TypeError, "hidden must be a sequence"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        MLPDiscriminator(2, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(error, match=match):
        MLPGenerator(2, **kwargs)  # type: ignore[arg-type]


def test_wrong_input_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, 2\), got \(4, 3\)"):
        MLPDiscriminator.benchmark2d()(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"\(N, 256\), got \(4, 2\)"):
        MLPGenerator.benchmark2d()(torch.randn(4, 2))


def test_spectral_norm_variant() -> None:
    torch.manual_seed(0)
    d = MLPDiscriminator.benchmark2d(spectral_norm=True)
    layers = linears(d)
    assert all(parametrize.is_parametrized(layer, "weight") for layer in layers)
    x = torch.randn(16, 2)
    for _ in range(30):
        out = d(x)
    assert list(out.features) == ["hidden1", "hidden2"]
    for layer in layers:
        assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() == pytest.approx(1.0, abs=0.02)


def test_gradients_reach_every_parameter() -> None:
    g, d = MLPGenerator.benchmark2d(), MLPDiscriminator.benchmark2d()
    out = d(g(torch.randn(8, 256)))
    (out.logits.mean() + out.features["hidden1"].mean()).backward()
    for module in (g, d):
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
