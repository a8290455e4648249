"""Where featmatch keeps files between runs: the user's cache folder.

Example:
    >>> cache_dir().name in ("featmatch", "Cache") or "FEATMATCH_CACHE" in os.environ
    True
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``$FEATMATCH_CACHE`` if set, else the platform's cache folder for featmatch.

    That folder is ``~/.cache/featmatch`` on Linux (``$XDG_CACHE_HOME/featmatch`` when set),
    ``~/Library/Caches/featmatch`` on macOS and ``%LOCALAPPDATA%\\featmatch\\Cache`` on Windows
    (``platformdirs.user_cache_dir``). It holds the metrics' trained classifiers and downloaded
    data (``data/mnist``).

    Example:
        >>> isinstance(cache_dir(), Path)
        True
    """
    env = os.environ.get("FEATMATCH_CACHE")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("featmatch", appauthor=False))
