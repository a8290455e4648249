"""Recipes: each built-in one gives exactly the effective config the per-data-set defaults gave
before they became recipes (recorded from commit f3acec9), --recipe none/NAME/unknown, and the
one rule by which a recipe's adversarial schedule gives way to the user's objective."""

from __future__ import annotations

import pytest
import yaml

from featmatch.cli import main
from featmatch.train.config import (
    DATASET_DEFAULTS,
    RECIPES,
    TrainConfig,
    build_config,
    config_from_dict,
    config_to_dict,
    explain_recipe,
    flatten,
)

# Recorded with the code before recipes (PYTHONPATH of a `git worktree add ... f3acec9`):
# flatten(config_to_dict(TrainConfig())) there, and for each case the keys of
# flatten(config_to_dict(build_config({"data.name": data, ...}))) that differ from it.
OLD_DEFAULTS = {
    "steps": 2000, "seed": 0, "device": "auto", "data.name": "digits", "data.size": None, "data.batch_size": 64,
    "data.options": {}, "model.family": None, "model.latent_dim": None, "model.width": None, "model.options": {},
    "objective.kind": "fm", "objective.d_loss": "bce", "objective.saturating": False,
    "objective.fm_preset": "salimans2016", "objective.fm_statistic": None, "objective.fm_distance": None,
    "objective.fm_layers": None, "objective.fm_options": {}, "objective.fm_weight": 1.0, "objective.adv_weight": 1.0,
    "objective.adv_weight_end": None, "objective.adv_ramp_start": 0.0, "objective.reuse_real_features": False,
    "optim.d_steps": 1, "optim.lr_g": 0.0002, "optim.lr_d": 0.0002, "optim.betas": [0.5, 0.999], "optim.ema": 0.0,
    "optim.lr_schedule": "constant", "optim.lr_decay_start": 0.0, "optim.precision": "fp32", "optim.compile": False,
    "optim.on_nonfinite": "stop", "optim.max_rollbacks": 3, "log.out": None, "log.log_every": 50,
    "log.sample_every": 500, "log.checkpoint_every": 500, "log.keep_checkpoints": 3, "log.eval_every": 0,
    "log.n_samples": 64, "log.eval_samples": 1000, "log.quiet": False, "log.tensorboard": None,
    "monitor.enabled": True, "monitor.window": 50, "monitor.d_loss_low": 0.1, "monitor.d_accuracy_high": 0.95,
    "monitor.fake_prob_low": 0.05, "monitor.grad_g_low": 0.1, "monitor.collapse_ratio": 0.1, "monitor.patience": 50,
    "monitor.warmup": 100, "monitor.act": False, "monitor.act_fm_factor": 2.0, "monitor.act_max_multiplier": 16.0,
}
_MIXTURE = {
    "steps": 25000, "data.batch_size": 512, "model.family": "mlp2d_benchmark", "objective.kind": "adv+fm",
    "objective.fm_statistic": "rff", "objective.fm_options": {"num_random_features": 128,
                                                              "bandwidths": [0.03, 0.1, 0.3, 1.0]},
    "objective.adv_weight": 0.003, "objective.adv_weight_end": 0.03, "objective.adv_ramp_start": 0.4,
    "optim.lr_g": 0.001, "optim.lr_d": 0.001, "optim.ema": 0.999, "log.sample_every": 2500,
    "log.checkpoint_every": 2500, "log.n_samples": 2000, "log.eval_samples": 2500,
}
_NO_SCHEDULE = {k: v for k, v in _MIXTURE.items() if not k.startswith("objective.adv_")}
OLD_EFFECTIVE = {
    # retuned in issue 23 (BENCHMARKS.md, Table 2b): the small convnets, DiffAugment, lr 1e-3, EMA 0.999
    "digits": ({}, {"steps": 4000, "model.family": "small_conv", "model.width": 32, "objective.kind": "adv+fm",
                    "objective.augment": ["translation"], "optim.lr_g": 1e-3, "optim.lr_d": 1e-3,
                    "optim.betas": [0.5, 0.99], "optim.ema": 0.999, "log.sample_every": 1000,
                    "log.checkpoint_every": 1000}),
    "ring8": ({}, {**_MIXTURE, "data.name": "ring8"}),
    "grid25": ({}, {**_MIXTURE, "data.name": "grid25"}),
    "mnist1d": ({}, {"steps": 3000, "data.name": "mnist1d", "model.family": "sequence", "model.width": 32,
                     "optim.lr_g": 0.0005, "log.sample_every": 1000, "log.checkpoint_every": 1000,
                     "log.n_samples": 16}),
    "grid25 --objective adv": ({"objective.kind": "adv"}, {**_NO_SCHEDULE, "data.name": "grid25",
                                                           "objective.kind": "adv"}),
    "grid25 --adv-weight 0.1": ({"objective.adv_weight": 0.1}, {**_NO_SCHEDULE, "data.name": "grid25",
                                                                "objective.adv_weight": 0.1}),
}


def _effective(cfg: TrainConfig) -> dict:
    """The flat config with field names (as recorded), without keys added since (their own defaults)."""
    flat = flatten(config_to_dict(cfg))
    flat["optim.ema"] = flat.pop("optim.ema_decay")
    assert flat.pop("task", "generation") == "generation"  # the trainer's task, added by the task split
    assert flat.pop("task_options", {}) == {}  # the task's own settings, added with tasks' options
    assert flat.pop("data.kind") is None  # chosen from the data's shape, added with --data-kind
    assert flat.pop("log.progress_every") == 30.0  # progress lines without a terminal, added since
    if flat["objective.augment"] == []:  # D's input augmentation, added since (off but in digits)
        del flat["objective.augment"]
    assert flat.pop("objective.r1_weight") == 0.0  # the R1 penalty, added since (off)
    assert flat.pop("optim.eps") == 1e-8  # Adam's eps, added since (torch's default)
    assert flat.pop("optim.fresh_noise") is False  # G's own sample in its step, added since (off)
    flat.pop("recipe")
    return flat


