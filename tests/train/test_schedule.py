"""Learning-rate schedules: the factor's shape, bad arguments, and the trainer applying it."""

from __future__ import annotations

import math

import pytest

from featmatch.train.config import build_config
from featmatch.train.loop import Trainer
from featmatch.train.schedule import lr_factor


def test_constant_is_one_everywhere():
    assert [lr_factor(s, 10) for s in range(11)] == [1.0] * 11


def test_linear_holds_then_falls_to_zero_at_the_last_step():
    factors = [lr_factor(s, 10, "linear", decay_start=0.6) for s in range(11)]
    assert factors[:7] == [1.0] * 7
    assert factors[6:] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    # Past the end (a run resumed with fewer steps) it stays at 0 rather than going negative.
    assert lr_factor(12, 10, "linear") == 0.0


def test_cosine_is_monotone_with_half_at_the_middle():
    factors = [lr_factor(s, 100, "cosine") for s in range(101)]
    assert factors[0] == 1.0 and factors[50] == pytest.approx(0.5) and factors[100] == pytest.approx(0.0)
    assert all(a >= b for a, b in zip(factors, factors[1:]))
    assert lr_factor(25, 100, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [({"schedule": "step"}, r"schedule must be one of constant, linear, cosine, got 'step'"),
     ({"schedule": "linear", "decay_start": 1.0}, r"decay_start must be in \[0, 1\), got 1.0"),
     ({"schedule": "linear", "decay_start": -0.1}, r"decay_start must be in \[0, 1\), got -0.1")],
)
def test_bad_arguments_are_named(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        lr_factor(0, 10, **kwargs)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [({"optim.lr_schedule": "exp"}, r"'optim.lr_schedule' \(flag --lr-schedule\).*'linear'.*got 'exp'"),
     ({"optim.lr_decay_start": 1.5}, r"'optim.lr_decay_start' \(flag --lr-decay-start\).*\[0.0, 1.0\).*got 1.5")],
)
def test_config_rejects_bad_schedules_naming_the_flag(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_config(overrides)


def test_trainer_sets_both_learning_rates_before_every_step():
    cfg = build_config({
        "data.name": "ring8", "data.size": 64, "data.batch_size": 16, "model.family": "mlp",
        "model.width": 8, "model.latent_dim": 4, "steps": 4, "optim.lr_g": 1e-3, "optim.lr_d": 2e-3,
        "optim.lr_schedule": "linear", "optim.lr_decay_start": 0.5,
    })
    trainer = Trainer(cfg)
    seen = []
    for _ in range(cfg.steps):
        scalars = trainer.train_step(measure=True)
        assert scalars is not None
        seen.append((scalars["lr/g"], scalars["lr/d"]))
        assert trainer.opt_g.param_groups[0]["lr"] == scalars["lr/g"]
    # Steps 0 and 1 at the base rates, then 1 - (step - 2) / 2.
    assert seen == pytest.approx([(1e-3, 2e-3), (1e-3, 2e-3), (1e-3, 2e-3), (5e-4, 1e-3)])
