"""Users' own data: a folder of images, NumPy ``.npy``/``.npz`` arrays, or MNIST-format IDX files.

Why one module over 600 lines: the three formats share the option checks, the splits (a
separate test set, else the fixed 90/10 split), the scaling and the making of a `DataSet`, which
is what makes them behave alike; each format's reader is short.

Formats, chosen by the path:

* **A directory**: a folder of images that Pillow reads (PNG, JPEG, BMP, GIF, TIFF,
  WebP). Images directly inside it are unlabelled; images inside subfolders are
  labelled by subfolder, in sorted order of the subfolder names (``cat/`` -> 0,
  ``dog/`` -> 1, as torchvision's ``ImageFolder``). Hidden entries and subfolders
  without images are ignored; images both at the top level and in subfolders is an
  error. Options: ``image_size`` (int or ``(H, W)``: resize every image with bilinear
  filtering; default: keep the size, which every image must then share) and
  ``channels`` (1: grayscale, 3: RGB; default: 1 if every image is grayscale, else 3;
  alpha is dropped). Pixels ``0..255`` become ``[-1, 1]`` by ``x / 127.5 - 1``.
* **``.npy``**: one array. **``.npz``**: arrays by key; the samples are under key
  ``x`` (option ``key``; if there is no ``x`` and the file holds a single array, that
  one), labels under ``y`` if present (option ``label_key``).
  Layout from the shape (`featmatch.data.kinds.infer_kind`): ``(N, D)`` vectors,
  ``(N, C, H, W)`` images, ``(N, 1, T)`` one-channel sequences, ``(N, S, S)`` square
  images (a channel axis is added); any other ``(N, A, B)`` could be either and needs the
  option ``kind`` (``"image"``, ``"sequence"`` or ``"vector"``; flag ``--data-kind``).
  ``kind="sequence"`` reads ``(N, T)`` as ``(N, 1, T)`` and ``(N, C, T)`` as sequences;
  ``kind="image"`` reads ``(N, H, W)`` as one-channel images. Option ``labels``: a ``.npy``
  or IDX file of ``(N,)`` integer labels, or False for no labels (also for IDX).
* **IDX** (the MNIST format; names ending in ``-ubyte`` or containing ``.idx``, raw or
  gzip-compressed, e.g. ``train-images-idx3-ubyte.gz``). The header's magic number
  gives the element type and the number of dimensions; the sizes follow. Labels are
  taken from the matching labels file next to it when there is one
  (``train-images-idx3-ubyte[.gz]`` -> ``train-labels-idx1-ubyte[.gz]``), or from the
  ``labels`` option. This reads MNIST, Fashion-MNIST and KMNIST as they
  are distributed.

Scaling (``scale`` option of arrays and IDX): ``"auto"`` (default) maps integer
*images* from ``0..255`` to ``[-1, 1]`` by ``x / 127.5 - 1`` (values outside 0..255 are
an error) and takes everything else as is, as float32; so float images are expected
already in ``[-1, 1]``. ``"none"``: as is. ``"uint8"``: ``x / 127.5 - 1`` for any dtype.
``"unit"``: ``2 x - 1``, for data in ``[0, 1]``. ``"minmax"``: the minimum and maximum
go to -1 and 1; they are taken over the whole file before a 90/10 split, or over the
train set when the test set is separate, so both splits share one map.

Splits: if the user supplies a separate test set, ``"train"`` is the main source and
``"test"`` the other one. A separate test set is: the ``test_path`` option (with
``test_labels`` for its labels where they are not found automatically); a folder
holding ``train/`` and ``test/`` subfolders; ``.npz`` keys ``x_test``/``y_test`` (that
is, ``<key>_test``, ``<label_key>_test``); for IDX, the ``t10k-`` file next to a
``train-`` file (MNIST's naming). Otherwise the data is split 90/10 by a fixed
permutation (``numpy.random.RandomState(0)``, independent of `seed`), so the test
split never changes: the test split has ``round(N / 10)`` samples, the train split the rest.

An option given as None means its default, so callers may pass every option they know.
"""

from __future__ import annotations

