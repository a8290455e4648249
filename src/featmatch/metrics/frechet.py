"""Frechet distance between two sets of feature vectors.

The distance between Gaussians fitted to each set (Dowson & Landau 1982; Heusel et al.
2017 use it on Inception features as "FID"):

    d^2 = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a^{1/2} S_b S_a^{1/2})^{1/2})

featmatch computes it on the penultimate features of a small classifier trained on the
data set (see :mod:`featmatch.metrics.classifier`), so it works for 8x8 images and 1-D
sequences alike. Everything is done in float64. The trace of the matrix square root is
taken from the eigenvalues of the symmetric PSD matrix ``S_a^{1/2} S_b S_a^{1/2}``, which
has the same eigenvalues as ``S_a S_b``, so no non-symmetric square root (scipy.linalg.sqrtm)
and no dependency beyond torch is needed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from featmatch._checks import renamed_keywords
from featmatch.metrics._checks import check_feature_matrix

__all__ = ["frechet_distance", "gaussian_frechet_distance"]


def _check_features(name: str, value: object) -> Tensor:
    return check_feature_matrix(name, value, min_rows=2, needs="at least 2 rows to estimate a covariance")


def _sqrtm_psd(matrix: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix via eigh."""
    eigvals, eigvecs = torch.linalg.eigh(matrix)
    # Tiny negative eigenvalues are round-off of a PSD matrix.
    return (eigvecs * eigvals.clamp_min(0).sqrt()) @ eigvecs.T


def gaussian_frechet_distance(mu_a: Tensor, cov_a: Tensor, mu_b: Tensor, cov_b: Tensor) -> Tensor:
    """Frechet (2-Wasserstein squared) distance between N(mu_a, cov_a) and N(mu_b, cov_b).

    Symmetric in its two Gaussians, so they keep the neutral names ``a`` and ``b``.

    Args:
        mu_a: mean, shape (F,).
        cov_a: covariance, shape (F, F), symmetric PSD.
        mu_b: mean, shape (F,).
        cov_b: covariance, shape (F, F), symmetric PSD.

    Returns:
        The squared distance
        ``||mu_a - mu_b||^2 + Tr(cov_a + cov_b - 2 (cov_a^{1/2} cov_b cov_a^{1/2})^{1/2})``,
        a 0-d float64 Tensor >= 0 on the inputs' device.

    Example:
        >>> eye = torch.eye(2)
        >>> gaussian_frechet_distance(torch.zeros(2), eye, torch.ones(2), eye)
        tensor(2., dtype=torch.float64)
    """
    f = mu_a.shape[-1]
    for name, mu in (("mu_a", mu_a), ("mu_b", mu_b)):
        if mu.shape != (f,):
            raise ValueError(f"{name} must have shape ({f},), got {tuple(mu.shape)}.")
    for name, cov in (("cov_a", cov_a), ("cov_b", cov_b)):
        if cov.shape != (f, f):
            raise ValueError(f"{name} must have shape ({f}, {f}) to match the means, got {tuple(cov.shape)}.")
    mu_a, mu_b, cov_a, cov_b = (t.double() for t in (mu_a, mu_b, cov_a, cov_b))
    # Symmetrise: covariances computed in floating point are symmetric only up to round-off.
    cov_a = (cov_a + cov_a.T) / 2
    cov_b = (cov_b + cov_b.T) / 2
    root_a = _sqrtm_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    middle = (middle + middle.T) / 2
    trace_sqrt = torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum()
    distance = (mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * trace_sqrt
    # The true value is >= 0; round-off can make identical inputs come out at -1e-13.
    return distance.clamp_min(0)


@renamed_keywords(features_fake="fake", features_real="real")
def frechet_distance(fake: Tensor, real: Tensor) -> Tensor:
    """Frechet distance between Gaussians fitted to generated and real feature matrices.

    Means and unbiased covariances (divisor N - 1, as numpy.cov, pytorch-fid and
    torchmetrics) are computed in float64. The estimate is biased upwards for small N;
    compare numbers only when they were computed with the same sample sizes.

    The distance is symmetric, so the old argument order ``(features_real, features_fake)``
    gives the same value up to round-off; the old keyword names ``features_real=`` and
    ``features_fake=`` still work for one release, with a DeprecationWarning.

    Args:
        fake: generated features, shape (M, F), M >= 2.
        real: real features, shape (N, F), N >= 2.

    Returns:
        The distance, a 0-d float64 Tensor >= 0 (0 when both sets are identical).

    Example:
        >>> a = torch.randn(500, 4)
        >>> bool(frechet_distance(a, a) < 1e-9)
        True
    """
    fake = _check_features("fake", fake)
    real = _check_features("real", real).to(fake.device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"fake and real must have the same feature width, got {fake.shape[1]} and "
            f"{real.shape[1]}. Hint: compute both with the same feature extractor."
        )
    f = real.shape[1]
    # torch.cov returns a 0-d tensor for a single variable; reshape keeps (F, F) for F = 1.
    cov_real = torch.cov(real.T).reshape(f, f)
    cov_fake = torch.cov(fake.T).reshape(f, f)
    return gaussian_frechet_distance(real.mean(dim=0), cov_real, fake.mean(dim=0), cov_fake)
