"""Tests of the sample pictures and the history/balance figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from featmatch.train.plots import plot_balance, plot_history, save_samples


def open_png(path: Path) -> Image.Image:
    assert path.is_file()
    image = Image.open(path)
    image.load()  # fails on a truncated file
    assert image.format == "PNG"
    return image


def test_image_grid_layout_upscaling_and_values(tmp_path: Path) -> None:
    # 10 images of 8x8: 4 columns x 3 rows of 64x64 cells (x8 nearest), 2-pixel gaps.
    images = torch.linspace(-1, 1, 10).reshape(10, 1, 1, 1).expand(10, 1, 8, 8).clone()
    images[3, 0, 0, 0] = 5.0  # clipped to white
    images[4, 0, 0, 0] = float("nan")  # drawn black
    path = save_samples(images, "image", tmp_path / "sub" / "grid.png", title="step 10")
    assert path == tmp_path / "sub" / "grid.png"
    image = open_png(path)
    band = 20  # the title's band above the cells
    assert image.size == (4 * 66 + 2, band + 3 * 66 + 2) and image.mode == "L"
    assert image.info["Title"] == "step 10"
    pixels = np.asarray(image)
    assert (pixels[:band] < 100).any() and (pixels[:band] == 255).mean() > 0.8  # dark text on white
    pixels = pixels[band:]
    expected = np.round((np.linspace(-1, 1, 10) + 1) * 127.5).astype(np.uint8)
    for index in range(10):
        top, left = 2 + (index // 4) * 66, 2 + (index % 4) * 66
        cell = pixels[top : top + 64, left : left + 64]
        if index == 3:
            assert (cell[:8, :8] == 255).all()  # the clipped pixel, upscaled to 8x8
            assert (cell[8:, 8:] == expected[3]).all()
        elif index == 4:
            assert (cell[:8, :8] == 0).all()
        else:
            assert (cell == expected[index]).all(), index
    assert (pixels[0, :] == 128).all()  # grey gap
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind


def test_image_grid_rgb_keeps_channels(tmp_path: Path) -> None:
    images = -torch.ones(4, 3, 32, 32)
    images[:, 0] = 1.0  # pure red
    image = open_png(save_samples(images, "image", tmp_path / "rgb.png"))
    assert image.mode == "RGB" and image.size == (2 * 66 + 2, 2 * 66 + 2)  # 32x32 upscaled x2
    assert tuple(np.asarray(image)[10, 10]) == (255, 0, 0)


def test_points_and_sequences_make_sensible_pngs(tmp_path: Path) -> None:
    angles = torch.arange(8) * (2 * math.pi / 8)
    centres = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    points = centres[torch.randint(0, 8, (300,))] + 0.05 * torch.randn(300, 2)
    image = open_png(save_samples(points, "points", tmp_path / "points.png", centres=centres, title="ring"))
    assert image.size[0] >= 300 and image.size[1] >= 300
    assert np.asarray(image.convert("L")).std() > 5  # something is drawn
    sequences = torch.sin(torch.linspace(0, 6, 50)).expand(20, 2, 50)
    image = open_png(save_samples(sequences, "sequence", tmp_path / "seq.png"))
    assert image.size[0] >= 400 and image.size[1] >= 300
    open_png(save_samples(sequences[:3, 0], "sequence", tmp_path / "seq2d.png"))  # (N, T) accepted


@pytest.mark.parametrize(
    ("samples", "kind", "kwargs", "error", "match"),
    [
        (torch.zeros(4, 2), "video", {}, ValueError, r"kind must be one of \('image', 'points', 'sequence'\), got 'video'"),
        (torch.zeros(4, 2, 8, 8), "image", {}, ValueError, r"\(N, C, H, W\) with C 1 or 3, got \(4, 2, 8, 8\)"),
        (torch.zeros(4, 3), "points", {}, ValueError, r"'points' must have shape \(N, 2\), got \(4, 3\)"),
        (torch.zeros(4, 2), "points", {"centres": torch.zeros(3)}, ValueError, r"centres must be a Tensor of shape \(K, 2\)"),
        (torch.zeros(4, 1, 2, 3), "sequence", {}, ValueError, r"\(N, C, T\) or \(N, T\), got \(4, 1, 2, 3\)"),
        (np.zeros((4, 2)), "points", {}, TypeError, "samples must be a torch.Tensor, got ndarray"),
        (torch.zeros(0, 2), "points", {}, ValueError, "at least one sample"),
    ],
)
def test_save_samples_rejects_bad_input(tmp_path: Path, samples, kind, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        save_samples(samples, kind, tmp_path / "x.png", **kwargs)


def test_history_and_balance_tolerate_missing_keys(tmp_path: Path) -> None:
    # An FM-only run: no loss/g_adv, and rows missing other keys or holding non-finite values.
    history = [
        {"step": s, "loss/d": 1.3 - s / 1000, "loss/g_fm": 0.1 / (s + 1), "fm/block0": 0.05, "d/real_prob": 0.6}
        for s in range(0, 500, 10)
    ]
    history[3]["loss/d"] = float("nan")
    history.append({"step": 510, "grad/g": 0.0})  # zero gradient: not drawable on a log axis
    image = open_png(plot_history(history, tmp_path / "losses.png"))
    assert image.size[0] >= 500 and image.size[1] >= 300
    episodes = [
        {"kind": "d_dominates", "start_step": 100, "end_step": 200},
        {"kind": "non_finite", "start_step": 30, "end_step": 40},
        {"kind": "collapse", "start_step": 400, "end_step": None},
    ]
    image = open_png(plot_balance(history, episodes, tmp_path / "balance.png"))
    assert image.size[0] >= 500 and image.size[1] >= 400
    # Nothing at all to plot still gives a figure (it says so).
    open_png(plot_history([], tmp_path / "empty.png"))
    open_png(plot_balance([], [], tmp_path / "empty_balance.png"))
    open_png(plot_history(history, tmp_path / "chosen.png", keys=["loss/d", "missing/key"]))


def test_balance_shades_episodes(tmp_path: Path) -> None:
    # The shaded span is a vertical pink band (red at alpha 0.18 over white) through both
    # panels; its columns must cover the episode's steps, the right half of the axis.
    history = [{"step": s, "d/real_prob": 0.6, "d/fake_prob": 0.4} for s in range(0, 1001, 10)]
    episode = {"kind": "d_dominates", "start_step": 500, "end_step": 1000}
    pixels = np.asarray(Image.open(plot_balance(history, [episode], tmp_path / "a.png")).convert("RGB")).astype(int)
    pink = (np.abs(pixels - np.array([248, 216, 216])).max(axis=2) <= 6)  # (H, W)
    band = np.flatnonzero(pink.sum(axis=0) > 0.4 * pixels.shape[0])  # columns pink over most of the height
    assert band.size > 0.3 * pixels.shape[1]
    assert band.min() > 0.45 * pixels.shape[1]
    without = np.asarray(Image.open(plot_balance(history, [], tmp_path / "b.png")).convert("RGB")).astype(int)
    assert not (np.abs(without - np.array([248, 216, 216])).max(axis=2) <= 6).sum(axis=0).any()


def test_plot_inputs_are_checked(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="history must be a list of dicts"):
        plot_history({"loss/d": [1.0]}, tmp_path / "x.png")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="keys must be a sequence of names, got the string 'loss/d'"):
        plot_history([], tmp_path / "x.png", keys="loss/d")
    with pytest.raises(TypeError, match="episodes must be a list of dicts"):
        plot_balance([], {"kind": "collapse"}, tmp_path / "x.png")  # type: ignore[arg-type]
