"""The semi-supervised GAN's MLPs of Salimans et al. 2016 (Improved GAN, permutation-invariant MNIST).

As openai/improved-gan's ``mnist_svhn_cifar10/train_mnist_feature_matching.py`` builds them:

- discriminator: 784 -> 1000 -> 500 -> 250 -> 250 -> 250 -> 10 class logits; Gaussian noise
  added to every layer's input (std 0.3 on the data, 0.5 on each hidden layer's output), in
  training only; every linear layer weight-normalised; ReLU. The hidden layers' weight-norm
  scales are fixed (only the direction and bias train), the output layer's scale trains; the
  scales and biases are set once by data-dependent initialisation (:meth:`SemiMLPDiscriminator.init_from_data`).
- generator: z (100) -> 500 -> 500 (batch normalisation without a scale, then softplus) -> 784,
  a weight-normalised output layer with a sigmoid. The paper's z is uniform on ``[0, 1)``.

The generator's feature-matching loss is the ``salimans2016`` preset on the discriminator's
last hidden layer (``features["hidden5"]`` with the default widths), computed in training mode
(with the noise), as the code does.

Data range: featmatch's data sets lie in ``[-1, 1]``, the paper's MNIST in ``[0, 1]``. For
``[-1, 1]`` data use ``output="tanh"`` (the default) and, to keep the paper's noise-to-signal
ratio on the input, ``input_noise=0.6`` (0.3 on a range twice as wide); the hidden layers are
scale-free after :meth:`~SemiMLPDiscriminator.init_from_data`. ``output="sigmoid"`` with
``input_noise=0.3`` is the paper's setting for ``[0, 1]`` data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from featmatch._checks import check_int
from featmatch.features import DiscriminatorOutput

__all__ = [
    "GENERATOR_OUTPUTS",
    "GaussianNoise",
    "SemiMLPDiscriminator",
    "SemiMLPGenerator",
]

#: Output squashing of :class:`SemiMLPGenerator`: ``"tanh"`` for data in ``[-1, 1]``, ``"sigmoid"`` for ``[0, 1]``,
#: ``"softplus"`` for ``[0, 1]`` data without saturating at the top (a generator whose sigmoid saturates
#: gets no gradient and cannot recover; ImprovedGAN-pytorch's fix).
GENERATOR_OUTPUTS: tuple[str, ...] = ("tanh", "sigmoid", "softplus")

# The paper's sizes and noise (train_mnist_feature_matching.py).
_PAPER_D_WIDTHS = (1000, 500, 250, 250, 250)
_PAPER_G_WIDTHS = (500, 500)
_PAPER_LATENT = 100
_PAPER_INPUT_NOISE = 0.3
_PAPER_HIDDEN_NOISE = 0.5
_BN_EPS = 1e-6  # the code's sqrt(1e-6 + var)
_INIT_STD_FLOOR = 1e-8  # a dead unit on the initialisation batch keeps a finite scale


def _check_sample_shape(sample_shape: Sequence[int] | int) -> tuple[int, ...]:
    if isinstance(sample_shape, int) and not isinstance(sample_shape, bool):
        sample_shape = (sample_shape,)
    if isinstance(sample_shape, (str, bytes)) or not isinstance(sample_shape, Sequence) or not sample_shape:
        raise TypeError(f"sample_shape must be a non-empty tuple of ints such as (1, 28, 28), got {sample_shape!r}.")
    return tuple(check_int(f"sample_shape[{i}]", s, minimum=1) for i, s in enumerate(sample_shape))


def _check_widths(name: str, widths: Sequence[int], example: str) -> tuple[int, ...]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of ints such as {example}, got {widths!r}.")
    return tuple(check_int(f"{name}[{i}]", w, minimum=1) for i, w in enumerate(widths))


def _check_std(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < math.inf:
        raise ValueError(f"{name} must be a finite number >= 0 (a noise standard deviation), got {value!r}.")
    return float(value)


def _weight_normed_linear(size_in: int, size_out: int, *, std: float | None = None) -> nn.Linear:
    """A Linear layer ``g * v / ||v|| x + b`` (one g per output unit), with g = 1 as the code starts."""
    linear = nn.Linear(size_in, size_out)
    if std is not None:
        nn.init.normal_(linear.weight, std=std)  # only v's direction matters: g is set apart
    nn.init.zeros_(linear.bias)
    linear = weight_norm(linear, dim=0)
    with torch.no_grad():
        _scale(linear).fill_(1.0)
    return linear


def _weight_norm_owner(linear: nn.Module) -> nn.Module:
    """The module that holds a weight-normed layer's g (``original0``) and v (``original1``)."""
    # torch types nn.Module attribute access as Tensor | Module; parametrize keeps a ModuleDict here.
    parametrizations = cast(nn.ModuleDict, linear.parametrizations)
    return parametrizations["weight"]


