"""Adversarial GAN losses on discriminator logits: ``bce``, ``hinge``, ``lsgan``, ``wgan``.

Every loss works on *logits* (the discriminator's score before any sigmoid) and is written
with ``softplus`` so that it stays finite and exact for logits as large as +-100, where
``log(sigmoid(x))`` would underflow to ``log(0) = -inf``.

Each loss exists as a function and as a thin Module that agree:

==========  ==============================================  ==========================================
kind        discriminator loss (minimised by D)             generator loss (minimised by G)
==========  ==============================================  ==========================================
``bce``     ``softplus(-real) + softplus(fake)``            ``softplus(-fake)`` = ``-log D(G(z))``
            (= BCE(D(x), 1) + BCE(D(G(z)), 0))              (non-saturating, Goodfellow et al. 2014);
                                                            ``saturating=True``: ``-softplus(fake)``
                                                            = ``log(1 - D(G(z)))``
``hinge``   ``relu(1 - real) + relu(1 + fake)``             ``-fake``
``lsgan``   ``0.5 * ((real - 1)^2 + fake^2)``               ``0.5 * (fake - 1)^2``
``wgan``    ``fake - real``                                 ``-fake``
==========  ==============================================  ==========================================

Each term is a mean over all elements of its tensor (real and fake terms are averaged separately,
so real and generated batches may differ in size). With several discriminators (multi-scale,
multi-period) the per-discriminator losses are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch._checks import fake_real_arguments
from featmatch.features import DiscriminatorOutput

__all__ = [
    "ADVERSARIAL_KINDS",
    "DiscriminatorLoss",
    "GeneratorLoss",
    "discriminator_loss",
    "generator_loss",
]

#: The adversarial loss kinds accepted by :func:`discriminator_loss` and :func:`generator_loss`.
ADVERSARIAL_KINDS: tuple[str, ...] = ("bce", "hinge", "lsgan", "wgan")

#: What the losses accept as logits: one discriminator's output, or a sequence of them.
Logits = Tensor | DiscriminatorOutput | Sequence[Tensor | DiscriminatorOutput]


def _check_kind(kind: str) -> str:
    if not isinstance(kind, str) or kind not in ADVERSARIAL_KINDS:
        raise ValueError(
            f"kind must be one of {', '.join(repr(k) for k in ADVERSARIAL_KINDS)}, got {kind!r}. "
            "Hint: 'bce' is the original GAN loss and the default."
        )
    return kind


def _one_logit_tensor(item: object, arg: str, index: int | None) -> Tensor:
    where = arg if index is None else f"{arg}[{index}]"
    if isinstance(item, DiscriminatorOutput):
        item = item.logits
    if not isinstance(item, Tensor):
        raise TypeError(
            f"{where} must be a Tensor of logits or a DiscriminatorOutput, got {type(item).__name__}. "
            "Hint: for a discriminator that returns (logits, features), pass only the logits, "
            "or convert it with featmatch.as_discriminator_output()."
        )
    if not item.is_floating_point():
        raise TypeError(f"{where} must be a floating-point Tensor of logits, got dtype {item.dtype}.")
    if item.numel() == 0:
        raise ValueError(f"{where} must have at least one element, got shape {tuple(item.shape)}.")
    # Half-precision logits are promoted: softplus and squares of large logits overflow in float16.
    if item.dtype in (torch.float16, torch.bfloat16):
        item = item.float()
    return item


def _logit_list(logits: Logits, arg: str) -> list[Tensor]:
    """Normalise one or several discriminators' logits into a non-empty list of tensors."""
    # DiscriminatorOutput is a NamedTuple, so it must be recognised before the generic sequence case.
    if isinstance(logits, (Tensor, DiscriminatorOutput)):
        return [_one_logit_tensor(logits, arg, None)]
    if isinstance(logits, (list, tuple)):
        if len(logits) == 0:
            raise ValueError(
                f"{arg} must hold at least one discriminator's logits, got an empty {type(logits).__name__}."
            )
        return [_one_logit_tensor(item, arg, i) for i, item in enumerate(logits)]
    raise TypeError(
        f"{arg} must be a Tensor, a DiscriminatorOutput, or a list of them (one per discriminator), "
        f"got {type(logits).__name__}."
    )


