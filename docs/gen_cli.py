"""The command-line reference (docs/cli.md), generated from the code at every build.

``featmatch train``'s flags are the rows of ``featmatch.train.config.OPTIONS`` and the registered
tasks' own flags (``featmatch.train.config.all_options()``); the CLI builds its parser from them
and nothing else. This module reads that same parser (``featmatch.cli.build_parser()``), so the
page shows each flag with the help, allowed values and per-recipe defaults that ``--help`` shows,
and the config key it sets, and cannot drift from the code. ``sample``, ``eval`` and ``compare``
come from the same parser; the kinds of training from ``featmatch.train.tasks.TASKS``; the
recipes from ``featmatch.train.config.RECIPES``.

``docs/hooks.py`` calls :func:`reference` while mkdocs builds; ``python docs/gen_cli.py`` prints
it; ``tests/test_docs.py`` checks that every flag of the table is on the page.
"""

from __future__ import annotations

import argparse
import html
import re
from collections.abc import Iterable

from featmatch.cli import build_parser
from featmatch.train.config import RECIPES, all_options
from featmatch.train.tasks import TASKS

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def escape(text: str) -> str:
    """``text`` as literal markdown inside a table cell (no emphasis, links, HTML or cell breaks)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(" ".join(text.split()), quote=False))


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _value(action: argparse.Action) -> str:
    """What follows the flag: nothing for a switch, the choices, or the metavar."""
    if action.nargs == 0:
        return ""
    if action.choices is not None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.metavar if isinstance(action.metavar, str) else action.dest.upper()


def _rows(parser: argparse.ArgumentParser, actions: Iterable[argparse.Action], keys: set[str] | None) -> list[str]:
    formatter = parser._get_formatter()
    header = "| flag | value | config key | what it does |" if keys is not None else "| flag | value | what it does |"
    lines = [header, "|---|---|---|---|" if keys is not None else "|---|---|---|"]
    for action in actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        flags = ", ".join(f"`{flag}`" for flag in action.option_strings)
        value = _value(action)
        cells = [flags, f"`{value}`" if value else ""]
        if keys is not None:
            cells.append(f"`{action.dest}`" if action.dest in keys else "")
        text = formatter._expand_help(action) if action.help else ""
        if action.required:
            text = "required; " + text
        cells.append(escape(text))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _train(parser: argparse.ArgumentParser) -> list[str]:
    keys = {row.key for row in all_options()}
    out = [
        "## `featmatch train`",
        "",
        escape(parser.description or ""),
        "",
        "Every flag with a config key is one row of `featmatch.train.config.OPTIONS` or of a task's own",
        "flags (`Task.flags`); `--set KEY=VALUE` sets any key, and `--print-config` shows them all.",
        'A default that differs between recipes is listed per recipe ("your data": no recipe).',
        "",
    ]
    for group in parser._action_groups:
        actions = [
            a for a in group._group_actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
        ]
        if not actions:
            continue
        out += [f"### {escape(group.title or '')}", ""]
        if group.description:
            out += [escape(group.description), ""]
        out += [*_rows(parser, actions, keys), ""]
    if parser.epilog:
        out += ["```text", parser.epilog.rstrip(), "```", ""]
    return out


def _command(name: str, parser: argparse.ArgumentParser) -> list[str]:
    actions = [a for group in parser._action_groups for a in group._group_actions]
    out = [f"## `featmatch {name}`", "", escape(parser.description or ""), "", *_rows(parser, actions, None), ""]
    if parser.epilog:
        out += ["```text", parser.epilog.rstrip(), "```", ""]
    return out


def _tasks() -> list[str]:
    out = ["## Kinds of training", "", "| `--task` | what it trains |", "|---|---|"]
    for name, cls in TASKS.items():
        summary = cls.summary or (cls.__doc__ or "").strip().splitlines()[0]
        out.append(f"| `{name}` | {escape(summary)} |")
    return [*out, ""]


def _recipes() -> list[str]:
    out = [
        "## Recipes",
        "",
        "A recipe is applied whole: by default the one of the task and built-in data set of the run,",
        "`--recipe NAME` for another, `--recipe none` for the dataclass defaults. `--print-config`",
        "shows the values a recipe sets.",
        "",
        "| recipe | task | what it is and why |",
        "|---|---|---|",
    ]
    for name, recipe in RECIPES.items():
        out.append(f"| `{name}` | `{recipe.task}` | {escape(recipe.description)} |")
    return [*out, ""]


def reference() -> str:
    """The generated part of docs/cli.md: the commands, the kinds of training, every flag, the recipes."""
    parser = build_parser()
    commands = _subparsers(parser)
    out = ["| command | what it does |", "|---|---|"]
    for choice in commands._choices_actions:
        out.append(f"| `featmatch {choice.dest}` | {escape(choice.help or '')} |")
    out += ["", *_tasks()]
    for name, sub in commands.choices.items():
        out += _train(sub) if name == "train" else _command(name, sub)
    out += _recipes()
    return "\n".join(out)


if __name__ == "__main__":
    print(reference())
