"""The config tree: precedence, files, validation messages, round trips."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from featmatch import PRESETS
from featmatch.train.config import (
    RECIPES,
    TrainConfig,
    build_config,
    config_from_dict,
    config_to_dict,
    load_config_file,
    to_yaml,
)


def test_defaults_are_digits_feature_matching_with_the_digits_recipe():
    cfg = build_config()
    assert cfg.data.name == "digits"
    assert "fm" in cfg.objective.kind  # feature matching (with the adversarial term on digits)
    for key, value in RECIPES["digits"].values.items():
        obj = cfg
        for part in key.split("."):
            obj = getattr(obj, part)
        assert obj == value, key


def test_precedence_defaults_then_recipe_then_file_then_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"data": {"name": "ring8"}, "optim": {"lr_g": 0.01, "lr_d": 0.02}}))
    cfg = build_config({"optim.lr_d": 0.03}, file=path)
    assert cfg.model.family == RECIPES["ring8"].values["model.family"]  # the data set's recipe
    assert cfg.data.batch_size == RECIPES["ring8"].values["data.batch_size"]
    assert cfg.optim.lr_g == 0.01  # file over data default
    assert cfg.optim.lr_d == 0.03  # flag over file


def test_dotted_keys_reach_into_dict_fields():
    cfg = build_config({"model.options.spectral_norm": True, "objective.fm_options.eps": 0.5})
    assert cfg.model.options == {"spectral_norm": True} and cfg.objective.fm_options == {"eps": 0.5}


def test_toml_file_and_nested_or_dotted_keys_agree(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('steps = 7\n[objective]\nkind = "adv+fm"\nfm_layers = ["hidden2"]\n')
    cfg = build_config(file=path)
    assert (cfg.steps, cfg.objective.kind, cfg.objective.fm_layers) == (7, "adv+fm", ["hidden2"])
    assert config_from_dict({"objective.kind": "adv"}) == config_from_dict({"objective": {"kind": "adv"}})


def test_yaml_round_trip_is_identity():
    cfg = build_config({"data.name": "mnist1d", "optim.betas": [0.0, 0.9], "objective.fm_layers": ["block2", 0]})
    again = config_from_dict(yaml.safe_load(to_yaml(cfg)))
    assert again == cfg
    assert config_to_dict(again) == config_to_dict(cfg)


def test_unknown_key_in_a_file_is_rejected_with_a_suggestion(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr_gg: 0.1\n")
    with pytest.raises(ValueError, match=r"unknown key 'optim.lr_gg' in config file .*c.yaml.*Did you mean 'optim.lr_g'"):
        build_config(file=path)
    path.write_text("stpes: 3\n")
    with pytest.raises(ValueError, match=r"unknown key 'stpes'.*Did you mean 'steps'"):
        build_config(file=path)


def test_wrong_type_names_field_flag_and_value():
    with pytest.raises(ValueError, match=r"'steps' \(flag --steps\).*must be of type int; got 'ten'"):
        build_config({"steps": "ten"})


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"objective.kind": "gan"},
         r"'objective.kind' \(flag --objective\) must be one of 'adv', 'fm', 'adv\+fm'; got 'gan'"),
        ({"steps": -5}, r"'steps' \(flag --steps\) must be an integer >= 1; got -5"),
        ({"objective.d_loss": "hinj"}, r"'objective.d_loss'.*one of 'bce', 'hinge'.*got 'hinj'.*did you mean 'hinge'"),
        ({"optim.precision": "fp8"}, r"'optim.precision'.*'fp32', 'bf16', 'fp16'; got 'fp8'"),
        ({"optim.betas": [0.5]}, r"'optim.betas'.*two numbers"),
        ({"optim.lr_g": 0.0}, r"'optim.lr_g' \(flag --lr-g\) must be a number in \(0.0, 1.0\]; got 0.0"),
        ({"data.name": "ring9"}, r"'data.name' \(flag --data\).*got 'ring9'.*did you mean 'ring8'"),
        ({"model.family": "resnet"}, r"'model.family' \(flag --model\).*'conv'.*got 'resnet'"),
        ({"objective.fm_preset": "nope"}, r"'objective.fm_preset'.*'salimans2016'.*got 'nope'"),
        ({"objective.fm_statistic": "median"}, r"feature-matching options.*statistic.*'median'"),
        ({"objective.fm_weight": 0.0}, r"'objective.fm_weight'.*> 0 when the objective includes 'fm'"),
        ({"device": "tpu"}, r"'device' \(flag --device\).*got 'tpu'"),
        ({"monitor.patience": 0}, r"monitor.*patience must be an integer >= 1"),
        ({"log.keep_checkpoints": 0}, r"'log.keep_checkpoints' \(flag --keep-checkpoints\) must be an integer >= 1"),
    ],
)
def test_invalid_values_are_rejected_with_a_clear_message(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_config(overrides)


def test_fm_loss_options_apply_preset_then_overrides():
    cfg = build_config({"objective.fm_preset": "pix2pixhd", "objective.fm_statistic": "mean",
                        "objective.fm_layers": ["block1"], "objective.fm_options": {"eps": 1e-3}})
    expected = {**PRESETS["pix2pixhd"].options, "statistic": "mean", "layers": ["block1"], "eps": 1e-3}
    assert cfg.fm_loss_options() == expected
    assert build_config({"objective.fm_preset": None}).fm_loss_options() == {}


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"config file .*missing.yaml.* does not exist"):
        load_config_file(tmp_path / "missing.yaml")
    bad = tmp_path / "c.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match=r"must end in .yaml, .yml or .toml; got '.json'"):
        load_config_file(bad)
    listed = tmp_path / "l.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"must contain a mapping.*got list"):
        load_config_file(listed)


def test_validate_returns_self_and_dataclass_is_plain():
    cfg = TrainConfig()
    assert cfg.validate() is cfg
    assert dataclasses.is_dataclass(cfg.monitor)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ("adv+fm", 0.003, 0.03, 0.4)),  # the recommended objective with its ramp
        ({"objective.kind": "adv+fm"}, ("adv+fm", 0.003, 0.03, 0.4)),  # the same kind: still the ramp
        ({"objective.kind": "adv"}, ("adv", 1.0, None, 0.0)),  # another objective: a plain GAN
        ({"objective": {"kind": "fm"}}, ("fm", 1.0, None, 0.0)),
        ({"objective.adv_weight": 1.0}, ("adv+fm", 1.0, None, 0.0)),  # an explicit weight stays constant
        ({"objective.adv_weight": 1.0, "objective.adv_weight_end": 2.0}, ("adv+fm", 1.0, 2.0, 0.0)),
    ],
)
def test_the_data_sets_adversarial_schedule_gives_way_to_the_users_objective(overrides, expected):
    obj = build_config({"data.name": "grid25", **overrides}).objective
    assert (obj.kind, obj.adv_weight, obj.adv_weight_end, obj.adv_ramp_start) == expected


def test_a_config_file_choosing_the_objective_also_replaces_the_schedule(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("objective:\n  kind: adv\n")
    obj = build_config({"data.name": "ring8"}, file=path).objective
    assert (obj.kind, obj.adv_weight, obj.adv_weight_end) == ("adv", 1.0, None)