import difflib
import gzip
import math
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from featmatch._checks import check_int
from featmatch.data.dataset import SPLITS, DataSet, subset
from featmatch.data.kinds import KIND_OPTIONS, dataset_kind, infer_kind
from featmatch.errors import UnknownOptionError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SCALES = ("auto", "none", "uint8", "unit", "minmax")
TEST_FRACTION = 0.1
SPLIT_SEED = 0

# Options each format accepts (anything else is a mistake worth reporting).
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "folder": ("image_size", "channels", "test_path"),
    "npy": ("kind", "scale", "labels", "test_path", "test_labels"),
    "npz": ("kind", "scale", "key", "label_key", "labels", "test_path", "test_labels"),
    "idx": ("kind", "scale", "labels", "test_path", "test_labels"),
}
FILE_OPTIONS: tuple[str, ...] = tuple(sorted({o for opts in FORMAT_OPTIONS.values() for o in opts}))

# IDX element types by the third byte of the magic number (big-endian data).
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
# Pixel value v (0..255) -> v / 127.5 - 1, computed in float64 and rounded once.
_PIXEL_TO_UNIT = (np.arange(256, dtype=np.float64) / 127.5 - 1.0).astype(np.float32)
_PIXEL_TO_UNIT.setflags(write=False)  # a constant
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


# --------------------------------------------------------------------------- dispatch


def is_idx_path(path: str | Path) -> bool:
    """Whether a file name looks like IDX: ends in ``-ubyte`` or has ``.idx`` (``.gz`` allowed).

    Example:
        >>> is_idx_path("train-images-idx3-ubyte.gz"), is_idx_path("data.npy")
        (True, False)
    """
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    return name.endswith("ubyte") or ".idx" in name


def detect_format(path: Path) -> str:
    """The format of an existing path: ``"folder"``, ``"npy"``, ``"npz"`` or ``"idx"``."""
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        return suffix[1:]
    if is_idx_path(path):
        return "idx"
    hint = " Hint: pass the folder that holds the images." if suffix in IMAGE_SUFFIXES else ""
    raise ValueError(
        f"cannot tell the format of data file {str(path)!r}: expected a folder of images, "
        f"a .npy or .npz file, or an IDX file (name ending in -ubyte or containing .idx, "
        f"optionally .gz).{hint}"
    )


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist.")
    return path


def load_file_dataset(
    path: str | Path,
    split: str = "train",
    *,
    seed: int = 0,
    size: int | None = None,
    **options: Any,
) -> DataSet:
    """Load one split of the user's data from a folder, ``.npy``/``.npz`` or IDX file.

    See the module docstring for formats, options, scaling and splits.

    Args:
        path: A folder of images, or a ``.npy``, ``.npz`` or IDX file.
        split: ``"train"`` or ``"test"``.
        seed: Only used to choose the subset when `size` is given.
        size: Keep a random subset of this many samples (None keeps the whole split).
        **options: Format options: ``image_size``, ``channels`` (folders); ``kind``,
            ``scale``, ``key``, ``label_key``, ``labels`` (arrays, IDX);
            ``test_path``, ``test_labels`` (a separate test set).

    Returns:
        A `DataSet` named after the file its split came from.

    Raises:
        FileNotFoundError: If a named file or folder does not exist.
        ValueError: If a file cannot be read, is corrupt, or does not match the others
            (the message names the file and what was wrong).
        UnknownOptionError: If an option is unknown (a ``TypeError``).

    Example:
        >>> data = load_file_dataset("mnist/train-images-idx3-ubyte.gz")  # doctest: +SKIP
        >>> data.x.shape  # doctest: +SKIP
        torch.Size([60000, 1, 28, 28])
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    path = _existing(path, "data path")
    fmt = detect_format(path)
    _check_options(fmt, path, options)
    options = {k: v for k, v in options.items() if v is not None}  # None: the default
    sources = _split_sources(path, fmt, options)
    if sources is not None:
        train_source, test_source = sources
        if split == "train":
            data = _read(train_source, None).data
        else:
            # The test set is scaled like the train set (minmax needs train's range).
            reference = _read(train_source, None).scale_range if _needs_reference(test_source) else None
            data = _read(test_source, reference).data
    else:
        data = _split_90_10(_read(_Source(fmt, path, options), None), split)
    return subset(data, size, seed)


def _check_options(fmt: str, path: Path, options: Mapping[str, Any]) -> None:
    for option, value in options.items():
        if option not in FILE_OPTIONS:
            hint = difflib.get_close_matches(option, FILE_OPTIONS, n=1)
            raise UnknownOptionError(
                f"unknown data option {option!r}; valid options are {FILE_OPTIONS}."
                + (f" Hint: did you mean {hint[0]!r}?" if hint else "")
            )
        if value is not None and option not in FORMAT_OPTIONS[fmt]:
            raise ValueError(
                f"option {option!r} does not apply to {fmt} data ({str(path)!r}); it takes {FORMAT_OPTIONS[fmt]}."
            )
    if options.get("scale") not in (None, *SCALES):
        raise ValueError(f"scale must be one of {SCALES}, got {options['scale']!r}.")
    if options.get("kind") not in (None, *KIND_OPTIONS):
        raise ValueError(f"kind must be 'image', 'sequence' or 'vector' (or 'points'), got {options['kind']!r}.")
    if options.get("channels") not in (None, 1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {options['channels']!r}.")
    if options.get("test_labels") is not None and options.get("test_path") is None:
        raise ValueError("test_labels was given without test_path. Hint: pass test_path too.")


# --------------------------------------------------------------------------- sources and splits


@dataclass(frozen=True)
class _Source:
    """Where one split's data lives: a format, a path, the options, and (npz) a key suffix."""

    fmt: str
    path: Path
    options: Mapping[str, Any]
    key_suffix: str = ""  # "_test" reads x_test / y_test from an npz
    # Class subfolder names of the train folder, so a test folder numbers classes alike.
    class_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class _Loaded:
    data: DataSet
    scale_range: tuple[float, float] | None  # (min, max) before scaling, for minmax


