"""Precision and recall on k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019).

Each set's manifold is the union of balls around its points, each ball's radius being
the distance from that point to its k-th nearest neighbour in the same set (itself
excluded). Precision is the fraction of generated samples inside the real manifold
(quality); recall is the fraction of real samples inside the generated manifold
(coverage, the quantity mode collapse destroys).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from featmatch._checks import check_int, fake_real_arguments
from featmatch.metrics._checks import check_feature_matrix

__all__ = ["PrecisionRecall", "knn_radii", "precision_recall"]

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
    check_int("k", k, minimum=1)
    feats = _check_features("features", features, k)
    radii = []
    for start in range(0, feats.shape[0], _CHUNK):
        d = torch.cdist(feats[start : start + _CHUNK], feats, compute_mode=_EXACT)  # (chunk, N)
        rows = torch.arange(d.shape[0], device=d.device)
        d[rows, rows + start] = float("inf")  # exclude each point itself, not its duplicates
        radii.append(d.kthvalue(k, dim=1).values)
    return torch.cat(radii)


def _inside_fraction(queries: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """Fraction of query rows inside at least one ball (centres[j], radii[j])."""
    inside = []
    for start in range(0, queries.shape[0], _CHUNK):
        d = torch.cdist(queries[start : start + _CHUNK], centres, compute_mode=_EXACT)  # (chunk, M)
        inside.append((d <= radii.unsqueeze(0)).any(dim=1))
    return torch.cat(inside).double().mean()


class PrecisionRecall(NamedTuple):
    """What :func:`precision_recall` returns: two 0-d float64 Tensors in [0, 1]; unpacks as a pair."""

    precision: Tensor
    recall: Tensor


def precision_recall(
    *args: Any, fake: Tensor | None = None, real: Tensor | None = None, k: int | None = None, **old_names: Any
) -> PrecisionRecall:
    """Improved precision and recall of Kynkaanniemi et al. 2019.

    Pass the features by keyword, generated first: ``precision_recall(fake=..., real=...)``.
    Deprecated until the next release: the old positional form ``precision_recall(real_features,
    fake_features, k)`` keeps its old meaning (real first) and emits a DeprecationWarning, as do
    the old keyword names; in the next release the positional order becomes ``(fake, real)``.
    Positional features mixed with ``fake=`` or ``real=`` are a TypeError.

    Args:
        fake: generated features, shape (M, F), M > k.
        real: real features, shape (N, F), N > k.
        k: neighbour defining each ball's radius, >= 1; default 3 (as the paper).

    Returns:
        ``PrecisionRecall(precision, recall)``, each a 0-d float64 Tensor in [0, 1]: precision is
        the fraction of ``fake`` inside the real manifold, recall the fraction of ``real`` inside
        the generated one. Identical sets give ``(1.0, 1.0)``.

    Example:
        >>> x = torch.randn(100, 8)
        >>> precision, recall = precision_recall(fake=x, real=x)
        >>> float(precision), float(recall)
        (1.0, 1.0)
    """
    if len(args) == 3:  # the deprecated precision_recall(real_features, fake_features, k)
        if k is not None:
            raise TypeError("precision_recall() got multiple values for 'k'.")
        k, args = args[2], args[:2]
    resolved = fake_real_arguments(
        "precision_recall",
        args,
        fake,
        real,
        old_names,
        old_order=("real_features", "fake_features"),
        renames={"real_features": "real", "fake_features": "fake"},
        example="precision_recall(fake=fake_features, real=real_features)",
    )
    k = 3 if k is None else check_int("k", k, minimum=1)
    fake_f = _check_features("fake", resolved["fake"], k)
    real_f = _check_features("real", resolved["real"], k).to(fake_f.device)
    if real_f.shape[1] != fake_f.shape[1]:
        raise ValueError(
            f"fake and real must have the same feature width, got {fake_f.shape[1]} and "
            f"{real_f.shape[1]}. Hint: compute both with the same feature extractor."
        )
    precision = _inside_fraction(fake_f, real_f, knn_radii(real_f, k))
    recall = _inside_fraction(real_f, fake_f, knn_radii(fake_f, k))
    return PrecisionRecall(precision, recall)
