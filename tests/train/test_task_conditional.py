"""The conditional task (issue 16): paired data end to end through the command line, the G and D
objectives on (condition, target) pairs, metrics, users' pairs and conditions, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import featmatch.metrics
from featmatch import DiscriminatorOutput
from featmatch.cli import main
from featmatch.data import load_paired_dataset, make_condition
from featmatch.train.config import build_config
from featmatch.train.tasks import TASKS, Weights, task_for_data
from featmatch.train.tasks.conditional import ConditionalBatch, ConditionalTask
from featmatch.train.trainer import Trainer, load_run

METRICS = {"reconstruction_l1", "frechet_distance", "frechet_distance_real", "class_accuracy"}
PAIRED = ("digits-superres", "digits-inpaint", "mnist1d-complete")
TINY = ["--data-size", "64", "--batch-size", "16", "--model-width", "8", "--quiet", "--log-every", "1",
        "--sample-every", "2", "--checkpoint-every", "2", "--set", "log.eval_samples=40", "--set", "log.n_samples=6"]


@pytest.fixture
def fast_classifier(monkeypatch):
    """The domain classifier trains for tens of seconds: an untrained one of the same kind stands in."""

    def get_classifier(name, x, y, *, num_classes=None, **kwargs):
        torch.manual_seed(0)
        return featmatch.metrics.FeatureClassifier(tuple(x.shape[1:]), num_classes=num_classes or int(y.max()) + 1)

    monkeypatch.setattr(featmatch.metrics, "get_classifier", get_classifier)


def _metrics(run):
    return json.loads((run / "summary.json").read_text())["metrics"]


def test_paired_data_selects_the_conditional_task_and_its_recipe():
    assert TASKS["conditional"] is ConditionalTask
    for name in PAIRED:
        assert task_for_data(name) == "conditional"
        cfg = build_config({"data.name": name})
        assert (cfg.task, cfg.recipe) == ("conditional", name)
        assert cfg.model.family.startswith("cond_") and cfg.task_options["l1_weight"] > 0
    assert build_config({"data.name": "mnist1d-complete"}).objective.fm_preset == "layer_mse"  # the article's
    assert task_for_data("digits") == "generation"


@pytest.mark.parametrize("data", PAIRED)
def test_train_resume_eval_and_sample_from_the_command_line(data, tmp_path, fast_classifier, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", data, *TINY, "--steps", "3", "--out", str(run)]) == 0
    assert set(_metrics(run)) == METRICS
    assert (run / "samples" / "step_000002.png").is_file() and (run / "samples" / "step_000003.png").is_file()
    report = (run / "report.md").read_text()
    assert "## Conditional generation" in report and "rows condition | generated | real" in report
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = next(r for r in rows if "loss/g_l1" in r)
    assert {"loss/d", "loss/g_adv", "loss/g_fm", "loss/g_l1"} <= set(logged)

    assert main(["train", "--resume", str(run), "--steps", "5"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 5

    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert set(evaluated) == METRICS
    assert evaluated["reconstruction_l1"] == pytest.approx(_metrics(run)["reconstruction_l1"], rel=1e-5)

    test = load_paired_dataset(data, "test")
    conditions = tmp_path / "conditions.npy"
    np.save(conditions, test.condition[:5].numpy())
    out = tmp_path / "out.npy"
    assert main(["sample", "--checkpoint", str(run), "--condition", str(conditions), "--out", str(out)]) == 0
    generated = np.load(out)
    assert generated.shape == (5, *test.target_shape) and np.abs(generated).max() <= 1.0
    # The same conditions through the loaded generator give the same targets.
    loaded = load_run(run)
    with torch.no_grad():
        expected = loaded.generator(test.condition[:5])
    np.testing.assert_allclose(generated, expected.numpy(), atol=1e-6)
    assert main(["sample", "--checkpoint", str(run), "--condition", str(conditions), "--out",
                 str(tmp_path / "out.png")]) == 0
    assert (tmp_path / "out.png").stat().st_size > 0
    assert main(["sample", "--checkpoint", str(run), "--n", "4", "--out", str(tmp_path / "drawn.png")]) == 0


def test_compare_runs_conditional_variants(tmp_path, fast_classifier):
    out = tmp_path / "cmp"
    assert main(["compare", "--data", "digits-superres", "--seeds", "0", "--steps", "2", "--out", str(out),
                 "--variant", "l1=--reconstruction-only --l1-weight 1",
                 "--variant", "pix2pix=--objective adv --l1-weight 10",
                 "--train-args", "--data-size 32 --batch-size 16 --model-width 8 --set log.eval_samples=20"]) == 0
    table = (out / "table.md").read_text()
    assert "| l1 | 1 |" in table and "| pix2pix | 1 |" in table
    config = json.loads((out / "l1" / "seed0" / "summary.json").read_text())["config"]
    assert config["task"] == "conditional" and config["task_options"]["reconstruction_only"] is True


def test_users_paired_npz_trains_without_a_task_flag(tmp_path, fast_classifier):
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, size=(80, 1, 8, 8)).astype(np.float32)
    condition = F.avg_pool2d(torch.from_numpy(target), 2).numpy()
    path = tmp_path / "pairs.npz"
    np.savez(path, condition=condition, target=target, y=rng.integers(0, 3, size=80))
    run = tmp_path / "run"
    assert main(["train", "--data", str(path), *TINY, "--steps", "2", "--out", str(run),
                 "--fm-preset", "pix2pixhd", "--l1-weight", "5"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["task"] == "conditional" and summary["family"] == "cond_conv"
    assert set(summary["metrics"]) == METRICS
    # Without labels there is no classifier: only the reconstruction error.
    unlabelled = tmp_path / "unlabelled.npz"
    np.savez(unlabelled, condition=condition, target=target)
    run2 = tmp_path / "run2"
    assert main(["train", "--data", str(unlabelled), *TINY, "--steps", "2", "--out", str(run2)]) == 0
    assert set(_metrics(run2)) == {"reconstruction_l1"}


def _trainer(data="digits-superres", **overrides):
    values = {"data.name": data, "data.size": 32, "data.batch_size": 8, "model.width": 8, "steps": 2,
              "log.eval_samples": 16, **overrides}
    return Trainer(build_config(values))


def test_the_generator_step_gives_d_no_gradient_and_moves_g():
    trainer = _trainer()
    batch = trainer.draw()
    fake = trainer.task.generate(trainer.G, batch)
    d_before = [p.detach().clone() for p in trainer.d_params]
    g_before = [p.detach().clone() for p in trainer.g_params]
    result = trainer.generator_step(batch, fake, measure=True)
    assert set(result.weights) == {"g_fm", "g_adv", "g_l1"}
    for before, p in zip(d_before, trainer.d_params, strict=True):
        assert p.grad is None and torch.equal(before, p) and p.requires_grad
    assert any(not torch.equal(b, p) for b, p in zip(g_before, trainer.g_params, strict=True))


class _PairD(nn.Module):
    """A stand-in conditional D with known features: two layers of (condition, target)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, condition, target):
        c = F.interpolate(condition, size=target.shape[2:], mode="nearest")
        return DiscriminatorOutput(target.mean(dim=(1, 2, 3)),
                                   {"a": self.scale * target + c, "b": (target * c).flatten(1)})


