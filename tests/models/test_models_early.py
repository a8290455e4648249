"""Early prediction models: observe (mask / zero / cut, per-sample fractions, errors), SequenceEncoder, freeze."""

from __future__ import annotations

import math

import pytest
import torch

import featmatch
from featmatch.models import (
    EncoderOutput,
    SequenceDiscriminator,
    SequenceEncoder,
    freeze,
    observe,
    observed_steps,
)


def reference_observe(x: torch.Tensor, kept: list[int]) -> torch.Tensor:
    """Independent construction, sample by sample: copy the first k steps, append the mask row."""
    n, c, t = x.shape
    out = torch.zeros(n, c + 1, t, dtype=x.dtype)
    for i, k in enumerate(kept):
        out[i, :c, :k] = x[i, :, :k]
        out[i, c, :k] = 1
    return out


@pytest.mark.parametrize(("fraction", "length", "kept"), [(0.3, 40, 12), (0.1, 40, 4), (1.0, 40, 40), (0.5, 25, 12),
                                                          (0.01, 40, 1), (0.7, 40, 28), (0.25, 10, 2)])
def test_observed_steps_is_round_half_even_at_least_one(fraction: float, length: int, kept: int) -> None:
    assert int(observed_steps(fraction, length)) == kept == max(1, round(fraction * length))
    # The same count whatever the fraction's dtype (float32 0.7 * 40 is 27.9999995).
    assert int(observed_steps(torch.tensor(fraction, dtype=torch.float32), length)) == kept


def test_observe_mask_keeps_the_prefix_and_appends_the_mask_channel() -> None:
    x = torch.randn(3, 2, 40)
    seen = observe(x, 0.3)
    assert seen.shape == (3, 3, 40) and seen.dtype == x.dtype
    torch.testing.assert_close(seen, reference_observe(x, [12, 12, 12]), rtol=0, atol=0)
    assert seen[:, 2].sum(dim=1).tolist() == [12.0, 12.0, 12.0]
    assert not torch.equal(x, torch.zeros_like(x))  # x itself untouched
    # Everything observed: the data unchanged, a mask of ones.
    full = observe(x, 1.0)
    torch.testing.assert_close(full[:, :2], x, rtol=0, atol=0)
    assert torch.all(full[:, 2] == 1)


def test_observe_mixes_fractions_in_one_batch() -> None:
    x = torch.randn(4, 1, 20, dtype=torch.float64)
    fractions = torch.tensor([0.1, 0.5, 0.95, 1.0])
    seen = observe(x, fractions)
    kept = [2, 10, 19, 20]
    torch.testing.assert_close(seen, reference_observe(x, kept), rtol=0, atol=0)
    for i, f in enumerate(fractions.tolist()):  # each row as if observed alone
        torch.testing.assert_close(seen[i : i + 1], observe(x[i : i + 1], f), rtol=0, atol=0)


def test_observe_zero_and_cut_modes() -> None:
    x = torch.randn(2, 3, 10)
    torch.testing.assert_close(observe(x, 0.4, mode="zero"), reference_observe(x, [4, 4])[:, :3], rtol=0, atol=0)
    torch.testing.assert_close(observe(x, 0.4, mode="cut"), x[..., :4], rtol=0, atol=0)
    # Per-sample fractions that observe the same number of steps are fine for "cut".
    assert observe(x, torch.tensor([0.4, 0.41]), mode="cut").shape == (2, 3, 4)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.1, math.nan, torch.tensor([0.5, 0.0])])
def test_observe_rejects_fractions_outside_0_1(fraction: object) -> None:
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\]"):
        observe(torch.randn(2, 1, 10), fraction)  # type: ignore[arg-type]