def _mean_over_discriminators(losses: list[Tensor]) -> Tensor:
    if len(losses) == 1:
        return losses[0]
    return torch.stack(losses).mean()


def _d_loss_one(real: Tensor, fake: Tensor, kind: str) -> Tensor:
    if kind == "bce":
        # -log sigmoid(real) - log(1 - sigmoid(fake)), written stably with softplus.
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    if kind == "lsgan":
        return 0.5 * ((real - 1.0).square().mean() + fake.square().mean())
    # wgan: the critic maximises real - fake.
    return fake.mean() - real.mean()


def _g_loss_one(fake: Tensor, kind: str, saturating: bool) -> Tensor:
    if kind == "bce":
        if saturating:
            # log(1 - sigmoid(fake)) = -softplus(fake): the minimax form, whose gradient vanishes when D wins.
            return -F.softplus(fake).mean()
        # -log sigmoid(fake) = softplus(-fake): the non-saturating form.
        return F.softplus(-fake).mean()
    if kind == "lsgan":
        return 0.5 * (fake - 1.0).square().mean()
    # hinge and wgan: the generator raises the critic's score of its samples.
    return -fake.mean()


_D_OLD_ORDER = ("real_logits", "fake_logits")
_D_RENAMES = {"real_logits": "real", "fake_logits": "fake"}


def discriminator_loss(
    *args: Any, fake: Logits | None = None, real: Logits | None = None, kind: str | None = None, **old_names: Any
) -> Tensor:
    """The discriminator's adversarial loss, to be minimised by the discriminator.

    Pass the logits by keyword, generated first: ``discriminator_loss(fake=D(fake.detach()),
    real=D(x))``. Deprecated until the next release: the old positional form
    ``discriminator_loss(real_logits, fake_logits, kind)`` keeps its old meaning (real first)
    and emits a DeprecationWarning, as do the old keyword names ``real_logits=`` and
    ``fake_logits=``; in the next release the positional order becomes ``(fake, real)``, as
    in :func:`~featmatch.feature_matching_loss`. Positional logits mixed with ``fake=`` or
    ``real=`` are a TypeError.

    Args:
        fake: the discriminator's logits on generated samples (usually ``D(fake.detach())``):
            a Tensor of any shape, a :class:`~featmatch.DiscriminatorOutput`, or a list of
            either (one per discriminator).
        real: the same for real samples; as many discriminators as ``fake``.
        kind: one of :data:`ADVERSARIAL_KINDS` (see the module docstring for the formulas);
            default ``"bce"``.

    Returns:
        A scalar Tensor: the mean over elements of each term, averaged over discriminators.
        Float32 for half-precision logits, otherwise the logits' dtype.

    Raises:
        ValueError: unknown ``kind``, empty logits, or a different number of discriminators.
        TypeError: logits that are not floating-point Tensors / DiscriminatorOutputs; positional
            logits mixed with ``fake=``/``real=``; a missing ``fake`` or ``real``.

    Example:
        >>> import torch
        >>> real, fake = torch.tensor([3.0, 2.0]), torch.tensor([-2.0, -3.0])
        >>> float(discriminator_loss(fake=fake, real=real, kind="hinge"))
        0.0
    """
    if len(args) == 3:  # the deprecated discriminator_loss(real_logits, fake_logits, kind)
        if kind is not None:
            raise TypeError("discriminator_loss() got multiple values for 'kind'.")
        kind, args = args[2], args[:2]
    resolved = fake_real_arguments(
        "discriminator_loss",
        args,
        fake,
        real,
        old_names,
        old_order=_D_OLD_ORDER,
        renames=_D_RENAMES,
        example="discriminator_loss(fake=D(fake.detach()), real=D(x))",
    )
    return _discriminator_loss(resolved["fake"], resolved["real"], "bce" if kind is None else kind)


