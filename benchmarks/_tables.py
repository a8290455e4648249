"""Shared pieces of the benchmark table scripts (table1_mixtures.py, table2_digits_mnist1d.py, table3_failure.py).

Runs are ordinary ``featmatch train`` run directories laid out as ``featmatch compare`` lays
them out (``<out>/<data>/<variant>/seed<k>/``), trained by featmatch's sweep runner
(:func:`featmatch.train.sweep.train_runs`) in worker processes with one torch thread each, so a
table can be rebuilt, continued after an interruption (finished runs are skipped) or extended by
one more seed with the same command. Rows are written as ``featmatch train`` flags, for
readability; :func:`featmatch.cli.train_overrides` turns them into config overrides.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from featmatch.cli import train_overrides
from featmatch.train.sweep import SweepRun, collect_results, format_table, summarize, train_runs

#: The digits recipe these benchmarks were measured with (before issue 23 retuned it: the DCGAN
#: pair at its width 64, no augmentation, DCGAN's Adam, EMA 0.995), pinned so their tables keep
#: measuring the same thing; ``featmatch train`` flags and the same as config overrides.
DIGITS_BEFORE_ISSUE_23_FLAGS = [
    "--model", "conv", "--model-width", "64", "--augment", "none", "--lr-g", "2e-4", "--lr-d", "2e-4",
    "--betas", "0.5,0.999", "--ema", "0.995",
]
DIGITS_BEFORE_ISSUE_23: dict[str, Any] = train_overrides(DIGITS_BEFORE_ISSUE_23_FLAGS)


@dataclass
class Block:
    """One data set's share of a table: variants x seeds with the same budget.

    Attributes:
        data: the data set (``featmatch train --data``).
        variants: ``"name=flags"`` strings (as ``featmatch compare --variant``).
        steps: training steps of every run.
        train_args: flags for every run of this block, before each variant's own.
        cost: relative cost of one run (any unit); the costliest runs start first.
    """

    data: str
    variants: list[str]
    steps: int
    train_args: list[str]
    cost: float = 1.0

    def flags(self) -> dict[str, str]:
        """Each variant's name and its flags, as written."""
        rows = {}
        for spec in self.variants:
            name, _, flags = spec.partition("=")
            rows[name.strip()] = flags.strip()
        return rows

    def runs(self, out: Path, seeds: Sequence[int]) -> list[SweepRun]:
        """Every (variant, seed) run of this block as config overrides, in ``out/<data>/<variant>/seed<k>``."""
        base = {**train_overrides(self.train_args), "data.name": self.data, "steps": self.steps}
        runs = []
        for name, flags in self.flags().items():
            overrides = {**base, **train_overrides(shlex.split(flags))}
            for seed in seeds:
                runs.append(SweepRun(f"{self.data}/{name}/seed{seed}", out / self.data / name / f"seed{seed}",
                                     {**overrides, "seed": seed}))
        return runs


@contextlib.contextmanager
def _show_progress() -> Iterator[None]:
    """Print the sweep runner's progress lines (the library only logs them) to stderr, while training.

    The handler is removed afterwards: a handler left on the logger would keep writing to a
    stream that is closed later (a test's captured stderr).
    """
    logger = logging.getLogger("featmatch")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def train_blocks(out: Path, blocks: Sequence[Block], seeds: Sequence[int], jobs: int) -> list[str]:
    """Train every (block, variant, seed) run not finished yet, ``jobs`` worker processes at a time.

    One pool for all blocks, the costliest runs first (longest-processing-time order), so that a
    table over two data sets keeps every core busy. Runs go to ``<out>/<data>/<variant>/seed<k>``
    (``featmatch compare``'s layout) with a log beside each. Returns the failures, as text.
    """
    planned = [(block.cost, run) for block in blocks for run in block.runs(out, seeds)]
    planned.sort(key=lambda item: -item[0])  # stable: the blocks' order among equal costs
    with _show_progress():
        outcomes = train_runs([run for _, run in planned], jobs=max(1, jobs), isolated=True)
    return [f"{o.run.name}: {o.error}" for o in outcomes if o.status == "failed"]


def prewarm_classifiers(datas: Sequence[str]) -> dict[str, dict[str, float]]:
    """Train (or load) each data set's domain classifier once, before parallel runs race for it.

    Returns the metrics of 1,000 real training samples against the real test split: the floor
    of the Frechet distance and the ceiling of precision / recall at this sample size.
    """
    from featmatch.data import load_dataset
    from featmatch.metrics import evaluate_samples

    reference: dict[str, dict[str, float]] = {}
    for data in datas:
        train = load_dataset(data, "train", seed=0)
        gen = torch.Generator().manual_seed(0)
        index = torch.randperm(train.x.shape[0], generator=gen)[:1000]  # as many as log.eval_samples
        reference[data] = evaluate_samples(train, train.x[index])
    return reference


def episode_stats(run_dir: Path) -> dict[str, float]:
    """Discriminator-dominance episodes of a finished run: count and share of the steps."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    steps = max(int(summary.get("steps") or 1), 1)
    dominated = 0
    count = 0
    for episode in summary.get("episodes") or []:
        if episode.get("kind") != "d_dominates":
            continue
        count += 1
        end = episode.get("end_step")
        dominated += (steps if end is None else int(end)) - int(episode["start_step"])
    return {"dominance_episodes": float(count), "dominated_pct": 100.0 * dominated / steps}


def block_table(
    out: Path,
    block: Block,
    seeds: Sequence[int],
    metrics: Sequence[str],
    title: str,
    extra: Callable[[Path], dict[str, float]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The markdown table of one block: chosen metrics (mean ± std over seeds) and dominance.

    ``extra(run_dir)`` may add more per-run numbers (e.g. from ``metrics.jsonl``).
    """
    rows = block.flags()
    runs = collect_results(out / block.data, list(rows), seeds)
    for run in runs:
        if run.status != "failed":
            run.metrics.update(episode_stats(run.run_dir))
            if extra is not None:
                run.metrics.update(extra(run.run_dir))
    summary = summarize(runs, list(rows), rows)
    keep = [m for m in (*metrics, "dominance_episodes", "dominated_pct", "wall_time_sec") if m in summary["metrics"]]
    summary["metrics"] = keep
    return format_table(summary, title=title), summary


def header(argv: Sequence[str]) -> str:
    """Where and how the table was made: the exact command, versions, threads."""
    command = "python " + shlex.join([os.path.relpath(sys.argv[0]) if sys.argv else "?", *argv])
    return (
        f"Command: `{command}`\n\n"
        f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores visible, one torch thread per run, device cpu; "
        f"written {time.strftime('%Y-%m-%d %H:%M:%S')}.\n"
    )


def format_reference(reference: dict[str, float]) -> str:
    """One line: real training samples scored like generated ones (floor/ceiling of the metrics)."""
    parts = []
    for key in ("frechet_distance", "classes_covered", "class_kl", "precision", "recall", "metric_classifier_accuracy"):
        if key in reference and math.isfinite(reference[key]):
            parts.append(f"{key} {reference[key]:.4g}")
    return "Real training samples (1,000) scored the same way: " + ", ".join(parts) + "."


class Ticker:
    """Prints elapsed time every ``every`` seconds to stderr while a table trains (a heartbeat)."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._stop = threading.Event()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            print(f"... {time.perf_counter() - self._start:.0f} s", file=sys.stderr, flush=True)

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start
