"""Compare training set-ups: several variants x seeds on one data set, with the same budget.

A *variant* is a name and the ``featmatch train`` flags that make it, e.g.
``gan=--objective adv`` or ``fm_mean=--objective fm --fm-statistic mean``. :func:`run_compare`
trains every (variant, seed) pair into ``<out>/<variant>/seed<k>/`` (a normal run directory),
skipping pairs whose ``summary.json`` already says they finished, then collects the final
metrics of every run into ``<out>/table.md`` and ``<out>/table.json`` (mean +- sample standard
deviation over seeds) and draws ``<out>/comparison.png`` (the first seed's final samples of each
variant side by side, and every seed's value of the main metrics).

With ``jobs == 1`` the runs train one after another in this process; with ``jobs > 1`` they run
as ``python -m featmatch train`` subprocesses, ``jobs`` at a time, each with one torch thread
(``OMP_NUM_THREADS=1``), so that N processes use N cores without oversubscription.

Example:
    >>> variants = [parse_variant("gan=--objective adv"),
    ...             parse_variant("fm=--objective fm --fm-statistic mean")]
    >>> result = run_compare("ring8", variants, seeds=[0, 1], out="runs/cmp",
    ...                      steps=500)  # doctest: +SKIP
    >>> print(result.table_path.read_text())  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CompareResult",
    "RunResult",
    "Variant",
    "collect_results",
    "format_cell",
    "format_table",
    "load_variants",
    "parse_variant",
    "plot_comparison",
    "run_compare",
    "summarize",
    "validate_variant",
]

log = logging.getLogger("featmatch")

# Flags a variant may not set: compare owns them, so that every run has the same data,
# budget, seed list and place.
_RESERVED_FLAGS = {
    "--data": "the data set is given once, to compare (--data)",
    "--seed": "seeds are given once, to compare (--seeds)",
    "--steps": "every variant gets the same budget (compare --steps)",
    "--out": "each run goes to <out>/<variant>/seed<k>",
    "--resume": "compare skips finished runs by itself",
    "--overwrite": "use compare --overwrite",
    "--print-config": "compare trains the runs",
    "--config": "put the flags in the variant, or use compare --train-args",
}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

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
class Variant:
    """One set-up to compare: a name (also its folder name) and its ``featmatch train`` flags.

    Example:
        >>> Variant("gan", ("--objective", "adv")).command_line
        '--objective adv'
    """

    name: str
    args: tuple[str, ...] = ()

    @property
    def command_line(self) -> str:
        """The flags as one shell-quoted string."""
        return shlex.join(self.args)


@dataclass
class RunResult:
    """The outcome of one (variant, seed) run.

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
class CompareResult:
    """What :func:`run_compare` made: every run's result, the summary and the files written."""

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
# variants


def parse_variant(spec: str) -> Variant:
    """Parse ``"NAME=FLAGS"`` (flags as on a shell command line) into a :class:`Variant`.

    ``"NAME="`` (no flags) is the data set's default configuration.

    Raises:
        ValueError: no ``=``, a name that is not a plain folder name, or unbalanced quotes.

    Example:
        >>> parse_variant("fm_mean=--objective fm --fm-statistic mean").args
        ('--objective', 'fm', '--fm-statistic', 'mean')
    """
    if not isinstance(spec, str):
        raise TypeError(f"a variant spec must be a string 'NAME=FLAGS'; got {type(spec).__name__}.")
    name, sep, flags = spec.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(
            f"variant spec {spec!r} has no '='. Hint: write NAME=FLAGS, e.g. "
            "--variant \"gan=--objective adv\" (or NAME= for the data set's defaults)."
        )
    _check_name(name, spec)
    try:
        args = tuple(shlex.split(flags))
    except ValueError as err:
        raise ValueError(f"variant {name!r}: cannot split its flags {flags!r}: {err}.") from err
    return Variant(name, args)


def _check_name(name: str, where: str) -> None:
    if not _NAME_PATTERN.match(name):
        raise ValueError(
            f"variant name {name!r} (in {where!r}) must start with a letter or digit and use only "
            "letters, digits and _ . + - (it becomes a folder name). Hint: e.g. 'fm_mean'."
        )


