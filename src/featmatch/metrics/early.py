"""Early prediction: test accuracy as a function of the observed fraction of each sequence.

The metric names are a contract (``featmatch train --task early`` writes them to
``summary.json["metrics"]``): ``accuracy@0.1`` ... ``accuracy@1.0`` and ``accuracy_auc``,
their mean.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from featmatch.models.early import OBSERVE_MODES, observe, observed_steps

__all__ = ["EARLY_FRACTIONS", "accuracy_by_fraction", "fraction_metric_name"]

#: The observed fractions reported for early prediction: 0.1, 0.2, ..., 1.0.
EARLY_FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def fraction_metric_name(fraction: float) -> str:
    """The metric name for one observed fraction: ``accuracy@<fraction>``, at most 4 decimals.

    Example:
        >>> fraction_metric_name(0.1), fraction_metric_name(1), fraction_metric_name(0.25)
        ('accuracy@0.1', 'accuracy@1.0', 'accuracy@0.25')
    """
    return f"accuracy@{round(float(fraction), 4)}"


def _logits_of(output: Any) -> Tensor:
    # A SequenceEncoder returns EncoderOutput(features, logits); a plain classifier, the logits.
    logits = getattr(output, "logits", output)
    if not isinstance(logits, Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(
            f"model must return logits of shape (N, K), or an object with such .logits "
            f"(e.g. a SequenceEncoder's EncoderOutput), got {shape}."
        )
    return logits


@torch.no_grad()
def accuracy_by_fraction(
    model: nn.Module | Callable[[Tensor], Any],
    x: Tensor,
    y: Tensor,
    fractions: Sequence[float] = EARLY_FRACTIONS,
    *,
    mode: str = "mask",
    batch_size: int = 1024,
) -> dict[str, Tensor]:
    """Accuracy of ``model`` on ``x`` observed up to each fraction, and the mean over fractions.

    For each fraction r, the model classifies ``observe(x, r, mode=mode)`` (the first
    ``round(r * T)`` steps; see :func:`featmatch.models.observe`) and the accuracy is the share of
    samples whose argmax logit equals ``y``. ``accuracy_auc`` is the mean of those accuracies:
    with the default ten evenly spaced fractions, the area under the accuracy-vs-fraction curve
    (right Riemann sum over (0, 1]). A module is evaluated in eval mode and left in the mode it
    was in; nothing is computed with gradients. Computed on ``x``'s device.

    Args:
        model: the student (``mode="mask"``), the teacher given prefixes (``mode="zero"``), or
            any callable returning ``(N, K)`` logits or an object with ``.logits`` such as
            :class:`~featmatch.models.EncoderOutput`.
        x: test sequences ``(N, C, T)``.
        y: their labels ``(N,)``, int64.
        fractions: observed fractions, each in (0, 1], no two with the same name.
        mode: how the model sees a prefix, one of :data:`featmatch.models.OBSERVE_MODES`.
        batch_size: samples per forward pass.

    Returns:
        ``{"accuracy@<r>": Tensor for each r, ..., "accuracy_auc": Tensor}``, 0-d float64 on the
        CPU, in the order of ``fractions`` (names from :func:`fraction_metric_name`).

    Raises:
        ValueError: bad shapes, an empty or duplicated ``fractions``, a fraction outside (0, 1],
            an unknown mode, or a model that does not return ``(N, K)`` logits.

    Example:
        >>> from featmatch.models import SequenceEncoder
        >>> student = SequenceEncoder(2, num_classes=3)
        >>> m = accuracy_by_fraction(student, torch.randn(6, 1, 16), torch.tensor([0, 1, 2] * 2))
        >>> list(m)[:2], list(m)[-1], m["accuracy_auc"].dtype
        (['accuracy@0.1', 'accuracy@0.2'], 'accuracy_auc', torch.float64)
    """
    if not isinstance(x, Tensor) or x.ndim != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"x must be sequences of shape (N, C, T), got {shape}.")
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (x.shape[0],):
        raise ValueError(
            f"y must be an int64 Tensor of shape ({x.shape[0]},) matching x, got "
            f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))} {getattr(y, 'dtype', '')}. Hint: pass y.long()."
        )
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one sequence, got N = 0.")
    if mode not in OBSERVE_MODES:
        raise ValueError(f"mode must be one of {OBSERVE_MODES}, got {mode!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    fractions = [float(f) for f in fractions]
    names = [fraction_metric_name(f) for f in fractions]
    if not names:
        raise ValueError("fractions must hold at least one fraction in (0, 1], got none.")
    if len(set(names)) != len(names):
        raise ValueError(f"fractions must have distinct names (4 decimals), got {names}.")
    for fraction in fractions:  # fail before any model call, not at the fifth fraction
        observed_steps(fraction, x.shape[-1])

    was_training = model.training if isinstance(model, nn.Module) else None
    if isinstance(model, nn.Module):
        model.eval()
    try:
        results: dict[str, Tensor] = {}
        for fraction, name in zip(fractions, names, strict=True):
            correct = 0
            for start in range(0, x.shape[0], batch_size):
                seen = observe(x[start : start + batch_size], fraction, mode=mode)
                logits = _logits_of(model(seen))
                correct += int((logits.argmax(dim=1) == y[start : start + batch_size].to(logits.device)).sum())
            results[name] = torch.tensor(correct / x.shape[0], dtype=torch.float64)
    finally:
        if was_training and isinstance(model, nn.Module):
            model.train()
    results["accuracy_auc"] = torch.stack(list(results.values())).mean()
    return results
