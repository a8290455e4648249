"""frechet_distance against independent references and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from featmatch.metrics import frechet_distance, gaussian_frechet_distance


def reference_eig(a: np.ndarray, b: np.ndarray) -> float:
    """float64 numpy: Tr sqrt(S_a S_b) from the eigenvalues of S_a S_b (real and >= 0 for PSD inputs)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    eig = np.linalg.eigvals(cov_a @ cov_b)
    trace_sqrt = np.sqrt(np.clip(eig.real, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def reference_sqrtm(a: np.ndarray, b: np.ndarray) -> float:
    """float64 scipy: the pytorch-fid formula with scipy.linalg.sqrtm."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def random_features(n: int, f: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(f, f, generator=gen) / math.sqrt(f)  # correlated features
    return torch.randn(n, f, generator=gen) @ mix + shift + torch.randn(f, generator=gen)


def test_identical_sets_give_zero():
    x = random_features(300, 16, seed=0)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("n_a,n_b,f", [(200, 150, 8), (60, 90, 5), (500, 500, 1)])
def test_matches_numpy_and_scipy_references(n_a, n_b, f):
    a = random_features(n_a, f, seed=1)
    b = random_features(n_b, f, seed=2, shift=0.3)
    ours = frechet_distance(a, b)
    assert ours > 0.01
    assert ours == pytest.approx(reference_eig(a.double().numpy(), b.double().numpy()), rel=1e-9, abs=1e-10)
    assert ours == pytest.approx(reference_sqrtm(a.double().numpy(), b.double().numpy()), rel=1e-7, abs=1e-9)


def test_matches_torchmetrics_fid_with_identity_features():
    """torchmetrics' FrechetInceptionDistance with a custom (identity) feature extractor."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    class Identity(nn.Module):
        num_features = 6

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    a = random_features(120, 6, seed=3).double()
    b = random_features(100, 6, seed=4, shift=-0.2).double()
    fid = FrechetInceptionDistance(feature=Identity())
    fid.update(a, real=True)
    fid.update(b, real=False)
    assert frechet_distance(fake=b, real=a) == pytest.approx(fid.compute().item(), rel=1e-8)


def test_closed_form_rotated_covariance():
    # cov_a = s I commutes with everything: Tr sqrt(cov_a^1/2 cov_b cov_a^1/2) = sqrt(s) * sum sqrt(eig(cov_b)).
    s, eig_b = 2.0, torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64))
    cov_b = q @ torch.diag(eig_b) @ q.T
    mu_a, mu_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    expected = 5.0 + 3 * s + eig_b.sum().item() - 2 * math.sqrt(s) * eig_b.sqrt().sum().item()
    got = gaussian_frechet_distance(mu_a, s * torch.eye(3), mu_b, cov_b)
    assert got == pytest.approx(expected, rel=1e-12)


def test_closed_form_from_samples_of_two_gaussians():
    # Diagonal covariances: d^2 = |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2.
    gen = torch.Generator().manual_seed(6)
    sigma_a, sigma_b = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([2.0, 1.0, 0.5])
    mu_a, mu_b = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([1.0, -1.0, 0.5])
    a = mu_a + sigma_a * torch.randn(40000, 3, generator=gen, dtype=torch.float64)
    b = mu_b + sigma_b * torch.randn(40000, 3, generator=gen, dtype=torch.float64)
    expected = ((mu_a - mu_b) ** 2).sum().item() + ((sigma_a - sigma_b) ** 2).sum().item()  # 2.25 + 2
    assert frechet_distance(a, b) == pytest.approx(expected, abs=0.06)


def test_one_dimensional_closed_form():
    assert gaussian_frechet_distance(
        torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-1.0]), torch.tensor([[9.0]])
    ) == pytest.approx(4.0 + (2.0 - 3.0) ** 2)


def test_symmetric_and_non_negative_for_rank_deficient_covariances():
    # More features than samples: both covariances are singular.
    a, b = random_features(10, 32, seed=7), random_features(12, 32, seed=8)
    ab, ba = frechet_distance(a, b), frechet_distance(b, a)
    assert ab >= 0 and math.isfinite(ab)
    assert ab == pytest.approx(ba.item(), rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_returns_a_0d_float64_tensor():
    d = frechet_distance(torch.randn(5, 2), torch.randn(5, 2))
    assert isinstance(d, torch.Tensor) and d.ndim == 0 and d.dtype == torch.float64
    g = gaussian_frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), torch.eye(2))
    assert isinstance(g, torch.Tensor) and g.ndim == 0 and g.item() == 2.0


def test_old_keyword_names_warn_and_give_the_same_value():
    real, fake = random_features(80, 4, seed=9), random_features(70, 4, seed=10, shift=0.5)
    new = frechet_distance(fake=fake, real=real)
    assert new.item() == pytest.approx(reference_eig(real.double().numpy(), fake.double().numpy()), rel=1e-9)
    with pytest.warns(DeprecationWarning, match=r"features_real= -> real=, features_fake= -> fake="):
        old = frechet_distance(features_real=real, features_fake=fake)
    assert torch.equal(old, new)
    # Symmetric: the old positional order (real, fake) gives the same value up to round-off.
    assert frechet_distance(real, fake).item() == pytest.approx(new.item(), rel=1e-9)


def test_errors():
    with pytest.raises(ValueError, match="same feature width, got 3 and 4"):
        frechet_distance(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match=r"fake must have shape \(N, F\), got \(10,\)"):
        frechet_distance(fake=torch.randn(10), real=torch.randn(10, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(torch.randn(1, 3), torch.randn(10, 3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        frechet_distance(torch.full((4, 3), float("nan")), torch.randn(10, 3))
    with pytest.raises(TypeError, match="real must be a torch.Tensor"):
        frechet_distance(fake=torch.randn(10, 3), real=np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"cov_b must have shape \(2, 2\)"):
        gaussian_frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(3))
