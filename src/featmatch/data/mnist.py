"""MNIST built in (``--data mnist``): found on disk, or downloaded once and verified.

Where the four IDX files (``train-images-idx3-ubyte`` and its three siblings, gzipped or not)
are looked for, in this order:

1. ``$FEATMATCH_DATA/mnist`` when the environment variable ``FEATMATCH_DATA`` is set;
2. the user's cache folder, ``<cache>/data/mnist`` (:func:`featmatch._paths.cache_dir`:
   ``$FEATMATCH_CACHE``, else the platform's cache folder, ``~/.cache/featmatch`` on Linux).

When a file is in neither, :func:`fetch_mnist` downloads it into the first of those folders
(``$FEATMATCH_DATA/mnist`` if set, else the cache) from the public mirrors in turn
(:data:`MIRRORS`, or the comma-separated base URLs in ``$FEATMATCH_MNIST_MIRRORS``), with a
timeout and a progress bar on a terminal. Every file, found or downloaded, is checked against
the SHA-256 of its *uncompressed* IDX contents (:data:`SHA256`), so any correct gzip passes and a
truncated or altered one does not. A download is written to a temporary file next to its final
name and moved into place only once verified, so an interrupted or corrupt download never
leaves a partial file behind (files already verified stay). When a file can neither be found
nor downloaded, :class:`MNISTUnavailableError` says in one line where to put which files.

Why not pooch: its hash is of the file as downloaded, and the mirrors' gzips differ byte for
byte from one another (different compressors) while their contents agree.

The data: 60,000 training and 10,000 test images ``(N, 1, 28, 28)``, scaled from ``0..255`` to
``[-1, 1]`` by ``x / 127.5 - 1`` as every featmatch image set; labels ``0..9``.

Example:
    >>> train = load_mnist("train")  # doctest: +SKIP
    >>> train.x.shape, train.num_classes  # doctest: +SKIP
    (torch.Size([60000, 1, 28, 28]), 10)
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from featmatch._io import atomic_path
from featmatch._paths import cache_dir
from featmatch.data.dataset import DataSet, check_split_and_seed, subset
from featmatch.data.files import idx_contents, parse_idx
from featmatch.errors import InputError

__all__ = [
    "FILES",
    "MIRRORS",
    "SHA256",
    "MNISTUnavailableError",
    "fetch_mnist",
    "find_mnist",
    "load_mnist",
    "mnist_folders",
]

log = logging.getLogger("featmatch")

#: The IDX files of each split: (images, labels), without ``.gz``.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: SHA-256 of each file's uncompressed IDX contents (as MNIST's authors distribute them).
SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Public mirrors of the gzipped IDX files (``<base><name>.gz``), tried in this order: the one
#: torchvision uses first, Google's copy, and the authors' original page.
MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

_ALL_FILES = tuple(name for pair in FILES.values() for name in pair)
_CHUNK = 1 << 16


class MNISTUnavailableError(InputError, FileNotFoundError):
    """MNIST's files are neither on disk nor downloadable (offline, or every copy failed its checksum)."""


def mnist_folders() -> list[Path]:
    """Where MNIST is looked for, in order: ``$FEATMATCH_DATA/mnist`` (if set), then the cache.

    Example:
        >>> mnist_folders()[-1].parts[-2:]
        ('data', 'mnist')
    """
    folders = []
    root = os.environ.get("FEATMATCH_DATA")
    if root:
        folders.append(Path(root).expanduser() / "mnist")
    folders.append(cache_dir() / "data" / "mnist")
    return folders


def _mirrors() -> tuple[str, ...]:
    env = os.environ.get("FEATMATCH_MNIST_MIRRORS", "")
    given = tuple(part.strip() for part in env.split(",") if part.strip())
    return given or MIRRORS


def _local_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _unavailable(folder: Path, reason: str) -> MNISTUnavailableError:
    names = ", ".join(f"{name}.gz" for name in _ALL_FILES)
    return MNISTUnavailableError(
        f"MNIST is not available: {reason}. Hint: put {names} (gzipped or not) in {str(folder)!r}, "
        "or set FEATMATCH_DATA to a folder whose mnist/ subfolder holds them."
    )


def find_mnist(names: Sequence[str] = _ALL_FILES) -> dict[str, Path] | None:
    """The local copies of ``names`` in the first folder of :func:`mnist_folders` that holds them all.

    Presence only: :func:`load_mnist` verifies each file's contents when it reads them.

    Returns:
        name -> path, or ``None`` when no folder holds every file.
    """
    for folder in mnist_folders():
        paths = {name: _local_file(folder, name) for name in names}
        if all(path is not None for path in paths.values()):
            return {name: path for name, path in paths.items() if path is not None}
    return None


def _verified_contents(path: Path, name: str) -> bytes:
    """The uncompressed contents of MNIST file ``name`` at ``path``, checked against :data:`SHA256`."""
    try:
        contents = idx_contents(path)
    except (OSError, ValueError) as err:
        raise MNISTUnavailableError(
            f"MNIST file {str(path)!r} cannot be read ({err}). Hint: delete it; featmatch then downloads a "
            "fresh copy, or put a good copy there."
        ) from err
    actual = hashlib.sha256(contents).hexdigest()
    if actual != SHA256[name]:
        raise MNISTUnavailableError(
            f"MNIST file {str(path)!r} does not hold MNIST's {name}: its contents have SHA-256 {actual}, "
            f"expected {SHA256[name]}. Hint: delete it; featmatch then downloads a fresh copy."
        )
    return contents


