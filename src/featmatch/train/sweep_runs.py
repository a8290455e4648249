"""Training a sweep's runs: one after another in this process, or each in its own worker process.

:func:`train_runs` trains a list of :class:`SweepRun` (skipping finished ones, resuming interrupted
ones of the same configuration); a worker is ``python -m featmatch.train.sweep``, which reads its
run as JSON on stdin (:func:`_worker_main`).

Example:
    >>> resumable(Path("/nonexistent"), None)
    False
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from featmatch._checks import check_int
from featmatch.train import checkpoint as ckpt
from featmatch.train.config import build_config, to_yaml
from featmatch.train.trainer import run_training

__all__ = ["RunOutcome", "SweepRun", "resumable", "train_runs"]

log = logging.getLogger("featmatch")

# Exit status of a worker whose run stopped on NaN/Inf (as `featmatch train`) or was interrupted.
_EXIT_STOPPED = 3
_EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class SweepRun:
    """One training of a sweep: a name for logs and errors, its run directory and its overrides.

    Attributes:
        name: how logs and errors call it, e.g. ``"ring8/gan/seed0"``.
        run_dir: the run directory; ``log.out`` is set to it.
        overrides: config overrides (dotted keys) of the whole run, data set and seed included.

    Example:
        >>> SweepRun("gan/seed0", Path("runs/cmp/gan/seed0"),
        ...          {"data.name": "ring8", "seed": 0, "objective.kind": "adv"}).name
        'gan/seed0'
    """

    name: str
    run_dir: Path
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class RunOutcome:
    """What :func:`train_runs` did with one :class:`SweepRun`.

    Attributes:
        run: the run.
        status: ``"done"`` (trained now), ``"skipped"`` (finished before) or ``"failed"``.
        error: why it failed (``status == "failed"``).
        seconds: wall time of its training (0 when skipped).
    """

    run: SweepRun
    status: str
    error: str | None = None
    seconds: float = 0.0


def _run_overrides(run: SweepRun) -> dict[str, Any]:
    """The overrides a run trains with: quiet unless asked otherwise, in its run directory."""
    return {"log.quiet": True, **run.overrides, "log.out": str(run.run_dir)}


def _log_path(run_dir: Path) -> Path:
    return run_dir.parent / f"{run_dir.name}.log"


def train_runs(
    runs: Sequence[SweepRun],
    *,
    jobs: int = 1,
    overwrite: bool = False,
    isolated: bool | None = None,
) -> list[RunOutcome]:
    """Train every run not finished yet, ``jobs`` at a time, in the order given.

    A run whose ``summary.json`` says it reached its steps is skipped (unless ``overwrite``); an
    interrupted run of the same configuration is resumed from its last checkpoint (:func:`resumable`;
    exact, as ``featmatch train --resume``); any other run directory is replaced (a folder that is
    not a featmatch run is refused, and that run fails). A failed run is logged and listed and does not stop the others.

    Args:
        runs: the runs (distinct run directories); put the costliest first to finish sooner.
        jobs: runs at a time.
        overwrite: retrain runs that already finished.
        isolated: train each run in a worker process (``python -m featmatch.train.sweep``) with
            one torch thread and its output in ``<run_dir>.log``; default: when ``jobs > 1``.
            Otherwise runs train in this process (a failure's traceback goes to that log).

    Returns:
        One :class:`RunOutcome` per run, in the order of ``runs``.

    Raises:
        ValueError: a run's overrides do not build a valid config, two runs share a directory,
            or a finished run has another number of steps than its config (checked first).
        KeyboardInterrupt: Ctrl-C; runs in progress save a checkpoint and stop, no new run starts.

    Example:
        >>> train_runs([SweepRun("a", Path("runs/a/seed0"), {"data.name": "ring8", "seed": 0})],
        ...            jobs=1)  # doctest: +SKIP
        [RunOutcome(run=..., status='done', error=None, seconds=...)]
    """
    check_int("jobs", jobs, minimum=1, hint=" Hint: 1 trains the runs one after another in this process.")
    isolated = jobs > 1 if isolated is None else bool(isolated)
    dirs = [Path(r.run_dir).resolve() for r in runs]
    repeated = sorted({str(d) for d in dirs if dirs.count(d) > 1})
    if repeated:
        raise ValueError(f"runs must have distinct run directories; repeated: {repeated}.")
    outcomes: list[RunOutcome | None] = [None] * len(runs)
    todo: list[tuple[int, SweepRun, int]] = []
    for index, run in enumerate(runs):
        try:
            config = build_config(_run_overrides(run))
        except ValueError as err:
            raise ValueError(f"run {run.name!r}: {err}") from err
        if not overwrite and _finished(Path(run.run_dir), config.steps) is not None:
            log.info("sweep: %s already finished; skipping (%s)", run.name, run.run_dir)
            outcomes[index] = RunOutcome(run, "skipped")
        else:
            todo.append((index, run, config.steps))
    log.info(
        "sweep: %d run(s) to train, %d finished before, %d at a time%s",
        len(todo),
        len(runs) - len(todo),
        jobs,
        " (worker processes)" if isolated else "",
    )

    stop = threading.Event()

    def work(item: tuple[int, SweepRun, int]) -> None:
        index, run, steps = item
        if stop.is_set():
            outcomes[index] = RunOutcome(run, "failed", "not started: the sweep was interrupted")
            return
        start = time.perf_counter()
        run_dir = Path(run.run_dir)
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        error, interrupted = _train_in_worker(run) if isolated else _train_here(run)
        if interrupted:
            stop.set()
        if error is None:
            try:
                if _finished(run_dir, steps) is None:
                    error = f"the run ended without a finished summary.json in {run_dir}"
            except ValueError as err:
                error = str(err)
        seconds = time.perf_counter() - start
        if error is not None:
            outcomes[index] = RunOutcome(run, "failed", error, seconds)
            log.warning("sweep: %s failed after %.0f s: %s", run.name, seconds, error)
        else:
            outcomes[index] = RunOutcome(run, "done", None, seconds)
            log.info("sweep: %s done in %.0f s", run.name, seconds)

    if not isolated:
        for item in todo:
            work(item)
            if stop.is_set():
                raise KeyboardInterrupt  # the run saved a checkpoint and stopped; start no other
    else:
        pool = ThreadPoolExecutor(max_workers=jobs)
        try:
            list(pool.map(work, todo))
        except KeyboardInterrupt:
            # The workers got the same Ctrl-C and stop cleanly; start no new one.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return [o if o is not None else RunOutcome(runs[i], "failed", "not run") for i, o in enumerate(outcomes)]


def resumable(run_dir: Path, config: Any) -> bool:
    """Whether ``run_dir`` holds an interrupted run of this very configuration (its number of
    steps aside) with a checkpoint to continue from: :func:`train_runs` resumes it (exactly, as
    ``featmatch train --resume``) instead of starting it again, so a long table can grow across
    sessions. A run of another configuration is not resumable (it is trained afresh).

    Example:
        >>> resumable(Path("/nonexistent"), None)
        False
    """
    import yaml  # optional dependency (pyyaml, the train extra's)

    saved = Path(run_dir) / "config.yaml"
    if not saved.is_file() or not ckpt.list_checkpoints(run_dir):
        return False
    try:
        old = yaml.safe_load(saved.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    new = yaml.safe_load(to_yaml(config))
    if not isinstance(old, dict):
        return False
    for values in (old, new):
        values.pop("steps", None)
    return bool(old == new)


def _train_here(run: SweepRun) -> tuple[str | None, bool]:
    """Train one run in this process: (error text or ``None``, whether Ctrl-C/SIGTERM stopped it)."""
    log_path = _log_path(Path(run.run_dir))
    log_path.unlink(missing_ok=True)  # a failure's log from an earlier attempt
    try:
        config = build_config(_run_overrides(run))
        resume = resumable(Path(run.run_dir), config)
        summary = run_training(config, resume=resume, overwrite=not resume)
    except Exception as err:  # any error: a failed run must not stop the others; its traceback is kept
        log_path.write_text(traceback.format_exc(), encoding="utf-8")
        return f"{type(err).__name__}: {err} (traceback in {log_path})", False
    return _summary_error(summary), bool(summary.get("interrupted"))


def _summary_error(summary: Mapping[str, Any]) -> str | None:
    if summary.get("stopped"):
        stopped = summary["stopped"]
        return f"stopped after {summary.get('steps')} steps: {stopped.get('message', stopped.get('reason'))}"
    if summary.get("interrupted"):
        return f"interrupted after {summary.get('steps')} steps ({summary['interrupted']})"
    return None


def _train_in_worker(run: SweepRun) -> tuple[str | None, bool]:
    """Train one run in a ``python -m featmatch.train.sweep`` worker with one torch thread:
    (error text or ``None``, whether Ctrl-C/SIGTERM stopped it)."""
    log_path = _log_path(Path(run.run_dir))
    overrides = _run_overrides(run)
    resume = resumable(Path(run.run_dir), build_config(overrides))
    spec = json.dumps({"overrides": overrides, "overwrite": not resume, "resume": resume}, default=str)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log_path, "w", encoding="utf-8") as handle:
        code = subprocess.run(  # our own interpreter and module
            [sys.executable, "-m", "featmatch.train.sweep"],
            input=spec,
            text=True,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        ).returncode
    if code == 0:
        return None, False
    tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    what = {_EXIT_STOPPED: "stopped on NaN/Inf", _EXIT_INTERRUPTED: "interrupted"}.get(code, "failed")
    return f"{what}: worker exited with status {code} (log {log_path}): " + " | ".join(tail), code == _EXIT_INTERRUPTED


def _worker_main() -> int:
    """``python -m featmatch.train.sweep``: train the run whose spec is JSON on stdin.

    The spec is ``{"overrides": {dotted key: value}, "overwrite": bool, "resume": bool}``. Warnings go to
    stderr (the sweep's ``<run_dir>.log``); the run's own ``train.log`` keeps everything.
    """
    torch.set_num_threads(1)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.setLevel(logging.WARNING)
    log.addHandler(handler)
    log.setLevel(logging.INFO)  # the run's train.log keeps INFO
    spec = json.loads(sys.stdin.read())
    config = build_config(spec["overrides"])
    summary = run_training(config, overwrite=bool(spec.get("overwrite", False)), resume=bool(spec.get("resume", False)))
    error = _summary_error(summary)
    if error is not None:
        sys.stderr.write(error + "\n")
        return _EXIT_STOPPED if summary.get("stopped") else _EXIT_INTERRUPTED
    return 0


def _finished(run_dir: Path, steps: int | None) -> dict[str, Any] | None:
    """The run's summary when it finished (not interrupted, reached its target), else ``None``."""
    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if summary.get("interrupted") or summary.get("steps") != summary.get("target_steps"):
        return None
    if steps is not None and summary.get("target_steps") != steps:
        raise ValueError(
            f"{str(run_dir)!r} already holds a finished run of {summary.get('target_steps')} steps, "
            f"but this comparison asks for {steps}. Hint: choose a new --out, or pass --overwrite."
        )
    return summary
