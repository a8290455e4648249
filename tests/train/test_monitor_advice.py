"""The balance monitor fits the run (issue 25): a warning quotes only the signals that hold, each
past its own threshold, and its suggestion never recommends what the run already does.

Each task trains its recipe briefly with thresholds that make the episodes start at once (some
signals held, some not), then every episode's message and suggestion is checked against the run's
own config.yaml.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from featmatch.cli import main
from featmatch.train.config import build_config, flatten
from featmatch.train.monitor import BalanceMonitor, MonitorConfig, run_suggestions
from featmatch.train.tasks import TASKS, get_task

# Episodes start at once: D(G(z)) below 1 and accuracy above 0 hold, loss/d below 0 never does
# (a BCE loss); any spread ratio is "collapse".
_TRIGGER = ["--log-every", "1", "--set", "monitor.warmup=0", "--set", "monitor.patience=1",
            "--set", "monitor.window=1", "--set", "monitor.d_loss_low=0.0", "--set", "monitor.d_accuracy_high=0.0",
            "--set", "monitor.fake_prob_low=1.0", "--set", "monitor.collapse_ratio=1000.0"]
_SMALL = ["--steps", "4", "--sample-every", "0", "--quiet", "--set", "log.n_samples=4",
          "--set", "log.eval_samples=64", "--batch-size", "16"]

RUNS = {
    "generation (digits recipe)": ["--data", "digits"],
    "generation, fm only": ["--data", "digits", "--objective", "fm"],
    "generation, adversarial only": ["--data", "digits", "--objective", "adv", "--d-loss", "hinge"],
    "generation (ring8 recipe, rff)": ["--data", "ring8", "--data-size", "256"],
    "conditional (digits-superres recipe)": ["--data", "digits-superres", "--data-size", "64"],
    "conditional, L1 only": ["--data", "digits-superres", "--data-size", "64", "--reconstruction-only"],
    "early (early-mnist1d recipe)": ["--task", "early", "--data", "mnist1d", "--data-size", "200",
                                     "--teacher-steps", "2", "--stop-threshold", "0.9"],
    "semi (semi-digits recipe)": ["--task", "semi", "--data", "digits", "--labels", "2"],
    "semi, adversarial only": ["--task", "semi", "--data", "digits", "--labels", "2", "--objective", "adv"],
}

# "key: value, flag --x value": what setting() writes where a suggestion proposes a value.
_PROPOSED = re.compile(r"\b([a-z_]+\.[a-z_]+): ([^,;()]+), flag --")
_BELOW = re.compile(r"([\w/()]+) ([-\d.e]+) \(near zero below ([-\d.e]+)\)")
_ABOVE = re.compile(r"([\w/()]+) ([-\d.e]+) \(near one above ([-\d.e]+)\)")
_VANISHING = re.compile(r"= ([\d.e-]+)% of its peak [\d.e-]+ \(vanishing below ([\d.e-]+)%\)")


def _check_episode(episode: dict, config: dict, monitor: dict) -> None:
    flat = {k: str(v) for k, v in flatten(config).items()}
    for key, value in _PROPOSED.findall(episode["suggestion"]):
        assert flat.get(key) != value.strip(), f"suggests {key}: {value}, which the run already has"
    message = episode["message"]
    for name, value, threshold in _BELOW.findall(message):
        assert float(value) < float(threshold), (name, value, threshold)
    for name, value, threshold in _ABOVE.findall(message):
        assert float(value) > float(threshold), (name, value, threshold)
    for ratio, threshold in _VANISHING.findall(message):
        assert float(ratio) < float(threshold)
    if episode["kind"] == "d_dominates":
        assert "loss/d" not in message  # loss/d below 0 never holds here: not quoted
        assert re.search(r"D\(G\(z\)\) [\d.e-]+ \(near zero below 1\)", message)
    uses_fm = "fm" in config["objective"]["kind"]
    if uses_fm:
        assert "add feature matching" not in episode["suggestion"]
    if config["objective"]["kind"] == "fm":
        assert "objective.kind: fm" not in episode["suggestion"]


@pytest.mark.parametrize("name", list(RUNS))
def test_each_tasks_recipe_gets_advice_that_fits_it(tmp_path, capsys, name):
    out = tmp_path / "run"
    assert main(["train", *RUNS[name], *_SMALL, *_TRIGGER, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    config = yaml.safe_load((out / "config.yaml").read_text())
    episodes = summary["episodes"]
    kinds = {e["kind"] for e in episodes}
    uses_d = not (config["task_options"].get("reconstruction_only")
                  or config["task_options"].get("use_discriminator") is False)
    assert {"d_dominates", "collapse"} <= kinds
    # Where G has no term through D, D's dominance does not matter: recorded, not warned about.
    warned = re.findall(r"WARNING step \d+: the discriminator dominates", capsys.readouterr().err)
    assert bool(warned) == uses_d
    for episode in episodes:
        if episode["kind"] == "d_dominates" and not uses_d:
            assert episode["suggestion"].startswith("nothing to change")
    for episode in episodes:
        _check_episode(episode, config, config["monitor"])
    if config["task"] == "semi":
        assert all("test_error" in e["suggestion"] for e in episodes if e["kind"] != "non_finite")
    if config["task"] == "conditional":  # paired matching is right for pairs
        assert not any("batch statistics" in e["suggestion"] for e in episodes)
    # The report files the task's metrics under the task's own heading.
    assert summary["metrics"] and f"{TASKS[config['task']].metrics_title}:" in (out / "report.md").read_text()


def test_the_warning_quotes_only_the_signals_that_hold():
    # The reported case: loss/d 0.78 is far from zero, only D(G(z)) and the accuracy hold.
    monitor = BalanceMonitor(MonitorConfig(window=1, patience=2, warmup=0))
    alerts = []
    for step in range(5):
        alerts += monitor.update(step, {"loss/d": 0.7833, "d/accuracy": 0.99, "d/fake_prob": 0.01,
                                        "d/real_prob": 0.6})
    assert [a.kind for a in alerts] == ["d_dominates"]
    message = alerts[0].message
    assert "loss/d" not in message and "D(x)" not in message
    assert "d/accuracy 0.99 (near one above 0.95)" in message and "D(G(z)) 0.01 (near zero below 0.05)" in message


@pytest.mark.parametrize(
    ("overrides", "absent", "present"),
    [
        ({"objective.kind": "fm"}, ["objective.kind: fm", "add feature matching"], ["raise the feature-matching"]),
        ({"objective.kind": "adv"}, ["raise the feature-matching", "monitor.act"], ["objective.kind: adv+fm"]),
        ({"objective.kind": "adv+fm", "objective.fm_preset": "salimans2016"},
         ["fm_preset: salimans2016", "add feature matching"], ["objective.fm_statistic: mean_std"]),
        ({"objective.d_loss": "hinge"}, ["objective.d_loss: hinge"], ["optim.lr_d, flag --lr-d, now 0.001"]),
        ({"objective.fm_statistic": "rff"}, ["fm_statistic: rff"], ["raise the feature-matching"]),
        ({"optim.precision": "fp16"}, [], ["optim.precision: bf16"]),
        ({"optim.on_nonfinite": "rollback"}, ["on_nonfinite: rollback"], ["--resume"]),
        ({"monitor.act": True}, ["monitor.act"], []),
        ({"optim.d_steps": 3}, [], ["optim.d_steps, flag --d-steps, now 3"]),
    ],
)
def test_general_advice_never_proposes_what_the_run_does(overrides, absent, present):
    text = " ".join(run_suggestions(build_config({"data.name": "digits", **overrides})).values())
    for phrase in absent:
        assert phrase not in text
    for phrase in present:
        assert phrase in text
    assert "d_steps" not in " ".join(run_suggestions(build_config({"data.name": "digits"})).values())


def test_tasks_say_which_episodes_matter():
    def advice(overrides: dict) -> dict:
        config = build_config(overrides)
        return get_task(config.task)(config).monitor_suggestions()

    assert advice({"data.name": "digits-superres", "task_options.reconstruction_only": True})["d_dominates"] is None
    assert advice({"task": "early", "data.name": "mnist1d",
                   "task_options.use_discriminator": False})["d_dominates"] is None
    assert "expected in semi-supervised training" in advice({"task": "semi", "data.name": "digits"})["d_dominates"]
    assert "the paper's remedy" in advice({"task": "semi", "data.name": "digits", "objective.kind": "adv"})[
        "d_dominates"]
    # A kind set to None is recorded as usual (the numbers stay comparable), as a quiet alert.
    monitor = BalanceMonitor(MonitorConfig(window=1, patience=1, warmup=0), suggestions={"d_dominates": None})
    alerts = []
    for step in range(5):
        alerts += monitor.update(step, {"loss/d": 0.01, "d/accuracy": 1.0, "d/fake_prob": 0.001})
    assert [(a.kind, a.quiet) for a in alerts] == [("d_dominates", True)]
    assert monitor.episodes[0]["suggestion"].startswith("nothing to change")


def test_the_docs_say_the_advice_fits_the_run():
    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "runs.md").read_text().split())
    assert "never recommends what the run already does" in text and "quotes only the signals that hold" in text
