"""featmatch.train.loop, the old home of the training loop, still imports for one release, and warns."""

from __future__ import annotations

import importlib
import sys

import pytest

from featmatch.train import nonfinite, rundir


def test_importing_the_old_module_warns_and_gives_the_same_objects():
    sys.modules.pop("featmatch.train.loop", None)
    with pytest.warns(DeprecationWarning, match=r"featmatch.train.loop is deprecated.*featmatch.train.trainer"):
        loop = importlib.import_module("featmatch.train.loop")
    from featmatch.train import trainer

    assert loop.Trainer is trainer.Trainer and loop.run_training is trainer.run_training
    assert loop.load_generator is trainer.load_generator and loop.NONFINITE_EXIT == nonfinite.NONFINITE_EXIT
    assert loop.prepare_run_dir is rundir.prepare_run_dir and loop.RunDirError is rundir.RunDirError


@pytest.mark.parametrize(("name", "home"), [("NONFINITE_EXIT", "nonfinite"), ("RunDirError", "rundir"),
                                            ("default_run_dir", "rundir"), ("prepare_run_dir", "rundir"),
                                            ("REAL_SAMPLES_PNG", "rundir")])
def test_names_moved_out_of_the_trainer_still_import_from_it_and_warn(name, home):
    # Issue 26: the driver's collaborators have their own modules; the old path works for one release.
    from featmatch.train import trainer

    new = importlib.import_module(f"featmatch.train.{home}")
    with pytest.warns(DeprecationWarning, match=rf"featmatch.train.trainer.{name} moved to featmatch.train.{home}"):
        old = getattr(trainer, name)
    assert old is getattr(new, name)
    with pytest.warns(DeprecationWarning):
        exec(f"from featmatch.train.trainer import {name}", {})


def test_a_name_the_trainer_never_had_is_still_an_attribute_error():
    from featmatch.train import trainer

    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        trainer.nothing_here  # noqa: B018