def test_observe_errors_name_the_problem() -> None:
    x = torch.randn(2, 1, 10)
    with pytest.raises(ValueError, match=r"shape \(\) or \(2,\).*got shape \(3,\)"):
        observe(x, torch.full((3,), 0.5))
    with pytest.raises(ValueError, match=r"mode='cut' needs every sample.*\[2, 5\].*mode='mask'"):
        observe(x, torch.tensor([0.2, 0.5]), mode="cut")
    with pytest.raises(ValueError, match="mode must be one of"):
        observe(x, 0.5, mode="crop")
    with pytest.raises(ValueError, match=r"\(N, C, T\), got \(2, 10\)"):
        observe(x[:, 0], 0.5)
    with pytest.raises(TypeError, match="fraction must be a float"):
        observe(x, "0.5")  # type: ignore[arg-type]


def test_encoder_teacher_and_student_features_have_one_shape_that_fits_the_discriminator() -> None:
    teacher, student = SequenceEncoder(1, 10), SequenceEncoder(2, 10)
    x = torch.randn(5, 1, 40)
    out_t = teacher(x)
    out_s = student(observe(x, torch.rand(5) * 0.9 + 0.1))
    assert isinstance(out_t, EncoderOutput)
    assert out_t.features.shape == out_s.features.shape == (5, 64, 10) == (5, *teacher.feature_shape(40))
    assert out_t.logits.shape == out_s.logits.shape == (5, 10)
    # The article's discriminator over feature sequences: three blocks on 10 steps.
    d = SequenceDiscriminator(student.feature_channels, width=8, depth=3)
    fake, real = d(out_s.features), d(out_t.features.detach())
    assert [tuple(f.shape) for f in fake.features.values()] == [(5, 8, 5), (5, 16, 2), (5, 32, 1)]
    d.requires_grad_(False)
    loss = featmatch.FeatureMatchingLoss.from_preset("layer_mse")(fake, real)
    loss.backward()
    assert all(p.grad is None for p in d.parameters())
    # Feature matching trains the student's trunk; its classifier head only learns from cross-entropy.
    assert all(p.grad is not None for p in [*student.stem.parameters(), *student.blocks.parameters()])
    assert all(p.grad is None for p in student.head.parameters())


@pytest.mark.parametrize(("width", "depth", "length"), [(4, 1, 9), (8, 3, 40), (2, 4, 16)])
def test_encoder_feature_shape_arithmetic(width: int, depth: int, length: int) -> None:
    enc = SequenceEncoder(3, 4, width=width, depth=depth, pool=2)
    channels = width * min(2 ** (depth - 1), 8)
    out = enc(torch.randn(2, 3, length))
    assert out.features.shape == (2, channels, length // 2**depth) and enc.feature_shape(length) == (channels, length // 2**depth)


def test_encoder_errors_hint_at_the_mask_channel() -> None:
    with pytest.raises(ValueError, match=r"\(N, 2, T\), got \(1, 1, 40\).*observe\(x, fraction\)"):
        SequenceEncoder(2, 10)(torch.randn(1, 1, 40))
    with pytest.raises(ValueError, match=r"mode='zero'"):
        SequenceEncoder(1, 10)(torch.randn(1, 2, 40))
    with pytest.raises(ValueError, match=r"T >= 4"):
        SequenceEncoder(1, 10)(torch.randn(1, 1, 3))
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        SequenceEncoder(1, 1)


def test_freeze_fixes_the_teacher_but_lets_gradients_through() -> None:
    teacher = SequenceEncoder(1, 10)
    x = torch.randn(8, 1, 40)
    for _ in range(2):  # move the batch-norm running statistics away from their start
        teacher(x)
    assert freeze(teacher) is teacher
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    # Eval mode: a sample's features do not depend on the rest of its batch.
    torch.testing.assert_close(teacher(x[:2]).features, teacher(x).features[:2])
    x.requires_grad_(True)
    teacher(x).logits.sum().backward()
    assert x.grad is not None and all(p.grad is None for p in teacher.parameters())
    with pytest.raises(TypeError, match="torch.nn.Module"):
        freeze(lambda v: v)  # type: ignore[arg-type]
