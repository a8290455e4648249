"""The run directory and the run's logs: where a run's files go, and the log files it writes as it trains.

A run directory holds ``config.yaml``, ``metrics.jsonl``, ``train.log``, ``samples/``,
``checkpoints/``, ``summary.json`` and ``report.md`` with its plots. :func:`prepare_run_dir`
creates it (refusing to clobber), :class:`RunLog` writes ``metrics.jsonl`` (and TensorBoard) and
``train.log``, and cuts ``metrics.jsonl`` back to a restored step on resume.

Example:
    >>> import tempfile
    >>> run = prepare_run_dir(Path(tempfile.mkdtemp()) / "run")
    >>> runlog = RunLog(run)
    >>> runlog.write_row({"step": 1, "loss/d": 0.5})
    >>> runlog.rows_until(1)
    [{'step': 1, 'loss/d': 0.5}]
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from featmatch._io import atomic_write_text
from featmatch.train.config import TrainConfig

__all__ = ["REAL_SAMPLES_PNG", "RunDirError", "RunLog", "default_run_dir", "prepare_run_dir"]

log = logging.getLogger("featmatch")

#: Real training samples drawn as the generated ones (``samples/real.png``), beside them in the report.
REAL_SAMPLES_PNG = "real.png"


class RunDirError(ValueError):
    """The run directory cannot be used as asked (it exists, or is not a featmatch run)."""


def default_run_dir(config: TrainConfig) -> Path:
    """``runs/<data>-<objective>-<YYYYmmdd-HHMMSS>`` (``+`` in the objective becomes ``_``)."""
    name = Path(config.data.name).name if os.sep in config.data.name else config.data.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{config.objective.kind.replace('+', '_')}-{stamp}"


def prepare_run_dir(path: str | Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Create the run directory, refusing to clobber an existing non-empty one.

    Args:
        path: the run directory.
        resume: it must exist and hold ``config.yaml`` (a run to continue).
        overwrite: delete an existing featmatch run directory first (one with ``config.yaml``).

    Raises:
        RunDirError: naming the directory and what to do instead.
    """
    path = Path(path)
    if resume:
        if not (path / "config.yaml").is_file():
            raise RunDirError(
                f"cannot resume from {str(path)!r}: it has no config.yaml, so it is not a featmatch "
                "run directory. Hint: pass the --out directory of an earlier run."
            )
        return path
    if path.exists() and not path.is_dir():
        raise RunDirError(f"run directory {str(path)!r} exists and is a file. Hint: choose another --out.")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise RunDirError(
                f"run directory {str(path)!r} already exists and is not empty; refusing to overwrite it. "
                f"Hint: continue it with --resume {path}, choose a new --out, or pass --overwrite."
            )
        if not (path / "config.yaml").is_file():
            raise RunDirError(
                f"--overwrite refuses to delete {str(path)!r}: it is not a featmatch run directory "
                "(no config.yaml). Hint: choose another --out."
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


class RunLog:
    """A run's log files: ``metrics.jsonl`` (and TensorBoard), ``train.log``.

    Args:
        run_dir: the run directory; ``None`` writes nothing (a process other than rank 0, or a
            run without a directory).
        tensorboard: ``log.tensorboard``: ``None`` writes TensorBoard logs when the package is
            installed, ``True`` asks for them (a warning when it is missing), ``False`` never.
    """

    def __init__(self, run_dir: Path | None, *, tensorboard: bool | None = None) -> None:
        self.run_dir = run_dir
        self.tensorboard = tensorboard
        self._tb: Any = None
        self._handler: logging.Handler | None = None

    def open(self) -> None:
        """Add ``train.log`` to the ``featmatch`` logger and open the TensorBoard writer."""
        if self.run_dir is None:
            return
        self._handler = logging.FileHandler(self.run_dir / "train.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(self._handler)
        self._open_tensorboard()

    def _open_tensorboard(self) -> None:
        if self.tensorboard is False:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter  # optional dependency (tensorboard)
        except ImportError:  # tensorboard is optional: skipped quietly unless it was asked for
            if self.tensorboard:
                log.warning(
                    "log.tensorboard is true but the tensorboard package is not installed, so no "
                    "TensorBoard logs are written (metrics.jsonl has every scalar). Install it with: "
                    "pip install 'featmatch[tensorboard]'"
                )
            return
        assert self.run_dir is not None
        self._tb = SummaryWriter(str(self.run_dir / "tensorboard"))

    def write_row(self, row: dict[str, Any]) -> None:
        """Append ``row`` (with its ``step``) to ``metrics.jsonl``, and its numbers to TensorBoard."""
        if self.run_dir is None:
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, allow_nan=True) + "\n")
        if self._tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, row["step"])

    def rows_until(self, step: int) -> list[dict[str, Any]]:
        """Keep only the rows of ``metrics.jsonl`` up to ``step`` (later ones belong to a lost future,
        after a resume or a rollback); return them."""
        assert self.run_dir is not None
        path = self.run_dir / "metrics.jsonl"
        rows = []
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(json.JSONDecodeError):
                    row = json.loads(line)
                    if row.get("step", 0) <= step:
                        rows.append(row)
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))
        return rows

    def close(self) -> None:
        """Close the TensorBoard writer and take ``train.log`` off the logger."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._handler is not None:
            log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