@pytest.mark.parametrize("case", list(OLD_EFFECTIVE))
def test_each_recipe_gives_the_effective_config_of_before(case):
    extra, changed = OLD_EFFECTIVE[case]
    data = case.split()[0]
    cfg = build_config({"data.name": data, **extra})
    assert cfg.recipe == data
    assert _effective(cfg) == {**OLD_DEFAULTS, **changed}


def test_the_quick_start_is_the_digits_recipe():
    assert _effective(build_config()) == _effective(build_config({"recipe": "digits"}))
    assert build_config().recipe == "digits"


def test_recipe_none_is_the_dataclass_defaults_and_users_files_get_none(tmp_path):
    cfg = build_config({"data.name": "grid25", "recipe": None})
    assert cfg.recipe is None
    assert _effective(cfg) == {**_effective(TrainConfig()), "data.name": "grid25"}
    points = tmp_path / "points.npy"
    import numpy as np

    np.save(points, np.zeros((16, 2), dtype=np.float32))
    assert build_config({"data.name": str(points)}).recipe is None


def test_an_explicit_recipe_applies_to_other_data():
    cfg = build_config({"data.name": "ring8", "recipe": "mnist1d"})
    assert (cfg.recipe, cfg.model.family, cfg.steps, cfg.data.name) == ("mnist1d", "sequence", 3000, "ring8")


def test_an_unknown_recipe_lists_the_recipes():
    # Every registered recipe is listed: the data sets' own first, then those the tasks add.
    with pytest.raises(ValueError, match=r"'recipe' \(flag --recipe\) must be one of 'digits', 'ring8', 'grid25', "
                                         r"'mnist1d', .*'semi-digits'.* or none; got 'grdi25'.*did you mean 'grid25'"):
        build_config({"recipe": "grdi25"})


def test_recipe_on_the_command_line(capsys):
    assert main(["train", "--recipe", "none", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "# recipe: none" in out and yaml.safe_load(out)["recipe"] is None
    assert main(["train", "--recipe", "nope", "--print-config"]) == 2
    assert "must be one of 'digits', 'ring8', 'grid25', 'mnist1d', " in capsys.readouterr().err


def test_print_config_shows_the_recipe_and_what_it_dropped(capsys):
    assert main(["train", "--data", "grid25", "--objective", "adv", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# recipe: grid25")
    assert "adversarial schedule (objective.adv_weight, objective.adv_weight_end, objective.adv_ramp_start) " \
           "was dropped: you chose objective.kind 'adv'" in out
    assert yaml.safe_load(out)["recipe"] == "grid25"


@pytest.mark.parametrize(
    ("overrides", "dropped"),
    [
        ({}, ()),
        ({"objective.kind": "adv+fm"}, ()),  # the recipe's own objective keeps its schedule
        ({"objective.adv_weight_end": 0.1}, ()),  # a part other than the weight: the rest stays
        ({"objective.kind": "fm"}, ("objective.adv_weight", "objective.adv_weight_end", "objective.adv_ramp_start")),
        ({"objective.adv_weight": 1.0}, ("objective.adv_weight", "objective.adv_weight_end",
                                         "objective.adv_ramp_start")),
    ],
)
def test_the_schedule_is_dropped_as_a_unit(overrides, dropped):
    plan = explain_recipe({"data.name": "ring8", **overrides})
    assert plan.dropped == dropped
    obj = build_config({"data.name": "ring8", **overrides}).objective
    if dropped and "objective.adv_weight" not in overrides:
        assert (obj.adv_weight, obj.adv_weight_end, obj.adv_ramp_start) == (1.0, None, 0.0)


def test_a_printed_config_builds_the_same_config_again(tmp_path, capsys):
    assert main(["train", "--data", "grid25", "--adv-weight", "0.1", "--print-config"]) == 0
    path = tmp_path / "run.yaml"
    path.write_text(capsys.readouterr().out)
    again = build_config(file=path)
    assert again == build_config({"data.name": "grid25", "objective.adv_weight": 0.1})
    assert config_from_dict(yaml.safe_load(path.read_text())) == again


def test_recipes_have_their_reasons_and_the_old_name_still_works():
    for name, recipe in RECIPES.items():
        assert recipe.name == name and len(recipe.description) > 80, name  # says what it sets and why
    for name in ("digits", "ring8", "grid25", "mnist1d"):  # measured in BENCHMARKS.md's Tables 1-2
        assert "BENCHMARKS.md" in RECIPES[name].description
        assert dict(DATASET_DEFAULTS[name]) == dict(RECIPES[name].values)  # deprecated alias, same values


def test_a_resumed_run_refuses_another_recipe():
    base = build_config({"data.name": "ring8"})
    with pytest.raises(ValueError, match=r"recipe 'grid25' cannot be applied to a resumed run"):
        build_config({"recipe": "grid25"}, base=base)
    assert build_config({"steps": 30000}, base=base).steps == 30000


def test_mnist_has_a_recipe_per_task():
    # generation: the DCGAN pair of Table 7; semi: the paper's setting of Table 6b
    generation = build_config({"data.name": "mnist"})
    assert (generation.recipe, generation.model.family, generation.steps) == ("mnist", "conv", 12000)
    semi = build_config({"data.name": "mnist", "task": "semi"})
    assert (semi.recipe, semi.model.family, semi.steps) == ("semi-mnist", "semi_mlp", 180_000)
    assert "BENCHMARKS.md" in RECIPES["mnist"].description and "Table 6b" in RECIPES["semi-mnist"].description
