"""Checkpoint files: atomic writes, weights_only loading, clear errors, fallback, pruning, RNG state."""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest
import torch

from featmatch.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    checkpoint_path,
    find_checkpoint,
    get_rng_state,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    prune_checkpoints,
    save_checkpoint,
    set_rng_state,
)


def _state(step: int) -> dict:
    return {"step": step, "weights": torch.full((3,), float(step)), "nested": {"a": [1, 2.5, "x", None]}}


def test_round_trip_with_weights_only_and_no_temporary_files(tmp_path):
    path = save_checkpoint(_state(4), checkpoint_path(tmp_path, 4))
    assert path.name == "step_00000004.pt"
    state = load_checkpoint(path, required=("weights",))
    assert state["format"] == CHECKPOINT_FORMAT and state["step"] == 4
    assert torch.equal(state["weights"], torch.full((3,), 4.0))
    assert state["nested"] == {"a": [1, 2.5, "x", None]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["step_00000004.pt"]
    # weights_only really is used: a file with a pickled function is refused.
    torch.save({"format": CHECKPOINT_FORMAT, "version": 1, "f": random.random}, path)
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        load_checkpoint(path)


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    path = save_checkpoint(_state(1), checkpoint_path(tmp_path, 1))
    before = path.read_bytes()

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint({"bad": Unpicklable()}, path)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"not a checkpoint at all", r"step_00000002.pt' is corrupt or unreadable"),
        (None, r"is not a featmatch checkpoint"),
    ],
)
def test_bad_files_give_errors_naming_the_file(tmp_path, content, pattern):
    path = checkpoint_path(tmp_path, 2)
    path.parent.mkdir(parents=True)
    if content is None:
        torch.save({"weights": torch.ones(1)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(path)


def test_missing_entries_and_newer_versions_are_errors(tmp_path):
    path = save_checkpoint(_state(1), checkpoint_path(tmp_path, 1))
    with pytest.raises(CheckpointError, match=r"lacks the entries \['generator'\]"):
        load_checkpoint(path, required=("weights", "generator"))
    torch.save({"format": CHECKPOINT_FORMAT, "version": 99}, path)
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(path)


def test_load_latest_falls_back_to_the_previous_good_checkpoint(tmp_path, caplog):
    save_checkpoint(_state(1), checkpoint_path(tmp_path, 1))
    save_checkpoint(_state(2), checkpoint_path(tmp_path, 2))
    checkpoint_path(tmp_path, 2).write_bytes(b"\x00garbage")
    applied = []
    with caplog.at_level(logging.WARNING, logger="featmatch"):
        state, path = load_latest(tmp_path, lambda s, p: applied.append(s["step"]))
    assert state["step"] == 1 and path == checkpoint_path(tmp_path, 1) and applied == [1]
    assert "step_00000002.pt" in caplog.text and "Falling back" in caplog.text
    # The bad file is kept aside (not deleted), so pruning can never remove the good one for it.
    assert (tmp_path / "checkpoints" / "step_00000002.pt.bad").is_file()
    assert list_checkpoints(tmp_path) == [checkpoint_path(tmp_path, 1)]


def test_load_latest_falls_back_when_applying_fails_and_errors_when_nothing_fits(tmp_path):
    save_checkpoint(_state(1), checkpoint_path(tmp_path, 1))
    save_checkpoint(_state(2), checkpoint_path(tmp_path, 2))

    def apply(state, path):
        if state["step"] == 2:
            raise RuntimeError("size mismatch for weight")

    state, _ = load_latest(tmp_path, apply)
    assert state["step"] == 1

    def never(state, path):
        raise KeyError("generator")

    with pytest.raises(CheckpointError, match=r"no usable checkpoint.*does not fit this run"):
        load_latest(tmp_path, never)
    with pytest.raises(CheckpointError, match="no checkpoints"):
        load_latest(tmp_path / "empty", never)


def test_prune_keeps_the_newest_and_find_checkpoint_picks_it(tmp_path):
    for step in (5, 10, 15, 20):
        save_checkpoint(_state(step), checkpoint_path(tmp_path, step))
    deleted = prune_checkpoints(tmp_path, 2)
    assert [p.name for p in deleted] == ["step_00000005.pt", "step_00000010.pt"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000015.pt", "step_00000020.pt"]
    assert find_checkpoint(tmp_path) == checkpoint_path(tmp_path, 20)
    assert find_checkpoint(checkpoint_path(tmp_path, 15)) == checkpoint_path(tmp_path, 15)
    with pytest.raises(CheckpointError, match="does not exist"):
        find_checkpoint(tmp_path / "nope.pt")


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leave a cached Gaussian in NumPy's state
    path = save_checkpoint({"rng": get_rng_state()}, checkpoint_path(tmp_path, 0))
    expected = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    set_rng_state(load_checkpoint(path)["rng"])
    got = (random.random(), np.random.standard_normal(3).tolist(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