def load_variants(path: str | Path) -> list[Variant]:
    """Read variants from a YAML file.

    The file is a mapping from name to flags (a string or a list of strings), or a list of
    ``{name: ..., args: ...}`` entries::

        gan: --objective adv
        fm_mean: [--objective, fm, --fm-statistic, mean]

    Raises:
        ValueError: missing file, invalid YAML, or entries of the wrong shape.

    Example:
        >>> load_variants("variants.yaml")  # doctest: +SKIP
        [Variant(name='gan', args=('--objective', 'adv')), ...]
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"variants file {str(path)!r} does not exist. Hint: check the --variants path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"variants file {str(path)!r} is not valid YAML: {err}") from err
    if isinstance(data, Mapping):
        entries = list(data.items())
    elif isinstance(data, list):
        entries = []
        for i, item in enumerate(data):
            if not isinstance(item, Mapping) or "name" not in item:
                raise ValueError(
                    f"variants file {str(path)!r}: entry {i} must be a mapping with 'name' and "
                    f"'args'; got {item!r}."
                )
            entries.append((item["name"], item.get("args", "")))
    else:
        raise ValueError(
            f"variants file {str(path)!r} must hold a mapping name -> flags or a list of "
            f"{{name, args}}; got {type(data).__name__}."
        )
    variants = []
    for name, args in entries:
        name = str(name)
        _check_name(name, str(path))
        if args is None:
            args = ""
        if isinstance(args, str):
            flags = tuple(shlex.split(args))
        elif isinstance(args, list) and all(isinstance(a, (str, int, float)) for a in args):
            flags = tuple(str(a) for a in args)
        else:
            raise ValueError(
                f"variant {name!r} in {str(path)!r}: flags must be a string or a list of strings; "
                f"got {args!r}."
            )
        variants.append(Variant(name, flags))
    return variants


class _RaisingParser(argparse.ArgumentParser):
    """An argument parser that raises ``ValueError`` instead of printing usage and exiting."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise ValueError(message)


def _train_parser() -> argparse.ArgumentParser:
    from featmatch.cli import _add_train_arguments

    parser = _RaisingParser(prog="featmatch train", add_help=False)
    _add_train_arguments(parser)
    return parser


def validate_variant(variant: Variant, data: str, extra_args: Sequence[str] = ()) -> None:
    """Check that a variant's flags parse and build a valid config for ``data``.

    Args:
        variant: the variant to check.
        data: the data set name (``--data``) the runs use.
        extra_args: flags every variant gets before its own (``--train-args``).

    Raises:
        ValueError: naming the variant and the bad flag (unknown, reserved, bad value, or a
            config value that fails validation).

    Example:
        >>> validate_variant(Variant("x", ("--objective", "nope")), "ring8")
        Traceback (most recent call last):
        ...
        ValueError: variant 'x': argument --objective: invalid choice: 'nope' ...
    """
    from featmatch.cli import _train_overrides
    from featmatch.train.config import build_config

    for arg in variant.args:
        flag = arg.split("=", 1)[0]
        if flag in _RESERVED_FLAGS:
            raise ValueError(
                f"variant {variant.name!r} sets {flag}, which compare controls: "
                f"{_RESERVED_FLAGS[flag]}. Hint: remove {flag} from the variant."
            )
    parser = _train_parser()
    args = [*extra_args, *variant.args]
    try:
        namespace, unknown = parser.parse_known_args(args)
    except ValueError as err:
        raise ValueError(f"variant {variant.name!r}: {err} (flags: {shlex.join(variant.args)!r})") from err
    if unknown:
        close = _close_flags(unknown[0], parser)
        hint = f" Did you mean {close}?" if close else " See featmatch train --help."
        raise ValueError(
            f"variant {variant.name!r}: unknown flag or stray value {unknown[0]!r} "
            f"(flags: {shlex.join(variant.args)!r}).{hint}"
        )
    overrides = _train_overrides(namespace)
    overrides["data.name"] = data
    try:
        build_config(overrides, file=namespace.config)
    except ValueError as err:
        raise ValueError(f"variant {variant.name!r}: {err}") from err


def _close_flags(text: str, parser: argparse.ArgumentParser) -> str:
    import difflib

    flags = [s for a in parser._actions for s in a.option_strings]  # noqa: SLF001 - argparse has no public list
    close = difflib.get_close_matches(text.split("=", 1)[0], flags, n=2)
    return " or ".join(close)


# ----------------------------------------------------------------------------------------
# running


def _run_dir(out: Path, variant: str, seed: int) -> Path:
    return out / variant / f"seed{seed}"


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


def _train_argv(
    variant: Variant, seed: int, data: str, steps: int | None, run_dir: Path, extra_args: Sequence[str]
) -> list[str]:
    argv = ["train", "--data", data, "--seed", str(seed), "--out", str(run_dir), "--overwrite", "--quiet"]
    if steps is not None:
        argv += ["--steps", str(steps)]
    return argv + list(extra_args) + list(variant.args)


def _run_one(argv: list[str], run_dir: Path, subprocess_run: bool) -> str | None:
    """Train one run; return an error text, or ``None`` when it succeeded."""
    log_path = run_dir.parent / f"{run_dir.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not subprocess_run:
        from featmatch.cli import main

        code = main(argv)
        return None if code == 0 else f"featmatch {shlex.join(argv)} exited with status {code}"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log_path, "w", encoding="utf-8") as handle:
        code = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "featmatch", *argv], stdout=handle, stderr=subprocess.STDOUT, env=env,
            check=False,
        ).returncode
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        return f"exited with status {code} (log {log_path}): " + " | ".join(tail)
    return None


