"""Checkpoint files: atomic writes, safe loading (``weights_only=True``), fallback, pruning, RNG state.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so that it loads
with ``torch.load(..., weights_only=True)``: no pickled code runs when a file is opened.
Files live in ``<run_dir>/checkpoints/step_<step>.pt``; each is written to a temporary file in
the same directory, flushed to disk and then renamed over the final name, so a crash leaves
either the old file set or the new one, never a half-written checkpoint under a real name
(temporary files of a killed write are removed by :func:`remove_orphans` when the run restarts).

Integrity (format version 2): every checkpoint holds ``checksum``, ``"sha256:<hex>"`` over a
canonical encoding of everything else it holds (keys, numbers, strings, and each tensor's dtype,
shape and bytes). :func:`load_checkpoint` recomputes it, so any change that ``torch.load`` still
accepts (a bit flip in a tensor, a number, a key) is caught as a corrupt file. Version 1 files
(written before checksums) still load, without verification, with an info line saying so.

Non-finite weights: :func:`save_checkpoint` refuses to write NaN/Inf in the entries named by
``finite=``, and :func:`load_checkpoint` refuses to load them (:class:`NonFiniteError`), so a
diverged run can never replace or be mistaken for a good checkpoint.

Example:
    >>> import tempfile, torch
    >>> run = Path(tempfile.mkdtemp())
    >>> path = save_checkpoint({"step": 3, "weights": torch.ones(2)}, checkpoint_path(run, 3))
    >>> load_checkpoint(path, required=("weights",))["step"]
    3
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from featmatch._io import atomic_path
from featmatch._io import remove_orphans as _remove_orphans

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "NonFiniteError",
    "checkpoint_path",
    "find_checkpoint",
    "get_rng_state",
    "list_checkpoints",
    "load_checkpoint",
    "load_latest",
    "load_usable",
    "nonfinite_entries",
    "prune_checkpoints",
    "remove_orphans",
    "save_checkpoint",
    "set_rng_state",
    "state_digest",
]

log = logging.getLogger("featmatch")

CHECKPOINT_FORMAT = "featmatch.checkpoint"
CHECKPOINT_VERSION = 2  # 2: with ``checksum``; 1: without (still read)
_NAME = re.compile(r"^step_(\d+)\.pt$")
# What a generator/discriminator checkpoint must hold finite (the weights and Adam's moments).
WEIGHT_ENTRIES = ("generator", "discriminator", "ema", "opt_g", "opt_d")


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, or does not fit the run it is loaded into."""


