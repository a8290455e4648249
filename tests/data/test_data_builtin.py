"""digits and mnist1d: shapes, ranges, fixed splits, labels; load_dataset's checks."""

from __future__ import annotations

import random
import socket

import numpy as np
import pytest
import torch

from featmatch.data import DATASETS, load_dataset
from featmatch.data import mnist1d as fm_mnist1d


def test_digits_splits():
    from sklearn.datasets import load_digits as sklearn_digits

    train, test = load_dataset("digits"), load_dataset("digits", "test")
    assert (train.kind, test.kind) == ("image", "image")
    assert train.x.shape == (1437, 1, 8, 8) and test.x.shape == (360, 1, 8, 8)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert train.x.min() == -1.0 and train.x.max() == 1.0
    assert train.num_classes == 10 and test.num_classes == 10
    # Together the splits are exactly scikit-learn's images (0..16 -> x / 8 - 1), as a multiset.
    reference = sklearn_digits()
    expected = np.concatenate([reference.images.reshape(-1, 64), reference.target[:, None]], axis=1)
    ours = torch.cat([torch.cat([train.x, test.x]).reshape(-1, 64).add(1).mul(8), torch.cat([train.y, test.y])[:, None].float()], 1)
    assert sorted(map(tuple, ours.tolist())) == sorted(map(tuple, expected.astype(float).tolist()))
    # Stratified: each class holds about 20% of its images in test.
    class_counts = np.bincount(reference.target)
    test_counts = torch.bincount(test.y, minlength=10).numpy()
    assert np.all(np.abs(test_counts - class_counts * 360 / 1797) < 1)


def test_digits_split_is_fixed_and_seed_only_picks_subsets():
    a, b = load_dataset("digits", "test", seed=0), load_dataset("digits", "test", seed=5)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    s1, s2 = load_dataset("digits", seed=1, size=100), load_dataset("digits", seed=1, size=100)
    assert s1.x.shape == (100, 1, 8, 8) and torch.equal(s1.x, s2.x)
    assert not torch.equal(s1.x, load_dataset("digits", seed=2, size=100).x)


@pytest.fixture(scope="module")
def mnist1d_splits(tmp_path_factory):
    """Generate MNIST-1D once, from an empty folder, with the network unplugged."""
    fm_mnist1d._generate.cache_clear()
    workdir = tmp_path_factory.mktemp("mnist1d_cwd")
    python_state, numpy_state = random.getstate(), np.random.get_state()

    def no_network(*args, **kwargs):
        raise AssertionError("MNIST-1D generation tried to use the network")

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setattr(socket.socket, "connect", no_network)
        train, test = load_dataset("mnist1d"), load_dataset("mnist1d", "test")
    state_kept = random.getstate() == python_state and all(
        np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state)
    )
    return train, test, list(workdir.iterdir()), state_kept


def test_mnist1d_shapes_range_and_labels(mnist1d_splits):
    train, test, _, _ = mnist1d_splits
    assert train.kind == "sequence" and train.x.shape == (4000, 1, 40) and test.x.shape == (1000, 1, 40)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert train.x.abs().max() == 1.0  # divided by the train split's max |x|
    assert test.x.abs().max() <= 1.0
    assert train.num_classes == 10 and test.num_classes == 10
    assert torch.bincount(train.y).min() > 350 and torch.bincount(test.y).min() > 70


def test_mnist1d_scaling_undoes_the_package_standardisation(mnist1d_splits):
    train, test, _, _ = mnist1d_splits
    scale = fm_mnist1d.mnist1d_scale()
    assert scale == pytest.approx(5.479, abs=0.01)
    # The package standardised all 5,000 sequences to mean 0, std 1; scaling back recovers that.
    whole = torch.cat([train.x, test.x]).double() * scale
    assert whole.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert whole.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


def test_mnist1d_downloads_nothing_writes_nothing_and_keeps_global_rng(mnist1d_splits):
    _, _, written, state_kept = mnist1d_splits
    assert written == []
    assert state_kept


def test_mnist1d_is_fixed_and_copies_the_cache(mnist1d_splits):
    train = load_dataset("mnist1d")
    assert torch.equal(train.x, mnist1d_splits[0].x)
    train.x.zero_()  # the caller's copy; the cache must not change
    assert torch.equal(load_dataset("mnist1d").x, mnist1d_splits[0].x)
    assert load_dataset("mnist1d", "test", size=10, seed=1).x.shape == (10, 1, 40)


def test_load_dataset_rejects_unknown_names_splits_options():
    assert DATASETS == ("ring8", "grid25", "digits", "mnist1d", "mnist")
    with pytest.raises(ValueError, match=r"unknown data set 'mnst'.*ring8.*grid25.*digits.*mnist1d.*mnist"):
        load_dataset("mnst")
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'valid'"):
        load_dataset("ring8", "valid")
    with pytest.raises(ValueError, match="takes no options"):
        load_dataset("digits", image_size=8)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        load_dataset("ring8", seed=-1)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_dataset("data/missing.npy")
