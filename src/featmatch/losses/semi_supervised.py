"""The semi-supervised discriminator loss of Salimans et al. 2016 (Improved GAN), with K class logits.

The discriminator outputs K class logits ``l`` and no "generated" logit: the generated class is
implicit, with ``D(x) = Z(x) / (Z(x) + 1)`` the probability that ``x`` is real, where
``Z(x) = sum_k exp(l_k(x))``. With ``lse = logsumexp over classes`` this is ``D(x) = sigmoid(lse)``.
The discriminator minimises, as openai/improved-gan's ``train_mnist_feature_matching.py`` does::

    supervised   = cross_entropy(labelled logits, labels)                      # mean over the batch
    unsupervised = -0.5 * mean(lse(unlabelled)) + 0.5 * mean(softplus(lse(unlabelled)))
                   + 0.5 * mean(softplus(lse(fake)))
    loss         = supervised + unsupervised_weight * unsupervised

Since ``softplus(a) - a = softplus(-a)``, the unsupervised term is ``0.5 * (BCE(D(unlabelled), 1) +
BCE(D(fake), 0))``; it is computed in that form, which needs no exp of a logit and loses no
precision to cancellation when ``lse`` is large. Each mean is over its own batch, so the three
batches may differ in size.

The generator side is batch-mean feature matching on the discriminator's last hidden layer:
``FeatureMatchingLoss.from_preset("salimans2016")`` on ``D(fake).features["hidden5"]`` of
:class:`featmatch.models.SemiMLPDiscriminator`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch.features import DiscriminatorOutput

__all__ = [
    "SemiSupervisedDiscriminatorLoss",
    "SemiSupervisedTerms",
    "classification_error",
    "real_probability",
    "semi_supervised_discriminator_loss",
]

#: What the functions accept as class logits: an ``(N, K)`` Tensor, or a discriminator's output holding one.
ClassLogits = Tensor | DiscriminatorOutput


class SemiSupervisedTerms(NamedTuple):
    """The two parts of :func:`semi_supervised_discriminator_loss`, detached (for logging).

    Attributes:
        supervised: the cross-entropy on the labelled batch.
        unsupervised: the real/generated term, before ``unsupervised_weight``.
    """

    supervised: Tensor
    unsupervised: Tensor


def _class_logits(value: object, arg: str, *, num_classes: int | None = None) -> Tensor:
    """Check one ``(N, K)`` batch of class logits; half precision is promoted to float32."""
    if isinstance(value, DiscriminatorOutput):
        value = value.logits
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{arg} must be a Tensor of class logits (N, K) or a DiscriminatorOutput, got {type(value).__name__}."
        )
    if not value.is_floating_point():
        raise TypeError(f"{arg} must be a floating-point Tensor of class logits, got dtype {value.dtype}.")
    if value.ndim != 2:
        raise ValueError(
            f"{arg} must be class logits of shape (N, K), got shape {tuple(value.shape)}. "
            "Hint: a semi-supervised discriminator has one logit per class, such as "
            "featmatch.models.SemiMLPDiscriminator; a real/fake discriminator's (N,) logits do not fit."
        )
    if value.shape[1] < 2:
        raise ValueError(
            f"{arg} must have K >= 2 class logits, got shape {tuple(value.shape)}. "
            "Hint: the generated class is implicit, so K is the number of real classes."
        )
    if num_classes is not None and value.shape[1] != num_classes:
        raise ValueError(
            f"{arg} must have as many class logits as fake, K = {num_classes}, got shape {tuple(value.shape)}. "
            "Hint: pass the same discriminator's outputs for all three batches."
        )
    if value.shape[0] == 0:
        raise ValueError(f"{arg} must hold at least one sample, got an empty batch of shape {tuple(value.shape)}.")
    # logsumexp and softplus of large float16 logits lose all precision; float32 keeps them exact enough.
    if value.dtype in (torch.float16, torch.bfloat16):
        value = value.float()
    return value


def _check_labels(labels: object, logits: Tensor, arg: str = "labels") -> Tensor:
    if not isinstance(labels, Tensor):
        raise TypeError(f"{arg} must be a Tensor of class indices (N,), got {type(labels).__name__}.")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"{arg} must hold integer class indices (dtype torch.long), got dtype {labels.dtype}. "
            "Hint: labels.long(); one-hot labels: labels.argmax(1)."
        )
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"{arg} must have shape ({logits.shape[0]},), one class index per labelled sample, "
            f"got shape {tuple(labels.shape)}."
        )
    num_classes = logits.shape[1]
    # One host sync per call: out-of-range indices make cross_entropy fail with an unreadable device assert.
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        raise ValueError(
            f"{arg} must be class indices in [0, {num_classes}) for K = {num_classes} class logits, "
            f"got {bad.unique()[:5].tolist()}. Hint: number the classes 0..K-1 and give the discriminator K outputs."
        )
    return labels.long()


def _check_weight(unsupervised_weight: object) -> float:
    if isinstance(unsupervised_weight, bool) or not isinstance(unsupervised_weight, (int, float)):
        raise TypeError(f"unsupervised_weight must be a number >= 0, got {type(unsupervised_weight).__name__}.")
    weight = float(unsupervised_weight)
    if not weight >= 0.0 or weight == float("inf"):  # also rejects NaN
        raise ValueError(f"unsupervised_weight must be a finite number >= 0, got {unsupervised_weight!r}.")
    return weight


def _compute(
    fake: ClassLogits, unlabelled: ClassLogits, labelled: ClassLogits, labels: Tensor, weight: float
) -> tuple[Tensor, SemiSupervisedTerms]:
    fake_logits = _class_logits(fake, "fake")
    k = fake_logits.shape[1]
    unlabelled_logits = _class_logits(unlabelled, "unlabelled", num_classes=k)
    labelled_logits = _class_logits(labelled, "labelled", num_classes=k)
    targets = _check_labels(labels, labelled_logits)

    supervised = F.cross_entropy(labelled_logits, targets)
    lse_unlabelled = torch.logsumexp(unlabelled_logits, dim=1)  # (N_u,)
    lse_fake = torch.logsumexp(fake_logits, dim=1)  # (N_f,)
    # -0.5 lse + 0.5 softplus(lse) = 0.5 softplus(-lse): -log D(x) for real data, exactly.
    unsupervised = 0.5 * F.softplus(-lse_unlabelled).mean() + 0.5 * F.softplus(lse_fake).mean()
    loss = supervised + weight * unsupervised
    return loss, SemiSupervisedTerms(supervised.detach(), unsupervised.detach())


def semi_supervised_discriminator_loss(
    fake: ClassLogits,
    unlabelled: ClassLogits,
    labelled: ClassLogits,
    labels: Tensor,
    *,
    unsupervised_weight: float = 1.0,
    return_terms: bool = False,
) -> Tensor | tuple[Tensor, SemiSupervisedTerms]:
    """The semi-supervised GAN discriminator's loss (Salimans et al. 2016), to be minimised by D.

    ``supervised + unsupervised_weight * unsupervised``; see the module docstring for the formulas.
    Generated first, as every featmatch loss: pass ``D(fake.detach())`` first, then the unlabelled
    real batch, then the labelled batch and its labels (by keyword for clarity).

    Args:
        fake: class logits ``(N_f, K)`` of generated samples (or their :class:`~featmatch.DiscriminatorOutput`).
        unlabelled: class logits ``(N_u, K)`` of unlabelled real samples.
        labelled: class logits ``(N_l, K)`` of labelled real samples.
        labels: their class indices ``(N_l,)``, integers in ``[0, K)`` (converted to long).
        unsupervised_weight: weight of the unsupervised term; 1 in the paper's code
            (``--unlabeled_weight``).
        return_terms: also return the detached :class:`SemiSupervisedTerms`.

    Returns:
        A scalar (float32 for half-precision logits, otherwise the logits' dtype), or
        ``(loss, terms)`` when ``return_terms``.

    Raises:
        TypeError: logits that are not floating-point Tensors, labels that are not integers.
        ValueError: logits not of shape ``(N, K)`` with ``K >= 2``, different K, an empty batch,
            labels of the wrong length or outside ``[0, K)``, a negative ``unsupervised_weight``.

    Example:
        >>> import torch
        >>> big = torch.tensor([[20.0, -20.0]])  # confidently real, class 0
        >>> loss = semi_supervised_discriminator_loss(
        ...     fake=torch.full((1, 2), -20.0), unlabelled=big, labelled=big, labels=torch.tensor([0]))
        >>> float(loss) < 1e-8
        True
    """
    loss, terms = _compute(fake, unlabelled, labelled, labels, _check_weight(unsupervised_weight))
    return (loss, terms) if return_terms else loss


class SemiSupervisedDiscriminatorLoss(nn.Module):
    """Module form of :func:`semi_supervised_discriminator_loss`; ``forward`` equals the function.

    Args:
        unsupervised_weight: weight of the unsupervised term (1 in the paper's code).
        return_terms: ``forward`` also returns the detached :class:`SemiSupervisedTerms`.

    Example:
        >>> import torch
        >>> loss = SemiSupervisedDiscriminatorLoss()
        >>> logits = torch.zeros(4, 10)
        >>> round(float(loss(fake=logits, unlabelled=logits, labelled=logits, labels=torch.arange(4))), 4)
        3.5492

        (``log 10`` for the labels, ``0.5 log(1 + 1/10) + 0.5 log(1 + 10)`` for real/generated.)
    """

    def __init__(self, unsupervised_weight: float = 1.0, *, return_terms: bool = False) -> None:
        super().__init__()
        self.unsupervised_weight = _check_weight(unsupervised_weight)
        self.return_terms = bool(return_terms)

    def forward(
        self, fake: ClassLogits, unlabelled: ClassLogits, labelled: ClassLogits, labels: Tensor
    ) -> Tensor | tuple[Tensor, SemiSupervisedTerms]:
        loss, terms = _compute(fake, unlabelled, labelled, labels, self.unsupervised_weight)
        return (loss, terms) if self.return_terms else loss

    def extra_repr(self) -> str:
        return f"unsupervised_weight={self.unsupervised_weight}, return_terms={self.return_terms}"


def real_probability(logits: ClassLogits) -> Tensor:
    """``D(x) = Z / (Z + 1) = sigmoid(logsumexp(logits))``: the probability that each sample is real.

    Args:
        logits: class logits ``(N, K)`` (or a :class:`~featmatch.DiscriminatorOutput`).

    Returns:
        ``(N,)`` probabilities (float32 for half-precision logits), for logging ``d/real_prob`` and
        ``d/fake_prob``.

    Example:
        >>> import torch
        >>> real_probability(torch.zeros(1, 3))  # Z = 3: 3 / 4
        tensor([0.7500])
    """
    return torch.sigmoid(torch.logsumexp(_class_logits(logits, "logits"), dim=1))


def classification_error(logits: ClassLogits, labels: Tensor) -> Tensor:
    """Fraction of samples whose largest class logit is not their label (the paper's ``train_err``/``test_err``).

    Args:
        logits: class logits ``(N, K)`` (or a :class:`~featmatch.DiscriminatorOutput`).
        labels: class indices ``(N,)`` in ``[0, K)``.

    Returns:
        A float scalar in ``[0, 1]``, no gradient; times N is the number of errors.

    Example:
        >>> import torch
        >>> classification_error(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        tensor(0.5000)
    """
    checked = _class_logits(logits, "logits")
    targets = _check_labels(labels, checked)
    return (checked.detach().argmax(dim=1) != targets).float().mean()
