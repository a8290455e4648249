"""Adversarial losses against independent reference formulas, stability, gradients, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from featmatch.features import DiscriminatorOutput
from featmatch.losses.adversarial import (
    ADVERSARIAL_KINDS,
    DiscriminatorLoss,
    GeneratorLoss,
    discriminator_loss,
    generator_loss,
)


def _logits(seed: int, shape: tuple[int, ...] = (6, 1, 3)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64) * 2.0


def _ref_d(real: torch.Tensor, fake: torch.Tensor, kind: str) -> float:
    """Reference values from textbook formulas, in plain Python over the elements."""
    r, f = real.flatten().tolist(), fake.flatten().tolist()
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    if kind == "bce":
        return mean([-math.log(sig(x)) for x in r]) + mean([-math.log(1.0 - sig(x)) for x in f])
    if kind == "hinge":
        return mean([max(0.0, 1.0 - x) for x in r]) + mean([max(0.0, 1.0 + x) for x in f])
    if kind == "lsgan":
        return 0.5 * (mean([(x - 1.0) ** 2 for x in r]) + mean([x**2 for x in f]))
    return mean(f) - mean(r)


def _ref_g(fake: torch.Tensor, kind: str, saturating: bool = False) -> float:
    f = fake.flatten().tolist()
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    sig = lambda x: 1.0 / (1.0 + math.exp(-x))  # noqa: E731
    if kind == "bce":
        if saturating:
            return mean([math.log(1.0 - sig(x)) for x in f])
        return mean([-math.log(sig(x)) for x in f])
    if kind == "lsgan":
        return mean([0.5 * (x - 1.0) ** 2 for x in f])
    return -mean(f)


def test_kinds_tuple() -> None:
    assert ADVERSARIAL_KINDS == ("bce", "hinge", "lsgan", "wgan")


@pytest.mark.parametrize("kind", ADVERSARIAL_KINDS)
def test_discriminator_loss_matches_reference(kind: str) -> None:
    real, fake = _logits(0), _logits(1, (4, 1, 3))  # batches of different size are allowed
    got = discriminator_loss(fake=fake, real=real, kind=kind)
    assert got.shape == ()
    assert got.item() == pytest.approx(_ref_d(real, fake, kind), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("kind", ADVERSARIAL_KINDS)
def test_generator_loss_matches_reference(kind: str) -> None:
    fake = _logits(2)
    got = generator_loss(fake, kind)
    assert got.shape == ()
    assert got.item() == pytest.approx(_ref_g(fake, kind), rel=1e-10, abs=1e-12)


def test_bce_matches_torch_binary_cross_entropy() -> None:
    real, fake = _logits(3), _logits(4)
    expected = F.binary_cross_entropy(torch.sigmoid(real), torch.ones_like(real)) + F.binary_cross_entropy(
        torch.sigmoid(fake), torch.zeros_like(fake)
    )
    torch.testing.assert_close(discriminator_loss(fake=fake, real=real), expected)
    expected_g = F.binary_cross_entropy(torch.sigmoid(fake), torch.ones_like(fake))
    torch.testing.assert_close(generator_loss(fake), expected_g)


def test_bce_saturating_form() -> None:
    fake = _logits(5)
    got = generator_loss(fake, "bce", saturating=True)
    expected = torch.log(1.0 - torch.sigmoid(fake)).mean()
    torch.testing.assert_close(got, expected)
    assert got.item() == pytest.approx(_ref_g(fake, "bce", saturating=True), rel=1e-10)
    # The saturating form's gradient vanishes where D confidently rejects the sample; the default does not.
    x = torch.tensor([-20.0], dtype=torch.float64, requires_grad=True)
    (g_sat,) = torch.autograd.grad(generator_loss(x, saturating=True), x)
    (g_ns,) = torch.autograd.grad(generator_loss(x), x)
    assert abs(g_sat.item()) < 1e-8 and abs(g_ns.item()) > 0.99


def test_stable_at_extreme_logits() -> None:
    big = torch.tensor([100.0, -100.0])
    # bce, D: real=+100 costs ~0, real=-100 costs 100; fake=+100 costs 100, fake=-100 costs ~0.
    d = discriminator_loss(fake=big, real=big, kind="bce")
    assert torch.isfinite(d) and d.item() == pytest.approx(100.0, rel=1e-6)
    d_perfect = discriminator_loss(fake=torch.full((3,), -100.0), real=torch.full((3,), 100.0), kind="bce")
    assert torch.isfinite(d_perfect) and 0.0 <= d_perfect.item() < 1e-40
    # Non-saturating G: -log sigmoid(-100) = 100; saturating: log(1 - sigmoid(100)) = -100.
    assert generator_loss(torch.tensor([-100.0])).item() == pytest.approx(100.0, rel=1e-6)
    assert generator_loss(torch.tensor([100.0]), saturating=True).item() == pytest.approx(-100.0, rel=1e-6)
    x = torch.tensor([100.0, -100.0], requires_grad=True)
    for kind in ADVERSARIAL_KINDS:
        loss = discriminator_loss(fake=x, real=x, kind=kind) + generator_loss(x, kind)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), kind
    # The naive sigmoid-then-log form is not finite here: what this implementation avoids.
    assert not torch.isfinite(-torch.log(torch.sigmoid(torch.tensor(-200.0))))
    assert generator_loss(torch.tensor([-200.0])).item() == pytest.approx(200.0)


@pytest.mark.parametrize("kind", ADVERSARIAL_KINDS)
def test_gradcheck_float64(kind: str) -> None:
    # Keep logits away from the hinge kinks at +-1, where the derivative is undefined.
    real = torch.tensor([0.3, 2.5, -1.7, 0.1], dtype=torch.float64, requires_grad=True)
    fake = torch.tensor([-0.4, 1.6, -2.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r, f: discriminator_loss(fake=f, real=r, kind=kind), (real, fake))
    assert torch.autograd.gradcheck(lambda f: generator_loss(f, kind), (fake,))
    if kind == "bce":
        assert torch.autograd.gradcheck(lambda f: generator_loss(f, kind, saturating=True), (fake,))


@pytest.mark.parametrize("kind", ADVERSARIAL_KINDS)
def test_module_equals_function(kind: str) -> None:
    real, fake = _logits(6), _logits(7)
    assert torch.equal(DiscriminatorLoss(kind)(fake=fake, real=real), discriminator_loss(fake=fake, real=real, kind=kind))
    assert torch.equal(GeneratorLoss(kind)(fake), generator_loss(fake, kind))
    assert torch.equal(GeneratorLoss("bce", saturating=True)(fake), generator_loss(fake, saturating=True))
    assert repr(DiscriminatorLoss(kind)) == f"DiscriminatorLoss(kind={kind!r})"


def test_default_kind_is_bce() -> None:
    real, fake = _logits(8), _logits(9)
    assert torch.equal(discriminator_loss(fake=fake, real=real), discriminator_loss(fake=fake, real=real, kind="bce"))
    assert torch.equal(DiscriminatorLoss()(fake=fake, real=real), discriminator_loss(fake=fake, real=real, kind="bce"))
    assert torch.equal(GeneratorLoss()(fake), generator_loss(fake, "bce", saturating=False))


@pytest.mark.parametrize("kind", ADVERSARIAL_KINDS)
def test_several_discriminators_are_averaged(kind: str) -> None:
    reals = [_logits(10, (4, 1, 5)), _logits(11, (4, 1, 2))]
    fakes = [_logits(12, (4, 1, 5)), _logits(13, (4, 1, 2))]
    expected_d = (_ref_d(reals[0], fakes[0], kind) + _ref_d(reals[1], fakes[1], kind)) / 2
    expected_g = (_ref_g(fakes[0], kind) + _ref_g(fakes[1], kind)) / 2
    assert discriminator_loss(fake=fakes, real=reals, kind=kind).item() == pytest.approx(expected_d, rel=1e-10, abs=1e-12)
    assert generator_loss(fakes, kind).item() == pytest.approx(expected_g, rel=1e-10, abs=1e-12)
    # DiscriminatorOutput, alone or in lists, contributes its logits.
    outs = [DiscriminatorOutput(f, {"0": torch.zeros(1)}) for f in fakes]
    assert torch.equal(generator_loss(outs, kind), generator_loss(fakes, kind))
    assert torch.equal(generator_loss(outs[0], kind), generator_loss(fakes[0], kind))
    real_outs = [DiscriminatorOutput(r, {}) for r in reals]
    assert torch.equal(discriminator_loss(fake=tuple(fakes), real=real_outs, kind=kind), discriminator_loss(fake=fakes, real=reals, kind=kind))


def test_half_precision_gives_float32() -> None:
    for dtype in (torch.float16, torch.bfloat16):
        real = torch.tensor([60.0, -60.0, 3.0], dtype=dtype)
        fake = torch.tensor([-60.0, 60.0, 3.0], dtype=dtype)
        for kind in ADVERSARIAL_KINDS:
            d, g = discriminator_loss(fake=fake, real=real, kind=kind), generator_loss(fake, kind)
            assert d.dtype == torch.float32 and g.dtype == torch.float32
            assert torch.isfinite(d) and torch.isfinite(g)
        # lsgan squares 60 -> 3600 fine; check a value that overflows float16 if computed in it.
        huge = torch.tensor([300.0], dtype=torch.float16)
        assert generator_loss(huge, "lsgan").item() == pytest.approx(0.5 * 299.0**2)
        # -log sigmoid(x) = x + log1p(exp(-x)) for large x; sigmoid(60) rounds to 1 even in float64.
        expected = (60.0 + math.log1p(math.exp(-3.0))) / 3 + (60.0 + 3.0 + math.log1p(math.exp(-3.0))) / 3
        assert discriminator_loss(fake=fake, real=real).item() == pytest.approx(expected, rel=1e-5)


def test_float64_stays_float64() -> None:
    assert discriminator_loss(fake=_logits(1), real=_logits(0)).dtype == torch.float64


def test_unknown_kind_lists_allowed() -> None:
    with pytest.raises(ValueError, match=r"kind must be one of 'bce', 'hinge', 'lsgan', 'wgan', got 'wasserstein'"):
        discriminator_loss(fake=torch.zeros(2), real=torch.zeros(2), kind="wasserstein")
    with pytest.raises(ValueError, match="kind must be one of"):
        generator_loss(torch.zeros(2), "BCE")
    with pytest.raises(ValueError, match="kind must be one of"):
        DiscriminatorLoss("ls")
    with pytest.raises(ValueError, match="kind must be one of"):
        GeneratorLoss("ls")


def test_saturating_only_for_bce() -> None:
    with pytest.raises(ValueError, match=r"saturating=True only applies to kind='bce', got kind='hinge'"):
        generator_loss(torch.zeros(2), "hinge", saturating=True)
    with pytest.raises(ValueError, match="saturating=True only applies"):
        GeneratorLoss("wgan", saturating=True)


def test_bad_logits_errors() -> None:
    with pytest.raises(ValueError, match="same number of discriminators, got 2 and 1"):
        discriminator_loss(fake=[torch.zeros(2), torch.zeros(2)], real=[torch.zeros(2)])
    with pytest.raises(TypeError, match=r"fake_logits\[1\] must be a Tensor of logits or a DiscriminatorOutput, got list"):
        generator_loss([torch.zeros(2), [torch.zeros(2)]])
    with pytest.raises(TypeError, match="floating-point"):
        generator_loss(torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"real must have at least one element, got shape \(0,\)"):
        discriminator_loss(fake=torch.zeros(2), real=torch.zeros(0))
    with pytest.raises(ValueError, match="empty list"):
        generator_loss([])
    with pytest.raises(TypeError, match="got float"):
        generator_loss(0.5)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the (real, fake) -> (fake=, real=) deprecation

POSITIONAL = r"positional arguments \(real_logits, fake_logits.*pass fake= and real= by keyword.*becomes \(fake, real\)"


@pytest.mark.parametrize("kind", ADVERSARIAL_KINDS)
def test_old_positional_form_keeps_its_meaning_and_warns(kind: str) -> None:
    real, fake = _logits(20), _logits(21, (5, 1, 3))
    expected = _ref_d(real, fake, kind)  # not symmetric: a swap would change the value
    assert _ref_d(fake, real, kind) != pytest.approx(expected)
    with pytest.warns(DeprecationWarning, match=POSITIONAL):
        old = discriminator_loss(real, fake, kind)
    assert old.item() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    with pytest.warns(DeprecationWarning, match=POSITIONAL):
        assert torch.equal(discriminator_loss(real, fake, kind=kind), old)
    with pytest.warns(DeprecationWarning, match=r"positional arguments \(real_logits\) is deprecated"):
        assert torch.equal(discriminator_loss(real, fake_logits=fake, kind=kind), old)
    with pytest.warns(DeprecationWarning, match=r"DiscriminatorLoss.forward\(\) with positional arguments"):
        assert torch.equal(DiscriminatorLoss(kind)(real, fake), old)
    with pytest.warns(DeprecationWarning, match=r"keyword names changed \(real_logits= -> real=, fake_logits= -> fake=\)"):
        assert torch.equal(discriminator_loss(real_logits=real, fake_logits=fake, kind=kind), old)
    with pytest.warns(DeprecationWarning, match="keyword names changed"):
        assert torch.equal(DiscriminatorLoss(kind)(real_logits=real, fake_logits=fake), old)


def test_keyword_form_does_not_warn() -> None:
    import warnings

    real, fake = _logits(22), _logits(23)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = discriminator_loss(fake=fake, real=real, kind="hinge")
        assert torch.equal(DiscriminatorLoss("hinge")(fake=fake, real=real), d)
        assert torch.equal(discriminator_loss(real=real, fake=fake, kind="hinge"), d)


def test_deprecation_warning_points_at_the_callers_line() -> None:
    real, fake = _logits(24), _logits(25)
    with pytest.warns(DeprecationWarning) as record:
        DiscriminatorLoss()(real, fake)
    assert record[0].filename == __file__


def test_mixed_positional_and_keyword_is_a_type_error() -> None:
    real, fake = _logits(26), _logits(27)
    hint = r"positional arguments together with fake=.*Hint: pass both by keyword"
    with pytest.raises(TypeError, match=hint):
        discriminator_loss(real, fake=fake)
    with pytest.raises(TypeError, match=r"together with real="):
        discriminator_loss(fake, real=real)
    with pytest.raises(TypeError, match=r"together with fake= and real="):
        discriminator_loss(real, fake=fake, real=real)
    with pytest.raises(TypeError, match=hint):
        DiscriminatorLoss()(real, fake=fake)
    with pytest.raises(TypeError, match=r"missing real="):
        discriminator_loss(fake=fake)
    with pytest.raises(TypeError, match=r"multiple values for 'fake'"):
        discriminator_loss(fake=fake, fake_logits=fake, real=real)
    with pytest.raises(TypeError, match="unexpected keyword argument 'reel'"):
        discriminator_loss(fake=fake, reel=real)
    with pytest.raises(TypeError, match="at most 2 positional"):
        DiscriminatorLoss()(real, fake, "bce")
    with pytest.raises(TypeError, match="multiple values for 'kind'"):
        discriminator_loss(real, fake, "bce", kind="bce")
