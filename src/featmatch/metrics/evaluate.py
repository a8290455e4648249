"""`evaluate_samples`: the right metric set for a data set's kind, in one call."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from featmatch.data import DataSet, load_dataset
from featmatch.metrics.classifier import (
    TrainSettings,
    class_metrics,
    classifier_cache_path,
    classify,
    get_classifier,
    real_frechet_distance,
)
from featmatch.metrics.frechet import frechet_distance
from featmatch.metrics.modes import mode_metrics
from featmatch.metrics.prdc import precision_recall

__all__ = ["MissingTestSplitError", "evaluate_samples"]

_POINT_KEYS = ("high_quality", "modes_covered", "reverse_kl")
_CLASS_KEYS = (
    "frechet_distance",
    "frechet_distance_real",
    "classes_covered",
    "class_kl",
    "precision",
    "recall",
    "metric_classifier_accuracy",
    "classifier_accuracy",
)


def _load(name: str, split: str) -> DataSet:
    return load_dataset(name, split)


class MissingTestSplitError(ValueError):
    """The real test split for :func:`evaluate_samples` cannot be loaded or does not fit the data."""


def _test_split_hint(name: str) -> str:
    return (
        f" Hint: pass real_test=load_dataset({name!r}, 'test', **options) with the options the training "
        "split was loaded with, or real_test='train' to score against the training data (optimistic "
        "numbers: a generator that copies its training data scores perfectly)."
    )


def _default_test_split(data: DataSet) -> DataSet:
    """The test split of ``data``'s data set; an error when it cannot be loaded or does not fit.

    Never the training data in its place: that would silently report optimistic numbers
    (``real_test="train"`` asks for it explicitly).
    """
    try:
        test = _load(data.name, "test")
    except (ValueError, TypeError, FileNotFoundError, OSError) as err:
        raise MissingTestSplitError(
            f"evaluate_samples could not load the test split of {data.name!r} "
            f"({type(err).__name__}: {err}).{_test_split_hint(data.name)}"
        ) from err
    if test.kind != data.kind or test.sample_shape != data.sample_shape or test.y is None:
        raise MissingTestSplitError(
            f"the test split of {data.name!r} does not fit its training split: kind {test.kind!r} vs "
            f"{data.kind!r}, sample shape {test.sample_shape} vs {data.sample_shape}, labels "
            f"{'absent' if test.y is None else 'present'}.{_test_split_hint(data.name)}"
        )
    return test


def evaluate_samples(
    data: str | DataSet,
    fake: Tensor,
    *,
    real_test: DataSet | Literal["train"] | None = None,
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
      real test split's features), ``frechet_distance_real`` (the same distance for as many
      real training samples: the floor, :func:`real_frechet_distance`, cached beside the
      classifier), ``classes_covered`` and ``class_kl`` (:func:`class_metrics`, against the
      test labels), and ``metric_classifier_accuracy`` (the metric classifier's accuracy on
      the real test split, to judge how far to trust the rest; also under its old name
      ``classifier_accuracy``, deprecated, for one release).
    - Anything else (no centres, no labels): an empty dict, since there is no reference
      feature space.

    Samples with NaN or infinite values (a diverged generator) give every key as NaN
    instead of an error, so a training run can log the failure and go on.

    The values are Python floats (ready for JSON), unlike the metric functions it calls, which
    return Tensors.

    Args:
        data: the training split (a ``featmatch.data.DataSet``) or a built-in data set name.
        fake: generated samples with the data's sample shape, (M, ...). M > ``k``.
        real_test: the real reference split; default ``load_dataset(data.name, "test")``.
            When that cannot be loaded (a file data set that needs loader options, say) or does
            not fit the training split, a :class:`MissingTestSplitError` (a ``ValueError``) says
            so; it never falls back to the training data on its own. ``"train"`` scores against
            the training data on purpose, with a ``UserWarning`` (optimistic numbers).
        seed: seed of the classifier's training.
        cache_dir: where classifier weights are cached; default ``$FEATMATCH_CACHE`` or
            ``~/.cache/featmatch``.
        k: neighbour index for precision and recall.
        confidence: softmax threshold for a class to count as covered.
        classifier_settings: how to train the classifier; default ``TrainSettings()``.

    Returns:
        Metric name -> value, all Python floats.

    Raises:
        MissingTestSplitError: no usable test split (see ``real_test``).

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
    if real_test is None:
        test = _default_test_split(data)
    elif isinstance(real_test, str):
        if real_test != "train":
            raise ValueError(f"real_test must be a DataSet, 'train' or None, got {real_test!r}.")
        warnings.warn(
            f"evaluate_samples(real_test='train'): scoring {data.name!r} against its own training data, "
            "not a held-out test split; the numbers are optimistic (a generator that copies its training "
            "data scores perfectly). Report them as such.",
            UserWarning,
            stacklevel=2,
        )
        test = data
    else:
        test = real_test
    if test.y is None or test.sample_shape != data.sample_shape:
        raise ValueError(
            f"real_test must be a labelled split with samples of shape {data.sample_shape}, got "
            f"shape {test.sample_shape} and labels {'absent' if test.y is None else 'present'}."
        )
    num_classes = max(int(data.y.max()), int(test.y.max())) + 1
    where = classifier_cache_path(
        data.name, data.x, data.y, num_classes=num_classes, cache_dir=cache_dir, seed=seed, settings=classifier_settings
    )
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
    precision, recall = precision_recall(fake=fake_features, real=real_features, k=k)
    classes = class_metrics(fake_logits, test.y, num_classes, confidence=confidence)
    accuracy = float((real_logits.argmax(dim=1).cpu() == test.y.cpu()).double().mean())
    floor = real_frechet_distance(model, data.x, real_features, n=int(fake.shape[0]), seed=seed, cache_path=where)
    return {
        "frechet_distance": float(frechet_distance(fake_features, real_features)),
        "frechet_distance_real": floor,
        "classes_covered": float(classes["classes_covered"]),
        "class_kl": float(classes["class_kl"]),
        "precision": float(precision),
        "recall": float(recall),
        "metric_classifier_accuracy": accuracy,
        "classifier_accuracy": accuracy,  # deprecated name of metric_classifier_accuracy (one release)
    }
