"""Table 3: the failure case. Discriminator dominance under plain BCE, and feature matching recovering.

Configuration (ring8, the 2-D benchmark pair of ``--data ring8``: G 256 -> 128 -> 128 -> 2,
D 2 -> 128 -> 128 -> 1, batch 512, Adam lr 1e-3 for both, betas 0.5/0.999), made to favour the
discriminator in two ways that users hit in practice:

- ``--d-steps 5``: five discriminator updates per generator update;
- ``--saturating``: the original minimax generator loss ``log(1 - D(G(z)))``, whose gradient
  with respect to the logit is ``D(G(z))`` itself, so it fades as soon as D wins.

Only the generator's objective changes between the rows; D, its loss (BCE), the data, the
models, the learning rates and the budget stay the same:

- ``bce``: the saturating adversarial loss only;
- ``fm_mean``: feature matching only (``salimans2016``: MSE between the batch means of D's
  hidden features, averaged over its two hidden layers);
- ``bce+fm_mean``: both, weight 1 each.

Metrics: the VEEGAN protocol on 1,000 samples of the final generator (modes covered of 8, the
share of high-quality samples within 3 standard deviations of a centre, reverse KL of the mode
histogram), the balance monitor's ``d_dominates`` episodes (how many, and the share of the run
inside one) and D(G(z)) and D accuracy at the end (mean of the last 10 logged values). The figure puts the
runs of one seed side by side: D(x), D(G(z)) and D accuracy (top), the generator's and the
discriminator's gradient norms (middle; log scale), episodes shaded red, and the final samples
(bottom).

Runs land in ``OUT/ring8/<variant>/seed<k>/``; finished runs are skipped. Writes
``OUT/table3.md``, ``OUT/table3.json`` and ``OUT/table3_balance.png`` (also copied to
``--figure`` when given).

Example:
    python benchmarks/table3_failure.py --out runs/table3 --jobs 14
    python benchmarks/table3_failure.py --out runs/table3 --jobs 2 --seeds 0,1 --variants bce,fm_mean \\
        --figure benchmarks/figures/table3_failure_balance.png
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tables import Block, Ticker, block_table, header, train_blocks  # noqa: E402

METRICS = ("modes_covered", "high_quality", "reverse_kl", "final_fake_prob", "final_d_accuracy")

FAILURE_FLAGS = ["--saturating", "--d-steps", "5"]
# Everything else pinned (the ring8 defaults when the table was first made), so that later changes
# of featmatch.train.config.DATASET_DEFAULTS do not change this table.
COMMON = [
    "--device", "cpu", "--checkpoint-every", "0", "--sample-every", "0", "--log-every", "10",
    "--batch-size", "512", "--lr-g", "1e-3", "--lr-d", "1e-3", "--ema", "0",
    "--set", "objective.fm_statistic=null", "--set", "objective.fm_layers=null",
    "--set", "objective.fm_options={}", "--set", "log.eval_samples=1000", "--set", "log.n_samples=2000",
]
VARIANTS = {
    "bce": "--objective adv",
    "fm_mean": "--objective fm --fm-preset salimans2016",
    "bce+fm_mean": "--objective adv+fm --fm-preset salimans2016",
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (runs, table3.md, the figure)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, one core each (default 1)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--steps", type=int, default=2000, help="steps of every run (default 2000)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"rows, of {', '.join(VARIANTS)}")
    parser.add_argument("--figure-seed", type=int, default=None, help="seed drawn in the figure (default: the first)")
    parser.add_argument("--figure", type=Path, default=None, help="also copy the figure here")
    return parser.parse_args(argv)


def _history(run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    with open(run_dir / "metrics.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if "d/accuracy" in row:
                rows.append(row)
    return rows


def final_scalars(run_dir: Path, last: int = 10) -> dict[str, float]:
    """D(G(z)) and D accuracy averaged over the last ``last`` logged rows (less noisy than one)."""
    rows = _history(run_dir)[-last:]
    if not rows:
        return {}
    return {
        "final_fake_prob": sum(r["d/fake_prob"] for r in rows) / len(rows),
        "final_d_accuracy": sum(r["d/accuracy"] for r in rows) / len(rows),
    }


def plot_runs(run_dirs: dict[str, Path], path: Path, title: str) -> Path:
    """Side-by-side balance curves (one column per run) with the monitor's episodes shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from matplotlib.figure import Figure
    from PIL import Image

    names = list(run_dirs)
    figure = Figure(figsize=(4.2 * len(names), 8.4), dpi=80)
    axes = figure.subplots(3, len(names), squeeze=False, gridspec_kw={"height_ratios": [1.0, 0.8, 1.2]})
    for column, name in enumerate(names):
        run_dir = run_dirs[name]
        rows = _history(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        steps = np.array([r["step"] for r in rows])
        prob_ax, grad_ax, sample_ax = axes[0, column], axes[1, column], axes[2, column]
        for key, label in (("d/real_prob", "D(x)"), ("d/fake_prob", "D(G(z))"), ("d/accuracy", "D accuracy")):
            prob_ax.plot(steps, [r[key] for r in rows], label=label, linewidth=1.0)
        prob_ax.set_ylim(-0.03, 1.03)
        prob_ax.axhline(0.5, color="black", linewidth=0.5, alpha=0.4)
        metrics = summary.get("metrics") or {}
        prob_ax.set_title(
            f"{name}: {metrics.get('modes_covered', float('nan')):.0f} modes, "
            f"{100 * metrics.get('high_quality', float('nan')):.0f}% high quality",
            fontsize=10,
        )
        for key in ("grad/g", "grad/d"):
            values = np.array([r[key] for r in rows], dtype=float)
            keep = values > 0
            grad_ax.plot(steps[keep], values[keep], label=f"{key} norm", linewidth=1.0)
        grad_ax.set_yscale("log")
        grad_ax.set_xlabel("step")
        last = float(steps[-1]) if steps.size else 0.0
        for episode in summary.get("episodes") or []:
            if episode.get("kind") != "d_dominates":
                continue
            end = episode.get("end_step")
            for ax in (prob_ax, grad_ax):
                ax.axvspan(episode["start_step"], last if end is None else end, color="tab:red", alpha=0.15,
                           linewidth=0, label="D dominates (monitor)" if ax is prob_ax else None)
        for ax in (prob_ax, grad_ax):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="center right")
        sample_ax.set_axis_off()
        pictures = sorted((run_dir / "samples").glob("step_*.png"))
        if pictures:
            with Image.open(pictures[-1]) as image:
                sample_ax.imshow(np.asarray(image.convert("RGB")))
            sample_ax.set_title("final samples", fontsize=9)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    block = Block("ring8", [f"{n}={VARIANTS[n]}" for n in names], args.steps, [*COMMON, *FAILURE_FLAGS])
    args.out.mkdir(parents=True, exist_ok=True)
    with Ticker() as ticker:
        failures = train_blocks(args.out, [block], seeds, args.jobs)

    title = (f"ring8, {args.steps} steps, batch 512, lr 1e-3 (G and D), "
             f"{' '.join(FAILURE_FLAGS)}, seeds {args.seeds}")
    # Add the last logged balance scalars to each run's metrics through its summary's metrics.
    text, summary = block_table(args.out, block, seeds, METRICS, title, extra=final_scalars)
    figure_seed = seeds[0] if args.figure_seed is None else args.figure_seed
    run_dirs = {n: args.out / "ring8" / n / f"seed{figure_seed}" for n in names}
    figure_path = None
    if all((d / "summary.json").is_file() for d in run_dirs.values()):
        figure_path = plot_runs(
            run_dirs, args.out / "table3_balance.png",
            f"ring8, --saturating --d-steps 5, seed {figure_seed}: balance over training",
        )
        if args.figure is not None:
            args.figure.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(figure_path, args.figure)
    parts = ["## Table 3: the failure case (discriminator dominance)", "", header(argv), text]
    parts.append(
        "Columns: modes covered (of 8), % high-quality samples and reverse KL of 1,000 samples of the "
        "final generator (VEEGAN protocol); final D(G(z)) and D accuracy: mean of the last 10 logged "
        "rows (every 10 steps); dominance episodes: the balance monitor's d_dominates episodes, and the "
        "share of steps inside one (%); time: training seconds of one run on one core."
    )
    if figure_path is not None:
        parts.append(f"\nFigure (seed {figure_seed}): `{figure_path}`" + (f", copied to `{args.figure}`" if args.figure else ""))
    parts.append(f"\nWall time of this command: {ticker.elapsed:.0f} s with --jobs {args.jobs}.")
    for failure in failures:
        parts.append(f"- FAILED: {failure}")
    text = "\n".join(parts) + "\n"
    (args.out / "table3.md").write_text(text, encoding="utf-8")
    (args.out / "table3.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
