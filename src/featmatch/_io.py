"""Atomic file writes for the whole package: a temporary file in the same folder, then ``os.replace``.

Every file featmatch writes (checkpoints, ``config.yaml``, ``summary.json``, ``metrics.jsonl``
rewrites, ``report.md``, plots, the cached classifier) goes through :func:`atomic_path`, so that:

- a reader, or a crash, sees the old file or the complete new one, never half of one;
- the file gets the permissions a plain ``open(path, "w")`` would give (``0o666`` less the
  umask), not ``tempfile.mkstemp``'s ``0o600``;
- the temporary file is removed when writing fails, and is named ``.<name>.<random>.tmp``, so
  one left by a killed process is recognised (:func:`remove_orphans`) and never mistaken for
  a real file;
- a full disk is reported in one line naming the file and the free space (:class:`DiskFullError`)
  instead of the raw ``OSError`` / torch ``RuntimeError``.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> atomic_write_text(folder / "a.txt", "hello\\n").read_text()
    'hello\\n'
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["DiskFullError", "atomic_path", "atomic_write_bytes", "atomic_write_text", "remove_orphans"]

log = logging.getLogger("featmatch")

# ``.<name>.<16 hex>.tmp`` (ours), ``.<name>.<8 chars>.tmp`` (``tempfile.mkstemp``, older
# featmatch) and ``.<name>.tmp`` (an older fixed name).
_ORPHAN = re.compile(r"^\..+?(\.[0-9a-f]{16}|\.[A-Za-z0-9_]{8})?\.tmp$")
# Where torch's zip writer reports a short write (a full disk) as a RuntimeError.
_TORCH_SHORT_WRITE = ("unexpected pos", "file write failed", "PytorchStreamWriter failed")


class DiskFullError(OSError, ValueError):
    """Writing a file failed because its file system is full (or over quota).

    An ``OSError`` with ``errno`` ``ENOSPC``; also a ``ValueError``, the kind of error the
    command line reports as one line without a traceback (the user can fix it).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.ENOSPC


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def _is_disk_full(err: BaseException) -> bool:
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    if isinstance(err, RuntimeError) and any(text in str(err) for text in _TORCH_SHORT_WRITE):
        return True
    cause = err.__cause__ or err.__context__
    return cause is not None and cause is not err and _is_disk_full(cause)


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size_text(n: int | None) -> str:
    if n is None:
        return "unknown free space"
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _fsync_dir(folder: Path) -> None:
    """Persist a rename itself (POSIX); harmless to skip where directories cannot be opened."""
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


@contextmanager
def atomic_path(path: str | Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a new, empty temporary file next to ``path``; on success move it over ``path``.

    The temporary file is created with ``os.open(..., 0o666)``, so the umask applies as for any
    plain write. The caller writes to the yielded path (by name: PIL, matplotlib, ``torch.save``
    all accept one). On any exception the temporary file is removed and ``path`` is untouched.

    Args:
        path: the final file name; its folder must exist.
        durable: ``fsync`` the file before the rename and the folder after it (checkpoints).

    Raises:
        DiskFullError: the write failed for lack of space (one line: file, folder, free space).
    """
    path = Path(path)
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    try:
        yield tmp
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, Exception) and not isinstance(err, DiskFullError) and _is_disk_full(err):
            raise DiskFullError(
                f"disk full: cannot write {str(path)!r} ({_size_text(_free_bytes(path.parent))} free on "
                f"{str(path.parent)!r}; the previous files there are intact). Hint: free some space "
                f"(e.g. lower --keep-checkpoints, delete old runs) or write elsewhere.",
            ) from err
        raise
    if durable:
        _fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); return ``path``."""
    path = Path(path)
    with atomic_path(path, durable=durable) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
    return path


def atomic_write_text(path: str | Path, text: str, *, durable: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`); return ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def remove_orphans(folder: str | Path, pattern: str = "*") -> list[Path]:
    """Delete temporary files (``.<name>.<16 hex>.tmp``) left in ``folder`` by a killed writer.

    Only call it where no other process is writing (e.g. when a run starts or resumes).

    Args:
        folder: where to look (not recursive); a missing folder is fine.
        pattern: a glob the temporary files must also match, e.g. ``".step_*.pt.*.tmp"``.

    Returns:
        The deleted paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for candidate in sorted(folder.glob(pattern)):
        if _ORPHAN.match(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted write in %s", len(removed), folder)
    return removed
