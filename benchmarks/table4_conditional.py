"""Table 4: conditional generation: reconstruction, adversarial and paired feature-matching terms side by side.

Every run is ``featmatch train --data <paired set>`` (the conditional task) with the same budget
within a data set: the data set's recipe (models, batch 64, learning rates, EMA of G; see
``featmatch train --data NAME --print-config``) with the generator objective of the row, one
torch thread, on the CPU. At the end of each run the trainer scores the EMA generator on the
whole test split: ``reconstruction_l1`` (mean |G(c) - target|), ``frechet_distance`` (the domain
classifier's feature space, generated vs real test targets) and ``class_accuracy`` (the domain
classifier's accuracy on generated targets against the pair's label). The table gives the mean ±
sample std over seeds, the balance monitor's discriminator-dominance episodes and the training
time of one run (one core).

Rows (generator objective; D always trained with BCE on (condition, target) pairs; ``W`` is
``--l1-weight``, 10 by default, the recipes' value):

- ``l1``: reconstruction only (``--reconstruction-only``), the regression baseline.
- ``adv+l1``: pix2pix (adversarial + L1).
- ``adv+fm``: pix2pixHD without its VGG term (adversarial + paired feature matching, preset
  ``pix2pixhd``: L1 between paired features of every D layer, x 4/L, x 10).
- ``adv+fm+l1``: both, and the L1 term.
- ``fm``: paired feature matching only.
- ``adv+fm+l1x10``: adversarial + paired feature matching + L1 at ten times ``W`` (pix2pix's 100
  by default): the same terms as ``adv+fm+l1``, traded further towards reconstruction, for data
  sets where the condition leaves much of the target open (``mnist1d-complete``), where a sharp
  sample of the possible targets is farther in L1 from the one real target than their blurred mean.
- ``mnist1d-complete`` also ``article``: the reference article's setting, its 1-D sequence D
  (``cond_sequence``) with ``layer_mse`` paired matching + the adversarial term, no L1.

Runs land in ``OUT/<data>/<row>/seed<k>/``; finished runs are skipped, so the same command
continues an interrupted table. The table goes to ``OUT/table4.md`` and ``OUT/table4.json``.

Example:
    python benchmarks/table4_conditional.py --out runs/table4 --jobs 2
    python benchmarks/table4_conditional.py --out runs/table4_small --seeds 0 --steps 500 --data digits-superres
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tables import Block, Ticker, block_table, header, train_blocks  # noqa: E402

METRICS = ("reconstruction_l1", "frechet_distance", "class_accuracy")
DATA = ("digits-superres", "digits-inpaint", "mnist1d-complete")
# Every run: CPU, no intermediate checkpoints or samples, the whole test split scored.
COMMON = ["--device", "cpu", "--checkpoint-every", "0", "--sample-every", "0", "--set", "log.eval_samples=1000"]
# Relative cost of one step (measured, one thread each: digits 16 steps/s, MNIST-1D's width-16 pair 6.8).
COST = {"digits-superres": 1.0, "digits-inpaint": 1.0, "mnist1d-complete": 2.4}


def rows(data: str, l1_weight: float) -> list[str]:
    """The rows of ``data`` as ``name=flags``."""
    w = f"--l1-weight {l1_weight:g}"
    fm = "--fm-preset pix2pixhd"
    out = [
        f"l1=--reconstruction-only {w}",
        f"adv+l1=--objective adv {w}",
        f"adv+fm=--objective adv+fm {fm} --l1-weight 0",
        f"adv+fm+l1=--objective adv+fm {fm} {w}",
        f"fm=--objective fm {fm} --l1-weight 0",
        f"adv+fm+l1x10=--objective adv+fm {fm} --l1-weight {10 * l1_weight:g}",
    ]
    if data == "mnist1d-complete":
        out.append("article=--model cond_sequence --objective adv+fm --fm-preset layer_mse --l1-weight 0")
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder (runs and table4.md)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, one core each (default 1)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--data", default=",".join(DATA), help=f"paired data sets (default {','.join(DATA)})")
    parser.add_argument("--steps", type=int, default=None, help="steps of every run (default: each recipe's)")
    parser.add_argument("--l1-weight", type=float, default=10.0, help="weight W of the L1 rows (default 10)")
    parser.add_argument("--rows", default=None, help="comma-separated row names to run (default: all)")
    return parser.parse_args(argv)


def build_blocks(args: argparse.Namespace) -> list[Block]:
    from featmatch.train.config import RECIPES

    blocks = []
    for data in [d.strip() for d in args.data.split(",") if d.strip()]:
        if data not in DATA:
            raise SystemExit(f"--data: unknown paired data set {data!r}; expected some of {DATA}")
        steps = args.steps or int(RECIPES[data].values["steps"])
        variants = rows(data, args.l1_weight)
        if args.rows:
            wanted = {r.strip() for r in args.rows.split(",")}
            variants = [v for v in variants if v.partition("=")[0] in wanted]
        blocks.append(Block(data, variants, steps, list(COMMON), cost=steps * COST[data]))
    return blocks


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    blocks = build_blocks(args)
    args.out.mkdir(parents=True, exist_ok=True)
    with Ticker() as ticker:
        failures = train_blocks(args.out, blocks, seeds, args.jobs)
    parts = ["## Table 4: conditional generation", "", header(argv)]
    tables = {}
    for block in blocks:
        title = f"{block.data}: recipe models, {block.steps} steps, batch 64, seeds {args.seeds}"
        text, summary = block_table(args.out, block, seeds, METRICS, title)
        tables[block.data] = summary
        parts += [text, ""]
    parts.append(
        "Columns: reconstruction L1 (mean |G(c) - target| on the test split, lower is better); Frechet "
        "distance in the domain classifier's feature space, generated vs real test targets (lower is "
        "better); class accuracy of the domain classifier on generated targets against the pair's label "
        "(higher is better); dominance episodes: the balance monitor's d_dominates episodes, and the share "
        "of steps inside one (%); time: training seconds of one run on one core."
    )
    parts.append(f"\nWall time of this command: {ticker.elapsed:.0f} s with --jobs {args.jobs}.")
    for failure in failures:
        parts.append(f"- FAILED: {failure}")
    text = "\n".join(parts) + "\n"
    (args.out / "table4.md").write_text(text, encoding="utf-8")
    (args.out / "table4.json").write_text(json.dumps({"tables": tables}, indent=2, default=str) + "\n",
                                          encoding="utf-8")
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