def test_paired_feature_matching_compares_pair_i_with_pair_i():
    cfg = build_config({"data.name": "digits-superres", "objective.kind": "fm", "objective.fm_preset": "layer_mse",
                        "task_options": {"l1_weight": 0.0}})
    task = ConditionalTask(cfg)
    task.setup(None, None, distributed=False, device=torch.device("cpu"))  # type: ignore[arg-type]
    gen = torch.Generator().manual_seed(0)
    condition = torch.randn(3, 1, 4, 4, generator=gen)
    target, fake = torch.randn(3, 1, 8, 8, generator=gen), torch.randn(3, 1, 8, 8, generator=gen)
    fake.requires_grad_(True)
    target.requires_grad_(True)  # to show that the real side is taken without gradient
    d = _PairD()
    result = task.generator_objective(d, ConditionalBatch(condition, target), fake, None, Weights(adv=1.0),
                                      measure=False)
    # By hand: layer_mse = mean over layers of the MSE of paired features.
    c = condition.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    by_hand = ((2 * fake + c - (2 * target + c)).square().mean() + ((fake * c) - (target * c)).square().mean()) / 2
    torch.testing.assert_close(result.terms["g_fm"], by_hand)
    assert set(result.weights) == {"g_fm"} and result.terms["g_fm"].requires_grad
    # Pairs matter: the same targets in another order give another loss (batch statistics would not).
    shuffled = task.generator_objective(d, ConditionalBatch(condition, target[[1, 2, 0]]), fake, None,
                                        Weights(adv=1.0), measure=False)
    assert not torch.allclose(shuffled.terms["g_fm"], result.terms["g_fm"])
    # The real features were taken without gradient: only G's output carries one.
    result.total().backward()
    assert fake.grad is not None and target.grad is None


def test_reconstruction_only_trains_g_on_l1_alone():
    trainer = _trainer(**{"task_options": {"l1_weight": 3.0, "reconstruction_only": True}})
    batch = trainer.draw()
    fake = trainer.task.generate(trainer.G, batch)
    result = trainer.generator_objective(batch, fake, measure=True)
    assert result.weights == {"g_l1": 3.0}
    assert {"g_l1", "g_adv", "g_fm"} <= set(result.terms)  # measured for the logs
    torch.testing.assert_close(result.total(), 3.0 * (fake - batch.target).abs().mean())


def test_errors_name_what_is_wrong(tmp_path, fast_classifier, capsys):
    with pytest.raises(ValueError, match="needs --l1-weight|l1_weight is 0"):
        build_config({"data.name": "digits-superres", "task_options": {"l1_weight": 0.0, "reconstruction_only": True}})
    with pytest.raises(ValueError, match="l1_weight .* must be a number >= 0"):
        build_config({"data.name": "digits-superres", "task_options": {"l1_weight": -1.0}})
    with pytest.raises(ValueError, match="must be a conditional family"):
        _trainer(**{"model.family": "conv"})
    run = tmp_path / "run"
    assert main(["train", "--data", "digits-inpaint", *TINY, "--steps", "1", "--out", str(run)]) == 0
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((3, 1, 4, 4), dtype=np.float32))  # superres's layout, not inpaint's (2, 8, 8)
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--condition", str(wrong), "--out", str(tmp_path / "o.npy")]) == 2
    err = capsys.readouterr().err
    assert "(3, 1, 4, 4)" in err and "(N, 2, 8, 8)" in err and "make_condition" in err
    # One condition without the batch dimension is fine.
    one = tmp_path / "one.npy"
    np.save(one, make_condition("digits-inpaint", torch.zeros(1, 1, 8, 8))[0].numpy())
    assert main(["sample", "--checkpoint", str(run), "--condition", str(one), "--out", str(tmp_path / "o.npy")]) == 0
    assert np.load(tmp_path / "o.npy").shape == (1, 1, 8, 8)
