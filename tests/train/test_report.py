"""Tests of report.md and its plots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from featmatch.train.plots import save_samples
from featmatch.train.report import write_report


def make_history(fm_only: bool = False) -> list[dict]:
    rows = []
    for step in range(50, 1001, 50):
        row = {
            "step": step,
            "loss/d": 1.3 - step / 2000,
            "loss/g_fm": 0.2 / step,
            "fm/block0": 0.1 / step,
            "fm/block1": 0.1 / step,
            "d/real_prob": 0.6,
            "d/fake_prob": 0.4,
            "d/accuracy": 0.62,
            "grad/g": 1.0,
            "grad/d": 2.0,
            "steps_per_sec": 250.0,
        }
        if not fm_only:
            row["loss/g_adv"] = 0.8
        rows.append(row)
    return rows


SUMMARY = {
    "steps": 1000,
    "target_steps": 1000,
    "interrupted": False,
    "wall_time_sec": 125.5,
    "device": "cpu",
    "family": "conv",
    "final": {"step": 1000, "loss/d": 0.8},
    "metrics": {"frechet_distance": 12.3456789, "modes_covered": 8, "per_class": {"0": 0.5}},
    "samples": ["samples/step_001000.png"],
    "config": {"data": {"name": "digits", "batch_size": 64}, "steps": 1000, "betas": (0.5, 0.999)},
}

EPISODE = {
    "kind": "d_dominates",
    "start_step": 300,
    "alert_step": 350,
    "end_step": 600,
    "peak": {"loss/d": 0.0123, "d/accuracy": 0.999},
    "message": "the discriminator dominates since step 300: loss/d 0.0123 | accuracy 0.999",
    "suggestion": "raise --fm-weight, lower --lr-d, use --objective fm, or switch --d-loss hinge",
}


def test_report_with_episode_samples_metrics_and_config(tmp_path: Path) -> None:
    run = tmp_path / "my run"
    samples = [
        save_samples(torch.rand(4, 1, 8, 8) * 2 - 1, "image", run / "samples" / f"step_{s:06d}.png")
        for s in range(100, 1001, 100)
    ]
    path = write_report(run, summary=SUMMARY, history=make_history(), episodes=[EPISODE], sample_paths=samples)
    assert path == run / "report.md"
    text = path.read_text(encoding="utf-8")

    # Plots exist, are valid PNGs, and are linked relatively.
    for name in ("losses.png", "balance.png"):
        image = Image.open(run / name)
        image.load()
        assert image.format == "PNG" and image.size[0] >= 500 and image.size[1] >= 300
        assert f"]({name})" in text
    # Samples: the latest ones inline with relative links, earlier ones as links; all resolve.
    assert "![step_001000](samples/step_001000.png)" in text
    assert "[step_000100](samples/step_000100.png)" in text
    for link in re.findall(r"\]\(([^)]+)\)", text):
        assert not os.path.isabs(link) and (run / link).is_file(), link

    # Diagnosis: the episodes table with the suggestion; the "|" in the message is escaped.
    assert "no imbalance detected" not in text
    assert "| episode | steps | peak | what was seen | suggestion |" in text
    row = next(line for line in text.splitlines() if line.startswith("| D dominates |"))
    assert "| 300 – 600 |" in row and "loss/d 0.0123, d/accuracy 0.999" in row
    assert "loss/d 0.0123 \\| accuracy" in row and "--fm-weight" in row
    assert len(re.split(r"(?<!\\)\|", row)) == 7  # 5 cells

    # Final metrics: evaluation (nested flattened, 4 significant digits) and training scalars.
    assert "| frechet_distance | 12.35 |" in text
    assert "| modes_covered | 8 |" in text
    assert "| per_class/0 | 0.5 |" in text
    assert "Training scalars (last logged step, 1000):" in text
    assert "| loss/d | 0.8 |" in text and "| loss/g_adv | 0.8 |" in text
    # Wall time and run facts.
    assert "wall time 126 s (0:02:06)" in text
    assert "| wall_time_sec | 126 s (0:02:06) |" in text
    # Configuration as a YAML block that parses back.
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    assert yaml.safe_load(block.group(1)) == {
        "data": {"name": "digits", "batch_size": 64}, "steps": 1000, "betas": [0.5, 0.999]
    }
    # Atomic write: no temporary files left in the run directory.
    assert sorted(p.name for p in run.iterdir()) == ["balance.png", "losses.png", "report.md", "samples"]


def test_report_without_episodes_says_no_imbalance(tmp_path: Path) -> None:
    history = make_history(fm_only=True)  # no loss/g_adv at all
    path = write_report(tmp_path, summary={"wall_time_sec": 4.25}, history=history, episodes=[], sample_paths=[])
    text = path.read_text(encoding="utf-8")
    assert "no imbalance detected" in text
    assert "| episode |" not in text
    assert "loss/g_adv" not in text
    assert "No samples were saved." in text
    assert "No configuration was recorded." in text
    assert "wall time 4.2 s" in text
    assert "| loss/g_fm | 0.0002 |" in text  # 0.2 / 1000


def test_report_with_empty_history_uses_summary_final(tmp_path: Path) -> None:
    ongoing = dict(EPISODE, end_step=None, kind="collapse")
    text = write_report(
        tmp_path, summary={"final": {"step": 7, "loss/d": float("nan")}}, history=[], episodes=[ongoing], sample_paths=[]
    ).read_text()
    assert "| loss/d | nan |" in text
    assert "| collapse | 300 – (ongoing) |" in text
    assert "1 still ongoing" in text
    for name in ("losses.png", "balance.png"):
        Image.open(tmp_path / name).load()


def test_report_rewrites_atomically_and_checks_arguments(tmp_path: Path) -> None:
    write_report(tmp_path, summary={}, history=[], episodes=[EPISODE], sample_paths=[])
    text = write_report(tmp_path, summary={}, history=[], episodes=[], sample_paths=[]).read_text()
    assert "no imbalance detected" in text  # replaced, not appended
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(TypeError, match="summary must be a dict"):
        write_report(tmp_path, summary=[], history=[], episodes=[], sample_paths=[])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sample_paths must be a list of paths, got PosixPath"):
        write_report(tmp_path, summary={}, history=[], episodes=[], sample_paths=tmp_path)  # type: ignore[arg-type]


def test_metrics_have_their_scale_and_a_line_each(tmp_path: Path) -> None:
    from featmatch.train.report import METRIC_NOTES

    metrics = {
        "frechet_distance": 163.2,
        "frechet_distance_real": 12.5,
        "precision": 0.8,
        "metric_classifier_accuracy": 0.97,
        "classifier_accuracy": 0.97,  # the old name, kept one release: not a row of its own
        "accuracy@0.5": 0.7,
        "something_new": 1.0,
    }
    text = write_report(tmp_path, summary={"metrics": metrics}, history=[], episodes=[], sample_paths=[]).read_text()
    assert "| frechet_distance | 163.2 (real data: 12.5) | " in text
    assert "| frechet_distance_real |" not in text and "| classifier_accuracy |" not in text
    assert f"| precision | 0.8 | {METRIC_NOTES['precision']} |" in text
    assert "| metric_classifier_accuracy | 0.97 | the metric classifier's own accuracy" in text
    assert "| accuracy@0.5 | 0.7 | accuracy with that fraction observed |" in text
    assert "| something_new | 1 |  |" in text


def test_real_samples_sit_beside_the_latest_generated_ones(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    paths = [samples / f"step_{s:06d}.png" for s in (100, 200)]
    for path in [*paths, samples / "real.png"]:
        path.write_bytes(b"")
    text = write_report(
        tmp_path, summary={}, history=[], episodes=[], sample_paths=paths, real_samples=samples / "real.png"
    ).read_text()
    assert "| generated, step_000200 | real training samples |" in text
    assert "| ![step_000200](samples/step_000200.png) | ![real samples](samples/real.png) |" in text
    assert "**step_000100**" in text  # the earlier one below, on its own


def test_a_run_draws_real_samples_once_and_reports_them(tmp_path: Path) -> None:
    from featmatch.train.config import build_config
    from featmatch.train.trainer import run_training

    values = {
        "data.name": "digits",
        "data.size": 64,
        "data.batch_size": 8,
        "model.width": 8,
        "steps": 2,
        "log.quiet": True,
        "log.out": str(tmp_path / "run"),
        "log.n_samples": 16,
        "log.eval_samples": 50,
    }
    summary = run_training(build_config(values))
    assert (tmp_path / "run" / "samples" / "real.png").is_file()
    assert "samples/real.png" not in summary["samples"]  # the generated pictures only
    assert "![real samples](samples/real.png)" in (tmp_path / "run" / "report.md").read_text()
