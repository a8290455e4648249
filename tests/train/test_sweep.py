"""Sweeps (`featmatch.train.sweep.run_sweep`, `featmatch compare`): variants x seeds, the mean +- std
table from the runs' files, the plot, skipping finished runs, worker processes for --jobs, and
errors for bad variants. Tiny models, a few steps."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from featmatch.cli import _load_variants, _parse_variant, main, train_overrides
from featmatch.train.sweep import (
    RunResult,
    SweepRun,
    collect_results,
    format_table,
    run_sweep,
    summarize,
    train_runs,
)

TINY_FLAGS = ("--model mlp --model-width 8 --latent-dim 4 --data-size 256 --batch-size 32 --log-every 4 "
              "--sample-every 0 --checkpoint-every 0 --set log.tensorboard=false --set log.eval_samples=300 "
              "--set log.n_samples=64 --set monitor.enabled=false")
TINY = {
    "model.family": "mlp", "model.width": 8, "model.latent_dim": 4, "data.size": 256, "data.batch_size": 32,
    "log.log_every": 4, "log.sample_every": 0, "log.checkpoint_every": 0, "log.tensorboard": False,
    "log.eval_samples": 300, "log.n_samples": 64, "monitor.enabled": False,
}
VARIANTS = {"gan": {"objective.kind": "adv"}, "fm": {"objective.kind": "fm", "objective.fm_statistic": "mean"}}
SEEDS = [0, 1]
STEPS = 8


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny sweep in this process, shared by the tests that read it (training is the slow part)."""
    out = tmp_path_factory.mktemp("cmp")
    result = run_sweep("ring8", VARIANTS, SEEDS, out, steps=STEPS, base_overrides=TINY)
    return out, result