def _scale(linear: nn.Module) -> Tensor:
    """The weight-norm scale g, ``(out_features, 1)``: a Parameter, or a buffer once fixed."""
    return cast(Tensor, _weight_norm_owner(linear).original0)


def _fix_scale(linear: nn.Module) -> None:
    """Turn the weight-norm scale g into a buffer: set by :meth:`SemiMLPDiscriminator.init_from_data`, never trained.

    A buffer rather than ``requires_grad=False``, since the usual ``D.requires_grad_(True)`` after
    a generator step would quietly make a frozen Parameter trainable again. The state-dict key
    (``...parametrizations.weight.original0``) stays the same.
    """
    owner = _weight_norm_owner(linear)
    scale = _scale(linear).detach().clone()
    del owner.original0
    owner.register_buffer("original0", scale)


class GaussianNoise(nn.Module):
    """Add ``N(0, std^2)`` noise to the input in training mode; the identity in eval mode.

    Args:
        std: the noise's standard deviation (0 disables it).

    Example:
        >>> import torch
        >>> noise = GaussianNoise(0.5).eval()
        >>> torch.equal(noise(torch.ones(3)), torch.ones(3))
        True
    """

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = _check_std("std", std)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.std == 0.0:
            return x
        return x + self.std * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"std={self.std}"


