"""Probe (issue 18, Table 6): does a 1-D convolutional D make the semi-supervised GAN pay off on MNIST-1D?

The ``semi`` task's MLP D (``semi_mlp``, the paper's permutation-invariant architecture) stays
near 70% test error on MNIST-1D with 10 labels per class, with or without the GAN: MNIST-1D's
digits are shifted along the sequence, which an MLP cannot share across positions. This probe
swaps in a small weight-normalised 1-D convolutional D (Gaussian input noise, dropout, global
average pooling; feature matching on the pooled layer, as the paper's CIFAR-10 model) and trains
it on the same seeded labelled split (:func:`featmatch.train.tasks.semi.labelled_split`) either
with the semi-supervised GAN (``semi``: the library's loss, batch-mean feature matching, the MLP G)
or on the labels alone (``sup``), printing the test error of D's moving average (rate 1e-2,
bias-corrected) every 250 steps. A scratch measurement, not a featmatch model family.

Usage (one torch thread; about 4 min for ``semi``, 1.5 min for ``sup`` at 1,500 steps):
    python benchmarks/semi_conv1d_probe.py semi SEED STEPS [WIDTH]
    python benchmarks/semi_conv1d_probe.py sup SEED STEPS [WIDTH]
"""

import copy
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import featmatch
from featmatch.data import load_dataset
from featmatch.models import build_models
from featmatch.train.tasks.semi import labelled_split


class Noise(nn.Module):
    """Gaussian noise in training mode only."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training else x


class ConvDiscriminator(nn.Module):
    """(N, 1, 40) -> 10 class logits; features {"pool": (N, 2w)}, the globally pooled last block."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        wn = nn.utils.parametrizations.weight_norm
        w = width
        self.body = nn.Sequential(
            Noise(0.1),
            wn(nn.Conv1d(1, w, 5, padding=2)), nn.LeakyReLU(0.2),
            wn(nn.Conv1d(w, w, 5, padding=2, stride=2)), nn.LeakyReLU(0.2), nn.Dropout(0.3),  # 40 -> 20
            wn(nn.Conv1d(w, 2 * w, 3, padding=1)), nn.LeakyReLU(0.2),
            wn(nn.Conv1d(2 * w, 2 * w, 3, padding=1, stride=2)), nn.LeakyReLU(0.2), nn.Dropout(0.3),  # 20 -> 10
            wn(nn.Conv1d(2 * w, 2 * w, 3, padding=1)), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.head = wn(nn.Linear(2 * w, 10))

    def forward(self, x: torch.Tensor) -> featmatch.DiscriminatorOutput:
        pooled = self.body(x).mean(-1)  # (N, 2w, 10) -> (N, 2w)
        return featmatch.DiscriminatorOutput(self.head(pooled), {"pool": pooled})


def main(argv: list[str]) -> None:
    mode, seed, steps = argv[0], int(argv[1]), int(argv[2])
    width = int(argv[3]) if len(argv) > 3 else 64
    if mode not in ("semi", "sup"):
        raise SystemExit(f"mode must be 'semi' or 'sup'; got {mode!r}")
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, test = load_dataset("mnist1d", "train"), load_dataset("mnist1d", "test")
    assert train.y is not None and test.y is not None
    labelled, unlabelled = labelled_split(train.y, 10, seed)
    x_lab, y_lab, x_unl = train.x[labelled], train.y[labelled], train.x[unlabelled]

    D = ConvDiscriminator(width)
    G, _ = build_models("semi_mlp", (1, 40), num_classes=10, widths=(16,), generator_widths=(250, 250))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    average = copy.deepcopy(D).eval()
    fm_loss = featmatch.FeatureMatchingLoss.from_preset("salimans2016")
    batches = torch.Generator().manual_seed(seed)

    def test_error(model: nn.Module) -> float:
        with torch.no_grad():
            return (model(test.x).logits.argmax(1) != test.y).float().mean().item()

    best, start, rate = 1.0, time.time(), 1e-2
    for step in range(1, steps + 1):
        i_lab = torch.randint(len(x_lab), (100,), generator=batches)
        i_unl = torch.randint(len(x_unl), (100,), generator=batches)
        i_unl2 = torch.randint(len(x_unl), (100,), generator=batches)
        if mode == "sup":
            d_loss = F.cross_entropy(D(x_lab[i_lab]).logits, y_lab[i_lab])
        else:
            fake = G(torch.rand(100, G.latent_dim))
            lab, unl, gen = D(torch.cat([x_lab[i_lab], x_unl[i_unl], fake.detach()])).logits.split(100)
            d_loss = featmatch.semi_supervised_discriminator_loss(gen, unl, lab, y_lab[i_lab])
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        if mode == "semi":
            D.requires_grad_(False)
            with torch.no_grad():
                real_out = D(x_unl[i_unl2])
            g_loss = fm_loss(D(fake), real_out)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            D.requires_grad_(True)
        weight = rate / (1 - (1 - rate) ** step)  # bias-corrected moving average, as the semi task's
        with torch.no_grad():
            for mine, theirs in zip(average.parameters(), D.parameters(), strict=True):
                mine.lerp_(theirs, weight)
        if step % 250 == 0:
            error = test_error(average)
            best = min(best, error)
            print(
                f"{mode} seed{seed} step {step} test_error {error:.3f} (best {best:.3f}) {time.time() - start:.0f}s",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
