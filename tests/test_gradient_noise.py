"""benchmarks/gradient_noise.py on tiny ring8 runs: each noise source shows up where it exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from _benchmark_scripts import load_benchmark

from featmatch.cli import main


def _tiny_run(path: Path, statistic: str) -> Path:
    args = ["train", "--data", "ring8", "--data-size", "256", "--batch-size", "32", "--model", "mlp",
            "--model-width", "8", "--latent-dim", "4", "--steps", "20", "--quiet", "--sample-every", "0",
            "--objective", "adv+fm", "--fm-statistic", statistic, "--out", str(path)]
    assert main(args) == 0
    return path


@pytest.fixture(scope="module")
def gradient_noise():
    return load_benchmark("gradient_noise")


def test_random_directions_are_a_source_only_for_rff(gradient_noise, tmp_path):
    rff = gradient_noise.gradient_noise(gradient_noise.load_trainer(str(_tiny_run(tmp_path / "rff", "rff"))), 4)
    assert set(rff) == {"fm", "adv", "total"}
    assert rff["adv"]["directions"] == 0.0  # the adversarial term draws no directions
    assert rff["fm"]["directions"] > 0.0 and rff["total"]["directions"] > 0.0
    assert all(rff[t]["batches"] > 0.0 and rff[t]["both"] > 0.0 for t in rff)

    mean = gradient_noise.gradient_noise(gradient_noise.load_trainer(str(_tiny_run(tmp_path / "mean", "mean"))), 4)
    assert all(mean[t]["directions"] == 0.0 for t in mean)  # nothing random but the batches
    assert all(mean[t]["batches"] > 0.0 for t in mean)


def test_cli_prints_a_row_per_term_and_rejects_one_draw(gradient_noise, tmp_path, capsys):
    run = _tiny_run(tmp_path / "run", "rff")
    assert gradient_noise.main([str(run), "--draws", "3"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {run} |")]
    assert [row.split(" | ")[2] for row in rows] == ["fm", "adv", "total"]
    with pytest.raises(SystemExit):
        gradient_noise.main([str(run), "--draws", "1"])
    assert "--draws must be >= 2" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"draws must be >= 2.*got 1"):
        gradient_noise.gradient_noise(gradient_noise.load_trainer(str(run)), 1)
