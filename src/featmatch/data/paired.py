"""Paired data sets for conditional tasks: built-in (condition, target) pairs and users' paired files.

Every loader here returns a `featmatch.data.PairedDataSet`; `subset`, `shard` and `batches`
take it as they take a `DataSet` (batches of ``(condition, target)``, pairs kept whole).

Built-in pairs (offline, labels kept, the fixed train/test splits of their source):

* ``digits-superres``: target the 8 x 8 digits ``(1, 8, 8)``; condition their 2 x 2
  average-pooled version ``(1, 4, 4)``, kept at 4 x 4 (a model upsamples it). Average pooling
  is linear, so the condition lies in ``[-1, 1]`` as the target does.
* ``digits-inpaint``: target the 8 x 8 digits; condition ``(2, 8, 8)``: channel 0 the digit
  with its lower half (rows 4..7) set to the background value -1 (blank paper), channel 1 the
  mask, 1 on hidden pixels and 0 on observed ones. The mask says which pixels are hidden:
  without it a hidden pixel and a blank one look the same (-1), and convolutions, which do not
  know where they are in the image, could not tell where to fill in.
* ``mnist1d-complete``: target the whole MNIST-1D sequence ``(1, 40)``; condition ``(2, 40)``:
  channel 0 the first half with steps 20..39 set to 0 (the standardised data's mean), channel
  1 the mask, 1 on hidden steps. The condition keeps the target's length, so that step t of
  the condition lines up with step t of the target: a 1-D U-Net copies the observed half
  through its skips, and a conditional discriminator (the reference article's 1-D
  convolutional kind, over condition and target stacked on channels) compares each step with
  what was observed there. A ``(1, 20)`` cut would have to be stretched to 40 steps to be
  stacked, putting step 10 of the observation next to step 20 of the target. The mask is
  needed here: 0 is also an ordinary value of the data.

`make_condition` builds these conditions from targets (e.g. for ``featmatch sample
--condition``).

Users' pairs (`load_paired_dataset` with a path; an option given as None means its default):

* **``.npz``** with arrays ``condition`` and ``target`` (other names: options ``condition_key``
  and ``target_key``; the same N; any layout and scaling of `featmatch.data.files`, options
  ``kind`` and ``scale`` applied to both sides, the kind read from both shapes together when not
  given; ``minmax`` maps each side by its own range); labels under ``y`` or ``labels`` if
  present (option ``label_key``).
* **Two folders of images with matching file names** (the suffix may differ: ``A/1.png``
  pairs with ``B/1.jpg``): ``A/`` and ``B/`` inside the given folder, or the given folder
  (condition) and the option ``target_path`` (target).
* **pix2pix's side-by-side layout**: a folder of images, each A and B side by side (left,
  right).
  Folder options: ``image_size``, ``channels`` (as for unpaired folders, applied to each side;
  by default each side keeps its own size and its own channels) and ``direction``:
  ``"AtoB"`` (default; A, the left half, is the condition) or ``"BtoA"``, as in pix2pix.

Splits of users' pairs, as for unpaired files: a separate test set when there is one, else
the fixed 90/10 split (`featmatch.data.files.split_index`). A separate test set is: the
``test_path`` option (read like the main path); ``.npz`` arrays ``condition_test`` and
``target_test`` (labels ``y_test``/``labels_test``); ``train/`` and ``test/`` subfolders of the
folder (each in one of the folder layouts), or of both ``A/`` and ``B/`` (pix2pix's own
``A/train``, ``B/train``), or of both folders given with ``target_path``.

Example:
    >>> pairs = load_paired_dataset("digits-superres", size=8)
    >>> len(pairs), pairs.condition_shape, pairs.target_shape
    (8, (1, 4, 4), (1, 8, 8))
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from featmatch.data.dataset import DataSet, PairedDataSet, check_split_and_seed, reject_options, subset
from featmatch.data.digits import load_digits
from featmatch.data.files import (
    SCALES,
    _existing,
    _image_files,
    _image_size_option,
    _open_npz,
    _to_dataset,
    read_images,
    split_index,
)
from featmatch.data.kinds import KIND_OPTIONS, infer_kind
from featmatch.data.mnist1d import load_mnist1d
from featmatch.errors import UnknownOptionError
from featmatch.registry import DATASETS, PAIRED_DATASETS

__all__ = [
    "DIRECTIONS",
    "PAIRED_DATASETS",
    "PAIRED_FILE_OPTIONS",
    "is_paired_source",
    "load_paired_dataset",
    "make_condition",
]

# PAIRED_DATASETS (the built-in paired data sets, `load_paired_dataset`) is featmatch.registry's, re-exported.

#: Which side of a pix2pix pair is the condition: A (left, folder ``A/``) or B.
DIRECTIONS: tuple[str, ...] = ("AtoB", "BtoA")

# Options each format of users' pairs accepts.
_FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "npz": ("kind", "scale", "condition_key", "target_key", "label_key", "test_path"),
    "folder": ("image_size", "channels", "direction", "target_path", "test_path"),
}
#: Every option of users' paired files.
PAIRED_FILE_OPTIONS: tuple[str, ...] = tuple(sorted({o for opts in _FORMAT_OPTIONS.values() for o in opts}))

# Value of a hidden digit pixel (blank paper: 0 ink -> 0 / 8 - 1) and of a hidden MNIST-1D step (the mean).
_DIGITS_BACKGROUND = -1.0
_SEQUENCE_FILL = 0.0
_LISTED = 10  # unmatched file names listed in a message


# --------------------------------------------------------------------------- built-in pairs


def make_condition(name: str, target: Tensor) -> Tensor:
    """The condition a built-in paired data set pairs with each target.

    ``digits-superres``: 2 x 2 average pooling, ``(N, 1, 8, 8) -> (N, 1, 4, 4)``.
    ``digits-inpaint``: ``(N, 1, H, W) -> (N, 2, H, W)``, the lower ``H - H // 2`` rows set to
    -1 (channel 0) and the mask, 1 on hidden pixels (channel 1). ``mnist1d-complete``:
    ``(N, 1, T) -> (N, 2, T)``, steps ``T // 2`` onwards set to 0 (channel 0) and the mask
    (channel 1). See the module docstring for why.

    Args:
        name: One of `PAIRED_DATASETS`.
        target: Targets in the data set's layout and range (``[-1, 1]``).

    Returns:
        The conditions, float32, on the device of `target`.

    Raises:
        ValueError: For an unknown name or a target of the wrong layout.

    Example:
        >>> make_condition("mnist1d-complete", torch.ones(2, 1, 40))[0, :, 18:22]
        tensor([[1., 1., 0., 0.],
                [0., 0., 1., 1.]])
    """
    if name not in PAIRED_DATASETS:
        raise ValueError(f"name must be one of {PAIRED_DATASETS}, got {name!r}.")
    expected = {"digits-superres": 4, "digits-inpaint": 4, "mnist1d-complete": 3}[name]
    layout = "(N, 1, H, W)" if expected == 4 else "(N, 1, T)"
    if not isinstance(target, Tensor) or target.ndim != expected or target.shape[1] != 1:
        raise ValueError(
            f"target for {name!r} must have shape {layout}, got "
            f"{tuple(target.shape) if isinstance(target, Tensor) else type(target).__name__}."
        )
    target = target.float()
    if name == "digits-superres":
        return F.avg_pool2d(target, 2)  # (N, 1, H / 2, W / 2)
    hidden = torch.zeros_like(target)
    if name == "digits-inpaint":
        hidden[..., target.shape[-2] // 2 :, :] = 1.0  # the lower half
        fill = _DIGITS_BACKGROUND
    else:
        hidden[..., target.shape[-1] // 2 :] = 1.0  # the second half
        fill = _SEQUENCE_FILL
    observed = torch.where(hidden.bool(), torch.full_like(target, fill), target)
    return torch.cat([observed, hidden], dim=1)  # (N, 2, ...)


def _load_builtin(name: str, split: str) -> PairedDataSet:
    source: DataSet = load_digits(split) if name.startswith("digits") else load_mnist1d(split)
    condition = make_condition(name, source.x)
    return PairedDataSet(name, condition, source.x, source.kind, source.kind, y=source.y)


# --------------------------------------------------------------------------- dispatch


def is_paired_source(name: str | Path, options: Mapping[str, Any] | None = None) -> bool:
    """Whether `name` is paired data: a name in `PAIRED_DATASETS`, or a ``.npz`` holding ``condition`` and ``target``.

    Folders are never guessed to be pairs (``A/`` and ``B/`` could be two classes; a
    side-by-side image is also just an image): load them with `load_paired_dataset` on
    purpose. A path that does not exist or cannot be read is not paired (the unpaired
    loader then reports what is wrong with it). `options` (the loader's): a
    ``condition_key`` or ``target_key`` in them names the arrays, which makes the file pairs.

    Example:
        >>> is_paired_source("digits-inpaint"), is_paired_source("digits")
        (True, False)
    """
    if isinstance(name, str) and name in PAIRED_DATASETS:
        return True
    options = options or {}
    if options.get("condition_key") is not None or options.get("target_key") is not None:
        return True  # the user named a pair's arrays: paired data, whatever the file holds
    path = Path(name).expanduser()
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(getattr(archive, "files", ()))
    except (ValueError, OSError, EOFError):
        return False
    return {"condition", "target"} <= keys


def load_paired_dataset(
    name: str | Path,
    split: str = "train",
    *,
    seed: int = 0,
    size: int | None = None,
    **options: Any,
) -> PairedDataSet:
    """Load one split of a built-in paired data set, or of the user's pairs from a path.

    See the module docstring for the built-in pairs, the formats of users' pairs, their
    options and splits.

    Args:
        name: A name from `PAIRED_DATASETS`, or the path of a ``.npz`` file or a folder.
        split: ``"train"`` or ``"test"``.
        seed: Seed, ``>= 0``; only used to choose the subset when `size` is given (the same
            rows as the unpaired loader's subset of the same length).
        size: Keep a random subset of this many pairs (None keeps the whole split).
        **options: Options of users' pairs: ``kind``, ``scale``, ``condition_key``,
            ``target_key``, ``label_key`` (``.npz``);
            ``image_size``, ``channels``, ``direction``, ``target_path`` (folders);
            ``test_path`` (both). Built-in data sets take none.

    Returns:
        The `PairedDataSet` of that split.

    Raises:
        ValueError: For an unknown name or split, or bad data (the message says which file
            and what was wrong, and how to fix it).
        FileNotFoundError: For a path that does not exist.
        UnknownOptionError: For an unknown option (a ``TypeError``).

    Example:
        >>> test = load_paired_dataset("mnist1d-complete", "test")
        >>> test.condition.shape, test.target.shape
        (torch.Size([1000, 2, 40]), torch.Size([1000, 1, 40]))
    """
    check_split_and_seed(split, seed)
    if isinstance(name, str) and name in PAIRED_DATASETS:
        reject_options(
            name,
            options,
            "built-in paired data set",
            "Options such as image_size or direction apply to users' paired files.",
        )
        return subset(_load_builtin(name, split), size, seed)
    path = Path(name).expanduser()
    if not path.exists() and isinstance(name, str) and "/" not in name and "\\" not in name and "." not in name:
        hint = (
            f" {name!r} is an unpaired data set: load it with featmatch.data.load_dataset." if name in DATASETS else ""
        )
        raise ValueError(
            f"unknown paired data set {name!r}: expected one of {PAIRED_DATASETS}, or the path "
            f"of a .npz file (arrays condition and target) or of a folder of image pairs.{hint}"
        )
    path = _existing(path, "paired data path")
    fmt = _paired_format(path)
    options = _check_options(fmt, path, options)
    pairs = _load_npz(path, split, options) if fmt == "npz" else _load_folder(path, split, options)
    return subset(pairs, size, seed)


def _paired_format(path: Path) -> str:
    if path.is_dir():
        return "folder"
    if path.suffix.lower() == ".npz":
        return "npz"
    raise ValueError(
        f"cannot read paired data from {str(path)!r}: expected a .npz file with arrays condition "
        f"and target, or a folder of image pairs (A/ and B/ subfolders, or side-by-side images)."
    )


def _check_options(fmt: str, path: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    for option, value in options.items():
        if option not in PAIRED_FILE_OPTIONS:
            close = difflib.get_close_matches(option, PAIRED_FILE_OPTIONS, n=1)
            raise UnknownOptionError(
                f"unknown paired data option {option!r}; valid options are {PAIRED_FILE_OPTIONS}."
                + (f" Hint: did you mean {close[0]!r}?" if close else "")
            )
        if value is not None and option not in _FORMAT_OPTIONS[fmt]:
            raise ValueError(
                f"option {option!r} does not apply to paired {fmt} data ({str(path)!r}); "
                f"it takes {_FORMAT_OPTIONS[fmt]}."
            )
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("scale", "auto") not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {given['scale']!r}.")
    if given.get("kind", "image") not in KIND_OPTIONS:
        raise ValueError(f"kind must be 'image', 'sequence' or 'vector' (or 'points'), got {given['kind']!r}.")
    if given.get("channels", 1) not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {given['channels']!r}.")
    if given.get("direction", "AtoB") not in DIRECTIONS:
        raise ValueError(
            f"direction must be one of {DIRECTIONS} (which side is the condition), got {given['direction']!r}."
        )
    _image_size_option(given.get("image_size"))
    if "target_path" in given:
        if "direction" in given:
            raise ValueError(
                "direction does not apply with target_path: the path is the condition folder and "
                "target_path the target folder. Hint: swap the two paths to swap the sides."
            )
        if "test_path" in given:
            raise ValueError(
                "test_path does not apply with target_path. Hint: give both folders train/ and "
                "test/ subfolders, or put the pairs in A/ and B/ subfolders of one folder."
            )
    return given


# --------------------------------------------------------------------------- .npz pairs


def _pair_keys(options: Mapping[str, Any]) -> tuple[str, str]:
    """The names of the condition and target arrays of a paired ``.npz`` (options, else the defaults)."""
    names = (options.get("condition_key", "condition"), options.get("target_key", "target"))
    for option, value in zip(("condition_key", "target_key"), names, strict=True):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{option} must be the name of an array in the .npz file; got {value!r}.")
    return names


def _npz_arrays(
    path: Path, options: Mapping[str, Any], suffix: str
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, str] | None]:
    names = _pair_keys(options)
    with _open_npz(path) as archive:
        keys = list(archive.files)
        missing = [k + suffix for k in names if k + suffix not in keys]
        if missing:
            named = (
                " (as named by condition_key / target_key)" if set(options) & {"condition_key", "target_key"} else ""
            )
            raise ValueError(
                f"paired .npz file {str(path)!r} has no array(s) {missing}; it holds {keys}. Pairs are read from "
                f"the arrays {names[0] + suffix!r} (conditions) and {names[1] + suffix!r} (targets){named}. Hint: "
                f"save the pairs with np.savez(path, condition=..., target=...), or name your arrays: --set "
                f"data.options.condition_key=NAME --set data.options.target_key=NAME (loader options "
                f"condition_key, target_key)."
            )
        if "label_key" in options:
            label_keys = [options["label_key"] + suffix]
            if label_keys[0] not in keys:
                raise ValueError(
                    f"paired .npz file {str(path)!r} has no labels array {label_keys[0]!r}; it holds "
                    f"{keys}. Hint: pass label_key=<name of the labels array>, or leave it out."
                )
        else:
            label_keys = [k + suffix for k in ("y", "labels") if k + suffix in keys]
            if len(label_keys) > 1:
                raise ValueError(
                    f"paired .npz file {str(path)!r} holds both {label_keys[0]!r} and {label_keys[1]!r}; "
                    f"which are the labels? Hint: pass label_key='y' or label_key='labels'."
                )
        labels = (archive[label_keys[0]], f"{path}[{label_keys[0]}]") if label_keys else None
        return archive[names[0] + suffix], archive[names[1] + suffix], labels


def _npz_pairs(
    path: Path,
    options: Mapping[str, Any],
    suffix: str,
    reference: tuple[tuple[float, float] | None, tuple[float, float] | None] = (None, None),
) -> tuple[PairedDataSet, tuple[tuple[float, float] | None, tuple[float, float] | None]]:
    """The pairs of one `.npz` source, and each side's value range (for ``scale="minmax"``)."""
    condition, target, labels = _npz_arrays(path, options, suffix)
    n_condition, n_target = len(condition), len(target)
    if n_condition != n_target:
        raise ValueError(
            f"paired .npz file {str(path)!r}: condition{suffix} holds {n_condition} samples but "
            f"target{suffix} holds {n_target}; row i of each must be one pair, so the counts must match."
        )
    side_options = {k: v for k, v in options.items() if k in ("kind", "scale")}
    if "kind" not in side_options:
        # Both sides read alike where the shapes allow one kind for both: (N, 2, 40) conditions
        # with (N, 1, 40) targets are sequences, though (N, 2, 40) alone could be images.
        kind = infer_kind([condition.shape, target.shape], str(path))
        if kind is not None:
            side_options["kind"] = kind
    keys = _pair_keys(options)
    cond = _to_dataset(f"{path}[{keys[0]}{suffix}]", condition, None, side_options, reference[0])
    tgt = _to_dataset(f"{path}[{keys[1]}{suffix}]", target, labels, side_options, reference[1])
    name = str(path) if not suffix else f"{path}[{suffix[1:]}]"
    pairs = PairedDataSet(name, cond.data.x, tgt.data.x, cond.data.kind, tgt.data.kind, y=tgt.data.y)
    return pairs, (cond.scale_range, tgt.scale_range)


def _load_npz(path: Path, split: str, options: Mapping[str, Any]) -> PairedDataSet:
    test_path = options.get("test_path")
    main_options = {k: v for k, v in options.items() if k != "test_path"}
    with _open_npz(path) as archive:
        keys = set(archive.files)
    test_keys = {f"{k}_test" for k in _pair_keys(options)}
    separate = test_keys & keys
    if separate and separate != test_keys:
        raise ValueError(
            f"paired .npz file {str(path)!r} holds {min(separate)!r} without its partner; a "
            f"separate test set needs both {' and '.join(sorted(test_keys))}."
        )
    if test_path is None and not separate:
        pairs, _ = _npz_pairs(path, main_options, "")
        return pairs._take(split_index(len(pairs), split, pairs.name))
    if split == "train":
        return _npz_pairs(path, main_options, "")[0]
    # The test pairs are scaled like the train pairs (minmax needs train's ranges).
    ranges = _npz_pairs(path, main_options, "")[1] if options.get("scale") == "minmax" else (None, None)
    if test_path is None:
        return _npz_pairs(path, main_options, "_test", ranges)[0]
    test = _existing(test_path, "test_path")
    if _paired_format(test) != "npz":
        raise ValueError(f"test_path {str(test)!r} must be a paired .npz file like {str(path)!r}.")
    return _npz_pairs(test, main_options, "", ranges)[0]


# --------------------------------------------------------------------------- image folders

# One source of image pairs: ("pair", condition folder, target folder) or ("side", folder, None).
_FolderSource = tuple[str, Path, Path | None]


def _ab(root: Path) -> tuple[Path, Path] | None:
    a, b = root / "A", root / "B"
    return (a, b) if a.is_dir() and b.is_dir() else None


def _layout(root: Path, direction: str) -> _FolderSource:
    ab = _ab(root)
    if ab is None:
        return ("side", root, None)
    a, b = ab
    return ("pair", a, b) if direction == "AtoB" else ("pair", b, a)


def _has_splits(*folders: Path) -> bool:
    return all((f / "train").is_dir() and (f / "test").is_dir() for f in folders)


def _folder_sources(path: Path, options: Mapping[str, Any]) -> tuple[_FolderSource, _FolderSource | None]:
    """The (train, test) sources of a folder of pairs; test None for the 90/10 split."""
    direction = options.get("direction", "AtoB")
    if "target_path" in options:
        target = _existing(options["target_path"], "target_path")
        if not target.is_dir():
            raise ValueError(f"target_path {str(target)!r} must be a folder of target images.")
        if _has_splits(path, target):
            return ("pair", path / "train", target / "train"), ("pair", path / "test", target / "test")
        return ("pair", path, target), None
    if _has_splits(path):
        return _layout(path / "train", direction), _layout(path / "test", direction)
    ab = _ab(path)
    if ab is not None and _has_splits(*ab):
        a, b = ab
        if direction == "BtoA":
            a, b = b, a
        return ("pair", a / "train", b / "train"), ("pair", a / "test", b / "test")
    main = _layout(path, direction)
    if "test_path" in options:
        test = _existing(options["test_path"], "test_path")
        if not test.is_dir():
            raise ValueError(f"test_path {str(test)!r} must be a folder of image pairs like {str(path)!r}.")
        return main, _layout(test, direction)
    return main, None


def _top_level_images(folder: Path, what: str) -> list[Path]:
    files = _image_files(folder, recursive=False)
    if not files:
        raise ValueError(
            f"{what} {str(folder)!r} holds no images at its top level; expected files ending in "
            f"a Pillow image suffix (.png, .jpg, ...). Hint: paired folders are A/ and B/ with "
            f"matching file names, or one folder of side-by-side A|B images."
        )
    return files


def _by_stem(files: list[Path], folder: Path) -> dict[str, Path]:
    stems: dict[str, Path] = {}
    for file in files:
        if file.stem in stems:
            raise ValueError(
                f"folder {str(folder)!r} holds {stems[file.stem].name!r} and {file.name!r}: two images "
                f"named {file.stem!r}, so which one is the pair is unclear. Hint: keep one of them."
            )
        stems[file.stem] = file
    return stems


def _listed(names: list[str]) -> str:
    shown = names[:_LISTED]
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"{shown}{more}"


def _read_pair_folders(condition_dir: Path, target_dir: Path, options: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    conditions = _by_stem(_top_level_images(condition_dir, "condition folder"), condition_dir)
    targets = _by_stem(_top_level_images(target_dir, "target folder"), target_dir)
    lonely_conditions = sorted(set(conditions) - set(targets))
    lonely_targets = sorted(set(targets) - set(conditions))
    if lonely_conditions or lonely_targets:
        problems = []
        if lonely_conditions:
            problems.append(
                f"{len(lonely_conditions)} image(s) in {str(condition_dir)!r} have no image of the same "
                f"name in {str(target_dir)!r}: {_listed(lonely_conditions)}"
            )
        if lonely_targets:
            problems.append(
                f"{len(lonely_targets)} image(s) in {str(target_dir)!r} have none in "
                f"{str(condition_dir)!r}: {_listed(lonely_targets)}"
            )
        raise ValueError(
            "the image folders do not pair up: " + "; ".join(problems) + ". Hint: give every "
            "condition image a target image of the same name (the suffix may differ), or remove "
            "the extra files."
        )
    stems = sorted(conditions)
    condition = read_images([conditions[s] for s in stems], condition_dir, options)[0]
    target = read_images([targets[s] for s in stems], target_dir, options)[0]
    return condition, target


def _read_folder_source(source: _FolderSource, options: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    kind, first, second = source
    if kind == "pair":
        assert second is not None
        return _read_pair_folders(first, second, options)
    files = _top_level_images(first, "folder of side-by-side image pairs")
    left, right = read_images(files, first, options, halves=True)
    return (left, right) if options.get("direction", "AtoB") == "AtoB" else (right, left)


def _load_folder(path: Path, split: str, options: Mapping[str, Any]) -> PairedDataSet:
    train, test = _folder_sources(path, options)
    if test is None:
        condition, target = _read_folder_source(train, options)
        pairs = PairedDataSet(str(path), condition, target, "image", "image")
        return pairs._take(split_index(len(pairs), split, pairs.name))
    source = train if split == "train" else test
    condition, target = _read_folder_source(source, options)
    return PairedDataSet(str(source[1]), condition, target, "image", "image")
