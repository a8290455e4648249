"""A sweep's results: collected from its run directories, summarised over seeds, as tables and a picture.

Example:
    >>> format_cell({"n": 2, "mean": {"high_quality": 0.925}, "std": {"high_quality": 0.005}}, "high_quality")
    '92.5 ± 0.5'
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from featmatch.train.plots import new_figure, save_figure
from featmatch.train.sweep_runs import _finished

__all__ = [
    "RunResult",
    "collect_results",
    "format_cell",
    "format_table",
    "metric_curves",
    "plot_comparison",
    "summarize",
]

log = logging.getLogger("featmatch")

# How the known metrics read in the table: (label, scale, decimals). Others: 4 significant digits.
_METRIC_FORMATS: dict[str, tuple[str, float, int]] = {
    "modes_covered": ("modes", 1.0, 1),
    "high_quality": ("% high quality", 100.0, 1),
    "reverse_kl": ("reverse KL", 1.0, 3),
    "wall_time_sec": ("time (s)", 1.0, 0),
}
# The metrics drawn in comparison.png, when present (else the first metrics found).
_MAIN_METRICS = ("modes_covered", "high_quality", "frechet_distance", "classes_covered")


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
