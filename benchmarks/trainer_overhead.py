"""Trainer overhead: `featmatch train`'s Trainer against a minimal hand-written loop (issue 4).

Both train the same models (same initial weights), on the same data, with the same objective
(the digits defaults of ``featmatch train --print-config``: DCGAN-style conv pair, BCE
discriminator, generator = non-saturating BCE + Salimans mean matching on D's features, Adam,
EMA of G), in one process, **interleaved**: the Trainer runs one real ``Trainer.train()``
call (default logging: a ``metrics.jsonl`` row, the balance monitor and the progress-bar text
every ``log_every`` steps; samples and checkpoints at their default intervals, into a temporary
run directory), and every ``--block`` of its steps it hands control to the hand-written loop
for ``--block`` steps of its own. Each Trainer block is timed from the end of the previous
hand block to the start of the next, so it contains everything the Trainer does per step,
inside and outside ``train_step``. The first block of each is warm-up and not counted.

Before timing, the script checks that the two loops compute the same thing: from the same
state, 3 steps of each give the same generator weights.

Example:
    python benchmarks/trainer_overhead.py --threads 1 --steps 1000 --block 50
    python benchmarks/trainer_overhead.py --threads 1 --steps 1000 --block 50 --bar
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from featmatch import discriminator_loss, feature_matching_loss, generator_loss
from featmatch.data import batches
from featmatch.train.config import TrainConfig, build_config
from featmatch.train.trainer import Trainer

from _tables import DIGITS_BEFORE_ISSUE_23  # noqa: E402 - the digits settings measured (benchmarks/ is on the path)


@dataclass
class HandLoop:
    """The minimal loop's state: models, optimisers, data and noise streams, EMA."""

    G: nn.Module
    D: nn.Module
    ema: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    batches: Any
    noise_gen: torch.Generator
    batch_size: int
    latent_dim: int
    ema_decay: float
    fm_options: dict[str, Any]
    step: int = 0
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)


def hand_loop_from(trainer: Trainer) -> HandLoop:
    """A hand loop starting from a copy of ``trainer``'s weights, optimiser state and streams."""
    cfg = trainer.config
    G = copy.deepcopy(trainer.generator)
    D = copy.deepcopy(trainer.discriminator)
    betas = (float(cfg.optim.betas[0]), float(cfg.optim.betas[1]))
    # The same Adam implementation as the trainer's (fused where torch has it).
    fused = trainer.opt_g.defaults["fused"]
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.optim.lr_g, betas=betas, fused=fused)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.optim.lr_d, betas=betas, fused=fused)
    opt_g.load_state_dict(trainer.opt_g.state_dict())
    opt_d.load_state_dict(trainer.opt_d.state_dict())
    data_gen = torch.Generator().set_state(trainer.data_gen.get_state())
    noise_gen = torch.Generator().set_state(trainer.noise_gen.get_state())
    assert trainer.ema is not None, "the digits defaults keep an EMA of G"
    return HandLoop(
        G=G, D=D, ema=copy.deepcopy(trainer.ema), opt_g=opt_g, opt_d=opt_d,
        batches=batches(trainer.data, cfg.data.batch_size, data_gen), noise_gen=noise_gen,
        batch_size=cfg.data.batch_size, latent_dim=trainer.latent_dim,
        ema_decay=cfg.optim.ema, fm_options=cfg.fm_loss_options(), step=trainer.step,
    )


def hand_step(s: HandLoop) -> None:
    """One training step, written out: D update, then G update with D frozen, then EMA."""
    x = next(s.batches)  # (B, 1, 8, 8)
    z = torch.randn(s.batch_size, s.latent_dim, generator=s.noise_gen)  # (B, Z)
    fake = s.G(z)  # (B, 1, 8, 8)

    real_out = s.D(x)
    fake_out = s.D(fake.detach())
    loss_d = discriminator_loss(fake=fake_out.logits, real=real_out.logits, kind="bce")
    s.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    s.opt_d.step()

    s.D.requires_grad_(False)  # no gradient for D in the G step
    fake_out = s.D(fake)
    with torch.no_grad():
        real_out = s.D(x)
    loss_g = feature_matching_loss(fake_out, real_out, **s.fm_options) + generator_loss(fake_out.logits)
    s.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    s.opt_g.step()
    s.D.requires_grad_(True)

    with torch.no_grad():  # the Trainer's EMA, with its warm-up
        decay = min(s.ema_decay, (1 + s.step) / (10 + s.step))
        torch._foreach_lerp_(list(s.ema.parameters()), [p.detach() for p in s.G.parameters()], 1.0 - decay)
        for e, b in zip(s.ema.buffers(), s.G.buffers(), strict=True):
            e.copy_(b)
    s.step += 1


def check_equivalence(cfg: TrainConfig) -> float:
    """3 steps of the Trainer and of the hand loop from the same state: max |G weight diff|."""
    trainer = Trainer(copy.deepcopy(cfg), None)
    hand = hand_loop_from(trainer)
    for _ in range(3):
        trainer.train_step()
        hand_step(hand)
    diffs = [(a - b).abs().max().item() for a, b in zip(
        trainer.generator.parameters(), hand.G.parameters(), strict=True)]
    diffs += [(a - b).abs().max().item() for a, b in zip(
        trainer.ema.parameters(), hand.ema.parameters(), strict=True)]  # type: ignore[union-attr]
    return max(diffs)


class _FakeTerminal(io.TextIOWrapper):
    """/dev/null that says it is a terminal, so the Trainer shows its progress bar."""

    def isatty(self) -> bool:
        return True


