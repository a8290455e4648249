"""Where the generator's gradient noise comes from, at a checkpoint of a run.

One generator step's gradient is an estimate: it depends on the step's real and noise batches
and, for the ``rff`` statistic, on the random directions drawn for that step. For a run's
newest checkpoint (or a given one) this script draws ``--draws`` gradients of G's loss with
respect to G's parameters, for each term the objective uses (``fm``, ``adv``) and for the
weighted total the trainer steps on, in three ways:

- ``both``: batches and directions drawn afresh each time (what training sees);
- ``directions``: one fixed pair of batches, directions drawn afresh;
- ``batches``: one fixed set of directions, batches drawn afresh.

It prints the norm of the mean gradient ``|E g|`` and the noise-to-signal ratio
``E|g - E g|^2 / |E g|^2`` of each way. A ratio well above 1 means one step's gradient is mostly
noise: Adam then moves each weight by about lr x signal / noise per step, whatever its momentum,
and what speeds training up is averaging over more samples (more steps, a larger batch) or
removing the source that carries the ratio. A term that does not use random directions
(``adv``, or any statistic but ``rff``) has a ``directions`` ratio of 0.

Example:
    python benchmarks/gradient_noise.py runs/grid25 --draws 32
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import Tensor

from featmatch.train import checkpoint as ckpt
from featmatch.train.config import config_from_dict
from featmatch.train.tasks.generation import GenerationBatch
from featmatch.train.trainer import Trainer

WAYS = ("both", "directions", "batches")


def load_trainer(path: str) -> Trainer:
    """A CPU trainer (writing nothing) in the state of ``path``: a checkpoint or a run directory."""
    found = ckpt.find_checkpoint(path)
    state = ckpt.load_checkpoint(found, required=("config",))
    config = config_from_dict({**state["config"], "device": "cpu"})
    trainer = Trainer(config)
    trainer.load_state_dict(state, found)
    return trainer


def draw_gradients(trainer: Trainer, batch_seed: int, direction_seed: int) -> dict[str, Tensor]:
    """G's gradient (flattened, shape ``(P,)``) of each used loss term and of the total.

    ``batch_seed`` picks the real batch and the noise; ``direction_seed`` seeds torch's global
    generator, from which the ``rff`` statistic draws its directions.
    """
    gen = torch.Generator().manual_seed(batch_seed)
    batch_size = trainer.config.data.batch_size
    x = trainer.data.x[torch.randint(len(trainer.data.x), (batch_size,), generator=gen)]
    z = torch.randn(batch_size, trainer.generator.latent_dim, generator=gen)  # (N, Z)
    params = list(trainer.g_params)
    for p in trainer.d_params:  # as in the generator step: no gradient reaches D
        p.requires_grad_(False)
    try:
        fake = trainer.generator(z)
        torch.manual_seed(direction_seed)
        objective = trainer.generator_objective(GenerationBatch(x=x, z=z), fake, measure=True)
        terms = {"fm": objective.terms["g_fm"], "adv": objective.terms["g_adv"]}
        losses = {name: term for name, term in terms.items() if term.requires_grad}
        assert objective.loss is not None
        losses["total"] = objective.loss
        grads = {}
        for name, loss in losses.items():
            per_param = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            grads[name] = torch.cat([
                (g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(per_param, params)
            ])  # (P,)
    finally:
        for p in trainer.d_params:
            p.requires_grad_(True)
    return grads


def gradient_noise(trainer: Trainer, draws: int = 32, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per term: ``mean_norm`` (|E g|, all sources drawn) and the noise-to-signal ratio of each way.

    Both are unbiased in the number of draws: ``E|g - E g|^2`` from the sample variance, and
    ``|E g|^2`` as ``|mean(g)|^2`` less the variance over ``draws``. A ratio is 0 when the source
    does not vary the gradient, and ``inf`` when the draws cannot tell the mean gradient from 0.

    Example:
        >>> noise = gradient_noise(load_trainer("runs/grid25"), draws=8)  # doctest: +SKIP
        >>> sorted(noise["total"])  # doctest: +SKIP
        ['batches', 'both', 'directions', 'mean_norm']
    """
    if draws < 2:
        raise ValueError(f"draws must be >= 2 to measure a spread; got {draws!r}.")
    base = 1_000_003 * (seed + 1)
    plans = {  # (batch seed, direction seed) of draw k
        "both": lambda k: (base + k, base + 500_000 + k),
        "directions": lambda k: (base - 1, base + 700_000 + k),
        "batches": lambda k: (base + 300_000 + k, base - 2),
    }
    spreads: dict[str, dict[str, float]] = {}
    signals: dict[str, float] = {}
    for way, plan in plans.items():
        drawn = [draw_gradients(trainer, *plan(k)) for k in range(draws)]
        for term in drawn[0]:
            grads = torch.stack([d[term] for d in drawn])  # (K, P)
            mean = grads.mean(0)  # (P,)
            variance = float((grads - mean).square().sum(1).sum()) / (draws - 1)  # E|g - E g|^2
            spreads.setdefault(term, {})[way] = variance
            if way == "both":
                # |mean|^2 overestimates |E g|^2 by variance / K: take that off.
                signals[term] = float(mean.square().sum()) - variance / draws
    result: dict[str, dict[str, float]] = {}
    for term, by_way in spreads.items():
        signal = signals[term]
        result[term] = {"mean_norm": max(signal, 0.0) ** 0.5}
        for way, variance in by_way.items():
            if variance == 0.0:  # this source does not vary the gradient at all
                result[term][way] = 0.0
            else:
                result[term][way] = variance / signal if signal > 0 else float("inf")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or checkpoint files")
    parser.add_argument("--draws", type=int, default=32, help="gradients per way (default: 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    if args.draws < 2:
        parser.error(f"--draws must be >= 2 to measure a spread; got {args.draws}")
    torch.set_num_threads(args.threads)
    print(f"$ python benchmarks/gradient_noise.py {' '.join(sys.argv[1:] if argv is None else argv)}\n")
    print(f"torch {torch.__version__}, cpu, {args.threads} thread(s), {args.draws} draws per way\n")
    print("| run | step | term | weight | norm of the mean gradient | noise / signal: "
          + " | ".join(WAYS) + " |")
    print("|---|---:|---|---:|---:|" + "---:|" * len(WAYS))
    for run in args.runs:
        trainer = load_trainer(run)
        fm_weight = trainer.config.objective.fm_weight * trainer.monitor.fm_weight_multiplier
        weights = {"fm": fm_weight, "adv": trainer.adv_weight, "total": 1.0}
        for term, entry in gradient_noise(trainer, args.draws, args.seed).items():
            ratios = " | ".join(f"{entry[w]:.2f}" for w in WAYS)
            print(f"| {run} | {trainer.step} | {term} | {weights[term]:.4g} | {entry['mean_norm']:.3e} | "
                  f"{ratios} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
