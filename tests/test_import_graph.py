"""The import graph of featmatch has no circle (issue 26).

Every import statement of ``src/featmatch``, inside functions too, is read with ``ast``. A module
that imports ``a.b.c`` depends on ``a.b.c`` and on the packages ``a.b`` and ``a`` that Python runs
first, except the importer's own packages (being imported already, they are not a new step);
``from a.b import c`` depends on the module ``a.b.c`` when there is one, else on ``a.b``. Imports
under ``if TYPE_CHECKING:`` never run and are left out (they are for annotations only).

An import inside a function, of featmatch or of anything else, is allowed for an optional dependency
or for start-up time only, and says which ("optional dependency", "start-up time") in a comment on
its line or above it, among the comments and imports right before it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
REASON = re.compile(r"optional dependency|start-up time")


@dataclass(frozen=True)
class Import:
    """One import of a featmatch module: who imports what, where, and whether inside a function."""

    importer: str
    target: str
    line: int
    in_function: bool


def module_names(src: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file of every module of ``package`` under ``src``."""
    names = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for rest in child.orelse:  # only the `else:` branch runs
                yield from _walk(rest, in_function)
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from _walk(child, inside)


def imports(src: Path, package: str) -> list[Import]:
    """Every import of a ``package`` module by a ``package`` module (see the module's docstring)."""
    names = module_names(src, package)
    found = []
    for importer, path in names.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:  # relative: from the importer's package, one level up per extra dot
                    base = importer.split(".")[: None if is_package else -1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in names else module for a in node.names]
            for target in targets:
                if target == package or target.startswith(package + "."):
                    found.append(Import(importer, target, node.lineno, in_function))
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def edges(found: list[Import]) -> dict[str, set[str]]:
    """Module -> the modules it needs run first."""
    graph: dict[str, set[str]] = {}
    for imp in found:
        own = set(_ancestors(imp.importer))
        needed = {imp.target} | {a for a in _ancestors(imp.target) if a not in own}
        graph.setdefault(imp.importer, set()).update(n for n in needed if n != imp.importer)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def unexplained_function_imports(src: Path, package: str) -> list[str]:
    """``module:line`` of each import inside a function (of any module) without its reason in a comment."""
    bad = []
    for name, path in module_names(src, package).items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node, in_function in _walk(ast.parse(text, filename=str(path))):
            if not in_function:
                continue
            first = node.lineno - 1
            while first > 0 and lines[first - 1].strip().startswith(("#", "from ", "import ")):
                first -= 1
            if not REASON.search(" ".join(lines[first : node.end_lineno or node.lineno])):
                what = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                bad.append(f"{name}:{node.lineno} imports {what}")
    return sorted(bad)


def test_featmatch_has_no_import_circle():
    found = imports(SRC, "featmatch")
    assert len(found) > 200  # the parser sees the package's imports
    assert cycles(edges(found)) == []


def test_imports_inside_functions_say_why():
    assert unexplained_function_imports(SRC, "featmatch") == []


def test_the_registry_imports_no_module_that_fills_or_reads_it():
    graph = edges(imports(SRC, "featmatch"))
    assert graph.get("featmatch.registry", set()) <= {"featmatch.errors", "featmatch"}


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    """A package with a circle hidden by an import inside a function, and a package-level one."""
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from toy.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from toy import a\n    return a\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy import a\n"
        "def g():\n    # start-up time: a is heavy\n    import sys\n    from toy import a\n"
    )
    (pkg / "sub" / "__init__.py").write_text("from toy.sub import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("from . import other\n")
    (pkg / "sub" / "other.py").write_text("from toy.sub import leaf\n")
    return tmp_path


def test_the_checks_find_hidden_circles_and_unexplained_imports(toy: Path):
    found = imports(toy, "toy")
    assert Import("toy.b", "toy.a", 2, True) in found
    assert Import("toy.sub.leaf", "toy.sub.other", 1, False) in found  # relative, resolved
    assert [i for i in found if i.importer == "toy.c"] == [Import("toy.c", "toy.a", 7, True)]  # TYPE_CHECKING left out
    assert cycles(edges(found)) == [["toy.a", "toy.b"], ["toy.sub.leaf", "toy.sub.other"]]
    assert unexplained_function_imports(toy, "toy") == ["toy.b:2 imports toy"]


def test_a_package_importing_its_own_module_is_no_circle(toy: Path):
    graph = edges(imports(toy, "toy"))
    assert "toy.sub" not in graph["toy.sub.leaf"]  # the importer's own package runs first anyway
    assert "toy.sub.leaf" in graph["toy.sub"]
