"""Sweeps: several set-ups x seeds on one data set with the same budget, tabulated side by side.

A *variant* is a name and a mapping of config overrides with dotted keys, as
:func:`featmatch.train.build_config` takes them, e.g. ``{"objective.kind": "adv"}``.
:func:`run_sweep` trains every (variant, seed) pair into ``<out>/<variant>/seed<k>/`` (a normal
run directory), skipping pairs whose ``summary.json`` says they finished, then reads the final
metrics of every run into ``<out>/table.md`` and ``<out>/table.json`` (mean ± sample standard
deviation over seeds) and draws ``<out>/comparison.png`` (the first seed's final samples of
each variant side by side, and every seed's value of the main metrics). ``featmatch compare``
is this function behind flags: the CLI turns each ``NAME=FLAGS`` into such a mapping.

:func:`train_runs` is the runner underneath, for callers that lay out runs themselves (the
benchmark tables pool several data sets). With ``jobs == 1`` the runs train one after another
in this process. With ``jobs > 1`` (or ``isolated=True``) each run trains in its own worker
process, ``python -m featmatch.train.sweep``, which reads the run's overrides as JSON on its
stdin, uses one torch thread (``OMP_NUM_THREADS=1``, so N processes use N cores without
oversubscription) and writes its output to ``<run_dir>.log`` (e.g. ``<out>/gan/seed0.log``).

Example:
    >>> variants = {"gan": {"objective.kind": "adv"},
    ...             "fm_mean": {"objective.kind": "fm", "objective.fm_statistic": "mean"}}
    >>> result = run_sweep("ring8", variants, seeds=[0, 1], out="runs/cmp",
    ...                    steps=500)  # doctest: +SKIP
    >>> print(result.table_path.read_text())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from featmatch._checks import check_int
from featmatch._io import atomic_write_text
from featmatch.train import checkpoint as ckpt
from featmatch.train.config import build_config, to_yaml
from featmatch.train.plots import new_figure, save_figure
from featmatch.train.trainer import run_training

__all__ = [
    "RunOutcome",
    "RunResult",
    "SweepResult",
    "SweepRun",
    "collect_results",
    "format_cell",
    "format_table",
    "metric_curves",
    "plot_comparison",
    "run_sweep",
    "summarize",
    "train_runs",
]

log = logging.getLogger("featmatch")

# Keys a variant (or base_overrides) may not set: the sweep owns them, so that every run has
# the same data, budget, seed list and place.
_RESERVED_KEYS = {
    "data.name": "the data set is given once, as run_sweep's data",
    "seed": "seeds are given once, as run_sweep's seeds",
    "steps": "every variant gets the same budget, run_sweep's steps",
    "log.out": "each run goes to <out>/<variant>/seed<k>",
}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# Exit status of a worker whose run stopped on NaN/Inf (as `featmatch train`) or was interrupted.
_EXIT_STOPPED = 3
_EXIT_INTERRUPTED = 130

# How the known metrics read in the table: (label, scale, decimals). Others: 4 significant digits.
_METRIC_FORMATS: dict[str, tuple[str, float, int]] = {
    "modes_covered": ("modes", 1.0, 1),
    "high_quality": ("% high quality", 100.0, 1),
    "reverse_kl": ("reverse KL", 1.0, 3),
    "wall_time_sec": ("time (s)", 1.0, 0),
}
# The metrics drawn in comparison.png, when present (else the first metrics found).
_MAIN_METRICS = ("modes_covered", "high_quality", "frechet_distance", "classes_covered")


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


@dataclass
class RunResult:
    """The result of one (variant, seed) run, as read from its run directory.

    Attributes:
        variant: the variant's name.
        seed: the run's seed.
        run_dir: its run directory.
        status: ``"done"`` (trained now), ``"skipped"`` (finished before) or ``"failed"``.
        metrics: the final metrics from ``summary.json`` plus ``wall_time_sec`` (empty when failed).
        samples: the run's last sample picture, if any.
        error: why it failed (``status == "failed"``).
    """

    variant: str
    seed: int
    run_dir: Path
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    samples: Path | None = None
    error: str | None = None


@dataclass
class SweepResult:
    """What :func:`run_sweep` made: every run's result, the summary and the files written."""

    runs: list[RunResult]
    summary: dict[str, Any]
    table_path: Path
    json_path: Path
    plot_path: Path | None

    @property
    def failed(self) -> list[RunResult]:
        """The runs that did not finish."""
        return [r for r in self.runs if r.status == "failed"]


# ----------------------------------------------------------------------------------------
# the sweep


