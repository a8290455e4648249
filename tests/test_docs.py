"""The documentation: the generated command-line reference covers every flag, the README is a landing
page whose test command is CI's, and the relative links of the README, BENCHMARKS.md and docs/ work
where they are read (GitHub). The site's own build (`mkdocs build --strict`) is part of the test
command; these tests need no docs extra."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from featmatch.cli import build_parser
from featmatch.train.config import OPTIONS, RECIPES, all_options
from featmatch.train.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> str:
    return _load("gen_cli").reference()


def _section(reference: str, command: str) -> str:
    return reference.split(f"## `featmatch {command}`", 1)[1].split("\n## ", 1)[0]


def _row(reference: str, flag: str) -> str:
    """The row of ``featmatch train``'s ``flag``."""
    train = reference.split("## `featmatch train`", 1)[1].split("\n## `featmatch ", 1)[0]
    rows = [line for line in train.splitlines() if line.startswith(f"| `{flag}`")]
    assert len(rows) == 1, f"{flag}: {len(rows)} rows in the generated reference"
    return rows[0]


def test_the_reference_has_every_flag_of_the_options_table_with_its_key(reference):
    rows = all_options()
    assert {row.flag for row in OPTIONS} <= {row.flag for row in rows}
    for row in rows:  # the shared table and every registered task's own flags
        line = _row(reference, row.flag)
        assert f"| `{row.key}` |" in line, line


def test_the_reference_has_every_flag_of_every_command(reference):
    subparsers = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, parser in subparsers.choices.items():
        assert f"`featmatch {name}`" in reference
        section = _section(reference, name)
        for action in parser._actions:
            if action.help == "==SUPPRESS==" or "-h" in action.option_strings:
                continue
            assert f"| `{action.option_strings[0]}`" in section, (name, action.option_strings)


def test_the_reference_lists_the_tasks_and_recipes_and_shows_their_defaults(reference):
    for name in TASKS:
        assert f"| `{name}` |" in reference
    for name, recipe in RECIPES.items():
        assert f"| `{name}` | `{recipe.task}` |" in reference
    assert "semi-digits: 1000" in _row(reference, "--steps")  # a recipe's own default, as --help shows it
    assert "task semi (--task semi)" in reference and _row(reference, "--labels")


def test_help_text_is_escaped_for_markdown_tables():
    escape = _load("gen_cli").escape
    assert escape("a|b <x> *y* `z` [w]") == r"a\|b &lt;x&gt; \*y\* \`z\` \[w\]"


def test_the_cli_page_has_the_place_for_the_generated_reference():
    hooks = (DOCS / "hooks.py").read_text()
    marker = re.search(r'CLI_MARKER = "(.*)"', hooks).group(1)
    assert (DOCS / "cli.md").read_text().count(marker) == 1


def test_the_readme_is_a_landing_page_and_its_test_command_is_ci(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.startswith("pip install") and f"\n{ci}\n" in readme, "README's test command and .ci/run differ"
    assert "mkdocs build --strict" in ci and ".[dev,docs]" in ci
    for page in ("getting-started", "guides/generation", "guides/conditional", "guides/early", "guides/semi", "cli"):
        assert f"docs/{page}.md" in readme, page


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)  # not inside code blocks
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize(
    "path",
    [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted(DOCS.rglob("*.md"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_relative_links_point_at_files_that_exist(path):
    for target in _links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):
            continue
        file = target.split("#", 1)[0]
        assert (path.parent / file).exists(), f"{path.relative_to(ROOT)} links {target}, which does not exist"


def test_the_docstring_rewrite_for_the_api_pages():
    pytest.importorskip("griffe")  # the docs extra
    rewrite = _load("griffe_docstrings").rewrite
    text = "See :func:`~featmatch.list_layers` and :class:`featmatch.FeatureTap`.\n\nExample:\n    >>> 1\n    1"
    assert rewrite(text) == "See `list_layers` and `featmatch.FeatureTap`.\n\nExamples:\n    >>> 1\n    1"
