"""`featmatch train | sample | eval` end to end in a temporary directory, with tiny models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml

import featmatch.metrics
from featmatch.cli import main
from featmatch.train.checkpoint import list_checkpoints, load_checkpoint

TINY = ["--log-every", "2", "--sample-every", "2", "--checkpoint-every", "2", "--quiet"]
FAMILIES = {
    "mlp": ["--data", "ring8", "--data-size", "256", "--batch-size", "32", "--model", "mlp",
            "--model-width", "8", "--latent-dim", "4"],
    "conv": ["--data", "digits", "--data-size", "128", "--batch-size", "16", "--model", "conv",
             "--model-width", "4", "--latent-dim", "8", "--ema", "0.9"],
    "sequence": ["--data", "mnist1d", "--data-size", "128", "--batch-size", "16", "--model", "sequence",
                 "--model-width", "4", "--latent-dim", "8", "--objective", "adv+fm", "--fm-preset", "layer_mse"],
}


@pytest.fixture
def fast_metrics(monkeypatch):
    """The image/sequence metrics train a domain classifier (tens of seconds): stand in for them."""

    def evaluate(data, fake, **kwargs):
        assert tuple(fake.shape[1:]) == data.sample_shape
        return {"fake_mean": float(fake.mean()), "fake_std": float(fake.std())}

    monkeypatch.setattr(featmatch.metrics, "evaluate_samples", evaluate)


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_short_run_writes_every_promised_file(tmp_path, family, fast_metrics):
    run = tmp_path / "run"
    assert main(["train", *FAMILIES[family], *TINY, "--steps", "4", "--out", str(run)]) == 0
    for name in ("config.yaml", "metrics.jsonl", "train.log", "summary.json", "report.md",
                 "losses.png", "balance.png"):
        assert (run / name).is_file(), name
    # The generated samples at each sample step, and real ones drawn the same way (the report's scale).
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["real.png", "step_000002.png", "step_000004.png"]
    assert [p.name for p in list_checkpoints(run)] == ["step_00000002.pt", "step_00000004.pt"]

    rows = [r for r in _rows(run) if "loss/d" in r]
    assert [r["step"] for r in rows] == [2, 4]
    for row in rows:
        for key in ("loss/d", "loss/g_adv", "loss/g_fm", "d/real_prob", "d/fake_prob", "d/accuracy",
                    "grad/g", "grad/d", "steps_per_sec"):
            assert math.isfinite(row[key]), key
        assert any(k.startswith("fm/") and k != "fm/weight_multiplier" for k in row)

    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 4 and not summary["interrupted"]
    assert summary["metrics"] and all(math.isfinite(v) for v in summary["metrics"].values())
    assert summary["config"]["model"]["family"] == family
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["steps"] == 4 and config["data"]["name"] == FAMILIES[family][1]
    report = (run / "report.md").read_text()
    assert "samples/step_000004.png" in report and "losses.png" in report


def test_ring8_uses_the_real_mode_metrics(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *FAMILIES["mlp"], *TINY, "--steps", "2", "--out", str(run)]) == 0
    metrics = json.loads((run / "summary.json").read_text())["metrics"]
    assert {"modes_covered", "high_quality"} <= set(metrics)


def _weights(path):
    state = load_checkpoint(path)
    return {**{f"g.{k}": v for k, v in state["generator"].items()},
            **{f"d.{k}": v for k, v in state["discriminator"].items()},
            **{f"ema.{k}": v for k, v in state["ema"].items()}}, state


def test_resume_continues_exactly(tmp_path, fast_metrics):
    # 64 examples in batches of 16: 4 batches an epoch, so the runs cross epoch boundaries.
    args = ["--data", "digits", "--data-size", "64", "--batch-size", "16", "--model", "conv", "--model-width", "4",
            "--latent-dim", "8", "--ema", "0.9", "--objective", "adv+fm", "--d-steps", "2", "--quiet",
            "--log-every", "1", "--sample-every", "0", "--checkpoint-every", "3"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", *args, "--steps", "6", "--out", str(one)]) == 0
    assert main(["train", *args, "--steps", "3", "--out", str(two)]) == 0
    assert main(["train", "--resume", str(two), "--steps", "6"]) == 0
    a, state_a = _weights(list_checkpoints(one)[-1])
    b, state_b = _weights(list_checkpoints(two)[-1])
    assert state_a["step"] == state_b["step"] == 6
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for opt in ("opt_g", "opt_d"):
        for pid, sa in state_a[opt]["state"].items():
            for name, value in sa.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(state_b[opt]["state"][pid][name]))
    # The resumed run's metrics continue the first part's rows without duplicates.
    steps = [r["step"] for r in _rows(two) if "loss/d" in r]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert yaml.safe_load((two / "config.yaml").read_text())["steps"] == 6


def test_resume_mid_schedule_continues_the_same_schedules(tmp_path, fast_metrics):
    args = [*FAMILIES["mlp"], "--quiet", "--log-every", "1", "--sample-every", "0", "--checkpoint-every", "3",
            "--steps", "6", "--lr-schedule", "linear", "--lr-decay-start", "0.3",
            "--objective", "adv+fm", "--adv-weight", "0.1", "--adv-weight-end", "1", "--adv-ramp-start", "0.5"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", *args, "--out", str(one)]) == 0
    assert main(["train", *args, "--out", str(two)]) == 0
    list_checkpoints(two)[-1].unlink()  # as if stopped after step 3 of 6
    assert main(["train", "--resume", str(two)]) == 0
    a, _ = _weights(list_checkpoints(one)[-1])
    b, _ = _weights(list_checkpoints(two)[-1])
    for key in a:
        assert torch.equal(a[key], b[key]), key
    lrs = [r["lr/g"] for r in _rows(two) if "lr/g" in r]
    assert lrs == [r["lr/g"] for r in _rows(one) if "lr/g" in r]
    assert lrs[0] == lrs[1] > lrs[2] > lrs[5] > 0  # constant for 1.8 steps, then down towards 0
    weights = [r["objective/adv_weight"] for r in _rows(two) if "lr/g" in r]
    assert weights == [r["objective/adv_weight"] for r in _rows(one) if "lr/g" in r]
    assert weights[:4] == pytest.approx([0.1, 0.1, 0.1, 0.1]) and weights[5] == pytest.approx(0.7)


def test_resume_falls_back_from_a_corrupt_checkpoint(tmp_path, fast_metrics, capsys):
    run = tmp_path / "run"
    args = [*FAMILIES["mlp"], *TINY]
    assert main(["train", *args, "--steps", "4", "--out", str(run)]) == 0
    latest = list_checkpoints(run)[-1]
    good = list_checkpoints(run)[-2].read_bytes()
    latest.write_bytes(latest.read_bytes()[:100])  # truncated: a crash mid-copy, say
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0
    err = capsys.readouterr().err
    assert "step_00000004.pt" in err and "corrupt" in err and "Falling back" in err
    assert (run / "checkpoints" / "step_00000004.pt.bad").is_file()
    assert (run / "checkpoints" / "step_00000002.pt").read_bytes() == good or \
        "step_00000002.pt" not in [p.name for p in list_checkpoints(run)]
    assert json.loads((run / "summary.json").read_text())["steps"] == 6
    assert load_checkpoint(list_checkpoints(run)[-1])["step"] == 6


def test_refuses_to_clobber_a_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *FAMILIES["mlp"], *TINY, "--steps", "2", "--out", str(run)]) == 0
    before = (run / "metrics.jsonl").read_text()
    assert main(["train", *FAMILIES["mlp"], *TINY, "--steps", "2", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"run directory {str(run)!r} already exists" in err and "--resume" in err and "--out" in err
    assert (run / "metrics.jsonl").read_text() == before
    assert main(["train", *FAMILIES["mlp"], *TINY, "--steps", "2", "--out", str(run), "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["--steps", "-1"], "'steps' (flag --steps) must be an integer >= 1; got -1"),
        (["--fm-statistic", "median"], "statistic must be one of"),
        (["--set", "optim.lr_gg=0.1"], "unknown key 'optim.lr_gg'"),
        (["--resume", "nowhere"], "has no config.yaml"),
    ],
)
def test_bad_configuration_is_rejected(tmp_path, capsys, argv, pattern):
    assert main(["train", *argv, "--out", str(tmp_path / "r")]) == 2
    assert pattern in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_bad_flag_values_and_unknown_flags_exit_with_usage(capsys):
    assert main(["train", "--objective", "gan"]) == 2
    assert "invalid choice: 'gan'" in capsys.readouterr().err
    assert main(["train", "--stepz", "3"]) == 2
    assert "unrecognized arguments: --stepz" in capsys.readouterr().err


def test_unknown_key_in_a_config_file(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("objective:\n  fm_wieght: 2\n")
    assert main(["train", "--config", str(path), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'objective.fm_wieght'" in err and "'objective.fm_weight'" in err


def test_print_config_round_trips_and_flags_override_the_file(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  name: mnist1d\noptim:\n  lr_g: 0.01\n")
    assert main(["train", "--config", str(path), "--lr-g", "0.02", "--fm-layers", "block1,2",
                 "--betas", "0.0,0.99", "--set", "monitor.patience=7", "--print-config"]) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["data"]["name"] == "mnist1d" and config["model"]["family"] == "sequence"
    assert config["optim"]["lr_g"] == 0.02 and config["optim"]["betas"] == [0.0, 0.99]
    assert config["objective"]["fm_layers"] == ["block1", 2] and config["monitor"]["patience"] == 7


def test_sample_and_eval_commands(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *FAMILIES["mlp"], *TINY, "--steps", "2", "--out", str(run)]) == 0
    assert main(["sample", "--checkpoint", str(run), "--n", "50", "--out", str(tmp_path / "s.npy")]) == 0
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (50, 2) and np.isfinite(samples).all()
    assert main(["sample", "--checkpoint", str(list_checkpoints(run)[0]), "--n", "20",
                 "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["sample", "--checkpoint", str(run), "--out", str(tmp_path / "s.txt")]) == 2
    assert "--out must end in .png or .npy" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--n", "200", "--out", str(tmp_path / "m.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"modes_covered", "high_quality"} <= set(printed)
    assert json.loads((tmp_path / "m.json").read_text()) == printed
    assert main(["eval", "--checkpoint", str(tmp_path / "missing.pt")]) == 2


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["eval"]])
def test_help_reads_well(capsys, command):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: featmatch" in out and "examples:" in out
    if command == ["train"]:
        for flag in ("--data", "--objective", "--steps", "--seed", "--out", "--config", "--device", "--resume",
                     "--fm-preset", "--precision", "--monitor-act"):
            assert flag in out
        assert "(default: bce)" in out


@pytest.mark.subprocess
def test_sigterm_saves_a_checkpoint_and_stops_cleanly(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "featmatch", "train", *FAMILIES["mlp"], "--quiet", "--log-every", "1",
           "--sample-every", "0", "--checkpoint-every", "0", "--steps", "100000", "--out", str(run)]
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run / "metrics.jsonl").is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted (SIGTERM)" in err and "--resume" in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["interrupted"] and 0 < summary["steps"] < 100000
    assert load_checkpoint(list_checkpoints(run)[-1])["step"] == summary["steps"]
