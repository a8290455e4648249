"""featmatch.train.loop, the old home of the training loop, still imports for one release, and warns."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_importing_the_old_module_warns_and_gives_the_same_objects():
    sys.modules.pop("featmatch.train.loop", None)
    with pytest.warns(DeprecationWarning, match=r"featmatch.train.loop is deprecated.*featmatch.train.trainer"):
        loop = importlib.import_module("featmatch.train.loop")
    from featmatch.train import trainer

    assert loop.Trainer is trainer.Trainer and loop.run_training is trainer.run_training
    assert loop.load_generator is trainer.load_generator and loop.NONFINITE_EXIT == trainer.NONFINITE_EXIT
