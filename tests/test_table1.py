"""benchmarks/table1_mixtures.py: its rows parse, its recommended row is what `featmatch train
--data ring8|grid25` uses by default, and its run-time estimate schedules runs correctly."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from _benchmark_scripts import load_benchmark

from featmatch.cli import train_overrides
from featmatch.train import build_config


@pytest.fixture(scope="module")
def table1():
    return load_benchmark("table1_mixtures")


def _config(flags: list[str], data: str):
    return build_config({**train_overrides(flags), "data.name": data})


@pytest.mark.parametrize("data", ["ring8", "grid25"])
def test_every_row_is_a_valid_variant(table1, data):
    for name, flags in table1.ROWS.items():
        config = _config([*table1.PROTOCOL, *shlex.split(flags)], data)  # raises naming the bad flag
        assert config.data.batch_size == 512 and config.model.family == "mlp2d_benchmark", name


@pytest.mark.parametrize("data", ["ring8", "grid25"])
def test_recommended_row_is_the_data_set_default(table1, data):
    recommended = _config([*table1.PROTOCOL, *shlex.split(table1.RECOMMENDED)], data)
    default = build_config({"data.name": data})
    assert default.objective == recommended.objective
    assert default.optim == recommended.optim  # protocol learning rates, betas, EMA
    assert default.model == recommended.model and default.data.batch_size == 512
    assert default.log.eval_samples == 2500


def test_estimate_schedules_longest_runs_first(table1):
    per_run = {r: table1.MS_PER_STEP[r] * 1000 / 1000 + table1.SECONDS_PER_RUN for r in table1.ROWS}
    # One run per core: the wall time is the longest run; the CPU time the sum.
    wall, cpu = table1._estimate(["gan", "featmatch"], ["ring8"], [0], 1000, jobs=2)
    assert wall == pytest.approx(max(per_run["gan"], per_run["featmatch"]))
    assert cpu == pytest.approx(per_run["gan"] + per_run["featmatch"])
    # Three equal runs on two cores take two runs' time.
    wall, _ = table1._estimate(["gan"], ["ring8"], [0, 1, 2], 1000, jobs=2)
    assert wall == pytest.approx(2 * per_run["gan"])


def test_fit_plan_shrinks_seeds_then_rows_then_steps(table1):
    rows, data, seeds = list(table1.ROWS), ["ring8", "grid25"], [0, 1, 2, 3, 4]
    full_wall, _ = table1._estimate(rows, data, seeds, 25000, 16)
    assert table1.fit_plan(rows, data, seeds, 25000, 16, full_wall * 1.2 + 1) == (rows, seeds, 25000)
    three_wall, _ = table1._estimate(rows, data, seeds[:3], 25000, 16)
    assert table1.fit_plan(rows, data, seeds, 25000, 16, three_wall * 1.2 + 1) == (rows, seeds[:3], 25000)
    # Nothing fits at 25,000 steps in 300 s: the key rows, two seeds (12 runs on 16 cores), fewer steps.
    rows_, seeds_, steps = table1.fit_plan(rows, data, seeds, 25000, 16, 300.0)
    assert (rows_, seeds_) == (["featmatch", "gan", "gan_lrd1e-3"], [0, 1])
    assert steps % 1000 == 0 and steps < 25000
    assert table1._estimate(rows_, data, [0, 1], steps, 16)[0] * 1.2 <= 300.0


def _fake_run(run_dir: Path, modes: float, high_quality: float) -> None:
    run_dir.mkdir(parents=True)
    summary = {"steps": 100, "target_steps": 100, "interrupted": False, "wall_time_sec": 1.0,
               "metrics": {"modes_covered": modes, "high_quality": high_quality, "reverse_kl": 0.01}}
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")


def test_tabulate_counts_finished_runs_and_trains_nothing(table1, tmp_path, monkeypatch):
    monkeypatch.setattr(table1, "train_blocks", lambda *a, **k: pytest.fail("--tabulate trained"))
    _fake_run(tmp_path / "ring8" / "gan" / "seed0", 2.0, 0.10)
    _fake_run(tmp_path / "ring8" / "gan" / "seed1", 4.0, 0.30)
    _fake_run(tmp_path / "grid25" / "gan" / "seed0", 5.0, 0.02)
    unfinished = tmp_path / "grid25" / "gan" / "seed1"
    _fake_run(unfinished, 25.0, 0.99)
    (unfinished / "summary.json").write_text(json.dumps({"steps": 50, "target_steps": 100}), encoding="utf-8")

    argv = ["--tabulate", "--out", str(tmp_path), "--rows", "gan,featmatch", "--seeds", "0,1", "--steps", "100"]
    assert table1.main(argv) == 0
    text = (tmp_path / "table1.md").read_text(encoding="utf-8")
    # ring8: modes 3.0 +- 1.4, 20.0 +- 14.1 %; grid25: the one finished seed; the interrupted one is not counted.
    assert "| `gan` (featmatch) | 3.0 ± 1.4 | 20.0 ± 14.1 | 5.0 | 2.0 | 2/1 | this run |" in text
    assert "| `featmatch` (featmatch) | – | – | – | – | 0/0 | this run |" in text
    assert "nothing was trained" in text
    assert not (tmp_path / "grid25" / "featmatch").exists()


def test_tabulate_needs_an_existing_out(table1, tmp_path, capsys):
    with pytest.raises(SystemExit):
        table1.main(["--tabulate", "--out", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert "--tabulate" in err and str(tmp_path / "missing") in err
    assert not (tmp_path / "missing").exists()


def test_tabulate_refuses_planning_flags(table1, tmp_path, capsys):
    with pytest.raises(SystemExit):
        table1.main(["--tabulate", "--out", str(tmp_path), "--time-budget", "5"])
    assert "--tabulate trains nothing" in capsys.readouterr().err
