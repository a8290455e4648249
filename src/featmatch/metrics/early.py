"""Early prediction: test accuracy as a function of the observed fraction, and early decisions.

The metric names are a contract (``featmatch train --task early`` writes them to
``summary.json["metrics"]``): ``accuracy@0.1`` ... ``accuracy@1.0`` and ``accuracy_auc``,
their mean; and, for the stopping rule (:func:`decision_metrics`), ``earliness`` (the mean
observed fraction at the stop), ``accuracy_at_stop`` and ``harmonic_mean`` (of the accuracy and
1 - earliness, the figure early time-series classification reports, as TEASER and ECEC do).

The stopping rule: observe a sequence at fractions ``r_1 < r_2 < ... < r_R`` (e.g.
:func:`stop_fractions`), and stop at the first ``r_j`` where the model's largest class
probability reaches a threshold (at ``r_R`` at the latest), predicting that class.
:func:`choose_threshold` picks the threshold that maximises the harmonic mean on held-out data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from featmatch.models.early import OBSERVE_MODES, observe, observed_steps

__all__ = [
    "EARLY_FRACTIONS",
    "accuracy_by_fraction",
    "choose_threshold",
    "decision_metrics",
    "fraction_metric_name",
    "harmonic_mean",
    "stop_fractions",
    "stopping_point",
]

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


def stop_fractions(points: int) -> tuple[float, ...]:
    """``points`` evenly spaced observed fractions ``1/points, 2/points, ..., 1``: where a stopping rule may stop.

    Example:
        >>> stop_fractions(4)
        (0.25, 0.5, 0.75, 1.0)
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"points must be an int >= 1, got {points!r}. Hint: 20 gives 0.05, 0.1, ..., 1.")
    return tuple(round(k / points, 10) for k in range(1, points + 1))


def _check_probabilities(probabilities: Tensor, fractions: Sequence[float] | None = None) -> None:
    if not isinstance(probabilities, Tensor) or probabilities.ndim != 3 or probabilities.shape[1] == 0:
        shape = tuple(probabilities.shape) if isinstance(probabilities, Tensor) else type(probabilities).__name__
        raise ValueError(
            f"probabilities must be a Tensor of shape (N, R, K): N sequences, R observed fractions, K classes; "
            f"got {shape}. Hint: EarlyTask.predict_proba gives them."
        )
    if probabilities.shape[0] == 0:
        raise ValueError("probabilities must hold at least one sequence, got N = 0.")
    if fractions is not None:
        values = [float(f) for f in fractions]
        if len(values) != probabilities.shape[1]:
            raise ValueError(
                f"fractions must give one fraction per column R of probabilities: got {len(values)} fractions for "
                f"R = {probabilities.shape[1]}."
            )
        if any(not 0 < f <= 1 for f in values) or any(b <= a for a, b in pairwise(values)):
            raise ValueError(f"fractions must increase strictly within (0, 1]; got {values}.")


def stopping_point(probabilities: Tensor, threshold: float) -> tuple[Tensor, Tensor]:
    """Where the rule stops each sequence and what it predicts there.

    The stop is the first column ``j`` whose largest class probability is ``>= threshold``, or the
    last column when none is; the prediction is that column's most probable class.

    Args:
        probabilities: ``(N, R, K)``: the class probabilities of N sequences at R increasing
            observed fractions.
        threshold: the confidence that stops observation (above 1: never before the last column).

    Returns:
        ``(index, predicted)``: two int64 Tensors of shape ``(N,)``.

    Example:
        >>> p = torch.tensor([[[0.6, 0.4], [0.9, 0.1]], [[0.2, 0.8], [0.3, 0.7]]])  # (N=2, R=2, K=2)
        >>> stopping_point(p, 0.75)
        (tensor([1, 0]), tensor([0, 1]))
    """
    _check_probabilities(probabilities)
    confidence, classes = probabilities.max(dim=2)  # (N, R) each
    reached = confidence >= threshold
    reached[:, -1] = True  # the last column stops every sequence that has not stopped yet
    index = reached.to(torch.int8).argmax(dim=1)  # the first True
    return index, classes.gather(1, index.unsqueeze(1)).squeeze(1)


def harmonic_mean(accuracy: float | Tensor, earliness: float | Tensor) -> Tensor:
    """The harmonic mean of the accuracy and ``1 - earliness`` (0 where both are 0), float64.

    Example:
        >>> round(float(harmonic_mean(0.9, 0.3)), 4)
        0.7875
    """
    a = torch.as_tensor(accuracy, dtype=torch.float64)
    late = 1.0 - torch.as_tensor(earliness, dtype=torch.float64)
    total = a + late
    return torch.where(total > 0, 2 * a * late / total.clamp(min=1e-300), torch.zeros_like(total))


