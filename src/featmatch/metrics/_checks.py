"""Input checks shared by the metrics that take feature matrices."""

from __future__ import annotations

import torch
from torch import Tensor


def check_feature_matrix(name: str, value: object, *, min_rows: int, needs: str, hint: str = "") -> Tensor:
    """Return ``value`` as float64 after checking it is a finite ``(N, F)`` Tensor with enough rows.

    ``needs`` words the row requirement for the error message, e.g. "at least 2 rows to ...".

    float64 so that covariances are accurate and a point's distance to an identical point is 0.

    Example:
        >>> check_feature_matrix("x", torch.zeros(3, 2), min_rows=2, needs="at least 2 rows").dtype
        torch.float64
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, F), got {type(value).__name__}.")
    if value.ndim != 2:
        raise ValueError(
            f"{name} must have shape (N, F), got {tuple(value.shape)}. Hint: flatten with x.reshape(len(x), -1)."
        )
    if value.shape[0] < min_rows:
        raise ValueError(f"{name} needs {needs}, got {value.shape[0]}.{hint}")
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return value.double()
