"""Keeps benchmarks/step_cost.py from rotting: one tiny step of every variant, no timing assertions."""

from __future__ import annotations

import json

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


def test_table_rows_become_override_mappings(tmp_path) -> None:
    """benchmarks/_tables.py: a block's flag rows become the sweep runner's runs (config overrides)."""
    tables = load_benchmark("_tables")
    block = tables.Block("ring8", ["gan=--objective adv --lr-d 1e-3", "defaults="], 10, ["--lr-d", "1e-4", "--ema", "0"])
    runs = block.runs(tmp_path, [0, 3])
    assert [r.name for r in runs] == ["ring8/gan/seed0", "ring8/gan/seed3", "ring8/defaults/seed0", "ring8/defaults/seed3"]
    assert runs[1].run_dir == tmp_path / "ring8" / "gan" / "seed3"
    gan, defaults = runs[1].overrides, runs[2].overrides
    assert gan["objective.kind"] == "adv" and gan["optim.lr_d"] == 1e-3  # the row's flag over the block's
    assert gan["seed"] == 3 and gan["steps"] == 10 and gan["data.name"] == "ring8"
    assert "objective.kind" not in defaults and defaults["optim.lr_d"] == 1e-4


@pytest.mark.subprocess
def test_table3_runs_end_to_end(tmp_path, capsys) -> None:
    """benchmarks/table3_failure.py as documented, tiny: worker processes train its rows' flags."""
    import json

    table3 = load_benchmark("table3_failure")
    out = tmp_path / "t3"
    assert table3.main(["--out", str(out), "--jobs", "2", "--seeds", "0", "--steps", "4", "--variants", "bce,fm_mean"]) == 0
    text = (out / "table3.md").read_text(encoding="utf-8")
    assert "| bce | 1 |" in text and "| fm_mean | 1 |" in text and "FAILED" not in text
    assert (out / "table3_balance.png").is_file() and (out / "ring8" / "bce" / "seed0.log").is_file()
    config = json.loads((out / "ring8" / "bce" / "seed0" / "summary.json").read_text(encoding="utf-8"))["config"]
    assert config["optim"]["d_steps"] == 5 and config["objective"]["saturating"] is True  # FAILURE_FLAGS
    assert config["objective"]["kind"] == "adv" and config["data"]["batch_size"] == 512 and config["steps"] == 4


def test_table6_semi_runs_and_tabulates(tmp_path, capsys) -> None:
    """benchmarks/table6_semi.py as documented, tiny: one cell, one seed, 2 steps, in process."""
    table6 = load_benchmark("table6_semi")
    out = tmp_path / "t6"
    assert table6.main(["--out", str(out), "--seeds", "0", "--steps", "2", "--cells", "digits:5"]) == 0
    text = (out / "table6.md").read_text(encoding="utf-8")
    for row in ("supervised", "supervised_all", "fm", "adv"):
        assert f"| {row} | " in text and "(n=1)" in text.split(f"| {row} | ")[1].split("\n")[0]
    supervised = json.loads((out / "digits-5" / "supervised" / "seed0" / "summary.json").read_text())
    assert supervised["config"] == {"task": "semi", "data": "digits", "labels": 5, "seed": 0, "steps": 2}
    # The whole grid was tried on 4 of each class's 5 labels, the choice scored on the held-out one.
    assert len(supervised["grid"]) == len(table6.NOISE_SCALES) * len(table6.WEIGHT_DECAYS) * len(table6.LEARNING_RATES)
    assert supervised["labelled"] == 50 and supervised["held_out"] == 10
    assert supervised["selected"] in supervised["grid"] and supervised["selected"]["step"] in (1, 2)
    assert 0.0 <= supervised["metrics"]["test_error"] <= 1.0
    assert 0.0 <= supervised["retrained"]["test_error"] <= 1.0
    # --rows trains only those rows.
    only = tmp_path / "only_adv"
    assert table6.main(["--out", str(only), "--seeds", "0", "--steps", "2", "--cells", "digits:5", "--rows", "adv"]) == 0
    assert [p.name for p in (only / "digits-5").iterdir() if p.is_dir()] == ["adv"]


def test_table6_holdout_is_class_balanced_and_disjoint() -> None:
    import torch

    table6 = load_benchmark("table6_semi")
    y = torch.arange(10).repeat_interleave(10)  # 10 labelled examples of each of 10 classes
    fit, held = table6._holdout(y, seed=3)
    assert sorted(torch.cat([fit, held]).tolist()) == list(range(100))
    assert torch.bincount(y[held]).tolist() == [2] * 10
    assert torch.equal(table6._holdout(y, seed=3)[1], held)  # seeded
    _, held_one = table6._holdout(torch.arange(10).repeat_interleave(3), seed=0)  # 3 per class: one held out
    assert len(held_one) == 10


@pytest.mark.subprocess
def test_table4_runs_end_to_end(tmp_path) -> None:
    """benchmarks/table4_conditional.py as documented, tiny: two rows on one paired data set."""
    import json

    table4 = load_benchmark("table4_conditional")
    out = tmp_path / "t4"
    assert table4.main(["--out", str(out), "--seeds", "0", "--steps", "3", "--data", "digits-superres",
                        "--rows", "l1,adv+fm"]) == 0
    text = (out / "table4.md").read_text(encoding="utf-8")
    assert "| l1 | 1 |" in text and "| adv+fm | 1 |" in text and "FAILED" not in text
    summary = json.loads((out / "digits-superres" / "l1" / "seed0" / "summary.json").read_text(encoding="utf-8"))
    assert summary["config"]["task_options"] == {"l1_weight": 10.0, "reconstruction_only": True}
    assert set(summary["metrics"]) == {"reconstruction_l1", "frechet_distance", "frechet_distance_real", "class_accuracy"}


def test_table4_rows_are_valid_configs() -> None:
    from featmatch.cli import train_overrides
    from featmatch.train.config import build_config

    table4 = load_benchmark("table4_conditional")
    for data in table4.DATA:
        names = [spec.partition("=")[0] for spec in table4.rows(data, 10.0)]
        assert names[:6] == ["l1", "adv+l1", "adv+fm", "adv+fm+l1", "fm", "adv+fm+l1x10"]
        x10 = dict(spec.partition("=")[::2] for spec in table4.rows(data, 10.0))["adv+fm+l1x10"]
        assert build_config({**train_overrides(x10.split()), "data.name": data}).task_options["l1_weight"] == 100
        assert ("article" in names) == (data == "mnist1d-complete")
        for spec in table4.rows(data, 10.0):
            build_config({**train_overrides(spec.partition("=")[2].split()), "data.name": data})


def test_table5_early_runs_and_tabulates(tmp_path, capsys) -> None:
    """benchmarks/table5_early.py as documented, tiny: two rows, one seed, 3 steps, in process."""
    import json

    table5 = load_benchmark("table5_early")
    out = tmp_path / "t5"
    assert table5.main(["--out", str(out), "--seeds", "0", "--steps", "3", "--teacher-steps", "2",
                        "--rows", "a_ce,c_adv"]) == 0
    text = (out / "table5.md").read_text(encoding="utf-8")
    assert "| a_ce | 1 | " in text and "| c_adv | 1 | " in text
    config = json.loads((out / "a_ce" / "seed0" / "summary.json").read_text())["config"]
    assert config["task"] == "early" and config["recipe"] == "early-mnist1d" and config["steps"] == 3
    assert config["task_options"]["use_discriminator"] is False and config["task_options"]["teacher_steps"] == 2
    assert table5.main(["--out", str(out), "--tabulate", "--rows", "a_ce"]) == 0
