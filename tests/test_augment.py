"""featmatch.augment (DiffAugment) against direct computations, and its use in the generation task (with R1)."""

from __future__ import annotations

import pytest
import torch

from featmatch.augment import POLICIES, AugmentParams, apply_augment, check_policies, diff_augment, draw_augment


def _shift_reference(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = x[..., i - dy, j - dx]
    return out


def test_translation_moves_each_sample_by_its_own_shift_with_zeros():
    x = torch.randn(3, 2, 6, 6)
    shift = torch.tensor([[1, -1], [0, 1], [-1, 0]])
    out = apply_augment(x, AugmentParams(shift=shift))
    for i in range(3):
        torch.testing.assert_close(out[i], _shift_reference(x[i], *shift[i].tolist()))


def test_translation_of_sequences():
    x = torch.arange(10.0).view(1, 1, 10).repeat(2, 1, 1)
    out = apply_augment(x, AugmentParams(shift=torch.tensor([[1], [-2]])))
    assert out[0, 0].tolist() == [0.0, *range(9)]
    assert out[1, 0].tolist() == [*range(2, 10), 0.0, 0.0]


def test_cutout_zeroes_a_square_of_half_the_size():
    x = torch.ones(2, 3, 8, 8)
    out = apply_augment(x, AugmentParams(cutout=torch.tensor([[0, 0], [4, 2]])))
    assert int((out == 0).sum()) == 2 * 3 * 16  # a 4 x 4 square per sample, every channel
    assert bool((out[0, :, :4, :4] == 0).all()) and bool((out[1, :, 4:, 2:6] == 0).all())


def test_color_is_the_documented_affine_map():
    x = torch.randn(2, 1, 4, 4)
    params = AugmentParams(
        brightness=torch.tensor([0.25, -0.5]), contrast=torch.tensor([1.5, 0.5]), saturation=torch.ones(2)
    )
    out = apply_augment(x, params)
    for i in range(2):
        b = x[i] + params.brightness[i]
        expected = (b - b.mean()) * params.contrast[i] + b.mean()
        torch.testing.assert_close(out[i], expected)


def test_drawn_parameters_stay_in_range_and_repeat_with_the_generator():
    a = draw_augment(500, (1, 16, 16), list(POLICIES), torch.Generator().manual_seed(3))
    b = draw_augment(500, (1, 16, 16), list(POLICIES), torch.Generator().manual_seed(3))
    assert torch.equal(a.shift, b.shift) and torch.equal(a.cutout, b.cutout)
    assert int(a.shift.min()) == -2 and int(a.shift.max()) == 2  # 1/8 of 16
    assert int(a.cutout.min()) == 0 and int(a.cutout.max()) == 8  # a half-size square fits at 0..8
    assert float(a.contrast.min()) >= 0.5 and float(a.contrast.max()) < 1.5


def test_gradients_flow_through_every_policy():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    params = draw_augment(2, (3, 8, 8), list(POLICIES), torch.Generator().manual_seed(0))
    params = AugmentParams(**{k: (v.double() if v.is_floating_point() else v) for k, v in vars(params).items()})
    assert torch.autograd.gradcheck(lambda t: apply_augment(t, params), (x,))


def test_policy_errors_name_the_problem():
    assert check_policies(["cutout", "color"]) == ("color", "cutout")
    with pytest.raises(ValueError, match="unknown.*'flip'"):
        check_policies(["flip"])
    with pytest.raises(ValueError, match="twice"):
        check_policies(["cutout", "cutout"])
    with pytest.raises(ValueError, match=r"images \(C, H, W\) or sequences \(C, T\).*\(2,\)"):
        diff_augment(torch.zeros(4, 2), ["translation"])


# --- in the generation task ------------------------------------------------------------------


def _trainer(**overrides):
    from featmatch.train.config import build_config
    from featmatch.train.trainer import Trainer

    values = {"data.name": "digits", "data.size": 64, "data.batch_size": 8, "model.width": 8, "steps": 4}
    return Trainer(build_config({**values, **overrides}))


def test_every_input_of_d_is_augmented_with_its_own_parameters():
    from featmatch.train.tasks import Weights

    trainer = _trainer(**{"objective.augment": ["cutout"]})
    batch = trainer.draw()
    assert set(batch.augment) == {"d_real", "d_fake", "g_fake", "g_real"}
    seen = []
    hook = trainer.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    try:
        fake = trainer.G(batch.z)
        trainer.stepper.task.discriminator_objective(trainer.D, batch, fake.detach(), measure=False)
        trainer.stepper.task.generator_objective(trainer.D, batch, fake, None, Weights(adv=1.0), measure=False)
    finally:
        hook.remove()
    expected = [
        apply_augment(batch.x, batch.augment["d_real"]),
        apply_augment(fake.detach(), batch.augment["d_fake"]),
        apply_augment(fake.detach(), batch.augment["g_fake"]),
        apply_augment(batch.x, batch.augment["g_real"]),
    ]
    assert len(seen) == 4
    for got, want in zip(seen, expected, strict=True):
        torch.testing.assert_close(got, want)
    assert all(int((s == 0).sum()) >= 16 * len(s) for s in seen)  # each sample lost a 4 x 4 square


def test_r1_term_is_the_squared_input_gradient_of_d_on_real_data():
    trainer = _trainer(**{"objective.r1_weight": 10.0, "objective.augment": []})  # D sees x as it is
    batch = trainer.draw()
    objective = trainer.stepper.task.discriminator_objective(
        trainer.D, batch, trainer.G(batch.z).detach(), measure=False
    )
    assert objective.weights["d_r1"] == 5.0
    x = batch.x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(trainer.D(x).logits.sum(), x)
    torch.testing.assert_close(objective.terms["d_r1"], grad.pow(2).flatten(1).sum(1).mean())
    assert objective.terms["d_r1"].requires_grad  # it trains D


def test_r1_under_ddp_is_a_clear_error():
    from featmatch.train.config import build_config
    from featmatch.train.tasks.generation import GenerationTask

    task = GenerationTask(build_config({"data.name": "digits", "objective.r1_weight": 1.0}))
    data = task.load_data("train", torch.device("cpu"))
    models = task.build_models(task.describe_data(data))
    with pytest.raises(ValueError, match=r"objective.r1_weight.*--r1.*DDP"):
        task.setup(models, data, distributed=True, device=torch.device("cpu"))


def test_augmented_r1_run_resumes_exactly(tmp_path):
    from featmatch.train import checkpoint as ckpt
    from featmatch.train.config import build_config
    from featmatch.train.trainer import run_training

    values = {
        "data.name": "digits",
        "data.size": 64,
        "data.batch_size": 8,
        "model.width": 8,
        "objective.augment": ["translation", "cutout", "color"],
        "objective.r1_weight": 1.0,
        "log.quiet": True,
        "log.eval_every": 0,
        "log.sample_every": 0,
        "log.checkpoint_every": 2,
    }
    run_training(build_config({**values, "steps": 4, "log.out": str(tmp_path / "whole")}))
    run_training(build_config({**values, "steps": 2, "log.out": str(tmp_path / "split")}))
    run_training(build_config({**values, "steps": 4, "log.out": str(tmp_path / "split")}), resume=True)
    a = ckpt.load_checkpoint(ckpt.list_checkpoints(tmp_path / "whole")[-1])
    b = ckpt.load_checkpoint(ckpt.list_checkpoints(tmp_path / "split")[-1])
    for key in ("generator", "discriminator"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
