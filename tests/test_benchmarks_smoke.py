"""Keeps benchmarks/step_cost.py from rotting: one tiny step of every variant, no timing assertions."""

from __future__ import annotations

import pytest
import torch
from _benchmark_scripts import load_benchmark

step_cost = load_benchmark("step_cost")
SALIMANS = step_cost.fm_options_for("salimans2016")

TINY = {
    "image": step_cost.Workload("image", "conv", (3, 8, 8), 4, {"width": 4}),
    "sequence": step_cost.Workload("sequence", "sequence", (2, 16), 4, {"width": 4}),
}


@pytest.mark.parametrize("workload", sorted(TINY))
@pytest.mark.parametrize("variant", step_cost.VARIANTS)
def test_generator_step_updates_g_only(workload: str, variant: str) -> None:
    setup = step_cost.build_setup(TINY[workload], torch.device("cpu"), fm_options=SALIMANS)
    g_before = [p.detach().clone() for p in setup.generator.parameters()]
    d_before = [p.detach().clone() for p in setup.discriminator.parameters()]
    loss = step_cost.generator_step(setup, variant)
    assert torch.isfinite(loss)
    # G moved, D's weights did not, D has no gradient and is unfrozen again for its own step.
    assert any(not torch.equal(a, b) for a, b in zip(g_before, setup.generator.parameters(), strict=True))
    for before, p in zip(d_before, setup.discriminator.parameters(), strict=True):
        assert torch.equal(before, p)
        assert p.grad is None
        assert p.requires_grad


def test_fm_variants_add_the_fm_loss_to_the_adversarial_one() -> None:
    # With the same G, D and batch, (a), (b) and (c) compute the same loss, and (d) the adversarial
    # part only: the difference is the feature-matching term computed independently here.
    losses = {}
    for variant in step_cost.VARIANTS:
        setup = step_cost.build_setup(TINY["image"], torch.device("cpu"), fm_options=SALIMANS)
        losses[variant] = step_cost.generator_step(setup, variant)
    setup = step_cost.build_setup(TINY["image"], torch.device("cpu"))
    with torch.no_grad():
        fake = setup.discriminator(setup.generator(setup.z)).features
        real = setup.discriminator(setup.x).features
    # salimans2016: squared difference of batch means, mean over features, mean over layers.
    fm = torch.stack([(fake[k].mean(0) - real[k].mean(0)).square().mean() for k in fake]).mean()
    torch.testing.assert_close(losses["a_nograd"], losses["b_autograd"])
    torch.testing.assert_close(losses["a_nograd"], losses["c_reuse"])
    torch.testing.assert_close(losses["a_nograd"] - losses["d_adv"], fm, rtol=1e-4, atol=1e-6)


def test_unknown_variant_is_rejected() -> None:
    setup = step_cost.build_setup(TINY["image"], torch.device("cpu"))
    with pytest.raises(ValueError, match="variant must be one of"):
        step_cost.generator_step(setup, "e_other")


def test_timing_and_scaling_shapes() -> None:
    setup = step_cost.build_setup(TINY["sequence"], torch.device("cpu"))
    wall, cpu = step_cost.time_variants(setup, step_cost.VARIANTS, repeats=1, warmup=0, device=torch.device("cpu"))
    assert set(wall) == set(cpu) == set(step_cost.VARIANTS)
    assert all(len(v) == 1 and v[0] > 0 for v in wall.values())
    rows = step_cost.scaling_table((2, 3, 4), (1, 2), (1, 3), {"l1": {}}, 1, torch.device("cpu"))
    assert [(d, n) for _, d, n, _, _ in rows] == [(1, 1), (1, 2), (3, 1), (3, 2)]
    assert step_cost.peak_rss_bytes() > 0


def test_checkpoint_checksum_script_runs(capsys) -> None:
    """benchmarks/checkpoint_checksum.py: one round on the smallest checkpoint (it checks the digest first)."""
    script = load_benchmark("checkpoint_checksum")
    assert script.main(["--which", "ring8", "--repeats", "1", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "| ring8 (mlp2d_benchmark, 2) |" in out and "x |" in out
