"""Table 6: semi-supervised classification with feature matching (issue 18), on digits and mnist1d.

Rows, each the ``semi`` task's recipe for the data set (same architecture, labels, steps, seed):

- ``supervised``: D trained on the labelled examples alone (``task_options.unsupervised_weight=0``;
  its Gaussian noise on every layer is the regulariser; G trains but never reaches D);
- ``fm``: the semi-supervised GAN with feature matching (the recipe);
- ``adv``: the same with the adversarial generator loss (``objective.kind adv``, the paper's ablation).

Columns: digits at 5 and 10 labels per class, mnist1d at 10 and 50; each cell the mean +- std of
``test_error`` (D's moving average on the test split) over ``--seeds`` seeds.

Usage:
    python benchmarks/table6_semi.py --seeds 0 1 2 3 4 --jobs 2 --out runs/table6
    python benchmarks/table6_semi.py --out runs/table6 --tabulate   # the table of finished runs
    python benchmarks/table6_semi.py --steps 4 --seeds 0 --cells digits:5 --out /tmp/t6   # smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from featmatch.train.sweep import SweepRun, train_runs

CELLS = (("digits", 5), ("digits", 10), ("mnist1d", 10), ("mnist1d", 50))
ROWS: dict[str, dict[str, Any]] = {
    "supervised": {"task_options.unsupervised_weight": 0.0},
    "fm": {},
    "adv": {"objective.kind": "adv"},
}


def runs(out: Path, seeds: list[int], cells: list[tuple[str, int]], steps: int | None) -> list[SweepRun]:
    """Every (row, cell, seed) as a :class:`SweepRun` with override mappings."""
    result = []
    for data, labels in cells:
        for row, overrides in ROWS.items():
            for seed in seeds:
                values = {"task": "semi", "data.name": data, "seed": seed, "task_options.labels": labels,
                          "task_options.sample_metrics": False, "log.sample_every": 0, "log.quiet": True,
                          **overrides}
                if steps is not None:
                    values["steps"] = steps
                result.append(SweepRun(f"{data}-{labels}/{row}/seed{seed}", out / f"{data}-{labels}" / row /
                                       f"seed{seed}", values))
    return result


def tabulate(out: Path, cells: list[tuple[str, int]]) -> str:
    """The markdown table of the finished runs under ``out``."""
    header = "| row | " + " | ".join(f"{d} {k}/class" for d, k in cells) + " |"
    lines = [header, "|---" * (len(cells) + 1) + "|"]
    for row in ROWS:
        cols = []
        for data, labels in cells:
            errors = []
            for path in sorted((out / f"{data}-{labels}" / row).glob("seed*/summary.json")):
                metrics = json.loads(path.read_text()).get("metrics") or {}
                if "test_error" in metrics:
                    errors.append(100 * metrics["test_error"])
            if not errors:
                cols.append("-")
            else:
                spread = statistics.stdev(errors) if len(errors) > 1 else 0.0
                cols.append(f"{statistics.mean(errors):.2f} +- {spread:.2f} % (n={len(errors)})")
        lines.append(f"| {row} | " + " | ".join(cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/table6"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--cells", nargs="+", default=[f"{d}:{k}" for d, k in CELLS],
                        help="data:labels-per-class cells (default: all four)")
    parser.add_argument("--steps", type=int, default=None, help="override every run's steps (default: the recipe's)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--tabulate", action="store_true", help="only print the table of finished runs")
    args = parser.parse_args(argv)
    cells = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cells]
    if not args.tabulate:
        outcomes = train_runs(runs(args.out, args.seeds, cells, args.steps), jobs=args.jobs)
        failed = [o.run.name for o in outcomes if o.status == "failed"]
        if failed:
            print(f"failed: {failed}")
    table = tabulate(args.out, cells)
    print(table, end="")
    (args.out / "table6.md").parent.mkdir(parents=True, exist_ok=True)
    (args.out / "table6.md").write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