def _needs_reference(source: _Source) -> bool:
    return source.options.get("scale") == "minmax"


def _split_sources(path: Path, fmt: str, options: Mapping[str, Any]) -> tuple[_Source, _Source] | None:
    """The (train, test) sources when the user supplied a separate test set, else None."""
    common = {k: v for k, v in options.items() if k not in ("test_path", "test_labels")}
    # A labels file belongs to the train data; the test data gets test_labels, or finds
    # its own. labels=False (no labels) holds for both.
    test_options = {k: v for k, v in common.items() if k != "labels" or v is False}
    if options.get("test_labels") is not None:
        test_options["labels"] = options["test_labels"]
    if options.get("test_path") is not None:
        test = _existing(options["test_path"], "test_path")
        test_fmt = detect_format(test)
        names = _class_names(path) if fmt == "folder" and test_fmt == "folder" else None
        return _Source(fmt, path, common), _Source(test_fmt, test, test_options, class_names=names)
    if fmt == "folder" and (path / "train").is_dir() and (path / "test").is_dir():
        names = _class_names(path / "train")
        return _Source(fmt, path / "train", common), _Source(fmt, path / "test", common, class_names=names)
    if fmt == "npz":
        key = options.get("key", "x")
        with _open_npz(path) as archive:
            if f"{key}_test" in archive.files:
                test_source = _Source(fmt, path, test_options, key_suffix="_test")
                return _Source(fmt, path, common), test_source
    if fmt == "idx":
        sibling = _idx_test_sibling(path)
        if sibling is not None:
            return _Source(fmt, path, common), _Source(fmt, sibling, test_options)
    return None


def split_index(n: int, split: str, name: str) -> torch.Tensor:
    """The sorted row indices of `split` in the fixed 90/10 split of `n` samples.

    The test split has ``round(n / 10)`` samples chosen by a ``numpy.random.RandomState(0)``
    permutation (independent of any seed argument); the train split the rest.

    Args:
        n: Number of samples.
        split: ``"train"`` or ``"test"``.
        name: The data's name, for the error message.

    Raises:
        ValueError: If `split` is ``"test"`` and `n` is too small for a test sample.

    Example:
        >>> split_index(10, "test", "demo").tolist()
        [2]
    """
    n_test = round(n * TEST_FRACTION)
    if split == "test" and n_test == 0:
        raise ValueError(
            f"data {name!r} has only {n} samples: too few for a 10% test split. "
            f"Hint: pass a separate test set with test_path=..."
        )
    order = np.random.RandomState(SPLIT_SEED).permutation(n)
    return torch.from_numpy(np.sort(order[:n_test] if split == "test" else order[n_test:]))


