"""ring8 and grid25: centres, spread, labels, reproducibility."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from featmatch.data import (
    grid25_centres,
    load_dataset,
    ring8_centres,
    sample_mixture,
    sample_mixture_with_labels,
)


def test_ring8_centres_are_8_points_at_radius_1_and_angles_2pi_k_over_8():
    centres = ring8_centres().double()
    assert centres.shape == (8, 2)
    assert torch.allclose(centres.norm(dim=1), torch.ones(8, dtype=torch.float64), atol=1e-6)
    angles = torch.atan2(centres[:, 1], centres[:, 0]) % (2 * math.pi)
    expected = torch.tensor([2 * math.pi * k / 8 for k in range(8)], dtype=torch.float64)
    assert torch.allclose(angles, expected, atol=1e-6)
    # 8 distinct points: the smallest pairwise distance is the chord 2 sin(pi/8).
    distances = torch.cdist(centres, centres) + torch.eye(8, dtype=torch.float64) * 10
    assert distances.min() == pytest.approx(2 * math.sin(math.pi / 8), abs=1e-6)


def test_grid25_centres_are_the_5x5_grid():
    centres = grid25_centres()
    assert centres.shape == (25, 2)
    expected = set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))
    assert {tuple(c) for c in centres.tolist()} == expected


@pytest.mark.parametrize(("name", "k", "std"), [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_mixture_samples_match_the_spec(name, k, std):
    data = load_dataset(name)
    assert data.kind == "points" and data.x.shape == (100_000, 2) and data.x.dtype == torch.float32
    assert data.std == std and data.centres.shape == (k, 2)
    assert len(load_dataset(name, "test")) == 10_000
    # Labels are the components: every sample is nearest its own centre.
    nearest = torch.cdist(data.x, data.centres).argmin(dim=1)
    assert torch.equal(nearest, data.y)
    # Per-coordinate spread around the centre is the spec's std (100k samples: ~0.3% error).
    residual = data.x - data.centres[data.y]
    assert residual.std(dim=0).tolist() == pytest.approx([std, std], rel=0.02)
    assert residual.mean(dim=0).abs().max() < 0.1 * std
    # Equal weights: every component holds about 1/k of the samples.
    counts = torch.bincount(data.y, minlength=k).double() / len(data)
    assert torch.allclose(counts, torch.full((k,), 1 / k, dtype=torch.float64), rtol=0.1)


def test_mixture_is_reproducible_and_splits_differ():
    a = load_dataset("ring8", size=500, seed=3)
    b = load_dataset("ring8", size=500, seed=3)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, load_dataset("ring8", size=500, seed=4).x)
    test = load_dataset("ring8", "test", size=500, seed=3)
    assert not torch.isin(test.x[:, 0], a.x[:, 0]).any()  # no shared samples
    # Test of seed s must not be the train of another seed.
    assert not torch.equal(test.x, load_dataset("ring8", size=500, seed=4).x)


def test_sample_mixture():
    centres = grid25_centres()
    x1 = sample_mixture(centres, 0.05, 64, torch.Generator().manual_seed(0))
    x2 = sample_mixture(centres, 0.05, 64, torch.Generator().manual_seed(0))
    assert x1.shape == (64, 2) and torch.equal(x1, x2)
    exact, labels = sample_mixture_with_labels(centres, 0.0, 64, torch.Generator().manual_seed(0))
    assert torch.equal(exact, centres[labels])
    assert sample_mixture(centres.double(), 0.1, 3, torch.Generator()).dtype == torch.float64
    with pytest.raises(ValueError, match="std must be >= 0"):
        sample_mixture(centres, -1.0, 3, torch.Generator())
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        sample_mixture(centres, 0.1, -3, torch.Generator())
