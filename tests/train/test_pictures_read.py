"""Pictures that read (issue 25): titles shown, not hidden; axis labels inside the picture;
comparison thumbnails near their own size; each task's metrics under their own heading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from featmatch.train.plots import new_figure, save_figure, save_samples
from featmatch.train.report import write_report
from featmatch.train.sweep import RunResult, plot_comparison, summarize
from featmatch.train.tasks import TASKS, Task


def test_an_image_grid_shows_its_title(tmp_path):
    images = torch.zeros(4, 1, 8, 8)
    without = Image.open(save_samples(images, "image", tmp_path / "a.png"))
    titled = Image.open(save_samples(images, "image", tmp_path / "b.png", title="step 4000"))
    assert titled.size[1] > without.size[1] and titled.info["Title"] == "step 4000"
    band = np.asarray(titled)[: titled.size[1] - without.size[1]]
    assert (band < 100).any()  # the text is drawn, above the cells, not behind them
    assert np.array_equal(np.asarray(titled)[band.shape[0]:], np.asarray(without))


def test_a_figure_saved_without_a_layout_keeps_its_labels_inside(tmp_path):
    figure = new_figure(5.0, 3.0)  # as semi's test_error.png: no tight_layout called
    ax = figure.add_subplot(1, 1, 1)
    ax.plot([10, 20, 30], [0.3, 0.2, 0.125], marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("test error")
    save_figure(figure, tmp_path / "f.png")
    renderer = figure.canvas.get_renderer()
    width, height = figure.bbox.width, figure.bbox.height
    for label in (ax.xaxis.label, ax.yaxis.label):
        box = label.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height, label.get_text()


def test_comparison_thumbnails_are_near_their_own_size(tmp_path):
    grid = save_samples(torch.rand(64, 1, 8, 8) * 2 - 1, "image", tmp_path / "s.png", title="step 10")
    native = Image.open(grid).size[0]  # 8 x 8 digits of 64 px: 530 px
    runs = [RunResult(name, 0, tmp_path, "done", {"frechet_distance": 1.0}, samples=grid) for name in ("a", "b", "c")]
    summary = summarize(runs, ["a", "b", "c"], {})
    path = plot_comparison(runs, summary, tmp_path / "comparison.png")
    figure_width = Image.open(path).size[0]
    assert figure_width >= 3 * 0.9 * native  # three thumbnails, each about its own width


def test_each_task_files_its_metrics_under_its_own_heading(tmp_path):
    assert Task.metrics_title == "Evaluation of generated samples"  # what generation's metrics are
    for name, cls in TASKS.items():
        if name != "generation":
            assert cls.metrics_title != Task.metrics_title, name
    early = TASKS["early"].metrics_title
    text = write_report(tmp_path, summary={"metrics": {"accuracy_auc": 0.6}}, history=[], episodes=[],
                        sample_paths=[], metrics_title=early).read_text()
    assert f"{early}:" in text and "generated samples" not in text
