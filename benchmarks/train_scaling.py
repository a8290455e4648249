"""Steps and samples per second of `featmatch train` with 1 and 2 processes under torchrun (issue 6).

Each configuration is a real ``torchrun --standalone --nproc_per_node=K -m featmatch train``
run on CPU (gloo), with ``OMP_NUM_THREADS=--threads`` (default 1) per process, the digits
defaults and ``--steps`` steps:

| run | processes | batch per process | global batch |
|---|---:|---:|---:|
| 1 x 64 | 1 | 64 | 64 |
| 2 x 64 (same per-process batch) | 2 | 64 | 128 |
| 2 x 32 (same global batch) | 2 | 32 | 64 |

What is timed: the trainer's own ``steps_per_sec`` in ``metrics.jsonl``, one value per
``--log-every`` steps (the loop's wall time on rank 0, which under DDP waits for every rank each
step); the first interval (warm-up) is dropped and the median of the rest taken per run. Start-up
(torchrun, imports, process group) and the end of the run (evaluation, report) are not timed.
The configurations run in rotating order, ``--repeats`` rounds; the median over rounds is reported.

Scaling efficiency:
- same per-process batch (weak scaling): samples/s of 2 x 64 / (2 x samples/s of 1 x 64);
- same global batch (strong scaling): steps/s of 2 x 32 / (2 x steps/s of 1 x 64).

Example:
    python benchmarks/train_scaling.py --repeats 3 --steps 150
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _tables import DIGITS_BEFORE_ISSUE_23_FLAGS  # noqa: E402 - the digits settings measured (benchmarks/ is on the path)

CONFIGS = [("1 x 64", 1, 64), ("2 x 64", 2, 64), ("2 x 32", 2, 32)]


def run_once(nproc: int, batch: int, args: argparse.Namespace, out: Path) -> float:
    """One torchrun; the median steps/s over its logged intervals after the first."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
        "-m", "featmatch", "train", "--data", args.data, "--device", "cpu",
        "--steps", str(args.steps), "--batch-size", str(batch), "--log-every", str(args.log_every),
        "--out", str(out), "--quiet", "--set", "log.eval_samples=64",
        *(DIGITS_BEFORE_ISSUE_23_FLAGS if args.data == "digits" else []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    sps = [r["steps_per_sec"] for r in rows if "steps_per_sec" in r]
    summary = json.loads((out / "summary.json").read_text())
    if summary["world_size"] != nproc:
        raise RuntimeError(f"expected {nproc} processes, the run says {summary['world_size']}.")
    return statistics.median(sps[1:] if len(sps) > 1 else sps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per process")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    results: dict[str, list[float]] = {name: [] for name, _, _ in CONFIGS}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="featmatch-scaling-") as tmp:
        for r in range(args.repeats):
            order = CONFIGS[r % len(CONFIGS):] + CONFIGS[: r % len(CONFIGS)]  # rotate
            for name, nproc, batch in order:
                out = Path(tmp) / f"r{r}-{nproc}x{batch}"
                results[name].append(run_once(nproc, batch, args, out))
                print(f"# round {r}: {name}: {results[name][-1]:.2f} steps/s", file=sys.stderr, flush=True)

    med = {name: statistics.median(v) for name, v in results.items()}
    print("```text")
    print("$ python " + " ".join(["benchmarks/train_scaling.py", *(argv if argv is not None else sys.argv[1:])]))
    print(f"# torch {torch.__version__}, CPU, gloo, OMP_NUM_THREADS={args.threads} per process, "
          f"{os.cpu_count()} cores (shared), data {args.data}, {args.steps} steps per run, "
          f"steps/s from metrics.jsonl every {args.log_every} steps (first interval dropped), "
          f"median of {args.repeats} rounds; {time.perf_counter() - start:.0f} s in all")
    print("| run | processes | batch/process | global batch | steps/s | samples/s | runs (steps/s) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, nproc, batch in CONFIGS:
        sps = med[name]
        runs = ", ".join(f"{v:.1f}" for v in results[name])
        print(f"| {name} | {nproc} | {batch} | {nproc * batch} | {sps:.2f} | {sps * nproc * batch:.0f} | {runs} |")
    weak = med["2 x 64"] * 128 / (2 * med["1 x 64"] * 64)
    strong = med["2 x 32"] / (2 * med["1 x 64"])
    print(f"# same per-process batch (2 x 64 vs 1 x 64): samples/s x{2 * weak:.2f}, efficiency {weak:.0%}")
    print(f"# same global batch (2 x 32 vs 1 x 64): steps/s x{2 * strong:.2f}, efficiency {strong:.0%}")
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