def _summary_metrics(out, variant, seed):
    summary = json.loads((out / variant / f"seed{seed}" / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["config"]["seed"] == seed
    return {**summary["metrics"], "wall_time_sec": summary["wall_time_sec"]}


def test_tiny_flags_are_the_tiny_overrides():
    # The CLI tests below use the flags, the library tests the mapping: they are the same runs.
    assert train_overrides(TINY_FLAGS.split()) == TINY


def test_table_is_mean_and_std_of_the_runs_summaries(compared):
    out, result = compared
    assert [r.status for r in result.runs] == ["done"] * 4
    saved = json.loads((out / "table.json").read_text())
    assert saved["metrics"][:3] == ["modes_covered", "high_quality", "reverse_kl"]
    assert saved["variants"] == VARIANTS and saved["base_overrides"] == TINY
    table = (out / "table.md").read_text()
    for row, (name, overrides) in zip(saved["rows"], VARIANTS.items(), strict=True):
        assert row["variant"] == name and row["n"] == 2 and row["seeds"] == SEEDS
        for metric in ("modes_covered", "high_quality", "reverse_kl", "wall_time_sec"):
            values = [_summary_metrics(out, name, s)[metric] for s in SEEDS]
            assert row["mean"][metric] == pytest.approx(statistics.fmean(values), abs=1e-12)
            assert row["std"][metric] == pytest.approx(statistics.stdev(values), abs=1e-12)
        # The markdown row shows the same numbers (high quality in percent).
        hq_mean, hq_std = row["mean"]["high_quality"] * 100, row["std"]["high_quality"] * 100
        kl_mean, kl_std = row["mean"]["reverse_kl"], row["std"]["reverse_kl"]
        line = next(li for li in table.splitlines() if li.startswith(f"| {name} |"))
        assert f"{hq_mean:.1f} ± {hq_std:.1f}" in line
        assert f"{kl_mean:.3f} ± {kl_std:.3f}" in line
        # Without descriptions a row shows its overrides.
        assert "`" + " ".join(f"{k}={v}" for k, v in overrides.items()) + "`" in line


def test_each_run_has_the_variants_config(compared):
    out, _ = compared
    config = yaml.safe_load((out / "fm" / "seed1" / "config.yaml").read_text())
    assert config["objective"]["kind"] == "fm" and config["objective"]["fm_statistic"] == "mean"
    assert config["seed"] == 1 and config["steps"] == STEPS and config["data"]["name"] == "ring8"
    assert config["model"]["width"] == 8 and config["log"]["quiet"] is True
    assert Path(config["log"]["out"]) == out / "fm" / "seed1"
    assert not list(out.glob("*/seed*.log"))  # in-process runs that succeed leave no sweep log


def test_comparison_plot_is_written(compared):
    out, result = compared
    assert result.plot_path == out / "comparison.png"
    with Image.open(out / "comparison.png") as image:
        width, height = image.size
    assert width >= 400 and height >= 300
    assert all(r.samples is not None and r.samples.is_file() for r in result.runs)


def test_finished_runs_are_skipped_and_the_table_reads_their_files(compared):
    out, _ = compared
    summary_path = out / "gan" / "seed1" / "summary.json"
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/summary.json")}
    # Edit one run's result: the new table must show it, proving it is read from the files.
    summary = json.loads(summary_path.read_text())
    summary["metrics"]["modes_covered"] = 7.0
    summary_path.write_text(json.dumps(summary))
    other = _summary_metrics(out, "gan", 0)["modes_covered"]
    result = run_sweep("ring8", VARIANTS, SEEDS, out, steps=STEPS, base_overrides=TINY)
    assert [r.status for r in result.runs] == ["skipped"] * 4
    for path, mtime in before.items():
        if path != summary_path:
            assert path.stat().st_mtime_ns == mtime
    row = result.summary["rows"][0]
    assert row["mean"]["modes_covered"] == pytest.approx((7.0 + other) / 2)
    # Asking the same folder for another budget is refused rather than mixing budgets.
    with pytest.raises(ValueError, match=r"finished run of 8 steps, but this comparison asks for 9"):
        run_sweep("ring8", VARIANTS, SEEDS, out, steps=9, base_overrides=TINY)


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    (checkpoint,) = sorted((run_dir / "checkpoints").glob("step_*.pt"))
    return torch.load(checkpoint, weights_only=True)["generator"]


@pytest.mark.subprocess
def test_two_jobs_train_in_workers_with_the_same_results(compared, tmp_path):
    """Worker processes get the run's overrides, not argv: the same configs, weights and metrics
    as the in-process sweep, each worker's output in <variant>/seed<k>.log."""
    _, first = compared
    result = run_sweep("ring8", VARIANTS, SEEDS, tmp_path, steps=STEPS, jobs=2, base_overrides=TINY)
    assert [r.status for r in result.runs] == ["done"] * 4
    for here, there in zip(first.runs, result.runs, strict=True):
        assert (here.variant, here.seed) == (there.variant, there.seed)
        if (here.variant, here.seed) != ("gan", 1):  # edited by the skip test
            assert {k: v for k, v in here.metrics.items() if k != "wall_time_sec"} == \
                   {k: v for k, v in there.metrics.items() if k != "wall_time_sec"}
        mine, theirs = (yaml.safe_load((r.run_dir / "config.yaml").read_text()) for r in (here, there))
        mine["log"].pop("out"), theirs["log"].pop("out")
        assert mine == theirs
        for key, value in _final_weights(here.run_dir).items():
            assert torch.equal(value, _final_weights(there.run_dir)[key]), key
        assert (tmp_path / there.variant / f"seed{there.seed}.log").is_file()


@pytest.mark.subprocess
def test_cli_compare_from_a_variants_file_with_parallel_jobs(tmp_path, capsys):
    variants = tmp_path / "variants.yaml"
    variants.write_text("gan: --objective adv\nfm_list: [--objective, fm]\n")
    argv = ["compare", "--data", "ring8", "--variants", str(variants), "--seeds", "3", "--steps", "4",
            f"--train-args={TINY_FLAGS}", "--out", str(tmp_path / "cmp"), "--jobs", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| gan | 1 |" in out and "`--objective adv`" in out  # the flags, as given
    for name in ("gan", "fm_list"):
        assert json.loads((tmp_path / "cmp" / name / "seed3" / "summary.json").read_text())["steps"] == 4
        assert (tmp_path / "cmp" / name / "seed3.log").is_file()  # the worker's output


@pytest.mark.subprocess
def test_a_failing_worker_is_listed_with_its_log(tmp_path):
    (tmp_path / "bad" / "seed0").mkdir(parents=True)
    (tmp_path / "bad" / "seed0" / "junk.txt").write_text("not a run")  # training refuses this folder
    result = run_sweep("ring8", {"bad": {"objective.kind": "adv"}}, [0, 1], tmp_path, steps=2, jobs=2,
                       base_overrides=TINY)
    assert [(r.seed, r.status) for r in result.failed] == [(0, "failed")]
    assert result.runs[1].status == "done"
    assert "not a featmatch run directory" in (tmp_path / "bad" / "seed0.log").read_text()
    assert "seed0.log" in result.failed[0].error


def test_failed_runs_are_listed_and_do_not_stop_the_others(tmp_path):
    (tmp_path / "bad" / "seed0").mkdir(parents=True)
    (tmp_path / "bad" / "seed0" / "junk.txt").write_text("not a run")  # training refuses this folder
    result = run_sweep("ring8", {"bad": {"objective.kind": "adv"}}, [0, 1], tmp_path, steps=2,
                       base_overrides=TINY, descriptions={"bad": "--objective adv"})
    assert [(r.seed, r.status) for r in result.failed] == [(0, "failed")]
    assert result.runs[1].status == "done"
    table = result.table_path.read_text()
    assert "FAILED: bad seed 0" in table and "| bad | 1 |" in table and "`--objective adv`" in table
    # The traceback of the in-process failure is kept where a worker's log would be.
    assert "RunDirError" in (tmp_path / "bad" / "seed0.log").read_text()


def test_train_runs_pools_runs_laid_out_by_the_caller(tmp_path):
    runs = [SweepRun(f"{data}/gan/seed0", tmp_path / data / "gan" / "seed0",
                     {**TINY, "data.name": data, "seed": 0, "steps": 2, "objective.kind": "adv"})
            for data in ("ring8", "grid25")]
    outcomes = train_runs(runs)
    assert [(o.run.name, o.status) for o in outcomes] == [("ring8/gan/seed0", "done"), ("grid25/gan/seed0", "done")]
    assert [o.status for o in train_runs(runs)] == ["skipped", "skipped"]
    with pytest.raises(ValueError, match=r"distinct run directories"):
        train_runs([runs[0], runs[0]])
    with pytest.raises(ValueError, match=r"run 'ring8/gan/seed0': config field 'objective.kind'"):
        train_runs([SweepRun(runs[0].name, runs[0].run_dir, {**runs[0].overrides, "objective.kind": "x"})])


# ------------------------------------------------------------------------------ pure functions


def test_summarize_against_a_hand_computation():
    runs = [RunResult("a", 0, Path("."), "done", {"high_quality": 0.5, "modes_covered": 8.0}),
            RunResult("a", 1, Path("."), "done", {"high_quality": 0.7, "modes_covered": 6.0}),
            RunResult("a", 2, Path("."), "failed", error="boom"),
            RunResult("b", 0, Path("."), "done", {"high_quality": 0.9, "modes_covered": 8.0})]
    summary = summarize(runs, ["a", "b"], {"a": "--objective fm"})
    a, b = summary["rows"]
    assert summary["metrics"] == ["modes_covered", "high_quality"]
    assert a["n"] == 2 and a["mean"]["modes_covered"] == 7.0
    assert a["std"]["modes_covered"] == pytest.approx(2 ** 0.5)  # sqrt(((8-7)^2 + (6-7)^2) / 1)
    assert a["std"]["high_quality"] == pytest.approx(0.1 * 2 ** 0.5)
    assert b["std"]["modes_covered"] == 0.0
    assert summary["failed"] == [{"variant": "a", "seed": 2, "error": "boom"}]
    table = format_table(summary, title="t").splitlines()
    assert table[0] == "### t"
    assert "| a | 2 | 7.0 ± 1.4 | 60.0 ± 14.1 | `--objective fm` |" in table
    assert "| b | 1 | 8.0 | 90.0 | (data set defaults) |" in table
    assert any("FAILED: a seed 2: boom" in line for line in table)


def test_collect_results_marks_missing_runs_failed(tmp_path):
    (runs,) = collect_results(tmp_path, ["nothing"], [0])
    assert runs.status == "failed" and "no finished summary.json" in runs.error


# ------------------------------------------------------------------------------ bad variants


def test_run_sweep_checks_everything_before_training(tmp_path):
    good = {"objective.kind": "adv"}
    with pytest.raises(ValueError, match=r"variant 'bad': config field 'objective.kind' \(flag --objective\)"):
        run_sweep("ring8", {"good": good, "bad": {"objective.kind": "x"}}, [0], tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written
    with pytest.raises(ValueError, match=r"variant 'x' sets 'seed', which the sweep controls"):
        run_sweep("ring8", {"x": {"seed": 3}}, [0], tmp_path / "o")
    with pytest.raises(ValueError, match=r"base_overrides sets 'data.name'"):
        run_sweep("ring8", {"good": good}, [0], tmp_path / "o", base_overrides={"data": {"name": "grid25"}})
    with pytest.raises(ValueError, match=r"variant name 'a/b'.*folder name"):
        run_sweep("ring8", {"a/b": good}, [0], tmp_path / "o")
    with pytest.raises(ValueError, match=r"seeds must be distinct integers >= 0"):
        run_sweep("ring8", {"good": good}, [1, 1], tmp_path / "o")
    with pytest.raises(ValueError, match=r"jobs must be an int >= 1, got 0"):
        run_sweep("ring8", {"good": good}, [0], tmp_path / "o", jobs=0)
    with pytest.raises(ValueError, match=r"variants is empty"):
        run_sweep("ring8", {}, [0], tmp_path / "o")
    with pytest.raises(TypeError, match=r"variants must be a mapping name -> overrides"):
        run_sweep("ring8", [("good", good)], [0], tmp_path / "o")  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()


def test_parse_variant_and_load_variants(tmp_path):
    assert _parse_variant("x=--fm-statistic 'mean_std'") == ("x", ("--fm-statistic", "mean_std"))
    assert _parse_variant("defaults=") == ("defaults", ())
    with pytest.raises(ValueError, match=r"variant spec '--objective adv' has no '='.*NAME=FLAGS"):
        _parse_variant("--objective adv")
    with pytest.raises(ValueError, match=r"variant name 'a/b'.*folder name"):
        _parse_variant("a/b=--objective adv")
    with pytest.raises(ValueError, match=r"variant 'q': cannot split its flags"):
        _parse_variant("q=--fm-layers 'hidden2")
    path = tmp_path / "v.yaml"
    path.write_text("- {name: one, args: --objective adv}\n- {name: two}\n")
    assert _load_variants(path) == [("one", ("--objective", "adv")), ("two", ())]
    path.write_text("one: {objective: adv}\n")
    with pytest.raises(ValueError, match=r"variant 'one' in .*must be a string or a list"):
        _load_variants(path)
    with pytest.raises(ValueError, match=r"does not exist"):
        _load_variants(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (("--objective", "nope"), r"variant 'bad': argument --objective.*invalid choice: 'nope'"),
        (("--fm-wieght", "2"), r"variant 'bad': unknown flag .*'--fm-wieght'.*Did you mean --fm-weight"),
        (("--lr-g", "fast"), r"variant 'bad': argument --lr-g.*invalid float value: 'fast'"),
        (("--seed", "3"), r"variant 'bad' sets --seed, which compare controls.*--seeds"),
        (("--steps=10",), r"variant 'bad' sets --steps.*same budget"),
        (("--fm-statistic", "median"), r"variant 'bad': .*statistic.*'median'"),
        (("--lr-d", "2"), r"variant 'bad': config field 'optim.lr_d' \(flag --lr-d\)"),
        (("--objective", "adv", "stray"), r"variant 'bad': unknown flag or stray value 'stray'"),
        (("--set", "seed=3"), r"variant 'bad' sets 'seed', which the sweep controls"),
    ],
)
def test_bad_variant_flags_name_the_variant_and_the_flag(tmp_path, capsys, args, pattern):
    code = main(["compare", "--data", "ring8", "--variant", "good=--objective adv",
                 "--variant", "bad=" + shlex.join(args), "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("featmatch compare: error: ") and len(err.strip().splitlines()) == 1
    assert re.search(pattern, err), err
    assert os.listdir(tmp_path) == []  # nothing trained, nothing written


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["--variant", "a=--objective adv", "--variant", "a=--objective fm"], r"repeated: \['a'\]"),
        (["--variant", "a=", "--train-args", "--seed 3"], r"--train-args sets --seed, which compare controls"),
        (["--variant", "a=", "--train-args", "--lr-dd 1"], r"--train-args: unknown flag .*Did you mean --lr-d"),
        ([], r"no variants"),
    ],
)
def test_cli_checks_names_and_train_args(tmp_path, capsys, argv, pattern):
    assert main(["compare", "--data", "ring8", "--out", str(tmp_path), *argv]) == 2
    assert re.search(pattern, capsys.readouterr().err)
    assert os.listdir(tmp_path) == []


def test_cli_reports_bad_specs_without_a_traceback(tmp_path, capsys):
    code = main(["compare", "--data", "ring8", "--variant", "fm=--fm-weight -1", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "featmatch compare: error: variant 'fm'" in err and "fm_weight" in err
    assert os.listdir(tmp_path) == []


def test_train_overrides_reads_a_config_file_under_the_flags(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("optim: {lr_d: 0.002, lr_g: 0.003}\nobjective: {kind: fm}\n")
    overrides = train_overrides(["--config", str(config), "--lr-d", "1e-4"])
    assert overrides == {"optim.lr_d": 1e-4, "optim.lr_g": 0.003, "objective.kind": "fm"}
    with pytest.raises(ValueError, match=r"--resume is not a config setting"):
        train_overrides(["--resume", "runs/x"])
    with pytest.raises(ValueError, match=r"argument --steps: invalid int value"):
        train_overrides(["--steps", "many"])


# ------------------------------------------------------------------------------ no CLI below the CLI


@pytest.mark.subprocess
def test_importing_the_sweep_does_not_import_the_cli():
    code = "import sys, featmatch.train.sweep; assert 'featmatch.cli' not in sys.modules, 'featmatch.cli imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_cli_compare_in_this_process_with_a_config_file_in_train_args(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("objective: {fm_weight: 2.0}\n")
    argv = ["compare", "--data", "ring8", "--variant", "fm=--objective fm", "--steps", "2",
            f"--train-args={TINY_FLAGS} --config {config}", "--out", str(tmp_path / "cmp")]
    assert main(argv) == 0
    assert "| fm | 1 |" in capsys.readouterr().out and "`--objective fm`" in (tmp_path / "cmp" / "table.md").read_text()
    run = yaml.safe_load((tmp_path / "cmp" / "fm" / "seed0" / "config.yaml").read_text())
    assert run["objective"]["kind"] == "fm" and run["objective"]["fm_weight"] == 2.0 and run["steps"] == 2


def test_an_interrupted_run_is_resumed_exactly_and_another_config_trained_afresh(tmp_path):
    from featmatch.train import checkpoint as ckpt
    from featmatch.train import run_training
    from featmatch.train.config import build_config
    from featmatch.train.sweep import resumable
    from featmatch.train.trainer import Trainer

    values = {**TINY, "data.name": "ring8", "seed": 0, "log.checkpoint_every": 4, "log.quiet": True}
    whole, part = tmp_path / "whole", tmp_path / "part"
    train_runs([SweepRun("whole", whole, {**values, "steps": 8})])
    # A run of 8 steps stopped by SIGTERM after 4 (a checkpoint, "interrupted" in its summary), as a
    # session that ends does; then killed outright: no summary.json at all.
    original = Trainer.train_step

    def stop_after_four(self, **kw):
        result = original(self, **kw)
        if self.step == 4:
            signal.raise_signal(signal.SIGTERM)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "train_step", stop_after_four)
        assert run_training(build_config({**values, "steps": 8, "log.out": str(part)}))["interrupted"]
    (part / "summary.json").unlink()
    kept = ckpt.list_checkpoints(part)[-1]
    before = (kept.stat().st_ino, kept.stat().st_mtime_ns)
    assert resumable(part, build_config({**values, "steps": 8, "log.out": str(part)}))
    assert not resumable(part, build_config({**values, "steps": 8, "seed": 1, "log.out": str(part)}))
    (outcome,) = train_runs([SweepRun("part", part, {**values, "steps": 8})])
    assert outcome.status == "done"
    assert (kept.stat().st_ino, kept.stat().st_mtime_ns) == before  # continued from it, not trained again
    a = ckpt.load_checkpoint(ckpt.list_checkpoints(whole)[-1])
    b = ckpt.load_checkpoint(ckpt.list_checkpoints(part)[-1])
    for key in ("generator", "discriminator"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
