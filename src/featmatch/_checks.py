"""Argument checks shared across featmatch: integers, and the deprecated ``(real, fake)`` call forms.

Errors name the argument and give the expected and the actual value (DESIGN.md, "Style").
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast

import torch

from featmatch.errors import InputError

__all__ = [
    "NotAnIntError",
    "check_int",
    "check_positive_int",
    "fake_real_arguments",
    "renamed_keywords",
    "warn_deprecated",
]

F = TypeVar("F", bound=Callable[..., Any])

# Frames in these folders are skipped when a deprecation warning looks for the user's line.
_INTERNAL_DIRS = (str(Path(__file__).resolve().parent), str(Path(torch.nn.__file__).resolve().parent))


class NotAnIntError(InputError, TypeError):
    """A value that must be an int is not one (or is a bool): a ``TypeError`` the CLI reports in one line."""


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None, hint: str = ""
) -> int:
    """Return ``value`` if it is an int (not a bool) in ``[minimum, maximum]``, else raise.

    Args:
        name: the argument's name, for the message.
        value: what the caller passed.
        minimum: smallest allowed value, or None for no lower bound.
        maximum: largest allowed value, or None for no upper bound.
        hint: appended to the message (start it with a space, e.g. ``" Hint: ..."``).

    Raises:
        NotAnIntError: ``value`` is not an int, or is a bool (``True`` is an int in Python); a
            ``TypeError`` and a :class:`featmatch.errors.InputError`.
        ValueError: ``value`` lies outside the bounds.

    Example:
        >>> check_int("k", 3, minimum=1)
        3
        >>> check_int("k", 0, minimum=1)
        Traceback (most recent call last):
            ...
        ValueError: k must be an int >= 1, got 0.
    """
    if minimum is not None and maximum is not None:
        expected = f"an int in [{minimum}, {maximum}]"
    elif minimum is not None:
        expected = f"an int >= {minimum}"
    elif maximum is not None:
        expected = f"an int <= {maximum}"
    else:
        expected = "an int"
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotAnIntError(f"{name} must be {expected}, got {type(value).__name__} {value!r}.{hint}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}, got {value!r}.{hint}")
    return value


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is a positive int, else raise a ValueError/TypeError naming ``name``.

    Example:
        >>> check_positive_int("width", 8)
        8
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotAnIntError(f"{name} must be an int, got {type(value).__name__} ({value!r}).")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    return value


def warn_deprecated(message: str) -> None:
    """Emit a DeprecationWarning attributed to the first caller outside featmatch and ``torch.nn``.

    So that Python's default filter shows it when that caller is a script's ``__main__``, also
    through ``nn.Module.__call__``.
    """
    frame: FrameType | None = sys._getframe(0)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def renamed_keywords(**renames: str) -> Callable[[F], F]:
    """Decorator: accept each deprecated keyword name ``old=new`` for one release, with a DeprecationWarning.

    Example:
        >>> @renamed_keywords(samples="fake")
        ... def count(fake):
        ...     return len(fake)
        >>> count(fake=[1, 2])
        2
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            old = [name for name in kwargs if name in renames]
            if old:
                for name in old:
                    new = renames[name]
                    if new in kwargs:
                        raise TypeError(f"{function.__name__}() got both {name}= and its new name {new}=.")
                    kwargs[new] = kwargs.pop(name)
                pairs = ", ".join(f"{name}= -> {renames[name]}=" for name in old)
                warn_deprecated(
                    f"{function.__name__}(): keyword names changed ({pairs}); "
                    "the old names are removed in the next release."
                )
            return function(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def fake_real_arguments(
    function: str,
    args: Sequence[Any],
    fake: Any,
    real: Any,
    old_keywords: Mapping[str, Any],
    *,
    old_order: Sequence[str],
    renames: Mapping[str, str],
    example: str,
) -> dict[str, Any]:
    """Resolve a call whose old form took real samples first, positionally, to the new ``fake=``/``real=``.

    The new form passes ``fake=`` and ``real=`` by keyword. For one release, positional
    arguments keep their old meaning (``old_order``, e.g. ``("real_logits", "fake_logits",
    "kind")``), and the old keyword names still work; both emit a DeprecationWarning. Mixing
    positional arguments with ``fake=``/``real=`` is a TypeError, since its meaning would
    change in the next release.

    Args:
        function: the public name, for the messages.
        args: the positional arguments as given.
        fake: the ``fake=`` keyword, or None.
        real: the ``real=`` keyword, or None.
        old_keywords: other keyword arguments as given (old names, or unknown ones).
        old_order: the old positional parameter names, in order.
        renames: old name -> new name, for every name in ``old_order`` and every old keyword.
        example: the new call form, for the messages, e.g. ``"discriminator_loss(fake=..., real=...)"``.

    Returns:
        New name -> value for every argument given (``fake`` and ``real`` always present).

    Raises:
        TypeError: positional arguments mixed with ``fake=``/``real=``, too many positional
            arguments, an argument given twice, an unknown keyword, or a missing fake or real.
    """
    new_given = [n for n, v in (("fake", fake), ("real", real)) if v is not None]
    if args and new_given:
        raise TypeError(
            f"{function}() got positional arguments together with {' and '.join(f'{n}=' for n in new_given)}. "
            f"Hint: pass both by keyword, {example}; positional arguments still mean the old order "
            f"({', '.join(old_order[:2])}) until the next release."
        )
    if len(args) > len(old_order):
        raise TypeError(f"{function}() takes at most {len(old_order)} positional arguments, got {len(args)}.")
    unknown = sorted(set(old_keywords) - set(renames))
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}.")
    resolved: dict[str, Any] = {renames[old]: value for old, value in zip(old_order[: len(args)], args, strict=True)}
    for old, value in old_keywords.items():
        new = renames[old]
        if new in resolved or (new == "fake" and fake is not None) or (new == "real" and real is not None):
            raise TypeError(f"{function}() got multiple values for {new!r} (as {old!r}).")
        resolved[new] = value
    if fake is not None:
        resolved["fake"] = fake
    if real is not None:
        resolved["real"] = real
    missing = [n for n in ("fake", "real") if resolved.get(n) is None]
    if missing:
        raise TypeError(f"{function}() missing {' and '.join(f'{n}=' for n in missing)}. Hint: {example}.")
    # One warning per call, after every check passed.
    if args:
        warn_deprecated(
            f"{function}() with positional arguments ({', '.join(old_order[: len(args)])}) is deprecated: "
            f"pass fake= and real= by keyword, {example}. In the next release the positional order "
            "becomes (fake, real), generated first as in feature_matching_loss."
        )
    elif old_keywords:
        pairs = ", ".join(f"{old}= -> {renames[old]}=" for old in old_keywords)
        warn_deprecated(
            f"{function}(): keyword names changed ({pairs}); the old names are removed in the next release. "
            f"Hint: {example}."
        )
    return resolved
