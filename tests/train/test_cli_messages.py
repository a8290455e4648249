"""First contact (issue 25): each class of user mistake, run as a user would (``featmatch.cli.main``),
gives one line that names its real cause, with exit status 2; the help tells the truth.

Data names and listings come from the registries (``featmatch.data.DATASETS``, ``PAIRED_DATASETS``,
the task registry), so a new built-in data set or task is covered without editing these tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from featmatch.cli import build_parser, main
from featmatch.data import DATASETS, PAIRED_DATASETS
from featmatch.models import MODEL_FAMILIES
from featmatch.train.config import RECIPES
from featmatch.train.tasks import TASKS, data_names

README = Path(__file__).resolve().parents[2] / "README.md"


def _error(capsys, argv: list[str], command: str = "train") -> str:
    """Run ``featmatch ARGV``; expect exit status 2 and one line ``featmatch COMMAND: error: ...``."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "usage:" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"featmatch {command}: error: "), err
    return lines[0]


def _train_help() -> str:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return subparsers.choices["train"].format_help()


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("- ", "-")  # wrapping undone (argparse wraps after hyphens)


# ------------------------------------------------------------------ 1. data names


def test_an_unknown_name_lists_every_tasks_data_sets_and_the_closest(capsys):
    line = _error(capsys, ["train", "--data", "digits-superes", "--print-config"])
    assert "got 'digits-superes'" in line and "did you mean 'digits-superres' (task conditional)?" in line
    for name in (*DATASETS, *PAIRED_DATASETS):
        assert name in line
    line = _error(capsys, ["train", "--data", "ring9", "--print-config"])
    assert "did you mean 'ring8'?" in line


def test_a_missing_file_is_not_found_not_an_unknown_name(tmp_path, capsys):
    missing = tmp_path / "nothere.npz"
    line = _error(capsys, ["train", "--data", str(missing), "--print-config"])
    assert f"data file or folder {str(missing)!r} not found" in line and "Hint: check the path" in line


@pytest.mark.parametrize(
    ("task", "data", "why"),
    [
        ("semi", "digits-superres", "the task trains on labelled samples (class labels y), and 'digits-superres' is "
                                    "paired data (condition, target), the data of task 'conditional'"),
        ("early", "digits", "the task trains on labelled sequences (N, C, T) with class labels y, and 'digits' holds "
                            "images"),
        ("conditional", "ring8", "the task trains on paired data (condition, target), and 'ring8' holds vectors"),
    ],
)
def test_a_data_set_of_another_task_says_why_it_does_not_fit(capsys, task, data, why):
    line = _error(capsys, ["train", "--task", task, "--data", data, "--print-config"])
    assert f"data set {data!r} (flag --data) does not fit task {task!r}: {why}" in line
    for name in TASKS[task].data_names():  # what would fit
        assert name in line


def test_a_file_of_another_task_says_why_it_does_not_fit(tmp_path, capsys):
    path = tmp_path / "pairs.npz"
    np.savez(path, condition=np.zeros((20, 1, 4, 4), np.float32), target=np.zeros((20, 1, 8, 8), np.float32))
    line = _error(capsys, ["train", "--task", "semi", "--data", str(path), "--print-config"])
    assert (f"data {str(path)!r} (flag --data) does not fit task 'semi': the task trains on labelled samples "
            f"(class labels y), and {str(path)!r} is paired data (condition, target), the data of task "
            "'conditional'") in line


def test_every_task_has_its_data_sets_in_the_help():
    text = _one_line(_train_help())
    for task, names in data_names().items():
        if names:
            assert f"{task}: {', '.join(names)}" in text
    assert set(DATASETS) | set(PAIRED_DATASETS) <= {n for names in data_names().values() for n in names}


# ------------------------------------------------------------------ 2. errors in the user's terms


@pytest.mark.parametrize(
    ("argv", "flag", "owner"),
    [
        (["--labels", "10"], "--labels (task_options.labels)", "semi"),
        (["--l1-weight", "10"], "--l1-weight (task_options.l1_weight)", "conditional"),
        (["--teacher-steps", "5", "--data", "mnist1d"], "--teacher-steps (task_options.teacher_steps)", "early"),
    ],
)
def test_a_flag_of_another_task_names_its_task(capsys, argv, flag, owner):
    line = _error(capsys, ["train", *argv, "--print-config"])
    assert f"{flag} is an option of task {owner!r}, but this run's task is 'generation'" in line
    assert f"Hint: pass --task {owner}" in line and "task_options' must be empty" not in line


