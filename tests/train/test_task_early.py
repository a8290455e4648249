"""The early-prediction task ("early"): the reference article's system through the whole product.

End to end through ``featmatch.cli.main`` (train, checkpoints, exact resume, eval, sample, users'
.npz, a sweep) with tiny settings, and the properties the method rests on: the teacher is frozen,
D gets no gradient in the student's step, feature matching is paired.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featmatch.cli import main
from featmatch.metrics.early import EARLY_FRACTIONS, fraction_metric_name
from featmatch.train import checkpoint as ckpt
from featmatch.train.config import build_config
from featmatch.train.tasks import Weights
from featmatch.train.tasks.early import EarlyTask
from featmatch.train.trainer import Trainer, load_run

METRICS = [fraction_metric_name(r) for r in EARLY_FRACTIONS] + ["accuracy_auc"]
assert METRICS[0] == "accuracy@0.1" and METRICS[9] == "accuracy@1.0"  # the contract's names
TINY = ["--task", "early", "--teacher-steps", "4", "--batch-size", "32", "--model-width", "8", "--quiet",
        "--set", "data.size=256", "--set", "log.log_every=2", "--set", "log.sample_every=3",
        "--set", "log.checkpoint_every=3"]


def _tiny(**overrides):
    values = {"task": "early", "data.name": "mnist1d", "data.size": 256, "data.batch_size": 32, "model.width": 8,
              "task_options": {"teacher_steps": 4}, "steps": 4, "log.log_every": 2, **overrides}
    return build_config(values)


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_train_eval_sample_end_to_end(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--data", "mnist1d", "--steps", "6", "--out", str(run), *TINY]) == 0
    summary = _summary(run)
    assert summary["config"]["recipe"] == "early-mnist1d" and summary["family"] == "early_encoder"
    assert list(summary["metrics"]) == METRICS
    assert all(0.0 <= v <= 1.0 for v in summary["metrics"].values())
    assert summary["metrics"]["accuracy_auc"] == pytest.approx(np.mean([summary["metrics"][m] for m in METRICS[:-1]]))
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"loss/d", "loss/ce", "loss/g_fm", "loss/g_adv", "loss/distill", "fm/block1", "d/real_prob"} <= set(rows[0])
    report = (run / "report.md").read_text()
    assert "## Accuracy by observed fraction" in report and (run / "accuracy_by_fraction.png").is_file()
    state = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])
    assert state["task"] == "early" and set(state["frozen"]) == {"teacher"}

    # featmatch eval reproduces the run's numbers (the teacher comes back from the checkpoint).
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(run), "--out", str(out)]) == 0
    evaluated = json.loads(out.read_text())
    metrics = evaluated.get("metrics", evaluated)
    assert {k: metrics[k] for k in METRICS} == summary["metrics"]
    loaded = load_run(run)
    torch.testing.assert_close(loaded.models.frozen["teacher"].state_dict(), state["frozen"]["teacher"],
                               rtol=0, atol=0)

    # featmatch sample: predictions (N, 10) at r = 0.1 ... 1.0, or a picture.
    assert main(["sample", "--checkpoint", str(run), "--n", "5", "--out", str(tmp_path / "p.npy")]) == 0
    preds = np.load(tmp_path / "p.npy")
    assert preds.shape == (5, 10) and preds.dtype == np.int64 and ((preds >= 0) & (preds < 10)).all()
    assert main(["sample", "--checkpoint", str(run), "--n", "3", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0
    np.save(tmp_path / "mine.npy", np.zeros((2, 40), dtype=np.float32))
    assert main(["sample", "--checkpoint", str(run), "--condition", str(tmp_path / "mine.npy"),
                 "--out", str(tmp_path / "mine_pred.npy")]) == 0
    assert np.load(tmp_path / "mine_pred.npy").shape == (2, 10)


def test_resume_is_exact(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", "--data", "mnist1d", "--steps", "6", "--out", str(whole), *TINY]) == 0
    assert main(["train", "--data", "mnist1d", "--steps", "3", "--out", str(part), *TINY]) == 0
    assert main(["train", "--resume", str(part), "--steps", "6", "--quiet"]) == 0
    a = ckpt.load_checkpoint(ckpt.list_checkpoints(whole)[-1])
    b = ckpt.load_checkpoint(ckpt.list_checkpoints(part)[-1])
    assert a["step"] == b["step"] == 6
    for key in ("generator", "discriminator", "frozen", "opt_g", "opt_d"):
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=0, msg=key)
    assert _summary(part)["metrics"] == _summary(whole)["metrics"]


def test_users_npz_sequences(tmp_path):
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=gen)
    x = torch.randn(300, 2, 16, generator=gen) * 0.1 + y.view(-1, 1, 1).float()  # (N, C, T), class = level
    np.savez(tmp_path / "seq.npz", x=x.numpy(), y=y.numpy())
    run = tmp_path / "run"
    args = ["train", "--data", str(tmp_path / "seq.npz"), "--steps", "4", "--out", str(run), *TINY,
            "--set", "task_options.d_depth=2"]  # T = 16: features of length 4, so D has 2 blocks
    assert main(args) == 0
    summary = _summary(run)
    assert list(summary["metrics"]) == METRICS
    assert summary["config"]["recipe"] is None  # users' files get no recipe
    assert ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])["data"]["sample_shape"] == [2, 16]


def test_unlabelled_or_non_sequence_data_is_refused(tmp_path):
    np.save(tmp_path / "points.npy", np.zeros((50, 2), dtype=np.float32))
    task = EarlyTask(_tiny(**{"data.name": str(tmp_path / "points.npy"), "data.size": None}))
    with pytest.raises(ValueError, match="task 'early' needs labelled sequences"):
        task.load_data("train", torch.device("cpu"))


def test_teacher_is_frozen_and_unchanged_by_training():
    trainer = Trainer(_tiny())
    teacher = trainer.models.frozen["teacher"]
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    for _ in range(4):
        trainer.train_step(measure=True)
    assert all(p.grad is None for p in teacher.parameters())
    torch.testing.assert_close(teacher.state_dict(), before, rtol=0, atol=0)
    # ... and it was trained in setup: well above chance (10 classes) on whole test sequences.
    trained = Trainer(_tiny(task_options={"teacher_steps": 150}, **{"data.size": None}))
    test = trained.task.test_split()
    acc = (trained.models.frozen["teacher"](test.x).logits.argmax(1) == test.y).float().mean()
    assert acc > 0.2


def test_discriminator_gets_no_gradient_in_the_student_step():
    trainer = Trainer(_tiny(**{"objective.kind": "adv+fm", "objective.adv_weight": 1.0}))
    trainer.train_step()
    batch = trainer.draw()
    fake = trainer.task.generate(trainer.G, batch)
    for p in trainer.d_params:
        p.grad = None
    trainer.generator_step(batch, fake)
    assert all(p.grad is None for p in trainer.d_params)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainer.g_params)
    assert all(p.requires_grad for p in trainer.d_params)  # unfrozen again for the next D step


def test_feature_matching_is_paired_layer_mse():
    from featmatch.models import SequenceDiscriminator
    from featmatch.models.early import EncoderOutput

    task = EarlyTask(_tiny(**{"objective.fm_preset": "layer_mse"}))
    task.fm_loss = None
    from featmatch.losses import FeatureMatchingLoss

    task.fm_loss = FeatureMatchingLoss(**{**task.config.fm_loss_options(), "return_terms": True})
    torch.manual_seed(0)
    D = SequenceDiscriminator(4, width=4, depth=2).eval()
    real, fake = torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    batch = type("B", (), {"teacher": real, "y": torch.tensor([0, 1, 2])})()
    out = EncoderOutput(fake, torch.zeros(3, 3))
    obj = task.generator_objective(D, batch, out, None, Weights(adv=0.0), measure=True)
    # By hand: the mean over D's blocks of the element-wise MSE, sample i against sample i.
    fr, ff = D(real).features, D(fake).features
    hand = torch.stack([F.mse_loss(ff[k], fr[k]) for k in fr]).mean()
    torch.testing.assert_close(obj.terms["g_fm"], hand)
    shuffled = type("B", (), {"teacher": real[[1, 2, 0]], "y": batch.y})()
    again = task.generator_objective(D, shuffled, out, None, Weights(adv=0.0), measure=True)
    assert not torch.allclose(again.terms["g_fm"], hand)  # pairs matter: not batch statistics
    assert obj.weights == {"ce": 1.0, "g_fm": task.config.objective.fm_weight}
    torch.testing.assert_close(obj.terms["ce"], F.cross_entropy(out.logits, batch.y))
    torch.testing.assert_close(obj.terms["distill"], F.mse_loss(fake, real))


def test_objective_kinds_and_options():
    adv = EarlyTask(_tiny(**{"objective.kind": "adv", "objective.adv_weight": 0.5}))
    assert adv.use_adv and not adv.use_fm
    plain = EarlyTask(_tiny(task_options={"use_discriminator": False}))
    assert not plain.use_adv and not plain.use_fm
    with pytest.raises(ValueError, match="min_fraction and max_fraction"):
        _tiny(task_options={"min_fraction": 0.6, "max_fraction": 0.5})
    with pytest.raises(ValueError, match="fraction_sampling must be one of"):
        _tiny(task_options={"fraction_sampling": "normal"})
    grid = EarlyTask(_tiny(task_options={"fraction_sampling": "grid", "min_fraction": 0.2, "max_fraction": 0.5}))
    r = grid.draw_fractions(1000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert sorted(set(torch.round(r * 10).int().tolist())) == [2, 3, 4, 5]
    uniform = EarlyTask(_tiny(task_options={"min_fraction": 0.2, "max_fraction": 0.5}))
    r = uniform.draw_fractions(1000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert float(r.min()) >= 0.2 and float(r.max()) <= 0.5


def test_student_can_start_from_the_teacher():
    trainer = Trainer(_tiny(task_options={"teacher_steps": 4, "student_init": "teacher"}))
    teacher, student = trainer.models.frozen["teacher"], trainer.models.generator
    stem_t, stem_s = teacher.stem[0].weight, student.stem[0].weight  # (width, C, k), (width, C + 1, k)
    torch.testing.assert_close(stem_s[:, :-1], stem_t, rtol=0, atol=0)
    assert stem_s[:, -1].abs().sum() == 0
    torch.testing.assert_close(student.head[-1].weight, teacher.head[-1].weight, rtol=0, atol=0)


def test_run_sweep_with_two_variants(tmp_path):
    from featmatch.train.sweep import metric_curves, run_sweep

    base = {"task": "early", "data.size": 256, "data.batch_size": 32, "model.width": 8,
            "task_options.teacher_steps": 4}
    result = run_sweep("mnist1d", {"ce": {"task_options.use_discriminator": False}, "fm": {}}, [0], tmp_path / "cmp",
                       steps=3, base_overrides=base)
    assert not result.summary["failed"]
    assert {r["variant"] for r in result.summary["rows"]} == {"ce", "fm"}
    assert set(METRICS) <= set(result.summary["metrics"])
    assert (tmp_path / "cmp" / "comparison.png").is_file()  # with the accuracy@r curves of both variants
    assert [name for _, name in metric_curves(result.summary["metrics"])["accuracy@"]] == METRICS[:-1]