def _split_90_10(loaded: _Loaded, split: str) -> DataSet:
    data = loaded.data
    index = split_index(len(data), split, data.name)
    y = None if data.y is None else data.y[index]
    return DataSet(name=data.name, kind=data.kind, x=data.x[index], y=y)


def _read(source: _Source, reference: tuple[float, float] | None) -> _Loaded:
    if source.fmt == "folder":
        return _Loaded(_read_image_folder(source.path, source.options, source.class_names), None)
    if source.fmt == "npy":
        array = _load_npy(source.path)
        labels = _read_labels_option(source.options.get("labels"))
        name = str(source.path)
    elif source.fmt == "npz":
        array, labels, name = _read_npz(source.path, source.options, source.key_suffix)
        if "labels" in source.options:  # a labels file, or False, overrides the npz's own
            labels = _read_labels_option(source.options["labels"])
    else:
        array = read_idx(source.path)
        if array.ndim == 1:
            raise ValueError(
                f"IDX file {str(source.path)!r} is 1-D ({array.shape[0]} values): it looks like "
                f"a labels file. Hint: pass the images file; its labels are found next to it."
            )
        labels_option = source.options.get("labels")
        if labels_option is None:
            sibling = _idx_labels_sibling(source.path)
            labels = None if sibling is None else (read_idx(sibling), str(sibling))
        else:
            labels = _read_labels_option(labels_option)
        name = str(source.path)
    return _to_dataset(name, array, labels, source.options, reference)


# --------------------------------------------------------------------------- arrays


def _load_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"cannot read .npy file {str(path)!r}: {error}") from error
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{str(path)!r} is not a .npy array file. Hint: .npz files need the .npz suffix.")
    return array


def _open_npz(path: Path) -> Any:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"cannot read .npz file {str(path)!r}: {error}") from error
    if not hasattr(archive, "files"):
        raise ValueError(f"{str(path)!r} is not an .npz archive (it holds a single array). Hint: rename it to .npy.")
    return archive


def _read_npz(
    path: Path, options: Mapping[str, Any], suffix: str
) -> tuple[np.ndarray, tuple[np.ndarray, str] | None, str]:
    explicit_key = "key" in options
    key = options.get("key", "x")
    label_key = options.get("label_key", "y")
    with _open_npz(path) as archive:
        keys = list(archive.files)
        if not explicit_key and key not in keys and len(keys) == 1:
            key = keys[0]  # e.g. np.savez(path, array) stores "arr_0"
        if key + suffix not in keys:
            raise ValueError(
                f".npz file {str(path)!r} has no array {key + suffix!r}; it holds {keys}. "
                f"Hint: pass key=<name of the samples array> (featmatch train --set data.options.key=NAME); "
                f"pairs (task conditional) are read from arrays named condition and target, or those "
                f"data.options.condition_key and target_key name."
            )
        try:
            array = archive[key + suffix]
            labels = None
            if label_key + suffix in keys:
                labels = (archive[label_key + suffix], f"{path}[{label_key + suffix}]")
            elif "label_key" in options:
                raise ValueError(
                    f".npz file {str(path)!r} has no labels array {label_key + suffix!r}; "
                    f"it holds {keys}. Hint: pass label_key=<name of the labels array>, "
                    f"or leave it out for no labels."
                )
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"cannot read .npz file {str(path)!r}: {error}") from error
    name = str(path) if not suffix else f"{path}[{key + suffix}]"
    return array, labels, name


def _read_labels_option(labels: Any) -> tuple[np.ndarray, str] | None:
    if labels is None or labels is False:
        return None
    path = _existing(labels, "labels file")
    if path.suffix.lower() == ".npy":
        return _load_npy(path), str(path)
    if is_idx_path(path):
        return read_idx(path), str(path)
    raise ValueError(f"labels file {str(path)!r} must be a .npy or IDX file.")


