"""Multilayer perceptrons for vector data (N, D), including the 2-D mode-collapse benchmark pair.

The benchmark architecture (ring of 8 / grid of 25 Gaussians) is the one of Metz et al. 2017
(Unrolled GANs) as used by VEEGAN (Srivastava et al. 2017): generator 256 -> 128 -> 128 -> 2,
discriminator 2 -> 128 -> 128 -> 1, tanh activations, every weight orthogonally initialised
with gain 1.4 and zero biases. :meth:`MLPGenerator.benchmark2d` and
:meth:`MLPDiscriminator.benchmark2d` build it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import Tensor, nn

from featmatch.features import DiscriminatorOutput
from featmatch.models.conv import check_positive_int, maybe_spectral_norm

__all__ = ["ACTIVATIONS", "INITS", "MLPDiscriminator", "MLPGenerator"]

#: Activation names accepted by the MLPs.
ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "leaky_relu", "elu", "gelu", "silu")

#: Weight initialisations accepted by the MLPs: orthogonal (with ``gain``) or PyTorch's default.
INITS: tuple[str, ...] = ("orthogonal", "default")

# Metz et al. 2017 / VEEGAN: hidden sizes, latent size and orthogonal gain of the 2-D benchmark.
_BENCHMARK_HIDDEN = (128, 128)
_BENCHMARK_LATENT = 256
_BENCHMARK_GAIN = 1.4


def _make_activation(activation: str) -> nn.Module:
    if activation == "tanh":
        return nn.Tanh()
    if activation == "relu":
        return nn.ReLU()
    if activation == "leaky_relu":
        return nn.LeakyReLU(0.2)  # the usual GAN slope, not PyTorch's 0.01
    if activation == "elu":
        return nn.ELU()
    if activation == "gelu":
        return nn.GELU()
    if activation == "silu":
        return nn.SiLU()
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")


def _check_activation(activation: str) -> str:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
    return activation


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"hidden must be a sequence of ints such as (128, 128), got {hidden!r}.")
    if len(hidden) == 0:
        raise ValueError("hidden must name at least one hidden layer, got (). Hint: use hidden=(128, 128).")
    return tuple(check_positive_int(f"hidden[{i}]", size) for i, size in enumerate(hidden))


def _make_linears(sizes: Sequence[int], init: str, gain: float) -> list[nn.Linear]:
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}.")
    linears = [nn.Linear(size_in, size_out) for size_in, size_out in itertools.pairwise(sizes)]
    if init == "orthogonal":
        for linear in linears:
            nn.init.orthogonal_(linear.weight, gain=gain)
            nn.init.zeros_(linear.bias)
    return linears


class MLPDiscriminator(nn.Module):
    """MLP discriminator ``(N, D) -> logits (N,)`` whose features are its hidden activations.

    Args:
        in_features: size D of the input vectors.
        hidden: sizes of the hidden layers.
        activation: one of ``ACTIVATIONS`` (``"tanh"``, ``"relu"``, ``"leaky_relu"`` (slope 0.2), ...).
        init: ``"orthogonal"`` (every weight orthogonal with ``gain``, biases zero) or ``"default"``.
        gain: gain of the orthogonal initialisation.
        spectral_norm: wrap every linear layer with spectral normalisation (after initialisation).

    Output ``DiscriminatorOutput(logits (N,), {"hidden1": (N, hidden[0]), "hidden2": ...})``:
    each feature is a hidden layer's output after its activation.

    Example:
        >>> import torch
        >>> d = MLPDiscriminator.benchmark2d()
        >>> out = d(torch.randn(5, 2))
        >>> out.logits.shape, {k: tuple(v.shape) for k, v in out.features.items()}
        (torch.Size([5]), {'hidden1': (5, 128), 'hidden2': (5, 128)})
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = _BENCHMARK_HIDDEN,
        *,
        activation: str = "tanh",
        init: str = "orthogonal",
        gain: float = _BENCHMARK_GAIN,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.hidden = _check_hidden(hidden)
        self.activation = _check_activation(activation)
        self.spectral_norm = bool(spectral_norm)
        linears = _make_linears((in_features, *self.hidden, 1), init, gain)
        normed = [maybe_spectral_norm(linear, self.spectral_norm) for linear in linears]
        self.layers = nn.ModuleList(nn.Sequential(linear, _make_activation(activation)) for linear in normed[:-1])
        self.head = normed[-1]

    @classmethod
    def benchmark2d(cls, *, spectral_norm: bool = False) -> MLPDiscriminator:
        """The 2-D benchmark discriminator: 2 -> 128 -> 128 -> 1, tanh, orthogonal init with gain 1.4."""
        return cls(
            2,
            _BENCHMARK_HIDDEN,
            activation="tanh",
            init="orthogonal",
            gain=_BENCHMARK_GAIN,
            spectral_norm=spectral_norm,
        )

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"MLPDiscriminator expects x of shape (N, {self.in_features}), got {tuple(x.shape)}.")
        features: dict[str, Tensor] = {}
        h = x
        for index, layer in enumerate(self.layers):
            h = layer(h)  # (N, hidden[index])
            features[f"hidden{index + 1}"] = h
        logits = self.head(h).squeeze(1)  # (N, 1) -> (N,)
        return DiscriminatorOutput(logits, features)


class MLPGenerator(nn.Module):
    """MLP generator ``z (N, latent_dim) -> x (N, D)`` with a linear output (no squashing).

    Args:
        out_features: size D of the generated vectors.
        hidden: sizes of the hidden layers.
        latent_dim: size of z.
        activation: one of ``ACTIVATIONS``.
        init: ``"orthogonal"`` (every weight orthogonal with ``gain``, biases zero) or ``"default"``.
        gain: gain of the orthogonal initialisation.

    Example:
        >>> import torch
        >>> g = MLPGenerator.benchmark2d()
        >>> g(torch.randn(5, g.latent_dim)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        out_features: int,
        hidden: Sequence[int] = _BENCHMARK_HIDDEN,
        *,
        latent_dim: int = _BENCHMARK_LATENT,
        activation: str = "tanh",
        init: str = "orthogonal",
        gain: float = _BENCHMARK_GAIN,
    ) -> None:
        super().__init__()
        self.out_features = check_positive_int("out_features", out_features)
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        self.hidden = _check_hidden(hidden)
        self.activation = _check_activation(activation)
        self.sample_shape: tuple[int, ...] = (out_features,)
        linears = _make_linears((latent_dim, *self.hidden, out_features), init, gain)
        layers: list[nn.Module] = []
        for linear in linears[:-1]:
            layers += [linear, _make_activation(activation)]
        layers.append(linears[-1])  # linear output: 2-D points are unbounded
        self.net = nn.Sequential(*layers)

    @classmethod
    def benchmark2d(cls) -> MLPGenerator:
        """The 2-D benchmark generator: 256 -> 128 -> 128 -> 2, tanh, orthogonal init with gain 1.4."""
        return cls(
            2,
            _BENCHMARK_HIDDEN,
            latent_dim=_BENCHMARK_LATENT,
            activation="tanh",
            init="orthogonal",
            gain=_BENCHMARK_GAIN,
        )

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"MLPGenerator expects z of shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        return self.net(z)  # (N, D)
