"""The CLI sits on top: no module of the library imports ``featmatch.cli`` (only ``__main__`` does)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import featmatch

PACKAGE = Path(featmatch.__file__).resolve().parent
ALLOWED = {PACKAGE / "cli.py", PACKAGE / "__main__.py"}


def _cli_imports(tree: ast.AST, package: str) -> list[int]:
    """Line numbers of every import of ``featmatch.cli`` in a module of ``package``: ``import
    featmatch.cli``, ``from featmatch.cli import x``, ``from featmatch import cli`` and their
    relative forms, anywhere (function bodies included)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else (node.module or "")
            names = [module, *(f"{module}.{a.name}" for a in node.names)]
        else:
            continue
        if any(n == "featmatch.cli" or n.startswith("featmatch.cli.") for n in names):
            lines.append(node.lineno)
    return lines


def test_no_library_module_imports_the_cli():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in ALLOWED:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        package = ".".join(parts if path.name == "__init__.py" else parts[:-1])
        lines = _cli_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), package)
        offenders += [f"{path.relative_to(PACKAGE)}:{line}" for line in lines]
    assert offenders == [], f"library modules import featmatch.cli: {offenders}"


def test_the_scan_finds_each_form():
    for source in ("import featmatch.cli", "from featmatch.cli import main", "from featmatch import cli",
                   "def f():\n    from featmatch.cli import train_overrides", "from ..cli import main",
                   "from .. import cli"):
        assert _cli_imports(ast.parse(source), "featmatch.train"), source
    assert not _cli_imports(ast.parse("from featmatch.train import sweep\nimport featmatch.client\nfrom . import cli"),
                            "featmatch.train")  # featmatch.train.cli is another module
