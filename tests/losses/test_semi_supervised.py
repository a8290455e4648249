"""semi_supervised_discriminator_loss: Salimans et al. 2016's formula, against an independent float64 reference."""

from __future__ import annotations

import math

import pytest
import torch

import featmatch
from featmatch import (
    DiscriminatorOutput,
    FeatureMatchingLoss,
    FeatureTap,
    SemiSupervisedDiscriminatorLoss,
    SemiSupervisedTerms,
    classification_error,
    real_probability,
    semi_supervised_discriminator_loss,
)
from featmatch.models import SemiMLPDiscriminator


def reference_loss(
    fake: torch.Tensor, unlabelled: torch.Tensor, labelled: torch.Tensor, labels: torch.Tensor, weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The improved-gan code's expressions, written out plainly (moderate logits only)."""

    def lse(logits: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.exp(logits).sum(dim=1))

    def softplus(x: torch.Tensor) -> torch.Tensor:
        return torch.log(1.0 + torch.exp(x))

    picked = torch.stack([labelled[i, int(labels[i])] for i in range(labelled.shape[0])])
    loss_lab = -picked.mean() + lse(labelled).mean()
    loss_unl = -0.5 * lse(unlabelled).mean() + 0.5 * softplus(lse(unlabelled)).mean() + 0.5 * softplus(lse(fake)).mean()
    return loss_lab + weight * loss_unl, loss_lab, loss_unl


def batch(seed: int, k: int = 5, sizes: tuple[int, int, int] = (7, 6, 4), scale: float = 3.0):
    g = torch.Generator().manual_seed(seed)
    fake, unlabelled, labelled = (scale * torch.randn(n, k, generator=g, dtype=torch.float64) for n in sizes)
    labels = torch.randint(0, k, (sizes[2],), generator=g)
    return fake, unlabelled, labelled, labels


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weight", [1.0, 0.3, 0.0])
def test_value_matches_reference(seed: int, weight: float) -> None:
    fake, unlabelled, labelled, labels = batch(seed)
    loss, terms = semi_supervised_discriminator_loss(
        fake=fake, unlabelled=unlabelled, labelled=labelled, labels=labels,
        unsupervised_weight=weight, return_terms=True,
    )
    expected, lab, unl = reference_loss(fake, unlabelled, labelled, labels, weight)
    assert loss.dtype == torch.float64
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    assert isinstance(terms, SemiSupervisedTerms)
    torch.testing.assert_close(terms.supervised, lab, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(terms.unsupervised, unl, rtol=1e-12, atol=1e-12)
    assert not terms.supervised.requires_grad and not terms.unsupervised.requires_grad


def test_gradients_match_reference() -> None:
    fake, unlabelled, labelled, labels = batch(7)
    inputs = [t.clone().requires_grad_(True) for t in (fake, unlabelled, labelled)]
    semi_supervised_discriminator_loss(*inputs, labels).backward()
    copies = [t.clone().requires_grad_(True) for t in (fake, unlabelled, labelled)]
    reference_loss(*copies, labels)[0].backward()
    for ours, theirs in zip(inputs, copies, strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-10, atol=1e-12)


def test_gradcheck() -> None:
    fake, unlabelled, labelled, labels = batch(3, k=3, sizes=(3, 2, 4), scale=1.0)
    inputs = tuple(t.requires_grad_(True) for t in (fake, unlabelled, labelled))

    def loss(f: torch.Tensor, u: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
        return semi_supervised_discriminator_loss(f, u, l, labels, unsupervised_weight=0.7)

    assert torch.autograd.gradcheck(loss, inputs)
    assert torch.autograd.gradgradcheck(loss, inputs)


def test_known_values() -> None:
    zeros = torch.zeros(4, 10)
    loss, terms = semi_supervised_discriminator_loss(
        fake=zeros, unlabelled=zeros, labelled=zeros, labels=torch.arange(4), return_terms=True
    )
    assert math.isclose(float(terms.supervised), math.log(10), rel_tol=1e-6)
    assert math.isclose(float(terms.unsupervised), 0.5 * math.log(1.1) + 0.5 * math.log(11), rel_tol=1e-6)
    assert math.isclose(float(loss), float(terms.supervised + terms.unsupervised), rel_tol=1e-6)


def test_batches_of_different_sizes_average_separately() -> None:
    fake, unlabelled, labelled, labels = batch(1, sizes=(9, 2, 5))
    doubled = torch.cat([unlabelled, unlabelled])
    assert torch.allclose(
        semi_supervised_discriminator_loss(fake, unlabelled, labelled, labels),
        semi_supervised_discriminator_loss(fake, doubled, labelled, labels),
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_stable_with_huge_logits(dtype: torch.dtype) -> None:
    big = 1e4 if dtype in (torch.float32, torch.float64) else 6e4 if dtype == torch.float16 else 1e30
    g = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (6, 4), generator=g).to(torch.float64) * 2 - 1
    logits = [(big * signs[i : i + 2]).to(dtype).requires_grad_(True) for i in (0, 2, 4)]
    loss = semi_supervised_discriminator_loss(*logits, torch.tensor([0, 3]))
    loss.backward()
    assert torch.isfinite(loss)
    for logit in logits:
        assert torch.isfinite(logit.grad).all()
    assert loss.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)


def test_confident_correct_discriminator_has_near_zero_loss() -> None:
    real = torch.tensor([[1e4, -1e4], [-1e4, 1e4]])
    loss = semi_supervised_discriminator_loss(torch.full((2, 2), -1e4), real, real, torch.tensor([0, 1]))
    assert float(loss) == 0.0
    wrong = semi_supervised_discriminator_loss(real, real, real, torch.tensor([1, 0]))  # fake called real, wrong labels
    assert math.isclose(float(wrong), 2e4 + 0.5 * 1e4, rel_tol=1e-6)


def test_module_equals_function_and_accepts_discriminator_outputs() -> None:
    fake, unlabelled, labelled, labels = batch(5)
    module = SemiSupervisedDiscriminatorLoss(unsupervised_weight=0.5, return_terms=True)
    wrapped = [DiscriminatorOutput(t, {}) for t in (fake, unlabelled, labelled)]
    ours, terms = module(*wrapped, labels)
    theirs, their_terms = semi_supervised_discriminator_loss(
        fake, unlabelled, labelled, labels, unsupervised_weight=0.5, return_terms=True
    )
    assert torch.equal(ours, theirs) and terms == their_terms
    assert torch.equal(SemiSupervisedDiscriminatorLoss()(fake, unlabelled, labelled, labels),
                       semi_supervised_discriminator_loss(fake, unlabelled, labelled, labels))
    assert "unsupervised_weight=0.5" in repr(module)


def test_public_names() -> None:
    for name in ("SemiSupervisedDiscriminatorLoss", "SemiSupervisedTerms", "classification_error",
                 "real_probability", "semi_supervised_discriminator_loss"):
        assert name in featmatch.__all__ and name in featmatch.losses.__all__


def test_real_probability_is_z_over_z_plus_one() -> None:
    logits = torch.randn(5, 4, dtype=torch.float64)
    z = torch.exp(logits).sum(1)
    torch.testing.assert_close(real_probability(logits), z / (z + 1))
    extreme = real_probability(torch.tensor([[1e4, 0.0], [-1e4, -1e4]]))
    assert extreme.tolist() == [1.0, 0.0]


def test_classification_error() -> None:
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [5.0, 0.0, 9.0]], requires_grad=True)
    error = classification_error(logits, torch.tensor([0, 2, 2]))
    assert float(error) == pytest.approx(1 / 3) and not error.requires_grad


