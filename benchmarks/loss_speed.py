"""Forward + backward time of the feature-matching loss against the memory-bound limit.

What is timed: one call of the loss on a fixed list of generated (requires_grad) and real
features, then ``torch.autograd.grad`` of it w.r.t. the generated features. Every variant runs on
the same tensors, interleaved round by round, and we report the median over rounds.

Variants:
  copy       a plain copy of the generated features (reads N bytes, writes N bytes), for scale
  limit      one pass that reads generated and real features and writes one tensor of the same
             size (``torch.sub(f, r, out=g)``): the traffic of "read both once, write the gradient once"
  limit_new  the same pass writing into a freshly allocated tensor (``torch.sub(f, r)``), as any
             loss must: a new gradient each step, whose pages the OS maps on first touch
  loop       the straightforward per-layer Python loop with F.l1_loss, autograd backward
  compiled   torch.compile (inductor) of that loop, timed after warm-up
  featmatch  featmatch.feature_matching_loss with its defaults (fused gradient where safe)
  unfused    featmatch with fused=False (plain autograd)

Usage:
  python benchmarks/loss_speed.py --threads 1 [--device cuda] [--rounds 15] [--no-compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import featmatch


def pix2pixhd_features(batch: int = 4, size: int = 256, num_d: int = 3):
    """Shapes of pix2pixHD's NLayerDiscriminator (ndf 64, 3 layers) on 3 scales; logits last."""
    shapes = []
    for d in range(num_d):
        s = size // (2**d)
        h1, h2, h3 = s // 2, s // 4, s // 8
        shapes.append([(batch, 64, h1, h1), (batch, 128, h2, h2), (batch, 256, h3, h3),
                       (batch, 512, h3 - 1, h3 - 1), (batch, 1, h3 - 2, h3 - 2)])
    return shapes


def hifigan_features(batch: int = 4, length: int = 8192):
    """HiFi-GAN-like 1-D features: 3 scale discriminators (channels 128..1024) and 5 period ones."""
    shapes = []
    for scale in range(3):
        t = length // (2**scale)
        chans = [(128, 1), (128, 2), (256, 4), (512, 4), (1024, 4), (1024, 1), (1024, 1), (1, 1)]
        layer, cur = [], t
        for c, stride in chans:
            cur = max(cur // stride, 1)
            layer.append((batch, c, cur))
        shapes.append(layer)
    for period in (2, 3, 5, 7, 11):
        h = -(-length // period)
        layer = []
        for c in (32, 128, 512, 1024):
            h = -(-h // 3)
            layer.append((batch, c, h, period))
        layer += [(batch, 1024, h, period), (batch, 1, h, period)]
        shapes.append(layer)
    return shapes


def make(shapes, device, dtype):
    g = torch.Generator().manual_seed(0)
    fake = [[torch.randn(s, generator=g).to(device, dtype).requires_grad_() for s in d] for d in shapes]
    real = [[torch.randn(s, generator=g).to(device, dtype) for s in d] for d in shapes]
    return fake, real


def loop_loss(fake, real):
    total = 0.0
    for fd, rd in zip(fake, real):
        for f, r in zip(fd, rd):
            total = total + F.l1_loss(f, r.detach())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    print(f"# torch {torch.__version__}, device {device}, dtype {args.dtype}, threads {torch.get_num_threads()}, rounds {args.rounds}")
    for name, shapes in (("pix2pixHD 3 D x 4 maps, 256x256, batch 4", pix2pixhd_features()),
                         ("HiFi-GAN-like 1-D, 8 D, batch 4, 8192 samples", hifigan_features())):
        fake, real = make(shapes, device, dtype)
        flat_fake = [t for d in fake for t in d]
        flat_real = [t for d in real for t in d]
        mbytes = sum(t.numel() * t.element_size() for t in flat_fake) / 2**20
        bufs = [torch.empty_like(t) for t in flat_fake]

        def copy():
            for b, f in zip(bufs, flat_fake):
                b.copy_(f.detach())

        def limit():
            for b, f, r in zip(bufs, flat_fake, flat_real):
                torch.sub(f.detach(), r, out=b)

        def limit_new():
            for f, r in zip(flat_fake, flat_real):
                torch.sub(f.detach(), r)

        def run_loss(fn):
            def call():
                loss = fn(fake, real)
                torch.autograd.grad(loss, flat_fake)
            return call

        variants = {
            "copy": copy,
            "limit": limit,
            "limit_new": limit_new,
            "loop": run_loss(loop_loss),
            "featmatch": run_loss(lambda f, r: featmatch.feature_matching_loss(f, r, layer_reduction="sum", discriminator_reduction="sum")),
            "unfused": run_loss(lambda f, r: featmatch.feature_matching_loss(f, r, layer_reduction="sum", discriminator_reduction="sum", fused=False)),
        }
        if not args.no_compile:
            compiled = torch.compile(loop_loss)
            start = time.perf_counter()
            for _ in range(2):
                run_loss(compiled)()
            sync()
            print(f"  (torch.compile warm-up: {time.perf_counter() - start:.1f} s)")
            variants["compiled"] = run_loss(compiled)
        for fn in variants.values():  # warm-up
            fn()
        times = {k: [] for k in variants}
        for _ in range(args.rounds):
            for key, fn in variants.items():
                sync()
                start = time.perf_counter()
                fn()
                sync()
                times[key].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in times.items()}
        # check the variants agree before reporting their speed
        a = featmatch.feature_matching_loss(fake, real, layer_reduction="sum", discriminator_reduction="sum")
        b = loop_loss(fake, real)
        assert torch.allclose(a.float(), b.float(), rtol=1e-3), (a, b)
        print(f"\n## {name}: {mbytes:.1f} MB of generated features")
        print("| variant | median ms | x copy | x limit |")
        print("|---|---:|---:|---:|")
        for key, value in med.items():
            print(f"| {key} | {value * 1e3:.2f} | {value / med['copy']:.2f} | {value / med['limit']:.2f} |")


if __name__ == "__main__":
    main()
