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


# --- ResNetEncoder (the early task's default) ---------------------------------------------------

from featmatch.models import ENCODER_FAMILIES, ResNetEncoder, build_encoder, build_models  # noqa: E402


def _reference_resnet(enc: ResNetEncoder, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoder in eval mode written out with torch.nn.functional and the Keras "same" padding rule."""
    import torch.nn.functional as F

    def bn(module: torch.nn.BatchNorm1d, h: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(h, module.running_mean, module.running_var, module.weight, module.bias, False, 0.0,
                            module.eps)

    h = x
    for index, block in enumerate(enc.blocks):
        stride = 1 if index == 0 else enc.stride
        convs = [m for m in block.body if isinstance(m, torch.nn.Conv1d) or hasattr(m, "conv")]
        norms = [m for m in block.body if isinstance(m, torch.nn.BatchNorm1d)]
        y = h
        for j, (conv, norm) in enumerate(zip(convs, norms, strict=True)):
            k = conv.conv.kernel_size[0]
            y = F.conv1d(F.pad(y, ((k - 1) // 2, k // 2)), conv.conv.weight, stride=stride if j == 0 else 1)
            y = bn(norm, y)
            if j < len(convs) - 1:
                y = F.relu(y)
        if isinstance(block.shortcut, torch.nn.BatchNorm1d):
            short = bn(block.shortcut, h)
        else:
            short = bn(block.shortcut[1], F.conv1d(h, block.shortcut[0].weight, stride=stride))
        h = F.relu(y + short)
    pooled = F.adaptive_avg_pool1d(h, enc.pool).flatten(1)
    return h, F.linear(pooled, enc.head[2].weight, enc.head[2].bias)


@pytest.mark.parametrize(("length", "stride", "depth", "pool"), [(40, 2, 3, 1), (427, 2, 3, 1), (37, 1, 2, 4),
                                                                  (9, 3, 3, 2), (1, 2, 2, 1)])
def test_resnet_encoder_equals_a_functional_reference(length: int, stride: int, depth: int, pool: int) -> None:
    torch.manual_seed(0)
    enc = ResNetEncoder(3, 5, width=4, depth=depth, stride=stride, pool=pool)
    enc.train()
    for _ in range(2):  # running statistics away from their start, so eval mode uses real ones
        enc(torch.randn(6, 3, length) * 2 + 1)
    enc.eval()
    x = torch.randn(4, 3, length)
    out = enc(x)
    features, logits = _reference_resnet(enc, x)
    expected_length = length
    for _ in range(depth - 1):
        expected_length = math.ceil(expected_length / stride)
    assert out.features.shape == (4, 8 if depth > 1 else 4, expected_length)
    assert enc.feature_shape(length) == tuple(out.features.shape[1:])
    torch.testing.assert_close(out.features, features, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-5)


def test_resnet_teacher_and_student_share_a_feature_shape_and_train() -> None:
    teacher, student = ResNetEncoder(6, 4, width=8), ResNetEncoder(7, 4, width=8)  # six channels, + the mask
    x = torch.randn(5, 6, 100)
    assert teacher(x).features.shape == student(observe(x, 0.3)).features.shape == (5, 16, 25)
    loss = torch.nn.functional.cross_entropy(student(observe(x, 0.3)).logits, torch.tensor([0, 1, 2, 3, 0]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.parameters())


def test_resnet_teacher_and_student_have_the_same_modules_whatever_the_channels() -> None:
    # C + 1 == width: without a projecting shortcut in block 1 the student's would be batch norm alone.
    teacher, student = ResNetEncoder(3, 4, width=4), ResNetEncoder(4, 4, width=4)
    shapes_t = {k: v.shape for k, v in teacher.state_dict().items()}
    shapes_s = {k: v.shape for k, v in student.state_dict().items()}
    assert shapes_t.keys() == shapes_s.keys()
    assert [k for k in shapes_t if shapes_t[k] != shapes_s[k]] == ["blocks.0.body.0.conv.weight",
                                                                     "blocks.0.shortcut.0.weight"]


def test_resnet_errors_and_the_encoder_families() -> None:
    with pytest.raises(ValueError, match=r"ResNetEncoder expects x of shape \(N, 2, T\), got \(1, 1, 40\).*observe"):
        ResNetEncoder(2, 10)(torch.randn(1, 1, 40))
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        ResNetEncoder(1, 1)
    with pytest.raises(ValueError, match="kernel_sizes must hold at least one"):
        ResNetEncoder(1, 3, kernel_sizes=())
    assert ENCODER_FAMILIES == ("early_resnet", "early_encoder")
    assert isinstance(build_encoder("early_resnet", 1, 3), ResNetEncoder)
    old = build_encoder("early_encoder", 1, 3)
    assert isinstance(old, SequenceEncoder) and (old.depth, old.pool, old.width) == (2, 4, 32)
    with pytest.raises(ValueError, match=r"encoder families \('early_resnet', 'early_encoder'\), got 'resnet'"):
        build_encoder("resnet", 1, 3)
    with pytest.raises(ValueError, match=r"encoder family of the early task.*--task early"):
        build_models("early_resnet", (1, 40))