def _discriminator_loss(fake: Logits, real: Logits, kind: str) -> Tensor:
    _check_kind(kind)
    fakes = _logit_list(fake, "fake")
    reals = _logit_list(real, "real")
    if len(reals) != len(fakes):
        raise ValueError(
            f"fake and real must come from the same number of discriminators, got "
            f"{len(fakes)} and {len(reals)}. Hint: pass one entry per discriminator in both."
        )
    return _mean_over_discriminators([_d_loss_one(r, f, kind) for r, f in zip(reals, fakes, strict=True)])


def generator_loss(fake_logits: Logits, kind: str = "bce", *, saturating: bool = False) -> Tensor:
    """The generator's adversarial loss, to be minimised by the generator.

    Args:
        fake_logits: the discriminator's logits on generated samples (``D(G(z))``, not detached):
            a Tensor, a :class:`~featmatch.DiscriminatorOutput`, or a list of either.
        kind: one of :data:`ADVERSARIAL_KINDS`.
        saturating: only for ``kind="bce"``: use the original minimax form ``log(1 - D(G(z)))``
            instead of the default non-saturating ``-log D(G(z))``.

    Returns:
        A scalar Tensor, averaged over elements and over discriminators.

    Raises:
        ValueError: unknown ``kind``, ``saturating=True`` with a kind other than ``"bce"``, empty logits.
        TypeError: logits that are not floating-point Tensors / DiscriminatorOutputs.

    Example:
        >>> import torch
        >>> round(float(generator_loss(torch.zeros(4))), 4)  # -log(0.5)
        0.6931
    """
    _check_kind(kind)
    if saturating and kind != "bce":
        raise ValueError(
            f"saturating=True only applies to kind='bce', got kind={kind!r}. Hint: drop saturating for {kind!r}."
        )
    fakes = _logit_list(fake_logits, "fake_logits")
    return _mean_over_discriminators([_g_loss_one(f, kind, saturating) for f in fakes])


class DiscriminatorLoss(nn.Module):
    """Module form of :func:`discriminator_loss`; ``forward(fake=..., real=...)`` equals it.

    Like the function, ``forward`` takes the logits by keyword; the deprecated positional form
    ``forward(real_logits, fake_logits)`` keeps its old meaning for one release, with a
    DeprecationWarning.

    Args:
        kind: one of :data:`ADVERSARIAL_KINDS`, checked on construction.

    Example:
        >>> import torch
        >>> loss = DiscriminatorLoss("lsgan")
        >>> float(loss(fake=torch.zeros(3), real=torch.ones(3)))
        0.0
    """

    def __init__(self, kind: str = "bce") -> None:
        super().__init__()
        self.kind = _check_kind(kind)

    def forward(self, *args: Any, fake: Logits | None = None, real: Logits | None = None, **old_names: Any) -> Tensor:
        resolved = fake_real_arguments(
            "DiscriminatorLoss.forward",
            args,
            fake,
            real,
            old_names,
            old_order=_D_OLD_ORDER,
            renames=_D_RENAMES,
            example="DiscriminatorLoss()(fake=D(fake.detach()), real=D(x))",
        )
        return _discriminator_loss(resolved["fake"], resolved["real"], self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class GeneratorLoss(nn.Module):
    """Module form of :func:`generator_loss`; ``forward(fake_logits)`` equals it.

    Args:
        kind: one of :data:`ADVERSARIAL_KINDS`, checked on construction.
        saturating: only for ``kind="bce"``; see :func:`generator_loss`.

    Example:
        >>> import torch
        >>> loss = GeneratorLoss("wgan")
        >>> float(loss(torch.tensor([1.0, 3.0])))
        -2.0
    """

    def __init__(self, kind: str = "bce", saturating: bool = False) -> None:
        super().__init__()
        self.kind = _check_kind(kind)
        if saturating and kind != "bce":
            raise ValueError(
                f"saturating=True only applies to kind='bce', got kind={kind!r}. Hint: drop saturating for {kind!r}."
            )
        self.saturating = bool(saturating)

    def forward(self, fake_logits: Logits) -> Tensor:
        return generator_loss(fake_logits, self.kind, saturating=self.saturating)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, saturating={self.saturating}"
