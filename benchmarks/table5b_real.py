"""Table 5b: early prediction on real sequences (issue 24), against aeon's early classifiers.

Development data: aeon's bundled UCR/UEA classification sets OSULeaf (200 train / 242 test, 1 x 427,
6 classes), BasicMotions (40 / 40, 6 x 100, 4 classes) and ACSF1 (100 / 100, 1 x 1460, 10 classes),
their official train/test splits, written once to ``<out>/data/<name>.npz`` (``x``, ``y``, ``x_test``,
``y_test``: the layout a user's UCR-style file has; labels numbered in sorted order). Tune on these
three only: other public sets are held out.

Rows (featmatch's over ``--seeds``; aeon's with ``random_state=0``, one run: they are the reference):

- ``fm``: ``featmatch train --task early --data <name>.npz``: the ``early-sequences`` recipe as a
  user gets it (student on masked prefixes, frozen teacher, D over features, ``layer_mse`` paired
  feature matching through D; stopping threshold chosen on 20% of the training split, held out);
- ``ce``: the same with no term through D (``use_discriminator=false``): the classifier alone;
- ``distill``: (ce) + MSE of student to teacher features, weight 1: distillation without D;
- ``minirocket``: aeon's ``MiniRocketClassifier`` trained on the first ``round(r T)`` steps of the
  training series and tested on the same prefixes, one model per r = 0.1 ... 1.0;
- ``teaser``: aeon's ``TEASER`` with its defaults (WEASEL, MUSE for several channels; 20
  classification points T/20 ... T; one-class SVMs and the consecutive-decision count tuned on the
  training data), scored by its own ``score`` (harmonic mean, accuracy, earliness).

Columns: test accuracy at r = 0.2, 0.3, 0.5, 1.0; AUC (the mean over r = 0.1 ... 1.0); accuracy,
earliness and harmonic mean at the stopping point (featmatch: its stopping rule on 20 fractions
0.05 ... 1; TEASER: its own); wall time of one run. Mean +- sample std over seeds.

aeon is not a featmatch dependency: ``pip install -e ".[bench]"`` (it leaves torch as it is).
Finished runs are skipped, so the table can grow (more seeds, rows or data sets).

Usage:
    OMP_NUM_THREADS=1 python benchmarks/table5b_real.py --out runs/table5b --seeds 0 1 2
    python benchmarks/table5b_real.py --out runs/table5b --tabulate
    python benchmarks/table5b_real.py --out /tmp/t5b --sets BasicMotions --seeds 0 --rows ce \\
        --steps 3 --teacher-steps 2                                        # smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from featmatch.metrics.early import EARLY_FRACTIONS, fraction_metric_name
from featmatch.train.sweep import SweepRun, train_runs

SETS = ("OSULeaf", "BasicMotions", "ACSF1")
FEATMATCH_ROWS: dict[str, dict[str, Any]] = {
    "fm": {},
    "ce": {"task_options.use_discriminator": False},
    "distill": {"task_options.use_discriminator": False, "task_options.distill_weight": 1.0},
}
AEON_ROWS = ("minirocket", "teaser")
ROWS = (*FEATMATCH_ROWS, *AEON_ROWS)
COLUMNS = (
    "accuracy@0.2",
    "accuracy@0.3",
    "accuracy@0.5",
    "accuracy@1.0",
    "accuracy_auc",
    "accuracy_at_stop",
    "earliness",
    "harmonic_mean",
)


def export(name: str, out: Path) -> Path:
    """aeon's bundled set ``name`` as ``<out>/data/<name>.npz`` (x, y, x_test, y_test); written once."""
    path = out / "data" / f"{name}.npz"
    if path.is_file():
        return path
    from aeon.datasets import load_classification

    x, y = load_classification(name, split="train")
    x_test, y_test = load_classification(name, split="test")
    classes = {c: i for i, c in enumerate(sorted(set(y) | set(y_test)))}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        x=x.astype(np.float32),
        y=np.array([classes[c] for c in y]),
        x_test=x_test.astype(np.float32),
        y_test=np.array([classes[c] for c in y_test]),
    )
    tmp.replace(path)
    return path


def featmatch_runs(
    out: Path, sets: list[str], rows: list[str], seeds: list[int], steps: int | None, teacher_steps: int | None
) -> list[SweepRun]:
    """Every (set, featmatch row, seed) as a :class:`SweepRun`: the user's command, plus the row."""
    result = []
    for name in sets:
        data = export(name, out)
        for row in rows:
            for seed in seeds:
                values: dict[str, Any] = {
                    "task": "early",
                    "data.name": str(data),
                    "seed": seed,
                    "device": "cpu",
                    "log.sample_every": 0,
                    "log.checkpoint_every": 0,
                    "log.quiet": True,
                    **FEATMATCH_ROWS[row],
                }
                if steps is not None:
                    values["steps"] = steps
                if teacher_steps is not None:
                    values["task_options.teacher_steps"] = teacher_steps
                result.append(SweepRun(f"{name}/{row}/seed{seed}", out / name / row / f"seed{seed}", values))
    return result