def _download_one(url: str, target: Path, name: str, timeout: float, progress: bool | None) -> None:
    """Download ``url`` to ``target`` through a temporary file, verified before it is moved into place."""
    from tqdm.auto import tqdm  # optional dependency (the train extra): only needed to download

    with atomic_path(target) as tmp:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            received = 0
            with tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                desc=target.name,
                disable=None if progress is None else not progress,
                leave=False,
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if expected is not None and received != expected:
                raise ConnectionError(f"the connection closed after {received} of {expected} bytes")
        actual = hashlib.sha256(idx_contents(tmp)).hexdigest()
        if actual != SHA256[name]:
            raise ValueError(f"its contents have SHA-256 {actual}, expected {SHA256[name]}")


def fetch_mnist(
    folder: str | Path | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    timeout: float = 30.0,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Make sure MNIST's four files are on disk and verified; download the missing ones.

    Args:
        folder: where to look and download; default the first of :func:`mnist_folders` that
            holds all four files, else the first of them (``$FEATMATCH_DATA/mnist`` or the cache).
        mirrors: base URLs tried in turn for each file (``<base><name>.gz``); default
            ``$FEATMATCH_MNIST_MIRRORS`` (comma-separated) or :data:`MIRRORS`.
        timeout: seconds a connection may stay silent before the next mirror is tried.
        progress: show a progress bar (``None``: only on a terminal).

    Returns:
        name (without ``.gz``) -> path of each of the four files.

    Raises:
        MNISTUnavailableError: a file could not be downloaded from any mirror, or every copy
            failed its checksum (the message names the folder, the files and ``FEATMATCH_DATA``).

    Example:
        >>> sorted(fetch_mnist())  # doctest: +SKIP
        ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 'train-images-idx3-ubyte', 'train-labels-idx1-ubyte']
    """
    if folder is None:
        found = find_mnist()
        if found is not None:
            return found
        target = mnist_folders()[0]
    else:
        target = Path(folder).expanduser()
    bases = tuple(mirrors) if mirrors is not None else _mirrors()
    missing = [name for name in _ALL_FILES if _local_file(target, name) is None]
    if missing:
        log.info("MNIST: %d of its 4 files are not in %s; downloading them", len(missing), target)
    created = [p for p in (target, *target.parents) if not p.exists()]
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in missing:
            _download(bases, target, name, timeout, progress)
    except OSError as err:
        for folder in created:  # deepest first; only the folders made here, and only if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(err, MNISTUnavailableError):
            raise
        raise _unavailable(target, f"cannot create the folder ({err.strerror or err})") from err
    return {name: path for name in _ALL_FILES if (path := _local_file(target, name)) is not None}


def _download(bases: Sequence[str], target: Path, name: str, timeout: float, progress: bool | None) -> Path:
    path = target / f"{name}.gz"
    failures = []
    for base in bases:
        url = base.rstrip("/") + f"/{name}.gz"
        log.debug("downloading %s from %s", name, url)
        try:
            _download_one(url, path, name, timeout, progress)
        except (
            OSError,  # URLError, timeouts, refused and reset connections, the disk
            http.client.HTTPException,  # IncompleteRead, a malformed response
            ValueError,  # a checksum mismatch, a malformed URL
            EOFError,  # a truncated gzip
            zlib.error,  # a damaged gzip
        ) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            failures.append(f"{url}: {reason}")
            log.debug("could not download %s from %s: %s", name, url, reason)
            continue
        log.info("verified %s (SHA-256 of its contents) in %s", name, target)
        return path
    tried = "; ".join(failures) if failures else "no mirror was given"
    raise _unavailable(target, f"{name}.gz could not be downloaded ({tried})")


def load_mnist(split: str = "train", *, seed: int = 0, size: int | None = None) -> DataSet:
    """Load one split of MNIST as ``(N, 1, 28, 28)`` images in ``[-1, 1]`` with labels ``0..9``.

    The files come from :func:`fetch_mnist` (on disk, or downloaded once and verified).

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        seed: only used to choose the subset when ``size`` is given.
        size: keep a random subset of this many images (``None`` keeps the whole split).

    Returns:
        An ``"image"`` :class:`DataSet` named ``"mnist"``.

    Raises:
        MNISTUnavailableError: see :func:`fetch_mnist`; also a file on disk whose contents are not
            MNIST's (its SHA-256 differs; the message names it, nothing is deleted).

    Example:
        >>> load_mnist("test").x.shape  # doctest: +SKIP
        torch.Size([10000, 1, 28, 28])
    """
    check_split_and_seed(split, seed)
    paths = fetch_mnist()
    images_name, labels_name = FILES[split]
    images = parse_idx(_verified_contents(paths[images_name], images_name))  # (N, 28, 28) uint8
    labels = parse_idx(_verified_contents(paths[labels_name], labels_name))  # (N,) uint8
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.from_numpy(labels.astype(np.int64))
    return subset(DataSet(name="mnist", kind="image", x=x, y=y), size, seed)
