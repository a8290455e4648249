"""examples/early_prediction.py runs end to end and its student learns (the example is part of the docs)."""

from __future__ import annotations

import re

import pytest
from _benchmark_scripts import load_example


def test_early_prediction_example_runs_and_beats_chance(capsys: pytest.CaptureFixture[str]) -> None:
    module = load_example("early_prediction")
    module.main(["--steps", "150", "--seed", "0"])
    out = capsys.readouterr().out
    accuracy = {
        who: {key: float(value) for key, value in re.findall(r"(accuracy[@_][\w.]+) ([\d.]+)", line)}
        for who, line in re.findall(r"^(student|teacher)  (.*)$", out, flags=re.MULTILINE)
    }
    assert set(accuracy) == {"student", "teacher"}, out
    # 10 balanced classes: chance is 0.1; a student that learned anything from whole sequences is far above.
    assert accuracy["student"]["accuracy@1.0"] > 0.2, out
    assert accuracy["teacher"]["accuracy@1.0"] > 0.2, out
    # Seeing more helps: the whole sequence beats its first fifth.
    assert accuracy["student"]["accuracy@1.0"] > accuracy["student"]["accuracy@0.2"], out
    assert re.search(r"loss/g_fm \d", out), out
