"""build_models / MODEL_FAMILIES / default_family: every family builds a working pair; errors are clear."""

from __future__ import annotations

import pytest
import torch

from featmatch import DiscriminatorOutput
from featmatch.models import (
    MODEL_FAMILIES,
    ConvDiscriminator,
    ConvGenerator,
    MLPDiscriminator,
    MLPGenerator,
    MultiScaleDiscriminator,
    SequenceDiscriminator,
    SequenceGenerator,
    build_models,
    default_family,
)


def test_family_names() -> None:
    assert MODEL_FAMILIES[:7] == (
        "mlp", "mlp2d_benchmark", "conv", "small_conv", "sequence", "multiscale_conv", "multiscale_sequence"
    )


@pytest.mark.parametrize(("shape", "family"), [((2,), "mlp"), ((784,), "mlp"), ((1, 40), "sequence"),
                                               ((3, 32, 32), "conv")])
def test_default_family(shape: tuple[int, ...], family: str) -> None:
    assert default_family(shape) == family


def test_default_family_rejects_other_ranks() -> None:
    with pytest.raises(ValueError, match=r"1 \(D,\), 2 \(C, T\) or 3 \(C, H, W\) dimensions, got \(1, 3, 8, 8\)"):
        default_family((1, 3, 8, 8))
    with pytest.raises(ValueError, match="positive ints"):
        default_family(())


@pytest.mark.parametrize(
    ("family", "shape", "options", "classes"),
    [
        ("mlp", (3,), {"width": 8}, (MLPGenerator, MLPDiscriminator)),
        ("mlp2d_benchmark", (2,), {}, (MLPGenerator, MLPDiscriminator)),
        ("conv", (1, 16, 16), {"width": 2}, (ConvGenerator, ConvDiscriminator)),
        ("sequence", (3, 25), {"width": 4}, (SequenceGenerator, SequenceDiscriminator)),
        ("multiscale_conv", (3, 32, 32), {"width": 2}, (ConvGenerator, MultiScaleDiscriminator)),
        ("multiscale_sequence", (2, 64), {"width": 4}, (SequenceGenerator, MultiScaleDiscriminator)),
    ],
)
def test_every_family_builds_a_working_pair(
    family: str, shape: tuple[int, ...], options: dict[str, int], classes: tuple[type, type]
) -> None:
    g, d = build_models(family, shape, **options)
    assert isinstance(g, classes[0]) and isinstance(d, classes[1])
    x = g(torch.randn(3, g.latent_dim))
    assert x.shape == (3, *shape)
    assert g.sample_shape == shape
    outs = d(x)
    outs = outs if isinstance(outs, list) else [outs]
    assert len(outs) == (3 if family.startswith("multiscale") else 1)
    for out in outs:
        assert isinstance(out, DiscriminatorOutput) and out.logits.shape == (3,) and len(out.features) >= 1


def test_mlp_defaults_on_2d_equal_the_benchmark_sizes() -> None:
    g, d = build_models("mlp", (2,))
    gb, db = build_models("mlp2d_benchmark", (2,))
    for a, b in [(g, gb), (d, db)]:
        assert [p.shape for p in a.parameters()] == [p.shape for p in b.parameters()]
    assert g.latent_dim == gb.latent_dim == 256


def test_options_and_latent_dim_pass_through() -> None:
    g, d = build_models("sequence", (4, 50), latent_dim=7, width=3, depth=2, spectral_norm=True)
    assert (g.latent_dim, g.width, g.depth) == (7, 3, 2)
    assert (d.width, d.depth, d.spectral_norm) == (3, 2, True)
    g, d = build_models("mlp", (5,), latent_dim=3, width=16, depth=3, activation="relu", spectral_norm=True)
    assert g.latent_dim == 3 and d.hidden == (16, 16, 16) and d.activation == "relu" and d.spectral_norm
    g, d = build_models("conv", (3, 8, 8), latent_dim=9, width=5, spectral_norm=True)
    assert g.latent_dim == 9 and d.width == 5 and d.spectral_norm
    _, d = build_models("multiscale_conv", (3, 16, 16), width=2, num_scales=2, spectral_norm=True)
    assert len(d.discriminators) == 2 and all(sub.spectral_norm for sub in d.discriminators)


@pytest.mark.parametrize(("length", "num_scales", "depth"), [(40, 1, 4), (10, 1, 3), (2, 1, 1), (25, 3, 2),
                                                           (100, 3, 4), (64, 2, 4)])
def test_sequence_default_depth_fits_the_coarsest_scale(length: int, num_scales: int, depth: int) -> None:
    family = "sequence" if num_scales == 1 else "multiscale_sequence"
    options = {} if num_scales == 1 else {"num_scales": num_scales}
    g, d = build_models(family, (1, length), width=2, **options)
    subs = [d] if num_scales == 1 else list(d.discriminators)
    assert all(sub.depth == depth for sub in subs)
    assert g.depth == depth
    d(g(torch.randn(2, g.latent_dim)))  # every scale accepts its pooled length


def test_unknown_family_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"family must be one of \('mlp', 'mlp2d_benchmark', .*got 'resnet'"):
        build_models("resnet", (3, 32, 32))


@pytest.mark.parametrize(
    ("family", "shape", "match"),
    [
        ("conv", (3, 24, 24), r"needs sample_shape \(C, S, S\) with S in \(8, 16, 28, 32, 64\), got \(3, 24, 24\)"),
        ("conv", (3, 32, 16), r"got \(3, 32, 16\). Hint: resize or pad"),
        ("conv", (1, 40), r"'conv' needs sample_shape .*use family 'sequence'"),
        ("sequence", (3, 32, 32), r"'sequence' needs sample_shape \(C, T\), got \(3, 32, 32\).*'conv'"),
        ("mlp", (2, 3), r"'mlp' needs sample_shape \(D,\)"),
        ("mlp2d_benchmark", (3,), r"needs sample_shape \(2,\), got \(3,\).*family 'mlp'"),
        ("multiscale_sequence", (3, 32, 32), r"\(C, T\)"),
        ("sequence", (1, 1), r"T = 1 is too short"),
        ("multiscale_sequence", (1, 3), r"T = 3 is too short .*num_scales=3"),
    ],
)
def test_shape_that_does_not_fit_the_family(family: str, shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_models(family, shape)


def test_unknown_or_bad_options() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['foo'\] for model family 'conv'; it accepts "
                                         r"\['spectral_norm', 'width'\]"):
        build_models("conv", (3, 32, 32), foo=1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['depth'\] for model family 'mlp2d_benchmark'"):
        build_models("mlp2d_benchmark", (2,), depth=3)
    with pytest.raises(ValueError, match="latent_dim of 'mlp2d_benchmark' is fixed at 256, got 128"):
        build_models("mlp2d_benchmark", (2,), latent_dim=128)
    with pytest.raises(ValueError, match=r"depth=5 needs sequence length >= 32 .*T = 20.*depth <= 4"):
        build_models("sequence", (1, 20), depth=5)
    with pytest.raises(ValueError, match=r"num_scales for 'multiscale_conv' must be 1, 2 or 3.*got 4"):
        build_models("multiscale_conv", (3, 32, 32), num_scales=4)
    with pytest.raises(ValueError, match="depth .* must be an int >= 1, got 0"):
        build_models("mlp", (2,), depth=0)
    with pytest.raises(TypeError, match="sample_shape must be a tuple"):
        build_models("mlp", 2)  # type: ignore[arg-type]