def test_fm_preset_on_semi_discriminator_is_squared_difference_of_batch_means() -> None:
    """The generator side: salimans2016 on the last hidden layer, as the code's loss_gen."""
    torch.manual_seed(0)
    d = SemiMLPDiscriminator((1, 8, 8), 10, widths=(16, 12, 8))
    fake, real = torch.rand(6, 1, 8, 8) * 2 - 1, torch.rand(5, 1, 8, 8) * 2 - 1
    d.eval()  # deterministic, so the tap and the output see the same forward
    out_fake, out_real = d(fake), d(real)
    by_hand = (out_fake.features["hidden3"].mean(0) - out_real.features["hidden3"].mean(0)).square().mean()
    loss = FeatureMatchingLoss.from_preset("salimans2016")
    torch.testing.assert_close(loss(out_fake.features["hidden3"], out_real.features["hidden3"]), by_hand)
    with FeatureTap(d, layers="blocks.2") as tap:
        tapped_fake, tapped_real = tap(fake).features, tap(real).features
    torch.testing.assert_close(loss(tapped_fake, tapped_real), by_hand)


def test_errors_name_argument_expected_and_actual() -> None:
    good = torch.zeros(3, 4)
    labels = torch.tensor([0, 1, 2])
    cases = [
        ({"fake": torch.zeros(3)}, ValueError, r"fake must be class logits of shape \(N, K\), got shape \(3,\)"),
        ({"unlabelled": torch.zeros(3, 1)}, ValueError, r"unlabelled must have K >= 2 class logits, got shape \(3, 1\)"),
        ({"labelled": torch.zeros(3, 5)}, ValueError, r"labelled must have as many class logits as fake, K = 4, got shape \(3, 5\)"),
        ({"unlabelled": torch.zeros(0, 4)}, ValueError, r"unlabelled must hold at least one sample, got an empty batch of shape \(0, 4\)"),
        ({"labelled": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}, ValueError, r"labelled must hold at least one sample"),
        ({"fake": torch.zeros(3, 4, dtype=torch.long)}, TypeError, r"fake must be a floating-point Tensor .* got dtype torch.int64"),
        ({"fake": [[0.0, 1.0]]}, TypeError, r"fake must be a Tensor of class logits \(N, K\) or a DiscriminatorOutput, got list"),
        ({"labels": torch.tensor([0.0, 1.0, 2.0])}, TypeError, r"labels must hold integer class indices \(dtype torch.long\), got dtype torch.float32"),
        ({"labels": torch.tensor([0, 1])}, ValueError, r"labels must have shape \(3,\), one class index per labelled sample, got shape \(2,\)"),
        ({"labels": torch.tensor([0, 4, -1])}, ValueError, r"labels must be class indices in \[0, 4\) for K = 4 class logits, got \[-1, 4\]"),
        ({"unsupervised_weight": -1.0}, ValueError, r"unsupervised_weight must be a finite number >= 0, got -1.0"),
        ({"unsupervised_weight": float("nan")}, ValueError, r"unsupervised_weight must be a finite number >= 0"),
    ]
    for override, error, pattern in cases:
        kwargs = {"fake": good, "unlabelled": good, "labelled": good, "labels": labels} | override
        with pytest.raises(error, match=pattern):
            semi_supervised_discriminator_loss(**kwargs)
    with pytest.raises(ValueError, match="unsupervised_weight"):
        SemiSupervisedDiscriminatorLoss(unsupervised_weight=-0.1)
    # int32 labels are accepted, as cross_entropy's long.
    semi_supervised_discriminator_loss(good, good, good, labels.int())
