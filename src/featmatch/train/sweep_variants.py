"""Sweep variants: the checks of the config overrides that make up a variant of a sweep.

A variant is a name and a mapping of config overrides with dotted keys; the sweep owns the keys in
:data:`_RESERVED_KEYS` (data, seed, budget, place), so that every run has the same.

Example:
    >>> _describe({"objective": {"kind": "adv"}, "optim.lr_g": 0.001})
    'objective.kind=adv, optim.lr_g=0.001'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__: list[str] = []

# Keys a variant (or base_overrides) may not set: the sweep owns them, so that every run has
# the same data, budget, seed list and place.
_RESERVED_KEYS = {
    "data.name": "the data set is given once, as run_sweep's data",
    "seed": "seeds are given once, as run_sweep's seeds",
    "steps": "every variant gets the same budget, run_sweep's steps",
    "log.out": "each run goes to <out>/<variant>/seed<k>",
}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def _dotted_keys(overrides: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Every key of ``overrides`` as a dotted path, nested mappings included (both forms are accepted)."""
    for key, value in overrides.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            yield from _dotted_keys(value, path + ".")


def _check_not_reserved(where: str, overrides: Mapping[str, Any]) -> None:
    for key in _dotted_keys(overrides):
        if key in _RESERVED_KEYS:
            raise ValueError(
                f"{where} sets {key!r}, which the sweep controls: {_RESERVED_KEYS[key]}. "
                f"Hint: remove {key!r} from {where}."
            )


def _describe(overrides: Mapping[str, Any]) -> str:
    """``key=value`` pairs, the table's default text for a variant ('' for the data set's defaults)."""
    return " ".join(
        f"{key}={json.dumps(value, default=str)}" if not isinstance(value, str) else f"{key}={value}"
        for key, value in overrides.items()
    )
