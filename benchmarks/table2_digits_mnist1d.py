"""Table 2: adversarial (BCE), feature matching, and both, on 8x8 digits and MNIST-1D.

Every run is ``featmatch train`` with the same budget per data set (steps, batch, learning
rates, models: the data set's defaults unless given below), one torch thread, on the CPU.
At the end of each run the trainer scores ``log.eval_samples`` (1,000) samples of the EMA
generator with ``featmatch.metrics.evaluate_samples``: Frechet distance in the feature space
of a small classifier trained on the real training split (cached, trained once before the
runs start), class coverage (classes generated with softmax confidence >= 0.9), KL between
the generated and the real class histograms, and k-NN precision / recall (k = 3) against the
real test split. The table gives the mean ± sample std over seeds, the monitor's
discriminator-dominance episodes, and the training time of one run (one core).

Variants (generator objective; the discriminator is always trained with BCE):

- ``bce``: non-saturating BCE only (``--objective adv``).
- ``fm_mean``: feature matching only, ``salimans2016`` preset (MSE between the batch means of
  every D feature, averaged over D's blocks; on digits D has one block).
- ``bce+fm_mean``: both, weight 1 each.
- MNIST-1D also: the reference article's setting, its 1-D sequence discriminator with the
  ``layer_mse`` loss (paired MSE of the 4 blocks' features, averaged over blocks) as the
  generator's loss (``fm_layer_mse``), and with ``--article-bce`` also with BCE added
  (``bce+fm_layer_mse``). Paired matching
  compares generated sample i with real sample i of an unrelated batch: it pulls every sample
  towards the batch's average feature, which is what the batch-mean rows show the difference to.

Runs land in ``OUT/<data>/<variant>/seed<k>/`` (a normal run directory each, log beside it);
finished runs are skipped, so the same command continues an interrupted table. The table is
written to ``OUT/table2.md`` (and ``OUT/table2.json``), with one figure per data set,
``OUT/table2_<data>_samples.png``.

Example:
    python benchmarks/table2_digits_mnist1d.py --out runs/table2 --jobs 14
    python benchmarks/table2_digits_mnist1d.py --out runs/table2_small --jobs 2 --seeds 0 \\
        --digits-steps 1000 --mnist1d-steps 1000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tables import DIGITS_BEFORE_ISSUE_23_FLAGS, Block, Ticker, block_table, format_reference, header, prewarm_classifiers, train_blocks  # noqa: E402

METRICS = ("frechet_distance", "classes_covered", "class_kl", "precision", "recall")

# Flags for every run: CPU, no intermediate checkpoints or samples (the final ones are kept), and
# the feature-matching options and evaluation size pinned, so that later changes of the data
# sets' defaults (featmatch.train.config.DATASET_DEFAULTS) do not change this table.
COMMON = [
    "--device", "cpu", "--checkpoint-every", "0", "--sample-every", "0", "--batch-size", "64",
    "--set", "objective.fm_statistic=null", "--set", "objective.fm_layers=null",
    "--set", "objective.fm_options={}", "--set", "log.eval_samples=1000",
]
# The optimiser of each data set, pinned likewise (the defaults when the table was first made).
DIGITS_OPTIM = DIGITS_BEFORE_ISSUE_23_FLAGS  # the models too: the digits recipe changed since
MNIST1D_OPTIM = ["--lr-g", "5e-4", "--lr-d", "2e-4", "--ema", "0"]

DIGITS_VARIANTS = [
    "bce=--objective adv",
    "fm_mean=--objective fm --fm-preset salimans2016",
    "bce+fm_mean=--objective adv+fm --fm-preset salimans2016",
]
MNIST1D_VARIANTS = [*DIGITS_VARIANTS, "fm_layer_mse=--objective fm --fm-preset layer_mse"]
ARTICLE_BCE = "bce+fm_layer_mse=--objective adv+fm --fm-preset layer_mse"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (runs and table2.md)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, one core each (default 1)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--data", default="digits,mnist1d", help="data sets (default digits,mnist1d)")
    parser.add_argument("--digits-steps", type=int, default=2000, help="steps of every digits run (default 2000)")
    parser.add_argument("--mnist1d-steps", type=int, default=3000, help="steps of every MNIST-1D run (default 3000)")
    parser.add_argument(
        "--mnist1d-width", type=int, default=32,
        help="base width of the 1-D models (default 32: the family's 64 costs ~3x more per step)",
    )
    parser.add_argument(
        "--article-bce", action="store_true",
        help="add the row bce+fm_layer_mse on MNIST-1D (3 more runs; by default 12 MNIST-1D runs fit one wave of 14 jobs)",
    )
    return parser.parse_args(argv)


def build_blocks(args: argparse.Namespace) -> list[Block]:
    blocks = []
    datas = [d.strip() for d in args.data.split(",") if d.strip()]
    for data in datas:
        if data == "digits":
            # Measured on one core: ~0.01 s per step (conv pair at 8x8, batch 64).
            blocks.append(Block("digits", list(DIGITS_VARIANTS), args.digits_steps, [*COMMON, *DIGITS_OPTIM],
                                cost=args.digits_steps * 1.0))
        elif data == "mnist1d":
            variants = [*MNIST1D_VARIANTS, *([ARTICLE_BCE] if args.article_bce else [])]
            # ~5x the digits cost per step at width 32.
            blocks.append(Block("mnist1d", variants, args.mnist1d_steps,
                                [*COMMON, *MNIST1D_OPTIM, "--model-width", str(args.mnist1d_width)],
                                cost=args.mnist1d_steps * 5.0))
        else:
            raise SystemExit(f"--data: unknown data set {data!r}; expected digits and/or mnist1d")
    return blocks


def plot_block(out: Path, block: Block, seeds: list[int]) -> Path | None:
    """``OUT/table2_<data>_samples.png``: final samples per variant and two metrics per seed."""
    from featmatch.train.sweep import collect_results, plot_comparison, summarize

    rows = block.flags()
    runs = collect_results(out / block.data, list(rows), seeds)
    if all(r.status == "failed" for r in runs):
        return None
    summary = summarize(runs, list(rows), rows)
    return plot_comparison(
        runs, summary, out / f"table2_{block.data}_samples.png",
        title=f"{block.data}: final samples (seed {seeds[0]}) and metrics over seeds",
        metrics=["frechet_distance", "recall"],
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    blocks = build_blocks(args)
    args.out.mkdir(parents=True, exist_ok=True)
    reference = prewarm_classifiers([b.data for b in blocks])
    with Ticker() as ticker:
        failures = train_blocks(args.out, blocks, seeds, args.jobs)
    parts = ["## Table 2: digits and MNIST-1D", "", header(argv)]
    tables = {}
    for block in blocks:
        shape = "8x8 digits, conv (DCGAN) pair" if block.data == "digits" else (
            f"MNIST-1D (N, 1, 40), 1-D sequence pair (D: 4 blocks), width {args.mnist1d_width}")
        title = f"{block.data}: {shape}, {block.steps} steps, batch 64, seeds {args.seeds}"
        text, summary = block_table(args.out, block, seeds, METRICS, title)
        tables[block.data] = summary
        parts += [text, format_reference(reference[block.data]), ""]
        figure = plot_block(args.out, block, seeds)
        if figure is not None:
            parts += [f"Figure: `{figure}` (seed {seeds[0]}'s final samples; Frechet distance and recall of every seed).", ""]
    parts.append(
        "Columns: Frechet distance in the domain classifier's 64-d feature space (lower is better); "
        "classes covered of 10 and class KL (generated vs real class histogram, lower is better); "
        "k-NN precision and recall (k = 3); dominance episodes: the balance monitor's "
        "d_dominates episodes, and the share of steps inside one (%); time: training seconds of one "
        "run on one core (evaluation and start-up not included)."
    )
    parts.append(f"\nWall time of this command: {ticker.elapsed:.0f} s with --jobs {args.jobs}.")
    for failure in failures:
        parts.append(f"- FAILED: {failure}")
    text = "\n".join(parts) + "\n"
    (args.out / "table2.md").write_text(text, encoding="utf-8")
    (args.out / "table2.json").write_text(
        json.dumps({"reference": reference, "tables": tables}, indent=2, default=str) + "\n", encoding="utf-8"
    )
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
