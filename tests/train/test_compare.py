"""`featmatch compare`: variants x seeds, the mean +- std table from the runs' files, the plot,
skipping finished runs, and errors for bad variant specs. Tiny models, a few steps."""

from __future__ import annotations

import json
import os
import statistics

import pytest
from PIL import Image

from featmatch.cli import main
from featmatch.train.compare import (
    Variant,
    collect_results,
    format_table,
    load_variants,
    parse_variant,
    run_compare,
    summarize,
    validate_variant,
)

TINY = ("--model mlp --model-width 8 --latent-dim 4 --data-size 256 --batch-size 32 --log-every 4 "
        "--sample-every 0 --checkpoint-every 0 --set log.tensorboard=false --set log.eval_samples=300 "
        "--set log.n_samples=64 --set monitor.enabled=false")
VARIANTS = [parse_variant("gan=--objective adv"), parse_variant("fm=--objective fm --fm-statistic mean")]
SEEDS = [0, 1]
STEPS = 8


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny comparison shared by the tests that read it (training is the slow part)."""
    out = tmp_path_factory.mktemp("cmp")
    result = run_compare("ring8", VARIANTS, SEEDS, out, steps=STEPS, extra_args=TINY.split())
    return out, result


def _summary_metrics(out, variant, seed):
    summary = json.loads((out / variant / f"seed{seed}" / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["config"]["seed"] == seed
    return {**summary["metrics"], "wall_time_sec": summary["wall_time_sec"]}


def test_table_is_mean_and_std_of_the_runs_summaries(compared):
    out, result = compared
    assert [r.status for r in result.runs] == ["done"] * 4
    saved = json.loads((out / "table.json").read_text())
    assert saved["metrics"][:3] == ["modes_covered", "high_quality", "reverse_kl"]
    table = (out / "table.md").read_text()
    for row, variant in zip(saved["rows"], VARIANTS, strict=True):
        assert row["variant"] == variant.name and row["n"] == 2 and row["seeds"] == SEEDS
        for metric in ("modes_covered", "high_quality", "reverse_kl", "wall_time_sec"):
            values = [_summary_metrics(out, variant.name, s)[metric] for s in SEEDS]
            assert row["mean"][metric] == pytest.approx(statistics.fmean(values), abs=1e-12)
            assert row["std"][metric] == pytest.approx(statistics.stdev(values), abs=1e-12)
        # The markdown row shows the same numbers (high quality in percent).
        hq_mean, hq_std = row["mean"]["high_quality"] * 100, row["std"]["high_quality"] * 100
        kl_mean, kl_std = row["mean"]["reverse_kl"], row["std"]["reverse_kl"]
        line = next(li for li in table.splitlines() if li.startswith(f"| {variant.name} |"))
        assert f"{hq_mean:.1f} ± {hq_std:.1f}" in line
        assert f"{kl_mean:.3f} ± {kl_std:.3f}" in line
        assert f"`{variant.command_line}`" in line


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
    result = run_compare("ring8", VARIANTS, SEEDS, out, steps=STEPS, extra_args=TINY.split())
    assert [r.status for r in result.runs] == ["skipped"] * 4
    for path, mtime in before.items():
        if path != summary_path:
            assert path.stat().st_mtime_ns == mtime
    row = result.summary["rows"][0]
    assert row["mean"]["modes_covered"] == pytest.approx((7.0 + other) / 2)
    # Asking the same folder for another budget is refused rather than mixing budgets.
    with pytest.raises(ValueError, match=r"finished run of 8 steps, but this comparison asks for 9"):
        run_compare("ring8", VARIANTS, SEEDS, out, steps=9, extra_args=TINY.split())


def test_cli_compare_from_a_variants_file_with_parallel_jobs(tmp_path, capsys):
    variants = tmp_path / "variants.yaml"
    variants.write_text("gan: --objective adv\nfm_list: [--objective, fm]\n")
    argv = ["compare", "--data", "ring8", "--variants", str(variants), "--seeds", "3", "--steps", "4",
            f"--train-args={TINY}", "--out", str(tmp_path / "cmp"), "--jobs", "2"]
    assert main(argv) == 0
    assert "| gan | 1 |" in capsys.readouterr().out
    for name in ("gan", "fm_list"):
        assert json.loads((tmp_path / "cmp" / name / "seed3" / "summary.json").read_text())["steps"] == 4
        assert (tmp_path / "cmp" / name / "seed3.log").is_file()  # the subprocess's output


def test_failed_runs_are_listed_and_do_not_stop_the_others(tmp_path):
    (tmp_path / "bad" / "seed0").mkdir(parents=True)
    (tmp_path / "bad" / "seed0" / "junk.txt").write_text("not a run")  # training refuses this folder
    result = run_compare("ring8", [Variant("bad", ("--objective", "adv"))], [0, 1], tmp_path, steps=2,
                         extra_args=TINY.split())
    assert [(r.seed, r.status) for r in result.failed] == [(0, "failed")]
    assert result.runs[1].status == "done"
    table = result.table_path.read_text()
    assert "FAILED: bad seed 0" in table and "| bad | 1 |" in table


# ------------------------------------------------------------------------------ pure functions


def test_summarize_against_a_hand_computation():
    from pathlib import Path

    from featmatch.train.compare import RunResult

    runs = [RunResult("a", 0, Path("."), "done", {"high_quality": 0.5, "modes_covered": 8.0}),
            RunResult("a", 1, Path("."), "done", {"high_quality": 0.7, "modes_covered": 6.0}),
            RunResult("a", 2, Path("."), "failed", error="boom"),
            RunResult("b", 0, Path("."), "done", {"high_quality": 0.9, "modes_covered": 8.0})]
    summary = summarize(runs, [Variant("a", ("--objective", "fm")), Variant("b")])
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


# ------------------------------------------------------------------------------ bad specs


def test_parse_variant_and_load_variants(tmp_path):
    assert parse_variant("x=--fm-statistic 'mean_std'") == Variant("x", ("--fm-statistic", "mean_std"))
    assert parse_variant("defaults=") == Variant("defaults", ())
    with pytest.raises(ValueError, match=r"variant spec '--objective adv' has no '='.*NAME=FLAGS"):
        parse_variant("--objective adv")
    with pytest.raises(ValueError, match=r"variant name 'a/b'.*folder name"):
        parse_variant("a/b=--objective adv")
    with pytest.raises(ValueError, match=r"variant 'q': cannot split its flags"):
        parse_variant("q=--fm-layers 'hidden2")
    path = tmp_path / "v.yaml"
    path.write_text("- {name: one, args: --objective adv}\n- {name: two}\n")
    assert load_variants(path) == [Variant("one", ("--objective", "adv")), Variant("two", ())]
    path.write_text("one: {objective: adv}\n")
    with pytest.raises(ValueError, match=r"variant 'one' in .*must be a string or a list"):
        load_variants(path)
    with pytest.raises(ValueError, match=r"does not exist"):
        load_variants(tmp_path / "missing.yaml")


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
    ],
)
def test_bad_variant_flags_name_the_variant_and_the_flag(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        validate_variant(Variant("bad", args), "ring8")


def test_run_compare_checks_everything_before_training(tmp_path):
    good = Variant("good", ("--objective", "adv"))
    with pytest.raises(ValueError, match=r"variant 'bad': argument --objective"):
        run_compare("ring8", [good, Variant("bad", ("--objective", "x"))], [0], tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written
    with pytest.raises(ValueError, match=r"repeated: \['good'\]"):
        run_compare("ring8", [good, good], [0], tmp_path / "o")
    with pytest.raises(ValueError, match=r"seeds must be distinct integers >= 0"):
        run_compare("ring8", [good], [1, 1], tmp_path / "o")
    with pytest.raises(ValueError, match=r"jobs must be an integer >= 1; got 0"):
        run_compare("ring8", [good], [0], tmp_path / "o", jobs=0)
    with pytest.raises(ValueError, match=r"variants is empty"):
        run_compare("ring8", [], [0], tmp_path / "o")


def test_cli_reports_bad_specs_without_a_traceback(tmp_path, capsys):
    code = main(["compare", "--data", "ring8", "--variant", "fm=--fm-weight -1", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "featmatch compare: error: variant 'fm'" in err and "fm_weight" in err
    assert os.listdir(tmp_path) == []
