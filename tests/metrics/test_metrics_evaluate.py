"""evaluate_samples: the right metric set per data kind, on tiny data."""

from __future__ import annotations

import math

import pytest
import torch

from featmatch.data import DataSet, load_dataset
from featmatch.metrics import MissingTestSplitError, TrainSettings, evaluate_samples, frechet_distance

TINY = TrainSettings(steps=60, batch_size=16, lr=1e-2, width=8, feature_dim=8)
CLASS_KEYS = {
    "frechet_distance",
    "frechet_distance_real",
    "classes_covered",
    "class_kl",
    "precision",
    "recall",
    "metric_classifier_accuracy",
    "classifier_accuracy",
}


def labelled(kind: str, name: str = "tiny", n: int = 40, seed: int = 0) -> DataSet:
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    shape = (n, 1, 8, 8) if kind == "image" else (n, 1, 20)
    sign = (2 * y - 1).float().view(-1, *([1] * (len(shape) - 1)))
    x = 0.8 * sign + 0.3 * torch.randn(shape, generator=gen)
    return DataSet(name, kind, x, y)


def test_points_perfect_and_collapsed_ring8():
    train = load_dataset("ring8", size=2500, seed=0)
    perfect = load_dataset("ring8", "test", size=2500, seed=0)
    m = evaluate_samples(train, perfect.x)
    assert set(m) == {"high_quality", "modes_covered", "reverse_kl"}
    assert all(isinstance(v, float) for v in m.values())
    assert m["modes_covered"] == 8.0
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.01)
    collapsed = evaluate_samples("ring8", train.centres[:1].repeat(100, 1))
    assert collapsed["modes_covered"] == 1.0
    assert collapsed["reverse_kl"] == pytest.approx(math.log(8))


