"""Table 1: mode coverage and sample quality on the 2-D mixtures ring8 and grid25.

The published protocol (Srivastava et al. 2017, VEEGAN; Elfeki et al. 2019, GDPP): generator
256 -> 128 -> 128 -> 2 and discriminator 2 -> 128 -> 128 -> 1 with tanh and orthogonal
initialisation (gain 1.4) (``--model mlp2d_benchmark``), Adam with beta1 0.5 and beta2 0.999,
learning rate 1e-4 for D and 1e-3 for G, batch 512, 25,000 iterations; 2,500 generated samples
are scored: ``modes_covered`` (centres nearest to at least one high-quality sample) and
``high_quality`` (samples within 3 standard deviations of their nearest centre). Mean ± sample
std over seeds (5 in the papers).

Rows (the discriminator is always trained with BCE; only the generator's objective differs):

- ``gan``: non-saturating BCE (``--objective adv``), no weight average.
- ``fm_mean``: feature matching alone, batch means of both hidden layers (``salimans2016``).
- ``fm_mean_std``: feature matching alone, batch means and standard deviations.
- ``featmatch``: the recommended configuration for such data, which is what
  ``featmatch train --data ring8`` (or ``grid25``) uses by default (``DATASET_DEFAULTS``):
  kernel feature matching (random Fourier features) of both hidden layers at small bandwidths,
  plus the adversarial term at weight 0.003, rising linearly to 0.03 over the last 60% of the
  run; see ``RECOMMENDED`` below and BENCHMARKS.md for
  why. It trains D with lr 1e-3 (the protocol: 1e-4).
- ``gan_lrd1e-3``: the control for that: plain BCE with D's lr 1e-3.
- ``featmatch_fm_only``: ablation: ``featmatch`` without the adversarial term.
- ``featmatch_no_ramp``: ablation: ``featmatch`` with the adversarial weight kept at 0.003.
- ``featmatch_adv1``: ablation: ``featmatch`` with the adversarial term at full weight (1, no ramp).
- ``featmatch_ema9995``: ``featmatch`` with a longer moving average of G (0.9995): the same
  training (the EMA does not feed back), averaged over about 2,000 steps instead of 1,000.

Every run is a ``featmatch train`` run trained in a worker process (featmatch's sweep runner,
``featmatch.train.sweep.train_runs``) with one torch thread on the CPU, in
``OUT/<data>/<variant>/seed<k>/`` (``featmatch compare``'s layout); finished runs are skipped,
so the same command continues an interrupted table or adds seeds. The result goes to
``OUT/table1.md`` (our rows beside the published ones) and ``OUT/table1.json``, with one
``featmatch compare``-style table and ``comparison.png`` per data set.

Run time: ``--estimate`` prints the expected wall time for the chosen rows, seeds and jobs
from per-step CPU costs measured on one core (longest runs first), without training;
``--calibrate`` measures those costs on this machine first (about 10 s), and ``--time-budget MIN``
shrinks the plan (fewer seeds, then fewer rows, keeping ``featmatch``) to fit MIN minutes. While
training, ``OUT/table1.md`` is rewritten every 30 s from the runs finished so far;
``--tabulate`` rewrites the tables and pictures from the finished runs without training any.

Example:
    python benchmarks/table1_mixtures.py --jobs 14 --out runs/table1
    python benchmarks/table1_mixtures.py --jobs 14 --estimate
    python benchmarks/table1_mixtures.py --jobs 16 --time-budget 7 --out $OUT/table1
    python benchmarks/table1_mixtures.py --jobs 2 --out runs/table1_small --seeds 0 --steps 5000
    python benchmarks/table1_mixtures.py --out runs/table1 --rows gan,featmatch --tabulate
"""

from __future__ import annotations

import argparse
import heapq
import json
import shlex
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tables import Block, Ticker, header, train_blocks  # noqa: E402

from featmatch.cli import train_overrides  # noqa: E402
from featmatch.train.sweep import (  # noqa: E402
    collect_results,
    format_cell,
    format_table,
    plot_comparison,
    summarize,
)

DATA = ("ring8", "grid25")
PROTOCOL_STEPS = 25_000

# The published protocol, spelled out for every run (so the table does not depend on defaults),
# plus: CPU, no intermediate checkpoints/samples, 2,500 samples for the metrics.
PROTOCOL = [
    "--device", "cpu", "--model", "mlp2d_benchmark", "--batch-size", "512",
    "--lr-d", "1e-4", "--lr-g", "1e-3", "--betas", "0.5,0.999", "--d-steps", "1",
    "--checkpoint-every", "0", "--sample-every", "0",
    "--set", "log.eval_samples=2500", "--set", "log.tensorboard=false",
]

