"""Import a script of ``benchmarks/`` (or ``examples/``) by name, for the tests that keep those scripts working.

The scripts are not a package: they are run as ``python benchmarks/NAME.py`` and import their
helpers (``_tables``) from their own folder.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_benchmark(name: str) -> ModuleType:
    """The module of ``benchmarks/<name>.py``, imported once per test session."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def load_example(name: str) -> ModuleType:
    """The module of ``examples/<name>.py``, freshly imported; its ``__main__`` guard keeps it from running."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
