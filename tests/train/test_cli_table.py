"""The one table of train flags: the parser is built from it, FIELD_FLAGS follows it, every key
resolves; old spellings (optim.ema, --raw) still work and warn; the FM flags list the loss's own
choices."""

from __future__ import annotations

import argparse
import logging
import warnings

import pytest

from featmatch.cli import build_parser, main
from featmatch.losses import DISTANCES, PRESETS, STATISTICS
from featmatch.train.config import (
    FIELD_FLAGS,
    KEY_ALIASES,
    OPTIONS,
    all_keys,
    all_options,
    build_config,
    flag_for,
)

# Flags of `featmatch train` that set no config key.
NOT_SETTINGS = {"-h", "--help", "--config", "--resume", "--overwrite", "--print-config", "--set"}


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def _field(key: str) -> str:
    return KEY_ALIASES.get(key, key)


def test_every_table_row_is_a_parser_flag_and_every_parser_flag_a_row():
    actions = {s: a for a in _train_parser()._actions for s in a.option_strings}
    rows = {row.flag: row for row in all_options()}  # the table and the registered tasks' flags
    assert set(actions) - NOT_SETTINGS == set(rows)
    for flag, row in rows.items():
        assert actions[flag].dest == row.key, flag
        assert actions[flag].help.startswith(row.help), flag  # help comes from the table
    assert len(rows) == len(all_options())  # no flag twice
    assert len({row.key for row in OPTIONS}) == len(OPTIONS)  # the shared table sets each key once


def test_every_field_flag_names_a_config_key_and_a_parser_flag():
    keys = set(all_keys())
    flags = {s for a in _train_parser()._actions for s in a.option_strings}
    for key, flag in FIELD_FLAGS.items():
        assert _field(key) in keys, key
        assert flag in flags, flag
    assert FIELD_FLAGS["monitor.act"] == "--monitor-act"  # was missing before the table
    assert flag_for("optim.ema") == flag_for("optim.ema_decay") == "--ema"


@pytest.mark.parametrize("row", OPTIONS, ids=lambda row: row.flag)
def test_each_flag_sets_its_key(row):
    parser = _train_parser()
    if row.switch:
        argv = [row.flag]
    elif row.choices:
        argv = [row.flag, row.choices[-1]]
    else:
        examples = {"optim.betas": "0.5,0.9", "objective.augment": "translation,cutout"}
        argv = [row.flag, "3" if row.parse is int else examples.get(row.key, "0.5")]
    assert row.key in vars(parser.parse_args(argv))


def test_fm_flags_offer_the_losss_own_choices():
    help_text = " ".join(_train_parser().format_help().split())
    assert "override the preset's statistic: " + ", ".join(STATISTICS) in help_text
    assert "override the preset's distance: " + ", ".join(DISTANCES) in help_text
    assert "feature-matching preset: " + ", ".join(PRESETS) + ", or none" in help_text
    assert "--model FAMILY model family (config key model.family)" in help_text
    assert "--recipe NAME" in help_text


def test_a_bad_fm_option_is_rejected_by_the_loss_options():
    with pytest.raises(ValueError, match=r"objective.fm_\*.*Did you mean 'bandwidths'"):
        build_config({"objective.fm_options": {"bandwith": [1.0]}})


def test_ema_decay_is_the_new_spelling_and_ema_still_works_with_a_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_config({"optim.ema_decay": 0.9}).optim.ema == 0.9  # new: no warning
    with pytest.warns(DeprecationWarning, match=r"'optim.ema' is deprecated; write 'optim.ema_decay'"):
        assert build_config({"optim.ema": 0.8}).optim.ema == 0.8
    path = tmp_path / "old.yaml"
    path.write_text("optim:\n  ema: 0.7\n")
    with pytest.warns(DeprecationWarning):
        assert build_config(file=path).optim.ema == 0.7


def test_old_spelling_on_the_command_line_is_logged(capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="featmatch"):
        assert main(["train", "--set", "optim.ema=0.5", "--print-config"]) == 0
    assert "ema_decay: 0.5" in capsys.readouterr().out
    assert any("'optim.ema' is deprecated" in r.getMessage() for r in caplog.records)


def test_the_error_for_ema_names_the_new_key_and_the_flag():
    with pytest.raises(ValueError, match=r"'optim.ema_decay' \(flag --ema\) must be a number in \[0.0, 1.0\)"):
        build_config({"optim.ema_decay": 1.5})


def test_sample_use_ema_pair_and_deprecated_raw(tmp_path, caplog, monkeypatch):
    import importlib

    seen = []

    def fake_load(checkpoint, *, device, use_ema):
        seen.append(use_ema)
        raise ValueError("stop here")

    # sample and eval load the run through its task (featmatch.train.trainer.load_run)
    monkeypatch.setattr(importlib.import_module("featmatch.train.trainer"), "load_run", fake_load)
    out = str(tmp_path / "s.npy")
    for flags, expected in (([], True), (["--use-ema"], True), (["--no-ema"], False), (["--raw"], False)):
        with caplog.at_level(logging.WARNING, logger="featmatch"):
            assert main(["sample", "--checkpoint", "x", "--out", out, *flags]) == 2
        assert seen[-1] is expected, flags
    assert any("--raw is deprecated" in r.getMessage() for r in caplog.records)
    assert main(["eval", "--checkpoint", "x", "--no-ema", "--use-ema"]) == 2  # not both


def test_a_quoted_number_has_a_hint():
    with pytest.raises(ValueError, match=r"'steps' \(flag --steps\) in command-line flags must be of type int; "
                                         r"got '10' \(str\). Hint: .*without quotes"):
        build_config({"steps": "10"})


def test_unknown_flags_still_fail_with_usage(capsys):
    assert main(["train", "--monitor-acts"]) == 2
    assert "unrecognized arguments: --monitor-acts" in capsys.readouterr().err
