"""A griffe extension for the API reference: featmatch's docstrings as mkdocstrings reads them.

featmatch's docstrings are Google style with two habits griffe does not read the same way:

- ``Example:`` (singular) heads a section of doctest lines; griffe's Google parser knows only
  ``Examples:``, so the singular is renamed and the lines render as Python sessions.
- Sphinx roles (``:func:`featmatch.list_layers```, ``:class:`~featmatch.FeatureTap```) name other
  objects; they become inline code (``~`` keeps the last name only, as Sphinx shows it).

mkdocs.yml loads it (``extensions:`` of the python handler); nothing in featmatch imports it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", flags=re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|data|attr|mod|obj|exc|const|ref):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    name = match.group(2)
    if match.group(1):  # ~a.b.c shows c
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


def rewrite(text: str) -> str:
    """The docstring text as the site shows it.

    Example:
        >>> rewrite("Uses :func:`~featmatch.list_layers`.\\n\\nExample:\\n    >>> 1\\n    1")
        'Uses `list_layers`.\\n\\nExamples:\\n    >>> 1\\n    1'
    """
    return _ROLE.sub(_role, _EXAMPLE.sub(r"\1Examples:", text))


class FeatmatchDocstrings(griffe.Extension):
    """Rewrite each object's docstring before mkdocstrings parses it."""

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
