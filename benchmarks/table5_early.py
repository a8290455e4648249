"""Table 5: early prediction on MNIST-1D (issue 17), the reference article's system and its ablations.

Every run is the ``early`` task's recipe ``early-mnist1d`` (teacher 1,000 steps then frozen, student
2,000 steps on fractions drawn uniformly from [0.1, 1], batch 128, width 32, D over features with
3 blocks; one torch thread), with one row's overrides; the same budget for every row:

- ``a_ce``: the student classifier on partial sequences only (``use_discriminator=false``: no term
  through D; D still trains, so the cost and the monitor are the same);
- ``b_distill``: (a) + direct feature distillation, MSE of the student's features to the
  teacher's (``distill_weight=1``), no discriminator;
- ``c_adv``: (a) + the adversarial BCE term on the features only (``objective.kind adv``): the
  article's failure; the columns ``D acc`` (D's accuracy at the end) and ``dominated %`` (share of
  steps inside the balance monitor's discriminator-dominance episodes) show whether D wins;
- ``d_article``: the article's method: CE + paired feature matching of D's block features
  (``layer_mse``, weight 1): the recipe itself;
- ``e_best``: featmatch's setting (``E_BEST``: D's learning rate 2e-5, FM weight 10; BENCHMARKS.md).

Columns: test accuracy with r = 0.2, 0.3, 0.5, 1.0 of each sequence observed, ``accuracy_auc``
(the mean over r = 0.1 ... 1.0) and the stopping rule's ``harmonic_mean``, mean +- sample std over seeds.

Usage:
    python benchmarks/table5_early.py --seeds 0 1 2 3 4 --jobs 2 --out runs/table5
    python benchmarks/table5_early.py --out runs/table5 --tabulate     # the table of finished runs
    python benchmarks/table5_early.py --steps 3 --teacher-steps 2 --seeds 0 --rows a_ce,d_article \\
        --out /tmp/t5                                                    # smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from featmatch.train.sweep import SweepRun, train_runs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tables import episode_stats

# featmatch's setting: the monitor's advice taken (D 10x slower, so it stops dominating) with a
# 10x feature-matching weight; seed-0 tuning in BENCHMARKS.md "Table 5".
E_BEST: dict[str, Any] = {"objective.fm_weight": 10.0, "optim.lr_d": 2e-5}
ROWS: dict[str, dict[str, Any]] = {
    "a_ce": {"task_options.use_discriminator": False},
    "b_distill": {"task_options.use_discriminator": False, "task_options.distill_weight": 1.0},
    "c_adv": {"objective.kind": "adv", "objective.adv_weight": 1.0},
    "d_article": {"objective.kind": "fm", "objective.fm_preset": "layer_mse", "objective.fm_weight": 1.0},
    "e_best": E_BEST,
}
# The stopping rule's harmonic mean exists from issue 24 on ("-" for runs from before).
COLUMNS = ("accuracy@0.2", "accuracy@0.3", "accuracy@0.5", "accuracy@1.0", "accuracy_auc", "harmonic_mean")


def runs(out: Path, seeds: list[int], rows: list[str], steps: int | None, teacher_steps: int | None) -> list[SweepRun]:
    """Every (row, seed) as a :class:`SweepRun` with override mappings (the recipe, then the row)."""
    result = []
    for row in rows:
        for seed in seeds:
            values: dict[str, Any] = {"task": "early", "data.name": "mnist1d", "seed": seed, "device": "cpu",
                                      "log.sample_every": 0, "log.checkpoint_every": 0, "log.quiet": True,
                                      **ROWS[row]}
            if steps is not None:
                values["steps"] = steps
            if teacher_steps is not None:
                values["task_options.teacher_steps"] = teacher_steps
            result.append(SweepRun(f"{row}/seed{seed}", out / row / f"seed{seed}", values))
    return result


def _cell(values: list[float], scale: float = 1.0, decimals: int = 3) -> str:
    if not values:
        return "-"
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values) * scale:.{decimals}f} ± {spread * scale:.{decimals}f}"


def tabulate(out: Path, rows: list[str]) -> str:
    """The markdown table of the finished runs under ``out``."""
    lines = ["| row | seeds | " + " | ".join(COLUMNS) + " | D acc | dominated % | time (s) |",
             "|---" * (len(COLUMNS) + 5) + "|"]
    for row in rows:
        summaries = [json.loads(p.read_text()) for p in sorted((out / row).glob("seed*/summary.json"))]
        summaries = [s for s in summaries if s.get("metrics")]
        cols = [_cell([s["metrics"][c] for s in summaries if c in s["metrics"]]) for c in COLUMNS]
        d_acc = _cell([s["final"]["d/accuracy"] for s in summaries if "d/accuracy" in s.get("final", {})], 1.0, 2)
        dominated = _cell([episode_stats(out / row / f"seed{s['config']['seed']}")["dominated_pct"]
                           for s in summaries], 1.0, 0)
        time = _cell([s["wall_time_sec"] for s in summaries], 1.0, 0)
        lines.append(f"| {row} | {len(summaries)} | " + " | ".join(cols) + f" | {d_acc} | {dominated} | {time} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/table5"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated rows (default: {','.join(ROWS)})")
    parser.add_argument("--steps", type=int, default=None, help="student steps of every run (default: the recipe's)")
    parser.add_argument("--teacher-steps", type=int, default=None, help="teacher steps (default: the recipe's)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, one core each")
    parser.add_argument("--tabulate", action="store_true", help="only write the table of finished runs")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"--rows: unknown {unknown}; known: {list(ROWS)}")
    if not args.tabulate:
        outcomes = train_runs(runs(args.out, args.seeds, rows, args.steps, args.teacher_steps), jobs=args.jobs)
        failed = [f"{o.run.name}: {o.error}" for o in outcomes if o.status == "failed"]
        if failed:
            print("failed:", *failed, sep="\n  ")
    table = tabulate(args.out, rows)
    print(table, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table5.md").write_text(table, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