def run(cfg: TrainConfig, block: int, hand_warmup: int, bar: bool) -> tuple[HandLoop, list[float], list[float]]:
    """One ``Trainer.train()`` with hand-loop blocks spliced in; per-block times of both."""
    out = tempfile.mkdtemp(prefix="featmatch-overhead-")
    trainer = Trainer(cfg, out)
    hand = hand_loop_from(trainer)
    for _ in range(hand_warmup):
        hand_step(hand)
    # The end-of-run evaluation (Frechet distance etc.) is not a per-step cost: skip it.
    trainer._evaluate_safely = lambda: {}  # type: ignore[method-assign]

    trainer_times: list[float] = []
    trainer_cpu: list[float] = []
    inner = trainer.train_step
    clock = {"wall": 0.0, "cpu": 0.0, "calls": 0}

    def train_step(*, measure: bool = False) -> Any:
        # At each block boundary: close the Trainer's block, run a hand block, reopen.
        if clock["calls"] % block == 0:
            wall, cpu = time.perf_counter(), time.process_time()
            if clock["calls"] > 0:
                trainer_times.append(wall - clock["wall"])
                trainer_cpu.append(cpu - clock["cpu"])
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(block):
                    hand_step(hand)
                hand.times.append(time.perf_counter() - w0)
                hand.cpu_times.append(time.process_time() - c0)
            clock["wall"], clock["cpu"] = time.perf_counter(), time.process_time()
        clock["calls"] += 1
        return inner(measure=measure)

    trainer.train_step = train_step  # type: ignore[method-assign]
    stderr = sys.stderr
    if bar:
        sys.stderr = _FakeTerminal(open(os.devnull, "wb"), encoding="utf-8")  # noqa: SIM115
    else:
        trainer.config.log.quiet = True
    try:
        trainer.train()
    finally:
        if bar:
            sys.stderr.close()
            sys.stderr = stderr
    return hand, trainer_times, trainer_cpu


def _row(name: str, steps_per_sec: list[float], base: float, cpu: list[float], cpu_base: float) -> str:
    med = statistics.median(steps_per_sec)
    q = statistics.quantiles(steps_per_sec, n=4) if len(steps_per_sec) > 1 else [med, med, med]
    cmed = statistics.median(cpu)
    return (f"| {name} | {med:.1f} | {q[0]:.1f}-{q[2]:.1f} | {med / base:.3f} | "
            f"{cmed:.1f} | {cmed / cpu_base:.3f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=1000, help="Trainer steps in all (default 1000)")
    parser.add_argument("--block", type=int, default=50, help="steps per block (default 50 = log_every)")
    parser.add_argument("--hand-warmup", type=int, default=20)
    parser.add_argument("--bar", action="store_true", help="progress bar on (to a fake terminal)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides on top of the digits defaults, e.g. log.log_every=10")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import yaml

    overrides: dict[str, Any] = {"data.name": "digits", **DIGITS_BEFORE_ISSUE_23, "device": "cpu", "steps": args.steps + 1}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    cfg = build_config(overrides)

    diff = check_equivalence(cfg)
    print("```text")
    print("$ python " + " ".join(["benchmarks/trainer_overhead.py", *(argv if argv is not None else sys.argv[1:])]))
    print(f"# torch {torch.__version__}, device cpu, threads {torch.get_num_threads()}, "
          f"data {cfg.data.name}, model {cfg.model.family}, batch {cfg.data.batch_size}, "
          f"objective {cfg.objective.kind} ({cfg.objective.fm_preset}), ema {cfg.optim.ema}, "
          f"log_every {cfg.log.log_every}, sample/checkpoint every "
          f"{cfg.log.sample_every}/{cfg.log.checkpoint_every}, progress bar {'on' if args.bar else 'off'}")
    print(f"# check: after 3 steps from the same state, max |G - G_hand| = {diff:.2e} "
          f"({'same' if diff < 1e-5 else 'DIFFERENT'})")
    start = time.perf_counter()
    hand, t_times, t_cpu = run(cfg, args.block, args.hand_warmup, args.bar)
    # Drop the first block of each (warm-up, and the Trainer's start of train()).
    t_times, t_cpu, h_times, h_cpu = t_times[1:], t_cpu[1:], hand.times[1:], hand.cpu_times[1:]
    n = args.block
    t_sps = [n / t for t in t_times]
    h_sps = [n / t for t in h_times]
    t_csps = [n / t for t in t_cpu]
    h_csps = [n / t for t in h_cpu]
    print(f"# {len(t_times)} timed blocks of {n} steps each, alternating; "
          f"{time.perf_counter() - start:.0f} s in all")
    print("| loop | median steps/s (wall) | IQR | x hand | median steps/CPU-s | x hand |")
    print("|---|---:|---:|---:|---:|---:|")
    hb, hcb = statistics.median(h_sps), statistics.median(h_csps)
    print(_row("hand-written", h_sps, hb, h_csps, hcb))
    print(_row("Trainer.train()", t_sps, hb, t_csps, hcb))
    pair = [h / t for h, t in zip(h_times, t_times, strict=True)]
    total = sum(h_times) / sum(t_times)
    total_cpu = sum(h_cpu) / sum(t_cpu)
    print(f"# median of per-pair ratios (trainer/hand steps/s, neighbours in time): "
          f"{statistics.median(pair):.3f}; all blocks summed: wall {total:.3f}, CPU {total_cpu:.3f}")
    verdict = "met" if statistics.median(pair) >= 0.95 else "MISSED"
    print(f"# target: Trainer >= 0.95x the hand-written loop: {verdict}")
    print("```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
