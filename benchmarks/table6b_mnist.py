"""Table 6b: semi-supervised MNIST with 100 labels, the paper's experiment (issue 22).

Salimans et al. 2016 (Improved GAN, Table 1) report 93 +- 6.5 test errors of 10,000 with 100 labels
(10 per class) and 90 +- 4.2 with 200. Every GAN run here is ``featmatch train --task semi --data mnist``
(the ``semi-mnist`` recipe) with one row's overrides and seed; one torch thread per run:

- ``supervised``: the recipe's D on the labelled examples alone, its regularisation tuned on held-out
  labels as in Table 6 (``table6_semi.supervised_row``: a fifth of each class's labels held out, a grid
  of noise scales x weight decays x learning rates, early stopping every 50 steps); ``--supervised-steps``
  per grid point (default 3,000: 100-example batches of the 80 fitted labels, far past the best check).
- ``fm``: the recipe (feature matching), seeds 1, 2 for 100 epochs (60,000 steps) and seed 0 for the
  paper's 300 (180,000 steps); its 100-epoch number is its evaluation at step 60,000, the same number a
  100-epoch run gives (constant learning rate; D's average depends on the updates done only).
- ``adv``: the same with the adversarial generator loss (``objective.kind adv``: the paper's ablation).
- ``labels20``: the recipe with 20 labels per class (200), seed 0, 100 epochs.

Columns: test errors (of 10,000; D's moving average, the classifier the recipe evaluates) at 100 epochs,
mean +- sample std over seeds, each seed's count, and the learning curve of ``fm`` seed 0 (errors at
10, 30, 100 and 300 epochs; every 5 epochs in its ``metrics.jsonl``).

Runs that finished are skipped and interrupted ones resumed, so the table can grow across sessions.

Usage:
    python benchmarks/table6b_mnist.py --out runs/table6b --jobs 2          # every run not finished yet
    python benchmarks/table6b_mnist.py --out runs/table6b --tabulate        # the table of what finished
    python benchmarks/table6b_mnist.py --out runs/table6b --rows fm adv --seeds 1 2
    python benchmarks/table6b_mnist.py --out /tmp/t6b --epochs 0.01 --long-epochs 0.02 --supervised-steps 4  # smoke

Needs MNIST (``FEATMATCH_DATA`` pointing at a folder whose ``mnist/`` holds the IDX files, or a download).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from featmatch.train.sweep import SweepRun, train_runs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table6_semi import supervised_row  # noqa: E402 - the benchmarks folder, added to the path above

STEPS_PER_EPOCH = 600  # 60,000 training images in batches of 100
EVAL_EVERY_EPOCHS = 5
CURVE_EPOCHS = (10, 30, 100, 300)
ROWS = ("supervised", "fm", "adv", "labels20")
# The GAN rows: overrides of the recipe, labels per class, and the seeds (seed 0 of fm trains longest).
GAN_ROWS: dict[str, tuple[dict[str, Any], int]] = {
    "fm": ({}, 10),
    "adv": ({"objective.kind": "adv"}, 10),
    "labels20": ({}, 20),
}


def steps_of(epochs: float) -> int:
    """Training steps of ``epochs`` passes over MNIST's 60,000 images at the recipe's batch of 100."""
    return max(1, round(epochs * STEPS_PER_EPOCH))


def gan_runs(out: Path, rows: list[str], seeds: list[int], epochs: float, long_epochs: float) -> list[SweepRun]:
    """The GAN rows' runs, the longest first (fm seed 0 at ``long_epochs``; labels20 seed 0 only)."""
    runs = []
    for row in rows:
        if row not in GAN_ROWS:
            continue
        overrides, labels = GAN_ROWS[row]
        for seed in [0] if row == "labels20" else seeds:
            length = long_epochs if (row == "fm" and seed == 0) else epochs
            steps = steps_of(length)
            values = {
                "task": "semi",
                "data.name": "mnist",
                "seed": seed,
                "steps": steps,
                "task_options.labels": labels,
                "task_options.sample_metrics": False,
                "log.eval_every": min(steps, steps_of(EVAL_EVERY_EPOCHS)),
                "log.checkpoint_every": min(steps, steps_of(EVAL_EVERY_EPOCHS)),
                "log.sample_every": min(steps, steps_of(50)),
                **overrides,
            }
            runs.append(SweepRun(f"{row}/seed{seed}", out / row / f"seed{seed}", values))
    return sorted(runs, key=lambda r: -int(r.overrides["steps"]))