def run_compare(
    data: str,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    out: str | Path,
    *,
    steps: int | None = None,
    jobs: int = 1,
    extra_args: Sequence[str] = (),
    overwrite: bool = False,
    title: str | None = None,
) -> CompareResult:
    """Train every variant with every seed on ``data``, then write the table and the plot.

    Args:
        data: data set name or path (``featmatch train --data``).
        variants: the set-ups to compare (unique names).
        seeds: seeds; every variant runs with each.
        out: output folder: ``<out>/<variant>/seed<k>/`` per run, ``table.md``, ``table.json``,
            ``comparison.png`` and ``compare.json`` (the request).
        steps: training steps of every run; ``None`` uses the data set's default.
        jobs: runs at a time; above 1 they run as subprocesses with one torch thread each.
        extra_args: ``featmatch train`` flags given to every run before the variant's own.
        overwrite: retrain runs that already finished instead of skipping them.
        title: heading of the table (default: ``"<data>, <steps> steps, seeds ..."``).

    Returns:
        A :class:`CompareResult`; runs that failed are listed in it and in the table, and do
        not stop the others.

    Raises:
        ValueError: bad arguments or variant flags (checked before anything trains), or an
            existing finished run with a different number of steps.

    Example:
        >>> run_compare("ring8", [parse_variant("gan=--objective adv")], [0], "runs/c",
        ...             steps=200)  # doctest: +SKIP
    """
    variants = list(variants)
    if not variants:
        raise ValueError("variants is empty. Hint: give at least one --variant NAME=FLAGS (or --variants FILE).")
    names = [v.name for v in variants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"variant names must be unique; repeated: {duplicates}. Hint: rename one of them.")
    seeds = [int(s) for s in seeds]
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers >= 0, at least one; got {seeds}.")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be an integer >= 1 or None; got {steps!r}.")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1; got {jobs!r}. Hint: --jobs 1 runs in this process.")
    extra_args = list(extra_args)
    for variant in variants:
        validate_variant(variant, data, extra_args)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    request = {
        "data": data, "steps": steps, "seeds": seeds, "train_args": extra_args,
        "variants": {v.name: list(v.args) for v in variants},
    }
    (out / "compare.json").write_text(json.dumps(request, indent=2) + "\n", encoding="utf-8")

    todo: list[tuple[Variant, int, Path]] = []
    for variant in variants:
        for seed in seeds:
            run_dir = _run_dir(out, variant.name, seed)
            if not overwrite and _finished(run_dir, steps) is not None:
                log.info("compare: %s seed %d already finished; skipping (%s)", variant.name, seed, run_dir)
                continue
            todo.append((variant, seed, run_dir))
    log.info("compare: %d run(s) to train, %d finished before, %d job(s)",
             len(todo), len(variants) * len(seeds) - len(todo), jobs)

    errors: dict[tuple[str, int], str] = {}
    trained: set[tuple[str, int]] = set()

    def work(item: tuple[Variant, int, Path]) -> None:
        variant, seed, run_dir = item
        start = time.perf_counter()
        argv = _train_argv(variant, seed, data, steps, run_dir, extra_args)
        error = _run_one(argv, run_dir, subprocess_run=jobs > 1)
        if error is None and _finished(run_dir, steps) is None:
            error = f"the run ended without a finished summary.json in {run_dir}"
        if error is not None:
            errors[(variant.name, seed)] = error
            log.warning("compare: %s seed %d failed: %s", variant.name, seed, error)
        else:
            trained.add((variant.name, seed))
            log.info("compare: %s seed %d done in %.0f s", variant.name, seed, time.perf_counter() - start)

    if jobs == 1:
        for item in todo:
            work(item)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(work, todo))

    runs = collect_results(out, names, seeds)
    for run in runs:
        key = (run.variant, run.seed)
        if key in errors:
            run.status, run.error, run.metrics = "failed", errors[key], {}
        elif key in trained:
            run.status = "done"
    summary = summarize(runs, variants)
    summary.update(request)
    heading = title or f"{data}, {steps if steps is not None else 'default'} steps, seeds {','.join(map(str, seeds))}"
    table = format_table(summary, title=heading)
    table_path = out / "table.md"
    json_path = out / "table.json"
    table_path.write_text(table, encoding="utf-8")
    json_path.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    plot_path: Path | None = None
    try:
        plot_path = plot_comparison(runs, summary, out / "comparison.png", title=heading)
    except Exception as err:  # noqa: BLE001 - a failed picture must not lose the table
        log.warning("compare: could not draw comparison.png (%s: %s)", type(err).__name__, err)
    return CompareResult(runs, summary, table_path, json_path, plot_path)


