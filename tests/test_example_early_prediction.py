"""examples/early_prediction.py runs end to end and its student learns (the example is part of the docs)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "early_prediction.py"


def test_early_prediction_example_runs_and_beats_chance(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("early_prediction_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines main(); runs nothing (the __main__ guard)
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
