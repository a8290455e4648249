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

CURVE = [fraction_metric_name(r) for r in EARLY_FRACTIONS] + ["accuracy_auc"]
assert CURVE[0] == "accuracy@0.1" and CURVE[9] == "accuracy@1.0"  # the contract's names
METRICS = [*CURVE, "earliness", "accuracy_at_stop", "harmonic_mean", "stop_threshold"]
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
    assert summary["config"]["recipe"] == "early-mnist1d" and summary["family"] == "early_resnet"
    assert list(summary["metrics"]) == METRICS
    assert all(0.0 <= v <= 1.0 for v in summary["metrics"].values())
    m = summary["metrics"]
    assert m["accuracy_auc"] == pytest.approx(np.mean([m[k] for k in CURVE[:-1]]))
    late = 1 - m["earliness"]
    assert m["harmonic_mean"] == pytest.approx(2 * m["accuracy_at_stop"] * late / (m["accuracy_at_stop"] + late))
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
    n = len(loaded.task.test_split())
    assert round(m["earliness"] * 20 * n) == pytest.approx(m["earliness"] * 20 * n)  # every stop is at some k/20
    torch.testing.assert_close(loaded.models.frozen["teacher"].state_dict(), state["frozen"]["teacher"],
                               rtol=0, atol=0)

    # featmatch sample: predictions (N, 10) at r = 0.1 ... 1.0, or a picture.
    assert main(["sample", "--checkpoint", str(run), "--n", "5", "--out", str(tmp_path / "p.npy")]) == 0
    preds = np.load(tmp_path / "p.npy")
    assert preds.shape == (5, 10) and preds.dtype == np.int64 and ((preds >= 0) & (preds < 10)).all()
    # ... or the class probabilities (N, R, K) at r = 0.05, 0.1, ... 1 of the same drawn sequences.
    assert main(["sample", "--checkpoint", str(run), "--n", "5", "--probabilities", "--out",
                 str(tmp_path / "proba.npy")]) == 0
    proba = np.load(tmp_path / "proba.npy")
    assert proba.shape == (5, 20, 10) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba[:, 1::2].argmax(-1), preds)  # r = 0.1, 0.2, ... are columns 1, 3, ...
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
    args = ["train", "--data", str(tmp_path / "seq.npz"), "--steps", "4", "--out", str(run), *TINY]
    assert main(args) == 0  # T = 16: features of length 4, so D has 2 blocks (d_depth follows T)
    summary = _summary(run)
    assert list(summary["metrics"]) == METRICS
    assert summary["config"]["recipe"] == "early-sequences"  # the early task's recipe for users' files
    state = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])
    assert state["data"]["sample_shape"] == [2, 16] and len(load_run(run).models.discriminator.blocks) == 2


def test_a_small_ucr_style_npz_just_works(tmp_path, caplog):
    """20 training series of 3 channels, a test split under x_test/y_test, the recipe's batch of 32."""
    gen = torch.Generator().manual_seed(1)
    y, y_test = torch.arange(20) % 2, torch.arange(7) % 2
    x = torch.randn(20, 3, 24, generator=gen) + 3 * y.view(-1, 1, 1)  # (N, C, T)
    x_test = torch.randn(7, 3, 24, generator=gen) + 3 * y_test.view(-1, 1, 1)
    np.savez(tmp_path / "ucr.npz", x=x.numpy(), y=y.numpy(), x_test=x_test.numpy(), y_test=y_test.numpy())
    run = tmp_path / "run"
    caplog.set_level("INFO", logger="featmatch")
    assert main(["train", "--task", "early", "--data", str(tmp_path / "ucr.npz"), "--steps", "3", "--teacher-steps",
                 "2", "--model-width", "4", "--quiet", "--out", str(run)]) == 0
    lowered = [r.getMessage() for r in caplog.records if "larger than the" in r.getMessage()]
    assert lowered == ["data.batch_size=32 is larger than the 16 training samples; lowered to 16"]  # 4 held out
    summary = _summary(run)
    assert summary["config"]["data"]["batch_size"] == 16
    m = summary["metrics"]
    assert all(round(m[k] * 7) == pytest.approx(m[k] * 7) for k in CURVE[:-1])  # the 7 series of x_test
    task = load_run(run).task
    assert len(task.test_split()) == 7 and len(task.load_data("train", torch.device("cpu"))) == 16
    held = task.holdout_split()
    assert held is not None and sorted(held.y.tolist()) == [0, 0, 1, 1]  # stratified: 2 of each class's 10