def _to_dataset(
    name: str,
    array: np.ndarray,
    labels: tuple[np.ndarray, str] | None,
    options: Mapping[str, Any],
    reference: tuple[float, float] | None,
) -> _Loaded:
    """Check, reshape and scale a samples array (and its labels) into a DataSet."""
    if array.dtype.kind not in "biuf":
        raise ValueError(f"data {name!r} has dtype {array.dtype}; expected integers or floats.")
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(
            f"data {name!r} has shape {array.shape}; expected (N, D) points, (N, H, W) or "
            f"(N, C, H, W) images, or (N, C, T) sequences with N >= 1."
        )
    # The kind given, else the one the shape says (an ambiguous shape asks for --data-kind).
    kind = dataset_kind(options["kind"]) if options.get("kind") else infer_kind([array.shape], name)
    layouts = {
        ("points", 2): None,
        ("image", 3): 1,  # (N, H, W) -> add a channel axis at 1
        ("image", 4): None,
        ("sequence", 2): 1,  # (N, T) -> (N, 1, T)
        ("sequence", 3): None,
    }
    if kind is None or (kind, array.ndim) not in layouts:
        raise ValueError(
            f"data {name!r} has shape {array.shape}, which is not a layout for kind={kind!r}: "
            f"points (N, D); image (N, H, W) or (N, C, H, W); sequence (N, T) or (N, C, T)."
        )
    if kind == "image" and array.ndim == 4 and array.shape[1] > 4 and array.shape[-1] in (1, 3, 4):
        raise ValueError(
            f"data {name!r} has shape {array.shape}, which looks channels-last (N, H, W, C); "
            f"featmatch needs (N, C, H, W). Hint: np.transpose(x, (0, 3, 1, 2))."
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"data {name!r} contains NaN or infinite values.")
    scale = options.get("scale", "auto")
    low, high = float(array.min()), float(array.max())
    if scale == "auto" and kind == "image" and array.dtype.kind in "iu":
        if low < 0 or high > 255:
            raise ValueError(
                f"integer images {name!r} must hold values 0..255 to be scaled to [-1, 1], "
                f"found {low:g}..{high:g}. Hint: pass scale='minmax' or scale='none'."
            )
        values = _PIXEL_TO_UNIT[array]  # exact, and no float64 copy of a large image set
    else:
        # float32 throughout: large user arrays need no float64 copy.
        values = array.astype(np.float32)
        if scale == "uint8":
            values = values / np.float32(127.5) - np.float32(1.0)
        elif scale == "unit":
            values = np.float32(2.0) * values - np.float32(1.0)
        elif scale == "minmax":
            lo, hi = reference if reference is not None else (low, high)
            if hi <= lo:
                raise ValueError(f"scale='minmax' needs data that is not constant; {name!r} has every value {lo:g}.")
            values = ((values - lo) * (2.0 / (hi - lo)) - 1.0).astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(values))
    axis = layouts[(kind, array.ndim)]
    if axis is not None:
        x = x.unsqueeze(axis)  # add the channel axis: (N, 1, H, W) or (N, 1, T)
    y = None if labels is None else _check_labels(labels, len(x), name)
    return _Loaded(DataSet(name=name, kind=kind, x=x, y=y), (low, high))


def _check_labels(labels: tuple[np.ndarray, str], n: int, name: str) -> torch.Tensor:
    values, where = labels
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise ValueError(
            f"labels {where!r} must be a 1-D integer array, got shape {values.shape} and dtype {values.dtype}."
        )
    if len(values) != n:
        raise ValueError(
            f"labels {where!r} hold {len(values)} labels but data {name!r} has {n} samples; the counts must match."
        )
    if len(values) and values.min() < 0:
        raise ValueError(f"labels {where!r} must be >= 0, found {values.min()}.")
    return torch.from_numpy(values.astype(np.int64))


