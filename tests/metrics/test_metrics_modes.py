"""mode_metrics against the VEEGAN/GDPP protocol's known values."""

from __future__ import annotations

import math

import pytest
import torch

from featmatch.metrics import mode_metrics, nearest_centre

# Probability that an isotropic 2-D Gaussian sample lies within 3 std of its mean.
P_WITHIN_3_STD = 1 - math.exp(-9 / 2)  # 0.98889


def ring_centres(k: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()  # (k, 2)


def grid_centres() -> torch.Tensor:
    values = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(values, values)  # (25, 2)


def perfect_sampler(centres: torch.Tensor, std: float, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    which = torch.randint(0, len(centres), (n,), generator=gen)
    return centres[which] + std * torch.randn(n, 2, generator=gen)  # (n, 2)


def test_perfect_ring8_sampler():
    m = mode_metrics(perfect_sampler(ring_centres(), 0.02, 2500, seed=0), ring_centres(), std=0.02)
    assert m["modes_covered"] == 8
    # Binomial standard error at n = 2500 is 0.0021; 0.01 is almost 5 of them.
    assert m["high_quality"] == pytest.approx(P_WITHIN_3_STD, abs=0.01)
    # Expected KL of a uniform multinomial estimate is about (K - 1) / (2n) = 0.0014.
    assert 0 <= m["reverse_kl"] < 0.01


def test_perfect_grid25_sampler():
    m = mode_metrics(perfect_sampler(grid_centres(), 0.05, 2500, seed=1), grid_centres(), std=0.05)
    assert m["modes_covered"] == 25
    assert m["high_quality"] == pytest.approx(P_WITHIN_3_STD, abs=0.01)
    assert 0 <= m["reverse_kl"] < 0.02


def test_one_mode_sampler_scores_one_mode_and_log_k():
    centres = ring_centres()
    samples = centres[3] + 0.02 * torch.randn(500, 2, generator=torch.Generator().manual_seed(2))
    m = mode_metrics(samples, centres, std=0.02)
    assert m["modes_covered"] == 1
    assert m["reverse_kl"] == pytest.approx(math.log(8), abs=1e-9)


def test_types_and_keys():
    m = mode_metrics(ring_centres(), ring_centres(), std=0.1)
    assert set(m) == {"high_quality", "modes_covered", "reverse_kl"}
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in m.values())
    assert m["modes_covered"].dtype == torch.int64
    assert m["high_quality"].dtype == torch.float64 and m["reverse_kl"].dtype == torch.float64
    assert m == {"high_quality": 1.0, "modes_covered": 8, "reverse_kl": 0.0}


def test_old_keyword_name_samples_warns_and_gives_the_same_numbers():
    samples = perfect_sampler(ring_centres(), 0.02, 400, seed=3)
    new = mode_metrics(fake=samples, centres=ring_centres(), std=0.02)
    with pytest.warns(DeprecationWarning, match=r"mode_metrics\(\): keyword names changed \(samples= -> fake=\)"):
        old = mode_metrics(samples=samples, centres=ring_centres(), std=0.02)
    assert {k: v.item() for k, v in old.items()} == {k: v.item() for k, v in new.items()}


def test_hand_computed_values():
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    samples = torch.tensor(
        [
            [1.5, 0.0],  # exactly 3 std from centre 0: high quality
            [0.0, -1.0],  # centre 0, high quality
            [0.0, 2.0],  # centre 0, beyond 3 std: low quality
            [10.0, 3.0],  # nearest centre 1 but 2 std * 3 = 1.5 < 3: low quality
        ]
    )
    m = mode_metrics(samples, centres, std=0.5)
    assert m["high_quality"] == 0.5
    # Centre 1 is nearest to a sample, but not to a high-quality one: not covered.
    assert m["modes_covered"] == 1
    # p_gen = (3/4, 1/4, 0, 0) over all samples; KL to uniform(4).
    expected = 0.75 * math.log(0.75 * 4) + 0.25 * math.log(0.25 * 4)
    assert m["reverse_kl"] == pytest.approx(expected, rel=1e-12)


def test_nearest_centre_matches_brute_force():
    gen = torch.Generator().manual_seed(3)
    samples, centres = torch.randn(300, 2, generator=gen), torch.randn(7, 2, generator=gen)
    idx, dist = nearest_centre(samples, centres)
    ref = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(-1).sqrt()  # (300, 7)
    assert torch.equal(idx, ref.argmin(dim=1))
    torch.testing.assert_close(dist, ref.min(dim=1).values)


def test_float64_input_and_permutation_invariance():
    centres = ring_centres()
    samples = perfect_sampler(centres, 0.05, 400, seed=4)
    a = mode_metrics(samples, centres, std=0.05)
    b = mode_metrics(samples.double()[torch.randperm(400)], centres, std=0.05)
    assert a["modes_covered"] == b["modes_covered"]
    assert a["high_quality"] == pytest.approx(b["high_quality"])
    assert a["reverse_kl"] == pytest.approx(b["reverse_kl"])


@pytest.mark.parametrize("std", [0, -1.0, float("nan"), float("inf"), None, True])
def test_bad_std(std):
    with pytest.raises(ValueError, match="std must be a finite number > 0"):
        mode_metrics(ring_centres(), ring_centres(), std=std)


def test_bad_shapes_and_types():
    with pytest.raises(ValueError, match=r"samples must have shape \(N, 2\).*got \(5, 3\)"):
        mode_metrics(torch.zeros(5, 3), ring_centres(), std=0.1)
    with pytest.raises(ValueError, match=r"centres must have shape \(N, 2\)"):
        mode_metrics(torch.zeros(5, 2), torch.zeros(8), std=0.1)
    with pytest.raises(ValueError, match=r"samples must have shape.*got \(0, 2\)"):
        mode_metrics(torch.zeros(0, 2), ring_centres(), std=0.1)
    with pytest.raises(TypeError, match="samples must be a torch.Tensor"):
        mode_metrics([[0.0, 0.0]], ring_centres(), std=0.1)
    with pytest.raises(ValueError, match="NaN or infinite"):
        mode_metrics(torch.tensor([[float("nan"), 0.0]]), ring_centres(), std=0.1)
