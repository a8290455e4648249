"""The trainer's Adam: fused (one kernel per step) against the foreach default, side by side.

For each data set (its ``featmatch train`` defaults), two Trainers from the same seed, one with
the trainer's optimisers (fused Adam where torch has it), one with ``torch.optim.Adam``'s
default (foreach) swapped in, run alternating blocks of ``--block`` steps of
``Trainer.train_step`` in one process. Reported: median ms per step of each and the median of
the per-pair ratios (fused / foreach; below 1 = fused is faster). Before timing, the two are
checked to agree: after ``--check-steps`` steps from the same seed, G's weights differ only by
float rounding.

Example:
    python benchmarks/adam_impl.py --threads 1 --data digits,mnist1d,ring8 --blocks 8 --block 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from featmatch.train.config import build_config
from featmatch.train.trainer import Trainer

from _tables import DIGITS_BEFORE_ISSUE_23  # the digits settings measured (benchmarks/ is on the path)


def make_trainer(data: str, fused: bool) -> Trainer:
    pinned = DIGITS_BEFORE_ISSUE_23 if data == "digits" else {}
    config = build_config({"data.name": data, **pinned, "device": "cpu", "log.quiet": True, "log.tensorboard": False})
    trainer = Trainer(config)
    if not fused:
        betas = (float(config.optim.betas[0]), float(config.optim.betas[1]))
        trainer.opt_g = torch.optim.Adam(trainer.g_params, lr=config.optim.lr_g, betas=betas)
        trainer.opt_d = torch.optim.Adam(trainer.d_params, lr=config.optim.lr_d, betas=betas)
    return trainer


def ms_per_step(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return (time.perf_counter() - start) / steps * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="digits,mnist1d,ring8", help="comma-separated data sets")
    parser.add_argument("--blocks", type=int, default=8, help="timed blocks of each (default 8)")
    parser.add_argument("--block", type=int, default=30, help="steps per block (default 30)")
    parser.add_argument("--check-steps", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {args.threads} thread(s), {args.blocks} blocks of {args.block} steps")
    print("| data | foreach ms/step | fused ms/step | fused / foreach (median of pairs) |")
    print("|---|---:|---:|---:|")
    for data in args.data.split(","):
        fused, foreach = make_trainer(data, True), make_trainer(data, False)
        if not fused.opt_g.defaults["fused"]:
            print(f"# {data}: this torch has no fused Adam on the CPU; nothing to compare", file=sys.stderr)
            return 1
        # The same global random stream for both (rff draws its directions from it).
        rng = torch.get_rng_state()
        for trainer in (fused, foreach):
            torch.set_rng_state(rng)
            ms_per_step(trainer, args.check_steps)
        diff = max((p - q).abs().max().item() for p, q in zip(
            fused.generator.parameters(), foreach.generator.parameters(), strict=True))
        print(f"# {data}: check after {args.check_steps} steps: max |G_fused - G_foreach| = {diff:.1e}")
        times: dict[str, list[float]] = {"foreach": [], "fused": []}
        for _ in range(args.blocks):
            times["foreach"].append(ms_per_step(foreach, args.block))
            times["fused"].append(ms_per_step(fused, args.block))
        ratio = statistics.median(b / a for a, b in zip(times["foreach"], times["fused"], strict=True))
        print(f"| {data} | {statistics.median(times['foreach']):.2f} | "
              f"{statistics.median(times['fused']):.2f} | {ratio:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