# --------------------------------------------------------------------------- IDX


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), raw or gzip-compressed.

    The header is ``0x00 0x00 <type> <ndim>`` followed by `ndim` big-endian uint32
    sizes; the data follows, big-endian. Types: 0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64. Compression is detected from the gzip magic
    bytes, not the name.

    Args:
        path: The file.

    Returns:
        An array of the header's shape, in native byte order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not IDX, is truncated, or has bytes left over.

    Example:
        >>> read_idx("train-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
        (60000,)
    """
    return parse_idx(idx_contents(path), str(path))


def idx_contents(path: str | Path) -> bytes:
    """The bytes of an IDX file, decompressed when it is a gzip (detected from its magic bytes).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it is a damaged gzip file.

    Example:
        >>> idx_contents("train-labels-idx1-ubyte.gz")[:4]  # doctest: +SKIP
        b'\\x00\\x00\\x08\\x01'
    """
    path = _existing(path, "IDX file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"IDX file {str(path)!r} is a damaged gzip file: {error}") from error
    return raw


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the (uncompressed) bytes of an IDX file; ``name`` is used in error messages.

    Example:
        >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])).tolist()
        [7, 9]
    """
    if len(raw) < 4:
        raise ValueError(f"IDX file {name!r} is truncated: expected a 4-byte magic number, found {len(raw)} bytes.")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{name!r} is not an IDX file: its magic number starts with bytes {raw[:2].hex()}, expected 0000."
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"IDX file {name!r} has unknown data type code 0x{code:02X}; expected one of {known}.")
    if ndim == 0:
        raise ValueError(f"IDX file {name!r} declares 0 dimensions; expected at least 1.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"IDX file {name!r} is truncated: its header needs {header} bytes for {ndim} dimensions, found {len(raw)}."
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        problem = "is truncated" if found < expected else "has extra bytes"
        raise ValueError(
            f"IDX file {name!r} {problem}: the header says shape {shape} of "
            f"{dtype.name}, expected {expected} bytes of data, found {found}."
        )
    array = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header)
    return array.reshape(shape).astype(dtype.newbyteorder("="))


