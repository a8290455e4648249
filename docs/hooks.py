"""mkdocs hooks (mkdocs.yml ``hooks:``): the pages generated at build time, and links between them.

- ``cli.md``: its ``<!-- cli-reference -->`` line is replaced by ``gen_cli.reference()``, the
  command-line reference generated from the CLI's table of flags (so it cannot drift).
- ``benchmarks.md`` and ``benchmarks-method.md`` are ``BENCHMARKS.md`` and
  ``benchmarks/README.md`` as they are in the repository (one copy, read at build time), with the
  figures of ``benchmarks/figures/`` under ``figures/``.
- Links are written to work on GitHub (``docs/guides/early.md`` links ``../../BENCHMARKS.md``,
  ``README.md`` links ``docs/history.md``); each one that points at a file the site carries is
  rewritten to that file's place in the site. A link to anything else is left alone, so mkdocs
  (``--strict``) fails on it when it is broken.
"""

from __future__ import annotations

import posixpath
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))

from gen_cli import reference  # noqa: E402  (docs/ is not a package; the path is set just above)

CLI_MARKER = "<!-- cli-reference -->"

#: Site page -> the repository file it is made from.
GENERATED = {"benchmarks.md": "BENCHMARKS.md", "benchmarks-method.md": "benchmarks/README.md"}
FIGURES = "benchmarks/figures"

_LINK = re.compile(r"(!?\[[^\]\n]*\]\()([^)\s]+)(\))")


def _site_path(repo_path: str) -> str | None:
    """Where the site carries repository file ``repo_path``, or None."""
    for page, source in GENERATED.items():
        if repo_path == source:
            return page
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/") :]
    if repo_path.startswith(FIGURES + "/"):
        return "figures/" + repo_path[len(FIGURES) + 1 :]
    return None


def rewrite_links(markdown: str, page_repo_path: str, page_site_path: str) -> str:
    """Links of a page at ``page_repo_path`` in the repository, for its copy at ``page_site_path``."""

    def fix(match: re.Match[str]) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target):  # a URL, an anchor on the page, absolute
            return match.group(0)
        path, hash_, anchor = target.partition("#")
        repo = posixpath.normpath(posixpath.join(posixpath.dirname(page_repo_path), path))
        site = _site_path(repo)
        if site is None:
            return match.group(0)
        new = posixpath.relpath(site, posixpath.dirname(page_site_path) or ".")
        return match.group(1) + new + hash_ + anchor + match.group(3)

    return _LINK.sub(fix, markdown)


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    for page, source in GENERATED.items():
        files.append(File.generated(config, page, content=(ROOT / source).read_text(encoding="utf-8")))
    for figure in sorted((ROOT / FIGURES).glob("*.png")):
        files.append(File.generated(config, f"figures/{figure.name}", abs_src_path=str(figure)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files, **kwargs: Any) -> str:
    site_path = page.file.src_uri
    if site_path == "cli.md":
        if CLI_MARKER not in markdown:
            raise ValueError(f"docs/cli.md lost its {CLI_MARKER} line, where the generated reference goes")
        markdown = markdown.replace(CLI_MARKER, reference())
    repo_path = GENERATED.get(site_path, f"docs/{site_path}")
    return rewrite_links(markdown, repo_path, site_path)