def run_aeon(name: str, row: str, out: Path) -> None:
    """Fit and score one aeon row on set ``name``; writes ``<out>/<name>/<row>/result.json`` (skipped if there)."""
    target = out / name / row / "result.json"
    if target.is_file():
        return
    import torch

    torch.set_num_threads(1)
    from aeon.datasets import load_classification

    # aeon's own float64 arrays and labels: its models as aeon's users run them.
    x, y = load_classification(name, split="train")
    x_test, y_test = load_classification(name, split="test")
    start = time.perf_counter()
    metrics: dict[str, float] = {}
    if row == "minirocket":
        from aeon.classification.convolution_based import MiniRocketClassifier

        for r in EARLY_FRACTIONS:
            k = max(1, round(r * x.shape[-1]))  # the steps observe() keeps (round half to even, as Python's round)
            model = MiniRocketClassifier(random_state=0).fit(x[..., :k], y)
            metrics[fraction_metric_name(r)] = float((model.predict(x_test[..., :k]) == y_test).mean())
        metrics["accuracy_auc"] = float(np.mean([metrics[fraction_metric_name(r)] for r in EARLY_FRACTIONS]))
    else:
        from aeon.classification.early_classification import TEASER

        model = TEASER(random_state=0).fit(x, y)
        hm, accuracy, earliness = model.score(x_test, y_test)
        metrics.update(harmonic_mean=float(hm), accuracy_at_stop=float(accuracy), earliness=float(earliness))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"metrics": metrics, "wall_time_sec": time.perf_counter() - start}, indent=1))


def _cell(values: list[float], decimals: int = 3) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{decimals}f}"
    return f"{statistics.mean(values):.{decimals}f} ± {statistics.stdev(values):.{decimals}f}"


def _results(out: Path, name: str, row: str) -> list[dict[str, Any]]:
    if row in AEON_ROWS:
        path = out / name / row / "result.json"
        return [json.loads(path.read_text())] if path.is_file() else []
    summaries = [json.loads(p.read_text()) for p in sorted((out / name / row).glob("seed*/summary.json"))]
    return [s for s in summaries if s.get("metrics")]


def tabulate(out: Path, sets: list[str], rows: list[str]) -> str:
    """The markdown table of the finished runs under ``out``."""
    lines = [
        "| data | row | seeds | " + " | ".join(c.replace("accuracy", "acc") for c in COLUMNS) + " | time (s) |",
        "|---" * (len(COLUMNS) + 4) + "|",
    ]
    for name in sets:
        for row in rows:
            found = _results(out, name, row)
            cols = [_cell([s["metrics"][c] for s in found if c in s["metrics"]]) for c in COLUMNS]
            time_cell = _cell([s["wall_time_sec"] for s in found], 0)
            lines.append(f"| {name} | {row} | {len(found)} | " + " | ".join(cols) + f" | {time_cell} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/table5b"))
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated data sets (default: {','.join(SETS)})")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default: {','.join(ROWS)})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of featmatch's rows")
    parser.add_argument("--steps", type=int, default=None, help="student steps (default: the recipe's)")
    parser.add_argument("--teacher-steps", type=int, default=None, help="teacher steps (default: the recipe's)")
    parser.add_argument("--jobs", type=int, default=1, help="featmatch runs at a time, one core each")
    parser.add_argument("--tabulate", action="store_true", help="only write the table of finished runs")
    args = parser.parse_args(argv)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS] + [s for s in sets if s not in SETS]
    if unknown:
        parser.error(f"unknown rows or sets {unknown}; rows: {list(ROWS)}, sets: {list(SETS)}")
    if not args.tabulate:
        mine = [r for r in rows if r in FEATMATCH_ROWS]
        runs = featmatch_runs(args.out, sets, mine, args.seeds, args.steps, args.teacher_steps)
        outcomes = train_runs(runs, jobs=args.jobs, isolated=True)
        failed = [f"{o.run.name}: {o.error}" for o in outcomes if o.status == "failed"]
        for name in sets:
            for row in (r for r in rows if r in AEON_ROWS):
                print(f"aeon: {name} {row}", flush=True)
                run_aeon(name, row, args.out)
        if failed:
            print("failed:", *failed, sep="\n  ")
    table = tabulate(args.out, sets, rows)
    print(table, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table5b.md").write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
