"""precision_recall (Kynkaanniemi et al. 2019) against a brute-force numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from featmatch.metrics import knn_radii, precision_recall
from featmatch.metrics import prdc


def reference_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(x: np.ndarray) -> np.ndarray:
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    def inside(q: np.ndarray, c: np.ndarray, r: np.ndarray) -> float:
        d = np.sqrt(((q[:, None, :] - c[None, :, :]) ** 2).sum(-1))
        return float((d <= r[None, :]).any(axis=1).mean())

    return inside(fake, real, radii(real)), inside(real, fake, radii(fake))


def test_identical_sets_give_one_one():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert precision_recall(fake=x, real=x) == (1.0, 1.0)


def test_disjoint_far_sets_give_zero_zero():
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(100, 4, generator=gen)
    fake = torch.randn(80, 4, generator=gen) + 100.0
    assert precision_recall(fake=fake, real=real) == (0.0, 0.0)


def test_hand_computed_one_dimensional():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])  # k=1 radii: all 1
    fake = torch.tensor([[0.5], [10.0]])  # k=1 radii: both 9.5
    precision, recall = precision_recall(fake=fake, real=real, k=1)
    assert precision == 0.5  # 0.5 is inside, 10 is not
    assert recall == 1.0  # every real point is within 9.5 of 0.5


def test_collapsed_generator_has_precision_but_no_recall():
    gen = torch.Generator().manual_seed(2)
    real = torch.randn(300, 2, generator=gen)
    fake = 0.05 * torch.randn(300, 2, generator=gen)  # all near one point of the real data
    precision, recall = precision_recall(fake=fake, real=real)
    assert precision > 0.9
    assert recall < 0.2


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_brute_force_reference(k):
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(150, 5, generator=gen, dtype=torch.float64)
    fake = 1.3 * torch.randn(120, 5, generator=gen, dtype=torch.float64) + 0.6
    ours = precision_recall(fake=fake, real=real, k=k)
    ref = reference_precision_recall(real.numpy(), fake.numpy(), k)
    assert 0 < ours[0] < 1 and 0 < ours[1] < 1  # neither trivial: a case that can fail either way
    assert ours == pytest.approx(ref, abs=1e-12)


def test_chunking_does_not_change_the_result(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    real, fake = torch.randn(90, 3, generator=gen), torch.randn(70, 3, generator=gen) + 0.5
    whole = precision_recall(fake=fake, real=real)
    radii = knn_radii(real)
    monkeypatch.setattr(prdc, "_CHUNK", 7)
    assert precision_recall(fake=fake, real=real) == whole
    assert torch.equal(knn_radii(real), radii)


def test_knn_radii_excludes_self_but_not_duplicates():
    x = torch.tensor([[0.0], [0.0], [5.0]])
    assert knn_radii(x, k=1).tolist() == [0.0, 0.0, 5.0]
    assert knn_radii(x, k=2).tolist() == [5.0, 5.0, 5.0]


def test_errors():
    with pytest.raises(ValueError, match="real needs more than k=3 rows"):
        precision_recall(fake=torch.randn(10, 2), real=torch.randn(3, 2))
    with pytest.raises(ValueError, match="same feature width, got 2 and 3"):
        precision_recall(fake=torch.randn(10, 2), real=torch.randn(10, 3))
    with pytest.raises(ValueError, match="k must be an int >= 1, got 0"):
        precision_recall(fake=torch.randn(10, 2), real=torch.randn(10, 2), k=0)
    with pytest.raises(ValueError, match=r"fake must have shape \(N, F\)"):
        precision_recall(fake=torch.randn(10, 2, 1), real=torch.randn(10, 2))
    with pytest.raises(TypeError, match="real must be a torch.Tensor"):
        precision_recall(fake=torch.randn(10, 2), real=[[0.0, 1.0]] * 10)


def test_returns_a_named_pair_of_tensors():
    gen = torch.Generator().manual_seed(5)
    real, fake = torch.randn(60, 3, generator=gen), torch.randn(50, 3, generator=gen) + 0.4
    result = precision_recall(fake=fake, real=real)
    assert isinstance(result, prdc.PrecisionRecall)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and v.dtype == torch.float64 for v in result)
    ref = reference_precision_recall(real.double().numpy(), fake.double().numpy(), 3)
    assert (result.precision.item(), result.recall.item()) == pytest.approx(ref, abs=1e-12)


def test_old_positional_order_keeps_its_meaning_and_warns():
    gen = torch.Generator().manual_seed(6)
    real = torch.randn(100, 2, generator=gen)
    fake = 0.1 * torch.randn(100, 2, generator=gen)  # collapsed: precision high, recall low
    new = precision_recall(fake=fake, real=real, k=2)
    assert new.precision > 0.9 and new.recall < 0.5  # not symmetric: a swap would show
    match = r"precision_recall\(\) with positional arguments \(real_features, fake_features\).*fake= and real= by keyword"
    with pytest.warns(DeprecationWarning, match=match):
        assert precision_recall(real, fake, 2) == new
    with pytest.warns(DeprecationWarning, match=match):
        assert precision_recall(real, fake, k=2) == new
    with pytest.warns(DeprecationWarning, match=r"real_features= -> real=, fake_features= -> fake="):
        assert precision_recall(real_features=real, fake_features=fake, k=2) == new


def test_mixing_positional_and_keyword_is_a_type_error():
    x = torch.randn(10, 2)
    with pytest.raises(TypeError, match=r"positional arguments together with fake=.*Hint: pass both by keyword"):
        precision_recall(x, fake=x)
    with pytest.raises(TypeError, match="k must be an int >= 1, got bool True"):
        precision_recall(fake=x, real=x, k=True)
