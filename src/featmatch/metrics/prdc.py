"""Precision and recall on k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019).

Each set's manifold is the union of balls around its points, each ball's radius being
the distance from that point to its k-th nearest neighbour in the same set (itself
excluded). Precision is the fraction of generated samples inside the real manifold
(quality); recall is the fraction of real samples inside the generated manifold
(coverage, the quantity mode collapse destroys).
"""

from __future__ import annotations

import torch
from torch import Tensor

from featmatch.metrics._checks import check_feature_matrix

__all__ = ["knn_radii", "precision_recall"]

# Rows per torch.cdist call: CHUNK x N distances are alive at once.
_CHUNK = 1024
# Direct differences, not the |a|^2 + |b|^2 - 2ab expansion, so identical rows are exactly 0 apart
# and a point on a ball's boundary is not lost to cancellation.
_EXACT = "donot_use_mm_for_euclid_dist"


def _check_features(name: str, value: object, k: int) -> Tensor:
    return check_feature_matrix(
        name,
        value,
        min_rows=k + 1,
        needs=f"more than k={k} rows to define k-nearest-neighbour radii",
        hint=" Hint: use more samples or a smaller k.",
    )


def knn_radii(features: Tensor, k: int = 3) -> Tensor:
    """Distance from every row to its k-th nearest other row.

    Args:
        features: shape (N, F), N > k.
        k: which neighbour, >= 1.

    Returns:
        Radii, shape (N,), float64.

    Example:
        >>> knn_radii(torch.tensor([[0.0], [1.0], [3.0]]), k=1).tolist()
        [1.0, 1.0, 2.0]
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}.")
    feats = _check_features("features", features, k)
    radii = []
    for start in range(0, feats.shape[0], _CHUNK):
        d = torch.cdist(feats[start : start + _CHUNK], feats, compute_mode=_EXACT)  # (chunk, N)
        rows = torch.arange(d.shape[0], device=d.device)
        d[rows, rows + start] = float("inf")  # exclude each point itself, not its duplicates
        radii.append(d.kthvalue(k, dim=1).values)
    return torch.cat(radii)


def _inside_fraction(queries: Tensor, centres: Tensor, radii: Tensor) -> float:
    """Fraction of query rows inside at least one ball (centres[j], radii[j])."""
    inside = []
    for start in range(0, queries.shape[0], _CHUNK):
        d = torch.cdist(queries[start : start + _CHUNK], centres, compute_mode=_EXACT)  # (chunk, M)
        inside.append((d <= radii.unsqueeze(0)).any(dim=1))
    return torch.cat(inside).double().mean().item()


def precision_recall(real_features: Tensor, fake_features: Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of Kynkaanniemi et al. 2019.

    Args:
        real_features: real features, shape (N, F), N > k.
        fake_features: generated features, shape (M, F), M > k.
        k: neighbour defining each ball's radius (the paper uses 3).

    Returns:
        ``(precision, recall)``, each in [0, 1]. Identical sets give ``(1.0, 1.0)``.

    Example:
        >>> x = torch.randn(100, 8)
        >>> precision_recall(x, x)
        (1.0, 1.0)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}.")
    real = _check_features("real_features", real_features, k)
    fake = _check_features("fake_features", fake_features, k).to(real.device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real_features and fake_features must have the same feature width, got {real.shape[1]} and "
            f"{fake.shape[1]}. Hint: compute both with the same feature extractor."
        )
    precision = _inside_fraction(fake, real, knn_radii(real, k))
    recall = _inside_fraction(real, fake, knn_radii(fake, k))
    return float(precision), float(recall)
