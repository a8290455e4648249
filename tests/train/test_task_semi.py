"""The semi-supervised task (issue 18): the split, the batch, the objectives, and the command line end
to end (train, exact resume, eval, sample) on digits, users' .npz and IDX files (tiny models)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from featmatch.cli import main
from featmatch.losses import semi_supervised_discriminator_loss
from featmatch.train import checkpoint as ckpt
from featmatch.train.config import build_config
from featmatch.data import load_dataset
from featmatch.train.tasks.semi import DiscriminatorAverage, SemiTask, labelled_split
from featmatch.train.trainer import Trainer, load_run

TINY = """\
model:
  options: {widths: [16, 8], generator_widths: [8], input_noise: 0.6, hidden_noise: 0.5, output: tanh}
  latent_dim: 4
log: {log_every: 2, sample_every: 3, checkpoint_every: 3, eval_every: 3, eval_samples: 64, n_samples: 16,
      keep_checkpoints: 10}
task_options: {sample_metrics: false, d_ema: 0.1}
"""


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def _train(tmp_path: Path, run: Path, data: str, *extra: str) -> None:
    argv = ["train", "--task", "semi", "--data", data, "--config", str(_config_file(tmp_path)),
            "--batch-size", "20", "--out", str(run), "--quiet", *extra]
    assert main(argv) == 0


def test_the_split_is_class_balanced_seeded_and_disjoint():
    y = torch.arange(10).repeat_interleave(torch.arange(5, 15))  # class k has 5 + k samples
    lab, unl = labelled_split(y, 3, seed=7)
    assert torch.bincount(y[lab]).tolist() == [3] * 10
    assert set(lab.tolist()).isdisjoint(unl.tolist()) and len(lab) + len(unl) == len(y)
    assert sorted(lab.tolist() + unl.tolist()) == list(range(len(y)))
    again, _ = labelled_split(y, 3, seed=7)
    other, _ = labelled_split(y, 3, seed=8)
    assert torch.equal(lab, again) and not torch.equal(lab, other)
    with pytest.raises(ValueError, match="class 0 has 5.*--labels 4 or fewer"):
        labelled_split(y, 5, seed=0)


def test_the_task_trains_on_the_labelled_split_and_the_rest():
    cfg = build_config({"task": "semi", "data.name": "digits", "task_options.labels": 5})
    task = SemiTask(cfg)
    unlabelled = task.load_data("train", torch.device("cpu"))
    assert task.labelled is not None and torch.bincount(task.labelled.y).tolist() == [5] * 10
    assert len(unlabelled) + len(task.labelled) == 1437
    rows = {tuple(r.tolist()) for r in unlabelled.x.flatten(1)}
    assert not any(tuple(r.tolist()) in rows for r in task.labelled.x.flatten(1)[:10])


def _tiny_trainer(**overrides):
    values = {"task": "semi", "data.name": "digits", "data.batch_size": 20, "task_options.labels": 2,
              "model.options": {"widths": [16, 8], "generator_widths": [8]}, "model.latent_dim": 4,
              "task_options.sample_metrics": False, "steps": 3, **overrides}
    return Trainer(build_config(values))


def test_the_d_loss_is_the_library_loss_and_the_g_step_gives_d_no_gradient():
    trainer = _tiny_trainer(**{"task_options.unsupervised_weight": 0.5})
    batch = trainer.draw()
    assert batch.x_lab.shape == (20, 1, 8, 8) and batch.y_lab.shape == (20,) and batch.z.shape == (20, 4)
    assert not torch.equal(batch.x_unl, batch.x_unl2) and 0 <= float(batch.z.min()) and float(batch.z.max()) < 1
    fake = trainer.G(batch.z).detach()
    D = trainer.discriminator
    torch.manual_seed(3)
    objective = trainer.task.discriminator_objective(D, batch, fake, measure=True)
    torch.manual_seed(3)  # the same noise: the task calls D once on the three batches
    logits = D(torch.cat([batch.x_lab, batch.x_unl, fake])).logits.split([20, 20, 20])
    expected = semi_supervised_discriminator_loss(logits[2], logits[1], logits[0], batch.y_lab,
                                                  unsupervised_weight=0.5)
    torch.testing.assert_close(objective.total(), expected, rtol=0, atol=0)
    torch.testing.assert_close(objective.real_logits[0], torch.logsumexp(logits[1], 1).detach())

    for p in trainer.d_params:
        p.grad = None
    before = [p.detach().clone() for p in trainer.d_params]
    result = trainer.generator_step(batch, trainer.G(batch.z), measure=True)
    assert all(p.grad is None for p in trainer.d_params)
    assert all(torch.equal(a, p) for a, p in zip(before, trainer.d_params, strict=True))
    assert set(result.weights) == {"g_fm"} and {"g_fm", "g_adv"} <= set(result.terms)
    assert list(result.layers) == ["hidden2"]  # the last hidden layer


def test_objective_adv_trains_g_with_the_adversarial_loss():
    trainer = _tiny_trainer(**{"objective.kind": "adv"})
    batch = trainer.draw()
    result = trainer.generator_step(batch, trainer.G(batch.z), measure=True)
    assert set(result.weights) == {"g_adv"}


def test_the_average_of_d_is_bias_corrected():
    source = torch.nn.Linear(2, 1)
    avg = DiscriminatorAverage(source)
    with torch.no_grad():
        source.weight.zero_()
    avg.update(source, 0.5)  # first update: a copy
    assert torch.equal(avg.model.weight, source.weight)
    with torch.no_grad():
        source.weight.fill_(3.0)
    avg.update(source, 0.5)  # (0.5 * 0 * 0.5 + 0.5 * 3) / (1 - 0.25) = 2
    torch.testing.assert_close(avg.model.weight, torch.full((1, 2), 2.0))


def _final(run: Path) -> dict:
    return ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])


def test_train_resume_eval_and_sample_on_digits(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    _train(tmp_path, whole, "digits", "--labels", "2", "--steps", "6")
    _train(tmp_path, split, "digits", "--labels", "2", "--steps", "3")
    assert main(["train", "--resume", str(split), "--steps", "6", "--quiet"]) == 0
    a, b = _final(whole), _final(split)
    assert a["step"] == b["step"] == 6
    for key in ("generator", "discriminator", "ema"):
        if a[key] is not None:
            for name, value in a[key].items():
                assert torch.equal(value, b[key][name]), (key, name)
    for name, value in a["frozen"]["discriminator_ema"].items():  # D's average, the classifier
        assert torch.equal(value, b["frozen"]["discriminator_ema"][name]), name
    assert int(a["frozen"]["labelled_stream"]["drawn"]) == 6 * 20

    summary = json.loads((whole / "summary.json").read_text())
    assert {"test_error", "test_errors"} <= set(summary["metrics"])
    assert summary["metrics"]["test_errors"] == round(summary["metrics"]["test_error"] * 360)
    rows = [json.loads(line) for line in (whole / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval/test_error" in r] == [3, 6]
    assert {"loss/d_sup", "loss/d_unsup", "d/real_prob", "loss/g_fm"} <= set(rows[0])
    report = (whole / "report.md").read_text()
    assert "## Semi-supervised classification" in report and (whole / "test_error.png").is_file()
    # The labelled examples, written down: 2 per class, indices into the training split.
    labelled = np.load(whole / "labelled.npy")
    assert labelled.dtype == np.int64 and "labelled.npy" in report
    train = load_dataset("digits")
    assert np.bincount(train.y[torch.from_numpy(labelled)].numpy()).tolist() == [2] * 10
    expected, _ = labelled_split(train.y, 2, SemiTask(load_run(whole).config).split_seed)
    assert labelled.tolist() == expected.tolist()
    assert np.array_equal(np.load(split / "labelled.npy"), labelled)  # the resumed run wrote the same

    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(whole)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["test_error"] == summary["metrics"]["test_error"]
    assert main(["sample", "--checkpoint", str(whole), "--n", "8", "--out", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (8, 1, 8, 8) and np.abs(samples).max() <= 1
    loaded = load_run(whole)
    assert int(loaded.models.frozen["discriminator_ema"].updates) == 6


def test_compare_runs_semi_variants_side_by_side(tmp_path):
    """featmatch compare on the semi task: the paper's two generator losses, one table with test_error."""
    out = tmp_path / "cmp"
    train_args = f"--task semi --labels 2 --batch-size 20 --config {_config_file(tmp_path)}"
    assert main(["compare", "--data", "digits", "--seeds", "0", "--steps", "2", "--out", str(out),
                 "--variant", "fm=--objective fm", "--variant", "adv=--objective adv",
                 "--train-args", train_args]) == 0
    table = (out / "table.md").read_text()
    assert "| fm | 1 |" in table and "| adv | 1 |" in table and "test_error" in table
    for variant, kind in (("fm", "fm"), ("adv", "adv")):
        summary = json.loads((out / variant / "seed0" / "summary.json").read_text())
        assert summary["config"]["task"] == "semi" and summary["config"]["objective"]["kind"] == kind
        assert 0.0 <= summary["metrics"]["test_error"] <= 1.0


