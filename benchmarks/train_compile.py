"""`featmatch train --compile` against eager, once warm, and what compilation costs (issue 6).

Two Trainers with the same configuration (the digits defaults unless ``--data`` / ``--set``
say otherwise), one with ``optim.compile`` (``--compile``: ``torch.compile`` of G and D), one
without, in one process. First the compiled one takes its first steps alone (timed one by one:
the compilation, including recompilations for D's three call patterns: D step with grad, G
step with D frozen, real features under ``no_grad``); then both run alternating blocks of
``--block`` steps, ``Trainer.train_step`` with the training loop's cadence of measured steps
(every ``log.log_every``). Reported: median steps/s of each, the ratio, and the compile cost.
Inductor's on-disk cache is pointed at a fresh temporary folder, so compilation starts cold.

Before timing, the compiled and eager trainers are checked to agree: from the same seed,
3 steps give generator weights equal within float tolerance.

Example:
    python benchmarks/train_compile.py --threads 1 --blocks 10 --block 50
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from typing import Any

# Cold start: a fresh inductor cache (set before torch._inductor reads it).
os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="featmatch-inductor-"))

import torch  # noqa: E402

from featmatch.train.config import TrainConfig, build_config  # noqa: E402
from featmatch.train.trainer import Trainer  # noqa: E402

from _tables import DIGITS_BEFORE_ISSUE_23  # noqa: E402 - the digits settings measured (benchmarks/ is on the path)


def run_block(trainer: Trainer, n: int) -> tuple[float, float]:
    """``n`` steps with the training loop's measure cadence; (wall s, CPU s of this process)."""
    every = trainer.config.log.log_every
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        trainer.train_step(measure=(trainer.step + 1) % every == 0)
    return time.perf_counter() - w0, time.process_time() - c0


def max_weight_diff(a: Trainer, b: Trainer) -> float:
    return max((p - q).abs().max().item() for p, q in zip(
        a.generator.parameters(), b.generator.parameters(), strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--blocks", type=int, default=10, help="timed blocks of each (default 10)")
    parser.add_argument("--first-steps", type=int, default=5,
                        help="compiled steps timed one by one at the start (default 5)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import yaml

    overrides: dict[str, Any] = {"data.name": args.data, "device": "cpu", "steps": 10**9}
    if args.data == "digits":
        overrides.update(DIGITS_BEFORE_ISSUE_23)
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    cfg: TrainConfig = build_config(overrides)
    compiled_cfg = copy.deepcopy(cfg)
    compiled_cfg.optim.compile = True

    eager = Trainer(cfg, None)
    compiled = Trainer(compiled_cfg, None)
    # Both start from the same global random stream (statistic="rff" draws its directions there).
    rng = torch.get_rng_state()

    # Compilation: the compiled trainer's first steps, one by one. Step 1 compiles G and D's
    # three variants; the first measured step (log_every) may add more.
    first: list[float] = []
    for _ in range(args.first_steps):
        w, _ = run_block(compiled, 1)
        first.append(w)
    # Reach the first measured step, so that all graphs exist before timing.
    rest_w, _ = run_block(compiled, cfg.log.log_every - args.first_steps) if args.first_steps < cfg.log.log_every else (0.0, 0.0)
    torch.set_rng_state(rng)
    run_block(eager, compiled.step)
    diff = max_weight_diff(eager, compiled)  # same seed, same steps so far
    checked_steps = compiled.step

    e_sps: list[float] = []
    c_sps: list[float] = []
    e_cpu: list[float] = []
    c_cpu: list[float] = []
    pair: list[float] = []
    start = time.perf_counter()
    for i in range(args.blocks):
        order = [(eager, e_sps, e_cpu), (compiled, c_sps, c_cpu)]
        if i % 2:
            order.reverse()  # alternate which goes first
        walls = {}
        for trainer, sps, cpu in order:
            w, c = run_block(trainer, args.block)
            sps.append(args.block / w)
            cpu.append(args.block / c)
            walls[id(trainer)] = w
        pair.append(walls[id(eager)] / walls[id(compiled)])
    from torch._dynamo.utils import counters

    print("```text")
    print("$ python " + " ".join(["benchmarks/train_compile.py", *(argv if argv is not None else sys.argv[1:])]))
    print(f"# torch {torch.__version__}, device cpu, threads {torch.get_num_threads()}, "
          f"data {cfg.data.name}, model {cfg.model.family}, batch {cfg.data.batch_size}, "
          f"objective {cfg.objective.kind}, compile = torch.compile(G), torch.compile(D) (inductor, default mode)")
    print(f"# check: eager vs compiled after {checked_steps} steps from the same seed: "
          f"max |G_eager - G_compiled| = {diff:.1e}")
    print(f"# compilation: first {args.first_steps} compiled steps took "
          + ", ".join(f"{w:.2f}" for w in first) + " s"
          f"; steps {args.first_steps + 1}-{cfg.log.log_every} took {rest_w:.1f} s; "
          f"dynamo frames compiled: {counters['stats'].get('unique_graphs', '?')}")
    warm = statistics.median(c_sps)
    compile_cost = sum(first) - len(first) / warm
    print(f"# compile cost (first {args.first_steps} steps minus as many warm steps): {compile_cost:.1f} s wall")
    print(f"# {args.blocks} timed blocks of {args.block} steps each, alternating; "
          f"{time.perf_counter() - start:.0f} s")
    print("| trainer | median steps/s (wall) | IQR | median steps/CPU-s |")
    print("|---|---:|---:|---:|")
    for name, sps, cpu in (("eager", e_sps, e_cpu), ("--compile", c_sps, c_cpu)):
        q = statistics.quantiles(sps, n=4) if len(sps) > 1 else [sps[0]] * 3
        print(f"| {name} | {statistics.median(sps):.1f} | {q[0]:.1f}-{q[2]:.1f} | {statistics.median(cpu):.1f} |")
    ratio = statistics.median(pair)
    print(f"# --compile / eager steps/s, median of per-pair ratios: {ratio:.3f} "
          f"(CPU: {statistics.median(c_cpu) / statistics.median(e_cpu):.3f}; "
          f"process CPU time does not count inductor's compile workers, which run as subprocesses)")
    print(f"# target: --compile faster than eager once warm: {'met' if ratio > 1 else 'MISSED'}")
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
