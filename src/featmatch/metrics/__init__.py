"""Evaluation metrics: mode coverage for 2-D mixtures; Frechet distance, precision/recall
and class coverage in the feature space of a small classifier trained on the real data;
accuracy by observed fraction for early prediction.

Example:
    >>> import torch
    >>> from featmatch.metrics import frechet_distance, precision_recall
    >>> x = torch.randn(200, 8)
    >>> bool(frechet_distance(x, x) < 1e-9), [float(v) for v in precision_recall(fake=x, real=x)]
    (True, [1.0, 1.0])

Every metric function returns Tensors (0-d, or a dict or pair of 0-d Tensors) and takes the
generated samples first, named ``fake``, and the real reference second, named ``real``.
:func:`evaluate_samples` returns Python floats, ready for JSON.
"""

from __future__ import annotations

from featmatch.metrics.classifier import (
    ARCH_VERSION,
    FeatureClassifier,
    TrainSettings,
    class_metrics,
    classifier_cache_path,
    classify,
    default_cache_dir,
    get_classifier,
    real_frechet_distance,
    train_classifier,
)
from featmatch.metrics.early import EARLY_FRACTIONS, accuracy_by_fraction, fraction_metric_name
from featmatch.metrics.evaluate import MissingTestSplitError, evaluate_samples
from featmatch.metrics.frechet import frechet_distance, gaussian_frechet_distance
from featmatch.metrics.modes import mode_metrics, nearest_centre
from featmatch.metrics.prdc import PrecisionRecall, knn_radii, precision_recall

__all__ = [
    "ARCH_VERSION",
    "EARLY_FRACTIONS",
    "FeatureClassifier",
    "MissingTestSplitError",
    "PrecisionRecall",
    "TrainSettings",
    "accuracy_by_fraction",
    "class_metrics",
    "classifier_cache_path",
    "classify",
    "default_cache_dir",
    "evaluate_samples",
    "fraction_metric_name",
    "frechet_distance",
    "gaussian_frechet_distance",
    "get_classifier",
    "knn_radii",
    "mode_metrics",
    "nearest_centre",
    "precision_recall",
    "real_frechet_distance",
    "train_classifier",
]
