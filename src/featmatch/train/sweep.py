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

One module per job, all re-exported here: :mod:`.sweep_variants` (checking variants),
:mod:`.sweep_runs` (training runs, here or in worker processes) and :mod:`.sweep_tables` (results,
tables and the picture); this module runs a whole sweep.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featmatch._checks import check_int
from featmatch._io import atomic_write_text
from featmatch.train.config import build_config
from featmatch.train.sweep_runs import (  # noqa: F401 (re-exported; _run_overrides: tests use it)
    RunOutcome,
    SweepRun,
    _run_overrides,
    _worker_main,
    resumable,
    train_runs,
)
from featmatch.train.sweep_tables import (
    RunResult,
    collect_results,
    format_cell,
    format_table,
    metric_curves,
    plot_comparison,
    summarize,
)
from featmatch.train.sweep_variants import _NAME_PATTERN, _check_not_reserved, _describe

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


if __name__ == "__main__":  # the worker process of train_runs: python -m featmatch.train.sweep
    raise SystemExit(_worker_main())
