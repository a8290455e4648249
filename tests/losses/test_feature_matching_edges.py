"""Edge cases of the feature-matching loss (issue 14, points 5 and 7): empty batches, callable
distances, (B,) features, devices, options validated once, and torch.compile with fullgraph."""

from __future__ import annotations

import math
import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import featmatch
from featmatch import FeatureMatchingLoss, feature_matching_loss
from featmatch.losses import STATISTICS

ALL_STATISTICS = list(STATISTICS)


# ---------------------------------------------------------------- empty features


@pytest.mark.parametrize("statistic", ALL_STATISTICS)
@pytest.mark.parametrize("shape", [(0, 3), (4, 0), (0,)])
def test_empty_features_raise_value_error_naming_layer_and_shape(statistic, shape):
    fake = {"conv1": torch.ones(shape, requires_grad=True)}
    real = {"conv1": torch.zeros(shape)}
    with pytest.raises(ValueError, match=r"layer 'conv1'.*" + re.escape(str(tuple(shape)))):
        feature_matching_loss(fake, real, statistic=statistic)


def test_empty_real_batch_with_batch_statistics():
    with pytest.raises(ValueError, match=r"real.*\(0, 3\)"):
        feature_matching_loss(torch.ones(4, 3), torch.zeros(0, 3), statistic="mean")


# ---------------------------------------------------------------- callable distance


def test_callable_distance_returning_non_scalar_raises():
    f, r = torch.ones(2, 3, requires_grad=True), torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"distance.*scalar.*\(2, 3\)"):
        feature_matching_loss(f, r, distance=lambda a, b: (a - b).abs())


def test_callable_distance_returning_non_tensor_raises():
    f, r = torch.ones(2, 3, requires_grad=True), torch.zeros(2, 3)
    with pytest.raises(TypeError, match=r"distance.*float"):
        feature_matching_loss(f, r, distance=lambda a, b: 1.0)


# ---------------------------------------------------------------- (B,) features


@pytest.mark.parametrize("statistic", ALL_STATISTICS)
def test_one_dimensional_features_are_one_feature_per_sample(statistic):
    """(B,) features mean B samples of one scalar feature, for every statistic alike."""
    g = torch.Generator().manual_seed(0)
    f1 = torch.randn(6, generator=g, dtype=torch.float64)
    r1 = torch.randn(6, generator=g, dtype=torch.float64)
    torch.manual_seed(1)
    one_d = feature_matching_loss(f1, r1, statistic=statistic)
    torch.manual_seed(1)
    two_d = feature_matching_loss(f1[:, None], r1[:, None], statistic=statistic)
    torch.testing.assert_close(one_d, two_d, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- devices


def test_fake_and_real_on_different_devices_raise_naming_both():
    fake = {"h": torch.empty(4, 3, device="meta")}
    real = {"h": torch.zeros(4, 3)}
    with pytest.raises(ValueError, match=r"layer 'h'.*meta.*cpu"):
        feature_matching_loss(fake, real)


def test_layers_on_different_devices_raise_naming_both():
    fake = [torch.ones(4, 3), torch.empty(4, 3, device="meta")]
    real = [torch.zeros(4, 3), torch.empty(4, 3, device="meta")]
    with pytest.raises(ValueError, match=r"layer '1'.*meta.*cpu"):
        feature_matching_loss(fake, real)


# ---------------------------------------------------------------- options, declared once


def test_options_object_is_frozen_and_validated_at_construction():
    options = featmatch.FeatureMatchingOptions(weight=2.0, layers=["a"], bandwidths=[1.0])
    assert options.layers == ("a",) and options.bandwidths == (1.0,)
    with pytest.raises(Exception, match="cannot assign"):
        options.weight = 3.0  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"weight must be a finite number, got nan"):
        featmatch.FeatureMatchingOptions(weight=math.nan)


def test_module_validates_once_not_per_forward(monkeypatch):
    from featmatch.losses import feature_matching as fm

    criterion = FeatureMatchingLoss(weight=2.0)
    calls = []
    real_validate = fm._validate_options
    monkeypatch.setattr(fm, "_validate_options", lambda o: calls.append(o) or real_validate(o))
    criterion(torch.ones(2, 3), torch.zeros(2, 3))
    criterion(torch.ones(2, 3), torch.zeros(2, 3))
    assert calls == []


def test_unknown_option_names_the_argument():
    with pytest.raises(TypeError, match=r"unknown option 'wieght'.*weight"):
        feature_matching_loss(torch.ones(2, 3), torch.zeros(2, 3), wieght=2.0)
    with pytest.raises(TypeError, match=r"unknown option 'wieght'") as caught:
        FeatureMatchingLoss(wieght=2.0)
    from featmatch.errors import InputError

    assert isinstance(caught.value, InputError)  # the CLI reports it in one line


def test_presets_are_validated_options():
    for name, preset in featmatch.PRESETS.items():
        assert isinstance(preset.settings, featmatch.FeatureMatchingOptions), name
        for key, value in preset.options.items():
            assert getattr(preset.settings, key) == value, (name, key)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"layer_weights": [1.0, math.inf]}, r"layer_weights.*finite.*inf"),
        ({"relative": "yes"}, r"relative must be a bool, got 'yes'"),
        ({"bandwidths": 1.0}, r"bandwidths must be a non-empty sequence"),
    ],
)
def test_more_options_checked_at_construction(bad, match):
    with pytest.raises(ValueError, match=match):
        FeatureMatchingLoss(**bad)


