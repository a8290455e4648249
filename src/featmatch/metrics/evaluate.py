"""`evaluate_samples`: the right metric set for a data set's kind, in one call."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from featmatch.metrics.classifier import TrainSettings, class_metrics, classify, get_classifier
from featmatch.metrics.frechet import frechet_distance
from featmatch.metrics.modes import mode_metrics
from featmatch.metrics.prdc import precision_recall

if TYPE_CHECKING:  # featmatch.data is only needed by this convenience, and only at call time
    from featmatch.data import DataSet

__all__ = ["evaluate_samples"]

_POINT_KEYS = ("high_quality", "modes_covered", "reverse_kl")
_CLASS_KEYS = (
    "frechet_distance", "classes_covered", "class_kl", "precision", "recall", "classifier_accuracy"
)


def _load(name: str, split: str) -> DataSet:
    from featmatch.data import load_dataset

    return load_dataset(name, split)


def _default_test_split(data: DataSet) -> DataSet:
    """The test split of ``data``'s data set, or ``data`` itself when there is none to load.

    A user's file data set may need loader options (image size, key) that a DataSet does
    not remember; rather than fail at the end of a training run, the metrics then compare
    against the training data, which is still a valid (if optimistic) reference.
    """
    try:
        test = _load(data.name, "test")
    except (ValueError, FileNotFoundError, OSError):
        return data
    if test.kind != data.kind or test.sample_shape != data.sample_shape or test.y is None:
        return data
    return test


def evaluate_samples(
    data: str | DataSet,
    fake: Tensor,
    *,
    real_test: DataSet | None = None,
    seed: int = 0,
    cache_dir: Path | str | None = None,
    k: int = 3,
    confidence: float = 0.9,
    classifier_settings: TrainSettings | None = None,
) -> dict[str, float]:
    """Evaluate generated samples with the metrics that fit the data set's kind.

    - ``"points"`` with mixture centres (ring8, grid25): :func:`mode_metrics` ->
      ``high_quality``, ``modes_covered``, ``reverse_kl``.
    - ``"image"`` / ``"sequence"`` with labels: a classifier trained on the training
      split (cached, :func:`get_classifier`) gives features and class predictions ->
      ``frechet_distance`` and ``precision`` / ``recall`` (k-NN manifolds, against the
      real test split's features), ``classes_covered`` and ``class_kl``
      (:func:`class_metrics`, against the test labels), and ``classifier_accuracy`` (the
      classifier's accuracy on the real test split, to judge how far to trust the rest).
    - Anything else (no centres, no labels): an empty dict, since there is no reference
      feature space.

    Samples with NaN or infinite values (a diverged generator) give every key as NaN
    instead of an error, so a training run can log the failure and go on.

    Args:
        data: the training split (a ``featmatch.data.DataSet``) or a built-in data set name.
        fake: generated samples with the data's sample shape, (M, ...). M > ``k``.
        real_test: the real reference split; default ``load_dataset(data.name, "test")``
            (the training data itself when no test split can be loaded).
        seed: seed of the classifier's training.
        cache_dir: where classifier weights are cached; default ``$FEATMATCH_CACHE`` or
            ``~/.cache/featmatch``.
        k: neighbour index for precision and recall.
        confidence: softmax threshold for a class to count as covered.
        classifier_settings: how to train the classifier; default ``TrainSettings()``.

    Returns:
        Metric name -> value, all floats.

    Example:
        >>> from featmatch.data import load_dataset
        >>> ring = load_dataset("ring8", size=100)
        >>> sorted(evaluate_samples(ring, ring.x))
        ['high_quality', 'modes_covered', 'reverse_kl']
    """
    if isinstance(data, str):
        data = _load(data, "train")
    if not isinstance(fake, Tensor):
        raise TypeError(f"fake must be a torch.Tensor of generated samples, got {type(fake).__name__}.")
    if tuple(fake.shape[1:]) != data.sample_shape or fake.shape[0] == 0:
        raise ValueError(
            f"fake must have shape (M, {', '.join(map(str, data.sample_shape))}) like the data set "
            f"{data.name!r}, got {tuple(fake.shape)}. Hint: generate with the model trained on this data."
        )
    fake = fake.detach().float()
    if data.kind == "points":
        if data.centres is None or data.std is None:
            return {}
        if not torch.isfinite(fake).all():
            return dict.fromkeys(_POINT_KEYS, math.nan)
        return {key: float(value) for key, value in mode_metrics(fake, data.centres, data.std).items()}
    if data.y is None:
        return {}
    if not torch.isfinite(fake).all():
        return dict.fromkeys(_CLASS_KEYS, math.nan)
    test = _default_test_split(data) if real_test is None else real_test
    if test.y is None or test.sample_shape != data.sample_shape:
        raise ValueError(
            f"real_test must be a labelled split with samples of shape {data.sample_shape}, got "
            f"shape {test.sample_shape} and labels {'absent' if test.y is None else 'present'}."
        )
    num_classes = max(int(data.y.max()), int(test.y.max())) + 1
    model = get_classifier(
        data.name,
        data.x,
        data.y,
        num_classes=num_classes,
        cache_dir=cache_dir,
        seed=seed,
        settings=classifier_settings,
    )
    real_features, real_logits = classify(model, test.x)  # (N, F), (N, K)
    fake_features, fake_logits = classify(model, fake)  # (M, F), (M, K)
    precision, recall = precision_recall(real_features, fake_features, k=k)
    classes = class_metrics(fake_logits, test.y, num_classes, confidence=confidence)
    accuracy = (real_logits.argmax(dim=1).cpu() == test.y.cpu()).double().mean().item()
    return {
        "frechet_distance": frechet_distance(real_features, fake_features),
        "classes_covered": float(classes["classes_covered"]),
        "class_kl": float(classes["class_kl"]),
        "precision": precision,
        "recall": recall,
        "classifier_accuracy": float(accuracy),
    }
