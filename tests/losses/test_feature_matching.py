"""The feature-matching loss against references written independently here, in float64."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

import featmatch
import featmatch.losses._fused as featmatch_fused
import featmatch.losses.feature_matching as featmatch_fm
from featmatch import (
    DiscriminatorOutput,
    FeatureMatchingLoss,
    FeatureMatchingOptions,
    feature_matching_loss,
)

# ---------------------------------------------------------------- independent references


def ref_salimans(fake, real):
    """Improved-GAN MNIST: mean over feature dims of (mean_batch(f) - mean_batch(r))^2; mean over D."""
    per_d = []
    for fd, rd in zip(fake, real):
        per_layer = [((f.mean(0) - r.mean(0)) ** 2).mean() for f, r in zip(fd, rd)]
        per_d.append(sum(per_layer) / len(per_layer))
    return sum(per_d) / len(per_d)


def ref_pix2pixhd(fake, real):
    """pix2pixHD: sum_i D_weights * sum_{j < last} feat_weights * L1(f_ij, r_ij) * lambda_feat."""
    num_d = len(fake)
    total = 0.0
    for fd, rd in zip(fake, real):
        used = len(fd) - 1
        feat_weights = 4.0 / used
        for j in range(used):
            total = total + (1.0 / num_d) * feat_weights * (fd[j] - rd[j]).abs().mean() * 10.0
    return total


def ref_spade(fake, real):
    """SPADE: sum_i sum_{j < last} L1(f_ij, r_ij) * lambda_feat / num_D (no per-layer weight)."""
    total = 0.0
    for fd, rd in zip(fake, real):
        for j in range(len(fd) - 1):
            total = total + (fd[j] - rd[j]).abs().mean() * 10.0 / len(fake)
    return total


def ref_hifigan(fake, real):
    total = 0.0
    for fd, rd in zip(fake, real):
        for f, r in zip(fd, rd):
            total = total + (r - f).abs().mean()
    return total * 2


def ref_encodec(fake, real, eps=1e-8):
    per_d = []
    for fd, rd in zip(fake, real):
        per_layer = [(f - r).abs().mean() / (r.abs().mean() + eps) for f, r in zip(fd, rd)]
        per_d.append(sum(per_layer) / len(per_layer))
    return sum(per_d) / len(per_d)


def ref_layer_mse(fake, real):
    per_d = []
    for fd, rd in zip(fake, real):
        per_layer = [((f - r) ** 2).mean() for f, r in zip(fd, rd)]
        per_d.append(sum(per_layer) / len(per_layer))
    return sum(per_d) / len(per_d)


REFERENCES = {
    "salimans2016": ref_salimans,
    "pix2pixhd": ref_pix2pixhd,
    "spade": ref_spade,
    "hifigan": ref_hifigan,
    "encodec": ref_encodec,
    "layer_mse": ref_layer_mse,
}


def make_features(num_d=3, shapes=((6, 4, 5), (6, 8, 3), (6, 2), (6, 1)), dtype=torch.float64, seed=0):
    """Several discriminators with different numbers of layers (the last D has one layer fewer)."""
    g = torch.Generator().manual_seed(seed)
    fake, real = [], []
    for d in range(num_d):
        layer_shapes = shapes if d < num_d - 1 else shapes[1:]
        fake.append([torch.randn(s, generator=g, dtype=dtype).requires_grad_() for s in layer_shapes])
        real.append([torch.randn(s, generator=g, dtype=dtype) + 0.5 for s in layer_shapes])
    return fake, real


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("preset", sorted(featmatch.PRESETS))
@pytest.mark.parametrize("fused", [True, False])
def test_preset_matches_reference(preset, fused):
    fake, real = make_features()
    options = featmatch.PRESETS[preset].options
    if fused:  # float32 features, forced through the fused path where the preset allows it
        fake = [[t.detach().float().requires_grad_() for t in d] for d in fake]
        real = [[t.float() for t in d] for d in real]
        fused = True if options["statistic"] == "paired" and options["distance"] in ("l1", "mse") else None
    expected = REFERENCES[preset](fake, real)
    loss = FeatureMatchingLoss.from_preset(preset, fused=fused)(fake, real)
    assert loss.dtype == fake[0][0].dtype  # float64 stays float64; float32 stays float32
    tol = 1e-12 if loss.dtype == torch.float64 else 1e-5
    torch.testing.assert_close(loss.double(), expected.detach().double(), rtol=tol, atol=tol)


@pytest.mark.parametrize("preset", sorted(featmatch.PRESETS))
def test_preset_gradient_matches_reference(preset):
    fake, real = make_features(dtype=torch.float32)
    flat = [t for d in fake for t in d]
    got = torch.autograd.grad(FeatureMatchingLoss.from_preset(preset)(fake, real), flat, allow_unused=True)
    want = torch.autograd.grad(REFERENCES[preset](fake, real), flat, allow_unused=True)
    for a, b in zip(got, want):
        assert (a is None) == (b is None)  # pix2pixHD leaves the logits out
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_mean_std_statistic_reference():
    fake, real = make_features(num_d=1)
    loss = feature_matching_loss(fake, real, statistic="mean_std", distance="l1")
    per_layer = [
        (f.mean(0) - r.mean(0)).abs().mean() + (f.std(0) - r.std(0)).abs().mean()
        for f, r in zip(fake[0], real[0])
    ]
    torch.testing.assert_close(loss, (sum(per_layer) / len(per_layer)).detach())


@pytest.mark.parametrize("distance", ["huber", "smooth_l1"])
def test_huber_distances(distance):
    f = torch.tensor([[0.0, 0.5, 3.0]], requires_grad=True)
    r = torch.zeros(1, 3)
    loss = feature_matching_loss(f, r, distance=distance, huber_delta=1.0)
    # |d| <= 1: d^2/2 ; |d| > 1: |d| - 1/2 (delta = beta = 1 makes both definitions agree)
    expected = (0.0 + 0.125 + 2.5) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_callable_distance_and_weight():
    f = [torch.full((2, 3), 2.0, requires_grad=True)]
    r = [torch.zeros(2, 3)]
    loss = feature_matching_loss(f, r, distance=lambda a, b: (a - b).pow(4).mean(), weight=0.5)
    assert loss.item() == pytest.approx(8.0)


def test_zero_on_identical_inputs():
    fake, _ = make_features()
    for preset in featmatch.PRESETS:
        loss = FeatureMatchingLoss.from_preset(preset)(fake, [[t.detach().clone() for t in d] for d in fake])
        assert loss.item() == pytest.approx(0.0, abs=1e-7), preset


# ---------------------------------------------------------------- structure and options


def test_input_forms_agree():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4, 3, generator=g), torch.randn(4, 5, generator=g)
    ra, rb = torch.randn(4, 3, generator=g), torch.randn(4, 5, generator=g)
    as_list = feature_matching_loss([a, b], [ra, rb])
    as_map = feature_matching_loss({"x": a, "y": b}, {"x": ra, "y": rb})
    as_out = feature_matching_loss(
        DiscriminatorOutput(torch.zeros(4), {"x": a, "y": b}),
        DiscriminatorOutput(torch.ones(4), {"x": ra, "y": rb}),
    )
    as_multi = feature_matching_loss([[a, b]], [[ra, rb]])
    for value in (as_map, as_out, as_multi):
        torch.testing.assert_close(value, as_list)
    single = feature_matching_loss(a, ra)
    torch.testing.assert_close(single, (a - ra).abs().mean())


def test_discriminator_output_logits_are_not_features():
    f = DiscriminatorOutput(torch.full((2,), 100.0), {"h": torch.ones(2, 3)})
    r = DiscriminatorOutput(torch.zeros(2), {"h": torch.ones(2, 3)})
    assert feature_matching_loss(f, r, drop_logits=True).item() == 0.0  # nothing dropped from it


def test_layer_selection():
    g = torch.Generator().manual_seed(2)
    fake = [torch.randn(2, 3, generator=g) for _ in range(4)]
    real = [torch.randn(2, 3, generator=g) for _ in range(4)]
    dist = [(f - r).abs().mean() for f, r in zip(fake, real)]
    close = lambda x, y: torch.testing.assert_close(x, torch.as_tensor(y, dtype=torch.float32))
    close(feature_matching_loss(fake, real, drop_logits=True), sum(dist[:3]) / 3)
    close(feature_matching_loss(fake, real, skip_first=1), sum(dist[1:]) / 3)
    close(feature_matching_loss(fake, real, drop_logits=True, skip_first=1), (dist[1] + dist[2]) / 2)
    close(feature_matching_loss(fake, real, layers=[0, -1]), (dist[0] + dist[3]) / 2)
    named_f = {f"l{i}": t for i, t in enumerate(fake)}
    named_r = {f"l{i}": t for i, t in enumerate(real)}
    close(feature_matching_loss(named_f, named_r, layers=["l2"]), dist[2])


def test_layer_weights_and_reductions():
    fake = [torch.full((2, 2), 1.0), torch.full((2, 2), 2.0)]
    real = [torch.zeros(2, 2), torch.zeros(2, 2)]
    assert feature_matching_loss(fake, real, layer_weights=[3.0, 1.0]).item() == pytest.approx(2.5)
    assert feature_matching_loss(fake, real, layer_weights={"0": 1.0, "1": 0.0}, layer_reduction="sum").item() == pytest.approx(1.0)
    assert feature_matching_loss(fake, real, layer_weights="pix2pixhd", layer_reduction="sum").item() == pytest.approx(6.0)
    two = feature_matching_loss([fake, fake[:1]], [real, real[:1]], layer_reduction="sum", discriminator_reduction="sum")
    assert two.item() == pytest.approx(4.0)


def test_relative_normalisation():
    fake = [torch.full((2, 2), 3.0)]
    real = [torch.full((2, 2), -2.0)]
    loss = feature_matching_loss(fake, real, relative=True, eps=0.0)
    assert loss.item() == pytest.approx(5.0 / 2.0)


def test_return_terms_names_and_values():
    fake, real = make_features(num_d=2, dtype=torch.float32)
    loss, terms = feature_matching_loss(fake, real, return_terms=True, layer_reduction="sum", discriminator_reduction="sum")
    assert list(terms) == ["d0.0", "d0.1", "d0.2", "d0.3", "d1.0", "d1.1", "d1.2"]
    torch.testing.assert_close(sum(terms.values()), loss.detach())
    assert all(not t.requires_grad for t in terms.values())
    _, single = FeatureMatchingLoss(return_terms=True)({"a": torch.ones(2)}, {"a": torch.zeros(2)})
    assert list(single) == ["a"]


def test_statistics_accept_different_batch_sizes():
    fake = torch.randn(5, 3)
    real = torch.randn(9, 3)
    loss = feature_matching_loss(fake, real, statistic="mean", distance="mse")
    torch.testing.assert_close(loss, ((fake.mean(0) - real.mean(0)) ** 2).mean())


# ---------------------------------------------------------------- gradients


def test_real_side_gets_no_gradient_even_if_not_detached():
    for fused in (None, False):
        fake = torch.randn(3, 4, requires_grad=True)
        real = torch.randn(3, 4, requires_grad=True)
        feature_matching_loss(fake, real * 1.0, fused=fused).backward()
        assert real.grad is None
        assert fake.grad is not None


@pytest.mark.parametrize("statistic", ["paired", "mean", "mean_std"])
@pytest.mark.parametrize("distance", ["l1", "mse", "huber"])
def test_gradcheck_float64(statistic, distance):
    g = torch.Generator().manual_seed(3)
    fake = [torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(4, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)]
    real = [torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 2, 2, generator=g, dtype=torch.float64)]

    def fn(a, b):
        return feature_matching_loss([a, b], real, statistic=statistic, distance=distance)

    assert torch.autograd.gradcheck(fn, tuple(fake))


@pytest.mark.parametrize("distance", ["l1", "mse"])
def test_fused_equals_autograd(distance):
    fake, real = make_features(dtype=torch.float32, shapes=((8, 16, 33, 33), (8, 70000), (8, 5)))
    flat = [t for d in fake for t in d]
    a = feature_matching_loss(fake, real, distance=distance, fused=True)
    ga = torch.autograd.grad(a * 3.0, flat)
    b = feature_matching_loss(fake, real, distance=distance, fused=False)
    gb = torch.autograd.grad(b * 3.0, flat)
    torch.testing.assert_close(a, b)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y)
    options = dict(distance=distance, relative=True, layer_weights=[1.0, 2.0, 3.0, 4.0][: len(fake[0])])
    _, terms_a = feature_matching_loss(fake[:1], real[:1], fused=True, return_terms=True, **options)
    _, terms_b = feature_matching_loss(fake[:1], real[:1], fused=False, return_terms=True, **options)
    assert list(terms_a) == list(terms_b)
    for name in terms_a:
        torch.testing.assert_close(terms_a[name], terms_b[name])


def test_fused_is_chosen_automatically_only_where_it_pays():
    big = torch.randn(4, 1 << 16, requires_grad=True)  # 2^18 values on the CPU
    small = torch.randn(4, 8, requires_grad=True)
    assert "Fused" in type(feature_matching_loss(big, torch.zeros_like(big)).grad_fn).__name__
    assert "Fused" not in type(feature_matching_loss(small, torch.zeros(4, 8)).grad_fn).__name__
    with torch.no_grad():
        assert feature_matching_loss(big, torch.zeros_like(big)).grad_fn is None
    mean = feature_matching_loss(big, torch.zeros_like(big), statistic="mean")
    assert "Fused" not in type(mean.grad_fn).__name__
    big64 = big.detach().double().requires_grad_()  # float64: autograd's exact path unless asked
    assert "Fused" not in type(feature_matching_loss(big64, torch.zeros_like(big64)).grad_fn).__name__
    assert "Fused" in type(feature_matching_loss(big64, torch.zeros_like(big64), fused=True).grad_fn).__name__
    rff = feature_matching_loss(small, torch.zeros(4, 8), statistic="rff", num_random_features=4)
    assert FUSED_NODE["rff"] in _graph_names(rff)


def _on(device, numel=1 << 20, requires_grad=True, dtype=torch.float32):
    """A stand-in for a tensor on ``device`` (CUDA cannot be allocated here): what the rule reads."""
    return SimpleNamespace(device=torch.device(device), dtype=dtype, requires_grad=requires_grad, numel=lambda: numel)


PAIRED_L1 = FeatureMatchingOptions()
RFF = FeatureMatchingOptions(statistic="rff")


@pytest.mark.parametrize("options", [PAIRED_L1, FeatureMatchingOptions(distance="mse"), RFF], ids=["l1", "mse", "rff"])
def test_auto_rule_is_fused_on_cpu_only(options):
    def tensors(device):
        return [_on(device), _on(device, requires_grad=False)]

    assert featmatch_fm._use_fused(options, tensors("cpu"))
    for device in ("cuda", "meta", "mps"):  # never measured there: autograd's path
        assert not featmatch_fm._use_fused(options, tensors(device))
        assert featmatch_fm._use_fused(dataclasses.replace(options, fused=True), tensors(device))
    assert not featmatch_fm._use_fused(dataclasses.replace(options, fused=False), tensors("cpu"))


def test_auto_rule_on_meta_tensors_end_to_end():
    fake = torch.empty(4, 1 << 16, device="meta", requires_grad=True)
    real = torch.empty(4, 1 << 16, device="meta")
    assert "Fused" not in type(feature_matching_loss(fake, real).grad_fn).__name__
    assert FUSED_NODE["rff"] not in _graph_names(feature_matching_loss(fake, real, statistic="rff", num_random_features=4))


def test_auto_rule_paired_needs_size_gradient_and_float32():
    threshold = featmatch_fm._FUSED_MIN_ELEMENTS
    assert featmatch_fm._use_fused(PAIRED_L1, [_on("cpu", threshold)])
    assert not featmatch_fm._use_fused(PAIRED_L1, [_on("cpu", threshold - 1)])
    # Only generated values that need a gradient count; the real side never does.
    assert not featmatch_fm._use_fused(PAIRED_L1, [_on("cpu", threshold - 1), _on("cpu", threshold, requires_grad=False)])
    assert featmatch_fm._use_fused(PAIRED_L1, [_on("cpu", dtype=torch.bfloat16)])  # computed in float32
    assert not featmatch_fm._use_fused(PAIRED_L1, [_on("cpu", dtype=torch.float64)])
    assert not featmatch_fm._use_fused(FeatureMatchingOptions(distance="huber"), [_on("cpu")])
    assert not featmatch_fm._use_fused(FeatureMatchingOptions(statistic="mean"), [_on("cpu")])
    with torch.no_grad():
        assert not featmatch_fm._use_fused(PAIRED_L1, [_on("cpu")])
        assert featmatch_fm._use_fused(RFF, [_on("cpu")])


@pytest.mark.parametrize("options", [PAIRED_L1, RFF], ids=["paired", "rff"])
def test_auto_rule_off_under_torch_compile(options, monkeypatch):
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert not featmatch_fm._use_fused(options, [_on("cpu")])
    assert featmatch_fm._use_fused(dataclasses.replace(options, fused=True), [_on("cpu")])


def _graph_names(tensor):
    """Names of every autograd node behind ``tensor``."""
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:
            seen.add(node)
            stack.extend(next_fn for next_fn, _ in node.next_functions)
    return {type(node).__name__ for node in seen}


FUSED_NODE = {"paired": "_FusedFeatureMatchingBackward", "rff": "_FourierFeatureSumBackward"}


def _retain_features():
    g = torch.Generator().manual_seed(5)
    fake = [torch.randn(6, 4, 3, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)]
    real = [torch.randn(6, 4, 3, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)]
    return fake, real


@pytest.mark.parametrize("statistic", ["paired", "rff"])
@pytest.mark.parametrize("distance", ["l1", "mse"])
def test_retain_graph_second_backward_equals_autograd(statistic, distance):
    # float64, so the fused path and autograd's agree to rounding: every backward pass through
    # the fused path, the second one under retain_graph=True included, gives autograd's gradient.
    fake, real = _retain_features()
    options = {"statistic": statistic, "distance": distance, "layer_weights": [1.0, 3.0], "num_random_features": 8}
    grads = {}
    for fused in (True, False):
        torch.manual_seed(0)  # the same random Fourier directions for both paths
        loss = feature_matching_loss(fake, real, fused=fused, **options)
        assert (FUSED_NODE[statistic] in _graph_names(loss)) is fused
        for t in fake:
            t.grad = None
        loss.backward(retain_graph=True)  # gradient 1: the saved buffer itself
        first = [t.grad.clone() for t in fake]
        loss.backward(retain_graph=True)
        second = [t.grad - f for t, f in zip(fake, first)]
        # Gradient 3: a scaled copy, twice, then without retain_graph.
        scaled = [torch.autograd.grad(loss * 3.0, fake, retain_graph=True) for _ in range(2)]
        scaled.append(torch.autograd.grad(loss * 3.0, fake))
        grads[fused] = (first, second, *[[g / 3.0 for g in s] for s in scaled])
    want = grads[False][0]
    assert all(w.abs().sum() > 0 for w in want)
    for got in (*grads[True], *grads[False][1:]):
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("statistic", ["paired", "rff"])
@pytest.mark.parametrize("distance", ["l1", "mse"])
def test_gradcheck_float64_fused(statistic, distance):
    # gradcheck backpropagates twice through one graph (its reentrancy check uses retain_graph),
    # so it also covers the retained second pass against finite differences.
    fake, real = _retain_features()

    def fn(a, b):
        with torch.random.fork_rng():
            torch.manual_seed(0)  # every evaluation sees the same random Fourier directions
            return feature_matching_loss([a, b], real, statistic=statistic, distance=distance, fused=True,
                                         num_random_features=8)

    assert FUSED_NODE[statistic] in _graph_names(fn(*fake))
    assert torch.autograd.gradcheck(fn, tuple(fake))


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_fused_gradient_changed_in_place_does_not_change_the_next_pass(scale):
    # Under retain_graph=True each pass hands out a copy of the saved gradient: what the caller
    # does to it (or to .grad) does not reach the next pass.
    fake = torch.randn(4, 3, requires_grad=True)
    want = torch.sign(fake.detach()) * scale / fake.numel()
    loss = feature_matching_loss(fake, torch.zeros(4, 3), fused=True) * scale
    (first,) = torch.autograd.grad(loss, fake, retain_graph=True)
    first.zero_()
    loss.backward(retain_graph=True)
    fake.grad.mul_(100.0)
    (second,) = torch.autograd.grad(loss, fake)
    torch.testing.assert_close(second, want)


def test_fused_without_the_keep_graph_probe_copies_and_stays_correct(monkeypatch):
    # A torch without the private probe: every pass is treated as keeping the graph.
    monkeypatch.setattr(featmatch_fused, "_graph_is_kept", lambda: True)
    fake = torch.randn(4, 3, requires_grad=True)
    loss = feature_matching_loss(fake, torch.zeros(4, 3), distance="mse", fused=True)
    grads = [torch.autograd.grad(loss * 2.0, fake, retain_graph=True)[0] for _ in range(2)]
    for grad in grads:
        torch.testing.assert_close(grad, 2.0 * 2.0 * fake.detach() / fake.numel())


def test_fused_gradient_goes_to_grad_without_a_copy():
    # Why the path is fast: without retain_graph the gradient written in the forward pass becomes
    # the leaf's .grad as it is. Under retain_graph=True it is copied (it serves the next pass).
    saved = []

    def pack(t):
        saved.append(t.data_ptr())
        return t

    for retain in (False, True):
        saved.clear()
        fake = torch.randn(4, 1000, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = feature_matching_loss(fake, torch.zeros(4, 1000), fused=True)
        loss.backward(retain_graph=retain)
        assert (fake.grad.data_ptr() in saved) is not retain


def test_no_grad_and_non_contiguous_inputs():
    base = torch.randn(4, 6, 5)
    fake = base.transpose(1, 2)  # non-contiguous
    real = torch.zeros(4, 5, 6)
    with torch.no_grad():
        loss = feature_matching_loss(fake, real)
    torch.testing.assert_close(loss, fake.abs().mean())
    f = fake.clone().requires_grad_()
    (g,) = torch.autograd.grad(feature_matching_loss(f.transpose(1, 2), real.transpose(1, 2), fused=True), f)
    torch.testing.assert_close(g, torch.sign(f.detach()) / f.numel())


# ---------------------------------------------------------------- module, precision, compile


def test_module_equals_function():
    fake, real = make_features(dtype=torch.float32)
    options = dict(distance="mse", statistic="mean_std", layer_reduction="sum", weight=3.0, skip_first=1)
    torch.testing.assert_close(FeatureMatchingLoss(**options)(fake, real), feature_matching_loss(fake, real, **options))
    assert "weight=3.0" in repr(FeatureMatchingLoss(**options))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("fused", [True, False])
def test_half_precision_computes_in_float32(dtype, fused):
    fake32, real32 = make_features(num_d=1, dtype=torch.float32)
    fake = [[t.detach().to(dtype).requires_grad_() for t in fake32[0]]]
    real = [[t.to(dtype) for t in real32[0]]]
    loss = feature_matching_loss(fake, real, fused=fused)
    assert loss.dtype == torch.float32
    expected = feature_matching_loss([[t.float() for t in fake[0]]], [[t.float() for t in real[0]]])
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(loss, fake[0])
    assert all(g.dtype == dtype and torch.isfinite(g).all() for g in grads)


def test_torch_compile_matches_eager():
    fake, real = make_features(num_d=2, dtype=torch.float32)
    criterion = FeatureMatchingLoss.from_preset("pix2pixhd")
    compiled = torch.compile(criterion, backend="aot_eager", fullgraph=False)
    torch.testing.assert_close(compiled(fake, real), criterion(fake, real))
    flat = [t for d in fake for t in d]
    got = torch.autograd.grad(compiled(fake, real), flat, allow_unused=True)
    want = torch.autograd.grad(criterion(fake, real), flat, allow_unused=True)
    for a, b in zip(got, want):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b)


# ---------------------------------------------------------------- errors


def test_error_different_numbers_of_discriminators():
    fake, real = make_features(num_d=2)
    with pytest.raises(ValueError, match="fake has 2 discriminators but real has 1"):
        feature_matching_loss(fake, real[:1])


def test_error_different_numbers_of_layers():
    f = [torch.zeros(2, 3)] * 3
    with pytest.raises(ValueError, match="fake has 3 layers but real has 2"):
        feature_matching_loss(f, f[:2])


def test_error_mapping_keys_named():
    with pytest.raises(ValueError, match=r"only in fake: \['b'\], only in real: \['c'\]"):
        feature_matching_loss({"a": torch.zeros(1), "b": torch.zeros(1)}, {"a": torch.zeros(1), "c": torch.zeros(1)})


def test_error_shape_mismatch_names_layer_and_shapes():
    with pytest.raises(ValueError, match=r"layer 'h'.*\(2, 3\) vs real \(2, 4\)"):
        feature_matching_loss({"h": torch.zeros(2, 3)}, {"h": torch.zeros(2, 4)})


def test_error_batch_size_in_paired_mode_suggests_statistics():
    with pytest.raises(ValueError, match="statistic='mean'"):
        feature_matching_loss(torch.zeros(2, 3), torch.zeros(5, 3))


def test_error_empty_input():
    with pytest.raises(ValueError, match="empty"):
        feature_matching_loss([], [])
    with pytest.raises(ValueError, match="empty"):
        feature_matching_loss({}, {})


@pytest.mark.parametrize(
    "option, value, pattern",
    [
        ("distance", "l3", r"distance must be one of \['l1', 'mse', 'huber', 'smooth_l1'\], got 'l3'"),
        ("statistic", "median", r"statistic must be one of \['paired', 'mean', 'mean_std', 'rff', 'mmd'\]"),
        ("layer_reduction", "max", r"layer_reduction must be one of \['mean', 'sum'\]"),
        ("discriminator_reduction", "prod", r"discriminator_reduction must be one of"),
        ("layer_weights", "stylegan", r"layer_weights must be one of \['pix2pixhd'\]"),
        ("skip_first", -1, r"skip_first must be an int >= 0, got -1"),
    ],
)
def test_error_unknown_option_values(option, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        feature_matching_loss(torch.zeros(2), torch.zeros(2), **{option: value})
    with pytest.raises(ValueError, match=pattern):
        FeatureMatchingLoss(**{option: value})


def test_error_unknown_preset_lists_names():
    with pytest.raises(ValueError, match=r"preset must be one of \['salimans2016', 'pix2pixhd'"):
        FeatureMatchingLoss.from_preset("stylegan")


def test_error_layer_weights_length_and_selection():
    f = [torch.zeros(2)] * 3
    with pytest.raises(ValueError, match="layer_weights has 2 entries but the features has 3 matched layers"):
        feature_matching_loss(f, f, layer_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="no layers left to match"):
        feature_matching_loss(f, f, skip_first=3)
    with pytest.raises(ValueError, match="layers index 5 is out of range"):
        feature_matching_loss(f, f, layers=[5])
    with pytest.raises(ValueError, match="layers name 'x' is not among"):
        feature_matching_loss(f, f, layers=["x"])


def test_error_non_finite_only_when_asked():
    bad = torch.tensor([[1.0, float("nan")]])
    assert torch.isnan(feature_matching_loss(bad, torch.zeros(1, 2)))
    with pytest.raises(ValueError, match=r"fake features at layer '0' contain 1 non-finite"):
        feature_matching_loss(bad, torch.zeros(1, 2), check_finite=True)


def test_error_wrong_types():
    with pytest.raises(TypeError, match="must be a Tensor"):
        feature_matching_loss([torch.zeros(1), "x"], [torch.zeros(1), torch.zeros(1)])
    with pytest.raises(TypeError, match="got int"):
        feature_matching_loss(3, torch.zeros(1))


def test_error_fused_true_on_unsupported_settings():
    with pytest.raises(ValueError, match="fused=True needs statistic='rff', or statistic='paired'"):
        feature_matching_loss(torch.zeros(2, 2), torch.zeros(2, 2), statistic="mean", fused=True)


# ---------------------------------------------------------------- kernel statistics


def ref_gaussian_mmd(x, y, sigmas):
    """Biased MMD^2 by explicit loops over pairs, averaged over kernels."""
    x, y = x.flatten(1).double(), y.flatten(1).double()

    def k_mean(a, b, sigma):
        total = 0.0
        for i in range(a.shape[0]):
            for j in range(b.shape[0]):
                total += torch.exp(-((a[i] - b[j]) ** 2).sum() / (2 * sigma**2))
        return total / (a.shape[0] * b.shape[0])

    return sum(k_mean(x, x, s) + k_mean(y, y, s) - 2 * k_mean(x, y, s) for s in sigmas) / len(sigmas)


def test_mmd_matches_reference_with_bandwidths_scaled_by_width():
    g = torch.Generator().manual_seed(5)
    fake = torch.randn(7, 2, 3, generator=g, dtype=torch.float64)
    real = torch.randn(5, 2, 3, generator=g, dtype=torch.float64) + 0.3
    loss = feature_matching_loss(fake, real, statistic="mmd", bandwidths=(0.5, 2.0))
    width = 6
    expected = ref_gaussian_mmd(fake, real, [0.5 * width**0.5, 2.0 * width**0.5])
    torch.testing.assert_close(loss, expected)
    assert feature_matching_loss(real, real, statistic="mmd").item() == pytest.approx(0.0, abs=1e-12)


def test_rff_estimates_mmd_and_has_gradient():
    torch.manual_seed(0)
    fake = (torch.randn(300, 4) * 0.5).requires_grad_()
    real = torch.randn(200, 4) + 1.0
    exact = feature_matching_loss(fake, real, statistic="mmd", bandwidths=(1.0,))
    approx = feature_matching_loss(fake, real, statistic="rff", distance="mse", bandwidths=(1.0,), num_random_features=20000)
    assert approx.item() == pytest.approx(exact.item(), rel=0.05)
    (grad,) = torch.autograd.grad(approx, fake)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rff_fused_equals_autograd(dtype):
    # Same random directions (same seed), two ways to the batch means: equal values and gradients,
    # for several layers and the real side without gradient.
    g = torch.Generator().manual_seed(3)
    fakes = [torch.randn(64, 5, generator=g, dtype=dtype).requires_grad_() for _ in range(2)]
    reals = [torch.randn(48, 5, generator=g, dtype=dtype) + 0.5 for _ in range(2)]
    results = []
    for fused in (True, False):
        torch.manual_seed(0)
        loss = feature_matching_loss(fakes, reals, statistic="rff", distance="mse", fused=fused,
                                     bandwidths=(0.3, 1.0), num_random_features=16)
        results.append((loss, torch.autograd.grad(loss, fakes)))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a.grad_fn is not None and loss_a.item() > 0
    torch.testing.assert_close(loss_a, loss_b)
    for a, b in zip(grads_a, grads_b, strict=True):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b)


def test_rff_fused_is_differentiable_once():
    fake = torch.randn(8, 3, requires_grad=True)
    loss = feature_matching_loss(fake, torch.randn(8, 3), statistic="rff", distance="mse", fused=None)
    (grad,) = torch.autograd.grad(loss, fake, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        grad.sum().backward()
    # fused=False keeps autograd's graph, so double backward works.
    loss = feature_matching_loss(fake, torch.randn(8, 3), statistic="rff", distance="mse", fused=False)
    (grad,) = torch.autograd.grad(loss, fake, create_graph=True)
    grad.square().sum().backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all()


def test_kernel_option_errors():
    with pytest.raises(ValueError, match=r"bandwidths must be a non-empty sequence of numbers > 0, got \(\)"):
        FeatureMatchingLoss(statistic="rff", bandwidths=())
    with pytest.raises(ValueError, match="num_random_features must be an int >= 1, got 0"):
        FeatureMatchingLoss(statistic="rff", num_random_features=0)
    with pytest.raises(ValueError, match="Hint: use statistic='rff'"):
        FeatureMatchingLoss(statistic="mmd", sync_statistics=True)
