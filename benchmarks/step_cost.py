"""What feature matching costs per generator step, measured side by side with the adversarial loss alone.

What is timed: one generator step -- ``G(z)``, the discriminator on the generated batch, the
generator's loss, ``backward()`` and ``Adam.step()`` -- with the discriminator's parameters frozen
(``requires_grad_(False)``) for the step. The step is featmatch's own: the "generation" task's
``generate`` and ``generator_objective`` run by the shared ``TrainStep.generator_step`` (fused
Adam, as in training), not a copy of it. Every variant uses the same
G, D, real batch ``x`` and noise ``z``; both models are in train mode (batch norm on batch
statistics), as in training. After every step the script checks that no discriminator parameter
has a ``.grad``: the discriminator's gradients are never computed.

Variants (generator objective in brackets; the FM options come from ``--fm-preset``):
  a_nograd    [adv + fm] featmatch's default: real features from ``D(x)`` under ``torch.no_grad()``.
  b_autograd  [adv + fm] as pix2pixHD, HiFi-GAN and torchgan do it: ``D(x)`` runs with autograd on
              and D's parameters requiring grad (those code bases never freeze D), so autograd
              records D(x)'s graph; the features are detached for the loss and the output stays
              alive until after ``backward()``, as a local variable does there. D is frozen for the
              rest of the step, so it still gets no gradient.
  c_reuse     [adv + fm] real features reused from the discriminator step (computed once, before
              timing, under no_grad, as the trainer's ``reuse_real_features`` passes them in): the
              G step runs no ``D(x)`` at all.
  d_adv       [adv]      the adversarial loss alone (non-saturating BCE), no feature matching.

How often: ``--warmup`` untimed steps per variant, then ``--repeats`` rounds; each round runs every
variant once, in an order rotated by one each round, so machine noise (the CPU is shared) hits all
variants alike. Reported: median (and 25th-75th percentiles) per variant, and each median over
d_adv's median.

Peak memory:
  CPU   each variant runs ``--memory-steps`` steps in a fresh subprocess, which reads its peak
        resident memory at the end (Linux ``VmHWM``; ``ru_maxrss`` elsewhere); a baseline subprocess builds the
        same models, optimiser, batch and D-step features but takes no step. Reported: peak RSS
        minus the baseline's. The children run with ``MALLOC_MMAP_THRESHOLD_=65536`` so glibc
        returns freed large blocks at once and the peak tracks live tensors, not heap growth.
        The difference includes Adam's state (created by the first step), the same for all variants.
  CUDA  in process: ``torch.cuda.reset_peak_memory_stats()`` before one step,
        ``max_memory_allocated() - memory_allocated()`` (taken before the step) after it.

Workloads (``--which``):
  image     DCGAN pair (``build_models("conv", (3, 64, 64), width=64)``), batch 64.
  sequence  1-D pair (``build_models("sequence", (16, 1024), width=64)``: D depth 4, features
            (64, 512), (128, 256), (256, 128), (512, 64) per sample), batch 64 -- a multichannel
            signal of about a second at 1 kHz.

Scaling table: the feature-matching loss alone (forward + ``autograd.grad`` w.r.t. the generated
features) on synthetic features, 1/2/4/8 layers x 1/3 discriminators, every layer the same size
(``--scale-shape``, default (64, 64, 16, 16) = 4 MiB of float32), so the total grows with the
layer count; for the ``--fm-preset`` options and for paired L1 (the loss's own default).

Usage:
  python benchmarks/step_cost.py --threads 1 [--which all] [--repeats 15] [--device cuda]
      [--dtype bfloat16] [--fm-preset salimans2016] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

import featmatch
from featmatch import DiscriminatorOutput
from featmatch.models import build_models
from featmatch.train.config import build_config
from featmatch.train.distributed import DistContext
from featmatch.train.step import TrainStep
from featmatch.train.tasks import TaskModels
from featmatch.train.tasks.generation import GenerationBatch, GenerationTask

VARIANTS: tuple[str, ...] = ("a_nograd", "b_autograd", "c_reuse", "d_adv")

DESCRIPTIONS: dict[str, str] = {
    "a_nograd": "(a) adv + fm, D(x) under no_grad (featmatch default)",
    "b_autograd": "(b) adv + fm, D(x) with autograd on, detached (pix2pixHD / HiFi-GAN / torchgan)",
    "c_reuse": "(c) adv + fm, real features reused from the D step",
    "d_adv": "(d) adv only",
}


@dataclass(frozen=True)
class Workload:
    """One G/D pair and batch to benchmark.

    Example:
        >>> Workload("tiny", "conv", (3, 8, 8), 4, {"width": 4}).batch
        4
    """

    name: str
    family: str
    sample_shape: tuple[int, ...]
    batch: int
    options: dict[str, Any] = field(default_factory=dict)


WORKLOADS: dict[str, Workload] = {
    "image": Workload("image", "conv", (3, 64, 64), 64, {"width": 64}),
    "sequence": Workload("sequence", "sequence", (16, 1024), 64, {"width": 64}),
}


@dataclass
class Setup:
    """Everything one generator step needs, built once and shared by every variant."""

    workload: Workload
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    optimizer: torch.optim.Optimizer  # G's optimiser of the adv + fm step
    z: torch.Tensor  # (N, latent)
    x: torch.Tensor  # (N, *sample_shape), the real batch
    d_step_real: DiscriminatorOutput  # D(x) from the D step, detached (variant c)
    fm_options: dict[str, Any]
    autocast: Callable[[], contextlib.AbstractContextManager[Any]]
    steps: dict[str, TrainStep] = field(default_factory=dict)  # by objective kind: "adv+fm", "adv"


def fm_options_for(preset: str) -> dict[str, Any]:
    """The feature-matching options of a preset name, or of ``"none"`` (the loss's own defaults).

    Example:
        >>> fm_options_for("none")
        {}
    """
    if preset == "none":
        return {}
    return dict(featmatch.PRESETS[preset].options)


def build_setup(
    workload: Workload,
    device: torch.device,
    *,
    dtype: torch.dtype = torch.float32,
    fm_options: dict[str, Any] | None = None,
    seed: int = 0,
) -> Setup:
    """Build G, D (train mode), Adam for G, a real batch, noise and the D step's real features.

    Example:
        >>> s = build_setup(Workload("tiny", "conv", (3, 8, 8), 4, {"width": 4}), torch.device("cpu"))
        >>> tuple(s.x.shape)
        (4, 3, 8, 8)
    """
    torch.manual_seed(seed)
    generator, discriminator = build_models(workload.family, workload.sample_shape, **workload.options)
    generator.to(device).train()
    discriminator.to(device).train()
    models = TaskModels(generator, discriminator, workload.family, int(generator.latent_dim))
    steps: dict[str, TrainStep] = {}
    for kind in ("adv+fm", "adv"):
        config = build_config({"objective.kind": kind, "objective.fm_weight": 1.0, "objective.adv_weight": 1.0,
                               "objective.d_loss": "bce", "objective.saturating": False, "optim.ema_decay": 0.0,
                               "optim.lr_g": 2e-4, "optim.betas": [0.5, 0.999]})
        task = GenerationTask(config)
        # The benchmark's FM options (a preset, or the loss's defaults), not the config's.
        task.fm_loss = featmatch.FeatureMatchingLoss(**(fm_options or {}), return_terms=True)
        step = TrainStep(task, models, DistContext(), device)
        step.amp_dtype = None if dtype == torch.float32 else dtype  # also on the CPU, unlike training
        steps[kind] = step
    z = torch.randn(workload.batch, generator.latent_dim, device=device)  # (N, Z)
    x = torch.rand(workload.batch, *workload.sample_shape, device=device) * 2 - 1  # (N, *shape) in [-1, 1]
    autocast = steps["adv+fm"].autocast

    # What the D step hands over with reuse_real_features: its D(x), detached.
    with torch.no_grad(), autocast():
        d_step_real = discriminator(x)
    return Setup(workload, generator, discriminator, steps["adv+fm"].opt_g, z, x, d_step_real,
                 dict(fm_options or {}), autocast, steps)


def _detached(out: DiscriminatorOutput) -> DiscriminatorOutput:
    return DiscriminatorOutput(out.logits.detach(), {k: v.detach() for k, v in out.features.items()})


def generator_step(setup: Setup, variant: str) -> torch.Tensor:
    """One generator step (forward, backward, Adam step) in the way ``variant`` names.

    D's parameters are frozen for the step (as featmatch's trainer does) and unfrozen after, so
    between steps D looks as it does in training. Raises AssertionError if D got a gradient.

    Returns:
        The generator's loss, detached.

    Example:
        >>> s = build_setup(Workload("tiny", "conv", (3, 8, 8), 4, {"width": 4}), torch.device("cpu"))
        >>> bool(torch.isfinite(generator_step(s, "a_nograd")))
        True
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    step = setup.steps["adv" if variant == "d_adv" else "adv+fm"]
    d_params = list(setup.discriminator.parameters())
    batch = GenerationBatch(setup.x, setup.z)
    real_live = real_out = None
    if variant == "b_autograd":
        # D is not frozen yet: like pix2pixHD / HiFi-GAN / torchgan, autograd records D(x)'s graph;
        # the features are detached for the loss and the output (with its graph) lives to the end.
        with setup.autocast():
            real_live = setup.discriminator(setup.x)
        assert real_live.logits.requires_grad, "b_autograd must record D(x)'s graph"
        real_out = _detached(real_live)
    elif variant == "c_reuse":
        real_out = setup.d_step_real
    with setup.autocast():
        fake = step.task.generate(step.G, batch)  # (N, *sample_shape)
    result = step.generator_step(batch, fake, real_out)  # a_nograd, d_adv: real_out None -> D(x) under no_grad
    del real_live
    if any(p.grad is not None for p in d_params):
        raise AssertionError(f"variant {variant}: the discriminator received a gradient in the G step")
    assert result.loss is not None
    return result.loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_variants(
    setup: Setup, variants: tuple[str, ...], repeats: int, warmup: int, device: torch.device
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and process CPU seconds per step for each variant, interleaved round by round.

    Each round runs every variant once, in an order rotated by one per round. The CPU time
    (``time.process_time``, summed over the process's threads) does not count time the process
    spent waiting for a core, which on a shared machine makes it the steadier of the two.

    Example:
        >>> s = build_setup(Workload("tiny", "conv", (3, 8, 8), 4, {"width": 4}), torch.device("cpu"))
        >>> wall, cpu = time_variants(s, ("a_nograd", "d_adv"), repeats=2, warmup=1, device=torch.device("cpu"))
        >>> [len(v) for v in wall.values()]
        [2, 2]
    """
    for variant in variants:
        for _ in range(warmup):
            generator_step(setup, variant)
    wall: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    for round_index in range(repeats):
        shift = round_index % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            _sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            generator_step(setup, variant)
            _sync(device)  # the clock is read only after the GPU has finished the step
            wall[variant].append(time.perf_counter() - start)
            cpu[variant].append(time.process_time() - start_cpu)
    return wall, cpu


def cuda_peak_memory(setup: Setup, variants: tuple[str, ...], device: torch.device) -> dict[str, float]:
    """Extra bytes at the peak of one step above what was allocated before it, per variant (CUDA)."""
    peaks = {}
    for variant in variants:
        generator_step(setup, variant)  # Adam's state and caches exist before measuring
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        generator_step(setup, variant)
        _sync(device)
        peaks[variant] = float(torch.cuda.max_memory_allocated(device) - before)
    return peaks


def _child_command(args: argparse.Namespace, workload: str, variant: str) -> list[str]:
    return [
        sys.executable, os.path.abspath(__file__), "--memory-child", workload, variant,
        "--threads", str(args.threads), "--dtype", args.dtype, "--fm-preset", args.fm_preset,
        "--memory-steps", str(args.memory_steps),
    ]


def cpu_peak_memory(args: argparse.Namespace, workload: str, variants: tuple[str, ...]) -> dict[str, float]:
    """Peak RSS of a subprocess that runs each variant, minus a baseline subprocess's (bytes).

    Returns the variants' differences and the baseline's own peak under ``"baseline"``.
    """
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    peaks: dict[str, float] = {}
    for name in ("baseline", *variants):
        result = subprocess.run(
            _child_command(args, workload, name), env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"memory child {workload}/{name} failed:\n{result.stderr}")
        peaks[name] = float(json.loads(result.stdout.strip().splitlines()[-1])["maxrss_bytes"])
    baseline = peaks["baseline"]
    return {"baseline": baseline, **{v: peaks[v] - baseline for v in variants}}


def _memory_child(args: argparse.Namespace) -> None:
    workload, variant = args.memory_child
    setup = build_setup(
        WORKLOADS[workload], torch.device("cpu"), dtype=getattr(torch, args.dtype),
        fm_options=fm_options_for(args.fm_preset),
    )
    if variant != "baseline":
        for _ in range(args.memory_steps):
            generator_step(setup, variant)
    print(json.dumps({"maxrss_bytes": peak_rss_bytes()}))


def peak_rss_bytes() -> int:
    """This process's peak resident memory in bytes.

    Linux: ``VmHWM`` from ``/proc/self/status``, which starts afresh at ``exec``. (``ru_maxrss``
    does not: Linux carries it over from the parent across fork and exec, so a child of a large
    parent would report the parent's peak.) Elsewhere: ``getrusage(RUSAGE_SELF).ru_maxrss``.

    Example:
        >>> peak_rss_bytes() > 0
        True
    """
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def scaling_table(
    shape: tuple[int, ...],
    layer_counts: tuple[int, ...],
    disc_counts: tuple[int, ...],
    losses: dict[str, dict[str, Any]],
    repeats: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> list[tuple[str, int, int, float, float]]:
    """Median wall and CPU seconds of the loss alone (forward + autograd.grad) per configuration.

    Every layer has ``shape``; all configurations and losses are interleaved round by round, in
    an order rotated by one each round.
    Rows are ``(loss name, discriminators, layers per discriminator, wall s, CPU s)``.

    Example:
        >>> rows = scaling_table((2, 3), (1, 2), (1,), {"l1": {}}, 2, torch.device("cpu"))
        >>> [(name, d, l) for name, d, l, _, _ in rows]
        [('l1', 1, 1), ('l1', 1, 2)]
    """
    gen = torch.Generator().manual_seed(0)
    most = max(layer_counts) * max(disc_counts)
    pool_fake = [torch.randn(shape, generator=gen).to(device, dtype) for _ in range(most)]
    pool_real = [torch.randn(shape, generator=gen).to(device, dtype) for _ in range(most)]
    cases = []
    for name, options in losses.items():
        for d in disc_counts:
            for layers in layer_counts:
                fake = [[pool_fake[i * layers + j].clone().requires_grad_() for j in range(layers)] for i in range(d)]
                real = [[pool_real[i * layers + j] for j in range(layers)] for i in range(d)]
                cases.append(((name, d, layers), options, fake, real))

    def run(options: dict[str, Any], fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> None:
        loss = featmatch.feature_matching_loss(fake, real, **options)
        torch.autograd.grad(loss, [t for disc in fake for t in disc])

    for _, options, fake, real in cases:  # warm-up
        run(options, fake, real)
    wall: dict[tuple[str, int, int], list[float]] = {key: [] for key, *_ in cases}
    cpu: dict[tuple[str, int, int], list[float]] = {key: [] for key, *_ in cases}
    for round_index in range(repeats):
        shift = round_index % len(cases)
        for key, options, fake, real in cases[shift:] + cases[:shift]:
            _sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            run(options, fake, real)
            _sync(device)
            wall[key].append(time.perf_counter() - start)
            cpu[key].append(time.process_time() - start_cpu)
    return [(*key, statistics.median(wall[key]), statistics.median(cpu[key])) for key in wall]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def _profile(setup: Setup, variant: str, device: torch.device) -> None:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    generator_step(setup, variant)
    with profile(activities=activities) as prof:
        for _ in range(3):
            generator_step(setup, variant)
        _sync(device)
    # On CUDA the device-time table shows the kernels; the host-time one shows what keeps the
    # GPU waiting when the step is launch-bound (Python, launches, cudaStreamSynchronize).
    sorts = ["self_device_time_total", "self_cpu_time_total"] if device.type == "cuda" else ["self_cpu_time_total"]
    for sort in sorts:
        print(f"\n<details><summary>torch.profiler, 3 steps of {variant}, by {sort}</summary>\n\n```")
        print(prof.key_averages().table(sort_by=sort, row_limit=20))
        print("```\n</details>")


def _print_header(args: argparse.Namespace, device: torch.device) -> None:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu
    print("```")
    print("python " + shlex.join(["benchmarks/step_cost.py", *sys.argv[1:]]))
    print("```")
    print(
        f"torch {torch.__version__}, device {device} ({where}), threads {torch.get_num_threads()}, "
        f"dtype {args.dtype}{' (autocast)' if args.dtype != 'float32' else ''}, "
        f"repeats {args.repeats} (+{args.warmup} warm-up), FM preset {args.fm_preset} "
        f"{fm_options_for(args.fm_preset)}"
    )


def _step_report(args: argparse.Namespace, name: str, device: torch.device, dtype: torch.dtype) -> None:
    workload = WORKLOADS[name]
    setup = build_setup(workload, device, dtype=dtype, fm_options=fm_options_for(args.fm_preset))
    feats = [tuple(t.shape[1:]) for t in setup.d_step_real.features.values()]
    g_params = sum(p.numel() for p in setup.generator.parameters())
    d_params = sum(p.numel() for p in setup.discriminator.parameters())
    print(
        f"\n## {name}: {workload.family} {workload.sample_shape}, batch {workload.batch}, "
        f"G {g_params / 1e6:.2f} M params, D {d_params / 1e6:.2f} M params, D features per sample {feats}\n"
    )
    start = time.perf_counter()
    times, cpu_times = time_variants(setup, VARIANTS, args.repeats, args.warmup, device)
    elapsed = time.perf_counter() - start
    if device.type == "cuda":
        memory = cuda_peak_memory(setup, VARIANTS, device)
        mem_note = "peak MiB = max_memory_allocated during one step minus memory allocated before it"
    elif args.no_memory:
        memory, mem_note = {}, "memory not measured (--no-memory)"
    else:
        memory = cpu_peak_memory(args, name, VARIANTS)
        mem_note = (
            f"peak MiB = subprocess peak RSS after {args.memory_steps} steps minus a no-step baseline "
            f"subprocess ({_mib(memory['baseline'])} MiB)"
        )
    med = {v: statistics.median(t) for v, t in times.items()}
    cpu_med = {v: statistics.median(t) for v, t in cpu_times.items()}
    print("| variant | median ms | p25-p75 ms | x (d) | CPU ms | CPU x (d) | peak MiB | vs (b) MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for v in VARIANTS:
        spread = f"{_quantile(times[v], 0.25) * 1e3:.1f}-{_quantile(times[v], 0.75) * 1e3:.1f}"
        peak = _mib(memory[v]) if v in memory else "-"
        vs_b = f"{(memory[v] - memory['b_autograd']) / 2**20:+.1f}" if v in memory else "-"
        print(
            f"| {DESCRIPTIONS[v]} | {med[v] * 1e3:.1f} | {spread} | {med[v] / med['d_adv']:.3f} | "
            f"{cpu_med[v] * 1e3:.1f} | {cpu_med[v] / cpu_med['d_adv']:.3f} | {peak} | {vs_b} |"
        )
    print(
        f"\nms = wall clock; CPU ms = process CPU time (all threads) of the same steps; {mem_note}; "
        f"timing took {elapsed:.0f} s. D's .grad stayed None in every step."
    )
    for label, m in (("wall", med), ("CPU", cpu_med)):
        ratio_a, ratio_c = m["a_nograd"] / m["d_adv"], m["c_reuse"] / m["d_adv"]
        print(f"- target (a) <= 1.35 x (d), {label}: {ratio_a:.3f} -> {'met' if ratio_a <= 1.35 else 'MISSED'}")
        print(f"- target (c) <= 1.05 x (d), {label}: {ratio_c:.3f} -> {'met' if ratio_c <= 1.05 else 'MISSED'}")
    if memory:
        saved = memory["b_autograd"] - memory["a_nograd"]
        verdict = "met" if saved > 0 else "MISSED"
        print(f"- target (a) peak < (b) peak: (b) - (a) = {saved / 2**20:+.1f} MiB -> {verdict}")
    if args.profile:
        _profile(setup, "a_nograd", device)


def _scaling_report(args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> None:
    shape = tuple(args.scale_shape)
    losses = {f"preset {args.fm_preset}": fm_options_for(args.fm_preset)}
    if args.fm_preset != "none":
        losses["paired L1 (loss default)"] = {}
    layer_counts, disc_counts = (1, 2, 4, 8), (1, 3)
    rows = scaling_table(shape, layer_counts, disc_counts, losses, args.scale_repeats, device, dtype)
    mib = torch.tensor([], dtype=dtype).element_size() * torch.Size(shape).numel() / 2**20
    print(
        f"\n## Loss alone: forward + autograd.grad, every layer {shape} ({mib:.1f} MiB of {dtype}), "
        f"median of {args.scale_repeats}\n"
    )
    print(
        "| loss | discriminators | layers each | total layers | generated MiB | median ms | CPU ms | CPU ms / layer |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, d, layers, seconds, cpu_seconds in rows:
        total = d * layers
        print(
            f"| {name} | {d} | {layers} | {total} | {total * mib:.0f} | {seconds * 1e3:.2f} | "
            f"{cpu_seconds * 1e3:.2f} | {cpu_seconds * 1e3 / total:.2f} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant first (default 2)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="bfloat16 runs the step under torch.autocast (meant for CUDA)")
    parser.add_argument("--which", default="all", choices=["image", "sequence", "all", "none"],
                        help="workloads for the step tables; 'none' prints only the scaling table")
    parser.add_argument("--fm-preset", default="salimans2016", choices=["none", *sorted(featmatch.PRESETS)],
                        help="FM options for (a)-(c); default salimans2016, the trainer's default "
                        "(unconditional GANs); 'none' = the loss's defaults (paired L1)")
    parser.add_argument("--memory-steps", type=int, default=3, help="steps per CPU memory subprocess")
    parser.add_argument("--no-memory", action="store_true", help="skip the CPU memory subprocesses")
    parser.add_argument("--no-scaling", action="store_true", help="skip the loss scaling table")
    parser.add_argument("--scale-shape", type=int, nargs="+", default=[64, 64, 16, 16])
    parser.add_argument("--scale-repeats", type=int, default=21, help="rounds of the scaling table")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table of (a)")
    parser.add_argument("--memory-child", nargs=2, metavar=("WORKLOAD", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_child:
        _memory_child(args)
        return
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    _print_header(args, device)
    names = {"all": list(WORKLOADS), "none": []}.get(args.which, [args.which])
    for name in names:
        _step_report(args, name, device, dtype)
    if not args.no_scaling:
        # The loss on synthetic features is timed in float32 storage; autocast does not apply.
        _scaling_report(args, device, torch.float32)


if __name__ == "__main__":
    main()
