"""What verifying a checkpoint's checksum costs, against loading the checkpoint itself.

For each model pair, a checkpoint as the trainer writes it (G, D, an EMA of G, both Adams with
their moments after one step, RNG state) is saved once with ``save_checkpoint`` into a temporary
folder. Then, interleaved round by round (order rotated each round), in one process:

- ``torch.load``: ``torch.load(path, map_location="cpu", weights_only=True)``, what loading cost
  before checksums;
- ``load_checkpoint``: featmatch's load (the same ``torch.load``, then the SHA-256 over the
  contents and the format checks);
- ``state_digest``: the SHA-256 alone, on an already loaded state.

Reported: median ms of each over ``--repeats`` rounds (after ``--warmup``), and the median of the
per-round ratios load_checkpoint / torch.load. The file is in the page cache after the first
read, so this is the warm-cache cost (a cold read from disk only makes the load, and so the
ratio's denominator, larger). Checked first: the digest of the loaded state equals the stored one.

Example:
    python benchmarks/checkpoint_checksum.py --threads 1 --repeats 15
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from featmatch.models import build_models
from featmatch.train.checkpoint import checkpoint_path, get_rng_state, load_checkpoint, save_checkpoint, state_digest

# name -> (family, sample shape, build options): the built-in data sets' default models, and a DCGAN pair
SETUPS = {
    "ring8": ("mlp2d_benchmark", (2,), {}),
    "digits": ("conv", (1, 8, 8), {}),
    "mnist1d": ("sequence", (1, 40), {"width": 32}),
    "dcgan64": ("conv", (3, 64, 64), {"width": 64}),
}


def trainer_like_state(family: str, shape: tuple[int, ...], options: dict) -> dict:
    g, d = build_models(family, shape, **options)
    ema = build_models(family, shape, **options)[0]
    states = {}
    for name, model in (("opt_g", g), ("opt_d", d)):
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        opt.step()
        states[name] = opt.state_dict()
    return {"step": 1, "generator": g.state_dict(), "discriminator": d.state_dict(), "ema": ema.state_dict(),
            **states, "ranks": [{"rng": get_rng_state()}], "config": {"steps": 1}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--which", default=",".join(SETUPS), help="comma-separated names of SETUPS")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"`python benchmarks/checkpoint_checksum.py {' '.join(argv if argv is not None else sys.argv[1:])}`")
    print()
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), {args.warmup} warm-up + "
          f"{args.repeats} interleaved rounds, median ms")
    print()
    print("| checkpoint | size MB | torch.load | load_checkpoint | state_digest alone | load_checkpoint / torch.load |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.which.split(","):
            family, shape, options = SETUPS[name]
            path = save_checkpoint(trainer_like_state(family, shape, options), checkpoint_path(Path(folder), 1))
            loaded = torch.load(path, map_location="cpu", weights_only=True)
            assert state_digest(loaded) == loaded["checksum"], "the stored checksum does not verify"
            variants = {
                "torch.load": lambda: torch.load(path, map_location="cpu", weights_only=True),
                "load_checkpoint": lambda: load_checkpoint(path),
                "state_digest": lambda: state_digest(loaded),
            }
            times: dict[str, list[float]] = {k: [] for k in variants}
            order = list(variants)
            for round_ in range(args.warmup + args.repeats):
                for key in order:
                    start = time.perf_counter()
                    variants[key]()
                    if round_ >= args.warmup:
                        times[key].append((time.perf_counter() - start) * 1e3)
                order = order[1:] + order[:1]
            ratio = statistics.median(a / b for a, b in zip(times["load_checkpoint"], times["torch.load"], strict=True))
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"| {name} ({family}, {'x'.join(map(str, shape))}) | {path.stat().st_size / 1e6:.2f} | {med['torch.load']:.2f} | "
                  f"{med['load_checkpoint']:.2f} | {med['state_digest']:.2f} | {ratio:.2f}x |")
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
