"""The domain classifier: determinism, caching, and class metrics on hand-made logits."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from featmatch.metrics import (
    FeatureClassifier,
    TrainSettings,
    class_metrics,
    classify,
    default_cache_dir,
    get_classifier,
    train_classifier,
)
from featmatch.metrics import classifier as classifier_module

TINY = TrainSettings(steps=20, batch_size=16, lr=1e-2, width=8, feature_dim=8)


def toy_data(kind: str = "image", n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes told apart by the sign of the mean: trivially learnable."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    shape = (n, 1, 8, 8) if kind == "image" else (n, 1, 20)
    sign = (2 * y - 1).float().view(-1, *([1] * (len(shape) - 1)))
    x = 0.8 * sign + 0.3 * torch.randn(shape, generator=gen)
    return x, y


def tiny_train(x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> FeatureClassifier:
    return train_classifier(x, y, seed=seed, **vars(TINY))


@pytest.mark.parametrize("kind", ["image", "sequence"])
def test_shapes_and_learning(kind):
    x, y = toy_data(kind)
    model = tiny_train(x, y)
    assert not model.training
    feats, logits = classify(model, x, batch_size=10)
    assert feats.shape == (48, TINY.feature_dim)
    assert logits.shape == (48, 2)
    torch.testing.assert_close(logits, model(x))
    torch.testing.assert_close(feats, model.features(x))
    assert (logits.argmax(dim=1) == y).float().mean().item() == 1.0


def test_same_seed_same_weights_and_global_rng_untouched():
    x, y = toy_data()
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = tiny_train(x, y, seed=7).state_dict()
    assert torch.equal(torch.rand(3), expected_next)  # training did not consume the global stream
    b = tiny_train(x, y, seed=7).state_dict()
    c = tiny_train(x, y, seed=8).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_under_no_grad_gives_the_same_classifier():
    # Evaluations run under torch.no_grad(); the classifier they need trains all the same
    # (a run's first evaluation with an empty cache failed with "does not require grad").
    x, y = toy_data()
    expected = tiny_train(x, y, seed=7).state_dict()
    with torch.no_grad():
        got = tiny_train(x, y, seed=7).state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_standardisation_buffers_come_from_the_data():
    x, y = toy_data()
    model = tiny_train(3.0 * x + 5.0, y)
    assert model.input_mean.item() == pytest.approx((3.0 * x + 5.0).mean().item(), rel=1e-5)
    assert model.input_std.item() == pytest.approx((3.0 * x + 5.0).std().item(), rel=1e-5)


@pytest.fixture()
def counted_training(monkeypatch):
    calls = []
    original = classifier_module.train_classifier

    def counting(*args, **kwargs):
        calls.append(kwargs.get("seed"))
        return original(*args, **kwargs)

    monkeypatch.setattr(classifier_module, "train_classifier", counting)
    return calls


def cache_files(folder) -> list:
    return sorted(p for p in folder.iterdir() if p.suffix == ".pt")


def test_cache_round_trip(tmp_path, counted_training):
    x, y = toy_data()
    first = get_classifier("toy", x, y, cache_dir=tmp_path, settings=TINY)
    assert counted_training == [0]
    (path,) = cache_files(tmp_path)
    assert path.name.startswith("classifier-toy-v")
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]  # temp file renamed away
    second = get_classifier("toy", x, y, cache_dir=tmp_path, settings=TINY)
    assert counted_training == [0]  # loaded, not retrained
    s1, s2 = first.state_dict(), second.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    torch.testing.assert_close(first(x), second(x), rtol=0, atol=0)
    payload = torch.load(path, weights_only=True)
    assert set(payload["state_dict"]) == set(s1)


def test_cache_key_separates_seed_data_and_name(tmp_path, counted_training):
    x, y = toy_data()
    get_classifier("toy", x, y, cache_dir=tmp_path, settings=TINY)
    get_classifier("toy", x, y, cache_dir=tmp_path, settings=TINY, seed=1)
    get_classifier("toy", x + 0.01, y, cache_dir=tmp_path, settings=TINY)
    get_classifier("toy/other", x, y, cache_dir=tmp_path, settings=TINY)
    assert counted_training == [0, 1, 0, 0]
    assert len(cache_files(tmp_path)) == 4
    assert any(p.name.startswith("classifier-toy_other-") for p in cache_files(tmp_path))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong_shapes"])
def test_damaged_cache_file_is_retrained_and_replaced(tmp_path, counted_training, damage):
    x, y = toy_data()
    get_classifier("toy", x, y, cache_dir=tmp_path, settings=TINY)
    (path,) = cache_files(tmp_path)
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a torch file at all")
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a readable file whose weights do not fit the network
        torch.save({"state_dict": {"head.weight": torch.zeros(3, 3)}}, path)
    model = get_classifier("toy", x, y, cache_dir=tmp_path, settings=TINY)
    assert counted_training == [0, 0]
    assert path.read_bytes() != b"not a torch file at all"
    reloaded = torch.load(path, weights_only=True)["state_dict"]
    assert all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items())


def test_default_cache_dir_follows_environment(tmp_path, monkeypatch, counted_training):
    monkeypatch.setenv("FEATMATCH_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    x, y = toy_data()
    get_classifier("toy", x, y, settings=TINY)
    assert len(cache_files(tmp_path / "cache")) == 1
    monkeypatch.delenv("FEATMATCH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if sys.platform.startswith("linux"):
        assert default_cache_dir() == type(tmp_path).home() / ".cache" / "featmatch"
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert default_cache_dir() == tmp_path / "xdg" / "featmatch"


def test_input_errors():
    x, y = toy_data()
    with pytest.raises(ValueError, match=r"y must be an int64 tensor of shape \(48,\)"):
        train_classifier(x, y.float(), steps=1)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\) or \(N, C, T\)"):
        train_classifier(x.flatten(1), y, steps=1)
    with pytest.raises(ValueError, match="num_classes=1 is too small"):
        train_classifier(x, y, num_classes=1, steps=1)
    with pytest.raises(ValueError, match="dataset_name must be a non-empty str"):
        get_classifier("", x, y)
    model = FeatureClassifier((1, 8, 8), num_classes=2)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 8, 8\).*got \(2, 1, 9, 9\)"):
        model(torch.zeros(2, 1, 9, 9))


@pytest.mark.slow
def test_real_digits_accuracy():
    """The recipe on the real 8x8 digits (fewer steps than the default, to stay quick)."""
    from featmatch.data import load_dataset

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    model = train_classifier(train.x, train.y, steps=150)
    _, logits = classify(model, test.x)
    assert (logits.argmax(dim=1) == test.y).float().mean().item() >= 0.93  # 0.972 measured


# ------------------------------------------------------------------------- class metrics


def confident(classes: list[int], k: int, scale: float = 20.0) -> torch.Tensor:
    return scale * torch.nn.functional.one_hot(torch.tensor(classes), k).float()  # (M, k)


def test_class_metrics_coverage_counts_only_confident_predictions():
    logits = torch.cat([confident([0, 1, 2, 2], 4), torch.zeros(3, 4) + torch.tensor([0.0, 0, 0, 0.1])])
    m = class_metrics(logits, torch.arange(4), num_classes=4)
    assert m["classes_covered"] == 3  # class 3 is predicted, but only with softmax ~0.27
    assert class_metrics(logits, torch.arange(4), num_classes=4, confidence=0.2)["classes_covered"] == 4


def test_class_kl_direction_and_values():
    labels = torch.arange(4).repeat(5)  # balanced real classes
    half = class_metrics(confident([0, 1], 4), labels, num_classes=4)
    # KL(p_gen || p_real) with p_gen = (1/2, 1/2, 0, 0), p_real uniform = 2 * 1/2 log 2.
    assert half["class_kl"] == pytest.approx(math.log(2), rel=1e-5)
    collapsed = class_metrics(confident([7] * 30, 10), torch.arange(10), num_classes=10)
    assert collapsed["class_kl"] == pytest.approx(math.log(10), rel=1e-5)
    assert collapsed["classes_covered"] == 1
    matched = class_metrics(confident([0, 1, 2, 3] * 2, 4), labels, num_classes=4)
    assert matched["class_kl"] == pytest.approx(0.0, abs=1e-9)
    assert matched["classes_covered"] == 4
    # A generated class absent from the real labels stays finite thanks to eps.
    absent = class_metrics(confident([3], 4), torch.tensor([0, 1, 2]), num_classes=4)
    assert math.isfinite(absent["class_kl"]) and absent["class_kl"] > 10


def test_class_metrics_returns_tensors_and_accepts_old_names_with_a_warning():
    logits, labels = confident([0, 1, 1], 4), torch.arange(4)
    m = class_metrics(logits, labels, num_classes=4)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in m.values())
    assert m["classes_covered"].dtype == torch.int64 and m["class_kl"].dtype == torch.float64
    # p_gen = (1/3, 2/3, 0, 0) against uniform real labels, computed by hand.
    expected = (1 / 3) * math.log((1 / 3) / 0.25) + (2 / 3) * math.log((2 / 3) / 0.25)
    assert m["class_kl"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.warns(DeprecationWarning, match=r"logits_fake= -> fake=, real_labels= -> real="):
        old = class_metrics(logits_fake=logits, real_labels=labels, num_classes=4)
    assert {k: v.item() for k, v in old.items()} == {k: v.item() for k, v in m.items()}
    with pytest.raises(TypeError, match="both logits_fake= and its new name fake="):
        class_metrics(fake=logits, logits_fake=logits, real=labels, num_classes=4)


def test_class_metrics_errors():
    with pytest.raises(ValueError, match=r"fake must be a tensor of logits of shape \(M, num_classes=10\)"):
        class_metrics(torch.zeros(5, 4), torch.arange(4), num_classes=10)
    with pytest.raises(ValueError, match=r"real labels must lie in \[0, 4\)"):
        class_metrics(torch.zeros(5, 4), torch.tensor([0, 4]), num_classes=4)
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\]"):
        class_metrics(torch.zeros(5, 4), torch.arange(4), num_classes=4, confidence=1.5)