class SemiMLPDiscriminator(nn.Module):
    """The semi-supervised GAN discriminator: samples -> K class logits, with noise and weight norm.

    Block ``i`` (``blocks.i``) is GaussianNoise -> weight-normalised Linear -> ReLU; the head is
    GaussianNoise -> weight-normalised Linear -> K logits. The generated class is implicit:
    ``D(x) = sigmoid(logsumexp(logits))`` (:func:`featmatch.real_probability`). Train it with
    :func:`featmatch.semi_supervised_discriminator_loss`; call :meth:`init_from_data` once first,
    as the paper's code does on 500 training samples. Classify with it in eval mode (no noise).

    Args:
        sample_shape: the shape of one sample (any; flattened), e.g. ``(1, 28, 28)``.
        num_classes: K, the number of real classes (>= 2).
        widths: the hidden layers' sizes; the paper's ``(1000, 500, 250, 250, 250)`` by default.
        input_noise: noise std added to the input (0.3 in the paper, for data in ``[0, 1]``;
            use 0.6 for ``[-1, 1]`` data, see the module docstring).
        hidden_noise: noise std added to each hidden layer's output (0.5 in the paper).
        train_hidden_scale: train the hidden layers' weight-norm scales too; False as in the
            paper's code, where only the output layer's scale trains (the hidden ones are then
            buffers, set by :meth:`init_from_data`).
        unit_range: see ``[-1, 1]`` inputs on ``[0, 1]``, the paper's range: ``(x + 1) / 2``
            before the input noise (then ``input_noise=0.3``, the paper's). Not the same as
            ``[-1, 1]`` with twice the noise: a background pixel at 0 adds nothing to a unit's
            input and its weight gets no gradient, where at -1 it acts as a second bias.

    Output ``DiscriminatorOutput(logits (N, K), {"hidden1": (N, widths[0]), ..., "hiddenL": ...})``:
    each feature is a hidden layer's ReLU output, before the next layer's noise.

    Example:
        >>> import torch
        >>> d = SemiMLPDiscriminator((1, 8, 8), 10, widths=(32, 16))
        >>> out = d.init_from_data(torch.rand(20, 1, 8, 8))(torch.rand(4, 1, 8, 8))
        >>> out.logits.shape, list(out.features)
        (torch.Size([4, 10]), ['hidden1', 'hidden2'])
    """

    def __init__(
        self,
        sample_shape: Sequence[int] | int,
        num_classes: int,
        *,
        widths: Sequence[int] = _PAPER_D_WIDTHS,
        input_noise: float = _PAPER_INPUT_NOISE,
        hidden_noise: float = _PAPER_HIDDEN_NOISE,
        train_hidden_scale: bool = False,
        unit_range: bool = False,
    ) -> None:
        super().__init__()
        self.sample_shape = _check_sample_shape(sample_shape)
        self.unit_range = bool(unit_range)
        self.num_classes = check_int(
            "num_classes",
            num_classes,
            minimum=2,
            hint=" Hint: K counts the real classes; the generated class is implicit.",
        )
        self.widths = _check_widths("widths", widths, "(1000, 500, 250, 250, 250)")
        self.input_noise = _check_std("input_noise", input_noise)
        self.hidden_noise = _check_std("hidden_noise", hidden_noise)
        self.train_hidden_scale = bool(train_hidden_scale)
        self.in_features = math.prod(self.sample_shape)
        sizes = (self.in_features, *self.widths)
        stds = (self.input_noise,) + (self.hidden_noise,) * (len(self.widths) - 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(GaussianNoise(std), _weight_normed_linear(a, b, std=0.1), nn.ReLU())
            for a, b, std in zip(sizes[:-1], sizes[1:], stds, strict=True)
        )
        self.head = nn.Sequential(
            GaussianNoise(self.hidden_noise), _weight_normed_linear(self.widths[-1], self.num_classes, std=0.1)
        )
        if not self.train_hidden_scale:
            for block in self.blocks:
                _fix_scale(cast(nn.Sequential, block)[1])

    def _flatten(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.sample_shape:
            raise ValueError(
                f"SemiMLPDiscriminator expects x of shape (N, {', '.join(map(str, self.sample_shape))}), "
                f"got {tuple(x.shape)}. Hint: build it with the data's sample_shape."
            )
        x = x.reshape(x.shape[0], self.in_features)  # (N, *sample_shape) -> (N, D)
        return (x + 1.0) * 0.5 if self.unit_range else x

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        h = self._flatten(x)
        features: dict[str, Tensor] = {}
        for index, block in enumerate(self.blocks):
            h = block(h)  # (N, widths[index])
            features[f"hidden{index + 1}"] = h
        return DiscriminatorOutput(self.head(h), features)  # logits (N, K)

    @torch.no_grad()
    def init_from_data(self, x: Tensor) -> SemiMLPDiscriminator:
        """Data-dependent initialisation (Salimans & Kingma 2016), as the paper's code does once before training.

        Layer by layer on the batch ``x``, set each weight-norm scale and bias so that the
        layer's pre-activations have mean 0 and standard deviation 1 over the batch; the next
        layer sees the normalised outputs. The noise is on in training mode, as in the code.

        Args:
            x: a batch of real samples ``(N, *sample_shape)``, N >= 2 (the code uses 500).

        Returns:
            ``self``, for chaining.
        """
        h = self._flatten(x)
        if h.shape[0] < 2:
            raise ValueError(f"init_from_data needs a batch of at least 2 samples, got {h.shape[0]}.")
        steps: list[tuple[nn.Module, nn.Module, nn.Module | None]] = [
            (block[0], block[1], block[2]) for block in cast(list[nn.Sequential], list(self.blocks))
        ]
        steps.append((self.head[0], self.head[1], None))
        for noise, linear, activation in steps:
            pre = linear(noise(h))  # (N, out)
            mean = pre.mean(dim=0)
            std = pre.std(dim=0, unbiased=False).clamp_min(_INIT_STD_FLOOR)
            _scale(linear).div_(std.unsqueeze(1))
            cast(Tensor, linear.bias).sub_(mean).div_(std)
            h = (pre - mean) / std
            if activation is not None:
                h = activation(h)
        return self


class _Shift(nn.Module):
    """A learned per-feature bias: the batch normalisation of the paper's generator has a shift but no scale."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


class SemiMLPGenerator(nn.Module):
    """The semi-supervised GAN generator: z -> (N, *sample_shape), batch norm + softplus, weight-normed output.

    Each hidden layer is Linear (no bias) -> BatchNorm1d (no scale, a learned shift) -> Softplus;
    the output layer is a weight-normalised Linear -> ``output`` squashing, reshaped to ``sample_shape``.

    Args:
        sample_shape: the shape of one generated sample, e.g. ``(1, 28, 28)``.
        latent_dim: size of z (100 in the paper, which draws z uniform on ``[0, 1)``).
        widths: the hidden layers' sizes; the paper's ``(500, 500)`` by default.
        output: ``"tanh"`` for data in ``[-1, 1]`` (featmatch's data sets, the default) or
            ``"sigmoid"`` for data in ``[0, 1]`` (the paper's MNIST), or ``"softplus"`` (``[0, inf)``,
            for ``[0, 1]`` data: it never saturates above, so a generator pushed there keeps a gradient).
        unit_range: the output on ``[0, 1]`` (``"sigmoid"`` or ``"softplus"``), mapped to featmatch's
            ``[-1, 1]`` as ``2 * out - 1``: the generator of a ``unit_range`` discriminator.

    Example:
        >>> import torch
        >>> g = SemiMLPGenerator((1, 40), widths=(16, 16))
        >>> g(torch.rand(3, g.latent_dim)).shape
        torch.Size([3, 1, 40])
    """

    def __init__(
        self,
        sample_shape: Sequence[int] | int,
        *,
        latent_dim: int = _PAPER_LATENT,
        widths: Sequence[int] = _PAPER_G_WIDTHS,
        output: str = "tanh",
        unit_range: bool = False,
    ) -> None:
        super().__init__()
        self.sample_shape = _check_sample_shape(sample_shape)
        self.latent_dim = check_int("latent_dim", latent_dim, minimum=1)
        self.unit_range = bool(unit_range)
        self.widths = _check_widths("generator widths", widths, "(500, 500)")
        if output not in GENERATOR_OUTPUTS:
            raise ValueError(
                f"output must be one of {GENERATOR_OUTPUTS}, got {output!r}. "
                "Hint: 'tanh' for data in [-1, 1] (featmatch's data sets), 'sigmoid' for [0, 1]."
            )
        if self.unit_range and output == "tanh":
            raise ValueError(
                f"unit_range=True maps an output on [0, 1] to [-1, 1]; it needs output='sigmoid' (the paper's) or "
                f"'softplus', got output={output!r}. Hint: pass output='sigmoid', or unit_range=False."
            )
        self.output = output
        layers: list[nn.Module] = []
        size_in = self.latent_dim
        for width in self.widths:
            layers += [
                nn.Linear(size_in, width, bias=False),
                nn.BatchNorm1d(width, eps=_BN_EPS, affine=False),
                _Shift(width),
                nn.Softplus(),
            ]
            size_in = width
        layers += [
            _weight_normed_linear(size_in, math.prod(self.sample_shape)),
            {"tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus}[output](),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"SemiMLPGenerator expects z of shape (N, {self.latent_dim}), got {tuple(z.shape)}.")
        x = self.net(z).reshape(z.shape[0], *self.sample_shape)  # (N, D) -> (N, *sample_shape)
        return 2.0 * x - 1.0 if self.unit_range else x