class NonFiniteError(CheckpointError):
    """A checkpoint (to write or just read) holds NaN or infinite weights; ``names`` lists them."""

    def __init__(self, message: str, names: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.names = list(names)


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


def save_checkpoint(state: dict[str, Any], path: str | Path, *, finite: Iterable[str] = ()) -> Path:
    """Write ``state`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``).

    The state is stamped with :data:`CHECKPOINT_FORMAT`, :data:`CHECKPOINT_VERSION` and its
    ``checksum`` (:func:`state_digest`). Tensors are copied to the CPU first.

    Args:
        state: a dict of tensors, numbers, strings, lists, dicts (what ``weights_only`` loads).
        path: the final file name; its folder is created.
        finite: entries of ``state`` whose floating-point tensors must all be finite.

    Returns:
        ``path``.

    Raises:
        NonFiniteError: an entry named in ``finite`` holds NaN/Inf; nothing is written.
        featmatch._io.DiskFullError: the disk is full; the previous files are intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **_to_cpu(state)}
    payload.pop("checksum", None)
    bad = nonfinite_entries(payload, finite)
    if bad:
        raise NonFiniteError(
            f"refusing to write checkpoint {str(path)!r}: non-finite (NaN/Inf) values in "
            f"{_names(bad)}; the previous checkpoints are kept.",
            bad,
        )
    payload["checksum"] = state_digest(payload)
    with atomic_path(path, durable=True) as tmp:
        torch.save(payload, tmp)
    return path


# The files of a run directory that featmatch writes atomically (their temporary files are
# ``.<name>.<random>.tmp``); nothing else there is touched.
_RUN_FILES = ("config.yaml", "summary.json", "metrics.jsonl", "report.md", "losses.png", "balance.png")


def remove_orphans(run_dir: str | Path) -> list[Path]:
    """Delete the temporary files that a process killed while writing left in a run directory:
    ``checkpoints/.step_*.pt.*.tmp``, ``samples/.step_*.png.*.tmp`` and those of the run's own
    files (``.summary.json.*.tmp``, ...). Call it before a run writes (start, resume)."""
    run_dir = Path(run_dir)
    removed = _remove_orphans(run_dir / "checkpoints", ".step_*.pt.*tmp")
    removed += _remove_orphans(run_dir / "samples", ".step_*.png.*tmp")
    for name in _RUN_FILES:
        removed += _remove_orphans(run_dir, f".{name}.*tmp")
    return removed


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_to_cpu(v) for v in value)
    return value


def state_digest(state: dict[str, Any]) -> str:
    """``"sha256:<hex>"`` of a canonical encoding of ``state`` (its ``checksum`` entry left out).

    The encoding covers every key and value in order: type tags, numbers (floats exactly, via
    ``float.hex``), strings, and for each tensor its dtype, shape and raw bytes (on the CPU).
    """
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in state.items() if k != "checksum"})
    return "sha256:" + digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
        if tensor.device.type != "cpu":
            tensor = tensor.cpu()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}|".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'L' if isinstance(value, list) else 'U'}{len(value)}|".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        digest.update(f"S{len(data)}|".encode() + data)
    elif value is None or isinstance(value, bool):
        digest.update(f"B{value}|".encode())
    elif isinstance(value, int):
        digest.update(f"I{value}|".encode())
    elif isinstance(value, float):
        digest.update(f"F{value.hex()}|".encode())
    else:  # anything else weights_only admits (torch.Size, dtypes, ...): its type and repr
        digest.update(f"O{type(value).__name__}:{value!r}|".encode())


def nonfinite_entries(state: dict[str, Any], keys: Iterable[str] = WEIGHT_ENTRIES) -> list[str]:
    """Dotted names of the floating-point tensors under ``state[key]`` that hold NaN/Inf.

    Example:
        >>> nonfinite_entries({"generator": {"w": torch.tensor([1.0, float("nan")])}}, ["generator"])
        ['generator.w']
    """
    tensors: list[tuple[str, torch.Tensor]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() or value.is_complex():
                tensors.append((prefix, value.detach()))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(f"{prefix}.{index}", item)
        elif isinstance(value, float) and not np.isfinite(value):
            tensors.append((prefix, torch.tensor(value)))

    for key in keys:
        if state.get(key) is not None:
            walk(key, state[key])
    if not tensors:
        return []
    # One device->host transfer for all of them.
    device = tensors[0][1].device
    flags = torch.stack([torch.isfinite(t).all().to(device) for _, t in tensors]).cpu().tolist()
    return [name for (name, _), ok in zip(tensors, flags, strict=True) if not ok]


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def load_checkpoint(path: str | Path, *, required: Iterable[str] = (), finite: Iterable[str] = ()) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``, verify its checksum, check what it holds.

    Args:
        path: the ``.pt`` file.
        required: keys the caller needs; a missing one is an error.
        finite: entries whose floating-point tensors must be finite (e.g. :data:`WEIGHT_ENTRIES`).

    Raises:
        CheckpointError: naming the file and the problem (missing, unreadable/corrupt, checksum
            mismatch, not a featmatch checkpoint, newer format, missing keys); its subclass
            :class:`NonFiniteError` for NaN/Inf in an entry named by ``finite``.
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
    if version >= 2:
        stored = state.get("checksum")
        actual = state_digest(state)
        if stored != actual:
            raise CheckpointError(
                f"checkpoint {str(path)!r} is corrupt: its contents do not match its checksum "
                f"(stored {str(stored)[:23]!r}..., computed {actual[:23]!r}...). Hint: use an earlier "
                "checkpoint of the run (given a run directory, featmatch falls back to one itself)."
            )
    else:
        log.info(
            "checkpoint %s has format version %s (written before checksums): loaded without an integrity check.",
            path,
            version,
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} lacks the entries {missing}.")
    bad = nonfinite_entries(state, finite)
    if bad:
        raise NonFiniteError(
            f"checkpoint {str(path)!r} holds non-finite (NaN/Inf) weights in {_names(bad)}: the run had "
            "diverged when it was written. Hint: use an earlier checkpoint of the run.",
            bad,
        )
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
    finite: Iterable[str] = (),
) -> tuple[dict[str, Any], Path]:
    """Load the newest checkpoint that loads *and* applies; fall back to older ones with a warning.

    Newer files that fail (unreadable, checksum mismatch, non-finite weights, do not fit) are
    renamed ``*.pt.bad`` (never deleted), so later pruning cannot remove the good checkpoint in
    their favour, and they stay around for inspection.

    Args:
        run_dir: the run directory.
        apply: puts a loaded state into the models/optimisers; raises ``CheckpointError`` (or
            ``RuntimeError``/``KeyError``/``ValueError``, wrapped) when the state does not fit.
        required: keys every usable checkpoint has.
        finite: entries that must hold finite values (see :func:`load_checkpoint`).

    Returns:
        ``(state, path)`` of the checkpoint used.

    Raises:
        CheckpointError: no checkpoint, or none usable (listing each file's problem).
    """
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise CheckpointError(f"cannot resume: no checkpoints (checkpoints/step_*.pt) in {str(run_dir)!r}.")
    problems: list[str] = []
    bad: list[Path] = []
    for index, path in enumerate(reversed(candidates)):
        try:
            state = load_checkpoint(path, required=required, finite=finite)
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
            _warn_fallback(err, candidates, index)
            continue
        for path_bad in bad:
            target = path_bad.with_name(path_bad.name + ".bad")
            os.replace(path_bad, target)
            log.warning("kept the unusable checkpoint as %s", target)
        return state, path
    raise CheckpointError("no usable checkpoint in " + repr(str(run_dir)) + ": " + " | ".join(problems))


def _warn_fallback(err: Exception, candidates: list[Path], index: int) -> None:
    """Say what happens next after the ``index``-th newest of ``candidates`` failed."""
    older = len(candidates) - 1 - index
    if older > 0:
        log.warning("%s Falling back to the previous checkpoint (%s).", err, candidates[older - 1].name)
    else:
        log.warning("%s No older checkpoint to fall back to.", err)


def load_usable(
    path: str | Path, *, required: Iterable[str] = (), finite: Iterable[str] = ()
) -> tuple[dict[str, Any], Path]:
    """A checkpoint to read from: ``path`` itself if it is a file, else a run's newest usable one.

    Given a file, any problem is an error. Given a run directory (or its ``checkpoints/``), the
    newest checkpoint that loads, passes its checksum and holds finite ``finite`` entries is
    used; each one skipped is logged. Nothing is renamed (reading never changes a run).

    Raises:
        CheckpointError: the file is unusable, or the run has no usable checkpoint (each one's
            problem listed).
    """
    path = Path(path)
    if path.is_file() or not path.is_dir():
        return load_checkpoint(path, required=required, finite=finite), path
    run_dir = path.parent if path.name == "checkpoints" else path
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise CheckpointError(f"no checkpoints (checkpoints/step_*.pt) in run directory {str(run_dir)!r}.")
    problems: list[str] = []
    for index, candidate in enumerate(reversed(candidates)):
        try:
            state = load_checkpoint(candidate, required=required, finite=finite)
        except CheckpointError as err:
            problems.append(str(err))
            _warn_fallback(err, candidates, index)
            continue
        if problems:
            log.warning("using %s, the newest usable checkpoint of %s", candidate, run_dir)
        return state, candidate
    raise CheckpointError(f"no usable checkpoint in run directory {str(run_dir)!r}: " + " | ".join(problems))


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
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)
