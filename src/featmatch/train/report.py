"""The run report: ``report.md`` with plots, samples, final metrics, config and diagnosis.

``write_report`` is called once at the end of a run. It draws ``losses.png`` and
``balance.png`` into the run directory and writes ``report.md`` next to them, with
relative image links, so the folder can be moved or browsed on GitHub as it is.

Example:
    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"step": 50, "loss/d": 1.3, "d/real_prob": 0.6, "d/fake_prob": 0.4}]
    >>> path = write_report(run, summary={"wall_time_sec": 3.2}, history=rows, episodes=[], sample_paths=[])
    >>> "no imbalance detected" in path.read_text()
    True
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from featmatch._io import atomic_write_text
from featmatch.train.plots import plot_balance, plot_history

__all__ = ["METRIC_NOTES", "write_report"]

LOSSES_PNG = "losses.png"
BALANCE_PNG = "balance.png"
REPORT_MD = "report.md"

# Sample pictures shown inline (the latest ones); earlier ones are listed as links.
_INLINE_SAMPLES = 4
# Summary entries with their own section (or the ones the report does not repeat).
_SECTIONED = {"config", "metrics", "episodes", "final", "samples", "stopped", "nonfinite", "rollbacks"}
_EPISODE_NAMES = {"d_dominates": "D dominates", "collapse": "collapse", "non_finite": "NaN/Inf"}

#: One line per metric: what its number says (shown beside it under "Final metrics").
METRIC_NOTES: dict[str, str] = {
    "frechet_distance": "Frechet distance of generated to real test samples in the metric classifier's features "
    "(lower is better); in brackets the same for as many real training samples: the floor a perfect generator reaches",
    "classes_covered": "classes the metric classifier recognises with confidence >= 0.9 in at least one "
    "generated sample",
    "class_kl": "KL divergence (nats) of the generated class histogram from the real one: 0 = the real proportions, "
    "log K = one class only",
    "precision": "share of generated samples inside the real samples' k-nearest-neighbour manifold (quality)",
    "recall": "share of real test samples inside the generated samples' manifold (diversity)",
    "metric_classifier_accuracy": "the metric classifier's own accuracy on the real test split: how far to trust "
    "the rows above (it does not judge the generated samples)",
    "modes_covered": "mixture components with at least one high-quality sample (of the protocol's modes)",
    "high_quality": "share of samples within 3 standard deviations of a mixture component",
    "reverse_kl": "KL divergence (nats) of the samples' mode histogram from the uniform one",
    "test_error": "fraction of the test split that D's moving average misclassifies",
    "test_errors": "the same, as a count of test examples",
    "reconstruction_l1": "mean |G(condition) - target| on the test pairs (lower is better)",
    "class_accuracy": "share of generated targets the domain classifier gives the pair's class",
    "accuracy_auc": "the student's mean test accuracy over the observed fractions r = 0.1 ... 1",
    "earliness": "mean fraction observed when the stopping rule decides (lower is earlier)",
    "accuracy_at_stop": "test accuracy of the decisions taken where the stopping rule stops",
    "harmonic_mean": "harmonic mean of accuracy_at_stop and 1 - earliness (the field's combined figure)",
}
# Shown within another row, or an old name kept for one release: not a row of their own.
_FOLDED = {"frechet_distance_real", "classifier_accuracy"}


def write_report(
    run_dir: Path,
    *,
    summary: dict[str, Any],
    history: list[dict[str, Any]],
    episodes: list[dict[str, Any]],
    sample_paths: list[Path],
    extra_sections: Sequence[str] = (),
    metrics_title: str = "Evaluation of generated samples",
    real_samples: Path | None = None,
) -> Path:
    """Writes ``losses.png``, ``balance.png`` and ``report.md`` into ``run_dir``.

    Args:
        run_dir: The run directory (created if missing).
        summary: What ``summary.json`` holds. Used: ``config`` (shown as YAML),
            ``metrics`` (evaluation metrics such as ``frechet_distance`` or
            ``modes_covered``), ``wall_time_sec``,
            ``final`` (used when ``history`` is empty), and every other top-level
            number, string or bool (a "run" table).
        history: Rows of ``metrics.jsonl`` (``step``, ``loss/d``, ``loss/g_adv``,
            ``loss/g_fm``, ``fm/<layer>``, ``d/real_prob``, ...); missing keys are fine.
        episodes: :attr:`featmatch.train.monitor.BalanceMonitor.episodes`.
        sample_paths: Sample pictures, oldest first; linked relative to ``run_dir``.
        extra_sections: Markdown sections of the run's task (``Task.report_sections``), shown
            after the samples.
        metrics_title: What ``summary["metrics"]`` measure, the line above their table under
            "Final metrics" (the run's ``Task.metrics_title``).
        real_samples: A picture of real samples drawn as the generated ones
            (``samples/real.png``), shown beside the latest of them; ``None``: none.

    Returns:
        The path of ``report.md`` (written atomically: temporary file, then ``os.replace``).

    Raises:
        TypeError: If an argument has the wrong type.

    Example:
        >>> import tempfile, pathlib
        >>> run = pathlib.Path(tempfile.mkdtemp())
        >>> episodes = [{"kind": "d_dominates", "start_step": 120, "alert_step": 170, "end_step": None,
        ...              "peak": {"loss/d": 0.01}, "message": "D wins", "suggestion": "raise --fm-weight"}]
        >>> text = write_report(run, summary={"metrics": {"modes_covered": 8}}, history=[],
        ...                     episodes=episodes, sample_paths=[]).read_text()
        >>> "| D dominates | 120 – (ongoing) |" in text
        True
    """  # noqa: RUF002 - the example holds the report's own en dash
    if not isinstance(summary, Mapping):
        raise TypeError(f"summary must be a dict (what summary.json holds), got {type(summary).__name__}")
    if not isinstance(history, list):
        raise TypeError(f"history must be a list of dicts (rows of metrics.jsonl), got {type(history).__name__}")
    if not isinstance(episodes, list):
        raise TypeError(f"episodes must be a list of dicts (BalanceMonitor.episodes), got {type(episodes).__name__}")
    if isinstance(sample_paths, (str, Path)) or not isinstance(sample_paths, Sequence):
        raise TypeError(
            f"sample_paths must be a list of paths, got {type(sample_paths).__name__}; "
            "hint: [Path('samples/step_000100.png')]"
        )
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plot_history(history, run_dir / LOSSES_PNG)
    plot_balance(history, episodes, run_dir / BALANCE_PNG)

    sections = [
        _header(run_dir, summary),
        _diagnosis(episodes),
        _samples(run_dir, [Path(p) for p in sample_paths], None if real_samples is None else Path(real_samples)),
        *extra_sections,
        "## Losses and balance\n\n"
        f"![losses over steps]({LOSSES_PNG})\n\n"
        f"![balance over steps, monitor episodes shaded]({BALANCE_PNG})\n",
        _final_metrics(summary, history, metrics_title),
        _run_table(summary),
        _configuration(summary),
    ]
    text = "\n".join(s for s in sections if s)
    path = run_dir / REPORT_MD
    atomic_write_text(path, text)
    return path


# ----------------------------------------------------------------------------- sections


def _header(run_dir: Path, summary: Mapping[str, Any]) -> str:
    lines = [f"# Run report: {run_dir.resolve().name}", ""]
    facts = []
    steps = summary.get("steps")
    if steps is not None:
        target = summary.get("target_steps")
        facts.append(f"{steps} steps" + (f" of {target}" if target is not None and target != steps else ""))
    wall = summary.get("wall_time_sec")
    if isinstance(wall, (int, float)):
        facts.append(f"wall time {_duration(float(wall))}")
    for key in ("device", "family"):
        if summary.get(key):
            facts.append(f"{key} {summary[key]}")
    if summary.get("interrupted"):
        facts.append("**interrupted** (resume with `featmatch train --resume` on this directory)")
    if facts:
        lines.append(", ".join(facts) + ".")
        lines.append("")
    stopped = summary.get("stopped")
    if isinstance(stopped, Mapping):
        lines += [f"**Stopped on non-finite values.** {stopped.get('message', '')}", ""]
    rollbacks = summary.get("rollbacks")
    if isinstance(rollbacks, list) and rollbacks:
        lines += [
            f"**Rolled back {len(rollbacks)} time(s)** on non-finite values "
            "(`--on-nonfinite rollback`; the data order was reshuffled after each):",
            "",
        ]
        lines += [
            f"- step {r.get('from_step')} -> step {r.get('to_step')}: {r.get('reason', '')}"
            for r in rollbacks
            if isinstance(r, Mapping)
        ]
        lines.append("")
    return "\n".join(lines)


def _diagnosis(episodes: list[dict[str, Any]]) -> str:
    lines = ["## Diagnosis", ""]
    if not episodes:
        lines.append(
            "The balance monitor saw no discriminator dominance, collapse or NaN/Inf: **no imbalance detected**."
        )
        return "\n".join(lines) + "\n"
    ongoing = [e for e in episodes if e.get("end_step") is None]
    lines.append(
        f"The balance monitor recorded {len(episodes)} episode(s)"
        + (f", {len(ongoing)} still ongoing at the end of the run." if ongoing else ", all of them ended.")
    )
    lines += ["", "| episode | steps | peak | what was seen | suggestion |", "|---|---|---|---|---|"]
    for episode in episodes:
        kind = str(episode.get("kind", "?"))
        start, end = episode.get("start_step"), episode.get("end_step")
        steps = f"{_fmt(start)} – {'(ongoing)' if end is None else _fmt(end)}"  # noqa: RUF001 - a range: en dash
        peak = episode.get("peak") or {}
        peak_text = ", ".join(f"{k} {_fmt(v)}" for k, v in peak.items()) if isinstance(peak, Mapping) else _fmt(peak)
        message, suggestion = episode.get("message", ""), episode.get("suggestion", "")
        cells = [_EPISODE_NAMES.get(kind, kind), steps, peak_text, message, suggestion]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _samples(run_dir: Path, paths: list[Path], real: Path | None = None) -> str:
    lines = ["## Samples", ""]
    if not paths:
        lines.append("No samples were saved.")
        return "\n".join(lines) + "\n"
    shown, listed = paths[-_INLINE_SAMPLES:], paths[:-_INLINE_SAMPLES]
    latest, earlier = shown[-1], list(reversed(shown[:-1]))
    if real is not None:
        # The latest samples beside real ones, drawn the same way: the scale to judge them by.
        lines += [
            f"| generated, {latest.stem} | real training samples |",
            "|---|---|",
            f"| ![{latest.stem}]({_link(run_dir, latest)}) | ![real samples]({_link(run_dir, real)}) |",
            "",
        ]
    else:
        earlier.insert(0, latest)
    for path in earlier:  # latest first
        link = _link(run_dir, path)
        lines += [f"**{path.stem}**", "", f"![{path.stem}]({link})", ""]
    if listed:
        lines.append("Earlier samples: " + ", ".join(f"[{p.stem}]({_link(run_dir, p)})" for p in listed) + ".")
        lines.append("")
    return "\n".join(lines)


def _final_metrics(summary: Mapping[str, Any], history: list[dict[str, Any]], title: str) -> str:
    lines = ["## Final metrics", ""]
    metrics = summary.get("metrics")
    if isinstance(metrics, Mapping) and metrics:
        flat = _flatten(metrics)
        lines += [f"{title}:", "", "| metric | value | what it says |", "|---|---|---|"]
        for key, value in flat.items():
            if key in _FOLDED:
                continue
            text = _fmt(value)
            if key == "frechet_distance" and isinstance(flat.get("frechet_distance_real"), (int, float)):
                text += f" (real data: {_fmt(flat['frechet_distance_real'])})"
            note = METRIC_NOTES.get(key, "accuracy with that fraction observed" if key.startswith("accuracy@") else "")
            lines.append(f"| {_cell(key)} | {_cell(text)} | {_cell(note)} |")
        lines.append("")
    final = dict(history[-1]) if history else dict(summary.get("final") or {})
    step = final.pop("step", None)
    final = {k: v for k, v in final.items() if not str(k).startswith("eval/")}
    if final:
        where = f" (last logged step, {step})" if step is not None else " (last logged step)"
        lines += [f"Training scalars{where}:", "", "| scalar | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(_fmt(v))} |" for k, v in _flatten(final).items()]
        lines.append("")
    if len(lines) == 2:
        lines += ["No metrics were recorded.", ""]
    return "\n".join(lines)


def _run_table(summary: Mapping[str, Any]) -> str:
    rows = {
        k: v
        for k, v in summary.items()
        if k not in _SECTIONED and (v is None or isinstance(v, (bool, int, float, str)))
    }
    if not rows:
        return ""
    lines = ["## Run", "", "| entry | value |", "|---|---|"]
    for key, value in rows.items():
        text = _duration(float(value)) if key == "wall_time_sec" and isinstance(value, (int, float)) else _fmt(value)
        lines.append(f"| {_cell(key)} | {_cell(text)} |")
    return "\n".join(lines) + "\n"


def _configuration(summary: Mapping[str, Any]) -> str:
    config = summary.get("config")
    lines = ["## Configuration", ""]
    if config is None:
        lines.append("No configuration was recorded.")
        return "\n".join(lines) + "\n"
    plain = _plain(config)
    try:
        import yaml  # optional dependency (pyyaml, the train extra's)

        body, language = yaml.safe_dump(plain, sort_keys=False, default_flow_style=False, allow_unicode=True), "yaml"
    except ImportError:  # pragma: no cover - pyyaml is in the train extra
        body, language = json.dumps(plain, indent=2, default=str) + "\n", "json"
    lines += [
        "<details><summary>configuration of this run (as in config.yaml)</summary>",
        "",
        f"```{language}",
        body.rstrip("\n"),
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- helpers


def _link(run_dir: Path, path: Path) -> str:
    """A relative link in POSIX form, in angle brackets when it holds spaces."""
    # A relative path that does not exist from here is taken as relative to the run directory.
    target = path
    if not path.is_absolute() and not path.exists():
        target = run_dir / path
    try:
        rel = Path(os.path.relpath(target.resolve(), run_dir.resolve())).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        rel = target.resolve().as_posix()
    return f"<{rel}>" if any(c in rel for c in " ()") else rel


def _fmt(value: Any) -> str:
    if value is None:
        return "–"  # noqa: RUF001 - the report's mark for "no value", an en dash on purpose
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, prefix=f"{name}/"))
        else:
            out[name] = value
    return out


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s ({datetime.timedelta(seconds=round(seconds))})"


def _plain(value: Any) -> Any:
    """Plain YAML-safe types: dicts, lists, str, numbers, bools, None."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)