# The recommended configuration for 2-D mixtures: the same as DATASET_DEFAULTS["ring8"/"grid25"]
# (tests/train/test_config.py checks they agree). See BENCHMARKS.md, Table 1, for the search.
# It departs from the protocol in one optimiser setting, D's learning rate (1e-3, as G's, instead
# of 1e-4); the row gan_lrd1e-3 is the control that shows what that alone does, and the rows
# featmatch_fm_only, featmatch_no_ramp and featmatch_adv1 what the adversarial term's weight
# does (0, a constant 0.003 without the ramp, or 1).
KERNEL_MATCHING = (
    "--fm-preset salimans2016 --fm-statistic rff "
    "\"--set=objective.fm_options={num_random_features: 128, bandwidths: [0.03, 0.1, 0.3, 1.0]}\" "
    "--lr-d 1e-3 --ema 0.999"
)
RECOMMENDED = (
    "--objective adv+fm --adv-weight 0.003 --adv-weight-end 0.03 --adv-ramp-start 0.4 " + KERNEL_MATCHING
)

ROWS = {
    "gan": "--objective adv --ema 0",
    "fm_mean": "--objective fm --fm-preset salimans2016 --fm-statistic mean --ema 0",
    "fm_mean_std": "--objective fm --fm-preset salimans2016 --fm-statistic mean_std --ema 0",
    "featmatch": RECOMMENDED,
    "gan_lrd1e-3": "--objective adv --ema 0 --lr-d 1e-3",
    "featmatch_fm_only": "--objective fm " + KERNEL_MATCHING,
    "featmatch_no_ramp": "--objective adv+fm --adv-weight 0.003 " + KERNEL_MATCHING,
    "featmatch_adv1": "--objective adv+fm --adv-weight 1 " + KERNEL_MATCHING,
    "featmatch_ema9995": RECOMMENDED + " --ema 0.9995",
}

# CPU milliseconds per training step on one core (AMD EPYC, AVX2, torch 2.13 CPU, batch 512),
# measured with Trainer.train_step; plus a fixed cost per run (start-up, evaluation, report).
MS_PER_STEP = {"gan": 15.0, "fm_mean": 17.0, "fm_mean_std": 18.0, "featmatch": 37.0, "gan_lrd1e-3": 15.0,
               "featmatch_fm_only": 36.0, "featmatch_no_ramp": 37.0, "featmatch_adv1": 37.0,
               "featmatch_ema9995": 37.0}
SECONDS_PER_RUN = 20.0

# Published results: (modes, % high quality) on ring8, then grid25.
PUBLISHED = [
    ("GAN", (1.0, 99.3), (3.3, 0.5), "Srivastava et al. 2017, Table 1"),
    ("Unrolled GAN", (7.6, 35.6), (23.6, 16.0), "Srivastava et al. 2017, Table 1"),
    ("VEEGAN", (8.0, 52.9), (24.6, 40.0), "Srivastava et al. 2017, Table 1"),
    ("GDPP", (8.0, 71.7), (24.8, 68.5), "Elfeki et al. 2019, Table 1"),
]


def _estimate(rows: list[str], data: list[str], seeds: list[int], steps: int, jobs: int) -> tuple[float, float]:
    """Wall and CPU seconds of the runs, scheduled longest first on ``jobs`` cores."""
    costs = sorted(
        (MS_PER_STEP[r] * steps / 1000.0 + SECONDS_PER_RUN for r in rows for _ in data for _ in seeds),
        reverse=True,
    )
    finish = [0.0] * max(1, jobs)
    for cost in costs:
        heapq.heapreplace(finish, finish[0] + cost)
    return max(finish), sum(costs)


def calibrate(rows: list[str], device: str = "cpu", steps: int = 40) -> dict[str, float]:
    """CPU milliseconds per training step of each row on this machine (ring8, one thread)."""
    import time

    import torch

    from featmatch.train import Trainer, build_config

    torch.set_num_threads(1)
    costs = {}
    for r in rows:
        overrides = {**train_overrides([*PROTOCOL, *shlex.split(ROWS[r])]), "data.name": "ring8", "steps": 10**6,
                     "device": device}
        trainer = Trainer(build_config(overrides))
        for _ in range(5):
            trainer.train_step()
        start = time.process_time()
        for _ in range(steps):
            trainer.train_step()
        costs[r] = 1000.0 * (time.process_time() - start) / steps
    return costs


