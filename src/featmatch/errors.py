"""Exception types that mark an error as the caller's to fix, not a bug in featmatch.

The library raises the built-in type a Python user expects (``ValueError`` for a bad value,
``TypeError`` for an unknown keyword); the classes here add the marker :class:`InputError`, so
that the command line can report every user mistake in one line, whatever its built-in type,
and still show the traceback of a genuine bug.

Example:
    >>> try:
    ...     raise UnknownOptionError("unknown data option 'imagesize'")
    ... except TypeError as err:
    ...     isinstance(err, InputError)
    True
"""

from __future__ import annotations

__all__ = ["InputError", "UnknownOptionError"]


class InputError(Exception):
    """Marker base: the error comes from the caller's input (an option, a value, a file)."""


class UnknownOptionError(InputError, TypeError):
    """An option name that the callee does not take (a ``TypeError``, like an unknown keyword)."""