def decision_metrics(
    probabilities: Tensor, y: Tensor, fractions: Sequence[float], threshold: float
) -> dict[str, Tensor]:
    """``accuracy_at_stop``, ``earliness`` and ``harmonic_mean`` of the stopping rule at ``threshold``.

    Args:
        probabilities: ``(N, R, K)`` class probabilities at the ``R`` observed ``fractions``.
        y: the labels ``(N,)``, int64.
        fractions: the R observed fractions, increasing in (0, 1].
        threshold: the stopping confidence (see :func:`stopping_point`).

    Returns:
        0-d float64 Tensors on the CPU: ``earliness`` (the mean observed fraction at the stop),
        ``accuracy_at_stop`` (the share of sequences whose prediction at the stop is right) and
        ``harmonic_mean`` (of ``accuracy_at_stop`` and ``1 - earliness``).

    Example:
        >>> p = torch.tensor([[[0.6, 0.4], [0.9, 0.1]], [[0.2, 0.8], [0.3, 0.7]]])
        >>> {k: round(float(v), 3) for k, v in decision_metrics(p, torch.tensor([0, 0]), (0.5, 1.0), 0.75).items()}
        {'earliness': 0.75, 'accuracy_at_stop': 0.5, 'harmonic_mean': 0.333}
    """
    _check_probabilities(probabilities, fractions)
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (probabilities.shape[0],):
        raise ValueError(
            f"y must be an int64 Tensor of shape ({probabilities.shape[0]},) matching probabilities, got "
            f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))} {getattr(y, 'dtype', '')}. Hint: pass y.long()."
        )
    index, predicted = stopping_point(probabilities, threshold)
    observed = torch.tensor([float(f) for f in fractions], dtype=torch.float64)[index.cpu()]
    accuracy = (predicted.cpu() == y.cpu()).to(torch.float64).mean()
    earliness = observed.mean()
    return {"earliness": earliness, "accuracy_at_stop": accuracy, "harmonic_mean": harmonic_mean(accuracy, earliness)}


def choose_threshold(probabilities: Tensor, y: Tensor, fractions: Sequence[float]) -> float:
    """The stopping threshold that maximises the harmonic mean on ``(probabilities, y)`` (held-out data).

    Every distinct confidence (largest class probability) in ``probabilities`` is a candidate, so
    the search is exact: no other threshold gives a different set of stops. Among the thresholds
    with the highest harmonic mean the highest is chosen (the most cautious).

    Args:
        probabilities: ``(N, R, K)`` class probabilities of held-out sequences at ``fractions``.
        y: their labels ``(N,)``, int64.
        fractions: the R observed fractions, increasing in (0, 1].

    Returns:
        The threshold, a float in [0, 1].

    Example:
        >>> p = torch.tensor([[[0.6, 0.4], [0.9, 0.1]], [[0.2, 0.8], [0.3, 0.7]]])
        >>> choose_threshold(p, torch.tensor([0, 1]), (0.5, 1.0))  # stopping both at 0.5 is right for both
        0.6000000238418579
    """
    _check_probabilities(probabilities, fractions)
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (probabilities.shape[0],):
        raise ValueError(
            f"y must be an int64 Tensor of shape ({probabilities.shape[0]},) matching probabilities, got "
            f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))} {getattr(y, 'dtype', '')}. Hint: pass y.long()."
        )
    confidence, classes = probabilities.detach().cpu().to(torch.float64).max(dim=2)  # (N, R)
    right = (classes == y.cpu().unsqueeze(1)).to(torch.float64)  # (N, R)
    observed = torch.tensor([float(f) for f in fractions], dtype=torch.float64)  # (R,)
    # The rule stops at the first j whose running maximum of the confidence reaches the threshold.
    running = confidence.cummax(dim=1).values  # (N, R), non-decreasing in j
    running[:, -1] = float("inf")  # the last column always stops
    candidates = confidence.flatten().unique()  # sorted ascending
    scores = []
    for chunk in candidates.split(1024):
        index = (running.unsqueeze(0) < chunk.view(-1, 1, 1)).sum(dim=2)  # (C, N): the stop column
        accuracy = right.gather(1, index.transpose(0, 1)).mean(dim=0)  # (C,)
        earliness = observed[index].mean(dim=1)  # (C,)
        scores.append(harmonic_mean(accuracy, earliness))
    score = torch.cat(scores)  # (candidates,)
    return float(candidates[torch.nonzero(score >= score.max() - 1e-12).max()])
