"""What the samples of a data set are: images, sequences or vectors (``featmatch train --data-kind``).

A user's array says its layout only through its shape, and one shape can mean two things: an
``(N, 28, 32)`` array holds 28 x 32 grayscale images or 28-channel sequences of 32 steps. The
rule (:func:`infer_kind`): ``(N, D)`` is vectors, ``(N, C, H, W)`` images, ``(N, 1, T)``
one-channel sequences (an image one pixel high is not a picture), ``(N, S, S)`` square images;
any other ``(N, A, B)`` is ambiguous and the loader asks for the kind (``--data-kind``, config
key ``data.kind``, loader option ``kind``) rather than guess. Paired arrays are read together:
``(N, 2, 40)`` conditions with ``(N, 1, 40)`` targets are both sequences.

The kinds' names: ``image``, ``sequence`` and ``vector`` as users write them (:data:`DATA_KINDS`);
:class:`featmatch.data.DataSet` calls vectors ``"points"``, and the loader option takes both.

Example:
    >>> infer_kind([(100, 1, 32)], "seq.npy"), infer_kind([(100, 28, 28)], "x.npy")
    ('sequence', 'image')
    >>> infer_kind([(100, 2, 40), (100, 1, 40)], "pairs.npz")
    'sequence'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from featmatch.errors import InputError

__all__ = [
    "BUILTIN_KINDS",
    "DATA_KINDS",
    "KIND_OPTIONS",
    "AmbiguousKindError",
    "dataset_kind",
    "infer_kind",
    "user_kind",
]

#: The kinds of samples, as ``--data-kind`` and ``data.kind`` spell them.
DATA_KINDS: tuple[str, ...] = ("image", "sequence", "vector")

#: What the loaders' option ``kind`` accepts: :data:`DATA_KINDS` and ``points`` (``DataSet.kind``'s
#: name for vectors).
KIND_OPTIONS: tuple[str, ...] = (*DATA_KINDS, "points")

#: The kind of every built-in data set (unpaired and paired; a paired set's targets), so that a
#: run can be checked and described without loading its data.
BUILTIN_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "ring8": "vector",
        "grid25": "vector",
        "digits": "image",
        "mnist1d": "sequence",
        "mnist": "image",
        "digits-superres": "image",
        "digits-inpaint": "image",
        "mnist1d-complete": "sequence",
    }
)

# DataSet.kind of each user-facing kind, and back.
_TO_DATASET = {"image": "image", "sequence": "sequence", "vector": "points", "points": "points"}
_TO_USER = {"image": "image", "sequence": "sequence", "points": "vector"}


class AmbiguousKindError(InputError, ValueError):
    """A shape that holds images or sequences alike: the caller must say which."""


def dataset_kind(kind: str) -> str:
    """``DataSet.kind`` for a kind as users write it (``"vector"`` -> ``"points"``).

    Raises:
        ValueError: not one of :data:`KIND_OPTIONS`.

    Example:
        >>> dataset_kind("vector"), dataset_kind("image")
        ('points', 'image')
    """
    if kind not in _TO_DATASET:
        raise ValueError(f"kind must be one of {', '.join(map(repr, DATA_KINDS))}; got {kind!r}.")
    return _TO_DATASET[kind]


def user_kind(kind: str) -> str:
    """The users' name of a ``DataSet.kind`` (``"points"`` -> ``"vector"``).

    Example:
        >>> user_kind("points")
        'vector'
    """
    return _TO_USER.get(kind, kind)


def _candidates(shape: Sequence[int]) -> set[str]:
    """The ``DataSet`` kinds an array of ``shape`` (batch axis first) can be read as."""
    if len(shape) == 2:
        return {"points"}
    if len(shape) == 4:
        return {"image"}
    if len(shape) == 3:
        first, second = int(shape[1]), int(shape[2])
        if first == 1 and second > 1:
            return {"sequence"}
        if first == second:
            return {"image"}
        return {"image", "sequence"}
    return set()


def infer_kind(shapes: Sequence[Sequence[int]], name: str) -> str | None:
    """The ``DataSet.kind`` of arrays of these shapes, read together (one array, or a pair's two).

    Returns ``None`` for a number of dimensions no kind has (the caller's own message says
    which layouts exist). For several arrays, the kind all of them can be read as; when they
    share none, each array's own.

    Raises:
        AmbiguousKindError: the shapes hold images or sequences alike; the message names the
            shape and the flag that decides (``--data-kind``).

    Example:
        >>> infer_kind([(10, 2)], "points.npy")
        'points'
        >>> try:
        ...     infer_kind([(10, 3, 32)], "x.npy")
        ... except AmbiguousKindError as err:
        ...     print(str(err).split("Hint: ")[1])
        say which with --data-kind image or --data-kind sequence (config key data.kind; the loader option kind).
    """
    options = [_candidates(shape) for shape in shapes]
    if any(not c for c in options):
        return None
    common = set.intersection(*options)
    if len(common) == 1:
        return common.pop()
    if not common and all(len(c) == 1 for c in options):
        return None  # different kinds (e.g. image conditions, sequence targets): the caller reads each alone
    shape = next(tuple(int(v) for v in s) for s, c in zip(shapes, options, strict=True) if len(c) > 1)
    first, second = shape[1], shape[2]
    shown = " and ".join(str(tuple(int(v) for v in s)) for s in shapes)
    raise AmbiguousKindError(
        f"data {name!r} has shape {shown}: {first} x {second} images (N, H, W), or sequences (N, C, T) of "
        f"{first} channels and {second} steps? Hint: say which with --data-kind image or --data-kind sequence "
        "(config key data.kind; the loader option kind)."
    )
