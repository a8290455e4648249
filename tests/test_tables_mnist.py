"""benchmarks/table6b_mnist.py and table7_mnist.py: the runs they train and the tables they read back.

Training MNIST belongs in the benchmarks; here the run lists are checked and the tables are read from
run files written by hand (with the same keys a run writes), so the scripts cannot silently rot.
"""

from __future__ import annotations

import json
from pathlib import Path

from _benchmark_scripts import load_benchmark

from featmatch.train.config import build_config
from featmatch.train.sweep import _run_overrides

table6b = load_benchmark("table6b_mnist")
table7 = load_benchmark("table7_mnist")


def test_table6b_trains_the_paper_setting_longest_first(tmp_path: Path) -> None:
    runs = table6b.gan_runs(tmp_path, ["fm", "adv", "labels20"], [0, 1, 2], 100.0, 300.0)
    assert runs[0].name == "fm/seed0" and runs[0].overrides["steps"] == 180_000
    assert {r.name for r in runs} == {
        "fm/seed0", "fm/seed1", "fm/seed2", "adv/seed0", "adv/seed1", "adv/seed2", "labels20/seed0"
    }
    by_name = {r.name: r for r in runs}
    assert by_name["fm/seed1"].overrides["steps"] == 60_000
    assert by_name["labels20/seed0"].overrides["task_options.labels"] == 20
    config = build_config(_run_overrides(by_name["adv/seed1"]))
    assert (config.task, config.data.name, config.recipe, config.objective.kind) == ("semi", "mnist", "semi-mnist", "adv")
    assert config.log.eval_every == 3000 and 60_000 % config.log.eval_every == 0  # 5 epochs; 100 is one of them


def _semi_run(folder: Path, errors: dict[int, int]) -> None:
    folder.mkdir(parents=True)
    rows = [{"step": step, "eval/test_error": e / 10_000, "eval/test_errors": float(e)} for step, e in errors.items()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_table6b_reads_errors_at_100_epochs_and_the_curve(tmp_path: Path) -> None:
    _semi_run(tmp_path / "fm" / "seed0", {6000: 900, 18000: 300, 60000: 120, 180000: 95})
    _semi_run(tmp_path / "fm" / "seed1", {60000: 140})
    _semi_run(tmp_path / "adv" / "seed0", {30000: 500})  # not at 100 epochs yet: left out
    (tmp_path / "supervised" / "seed0").mkdir(parents=True)
    (tmp_path / "supervised" / "seed0" / "summary.json").write_text(json.dumps({"metrics": {"test_errors": 2500.0}}))
    table = table6b.tabulate(tmp_path, 100.0, 300.0)
    assert "| fm | 100 | 130 +- 14 | seed0: 120, seed1: 140 |" in table
    assert "| adv | 100 | - |  |" in table
    assert "| supervised (early-stopped) | 100 | 2500 +- 0 | seed0: 2500 |" in table
    assert "| errors | 900 | 300 | 120 | 95 |" in table
    # every run's curve so far, the unfinished adv run too, with its best
    assert "| adv/seed0 | " + " | ".join(["-"] * 9 + ["500"] + ["-"] * 50) + " | 500 |" in table
    assert table.count("| fm/seed1 |") == 1


def test_table7_rows_share_the_recipe_and_differ_in_the_objective(tmp_path: Path) -> None:
    runs = table7.runs(tmp_path, list(table7.ROWS), [0, 1], None)
    assert len(runs) == 2 * len(table7.ROWS)
    configs = {r.name: build_config(_run_overrides(r)) for r in runs}
    steps = {c.steps for c in configs.values()}
    assert len(steps) == 1  # the same budget for every row
    assert {c.data.name for c in configs.values()} == {"mnist"}
    assert configs["bce/seed0"].objective.kind == "adv" and configs["hinge/seed0"].objective.d_loss == "hinge"
    assert configs["adv+rff/seed1"].objective.fm_statistic == "rff"
    assert configs["fm/seed0"].objective.kind == "fm"


def test_table7_reads_finished_runs_only(tmp_path: Path) -> None:
    def run(row: str, seed: int, fd: float, steps: int = 10) -> None:
        folder = tmp_path / row / f"seed{seed}"
        folder.mkdir(parents=True)
        metrics = {
            "frechet_distance": fd,
            "frechet_distance_real": 2.0,
            "precision": 0.9,
            "recall": 0.5,
            "classes_covered": 10.0,
        }
        summary = {"steps": steps, "target_steps": 10, "wall_time_sec": 100.0, "metrics": metrics}
        (folder / "summary.json").write_text(json.dumps(summary))

    run("bce", 0, 10.0)
    run("bce", 1, 14.0)
    run("fm", 0, 8.0, steps=5)  # interrupted: not in the table
    table = table7.tabulate(tmp_path, ["bce", "fm"])
    assert "| bce | 2 | 12.00 +- 2.83 | 2.00 +- 0.00 | 0.900 +- 0.000 | 0.500 +- 0.000 | 10.0 +- 0.0 | 100 +- 0 |" in table
    assert "| fm | 0 | - | - | - | - | - | - |" in table
