"""Learning-rate schedules: the factor's shape, bad arguments, and the trainer applying it."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from featmatch.train.config import build_config
from featmatch.train.trainer import Trainer
from featmatch.train.schedule import lr_factor, progress, ramped_weight


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


def test_progress_is_zero_then_linear_then_one():
    assert [progress(s, 10, start=0.5) for s in (0, 5, 6, 10, 11)] == pytest.approx([0.0, 0.0, 0.2, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"start must be in \[0, 1\), got 1.0"):
        progress(0, 10, start=1.0)


def test_ramped_weight_holds_then_moves_linearly_either_way():
    assert [ramped_weight(s, 10, 0.5) for s in (0, 10)] == [0.5, 0.5]  # no end: constant
    up = [ramped_weight(s, 10, 0.1, 0.6, ramp_start=0.5) for s in range(11)]
    assert up[:6] == pytest.approx([0.1] * 6) and up[6:] == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6])
    assert ramped_weight(5, 10, 1.0, 0.0) == pytest.approx(0.5)  # a ramp down works too


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
     ({"optim.lr_decay_start": 1.5}, r"'optim.lr_decay_start' \(flag --lr-decay-start\).*\[0.0, 1.0\).*got 1.5"),
     ({"objective.kind": "adv+fm", "objective.adv_weight_end": -1.0},
      r"'objective.adv_weight_end' \(flag --adv-weight-end\).*\[0.0, inf\).*got -1.0"),
     ({"objective.kind": "fm", "objective.adv_weight_end": 0.1},
      r"'objective.adv_weight_end'.*unset when the objective is 'fm'.*got 0.1.*--objective adv\+fm"),
     ({"objective.adv_ramp_start": 1.0}, r"'objective.adv_ramp_start' \(flag --adv-ramp-start\).*got 1.0")],
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
        seen.extend([scalars["lr/g"], scalars["lr/d"]])
        assert trainer.opt_g.param_groups[0]["lr"] == scalars["lr/g"]
    # (lr/g, lr/d) per step, flat: pytest.approx compares flat sequences only (pytest 9 refuses nesting).
    # Steps 0 and 1 at the base rates, then 1 - (step - 2) / 2.
    assert seen == pytest.approx([1e-3, 2e-3, 1e-3, 2e-3, 1e-3, 2e-3, 5e-4, 1e-3])


def test_trainer_ramps_the_adversarial_weight_and_uses_it_in_the_loss():
    cfg = build_config({
        "data.name": "ring8", "data.size": 64, "data.batch_size": 16, "model.family": "mlp",
        "model.width": 8, "model.latent_dim": 4, "steps": 5, "objective.kind": "adv+fm",
        "objective.adv_weight": 0.1, "objective.adv_weight_end": 0.5, "objective.adv_ramp_start": 0.2,
    })
    trainer = Trainer(cfg)
    weights = []
    for _ in range(cfg.steps):
        scalars = trainer.train_step(measure=True)
        assert scalars is not None
        weights.append(scalars["objective/adv_weight"])
    assert weights == pytest.approx([0.1, 0.1, 0.2, 0.3, 0.4])  # 0.5 is reached at step 5, the end
    # The objective uses the current weight: total = fm + weight * adv.
    batch = trainer.draw()
    fake = trainer.G(batch.z)
    for p in trainer.d_params:
        p.requires_grad_(False)
    objective = trainer.generator_objective(batch, fake)
    loss, parts = objective.loss, objective.terms
    assert loss.item() == pytest.approx((parts["g_fm"] + 0.4 * parts["g_adv"]).detach().item(), rel=1e-6)


def test_a_restored_trainer_has_the_restored_steps_weight_and_rates_before_it_steps():
    cfg = build_config({
        "data.name": "ring8", "data.size": 64, "data.batch_size": 16, "model.family": "mlp",
        "model.width": 8, "model.latent_dim": 4, "steps": 10, "objective.kind": "adv+fm",
        "objective.adv_weight": 0.1, "objective.adv_weight_end": 0.5, "objective.adv_ramp_start": 0.0,
        "optim.lr_g": 1e-3, "optim.lr_d": 2e-3, "optim.lr_schedule": "linear",
    })
    trained = Trainer(cfg)
    for _ in range(5):
        trained.train_step()
    restored = Trainer(cfg)
    assert restored.adv_weight == pytest.approx(0.1)  # a fresh trainer: step 0
    state = copy.deepcopy(trained.state_dict())  # like nn.Module's, it holds the live tensors
    trained.train_step()
    restored.load_state_dict(state)  # also rewinds torch's global generator, which both share
    # What step 5 trains with, without a train_step() first (e.g. to evaluate generator_objective()).
    assert restored.adv_weight == pytest.approx(0.3)
    assert restored.opt_g.param_groups[0]["lr"] == pytest.approx(5e-4)
    assert restored.opt_d.param_groups[0]["lr"] == pytest.approx(1e-3)
    # state_dict() round-trips on one process: the restored trainer makes the same update.
    restored.train_step()
    for a, b in zip(trained.generator.parameters(), restored.generator.parameters(), strict=True):
        assert torch.equal(a, b)
