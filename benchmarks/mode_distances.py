"""Where a 2-D mixture run's samples land: distance to the nearest centre, in data standard deviations.

Table 1's ``high_quality`` counts samples within 3 standard deviations of their nearest centre.
A miss is either a mode that is too wide (its samples spill past 3 std) or mass between the
modes. This script tells them apart for trained runs: the fraction of samples within 1, 2, 3,
4, 6 and 10 std of the nearest centre, and the spread of the samples near a centre (radial RMS
of those within 6 std, divided by sqrt(2), against the data's std). It also scores many more
samples than the protocol's 2,500 (``--n``), so that two configurations can be compared
without the metric's own sampling noise (binomial: about 0.65 points at 88% and n = 2,500).

Example:
    python benchmarks/mode_distances.py runs/grid25 runs/grid25_other --n 25000
"""

from __future__ import annotations

import argparse
import sys

import torch

from featmatch.data import load_dataset
from featmatch.metrics import evaluate_samples
from featmatch.train.config import config_from_dict
from featmatch.train.trainer import load_generator

RADII = (1, 2, 3, 4, 6, 10)  # in data standard deviations


def distances(run: str, n: int, seed: int, use_ema: bool) -> dict[str, float]:
    """Table 1's metrics on ``n`` samples, the fractions within ``RADII`` std, and the core spread."""
    generator, state = load_generator(run, use_ema=use_ema)  # one read of the checkpoint
    config = config_from_dict(state["config"])
    data = load_dataset(config.data.name, "train", seed=config.seed, size=config.data.size, **config.data.options)
    if data.centres is None or data.std is None:
        raise ValueError(f"run {run!r} trained on {config.data.name!r}, which is not a 2-D mixture.")
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed))  # (N, Z)
    with torch.no_grad():
        samples = torch.cat([generator(chunk) for chunk in z.split(4096)])  # (N, 2)
    nearest = torch.cdist(samples, data.centres).min(dim=1).values / data.std  # (N,) in std
    core = nearest[nearest < 6]
    result = {k: float(v) for k, v in evaluate_samples(data, samples).items()}
    result.update({f"within_{r}std": float((nearest < r).float().mean()) for r in RADII})
    result["core_spread"] = float(core.square().mean().sqrt() / 2**0.5) if core.numel() else float("nan")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or checkpoint files")
    parser.add_argument("--n", type=int, default=25_000, help="samples per run (default: 25000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the noise (default: 1)")
    parser.add_argument("--raw", action="store_true", help="G's raw weights instead of the EMA")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error(f"--n must be >= 1; got {args.n}")
    torch.set_num_threads(args.threads)
    print(f"$ python benchmarks/mode_distances.py {' '.join(sys.argv[1:] if argv is None else argv)}\n")
    print("| run | modes | % high quality | reverse KL | % within " + " / ".join(f"{r}" for r in RADII)
          + " std | core spread / data std |")
    print("|---|---:|---:|---:|---|---:|")
    for run in args.runs:
        r = distances(run, args.n, args.seed, use_ema=not args.raw)
        within = " / ".join(f"{100 * r[f'within_{k}std']:.1f}" for k in RADII)
        print(f"| {run} | {r['modes_covered']:.0f} | {100 * r['high_quality']:.2f} | {r['reverse_kl']:.4f} | "
              f"{within} | {r['core_spread']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