def fit_plan(rows: list[str], data: list[str], seeds: list[int], steps: int, jobs: int,
             budget_sec: float, margin: float = 1.2) -> tuple[list[str], list[int], int]:
    """The largest (rows, seeds, steps) whose estimated wall time x ``margin`` fits ``budget_sec``.

    Preference at the full ``steps``: every row with all seeds, then 3 seeds, then ``featmatch``
    and ``gan``, then ``featmatch`` alone with fewer seeds. When none fits, every row with as many
    seeds as make one run per core, at the most steps (a multiple of 1,000) that fit.
    """
    keep = [r for r in ("featmatch", "gan", "gan_lrd1e-3") if r in rows] or rows[:1]
    options = [(rows, seeds), (rows, seeds[:3]), (keep, seeds), (keep, seeds[:3])]
    options += [(keep[:1], seeds[:n]) for n in range(len(seeds), 0, -1)]
    for option_rows, option_seeds in options:
        if _estimate(list(option_rows), data, list(option_seeds), steps, jobs)[0] * margin <= budget_sec:
            return list(option_rows), list(option_seeds), steps
    per_core = max(1, jobs // max(1, len(keep) * len(data)))
    fewer = seeds[:per_core]
    reduced = steps
    while reduced > 1000 and _estimate(keep, data, fewer, reduced, jobs)[0] * margin > budget_sec:
        reduced -= 1000
    return list(keep), list(fewer), reduced


def write_tables(out: Path, rows: list[str], data: list[str], seeds: list[int], steps: int,
                 intro: list[str], failures: list[str], status: str | None) -> str:
    """Tabulate whatever runs have finished: per data set, and the combined Table 1.

    ``status`` is the line under the intro; ``None`` means training is in progress (the tables
    say so, and the pictures wait for the end).
    """
    summaries = {}
    for d in data:
        runs = collect_results(out / d, rows, seeds)
        summary = summarize(runs, rows, {r: ROWS[r] for r in rows})
        summaries[d] = summary
        title = f"{d}, {steps} steps, seeds {','.join(map(str, seeds))}"
        (out / d).mkdir(parents=True, exist_ok=True)
        (out / d / "table.md").write_text(format_table(summary, title=title), encoding="utf-8")
        if status is not None:  # the picture only at the end
            try:
                plot_comparison(runs, summary, out / d / "comparison.png", title=title)
            except Exception as err:  # noqa: BLE001 - the table matters more than the picture
                print(f"could not draw {d}/comparison.png: {err}", file=sys.stderr)

    lines = ["| method | ring8 modes (of 8) | ring8 % high quality | grid25 modes (of 25) | "
             "grid25 % high quality | seeds | source |", "|---|---|---|---|---|---|---|"]
    for name, ring, grid, source in PUBLISHED:
        lines.append(f"| {name} | {ring[0]:.1f} | {ring[1]:.1f} | {grid[0]:.1f} | {grid[1]:.1f} | 5 | {source} |")
    for r in rows:
        cells, ns = [], []
        for d in DATA:
            row = next((x for x in summaries[d]["rows"] if x["variant"] == r), None) if d in summaries else None
            if row is None or row["n"] == 0:
                cells += ["–", "–"]
                ns.append("0")
                continue
            ns.append(str(row["n"]))
            cells += [format_cell(row, "modes_covered"), format_cell(row, "high_quality")]
        lines.append(f"| `{r}` (featmatch) | " + " | ".join(cells) + f" | {'/'.join(ns)} | this run |")
    if status is None:
        status = "IN PROGRESS: only finished runs are counted (the seeds column)."
    parts = [*intro, status + "\n", "\n".join(lines) + "\n",
             "Rows (flags of `featmatch train`, after the protocol's flags "
             f"`{' '.join(PROTOCOL)}`):\n"]
    parts += [f"- `{r}`: `{ROWS[r]}`" for r in rows]
    parts.append("\nPer-seed values: <out>/<data>/table.md and table1.json; pictures: "
                 "<out>/<data>/comparison.png.")
    if failures:
        parts.append("\nFAILED runs:\n" + "\n".join(f"- {f}" for f in failures))
    text = "\n".join(parts) + "\n"
    (out / "table1.md").write_text(text, encoding="utf-8")
    (out / "table1.json").write_text(json.dumps(
        {"steps": steps, "seeds": seeds, "rows": {r: ROWS[r] for r in rows}, "protocol": PROTOCOL,
         "results": summaries, "failures": failures, "status": status}, indent=2, default=str) + "\n",
        encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/table1", help="output folder (default: runs/table1)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, one core each (default: 2)")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default: 0,1,2,3,4)")
    parser.add_argument("--steps", type=int, default=PROTOCOL_STEPS, help="iterations (default: 25000)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"rows to run (default: {','.join(ROWS)})")
    parser.add_argument("--data", default=",".join(DATA), help="data sets (default: ring8,grid25)")
    parser.add_argument("--device", default="cpu", help="device of every run (default: cpu)")
    parser.add_argument("--estimate", action="store_true", help="print the expected run time and exit")
    parser.add_argument("--calibrate", action="store_true",
                        help="measure each row's step cost on this machine first (about 10 s)")
    parser.add_argument("--time-budget", type=float, metavar="MIN",
                        help="fit the plan into MIN minutes of wall time (implies --calibrate): fewer "
                             "seeds, then fewer rows, keeping the featmatch row")
    parser.add_argument("--tabulate", action="store_true",
                        help="train nothing: write the tables and pictures from the runs already "
                             "finished in --out (the seeds column counts them)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    data = [d.strip() for d in args.data.split(",") if d.strip()]
    unknown = [r for r in rows if r not in ROWS] + [d for d in data if d not in DATA]
    if unknown:
        parser.error(f"unknown rows/data {unknown}; rows are {list(ROWS)}, data {list(DATA)}")
    if args.tabulate and (args.estimate or args.calibrate or args.time_budget is not None):
        parser.error("--tabulate trains nothing, so it takes no --estimate, --calibrate or --time-budget")
    out = Path(args.out)
    intro = [f"## Table 1: ring8 and grid25, {args.steps} steps\n", header(sys.argv[1:] if argv is None else argv)]
    if args.tabulate:
        if not out.is_dir():
            parser.error(f"--tabulate reads finished runs from --out, but {str(out)!r} is not a directory")
        status = f"Tabulated from the runs finished in {out}; nothing was trained."
        print(write_tables(out, rows, data, seeds, args.steps, intro, [], status))
        return 0
    source = "measured on a 2-core AMD EPYC"
    if args.calibrate or args.time_budget is not None:
        MS_PER_STEP.update(calibrate(rows, args.device))
        source = "calibrated here: " + ", ".join(f"{r} {v:.1f} ms" for r, v in MS_PER_STEP.items() if r in rows)
    if args.time_budget is not None:
        rows, seeds, args.steps = fit_plan(rows, data, seeds, args.steps, args.jobs, args.time_budget * 60)
    wall, cpu = _estimate(rows, data, seeds, args.steps, args.jobs)
    plan = (f"{len(rows) * len(data) * len(seeds)} runs ({','.join(rows)} x {','.join(data)} x seeds "
            f"{','.join(map(str, seeds))}) of {args.steps} steps on {args.jobs} cores: about {wall / 60:.1f} min "
            f"wall, {cpu / 3600:.2f} CPU hours (one-core step costs {source})")
    print(plan, file=sys.stderr, flush=True)
    if args.estimate:
        return 0

    out.mkdir(parents=True, exist_ok=True)
    intro.append(f"Plan: {plan}.\n")
    # One block per (data, row), so the costliest rows start first; tables are rewritten every
    # 30 s while training, so a run cut short still leaves the finished runs tabulated.
    flags = [*PROTOCOL, "--device", args.device]
    blocks = [Block(d, [f"{r}={ROWS[r]}"], args.steps, flags, cost=MS_PER_STEP[r]) for d in data for r in rows]
    stop = threading.Event()

    def refresh() -> None:
        while not stop.wait(30.0):
            try:
                write_tables(out, rows, data, seeds, args.steps, intro, [], None)
            except Exception as err:  # noqa: BLE001 - a heartbeat must not kill the run
                print(f"table refresh failed: {err}", file=sys.stderr)

    refresher = threading.Thread(target=refresh, daemon=True)
    refresher.start()
    with Ticker() as ticker:
        failures = train_blocks(out, blocks, seeds, args.jobs)
    stop.set()
    refresher.join()
    status = f"Training wall time: {ticker.elapsed / 60:.1f} min."
    text = write_tables(out, rows, data, seeds, args.steps, intro, failures, status)
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
