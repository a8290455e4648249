"""The training step against an independent hand-written step, D's frozen G step, EMA, scalars."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from featmatch.data import batches
from featmatch.train.config import build_config
from featmatch.train.rundir import RunDirError, prepare_run_dir
from featmatch.train.trainer import Trainer


def _config(**overrides):
    base = {
        "data.name": "ring8", "data.size": 256, "data.batch_size": 16,
        "model.family": "mlp", "model.width": 8, "model.latent_dim": 4, "steps": 4,
        # Pinned, so the hand-written reference stays valid whatever ring8's defaults become.
        "objective.fm_statistic": "mean", "objective.fm_layers": None, "objective.fm_options": {},
        "optim.ema_decay": 0.0, "optim.lr_g": 2e-4, "optim.lr_d": 2e-4,
    }
    return build_config({**base, **overrides})


def _reference_step(trainer: Trainer, reuse: bool, adv_weight: float | None):
    """One step written out by hand: D update on BCE, then G on the Salimans mean matching."""
    cfg = trainer.config
    G = copy.deepcopy(trainer.generator)
    D = copy.deepcopy(trainer.discriminator)
    data_gen = torch.Generator().manual_seed(trainer.data_seed)
    x = next(batches(trainer.data, cfg.data.batch_size, data_gen))
    noise = torch.Generator().set_state(trainer.noise_gen.get_state())
    z = torch.randn(cfg.data.batch_size, trainer.latent_dim, generator=noise)
    betas = tuple(cfg.optim.betas)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.optim.lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.optim.lr_d, betas=betas)

    fake = G(z)
    real_out = D(x)
    fake_logits = D(fake.detach()).logits
    loss_d = F.binary_cross_entropy_with_logits(real_out.logits, torch.ones_like(real_out.logits)) + \
        F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()

    for p in D.parameters():
        p.requires_grad_(False)
    fake_out = D(fake)
    if reuse:
        real_feats = {k: v.detach() for k, v in real_out.features.items()}  # before D's update
    else:
        with torch.no_grad():
            real_feats = D(x).features
    terms = [(fake_out.features[k].mean(0) - real_feats[k].mean(0)).square().mean() for k in real_feats]
    loss_g = torch.stack(terms).mean()
    if adv_weight is not None:
        loss_g = loss_g + adv_weight * F.softplus(-fake_out.logits).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return G, D


@pytest.mark.parametrize(("reuse", "objective"), [(False, "fm"), (True, "fm"), (False, "adv+fm")])
def test_one_step_equals_a_hand_written_step(reuse, objective):
    trainer = Trainer(_config(**{"objective.reuse_real_features": reuse, "objective.kind": objective,
                                 "objective.adv_weight": 0.5}))
    ref_g, ref_d = _reference_step(trainer, reuse, 0.5 if objective == "adv+fm" else None)
    trainer.train_step()
    for a, b in zip(trainer.generator.parameters(), ref_g.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(trainer.discriminator.parameters(), ref_d.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert trainer.step == 1


def test_generator_step_leaves_the_discriminator_alone():
    trainer = Trainer(_config(**{"objective.kind": "adv+fm"}))
    batch = trainer.draw()  # real x and noise z
    fake = trainer.G(batch.z)
    trainer.discriminator_step(batch, fake)
    d_grads = [p.grad.clone() for p in trainer.discriminator.parameters()]
    d_params = [p.detach().clone() for p in trainer.discriminator.parameters()]
    g_before = [p.detach().clone() for p in trainer.generator.parameters()]
    trainer.generator_step(batch, fake)
    for p, grad, value in zip(trainer.discriminator.parameters(), d_grads, d_params, strict=True):
        assert torch.equal(p.grad, grad)  # no gradient reached D in the G step
        assert torch.equal(p.detach(), value)
        assert p.requires_grad  # unfrozen again for the next D step
    assert all(p.grad is not None for p in trainer.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(trainer.generator.parameters(), g_before, strict=True))


def test_measured_scalars_are_finite_and_consistent():
    trainer = Trainer(_config(**{"objective.kind": "fm"}))
    scalars = trainer.train_step(measure=True)
    expected = {"loss/d", "loss/g_adv", "loss/g_fm", "d/real_prob", "d/fake_prob", "d/accuracy",
                "grad/g", "grad/d", "fm/hidden1", "fm/hidden2"}
    assert expected <= set(scalars)
    assert all(math.isfinite(v) for v in scalars.values())
    assert 0.0 <= scalars["d/accuracy"] <= 1.0 and 0.0 < scalars["d/real_prob"] < 1.0
    # Salimans preset: the loss is the mean of the per-layer terms.
    assert scalars["loss/g_fm"] == pytest.approx((scalars["fm/hidden1"] + scalars["fm/hidden2"]) / 2, rel=1e-5)
    assert scalars["grad/g"] > 0 and scalars["grad/d"] > 0
    assert trainer.train_step(measure=False) is None


def test_ema_follows_the_generator_with_warm_up():
    trainer = Trainer(_config(**{"optim.ema_decay": 0.99}))
    before = [p.detach().clone() for p in trainer.ema.parameters()]
    trainer.train_step()
    decay = min(0.99, 1 / 10)  # warm-up at step 0
    for e, b, g in zip(trainer.ema.parameters(), before, trainer.generator.parameters(), strict=True):
        torch.testing.assert_close(e, decay * b + (1 - decay) * g.detach())
    assert all(not p.requires_grad for p in trainer.ema.parameters())


def test_optimizers_are_fused_adam_on_cpu_and_resume_unfused_state():
    trainer = Trainer(_config())
    # The hand-written step above (default Adam) agrees with the trainer's fused one.
    fused_on_cpu = torch.__version__ >= "2.4"
    assert bool(trainer.opt_g.defaults["fused"]) is fused_on_cpu
    assert bool(trainer.opt_d.defaults["fused"]) is fused_on_cpu
    # A checkpoint written before the trainer used fused Adam (foreach state) still loads.
    old = torch.optim.Adam(trainer.g_params, lr=2e-4)
    for p in trainer.g_params:
        p.grad = torch.ones_like(p)
    old.step()
    trainer.opt_g.load_state_dict(old.state_dict())
    trainer.train_step()
    assert trainer.step == 1 and all(torch.isfinite(p).all() for p in trainer.g_params)


def test_adam_eps_reaches_both_optimisers():
    assert Trainer(_config()).opt_g.defaults["eps"] == 1e-8  # torch's default
    trainer = Trainer(_config(**{"optim.eps": 1e-4}))
    assert trainer.opt_g.defaults["eps"] == trainer.opt_d.defaults["eps"] == 1e-4


def test_d_steps_draw_one_batch_per_discriminator_update():
    trainer = Trainer(_config(**{"optim.d_steps": 3}))
    trainer.train_step()
    assert trainer.batches_drawn == 3 and trainer.step == 1


def test_multiscale_models_train():
    cfg = build_config({"data.name": "digits", "data.size": 64, "data.batch_size": 8,
                        "model.family": "multiscale_conv", "model.width": 4, "steps": 1,
                        "objective.kind": "adv+fm", "objective.fm_preset": "hifigan"})
    scalars = Trainer(cfg).train_step(measure=True)
    assert any(k.startswith("fm/d1.") for k in scalars)  # one term per layer per discriminator
    assert all(math.isfinite(v) for v in scalars.values())


def test_prepare_run_dir_refuses_to_clobber(tmp_path):
    run = tmp_path / "run"
    prepare_run_dir(run)
    (run / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"already exists and is not empty.*--resume"):
        prepare_run_dir(run)
    with pytest.raises(RunDirError, match="not a featmatch run directory"):
        prepare_run_dir(run, overwrite=True)
    assert (run / "notes.txt").read_text() == "mine"
    with pytest.raises(RunDirError, match="no config.yaml"):
        prepare_run_dir(run, resume=True)


def test_fresh_noise_gives_the_generator_step_its_own_sample():
    trainer = Trainer(_config(**{"optim.fresh_noise": True}))
    task, seen = trainer.stepper.task, {}
    d_objective, g_objective = task.discriminator_objective, task.generator_objective

    def record_d(D, batch, fake, **kw):
        seen["d"] = (batch.z.clone(), fake.requires_grad)
        return d_objective(D, batch, fake, **kw)

    def record_g(D, batch, fake, *args, **kw):
        seen["g"] = (batch.z.clone(), fake.requires_grad)
        return g_objective(D, batch, fake, *args, **kw)

    task.discriminator_objective, task.generator_objective = record_d, record_g
    trainer.train_step()
    (z_d, d_grad), (z_g, g_grad) = seen["d"], seen["g"]
    assert not torch.equal(z_d, z_g) and z_d.shape == z_g.shape
    assert not d_grad and g_grad  # D's sample keeps no graph; G's does


def test_fresh_noise_resumes_exactly_and_needs_noise(tmp_path):
    import shutil

    from featmatch.train.checkpoint import list_checkpoints, load_checkpoint
    from featmatch.train.trainer import run_training

    values = {"optim.fresh_noise": True, "log.quiet": True, "log.eval_every": 0, "log.sample_every": 0,
              "log.checkpoint_every": 2, "monitor.enabled": False}
    run_training(_config(**values, **{"log.out": str(tmp_path / "a")}))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    list_checkpoints(tmp_path / "b")[-1].unlink()  # as if killed after step 2
    (tmp_path / "b" / "summary.json").unlink()
    run_training(_config(**values, **{"log.out": str(tmp_path / "b")}), resume=True)
    a = load_checkpoint(list_checkpoints(tmp_path / "a")[-1])
    b = load_checkpoint(list_checkpoints(tmp_path / "b")[-1])
    assert a["step"] == b["step"] == 4
    for key in ("generator", "discriminator"):
        assert all(torch.equal(v, b[key][k]) for k, v in a[key].items()), key
    trainer = Trainer(build_config({"task": "early", "data.name": "mnist1d", "data.size": 64, "steps": 1,
                                    "optim.fresh_noise": True, "task_options.teacher_steps": 1}))
    with pytest.raises(ValueError, match=r"optim.fresh_noise.*--fresh-noise.*task 'early'"):
        trainer.train_step()
