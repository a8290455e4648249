"""Table 7: unconditional MNIST (issue 23), the generator objectives side by side at one budget.

Every run is ``featmatch train --data mnist`` (the ``mnist`` recipe: its model, data, optimiser and
steps) with one row's objective; one torch thread per run; the same steps and seed set for every row:

- ``bce``: the adversarial loss alone, BCE (DCGAN);
- ``hinge``: the adversarial loss alone, hinge;
- ``adv+mean``: BCE + batch-mean feature matching of D's features (``salimans2016``);
- ``adv+mean_std``: BCE + matching of the features' batch means and standard deviations;
- ``adv+rff``: BCE + kernel feature matching (a Gaussian-kernel MMD through random Fourier features);
- ``fm``: batch-mean feature matching alone (Salimans et al. 2016's generator loss);
- ``best``: featmatch's recipe as it stands (``RECIPES["mnist"]``). Its objective today is ``adv+mean``'s
  (with the recipe's DiffAugment translation, as every row), so at ``--steps N`` it repeats that row;
  without ``--steps`` it is the recipe at its own budget.

Columns: Frechet distance in the MNIST classifier's feature space (1,000 samples against the 10,000 test
images) and its real floor (1,000 real training images scored the same way), precision, recall, classes
covered (of 10), wall time of the training; each the mean +- sample std over ``--seeds``.

Usage:
    python benchmarks/table7_mnist.py --out runs/table7 --seeds 0 1 2 --jobs 2
    python benchmarks/table7_mnist.py --out runs/table7 --steps 3000 --rows bce,hinge,adv+mean,adv+mean_std,adv+rff,fm
    python benchmarks/table7_mnist.py --out runs/table7 --tabulate
    python benchmarks/table7_mnist.py --out /tmp/t7 --steps 3 --seeds 0 --rows bce,fm   # smoke

Needs MNIST (``FEATMATCH_DATA`` pointing at a folder whose ``mnist/`` holds the IDX files, or a download).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from featmatch.train.sweep import SweepRun, train_runs

# Each row's objective, over the recipe (a recipe's adversarial schedule is dropped with another kind).
ROWS: dict[str, dict[str, Any]] = {
    "bce": {"objective.kind": "adv", "objective.d_loss": "bce"},
    "hinge": {"objective.kind": "adv", "objective.d_loss": "hinge"},
    "adv+mean": {"objective.kind": "adv+fm", "objective.fm_preset": "salimans2016", "objective.fm_statistic": "mean"},
    "adv+mean_std": {
        "objective.kind": "adv+fm",
        "objective.fm_preset": "salimans2016",
        "objective.fm_statistic": "mean_std",
    },
    "adv+rff": {
        "objective.kind": "adv+fm",
        "objective.fm_preset": "salimans2016",
        "objective.fm_statistic": "rff",
    },
    "fm": {"objective.kind": "fm", "objective.fm_preset": "salimans2016", "objective.fm_statistic": "mean"},
    "best": {},
}
COLUMNS = ("frechet_distance", "frechet_distance_real", "precision", "recall", "classes_covered")


def runs(out: Path, rows: list[str], seeds: list[int], steps: int | None) -> list[SweepRun]:
    """Every (row, seed) as a :class:`SweepRun` with override mappings."""
    result = []
    for row in rows:
        for seed in seeds:
            values: dict[str, Any] = {"data.name": "mnist", "seed": seed, **ROWS[row]}
            if steps is not None:
                values["steps"] = steps
            result.append(SweepRun(f"{row}/seed{seed}", out / row / f"seed{seed}", values))
    return result


def _cell(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def tabulate(out: Path, rows: list[str]) -> str:
    """The markdown table of the finished runs under ``out``."""
    lines = [
        "| row | n | Frechet distance | real floor | precision | recall | classes | time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        found: dict[str, list[float]] = {key: [] for key in (*COLUMNS, "time")}
        for path in sorted((out / row).glob("seed*/summary.json")):
            summary = json.loads(path.read_text())
            metrics = summary.get("metrics") or {}
            if summary.get("steps") != summary.get("target_steps") or "frechet_distance" not in metrics:
                continue
            for key in COLUMNS:
                found[key].append(float(metrics[key]))
            found["time"].append(float(summary["wall_time_sec"]))
        digits = {"frechet_distance": 2, "frechet_distance_real": 2, "classes_covered": 1, "time": 0}
        cells = [_cell(found[key], digits.get(key, 3)) for key in (*COLUMNS, "time")]
        lines.append(f"| {row} | {len(found['time'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/table7"))
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default: {','.join(ROWS)})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None, help="override every run's steps (default: the recipe's)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--tabulate", action="store_true", help="only print the table of finished runs")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"--rows: unknown row(s) {unknown}; expected names from {list(ROWS)}")
    if not args.tabulate:
        outcomes = train_runs(runs(args.out, rows, args.seeds, args.steps), jobs=args.jobs)
        failed = [o.run.name for o in outcomes if o.status == "failed"]
        if failed:
            print(f"failed: {failed}", flush=True)
    table = tabulate(args.out, rows)
    print(table, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table7.md").write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