# ----------------------------------------------------------------------------------------
# collecting and summarising


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
            run_dir = _run_dir(out, name, seed)
            summary = _finished(run_dir, None)
            if summary is None:
                runs.append(RunResult(name, seed, run_dir, "failed", error=f"no finished summary.json in {run_dir}"))
                continue
            metrics = {k: float(v) for k, v in (summary.get("metrics") or {}).items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if isinstance(summary.get("wall_time_sec"), (int, float)):
                metrics["wall_time_sec"] = float(summary["wall_time_sec"])
            samples = [run_dir / p for p in summary.get("samples") or []]
            runs.append(RunResult(name, seed, run_dir, "skipped", metrics,
                                  samples[-1] if samples and samples[-1].is_file() else None))
    return runs


def summarize(runs: Sequence[RunResult], variants: Sequence[Variant]) -> dict[str, Any]:
    """Mean and sample standard deviation (``ddof=1``; 0 for one seed) of every metric per variant.

    Returns:
        ``{"metrics": [names...], "rows": [{"variant", "args", "n", "seeds", "mean": {...},
        "std": {...}, "runs": {seed: {...}}}], "failed": [{"variant", "seed", "error"}]}``.

    Example:
        >>> r = [RunResult("a", 0, Path("."), "done", {"m": 1.0}),
        ...      RunResult("a", 1, Path("."), "done", {"m": 3.0})]
        >>> row = summarize(r, [Variant("a")])["rows"][0]
        >>> row["mean"]["m"], round(row["std"]["m"], 4)
        (2.0, 1.4142)
    """
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
    for variant in variants:
        mine = [r for r in runs if r.variant == variant.name and r.status != "failed"]
        mean: dict[str, float] = {}
        std: dict[str, float] = {}
        for key in order:
            values = np.array([r.metrics[key] for r in mine if key in r.metrics], dtype=np.float64)
            if values.size == 0:
                continue
            mean[key] = float(values.mean())
            std[key] = float(values.std(ddof=1)) if values.size > 1 else 0.0
        rows.append({
            "variant": variant.name,
            "args": variant.command_line,
            "n": len(mine),
            "seeds": [r.seed for r in mine],
            "mean": mean,
            "std": std,
            "runs": {str(r.seed): r.metrics for r in mine},
        })
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
    """
    if metric not in row["mean"]:
        return "–"
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
    class coverage, else the first two), every seed as a dot and the mean ± std as a bar.

    Example:
        >>> plot_comparison(result.runs, result.summary, "cmp.png")  # doctest: +SKIP
    """
    from featmatch.train.plots import _figure, _save_figure

    path = Path(path)
    rows = list(summary["rows"])
    names = [r["variant"] for r in rows]
    if metrics is None:
        available = [m for m in summary["metrics"] if m != "wall_time_sec"]
        metrics = [m for m in _MAIN_METRICS if m in available][:2] or available[:2]
    metrics = list(metrics)
    ncols = max(len(names), len(metrics), 1)
    has_metrics = bool(metrics)
    figure = _figure(3.0 * ncols, 6.2 if has_metrics else 3.2)
    grid = figure.add_gridspec(2 if has_metrics else 1, ncols, height_ratios=[1.0, 0.9] if has_metrics else [1.0])
    for i, name in enumerate(names):
        ax = figure.add_subplot(grid[0, i])
        ax.set_axis_off()
        picture = next((r.samples for r in sorted(runs, key=lambda r: r.seed)
                        if r.variant == name and r.samples is not None), None)
        ax.set_title(name, fontsize=10)
        if picture is None:
            ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            continue
        from PIL import Image

        with Image.open(picture) as image:
            ax.imshow(np.asarray(image.convert("RGB")))
    if has_metrics:
        # One metric per panel, spread over the bottom row.
        span = ncols // len(metrics)
        for j, metric in enumerate(metrics):
            ax = figure.add_subplot(grid[1, j * span:(j + 1) * span])
            label, scale, _ = _METRIC_FORMATS.get(metric, (metric, 1.0, -1))
            for i, row in enumerate(rows):
                values = [v[metric] * scale for v in row.get("runs", {}).values() if metric in v]
                if not values:
                    continue
                ax.bar(i, row["mean"][metric] * scale, color="tab:blue", alpha=0.35,
                       yerr=row["std"].get(metric, 0.0) * scale, capsize=3)
                ax.scatter([i] * len(values), values, color="tab:blue", s=12, zorder=3)
            ax.set_xticks(range(len(rows)))
            ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
            ax.set_title(label, fontsize=10)
            ax.grid(axis="y", alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    return _save_figure(figure, path)