def run_sweep(
    data: str,
    variants: Mapping[str, Mapping[str, Any]],
    seeds: Sequence[int],
    out: str | Path,
    *,
    steps: int | None = None,
    jobs: int = 1,
    base_overrides: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    title: str | None = None,
    descriptions: Mapping[str, str] | None = None,
) -> SweepResult:
    """Train every variant with every seed on ``data``, then write the table and the plot.

    Each run's config is ``build_config({**base_overrides, **variant, "data.name": data,
    "seed": seed, "steps": steps, "log.out": <out>/<variant>/seed<k>})`` (``log.quiet`` is on
    unless an override says otherwise). Every variant is validated before anything trains.

    Args:
        data: data set name or path (``featmatch train --data``).
        variants: name -> config overrides (dotted keys, e.g. ``{"objective.kind": "adv"}``; an
            empty mapping is the data set's defaults). A name becomes a folder name.
        seeds: seeds; every variant runs with each.
        out: output folder: ``<out>/<variant>/seed<k>/`` per run, ``table.md``, ``table.json``,
            ``comparison.png`` and ``compare.json`` (the request).
        steps: training steps of every run; ``None`` uses the data set's default.
        jobs: runs at a time; above 1 each run trains in a worker process with one torch thread.
        base_overrides: overrides every run gets, under each variant's own.
        overwrite: retrain runs that already finished instead of skipping them.
        title: heading of the table (default: ``"<data>, <steps> steps, seeds ..."``).
        descriptions: text of each variant in the table's last column (default: its overrides as
            ``key=value``; ``featmatch compare`` shows the variant's flags).

    Returns:
        A :class:`SweepResult`; runs that failed are listed in it and in the table, and do
        not stop the others.

    Raises:
        ValueError: bad arguments, or a variant whose overrides do not build a valid config
            (naming the variant; checked before anything trains), or an existing finished run
            with a different number of steps.
        KeyboardInterrupt: Ctrl-C; the runs in progress save a checkpoint and stop, no new run
            starts, and the same call later continues (finished runs are skipped).

    Example:
        >>> run_sweep("ring8", {"gan": {"objective.kind": "adv"}}, [0], "runs/c",
        ...           steps=200)  # doctest: +SKIP
    """
    if not isinstance(variants, Mapping):
        raise TypeError(
            f"variants must be a mapping name -> overrides, e.g. {{'gan': {{'objective.kind': 'adv'}}}}; "
            f"got {type(variants).__name__}."
        )
    if not variants:
        raise ValueError("variants is empty. Hint: give at least one variant, e.g. {'gan': {'objective.kind': 'adv'}}.")
    seeds = list(seeds)
    for i, seed in enumerate(seeds):
        check_int(f"seeds[{i}]", seed, minimum=0)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers >= 0, at least one; got {seeds}.")
    if steps is not None:
        check_int("steps", steps, minimum=1, hint=" Hint: None uses the data set's default.")
    base = dict(base_overrides or {})
    _check_not_reserved("base_overrides", base)
    names = list(variants)
    for name in names:
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            raise ValueError(
                f"variant name {name!r} must start with a letter or digit and use only letters, digits "
                "and _ . + - (it becomes a folder name). Hint: e.g. 'fm_mean'."
            )
        if not isinstance(variants[name], Mapping):
            raise TypeError(
                f"variant {name!r} must be a mapping of config overrides (dotted keys); "
                f"got {type(variants[name]).__name__}."
            )
        _check_not_reserved(f"variant {name!r}", variants[name])

    out = Path(out)
    runs: list[SweepRun] = []
    for name in names:
        for seed in seeds:
            overrides = {**base, **variants[name], "data.name": data, "seed": seed}
            if steps is not None:
                overrides["steps"] = steps
            runs.append(SweepRun(f"{name}/seed{seed}", out / name / f"seed{seed}", overrides))
    # Validate each variant once (the seed does not change what is valid), naming it.
    for name, run in zip(names, runs[:: len(seeds)], strict=True):
        try:
            build_config(_run_overrides(run))
        except ValueError as err:
            raise ValueError(f"variant {name!r}: {err}") from err
    check_int("jobs", jobs, minimum=1, hint=" Hint: 1 trains the runs one after another in this process.")
    shown = {n: (descriptions or {}).get(n, _describe(variants[n])) for n in names}
    request = {
        "data": data,
        "steps": steps,
        "seeds": seeds,
        "base_overrides": base,
        "variants": {n: dict(variants[n]) for n in names},
        "descriptions": shown,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.json", json.dumps(request, indent=2, default=str) + "\n")
    outcomes = train_runs(runs, jobs=jobs, overwrite=overwrite)

    results = collect_results(out, names, seeds)
    by_dir = {o.run.run_dir: o for o in outcomes}
    for result in results:
        outcome = by_dir[result.run_dir]
        if outcome.status == "failed":
            result.status, result.error, result.metrics = "failed", outcome.error, {}
        elif outcome.status == "done":
            result.status = "done"
    summary = summarize(results, names, shown)
    summary.update(request)
    heading = title or f"{data}, {steps if steps is not None else 'default'} steps, seeds {','.join(map(str, seeds))}"
    table_path = out / "table.md"
    json_path = out / "table.json"
    atomic_write_text(table_path, format_table(summary, title=heading))
    atomic_write_text(json_path, json.dumps(summary, indent=2, default=str) + "\n")
    plot_path: Path | None = None
    try:
        plot_path = plot_comparison(results, summary, out / "comparison.png", title=heading)
    except Exception as err:  # any error: a failed picture must not lose the table
        log.warning("sweep: could not draw comparison.png (%s: %s)", type(err).__name__, err)
    return SweepResult(results, summary, table_path, json_path, plot_path)


def _dotted_keys(overrides: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every key of ``overrides`` as a dotted path, nested mappings included (both forms are accepted)."""
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            yield from _dotted_keys(value, path + ".")


def _check_not_reserved(where: str, overrides: Mapping[str, Any]) -> None:
    for key in _dotted_keys(overrides):
        if key in _RESERVED_KEYS:
            raise ValueError(
                f"{where} sets {key!r}, which the sweep controls: {_RESERVED_KEYS[key]}. "
                f"Hint: remove {key!r} from {where}."
            )


def _describe(overrides: Mapping[str, Any]) -> str:
    """``key=value`` pairs, the table's default text for a variant ('' for the data set's defaults)."""
    return " ".join(
        f"{key}={json.dumps(value, default=str)}" if not isinstance(value, str) else f"{key}={value}"
        for key, value in overrides.items()
    )


# ----------------------------------------------------------------------------------------
# the runner


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


# ----------------------------------------------------------------------------------------
# collecting and summarising


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


def collect_results(out: str | Path, variants: Sequence[str], seeds: Sequence[int]) -> list[RunResult]:
    """Read ``summary.json`` of every ``<out>/<variant>/seed<k>`` into :class:`RunResult` s.

    A run without a finished summary is ``"failed"`` with the reason in ``error``.

    Example:
        >>> [r.status for r in collect_results("runs/cmp", ["gan"], [0, 1])]  # doctest: +SKIP
        ['skipped', 'skipped']
    """
    out = Path(out)
    runs = []
    for name in variants:
        for seed in seeds:
            run_dir = out / name / f"seed{seed}"
            summary = _finished(run_dir, None)
            if summary is None:
                runs.append(RunResult(name, seed, run_dir, "failed", error=f"no finished summary.json in {run_dir}"))
                continue
            metrics = {
                k: float(v)
                for k, v in (summary.get("metrics") or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            if isinstance(summary.get("wall_time_sec"), (int, float)):
                metrics["wall_time_sec"] = float(summary["wall_time_sec"])
            samples = [run_dir / p for p in summary.get("samples") or []]
            runs.append(
                RunResult(
                    name, seed, run_dir, "skipped", metrics, samples[-1] if samples and samples[-1].is_file() else None
                )
            )
    return runs


def summarize(
    runs: Sequence[RunResult], variants: Sequence[str], descriptions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Mean and sample standard deviation (``ddof=1``; 0 for one seed) of every metric per variant.

    Args:
        runs: the runs' results (:func:`collect_results`).
        variants: the variants' names, in table order.
        descriptions: each variant's text for the table's last column (``"args"``; default ``""``,
            shown as the data set's defaults).

    Returns:
        ``{"metrics": [names...], "rows": [{"variant", "args", "n", "seeds", "mean": {...},
        "std": {...}, "runs": {seed: {...}}}], "failed": [{"variant", "seed", "error"}]}``.

    Example:
        >>> r = [RunResult("a", 0, Path("."), "done", {"m": 1.0}),
        ...      RunResult("a", 1, Path("."), "done", {"m": 3.0})]
        >>> row = summarize(r, ["a"])["rows"][0]
        >>> row["mean"]["m"], round(row["std"]["m"], 4)
        (2.0, 1.4142)
    """
    descriptions = descriptions or {}
    metric_names: list[str] = []
    for run in runs:
        for key in run.metrics:
            if key not in metric_names:
                metric_names.append(key)
    # Known metrics first, in a fixed order; run time last.
    order = [k for k in _METRIC_FORMATS if k in metric_names and k != "wall_time_sec"]
    order += [k for k in metric_names if k not in _METRIC_FORMATS]
    order += ["wall_time_sec"] if "wall_time_sec" in metric_names else []
    rows = []
    for name in variants:
        mine = [r for r in runs if r.variant == name and r.status != "failed"]
        mean: dict[str, float] = {}
        std: dict[str, float] = {}
        for key in order:
            values = np.array([r.metrics[key] for r in mine if key in r.metrics], dtype=np.float64)
            if values.size == 0:
                continue
            mean[key] = float(values.mean())
            std[key] = float(values.std(ddof=1)) if values.size > 1 else 0.0
        rows.append(
            {
                "variant": name,
                "args": descriptions.get(name, ""),
                "n": len(mine),
                "seeds": [r.seed for r in mine],
                "mean": mean,
                "std": std,
                "runs": {str(r.seed): r.metrics for r in mine},
            }
        )
    failed = [{"variant": r.variant, "seed": r.seed, "error": r.error} for r in runs if r.status == "failed"]
    return {"metrics": order, "rows": rows, "failed": failed}


def _format_value(key: str, mean: float, std: float | None) -> str:
    _, scale, decimals = _METRIC_FORMATS.get(key, (key, 1.0, -1))
    if not math.isfinite(mean):
        return str(mean)
    if decimals < 0:
        text = f"{mean * scale:.4g}" + ("" if std is None else f" ± {std * scale:.2g}")
    else:
        text = f"{mean * scale:.{decimals}f}" + ("" if std is None else f" ± {std * scale:.{decimals}f}")
    return text


def format_cell(row: dict[str, Any], metric: str) -> str:
    """One cell of a :func:`summarize` row: ``"mean ± std"`` of ``metric`` (std from 2 seeds), or ``"–"``.

    Example:
        >>> format_cell({"n": 2, "mean": {"high_quality": 0.925}, "std": {"high_quality": 0.005}}, "high_quality")
        '92.5 ± 0.5'
    """  # noqa: RUF002 - the en dash is the table's own mark for "no value"
    if metric not in row["mean"]:
        return "–"  # noqa: RUF001 - the table's mark for "no value", an en dash on purpose
    std = row["std"].get(metric) if row["n"] > 1 else None
    return _format_value(metric, row["mean"][metric], std)


def format_table(summary: Mapping[str, Any], *, title: str | None = None) -> str:
    """The markdown table of :func:`summarize`'s result: one row per variant, mean ± std.

    Example:
        >>> s = {"metrics": ["modes_covered"], "failed": [], "rows": [{"variant": "gan",
        ...      "args": "--objective adv", "n": 2, "mean": {"modes_covered": 1.5},
        ...      "std": {"modes_covered": 0.5}}]}
        >>> print(format_table(s).splitlines()[2])
        | gan | 2 | 1.5 ± 0.5 | `--objective adv` |
    """
    metrics = list(summary["metrics"])
    header = ["variant", "seeds", *(_METRIC_FORMATS.get(m, (m,))[0] for m in metrics), "flags"]
    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary["rows"]:
        cells = [row["variant"], str(row["n"])]
        for m in metrics:
            cells.append(format_cell(row, m))
        flags = row["args"].replace("|", "\\|")
        cells.append(f"`{flags}`" if flags else "(data set defaults)")
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "Mean ± sample standard deviation over seeds (ddof=1)."]
    for failure in summary.get("failed", []):
        notes.append(f"- FAILED: {failure['variant']} seed {failure['seed']}: {failure['error']}")
    return "\n".join(lines + notes) + "\n"


