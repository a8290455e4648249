"""Mode metrics for 2-D Gaussian mixtures (ring8, grid25).

The protocol of Srivastava et al. 2017 (VEEGAN) and Elfeki et al. 2019 (GDPP): every
generated point is assigned to its nearest mixture centre; a point is *high quality* when
it lies within three standard deviations of that centre; a mode is *covered* when at
least one high-quality point is assigned to it; the *reverse KL* compares the histogram
of assigned centres with the uniform distribution the mixture was drawn from.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from featmatch._checks import renamed_keywords

__all__ = ["mode_metrics", "nearest_centre"]

# How many samples go through torch.cdist at once; bounds memory at CHUNK x K distances.
_CHUNK = 65536


def _check_points(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, 2), got {type(value).__name__}.")
    if value.ndim != 2 or value.shape[1] != 2 or value.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (N, 2) with N >= 1, got {tuple(value.shape)}. "
            "Hint: pass 2-D points as one row per point, e.g. x.reshape(-1, 2)."
        )
    if not value.is_floating_point():
        value = value.float()
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values; the generator has probably diverged.")
    return value


def nearest_centre(samples: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """Index of and Euclidean distance to the nearest centre for every sample.

    Args:
        samples: points, shape (N, 2).
        centres: mixture centres, shape (K, 2).

    Returns:
        ``(index, distance)``, both shape (N,): int64 indices into ``centres`` and distances.

    Example:
        >>> idx, dist = nearest_centre(torch.tensor([[0.9, 0.0]]), torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
        >>> idx.tolist()
        [0]
    """
    samples = _check_points("samples", samples)
    centres = _check_points("centres", centres).to(device=samples.device, dtype=samples.dtype)
    indices, distances = [], []
    for start in range(0, samples.shape[0], _CHUNK):
        d = torch.cdist(samples[start : start + _CHUNK], centres)  # (chunk, K)
        dist, idx = d.min(dim=1)
        indices.append(idx)
        distances.append(dist)
    return torch.cat(indices), torch.cat(distances)


@renamed_keywords(samples="fake")
def mode_metrics(fake: Tensor, centres: Tensor, std: float) -> dict[str, Tensor]:
    """High-quality fraction, covered modes and reverse KL of generated 2-D samples.

    Definitions (VEEGAN / GDPP protocol):

    - ``high_quality``: fraction of samples whose Euclidean distance to the nearest centre
      is at most ``3 * std``. For a perfect sampler of an isotropic 2-D Gaussian mixture
      this is ``1 - exp(-9/2) ~= 0.9889``, not 1.
    - ``modes_covered``: number of centres that are the nearest centre of at least one
      high-quality sample.
    - ``reverse_kl``: ``KL(p_gen || uniform)`` in nats, where ``p_gen`` is the histogram of
      the nearest centre over *all* samples (``0 * log 0 = 0``). It is 0 for perfectly
      balanced samples and ``log K`` when every sample falls on one mode.

    The generated samples come first and are named ``fake``, as in every featmatch metric;
    the old keyword name ``samples=`` still works for one release, with a DeprecationWarning.

    Args:
        fake: generated points, shape (N, 2).
        centres: mixture centres, shape (K, 2).
        std: standard deviation of each (isotropic) mixture component, > 0.

    Returns:
        ``{"high_quality": Tensor, "modes_covered": Tensor, "reverse_kl": Tensor}``, each 0-d:
        float64, int64 and float64.

    Example:
        >>> centres = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
        >>> m = mode_metrics(torch.tensor([[1.0, 0.01], [1.0, -0.01]]), centres, std=0.02)
        >>> int(m["modes_covered"]), round(float(m["reverse_kl"]), 4)
        (1, 0.6931)
    """
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std) or std <= 0:
        raise ValueError(
            f"std must be a finite number > 0 (the per-component standard deviation), got {std!r}. "
            "Hint: use the data set's .std attribute."
        )
    num_centres = _check_points("centres", centres).shape[0]
    idx, dist = nearest_centre(fake, centres)
    good = dist <= 3.0 * std
    p_gen = torch.bincount(idx, minlength=num_centres).double() / idx.numel()  # (K,)
    nonzero = p_gen > 0  # 0 * log 0 = 0
    reverse_kl = (p_gen[nonzero] * torch.log(p_gen[nonzero] * num_centres)).sum()
    return {
        "high_quality": good.double().mean(),
        "modes_covered": torch.tensor(torch.unique(idx[good]).numel(), device=idx.device),
        "reverse_kl": reverse_kl.clamp_min(0.0),
    }
