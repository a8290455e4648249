"""Progress without a terminal (issue 25): when the output is a file (nohup, CI, a cluster's log),
no progress bar is drawn, so the run logs a progress line every ``log.progress_every`` seconds:
step, speed, ETA, the main losses and the monitor's status."""

from __future__ import annotations

import re

from featmatch.cli import main
from featmatch.train.config import build_config

_RUN = ["train", "--data", "ring8", "--data-size", "512", "--batch-size", "64", "--steps", "6", "--log-every", "2",
        "--sample-every", "0", "--set", "log.eval_samples=200"]
_LINE = re.compile(r"INFO step (\d+)/6 \((\d+)%\), [\d.e+]+ steps/s, ETA (\d+ s|\?); "
                   r"loss/d [\d.e-]+, loss/g_adv [\d.e-]+, loss/g_fm [\d.e-]+ \[(ok|D dominates|collapse)\]")


def test_a_run_without_a_terminal_logs_progress_lines(tmp_path, capsys):
    # capsys: stderr is no terminal, as under nohup or CI.
    assert main([*_RUN, "--progress-every", "0", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    steps = [int(m.group(1)) for m in _LINE.finditer(err)]
    assert steps == [2, 4, 6], err  # every measured step with --progress-every 0
    assert "6/6 (100%)" in err and "ETA 0 s" in err
    assert re.search(r"done: 6 steps in [\d.]+ s; loss/d [\d.e-]+, loss/g_adv", err)  # rounded, not 17 digits
    assert "step 2/6" in (tmp_path / "run" / "train.log").read_text()  # the run's log keeps them


def test_quiet_runs_and_long_intervals_log_no_progress_lines(tmp_path, capsys):
    assert main([*_RUN, "--progress-every", "0", "--quiet", "--out", str(tmp_path / "quiet")]) == 0
    assert not _LINE.search(capsys.readouterr().err)
    assert main([*_RUN, "--progress-every", "1e9", "--out", str(tmp_path / "rare")]) == 0
    assert not _LINE.search(capsys.readouterr().err)


def test_the_interval_is_a_setting_with_a_default():
    assert build_config().log.progress_every == 30.0
    assert build_config({"log.progress_every": 0}).log.progress_every == 0
