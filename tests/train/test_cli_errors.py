"""The command line's promise: every user mistake is one line `featmatch <command>: error: ...`
with exit status 2; a bug inside featmatch keeps its traceback. And help that tells the truth."""

from __future__ import annotations

import logging
import re
import sys

import numpy as np
import pytest

import featmatch.cli
from featmatch.cli import build_parser, main
from featmatch.errors import InputError, UnknownOptionError
from featmatch.train import Trainer
from featmatch.train.config import build_config


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[-1].startswith(f"featmatch {command}: error: "), err
    return lines[-1]


def test_an_unknown_data_option_for_a_file_is_one_line(tmp_path, capsys):
    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32))
    code = main(["train", "--data", str(points), "--set", "data.options.imagesize=8", "--steps", "1",
                 "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 2
    line = _one_line_error(capsys, "train")
    assert "unknown data option 'imagesize'" in line and "did you mean 'image_size'" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_the_unknown_option_error_is_still_a_type_error(tmp_path):
    # The library keeps the built-in type a Python caller expects; the marker is what the CLI reads.
    from featmatch.data import load_dataset

    points = tmp_path / "points.npy"
    np.save(points, np.zeros((8, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="unknown data option") as info:
        load_dataset(str(points), "train", imagesize=8)
    assert isinstance(info.value, UnknownOptionError) and isinstance(info.value, InputError)


def test_an_unusable_output_path_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    code = main(["train", "--data", "ring8", "--steps", "1", "--out", str(blocker / "run"), "--quiet"])
    assert code == 2
    assert "Not a directory" in _one_line_error(capsys, "train")


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(args):
        raise KeyError("an internal bug")

    monkeypatch.setattr(featmatch.cli, "_cmd_eval", broken)
    with pytest.raises(KeyError, match="an internal bug"):
        main(["eval", "--checkpoint", "nowhere"])


def _train_help() -> str:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return " ".join(subparsers.choices["train"].format_help().split())  # one line, wrapping undone


def test_help_names_the_data_sets_whose_default_differs():
    text = _train_help().replace("- ", "-")  # argparse wraps after hyphens
    # digits, ring8 and grid25 train adv+fm, mnist1d and your data fm (tasks' recipes are named too).
    assert re.search(r"\(default: digits, ring8, grid25[a-z0-9, -]*: adv\+fm; mnist1d, [a-z0-9, -]*your data: fm\)",
                     text)
    assert re.search(r"\(default: digits: 4000; ring8, grid25: 25000; mnist1d[a-z0-9, -]*: 3000;", text)
    # Statistics the defaults use are listed (grid25 runs rff).
    assert re.search(r"paired, mean, mean_std, rff, mmd \(default: [^)]*\bring8, grid25: rff", text)
    # Every preset is offered, none listed by hand.
    from featmatch import PRESETS

    assert "feature-matching preset: " + ", ".join(PRESETS) + ", or none" in text
    for name, value in (("digits", "adv+fm"), ("mnist1d", "fm")):
        assert build_config({"data.name": name}).objective.kind == value


def test_tensorboard_asked_for_but_missing_is_said_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    overrides = {"data.name": "ring8", "data.size": 64, "data.batch_size": 16, "model.family": "mlp",
                 "model.width": 8, "model.latent_dim": 4, "steps": 2, "log.quiet": True,
                 "log.sample_every": 0, "log.checkpoint_every": 0}
    for wanted, warnings in ((True, 1), (None, 0), (False, 0)):
        caplog.clear()
        cfg = build_config({**overrides, "log.tensorboard": wanted})
        with caplog.at_level(logging.WARNING, logger="featmatch"):
            Trainer(cfg, run_dir=tmp_path / f"run_{wanted}").train()
        said = [r for r in caplog.records if "tensorboard" in r.getMessage()]
        assert len(said) == warnings, (wanted, [r.getMessage() for r in said])
        if said:
            assert "pip install 'featmatch[tensorboard]'" in said[0].getMessage()


def test_metrics_compare_with_the_test_split_loaded_with_the_runs_data_options(tmp_path, monkeypatch):
    # An .npz holding two arrays needs data.options.key; the test split must be read with it too
    # (not silently replaced by the training data, and not failing for want of the option).
    import json

    import torch

    import featmatch.metrics

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "two.npz", a=rng.normal(size=(200, 2)).astype(np.float32),
             b=rng.normal(size=(200, 3)).astype(np.float32))
    seen = []

    def evaluate(data, fake, *, real_test=None, **kwargs):
        seen.append((data, real_test))
        return {"reference_size": torch.tensor(float(len(real_test)))}

    monkeypatch.setattr(featmatch.metrics, "evaluate_samples", evaluate)
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "two.npz"), "--set", "data.options.key=a", "--steps", "2",
                 "--batch-size", "16", "--model-width", "8", "--sample-every", "0", "--checkpoint-every", "0",
                 "--out", str(run), "--quiet"]) == 0
    (train, test), = seen
    assert test is not None and test.sample_shape == train.sample_shape == (2,)
    assert len(test) == 20 and len(train) == 180  # the file's own 90/10 split, not the training data
    assert json.loads((run / "summary.json").read_text())["metrics"] == {"reference_size": 20.0}


def test_sample_with_a_condition_on_an_unconditional_run_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "ring8", "--steps", "2", "--batch-size", "16", "--model", "mlp",
                 "--model-width", "8", "--sample-every", "0", "--set", "log.eval_samples=64",
                 "--out", str(run), "--quiet"]) == 0
    np.save(tmp_path / "c.npy", np.zeros((3, 2), dtype=np.float32))
    capsys.readouterr()
    code = main(["sample", "--checkpoint", str(run), "--condition", str(tmp_path / "c.npy"),
                 "--out", str(tmp_path / "s.npy")])
    assert code == 2
    assert "--condition applies to conditional runs" in _one_line_error(capsys, "sample")
    # Without it, the task draws its own inputs: --n samples of the run's shape.
    assert main(["sample", "--checkpoint", str(run), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (5, 2)