def test_users_npz_with_labels(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 30)
    x = (rng.normal(size=(90, 12)) + y[:, None] * 2).astype(np.float32)
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    run = tmp_path / "run"
    _train(tmp_path, run, str(tmp_path / "mine.npz"), "--labels", "4", "--steps", "3")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["metrics"]["test_errors"] == round(summary["metrics"]["test_error"] * 9)  # 90/10 split
    state = _final(run)
    assert state["data"]["num_classes"] == 3 and state["data"]["labels_per_class"] == 4


def _write_idx(path: Path, array: np.ndarray) -> None:
    code = 0x08
    raw = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(raw + array.astype(">u1").tobytes())


def test_the_paper_recipe_on_small_idx_files(tmp_path):
    """MNIST cannot be downloaded here: the paper's recipe runs on small IDX files in MNIST's layout."""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 50)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 50, size=(n, 28, 28))
        for k in range(10):  # a bright stripe per class
            images[labels == k, 2 * k:2 * k + 3, :] = 250
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "train-images-idx3-ubyte"), "--recipe", "semi-mnist",
                 "--labels", "2", "--steps", "4", "--batch-size", "20",
                 "--set", "task_options.sample_metrics=false", "--set", "log.checkpoint_every=2",
                 "--out", str(run), "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    config = summary["config"]
    assert config["task"] == "semi" and config["recipe"] == "semi-mnist"
    assert config["optim"]["lr_d"] == 0.001 and config["optim"]["betas"][0] == 0.5
    assert config["optim"]["eps"] == 1e-4 and config["optim"]["fresh_noise"] is True
    assert config["model"]["options"] == {"input_noise": 0.3, "hidden_noise": 0.5, "output": "sigmoid", "unit_range": True}
    assert config["task_options"]["d_ema"] == 1e-4 and config["objective"]["kind"] == "fm"
    assert build_config({"recipe": "semi-mnist", "data.name": "x"}, validate=False).steps == 300 * 60000 // 100
    assert summary["metrics"]["test_errors"] == round(summary["metrics"]["test_error"] * 50)
    state = _final(run)
    assert [k for k in state["discriminator"] if k.endswith("original1")] != []  # weight norm
    widths = [v.shape[0] for k, v in state["discriminator"].items() if k.endswith(".bias")]
    assert widths == [1000, 500, 250, 250, 250, 10]