def test_l1_weight_on_data_that_is_not_paired_names_the_data(tmp_path, capsys):
    path = tmp_path / "images.npz"
    np.savez(path, x=np.zeros((20, 1, 8, 8), np.float32))  # no condition/target: not pairs
    line = _error(capsys, ["train", "--data", str(path), "--l1-weight", "10", "--print-config"])
    assert f"task is 'generation' on {str(path)!r}" in line and "paired data (condition, target)" in line


def test_a_paired_npz_with_other_names_says_what_is_expected_and_how_to_name_them(tmp_path, capsys):
    path = tmp_path / "pairs.npz"
    rng = np.random.default_rng(0)
    np.savez(path, low=rng.normal(size=(20, 1, 4, 4)).astype(np.float32),
             high=rng.normal(size=(20, 1, 8, 8)).astype(np.float32))
    out = ["--steps", "1", "--out", str(tmp_path / "run"), "--quiet", "--sample-every", "0"]
    line = _error(capsys, ["train", "--task", "conditional", "--data", str(path), *out])
    assert "has no array(s) ['condition', 'target']; it holds ['low', 'high']" in line
    assert "--set data.options.condition_key=NAME --set data.options.target_key=NAME" in line
    # Unpaired reading says the same about pairs.
    line = _error(capsys, ["train", "--data", str(path), *out])
    assert "has no array 'x'" in line and "condition_key" in line
    # Naming the arrays makes the file pairs: the conditional task trains on them.
    named = ["--set", "data.options.condition_key=low", "--set", "data.options.target_key=high"]
    assert main(["train", "--data", str(path), *named, *out, "--model-width", "8", "--set", "log.n_samples=4"]) == 0
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["task"] == "conditional"


@pytest.mark.parametrize(
    ("argv", "command", "message"),
    [
        (["train", "--steps", "abc"], "train", "argument --steps: invalid int value: 'abc'"),
        (["train", "--objective", "gan"], "train", "argument --objective: invalid choice: 'gan'"),
        (["sample", "--n", "x", "--checkpoint", "r", "--out", "s.png"], "sample", "argument --n: invalid int value"),
        (["eval"], "eval", "the following arguments are required: --checkpoint"),
    ],
)
def test_a_bad_flag_value_is_one_line_without_the_usage_block(capsys, argv, command, message):
    line = _error(capsys, argv, command)
    assert message in line and f"Hint: featmatch {command} --help" in line


@pytest.mark.parametrize(("flag", "meant"), [("--step", "--steps"), ("--lr", "--lr-g"), ("--data-siz", "--data-size")])
def test_abbreviated_flags_are_refused_with_the_flag_meant(capsys, flag, meant):
    line = _error(capsys, ["train", flag, "7", "--print-config"])
    assert f"unrecognized arguments: {flag} 7" in line and meant in line and "never abbreviated" in line


def test_every_parser_refuses_abbreviations():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert parser.allow_abbrev is False
    assert all(sub.allow_abbrev is False for sub in subparsers.choices.values())


def test_too_many_labels_name_the_class_that_sets_the_limit(tmp_path, capsys):
    line = _error(capsys, ["train", "--task", "semi", "--data", "digits", "--labels", "500", "--steps", "1",
                           "--out", str(tmp_path / "run"), "--quiet"])
    from featmatch.data import load_dataset

    counts = np.bincount(load_dataset("digits").y.numpy())
    fewest = int(counts.argmin())
    assert f"class {fewest} has {counts[fewest]}, the fewest (10 classes have too few)" in line
    assert f"--labels {counts[fewest] - 1} or fewer" in line


# ------------------------------------------------------------------ 3. images, sequences or vectors


def _run(tmp_path: Path, name: str, *argv: str) -> dict:
    out = tmp_path / name
    assert main(["train", *argv, "--steps", "2", "--out", str(out), "--quiet", "--sample-every", "0",
                 "--model-width", "8", "--batch-size", "8", "--set", "log.n_samples=4"]) == 0
    import json

    return json.loads((out / "summary.json").read_text())


