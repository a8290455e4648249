"""No module of featmatch over about 600 lines without the reason at its top (issue 26)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "featmatch"
LIMIT = 600
MARK = "Why one module"


def oversized_without_reason(root: Path, limit: int = LIMIT) -> list[str]:
    """The modules under ``root`` longer than ``limit`` lines whose docstring does not say why."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > limit and MARK not in (ast.get_docstring(ast.parse(text)) or ""):
            found.append(str(path.relative_to(root)))
    return found


def test_every_long_module_says_why_at_its_top():
    assert oversized_without_reason(SRC) == []


def test_the_check_finds_a_long_module_without_a_reason(tmp_path):
    (tmp_path / "short.py").write_text('"""Short."""\n')
    (tmp_path / "long.py").write_text('"""Long."""\n' + "x = 1\n" * 10)
    (tmp_path / "why.py").write_text(f'"""Long.\n\n{MARK}: it is one thing.\n"""\n' + "x = 1\n" * 10)
    assert oversized_without_reason(tmp_path, limit=5) == ["long.py"]
