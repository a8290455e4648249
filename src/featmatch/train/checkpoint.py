"""Checkpoint files: atomic writes, safe loading (``weights_only=True``), fallback, pruning, RNG state.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so that it loads
with ``torch.load(..., weights_only=True)``: no pickled code runs when a file is opened.
Files live in ``<run_dir>/checkpoints/step_<step>.pt``; each is written to a temporary file in
the same directory, flushed to disk and then renamed over the final name, so a crash leaves
either the old file set or the new one, never a half-written checkpoint under a real name.

Example:
    >>> import tempfile, torch
    >>> run = Path(tempfile.mkdtemp())
    >>> path = save_checkpoint({"step": 3, "weights": torch.ones(2)}, checkpoint_path(run, 3))
    >>> load_checkpoint(path, required=("weights",))["step"]
    3
"""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "checkpoint_path",
    "find_checkpoint",
    "get_rng_state",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest",
    "prune_checkpoints",
    "save_checkpoint",
    "set_rng_state",
]

log = logging.getLogger("featmatch")

CHECKPOINT_FORMAT = "featmatch.checkpoint"
CHECKPOINT_VERSION = 1
_NAME = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or does not fit the run it is loaded into."""


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    """``<run_dir>/checkpoints/step_<step, 8 digits>.pt``."""
    return Path(run_dir) / "checkpoints" / f"step_{step:08d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's checkpoint files, oldest (lowest step) first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``).

    The state is stamped with :data:`CHECKPOINT_FORMAT` and :data:`CHECKPOINT_VERSION`.

    Args:
        state: a dict of tensors, numbers, strings, lists, dicts (what ``weights_only`` loads).
        path: the final file name; its folder is created.

    Returns:
        ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Leave nothing half-written behind; the previous checkpoints are untouched.
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX); harmless to skip where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, *, required: Iterable[str] = ()) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and check that it is a featmatch checkpoint.

    Args:
        path: the ``.pt`` file.
        required: keys the caller needs; a missing one is an error.

    Raises:
        CheckpointError: naming the file and the problem (missing, unreadable/corrupt, not a
            featmatch checkpoint, newer format, missing keys).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated/garbled files
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or unreadable ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'})."
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a featmatch checkpoint (expected a dict with "
            f"format={CHECKPOINT_FORMAT!r})."
        )
    version = state.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {version!r}; this featmatch reads "
            f"versions <= {CHECKPOINT_VERSION}. Hint: upgrade featmatch."
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks the entries {missing}.")
    return state


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the newest one in a run directory (or its ``checkpoints/``)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        run_dir = path.parent if path.name == "checkpoints" else path
        found = list_checkpoints(run_dir)
        if found:
            return found[-1]
        raise CheckpointError(f"no checkpoints (checkpoints/step_*.pt) in run directory {str(run_dir)!r}.")
    raise CheckpointError(f"checkpoint {str(path)!r} does not exist.")


def load_latest(
    run_dir: str | Path,
    apply: Callable[[dict[str, Any], Path], None],
    *,
    required: Iterable[str] = (),
) -> tuple[dict[str, Any], Path]:
    """Load the newest checkpoint that loads *and* applies; fall back to older ones with a warning.

    Newer files that fail are renamed ``*.pt.bad`` (never deleted), so later pruning cannot remove
    the good checkpoint in their favour, and they stay around for inspection.

    Args:
        run_dir: the run directory.
        apply: puts a loaded state into the models/optimisers; raises ``CheckpointError`` (or
            ``RuntimeError``/``KeyError``/``ValueError``, wrapped) when the state does not fit.
        required: keys every usable checkpoint has.

    Returns:
        ``(state, path)`` of the checkpoint used.

    Raises:
        CheckpointError: no checkpoint, or none usable (listing each file's problem).
    """
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise CheckpointError(
            f"cannot resume: no checkpoints (checkpoints/step_*.pt) in {str(run_dir)!r}."
        )
    problems: list[str] = []
    bad: list[Path] = []
    for path in reversed(candidates):
        try:
            state = load_checkpoint(path, required=required)
            try:
                apply(state, path)
            except CheckpointError:
                raise
            except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
                raise CheckpointError(
                    f"checkpoint {str(path)!r} does not fit this run: {type(err).__name__}: "
                    f"{str(err).splitlines()[0] if str(err) else ''}"
                ) from err
        except CheckpointError as err:
            problems.append(str(err))
            bad.append(path)
            log.warning("%s Falling back to the previous checkpoint.", err)
            continue
        for path_bad in bad:
            target = path_bad.with_name(path_bad.name + ".bad")
            os.replace(path_bad, target)
            log.warning("kept the unusable checkpoint as %s", target)
        return state, path
    raise CheckpointError("no usable checkpoint in " + repr(str(run_dir)) + ": " + " | ".join(problems))


def prune_checkpoints(run_dir: str | Path, keep: int, *, protect: Path | None = None) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints (never ``protect``); return the deleted paths."""
    found = list_checkpoints(run_dir)
    doomed = [p for p in found[: max(len(found) - keep, 0)] if protect is None or p != Path(protect)]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


# ----------------------------------------------------------------------------------------
# RNG state as tensors and numbers (weights_only-safe)


def get_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """Python, NumPy, torch CPU and (when in use) CUDA random states, as tensors and numbers."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": int(py_version),
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if device is not None and device.type == "cuda" and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Restore what :func:`get_rng_state` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    npy = state["numpy"]
    np.random.set_state(
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
         npy["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