# ----------------------------------------------------------------------------------------
# the picture


def metric_curves(names: Sequence[str]) -> dict[str, list[tuple[float, str]]]:
    """Families of metrics named ``<name>@<number>`` (two or more), as ``{"<name>@": [(number, metric), ...]}``
    sorted by number: what :func:`plot_comparison` draws as curves.

    Example:
        >>> metric_curves(["accuracy@0.5", "accuracy@0.1", "accuracy_auc", "fid"])
        {'accuracy@': [(0.1, 'accuracy@0.1'), (0.5, 'accuracy@0.5')]}
    """
    families: dict[str, list[tuple[float, str]]] = {}
    for name in names:
        base, at, value = str(name).rpartition("@")
        if not at or not base:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        families.setdefault(base + "@", []).append((number, name))
    return {base: sorted(points) for base, points in families.items() if len(points) >= 2}


# Widest sample thumbnail of comparison.png, in inches at 100 dpi.
_MAX_THUMBNAIL_INCHES = 6.0


def _read_rgb(path: Path) -> np.ndarray:
    """A sample picture as an (H, W, 3) uint8 array."""
    from PIL import Image  # optional dependency (pillow, the train extra's)

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def plot_comparison(
    runs: Sequence[RunResult],
    summary: Mapping[str, Any],
    path: str | Path,
    *,
    title: str | None = None,
    metrics: Sequence[str] | None = None,
) -> Path:
    """Draw the first seed's final samples of each variant side by side, and the main metrics.

    Top row: one panel per variant (its first finished seed's last sample picture). Bottom
    row: one panel per metric (default: up to two of modes, high quality, Frechet distance,
    class coverage, else the first two), every seed as a dot and the mean ± std as a bar; then
    one panel per family of metrics named ``<name>@<number>`` (:func:`metric_curves`, e.g.
    ``accuracy@0.1`` ... ``accuracy@1.0``): each variant's mean against the number, ± std shaded.

    Example:
        >>> plot_comparison(result.runs, result.summary, "cmp.png")  # doctest: +SKIP
    """
    path = Path(path)
    rows = list(summary["rows"])
    names = [r["variant"] for r in rows]
    curves = metric_curves(summary["metrics"])
    if metrics is None:
        in_curves = {name for points in curves.values() for _, name in points}
        available = [m for m in summary["metrics"] if m != "wall_time_sec" and m not in in_curves]
        metrics = [m for m in _MAIN_METRICS if m in available][:2] or available[:2]
    metrics = list(metrics)
    panels = len(metrics) + len(curves)
    has_metrics = panels > 0
    pictures = {
        name: next(
            (r.samples for r in sorted(runs, key=lambda r: r.seed) if r.variant == name and r.samples is not None), None
        )
        for name in names
    }
    images = {name: _read_rgb(picture) for name, picture in pictures.items() if picture is not None}
    # Thumbnails near their own pixel size (a grid of 8x8 digits needs ~500 px to be read), between
    # 3 and 6 inches at 100 dpi; the metrics' row below is as wide as the pictures' row.
    width = min(max([img.shape[1] / 100.0 for img in images.values()] + [3.0]), _MAX_THUMBNAIL_INCHES)
    aspect = max([img.shape[0] / img.shape[1] for img in images.values()] + [1.0 if not images else 0.0])
    top = width * aspect + 0.4  # + the title
    bottom = 3.0 if has_metrics else 0.0
    figure = new_figure(max(width * max(len(names), 1), 3.0 * panels), top + bottom + (0.4 if title else 0.0))
    rows_grid = figure.add_gridspec(2 if has_metrics else 1, 1, height_ratios=[top, bottom] if has_metrics else [1.0])
    picture_grid = rows_grid[0].subgridspec(1, max(len(names), 1))
    for i, name in enumerate(names):
        ax = figure.add_subplot(picture_grid[0, i])
        ax.set_axis_off()
        ax.set_title(name, fontsize=10)
        if name not in images:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.imshow(images[name], interpolation="nearest")
    if has_metrics:
        # One metric (or curve) per panel, spread over the bottom row.
        metric_grid = rows_grid[1].subgridspec(1, panels)
        for j, metric in enumerate(metrics):
            ax = figure.add_subplot(metric_grid[0, j])
            label, scale, _ = _METRIC_FORMATS.get(metric, (metric, 1.0, -1))
            for i, row in enumerate(rows):
                values = [v[metric] * scale for v in row.get("runs", {}).values() if metric in v]
                if not values:
                    continue
                ax.bar(
                    i,
                    row["mean"][metric] * scale,
                    color="tab:blue",
                    alpha=0.35,
                    yerr=row["std"].get(metric, 0.0) * scale,
                    capsize=3,
                )
                ax.scatter([i] * len(values), values, color="tab:blue", s=12, zorder=3)
            ax.set_xticks(range(len(rows)))
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
            ax.set_title(label, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
        for j, (base, points) in enumerate(curves.items(), start=len(metrics)):
            ax = figure.add_subplot(metric_grid[0, j])
            xs = np.array([x for x, _ in points])
            for row in rows:
                if not all(name in row["mean"] for _, name in points):
                    continue
                mean = np.array([row["mean"][name] for _, name in points])
                std = np.array([row["std"].get(name, 0.0) if row["n"] > 1 else 0.0 for _, name in points])
                line = ax.plot(xs, mean, marker="o", markersize=3, label=row["variant"])[0]
                ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.15)
            ax.set_xlabel(f"x in {base}x", fontsize=8)
            ax.set_title(base.rstrip("@"), fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return save_figure(figure, path)


if __name__ == "__main__":
    raise SystemExit(_worker_main())
