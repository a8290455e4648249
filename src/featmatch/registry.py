"""The registries: built-in data names, below everything that fills or reads them.

The data modules and the configuration import this module, and it imports none of them, so no
import circle runs through a registry.

- :data:`DATASETS` and :data:`PAIRED_DATASETS`: the built-in data sets (``featmatch.data``
  loads them).

Example:
    >>> "digits" in DATASETS, "digits-superres" in PAIRED_DATASETS
    (True, True)
"""

from __future__ import annotations

__all__ = ["DATASETS", "PAIRED_DATASETS"]

#: The built-in (unpaired) data sets: ``featmatch.data.load_dataset(NAME)``.
DATASETS: tuple[str, ...] = ("ring8", "grid25", "digits", "mnist1d", "mnist")

#: The built-in paired data sets (condition, target): ``featmatch.data.load_paired_dataset(NAME)``.
PAIRED_DATASETS: tuple[str, ...] = ("digits-superres", "digits-inpaint", "mnist1d-complete")