# ---------------------------------------------------------------- torch.compile, fullgraph


def _compile_features():
    g = torch.Generator().manual_seed(0)
    fake = [[torch.randn(4, 3, 5, generator=g), torch.randn(4, 6, generator=g), torch.randn(4, 1, generator=g)]]
    real = [[torch.randn(4, 3, 5, generator=g), torch.randn(4, 6, generator=g), torch.randn(4, 1, generator=g)]]
    return fake, real


def test_two_losses_with_different_options_compile_fullgraph_and_match_eager():
    # backend="aot_eager" traces the whole graph with fullgraph=True (what the issue is about:
    # a graph break or an untraceable Python check fails it) and runs the forward and backward
    # graphs through autograd, without inductor's C++ compilation, which costs tens of seconds here.
    torch._dynamo.reset()
    fake, real = _compile_features()
    for criterion in (FeatureMatchingLoss.from_preset("pix2pixhd"), FeatureMatchingLoss.from_preset("pix2pixhd", weight=3.0),
                      FeatureMatchingLoss(statistic="mean", distance="mse", relative=True)):
        compiled = torch.compile(criterion, backend="aot_eager", fullgraph=True)
        torch.testing.assert_close(compiled(fake, real), criterion(fake, real))


# ---------------------------------------------------------------- property: finite scalar or a clear error

_SHAPES = st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple)


@st.composite
def _feature_pairs(draw):
    n_layers = draw(st.integers(1, 3))
    fake, real = [], []
    for _ in range(n_layers):
        shape_f = draw(_SHAPES)
        shape_r = draw(st.one_of(st.just(shape_f), _SHAPES))
        value = draw(st.floats(-100, 100, allow_nan=False))
        fake.append(torch.full(shape_f, value, dtype=torch.float64) + torch.linspace(0, 1, math.prod(shape_f), dtype=torch.float64).reshape(shape_f))
        real.append(torch.full(shape_r, draw(st.floats(-100, 100, allow_nan=False)), dtype=torch.float64))
    return fake, real


_OPTIONS = st.fixed_dictionaries(
    {
        "statistic": st.sampled_from(ALL_STATISTICS),
        "distance": st.sampled_from(["l1", "mse", "huber", "smooth_l1", lambda a, b: (a - b).abs()]),
        "relative": st.booleans(),
        "layer_reduction": st.sampled_from(["mean", "sum"]),
        "drop_logits": st.booleans(),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=_feature_pairs(), options=_OPTIONS)
def test_property_finite_scalar_or_clear_error(pair, options):
    fake, real = pair
    try:
        loss = feature_matching_loss(fake, real, num_random_features=8, **options)
    except (ValueError, TypeError):
        return
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0
    assert torch.isfinite(loss), (loss, [t.shape for t in fake], [t.shape for t in real], options)


# ---------------------------------------------------------------- presets: what they cite


def ref_spade(fake, real):
    """SPADE pix2pix_model.py: sum over the intermediate outputs of L1 * lambda_feat / num_D (no 4/L)."""
    total = 0.0
    for fd, rd in zip(fake, real):
        for f, r in zip(fd[:-1], rd[:-1]):
            total = total + (f - r).abs().mean() * 10.0 / len(fake)
    return total


def _layers(num_d, num_entries, seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda: [[torch.randn(2, 3, generator=g, dtype=torch.float64) for _ in range(num_entries)] for _ in range(num_d)]
    return make(), make()


@pytest.mark.parametrize("n_layers_D", [3, 4, 5])
def test_spade_preset_matches_spade_at_every_depth(n_layers_D):
    # SPADE's NLayerDiscriminator returns n_layers_D block outputs, then the logits.
    fake, real = _layers(2, n_layers_D + 1)
    got = FeatureMatchingLoss.from_preset("spade")(fake, real)
    torch.testing.assert_close(got, ref_spade(fake, real), rtol=1e-12, atol=1e-12)
    pix2pixhd = FeatureMatchingLoss.from_preset("pix2pixhd")(fake, real)
    # pix2pixhd weights each of the L matched layers 4/L: equal to SPADE only when L = 4.
    torch.testing.assert_close(pix2pixhd, got * 4.0 / n_layers_D, rtol=1e-12, atol=1e-12)


def test_encodec_cites_what_its_code_computes():
    preset = featmatch.PRESETS["encodec"]
    assert "stftloss" not in preset.code  # an unrelated file (STFT losses) was cited
    assert "does not divide" in preset.code
    # audiocraft's FeatureMatchingLoss, re-implemented: mean over layers of plain L1 (mean|real|
    # is summed into feat_scale but never used), averaged over sub-discriminators: the encodec
    # preset without relative=True.
    fake, real = _layers(3, 4)
    audiocraft = sum(sum((f - r).abs().mean() for f, r in zip(fd, rd)) / len(fd) for fd, rd in zip(fake, real)) / 3
    got = FeatureMatchingLoss.from_preset("encodec", relative=False)(fake, real)
    torch.testing.assert_close(got, audiocraft, rtol=1e-12, atol=1e-12)


def test_signatures_list_the_options_declared_once():
    import inspect

    names = [f.name for f in __import__("dataclasses").fields(featmatch.FeatureMatchingOptions)]
    for target in (feature_matching_loss, FeatureMatchingLoss):
        params = inspect.signature(target).parameters
        assert [n for n in params if n in names] == names
        assert params["weight"].default == 1.0 and "return_terms" in params