def errors_by_step(run_dir: Path) -> dict[int, int]:
    """``eval/test_errors`` of a run by step, from its ``metrics.jsonl``."""
    path = run_dir / "metrics.jsonl"
    found: dict[int, int] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "eval/test_errors" in row:
                found[int(row["step"])] = int(row["eval/test_errors"])
    return found


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.0f} +- {spread:.0f}"


def tabulate(out: Path, epochs: float, long_epochs: float) -> str:
    """The markdown table of the finished runs under ``out``."""
    at = steps_of(epochs)
    lines = [
        f"| row | labels | test errors of 10,000 at {epochs:g} epochs (mean +- std) | per seed |",
        "|---|---|---|---|",
    ]
    supervised = []
    for path in sorted((out / "supervised").glob("seed*/summary.json")):
        summary = json.loads(path.read_text())
        supervised.append((path.parent.name, int(summary["metrics"]["test_errors"])))
    lines.append(
        f"| supervised (early-stopped) | 100 | {_mean_std([e for _, e in supervised])} | "
        + ", ".join(f"{s}: {e}" for s, e in supervised)
        + " |"
    )
    for row, (_, labels) in GAN_ROWS.items():
        found = []
        for folder in sorted((out / row).glob("seed*")):
            errors = errors_by_step(folder)
            if at in errors:
                found.append((folder.name, errors[at]))
        lines.append(
            f"| {row} | {10 * labels} | {_mean_std([e for _, e in found])} | "
            + ", ".join(f"{s}: {e}" for s, e in found)
            + " |"
        )
    curve = errors_by_step(out / "fm" / "seed0")
    points = [(e, curve.get(steps_of(e))) for e in CURVE_EPOCHS if e <= long_epochs]
    if points:
        lines += [
            "",
            "Learning curve of `fm`, seed 0 (test errors of 10,000):",
            "",
            "| epochs | " + " | ".join(f"{e:g}" for e, _ in points) + " |",
            "|---" * (len(points) + 1) + "|",
            "| errors | " + " | ".join("-" if v is None else str(v) for _, v in points) + " |",
        ]
    return "\n".join(lines + every_run_curve(out)) + "\n"


def every_run_curve(out: Path) -> list[str]:
    """Markdown lines: each GAN run's test errors every 5 epochs so far (finished or not), and its best.

    Runs stopped early (a session's end) show how far they got; a collapse shows as errors that rise.
    """
    runs = {f: errors_by_step(f) for row in GAN_ROWS for f in sorted((out / row).glob("seed*"))}
    runs = {f: errors for f, errors in runs.items() if errors}
    if not runs:
        return []
    last = max(max(errors) for errors in runs.values())
    epochs = list(range(EVAL_EVERY_EPOCHS, last // STEPS_PER_EPOCH + 1, EVAL_EVERY_EPOCHS))
    lines = [
        "",
        "Every run so far, test errors of 10,000 every 5 epochs (- : not reached):",
        "",
        "| run | " + " | ".join(str(e) for e in epochs) + " | best |",
        "|---" * (len(epochs) + 2) + "|",
    ]
    for folder, errors in runs.items():
        cells = [str(errors[steps_of(e)]) if steps_of(e) in errors else "-" for e in epochs]
        lines.append(f"| {folder.parent.name}/{folder.name} | " + " | ".join(cells) + f" | {min(errors.values())} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/table6b"))
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=float, default=100.0, help="epochs of every GAN run but fm seed 0")
    parser.add_argument("--long-epochs", type=float, default=300.0, help="epochs of fm seed 0 (the learning curve)")
    parser.add_argument("--supervised-steps", type=int, default=3000, help="steps per grid point of the supervised row")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--tabulate", action="store_true", help="only print the table of finished runs")
    args = parser.parse_args(argv)
    if not args.tabulate:
        torch.set_num_threads(1)
        for seed in args.seeds if "supervised" in args.rows else []:
            path = args.out / "supervised" / f"seed{seed}" / "summary.json"
            if path.is_file():
                continue
            start = time.perf_counter()
            summary = supervised_row("mnist", 10, seed, steps=args.supervised_steps)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(summary, indent=2) + "\n")
            print(
                f"supervised seed{seed}: {int(summary['metrics']['test_errors'])} test errors "
                f"({summary['selected']}; {time.perf_counter() - start:.0f} s)",
                flush=True,
            )
        runs = gan_runs(args.out, args.rows, args.seeds, args.epochs, args.long_epochs)
        outcomes = train_runs(runs, jobs=args.jobs)
        failed = [o.run.name for o in outcomes if o.status == "failed"]
        if failed:
            print(f"failed: {failed}", flush=True)
    table = tabulate(args.out, args.epochs, args.long_epochs)
    print(table, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table6b.md").write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
