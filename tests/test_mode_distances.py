"""benchmarks/mode_distances.py on a tiny ring8 run: its fractions agree with Table 1's metric."""

from __future__ import annotations

import pytest
from _benchmark_scripts import load_benchmark

from featmatch.cli import main


def test_fractions_grow_with_the_radius_and_3_std_is_high_quality(tmp_path, capsys):
    mode_distances = load_benchmark("mode_distances")
    run = tmp_path / "run"
    args = ["train", "--data", "ring8", "--data-size", "256", "--batch-size", "32", "--model", "mlp",
            "--model-width", "8", "--latent-dim", "4", "--steps", "20", "--quiet", "--sample-every", "0",
            "--out", str(run)]
    assert main(args) == 0
    result = mode_distances.distances(str(run), n=2000, seed=0, use_ema=True)
    fractions = [result[f"within_{r}std"] for r in mode_distances.RADII]
    assert fractions == sorted(fractions) and 0.0 <= fractions[0] and fractions[-1] <= 1.0
    assert result["within_3std"] == pytest.approx(result["high_quality"], abs=1e-6)
    assert 1 <= result["modes_covered"] <= 8
    assert mode_distances.main([str(run), "--n", "100"]) == 0
    assert f"| {run} |" in capsys.readouterr().out
