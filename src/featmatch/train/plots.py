"""Pictures of a run: sample grids and scatter/line plots, losses and balance over time.

Figures are drawn on ``matplotlib.figure.Figure`` objects directly (Agg rendering, no
pyplot, no global state), image grids with numpy and Pillow. Every file is written
atomically: to a temporary file in the same folder, then moved into place.

Example:
    >>> import torch, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> save_samples(torch.rand(16, 1, 8, 8) * 2 - 1, "image", folder / "grid.png").name
    'grid.png'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from featmatch._io import atomic_path

__all__ = ["new_figure", "plot_balance", "plot_history", "save_figure", "save_samples"]

KINDS = ("image", "points", "sequence")

# Image grids: each cell is upscaled (nearest neighbour) to at least this many pixels,
# so 8x8 digits are visible; with a gap of this many pixels between cells.
_MIN_CELL_PIXELS = 64
_GAP_PIXELS = 2
# Image grids: the title is drawn in a band of this height above the grid (and kept as PNG text).
_TITLE_PIXELS = 20
# Sequences: at most this many examples, as small multiples.
_MAX_SEQUENCES = 16

# Colours of shaded episodes in the balance figure.
_EPISODE_COLOURS = {"d_dominates": "tab:red", "collapse": "tab:orange", "non_finite": "tab:gray"}
_EPISODE_LABELS = {"d_dominates": "D dominates", "collapse": "collapse", "non_finite": "NaN/Inf"}


def save_samples(
    samples: Tensor,
    kind: str,
    path: Path,
    *,
    centres: Tensor | None = None,
    title: str | None = None,
) -> Path:
    """Saves a picture of generated (or real) samples.

    Args:
        samples: ``"image"``: ``(N, C, H, W)`` in ``[-1, 1]`` with C 1 or 3, drawn as a
            grid of about sqrt(N) columns; small images are upscaled (nearest) so each
            cell is at least 64 pixels. Values outside ``[-1, 1]`` are clipped and
            non-finite values drawn black, so a diverged run still leaves a picture.
            ``"points"``: ``(N, 2)``, a scatter plot. ``"sequence"``: ``(N, C, T)`` (or
            ``(N, T)``), line plots of the first 16 examples in small multiples, one
            line per channel.
        kind: ``"image"``, ``"points"`` or ``"sequence"`` (a data set's ``kind``).
        path: Output file; its suffix picks the format (``.png`` recommended). Parent
            folders are created.
        centres: ``"points"`` only: the true mode centres ``(K, 2)``, drawn as markers.
        title: A title above the plot; image grids get it in a band above the cells (where
            it cannot hide behind them) and as the PNG's ``Title`` text entry.

    Returns:
        ``path``.

    Raises:
        ValueError: If ``kind`` is unknown or ``samples`` / ``centres`` has the wrong shape.
        TypeError: If ``samples`` is not a Tensor.

    Example:
        >>> import torch, tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "points.png"
        >>> save_samples(torch.randn(100, 2), "points", out, centres=torch.zeros(1, 2)) == out
        True
    """
    if not isinstance(samples, Tensor):
        raise TypeError(f"samples must be a torch.Tensor, got {type(samples).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}; hint: pass the data set's .kind")
    if samples.shape[0] == 0:
        raise ValueError(f"samples must hold at least one sample, got shape {tuple(samples.shape)}")
    path = Path(path)
    data = samples.detach().to("cpu", torch.float32)
    if kind == "image":
        return _save_image_grid(data, path, title)
    if kind == "points":
        return _save_points(data, path, centres, title)
    return _save_sequences(data, path, title)


def plot_history(history: list[dict[str, Any]], path: Path, keys: Sequence[str] | None = None) -> Path:
    """Plots logged scalars over steps: one panel per prefix (``loss/``, ``fm/``, ...).

    Args:
        history: Rows of ``metrics.jsonl``: dicts with ``step`` and scalars. Missing keys,
            ``None`` and non-finite values are skipped; rows without ``step`` use their index.
        path: Output file (``.png``).
        keys: Scalars to plot; default: every key starting with ``loss/`` or ``fm/``.

    Returns:
        ``path``. With nothing to plot the figure says so instead of failing.

    Example:
        >>> import tempfile, pathlib
        >>> rows = [{"step": s, "loss/d": 1.0 / (s + 1), "loss/g_fm": 0.1} for s in range(10)]
        >>> plot_history(rows, pathlib.Path(tempfile.mkdtemp()) / "losses.png").suffix
        '.png'
    """
    _check_history(history)
    if keys is None:
        keys = [k for k in _keys_in(history) if k.startswith(("loss/", "fm/"))]
    elif isinstance(keys, str):
        raise TypeError(f"keys must be a sequence of names, got the string {keys!r}; hint: keys=[{keys!r}]")
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.split("/", 1)[0] if "/" in key else key, []).append(key)
    # Only panels that have at least one value to show.
    groups = {g: ks for g, ks in groups.items() if any(_series(history, k)[1].size for k in ks)}
    titles = {"loss": "losses", "fm": "feature-matching terms per layer", "eval": "evaluation metrics"}

    figure = new_figure(width=7.0, height=max(2.6 * len(groups), 2.6))
    if not groups:
        _no_data(figure.add_subplot(1, 1, 1), "no logged losses")
    else:
        axes = figure.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
        for ax, (group, group_keys) in zip(axes, groups.items(), strict=True):
            for key in group_keys:
                steps, values = _series(history, key)
                if values.size:
                    ax.plot(steps, values, label=key, linewidth=1.2, marker="." if values.size < 30 else None)
            ax.set_title(titles.get(group, group), fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="best")
        axes[-1].set_xlabel("step")
    figure.tight_layout()
    return save_figure(figure, Path(path))


def plot_balance(history: list[dict[str, Any]], episodes: list[dict[str, Any]], path: Path) -> Path:
    """Plots the balance of the game, with the monitor's episodes shaded.

    Top panel: ``d/real_prob`` (D(x)), ``d/fake_prob`` (D(G(z))) and ``d/accuracy``;
    bottom panel: ``grad/g`` and ``grad/d`` on a log scale. Each episode of
    :attr:`featmatch.train.monitor.BalanceMonitor.episodes` is shaded from its
    ``start_step`` to its ``end_step`` (or the last step, if ongoing).

    Args:
        history: Rows of ``metrics.jsonl`` (missing keys are skipped).
        episodes: The monitor's episodes (``kind``, ``start_step``, ``end_step``).
        path: Output file (``.png``).

    Returns:
        ``path``.

    Example:
        >>> import tempfile, pathlib
        >>> rows = [{"step": s, "d/real_prob": 0.6, "d/fake_prob": 0.4, "grad/g": 1.0} for s in range(10)]
        >>> episodes = [{"kind": "d_dominates", "start_step": 3, "end_step": None}]
        >>> plot_balance(rows, episodes, pathlib.Path(tempfile.mkdtemp()) / "balance.png").name
        'balance.png'
    """
    _check_history(history)
    if not isinstance(episodes, list):
        raise TypeError(f"episodes must be a list of dicts (BalanceMonitor.episodes), got {type(episodes).__name__}")
    last_step = max((float(s) for s in (_series(history, "step")[1])), default=0.0)
    for episode in episodes:
        last_step = max(last_step, float(episode.get("end_step") or episode.get("start_step") or 0))

    figure = new_figure(width=7.0, height=5.6)
    prob_ax, grad_ax = figure.subplots(2, 1, sharex=True)
    labels = {"d/real_prob": "D(x)", "d/fake_prob": "D(G(z))", "d/accuracy": "D accuracy"}
    plotted = False
    for key, label in labels.items():
        steps, values = _series(history, key)
        if values.size:
            prob_ax.plot(steps, values, label=label, linewidth=1.2)
            plotted = True
    prob_ax.set_ylim(-0.03, 1.03)
    prob_ax.axhline(0.5, color="black", linewidth=0.6, alpha=0.4)
    prob_ax.set_title("discriminator: probabilities and accuracy", fontsize=10)
    for key in ("grad/g", "grad/d"):
        steps, values = _series(history, key)
        positive = values > 0  # a log axis cannot show zeros
        if positive.any():
            grad_ax.plot(steps[positive], values[positive], label=f"{key} (norm)", linewidth=1.2)
            grad_ax.set_yscale("log")
            plotted = True
    grad_ax.set_title("gradient norms", fontsize=10)
    grad_ax.set_xlabel("step")
    if not plotted:
        _no_data(prob_ax, "no balance scalars logged")

    shaded: set[str] = set()
    for episode in episodes:
        kind = str(episode.get("kind", ""))
        start = episode.get("start_step")
        if start is None:
            continue
        end = episode.get("end_step")
        end = last_step if end is None else end
        end = max(float(end), float(start) + max(0.5, 0.005 * last_step))  # a one-step episode stays visible
        colour = _EPISODE_COLOURS.get(kind, "tab:purple")
        for ax in (prob_ax, grad_ax):
            span_label = _EPISODE_LABELS.get(kind, kind) if ax is prob_ax and kind not in shaded else None
            ax.axvspan(float(start), end, color=colour, alpha=0.18, label=span_label, linewidth=0)
        shaded.add(kind)
    for ax in (prob_ax, grad_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    figure.tight_layout()
    return save_figure(figure, Path(path))


# ----------------------------------------------------------------------------- samples


def _save_image_grid(images: Tensor, path: Path, title: str | None) -> Path:
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"samples of kind 'image' must have shape (N, C, H, W) with C 1 or 3, got {tuple(images.shape)}; "
            "hint: add a channel dimension with samples.unsqueeze(1)"
        )
    from PIL import Image, PngImagePlugin  # optional dependency (pillow, the train extra's)

    n, channels, height, width = images.shape
    clamped = torch.nan_to_num(images, nan=-1.0, posinf=1.0, neginf=-1.0).clamp(-1.0, 1.0)
    pixels = ((clamped + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    scale = max(1, math.ceil(_MIN_CELL_PIXELS / max(height, width)))
    pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)  # (N, H*s, W*s, C), nearest neighbour
    cell_h, cell_w = height * scale, width * scale
    columns = math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    # Mid-grey background separates the cells of both dark and light images.
    grid = np.full(
        (rows * (cell_h + _GAP_PIXELS) + _GAP_PIXELS, columns * (cell_w + _GAP_PIXELS) + _GAP_PIXELS, channels),
        128,
        dtype=np.uint8,
    )
    for index in range(n):
        top = _GAP_PIXELS + (index // columns) * (cell_h + _GAP_PIXELS)
        left = _GAP_PIXELS + (index % columns) * (cell_w + _GAP_PIXELS)
        grid[top : top + cell_h, left : left + cell_w] = pixels[index]
    image = Image.fromarray(grid[:, :, 0] if channels == 1 else grid)  # uint8: "L" or "RGB"
    if title:
        image = _with_title_band(image, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".png":
            info = PngImagePlugin.PngInfo()
            if title:
                info.add_text("Title", title)
            image.save(tmp, format="PNG", pnginfo=info)
        else:
            image.save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    return path


def _with_title_band(image: Any, title: str) -> Any:
    """``image`` below a white band of ``_TITLE_PIXELS`` rows holding ``title`` in black (cut to fit)."""
    from PIL import Image, ImageDraw, ImageFont  # optional dependency (pillow, the train extra's)

    banded = Image.new(image.mode, (image.width, image.height + _TITLE_PIXELS), "white")
    banded.paste(image, (0, _TITLE_PIXELS))
    font = ImageFont.load_default()
    text = title
    while text and ImageDraw.Draw(banded).textlength(text, font=font) > image.width - 4:
        text = text[:-2] + "…"  # a narrow grid: shorten rather than draw past its edge
    ImageDraw.Draw(banded).text((2, 3), text, fill="black", font=font)
    return banded


def _save_points(points: Tensor, path: Path, centres: Tensor | None, title: str | None) -> Path:
    if points.dim() != 2 or points.shape[1] != 2:
        raise ValueError(
            f"samples of kind 'points' must have shape (N, 2), got {tuple(points.shape)}; "
            "hint: only 2-D point data can be drawn as a scatter plot"
        )
    if centres is not None:
        if not isinstance(centres, Tensor) or centres.dim() != 2 or centres.shape[1] != 2:
            shape = tuple(centres.shape) if isinstance(centres, Tensor) else type(centres).__name__
            raise ValueError(f"centres must be a Tensor of shape (K, 2), got {shape}")
        centres = centres.detach().to("cpu", torch.float32)
    xy = points.numpy()
    figure = new_figure(width=5.0, height=5.0)
    ax = figure.add_subplot(1, 1, 1)
    ax.scatter(xy[:, 0], xy[:, 1], s=6, alpha=0.5, color="tab:blue", linewidths=0, label=f"samples ({len(xy)})")
    if centres is not None:
        c = centres.numpy()
        ax.scatter(c[:, 0], c[:, 1], s=90, marker="x", color="tab:red", linewidths=2, label="true centres")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    if title:
        ax.set_title(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def _save_sequences(sequences: Tensor, path: Path, title: str | None) -> Path:
    if sequences.dim() == 2:
        sequences = sequences.unsqueeze(1)  # (N, T) -> (N, 1, T)
    if sequences.dim() != 3:
        raise ValueError(
            f"samples of kind 'sequence' must have shape (N, C, T) or (N, T), got {tuple(sequences.shape)}"
        )
    shown = sequences[:_MAX_SEQUENCES].numpy()  # (n, C, T)
    n, channels, length = shown.shape
    columns = min(4, n)
    rows = math.ceil(n / columns)
    figure = new_figure(width=2.4 * columns + 0.4, height=1.6 * rows + (0.5 if title else 0.2))
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    t = np.arange(length)
    for index, ax in enumerate(axes.flat):
        if index >= n:
            ax.set_visible(False)
            continue
        for channel in range(channels):
            ax.plot(t, shown[index, channel], linewidth=1.0)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


# ----------------------------------------------------------------------------- helpers


def new_figure(width: float, height: float) -> Any:
    """A blank ``matplotlib.figure.Figure`` of ``width`` x ``height`` inches at 100 dpi, outside pyplot.

    For pictures drawn beside featmatch's own (``featmatch compare``'s ``comparison.png``);
    write it with :func:`save_figure`. No pyplot state is touched, so it is safe in threads
    and in scripts that use pyplot themselves.

    Raises:
        ImportError: matplotlib is not installed (it comes with ``featmatch[train]``).

    Example:
        >>> import pathlib, tempfile
        >>> figure = new_figure(4.0, 3.0)
        >>> _ = figure.add_subplot().plot([0, 1], [1, 0])
        >>> save_figure(figure, pathlib.Path(tempfile.mkdtemp()) / "line.png").suffix
        '.png'
    """
    try:
        from matplotlib.figure import Figure  # optional dependency (matplotlib, the train extra's)
    except ImportError as err:  # pragma: no cover - matplotlib is in the train extra
        raise ImportError("plots need matplotlib; install it with: pip install 'featmatch[train]'") from err
    return Figure(figsize=(width, height), dpi=100)


def save_figure(figure: Any, path: str | Path) -> Path:
    """Render ``figure`` with Agg and write it to ``path`` atomically; return the path.

    The format follows the suffix (``.png`` when there is none); missing folders are made. A
    figure without a layout gets ``tight_layout``, so that no label or title is cut off.

    Example:
        >>> save_figure(new_figure(4.0, 3.0), "plot.png")  # doctest: +SKIP
        PosixPath('plot.png')
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # optional dependency (matplotlib)

    path = Path(path)
    FigureCanvasAgg(figure)  # Agg rendering for this figure only; no pyplot state
    if figure.get_layout_engine() is None:
        # A figure laid out by nobody cuts its axis labels and titles off at the edges.
        figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=(path.suffix.lstrip(".").lower() or "png"))
    return path


def _check_history(history: object) -> None:
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise TypeError(f"history must be a list of dicts (rows of metrics.jsonl), got {type(history).__name__}")


def _keys_in(history: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}  # ordered set
    for row in history:
        keys.update(dict.fromkeys(row))
    return list(keys)


def _series(history: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and finite values of ``key`` over the rows that have it."""
    steps, values = [], []
    for index, row in enumerate(history):
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        step = row.get("step", index)
        steps.append(float(step) if isinstance(step, (int, float)) else float(index))
        values.append(float(value))
    return np.asarray(steps), np.asarray(values)


def _no_data(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="gray")