@pytest.mark.parametrize("kind", ["image", "sequence"])
def test_labelled_data_with_explicit_test_split(tmp_path, kind):
    train, test = labelled(kind, seed=0), labelled(kind, seed=1)
    m = evaluate_samples(train, test.x, real_test=test, cache_dir=tmp_path, classifier_settings=TINY)
    assert set(m) == CLASS_KEYS
    # The real test split against itself: no distance, full precision and recall.
    assert m["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    assert (m["precision"], m["recall"]) == (1.0, 1.0)
    assert m["metric_classifier_accuracy"] == m["classifier_accuracy"] == 1.0  # the old name, one release
    assert m["classes_covered"] == 2.0
    assert m["class_kl"] == pytest.approx(0.0, abs=1e-5)
    # Only class-1 samples: one class, KL(gen || real) = log 2, lower recall, larger distance.
    ones = test.x[test.y == 1]
    c = evaluate_samples(train, ones, real_test=test, cache_dir=tmp_path, classifier_settings=TINY)
    assert c["classes_covered"] == 1.0
    assert c["class_kl"] == pytest.approx(math.log(2), rel=1e-4)
    assert c["recall"] < 0.75
    assert c["frechet_distance"] > 0.1


def test_same_numbers_as_the_parts(tmp_path):
    from featmatch.metrics import classify, get_classifier, precision_recall

    train, test = labelled("image", seed=0), labelled("image", seed=1)
    fake = test.x[:30] + 0.2
    m = evaluate_samples(train, fake, real_test=test, cache_dir=tmp_path, classifier_settings=TINY)
    model = get_classifier("tiny", train.x, train.y, cache_dir=tmp_path, settings=TINY)
    real_f, _ = classify(model, test.x)
    fake_f, _ = classify(model, fake)
    assert m["frechet_distance"] == pytest.approx(frechet_distance(fake=fake_f, real=real_f).item())
    assert (m["precision"], m["recall"]) == tuple(v.item() for v in precision_recall(fake=fake_f, real=real_f))
    assert all(isinstance(v, float) for v in m.values())


def test_the_real_floor_is_real_training_data_scored_like_the_samples(tmp_path):
    from featmatch.metrics import classifier_cache_path, classify, get_classifier

    train, test = labelled("image", n=80, seed=0), labelled("image", seed=1)
    fake = test.x[:30] + 0.2
    m = evaluate_samples(train, fake, real_test=test, cache_dir=tmp_path, classifier_settings=TINY)
    model = get_classifier("tiny", train.x, train.y, cache_dir=tmp_path, settings=TINY)
    real_f, _ = classify(model, test.x)
    # As many real training samples as generated ones (30), drawn with the evaluation's seed (0).
    index = torch.randperm(80, generator=torch.Generator().manual_seed(0))[:30].sort().values
    expected = frechet_distance(fake=classify(model, train.x[index])[0], real=real_f).item()
    assert m["frechet_distance_real"] == pytest.approx(expected)
    # Cached beside the classifier, keyed by the sample count: computed once per data set.
    where = classifier_cache_path("tiny", train.x, train.y, cache_dir=tmp_path, settings=TINY)
    cached = list(tmp_path.glob(f"{where.stem}-fd_real-n30-*.json"))
    assert len(cached) == 1
    cached[0].write_text('{"frechet_distance_real": 123.0}')
    again = evaluate_samples(train, fake, real_test=test, cache_dir=tmp_path, classifier_settings=TINY)
    assert again["frechet_distance_real"] == 123.0
    cached[0].write_text("damaged")  # a damaged file is computed again
    assert evaluate_samples(train, fake, real_test=test, cache_dir=tmp_path, classifier_settings=TINY)[
        "frechet_distance_real"
    ] == pytest.approx(expected)
    other = evaluate_samples(train, test.x[:20], real_test=test, cache_dir=tmp_path, classifier_settings=TINY)
    assert other["frechet_distance_real"] != pytest.approx(expected)  # another sample count, another floor


def test_without_loadable_test_split_is_an_error_not_a_silent_switch(tmp_path):
    train = labelled("image", name="not-a-builtin-name")
    with pytest.raises(MissingTestSplitError, match=r"could not load the test split of 'not-a-builtin-name'.*real_test='train'"):
        evaluate_samples(train, train.x, cache_dir=tmp_path, classifier_settings=TINY)
    assert issubclass(MissingTestSplitError, ValueError)


def test_scoring_against_the_training_data_is_an_explicit_opt_in_with_a_warning(tmp_path):
    train = labelled("image", name="not-a-builtin-name")
    with pytest.warns(UserWarning, match=r"against its own training data.*optimistic"):
        m = evaluate_samples(train, train.x, real_test="train", cache_dir=tmp_path, classifier_settings=TINY)
    assert m["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    explicit = evaluate_samples(train, train.x, real_test=train, cache_dir=tmp_path, classifier_settings=TINY)
    assert m == explicit
    with pytest.raises(ValueError, match="real_test must be a DataSet, 'train' or None, got 'test'"):
        evaluate_samples(train, train.x, real_test="test", cache_dir=tmp_path)


def test_a_test_split_that_does_not_fit_is_an_error(tmp_path, monkeypatch):
    from featmatch.metrics import evaluate as evaluate_module

    train = labelled("image", name="tiny-split")
    monkeypatch.setattr(evaluate_module, "_load", lambda name, split: DataSet(name, "image", train.x))
    with pytest.raises(MissingTestSplitError, match=r"test split of 'tiny-split' does not fit.*labels absent"):
        evaluate_samples(train, train.x, cache_dir=tmp_path, classifier_settings=TINY)


def test_non_finite_samples_give_nan(tmp_path):
    train = labelled("sequence")
    fake = torch.full((10, 1, 20), float("nan"))
    m = evaluate_samples(train, fake, real_test=train, cache_dir=tmp_path, classifier_settings=TINY)
    assert set(m) == CLASS_KEYS and all(math.isnan(v) for v in m.values())
    ring = load_dataset("ring8", size=10)
    m = evaluate_samples(ring, torch.full((5, 2), float("inf")))
    assert set(m) == {"high_quality", "modes_covered", "reverse_kl"} and all(math.isnan(v) for v in m.values())


def test_no_reference_gives_empty_dict():
    unlabelled = DataSet("u", "image", torch.zeros(4, 1, 8, 8))
    assert evaluate_samples(unlabelled, torch.zeros(4, 1, 8, 8)) == {}
    plain_points = DataSet("p", "points", torch.zeros(4, 2))
    assert evaluate_samples(plain_points, torch.zeros(4, 2)) == {}


def test_errors(tmp_path):
    train = labelled("image")
    with pytest.raises(ValueError, match=r"fake must have shape \(M, 1, 8, 8\).*got \(3, 1, 20\)"):
        evaluate_samples(train, torch.zeros(3, 1, 20))
    with pytest.raises(TypeError, match="fake must be a torch.Tensor"):
        evaluate_samples(train, [0.0])
    unlabelled_test = DataSet("u", "image", torch.zeros(4, 1, 8, 8))
    with pytest.raises(ValueError, match="real_test must be a labelled split"):
        evaluate_samples(train, train.x, real_test=unlabelled_test, cache_dir=tmp_path)
