"""Tasks: the registry, a toy task trained end to end by the shared Trainer, the task in checkpoints."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featmatch import DiscriminatorOutput
from featmatch.errors import InputError
from featmatch.train import checkpoint as ckpt
from featmatch.train.config import build_config
from featmatch.train.tasks import (
    TASKS,
    Objective,
    Streams,
    Task,
    TaskModels,
    UnknownTaskError,
    Weights,
    get_task,
    register_task,
)
from featmatch.train.tasks.generation import GenerationTask
from featmatch.train.trainer import Trainer, load_generator, run_training

# ------------------------------------------------------------------------------ the registry


def test_generation_is_registered_and_unknown_names_list_the_known_ones():
    assert get_task("generation") is GenerationTask
    assert TASKS["generation"] is GenerationTask
    with pytest.raises(UnknownTaskError, match=r"unknown task 'nope'; known tasks: .*'generation'") as info:
        get_task("nope")
    assert isinstance(info.value, ValueError) and isinstance(info.value, InputError)
    with pytest.raises(UnknownTaskError, match="did you mean 'generation'"):
        get_task("generaton")


def test_registering_needs_a_task_with_a_free_name():
    class Nameless(Task):
        pass

    class Clash(Task):
        name = "generation"

    with pytest.raises(ValueError, match="non-empty 'name'"):
        register_task(Nameless)
    with pytest.raises(ValueError, match="already registered by GenerationTask"):
        register_task(Clash)
    with pytest.raises(TypeError, match="Task subclass"):
        register_task(int)  # type: ignore[arg-type]
    assert register_task(GenerationTask) is GenerationTask  # registering the same class again is harmless


def test_a_config_with_an_unknown_task_is_refused_by_the_trainer():
    cfg = dataclasses.replace(_ring8(), task="nope")
    with pytest.raises(ValueError, match=r"config field 'task' \(flag --task\) must be one of .*'generation'"):
        Trainer(cfg)  # the config's validation names the key and its flag


# ------------------------------------------------------------------------------ a toy task


class _Critic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(2, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        h = torch.tanh(self.hidden(x))  # (N, 8)
        return DiscriminatorOutput(self.out(h), {"hidden": h})


class ShiftTask(Task):
    """A toy task written only against the Task interface: G shifts noise, D is a tiny MLP.

    The G objective is the adversarial loss plus a per-batch mean match on D's hidden layer; the
    "metric" is the distance between the means of real and generated points.
    """

    name = "toy-shift"

    def build_models(self, data: Mapping[str, Any], *, family: str | None = None) -> TaskModels:
        width = int(data["sample_shape"][0])
        return TaskModels(generator=nn.Linear(3, width), discriminator=_Critic(), family=family or "toy",
                          latent_dim=3)

    def draw(self, streams: Streams, models: TaskModels) -> tuple[Tensor, Tensor]:
        x = streams.next_batch()  # (B, 2)
        z = torch.randn(x.shape[0], 3, generator=streams.noise, device=streams.device)  # (B, 3)
        return x, z

    def generate(self, G: nn.Module, batch: tuple[Tensor, Tensor]) -> Tensor:
        return G(batch[1])

    def discriminator_objective(self, D: nn.Module, batch: Any, fake: Tensor, *, measure: bool) -> Objective:
        real, gen = D(batch[0]), D(fake)
        loss = F.softplus(-real.logits).mean() + F.softplus(gen.logits).mean()
        out = Objective(terms={"d": loss}, weights={"d": 1.0})
        if measure:
            out.real_logits, out.fake_logits = [real.logits.detach()], [gen.logits.detach()]
        return out

    def generator_objective(self, D: nn.Module, batch: Any, fake: Tensor, real_out: Any, weights: Weights, *,
                            measure: bool) -> Objective:
        gen = D(fake)
        with torch.no_grad():
            real = D(batch[0])
        fm = (gen.features["hidden"].mean(0) - real.features["hidden"].mean(0)).square().mean()
        adv = F.softplus(-gen.logits).mean()
        return Objective(terms={"g_adv": adv, "g_fm": fm}, weights={"g_fm": 1.0, "g_adv": weights.adv},
                         layers={"hidden": fm})

    def sample_inputs(self, models: TaskModels, n: int, generator: torch.Generator) -> Tensor:
        return torch.randn(n, 3, generator=generator)

    def sample(self, G: nn.Module, inputs: Tensor, device: torch.device) -> Tensor:
        return G(inputs.to(device)).float().cpu()

    def save_picture(self, G: nn.Module, inputs: Tensor, data: Any, path: Path, *, title: str,
                     device: torch.device) -> Path:
        from featmatch.train.plots import save_samples

        return save_samples(self.sample(G, inputs, device), data["kind"], path, title=title)  # data: described

    def evaluate(self, G: nn.Module, models: TaskModels, data: Any, device: torch.device, *,
                 n: int | None = None, seed: int | None = None) -> dict[str, float]:
        fake = self.sample(G, torch.randn(64, 3), device)
        return {"mean_distance": float((fake.mean(0) - data.x.float().mean(0)).norm())}


@pytest.fixture
def toy_task():
    register_task(ShiftTask)
    yield ShiftTask
    del TASKS[ShiftTask.name]


def _ring8(**overrides):
    return build_config({"data.name": "ring8", "data.size": 64, "data.batch_size": 16, "model.family": "mlp",
                         "model.width": 8, "model.latent_dim": 4, "steps": 6, "log.log_every": 2,
                         "log.sample_every": 3, "log.checkpoint_every": 3, "log.eval_every": 0, **overrides})


def test_a_new_task_is_one_class_and_its_registration(tmp_path, toy_task):
    cfg = dataclasses.replace(_ring8(), task=toy_task.name)
    summary = run_training(cfg, run_dir=tmp_path / "run")
    run = Path(summary["run_dir"])
    assert summary["steps"] == 6 and summary["family"] == "toy" and summary["stopped"] is None
    assert summary["metrics"].keys() == {"mean_distance"}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss/d" in r] == [2, 4, 6]
    assert {"loss/d", "loss/g_adv", "loss/g_fm", "fm/hidden", "d/real_prob", "grad/g", "grad/d"} <= set(rows[0])
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_000003.png", "step_000006.png"]
    assert (run / "report.md").is_file()

    state = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])
    assert state["task"] == "toy-shift" and state["step"] == 6
    generator, loaded = load_generator(run)  # rebuilt by the toy task's build_models
    assert isinstance(generator, nn.Linear) and loaded["task"] == "toy-shift"
    torch.testing.assert_close(generator.weight, state["ema"]["weight"])

    # Resuming continues the toy run; a run of another task refuses its checkpoints.
    more = run_training(dataclasses.replace(cfg, steps=8), run_dir=run, resume=True)
    assert more["steps"] == 8
    with pytest.raises(ckpt.CheckpointError, match="written by a 'toy-shift' run"):
        Trainer(_ring8(), run).resume()


def test_a_generation_checkpoint_records_its_task_and_one_without_loads_as_generation(tmp_path):
    summary = run_training(_ring8(**{"steps": 3}), run_dir=tmp_path / "run")
    path = ckpt.list_checkpoints(summary["run_dir"])[-1]
    state = ckpt.load_checkpoint(path)
    assert state["task"] == "generation"

    del state["task"]  # as written before tasks existed
    old = ckpt.save_checkpoint(state, tmp_path / "old.pt", finite=ckpt.WEIGHT_ENTRIES)
    generator, loaded = load_generator(old)
    assert loaded["task"] == "generation"
    z = torch.randn(5, loaded["latent_dim"])
    new_generator, _ = load_generator(path)
    torch.testing.assert_close(generator(z), new_generator(z), rtol=0, atol=0)
    # And resuming from it works as a generation run.
    trainer = Trainer(_ring8(**{"steps": 3}))
    trainer.load_state_dict(ckpt.load_checkpoint(old), old)
    assert trainer.step == 3
