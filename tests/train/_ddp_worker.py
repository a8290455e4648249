"""Run by test_distributed.py as two processes (RANK 0 and 1): one generator step under DDP.

Each rank takes its half of a fixed global batch, runs ``Trainer.generator_step`` with the
batch statistics (mean, mean and std, random Fourier features), and saves its loss and gradients for the test to compare with one
process holding the whole batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from featmatch.train.config import build_config
from featmatch.train.distributed import cleanup_distributed, init_distributed
from featmatch.train.tasks.generation import GenerationBatch
from featmatch.train.trainer import Trainer

GLOBAL_BATCH = 16
STATISTICS = ("mean", "mean_std", "rff")


def make_config(statistic: str):
    return build_config({
        "data.name": "ring8", "data.size": 64, "data.batch_size": GLOBAL_BATCH // 2,
        "model.family": "mlp", "model.width": 8, "model.latent_dim": 4, "steps": 1,
        "objective.kind": "adv+fm", "objective.fm_statistic": statistic,
    })


def global_batch(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
    x = trainer.data.x[:GLOBAL_BATCH]  # (2b, 2)
    z = torch.randn(GLOBAL_BATCH, trainer.latent_dim, generator=torch.Generator().manual_seed(123))
    return x, z


def generator_step(trainer: Trainer, x: torch.Tensor, z: torch.Tensor) -> dict:
    fake = trainer.G(z)
    parts = trainer.generator_step(GenerationBatch(x, z), fake, measure=True)
    return {
        "loss": parts.loss,
        "fm": parts.terms["g_fm"].detach(),
        "g_grads": [p.grad.clone() for p in trainer.generator.parameters()],
        "d_grads": [p.grad for p in trainer.discriminator.parameters()],
    }


def main(out: Path) -> None:
    torch.set_num_threads(1)
    ctx, device = init_distributed("cpu")
    assert ctx.world_size == 2
    half = slice(ctx.rank * GLOBAL_BATCH // 2, (ctx.rank + 1) * GLOBAL_BATCH // 2)
    results = {}
    for statistic in STATISTICS:
        trainer = Trainer(make_config(statistic), ctx=ctx, device=device)
        x, z = global_batch(trainer)
        results[statistic] = generator_step(trainer, x[half], z[half])
    torch.save(results, out / f"rank{ctx.rank}.pt")
    cleanup_distributed(ctx)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
