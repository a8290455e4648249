"""Check that two sets of runs trained bit-identical models (issue 15's "no change in behaviour").

For every run directory found under REF_DIR (one with ``config.yaml``) and its namesake under
NEW_DIR: the newest checkpoint's generator, discriminator, ema, optimiser and grad-scaler states
are compared with ``torch.equal`` tensor by tensor, and the ``metrics.jsonl`` rows with ``==``
(``steps_per_sec`` and other timings excluded, NaN equal to NaN). Exit status 0 when all match.

Example:
    python benchmarks/bit_identical.py /tmp/ref /tmp/new
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from featmatch.train.checkpoint import list_checkpoints, load_checkpoint

ENTRIES = ("generator", "discriminator", "ema", "opt_g", "opt_d", "scaler_g", "scaler_d")
TIMING_KEYS = ("steps_per_sec",)


def differences(a: Any, b: Any, where: str) -> list[str]:
    """Where the nested states ``a`` and ``b`` differ (tensors by ``torch.equal``).

    Example:
        >>> differences({"w": torch.ones(2)}, {"w": torch.ones(2)}, "x")
        []
    """
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys {sorted(map(str, set(a) ^ set(b)))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def rows(run: Path) -> list[dict[str, Any]]:
    """The metrics.jsonl rows of ``run`` without timing keys."""
    out = []
    for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        out.append({k: v for k, v in row.items() if k not in TIMING_KEYS})
    return out


def compare(ref: Path, new: Path) -> list[str]:
    """Every difference between the runs ``ref`` and ``new`` (empty when bit-identical)."""
    problems = []
    ref_ckpt, new_ckpt = list_checkpoints(ref), list_checkpoints(new)
    if [p.name for p in ref_ckpt] != [p.name for p in new_ckpt]:
        problems.append(f"checkpoints differ: {[p.name for p in ref_ckpt]} vs {[p.name for p in new_ckpt]}")
    if ref_ckpt and new_ckpt:
        a, b = load_checkpoint(ref_ckpt[-1]), load_checkpoint(new_ckpt[-1])
        for key in ENTRIES:
            problems += differences(a.get(key), b.get(key), key)
        problems += differences(a["step"], b["step"], "step")
    problems += differences(rows(ref), rows(new), "metrics.jsonl")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ref", type=Path, help="folder of reference run directories")
    parser.add_argument("new", type=Path, help="folder of run directories to check")
    args = parser.parse_args(argv)
    runs = sorted(p.parent.name for p in args.ref.glob("*/config.yaml"))
    if not runs:
        print(f"no run directories (with config.yaml) under {args.ref}", file=sys.stderr)
        return 2
    failed = 0
    for name in runs:
        problems = compare(args.ref / name, args.new / name) if (args.new / name).is_dir() else ["missing"]
        n_rows = len(rows(args.ref / name))
        print(f"{name}: {'bit-identical' if not problems else 'DIFFERENT'} "
              f"({', '.join(ENTRIES)} of the last checkpoint; {n_rows} metrics rows)")
        for problem in problems[:10]:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