def _with_or_without_gz(directory: Path, name: str) -> Path | None:
    stem = name[: -len(".gz")] if name.endswith(".gz") else name
    for candidate in (directory / name, directory / stem, directory / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _idx_labels_sibling(path: Path) -> Path | None:
    """``train-images-idx3-ubyte[.gz]`` -> an existing ``train-labels-idx1-ubyte[.gz]``."""
    name = path.name
    if "images" not in name:
        return None
    labels_name = re.sub(r"idx\d", "idx1", name.replace("images", "labels"))
    return _with_or_without_gz(path.parent, labels_name)


def _idx_test_sibling(path: Path) -> Path | None:
    """``train-...`` -> an existing ``t10k-...`` next to it (MNIST's test-set prefix)."""
    if not path.name.startswith("train"):
        return None
    return _with_or_without_gz(path.parent, "t10k" + path.name[len("train") :])


# --------------------------------------------------------------------------- image folders


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    entries = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in entries
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _class_folders(folder: Path) -> list[Path]:
    return sorted(
        d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") and _image_files(d, recursive=True)
    )


def _class_names(folder: Path) -> tuple[str, ...]:
    return tuple(d.name for d in _class_folders(folder))


def _image_size_option(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    hint = f" Hint: image_size is one int >= 1 (square images) or a pair (H, W) of them; got {image_size!r}."
    if isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        return check_int("image_size", image_size[0], minimum=1, hint=hint), check_int(
            "image_size", image_size[1], minimum=1, hint=hint
        )
    size = check_int("image_size", image_size, minimum=1, hint=hint)
    return size, size


def _read_image_folder(folder: Path, options: Mapping[str, Any], class_names: tuple[str, ...] | None = None) -> DataSet:
    """Read a folder of images; `class_names` (from the train folder) fixes the label numbers."""
    _image_size_option(options.get("image_size"))  # a bad option fails before any file is read
    top_level = _image_files(folder, recursive=False)
    classes = _class_folders(folder)
    if top_level and classes:
        raise ValueError(
            f"image folder {str(folder)!r} has images both at its top level (e.g. "
            f"{top_level[0].name!r}) and in subfolders (e.g. {classes[0].name!r}/); expected "
            f"either unlabelled images or one subfolder per class."
        )
    if class_names is not None and [d.name for d in classes] != list(class_names):
        unknown = sorted({d.name for d in classes} - set(class_names))
        if unknown or (not classes and class_names):
            raise ValueError(
                f"test image folder {str(folder)!r} has class subfolders {[d.name for d in classes]}, "
                f"which do not match the train folder's {list(class_names)}. Hint: give both "
                f"the same class subfolders."
            )
    names = list(class_names) if class_names is not None else [d.name for d in classes]
    if classes:
        files = [(f, names.index(d.name)) for d in classes for f in _image_files(d, recursive=True)]
    else:
        files = [(f, -1) for f in top_level]
    if not files:
        raise ValueError(f"image folder {str(folder)!r} holds no images; expected files ending in {IMAGE_SUFFIXES}.")

    x = read_images([file for file, _ in files], folder, options)[0]
    y = torch.tensor([label for _, label in files], dtype=torch.int64) if classes else None
    return DataSet(name=str(folder), kind="image", x=x.contiguous(), y=y)


def read_images(
    files: list[Path], folder: Path, options: Mapping[str, Any], *, halves: bool = False
) -> list[torch.Tensor]:
    """Decode image files into ``(N, C, H, W)`` float32 tensors in ``[-1, 1]`` (``x / 127.5 - 1``).

    Options as for a folder of images: ``image_size`` (resize every image, bilinear; default:
    keep the size, which every image must then share) and ``channels`` (1 or 3; default 1 if
    every image is grayscale, else 3). With `halves`, each image is the left and right halves
    side by side (the pix2pix layout): its width must be even, it is cut in the middle, and
    each half is resized on its own (nothing of one half leaks into the other).

    Args:
        files: The image files, in the order of the rows.
        folder: Where they come from, for messages.
        options: ``image_size`` and ``channels`` (others are ignored).
        halves: Cut every image into its left and right halves.

    Returns:
        ``[x]``, or ``[left, right]`` with `halves`.

    Raises:
        ValueError: If an image cannot be read, sizes differ without ``image_size``, or (with
            `halves`) a width is odd; the message names the file.

    Example:
        >>> folder = Path("facades/train")
        >>> left, right = read_images(sorted(folder.glob("*.jpg")), folder, {}, halves=True)  # doctest: +SKIP
    """
    # Imported here: Pillow is an optional dependency (featmatch[train]).
    from PIL import Image, UnidentifiedImageError

    size = _image_size_option(options.get("image_size"))
    # First pass: sizes and modes from the headers, to check sizes and choose channels.
    infos: list[tuple[tuple[int, int], str]] = []
    for file in files:
        try:
            with Image.open(file) as image:
                height, width = image.height, image.width
                mode = image.mode
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ValueError(f"cannot read image {str(file)!r}: {error}") from error
        if halves:
            if width % 2:
                raise ValueError(
                    f"image {str(file)!r} is {height}x{width} (HxW): an odd width cannot hold two "
                    f"halves side by side. Hint: each image must be A and B side by side, of equal widths."
                )
            width //= 2
        infos.append(((height, width), mode))
    what = "image halves" if halves else "images"
    if size is None:
        first_size = infos[0][0]
        for file, (hw, _mode) in zip(files, infos, strict=True):
            if hw != first_size:
                raise ValueError(
                    f"{what} in {str(folder)!r} have different sizes: {files[0].name!r} is "
                    f"{first_size[0]}x{first_size[1]} (HxW), {str(file)!r} is {hw[0]}x{hw[1]}. "
                    f"Hint: pass image_size=(H, W) to resize them all."
                )
        size = first_size
    channels = options.get("channels")
    if channels is None:
        channels = 1 if all(mode in _GRAY_MODES for _, mode in infos) else 3

    # Second pass: decode, convert, (cut,) resize.
    mode = "L" if channels == 1 else "RGB"
    parts = 2 if halves else 1
    pixels = np.empty((parts, len(files), size[0], size[1], channels), dtype=np.uint8)  # (P, N, H, W, C)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                image = image.convert(mode)
                pieces = [image]
                if halves:
                    half = image.width // 2
                    pieces = [image.crop((0, 0, half, image.height)), image.crop((half, 0, image.width, image.height))]
                for part, piece in enumerate(pieces):
                    if (piece.height, piece.width) != size:
                        piece = piece.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                    pixels[part, i] = np.asarray(piece, dtype=np.uint8).reshape(size[0], size[1], channels)
        except (UnidentifiedImageError, OSError, ValueError) as error:
            raise ValueError(f"cannot read image {str(file)!r}: {error}") from error
    # (N, H, W, C) -> (N, C, H, W)
    return [torch.from_numpy(_PIXEL_TO_UNIT[p]).permute(0, 3, 1, 2).contiguous() for p in pixels]