def test_holdout_is_stratified_and_a_fixed_threshold_needs_none(tmp_path):
    task = EarlyTask(_tiny(**{"data.size": 200}))
    train, held = task.load_data("train", torch.device("cpu")), task.holdout_split()
    assert held is not None and len(train) + len(held) == 200 and abs(len(held) - 40) <= 5  # 20% of each class
    everything = EarlyTask(_tiny(**{"data.size": 200, "task_options": {"stop_threshold": 0.0}}))
    whole = everything.load_data("train", torch.device("cpu"))
    assert len(whole) == 200 and everything.holdout_split() is None
    # The held-out and training series are disjoint and together the whole training split.
    rows = {tuple(r.flatten().tolist()) for r in whole.x}
    assert {tuple(r.flatten().tolist()) for r in train.x} | {tuple(r.flatten().tolist()) for r in held.x} == rows
    assert len({tuple(r.flatten().tolist()) for r in train.x} & {tuple(r.flatten().tolist()) for r in held.x}) == 0
    per_class = torch.bincount(held.y, minlength=10).float()
    assert torch.allclose(per_class, torch.bincount(whole.y, minlength=10).float() * 0.2, atol=0.5)


def test_a_fixed_threshold_of_zero_stops_at_the_first_fraction():
    trainer = Trainer(_tiny(task_options={"teacher_steps": 4, "stop_threshold": 0.0}))
    metrics = trainer.task.evaluate(trainer.G, trainer.models, trainer.data, torch.device("cpu"))
    assert metrics["earliness"] == pytest.approx(0.05) and metrics["stop_threshold"] == 0.0
    test = trainer.task.test_split()
    probabilities = EarlyTask.predict_proba(trainer.G, test.x, (0.05,), torch.device("cpu"))  # (N, 1, K)
    assert metrics["accuracy_at_stop"] == pytest.approx(float((probabilities[:, 0].argmax(1) == test.y).double().mean()))


def test_normalize_series_and_its_errors(tmp_path):
    from featmatch.train.tasks.early import zscore

    task = EarlyTask(_tiny(task_options={"normalize": "series", "stop_threshold": 0.5}))
    x = task.load_data("train", torch.device("cpu")).x
    torch.testing.assert_close(x.mean(-1), torch.zeros(x.shape[:2]), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(-1, unbiased=False), torch.ones(x.shape[:2]), atol=1e-4, rtol=0)
    raw = torch.tensor([[[2.0, 4.0, 6.0, 8.0]]])
    ref = (raw - 5.0) / np.sqrt(5.0)
    torch.testing.assert_close(zscore(raw), ref)
    # A user's sequences for `featmatch sample --condition` are scaled as the run's data.
    mine = torch.arange(32.0).view(2, 1, 16) ** 2  # (N, C, T)
    np.save(tmp_path / "mine.npy", mine.numpy())
    models = task.build_models({"sample_shape": [1, 16], "num_classes": 10})
    expected = (mine - mine.mean(-1, keepdim=True)) / mine.std(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(task.inputs_from_file(tmp_path / "mine.npy", models).x, expected)
    with pytest.raises(ValueError, match=r"normalize must be one of \('none', 'series'\); got 'minmax'"):
        EarlyTask(_tiny(task_options={"normalize": "minmax"}))
    with pytest.raises(ValueError, match="holdout=0 leaves no held-out training data.*--stop-threshold"):
        EarlyTask(_tiny(task_options={"holdout": 0.0}))
    with pytest.raises(ValueError, match=r"stop_threshold must lie in \[0, 1\].*got 1.5"):
        EarlyTask(_tiny(task_options={"stop_threshold": 1.5}))


def test_probabilities_of_a_run_of_another_task_are_refused(tmp_path, capsys):
    run = tmp_path / "ring"
    assert main(["train", "--data", "ring8", "--steps", "2", "--quiet", "--out", str(run),
                 "--set", "data.size=64", "--batch-size", "16", "--set", "log.checkpoint_every=2"]) == 0
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--probabilities", "--out", str(tmp_path / "p.npy")]) == 2
    assert "--probabilities applies to early-prediction runs (task 'early')" in capsys.readouterr().err


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
    first_t, first_s = teacher.blocks[0], student.blocks[0]  # the input's convolution and shortcut
    for conv_t, conv_s in [(first_t.body[0].conv, first_s.body[0].conv), (first_t.shortcut[0], first_s.shortcut[0])]:
        stem_t, stem_s = conv_t.weight, conv_s.weight  # (width, C, k), (width, C + 1, k)
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
    assert [name for _, name in metric_curves(result.summary["metrics"])["accuracy@"]] == CURVE[:-1]
