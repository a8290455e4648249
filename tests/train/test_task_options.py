"""A task's own settings: ``Task.Options`` (filled from ``config.task_options``), its flags in the
CLI's table, the data sets it claims (``--data NAME`` without ``--task``) and its recipes. All of it
is declared in the task's module: no edit to the shared config or CLI."""

from __future__ import annotations

import dataclasses
import re

import pytest

from featmatch.cli import build_parser, main
from featmatch.train.config import Option, RECIPES, Recipe, build_config, flag_for, register_recipe
from featmatch.train.config.recipes import _RECIPES
from featmatch.train.tasks import TASKS, register_task, task_for_data
from featmatch.train.tasks.generation import GenerationTask


@dataclasses.dataclass(frozen=True)
class _LabelOptions:
    per_class: int = 100
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.per_class < 1:
            raise ValueError(f"per_class must be >= 1; got {self.per_class}.")


class _LabelledTask(GenerationTask):
    name = "labelled-toy"
    Options = _LabelOptions
    flags = (Option("task_options.per_class", "--toy-labels", "labelled examples per class", "data and models",
                    parse=int, metavar="N"),)

    @classmethod
    def claims_data(cls, name):
        return name == "toy-claimed"

    def report_sections(self, run_dir, summary, history):
        return [f"## Labels\n\n{self.options.per_class} labelled examples per class.\n"]


@pytest.fixture
def labelled_task():
    register_task(_LabelledTask)
    register_recipe(Recipe("labelled-ring8", "the toy task on ring8", {"steps": 7, "task_options": {"per_class": 3}},
                           task="labelled-toy", data="ring8"))
    yield _LabelledTask
    del TASKS["labelled-toy"]
    del _RECIPES["labelled-ring8"]


def test_options_come_from_task_options_with_defaults(labelled_task):
    cfg = build_config({"data.name": "ring8", "task": "labelled-toy", "task_options.weight": 0.5})
    task = labelled_task(cfg)
    assert task.options == _LabelOptions(per_class=3, weight=0.5)  # recipe's labels, user's weight
    assert cfg.recipe == "labelled-ring8" and cfg.steps == 7


def test_unknown_and_bad_task_options_are_named(labelled_task):
    with pytest.raises(ValueError, match=r"unknown option\(s\) \[.per_clas.\].*did you mean .per_class."):
        build_config({"data.name": "ring8", "task": "labelled-toy", "task_options.per_clas": 3})
    with pytest.raises(ValueError, match="per_class must be >= 1; got 0"):
        build_config({"data.name": "ring8", "task": "labelled-toy", "task_options.per_class": 0})
    # Another task's option names its flag and its task, not the config key of this one.
    with pytest.raises(ValueError, match=r"--toy-labels \(task_options.per_class\) is an option of task "
                                         r"'labelled-toy', but this run's task is 'generation' on 'ring8'.*"
                                         r"Hint: pass --task labelled-toy"):
        build_config({"data.name": "ring8", "task_options.per_class": 3})
    with pytest.raises(ValueError, match="must be empty for task 'generation'"):  # nobody's option
        build_config({"data.name": "ring8", "task_options.nobodys": 3})


def test_task_flags_join_the_parser_and_the_flag_names(labelled_task):
    args = build_parser().parse_args(["train", "--task", "labelled-toy", "--toy-labels", "5"])
    assert getattr(args, "task_options.per_class") == 5 and getattr(args, "task") == "labelled-toy"
    assert flag_for("task_options.per_class") == "--toy-labels"
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    help_text = help_text.replace("- ", "-")  # argparse wraps lines after hyphens
    assert "--toy-labels N labelled examples per class" in help_text
    assert re.search(r"kind of training: [a-z0-9, -]*\bgeneration\b[a-z0-9, -]*\blabelled-toy\b", help_text)


def test_a_claimed_data_set_selects_its_task_and_a_task_recipe_selects_its_task(labelled_task):
    assert task_for_data("toy-claimed") == "labelled-toy" and task_for_data("ring8") == "generation"
    assert build_config({"data.name": "toy-claimed"}, validate=False).task == "labelled-toy"
    assert build_config({"data.name": "ring8"}).task == "generation"  # ring8's own recipe, generation
    cfg = build_config({"data.name": "ring8", "recipe": "labelled-ring8"})
    assert cfg.task == "labelled-toy" and cfg.task_options == {"per_class": 3}
    with pytest.raises(ValueError, match="recipe 'labelled-ring8' is for task 'labelled-toy'"):
        build_config({"data.name": "ring8", "recipe": "labelled-ring8", "task": "generation"})
    assert "labelled-ring8" in RECIPES


def test_the_command_line_trains_a_registered_task_with_its_flag(labelled_task, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--task", "labelled-toy", "--data", "ring8", "--toy-labels", "2", "--steps", "2",
                 "--batch-size", "16", "--model", "mlp", "--model-width", "8", "--sample-every", "0",
                 "--checkpoint-every", "0", "--set", "log.eval_samples=64", "--out", str(run), "--quiet"]) == 0
    text = (run / "config.yaml").read_text()
    assert "task: labelled-toy" in text and "per_class: 2" in text
    report = (run / "report.md").read_text()
    assert "## Labels\n\n2 labelled examples per class." in report  # the task's own section