def test_one_channel_sequences_are_read_as_sequences_paired_or_not(tmp_path):
    rng = np.random.default_rng(0)
    seqs = tmp_path / "seqs.npy"
    np.save(seqs, rng.normal(size=(40, 1, 32)).astype(np.float32))
    assert _run(tmp_path, "plain", "--data", str(seqs))["family"] == "sequence"
    pairs = tmp_path / "pairs.npz"
    np.savez(pairs, condition=rng.normal(size=(40, 2, 32)).astype(np.float32),  # (N, 2, 32) alone: ambiguous
             target=rng.normal(size=(40, 1, 32)).astype(np.float32))
    assert _run(tmp_path, "paired", "--data", str(pairs))["family"] == "cond_sequence"
    assert yaml.safe_load((tmp_path / "paired" / "config.yaml").read_text())["task"] == "conditional"


def test_an_ambiguous_shape_asks_for_data_kind_and_the_flag_settles_it(tmp_path, capsys):
    data = tmp_path / "three.npy"
    np.save(data, np.random.default_rng(0).normal(size=(40, 3, 32)).astype(np.float32))
    line = _error(capsys, ["train", "--data", str(data), "--steps", "1", "--out", str(tmp_path / "no"), "--quiet"])
    assert "has shape (40, 3, 32)" in line and "--data-kind image or --data-kind sequence" in line
    assert _run(tmp_path, "seq", "--data", str(data), "--data-kind", "sequence")["family"] == "sequence"


def test_data_kind_is_in_the_config_and_checked_against_built_in_data(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((10, 4), np.float32))
    assert main(["train", "--data", str(tmp_path / "x.npy"), "--data-kind", "vector", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["kind"] == "vector"
    assert main(["train", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out)["data"]["kind"] is None and "# data.kind: image ('digits' is built in)" in out
    assert main(["train", "--data", str(tmp_path / "x.npy"), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert yaml.safe_load(out)["data"]["kind"] is None and "# data.kind: null, chosen from the arrays' shape" in out
    line = _error(capsys, ["train", "--data", "digits", "--data-kind", "sequence", "--print-config"])
    assert "'data.kind' (flag --data-kind)" in line and "'image' for the built-in data set 'digits'" in line


# ------------------------------------------------------------------ 5. help that is true


def test_train_help_groups_task_flags_after_the_shared_ones_with_their_defaults():
    text = _train_help()
    sections = re.findall(r"^(\S[^\n]*):\n", text, flags=re.MULTILINE)
    shared = sections.index("run")
    for name, cls in TASKS.items():
        if not cls.flags:
            continue
        title = f"task {name} (--task {name})"
        assert title in sections and sections.index(title) > shared
        body = text.split(title + ":", 1)[1].split("\ntask ", 1)[0]
        for row in cls.flags:
            entry = _one_line(body.split(row.flag, 1)[1].split("\n  --", 1)[0])
            assert "(default:" in entry, (row.flag, entry)
    assert re.search(r"--labels N .*\(default: 10\)", _one_line(text))
    assert re.search(r"--l1-weight W .*\(default: digits-superres, digits-inpaint, mnist1d-complete: 10\.0; your "
                     r"data: 0\.0\)", _one_line(text))


def test_every_model_family_a_recipe_uses_is_in_the_help():
    text = _one_line(_train_help())
    model = text.split("--model FAMILY model family", 1)[1].split("--model-width", 1)[0]
    used = {recipe.values["model.family"] for recipe in RECIPES.values() if "model.family" in recipe.values}
    for family in {*used, *MODEL_FAMILIES}:
        assert re.search(rf"\b{re.escape(family)}\b", model), family
    for name, cls in TASKS.items():
        for family in cls.model_families():
            assert re.search(rf"{name}: [a-z0-9_, ]*\b{family}\b", model)


def test_print_config_names_the_recipe_its_body_applies(capsys):
    for data in PAIRED_DATASETS:
        assert main(["train", "--data", data, "--print-config"]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0].startswith(f"# recipe: {data} ")
        assert yaml.safe_load(out)["recipe"] == data


def test_the_top_help_lists_each_command_once_and_the_tasks_and_agrees_with_the_readme(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "sample", "eval", "compare"):
        assert len(re.findall(rf"^\s+{command}\s", out, flags=re.MULTILINE)) == 1, command
    for name in TASKS:
        assert re.search(rf"^\s+{name}\s", out, flags=re.MULTILINE), name
    claim = re.search(r"featmatch train\s+# (.*)", out).group(1)
    assert "about 2 minutes" in claim and "about 2 minutes" in README.read_text()
    assert "adversarial + feature matching" in claim and RECIPES["digits"].values["objective.kind"] == "adv+fm"
