"""Match the features of a discriminator you already have, without changing its code.

`list_layers` shows the names, `FeatureTap` captures them with forward hooks (removed on exit), and
`as_discriminator_output` adapts discriminators that already return features (pix2pixHD, HiFi-GAN).

    python examples/tap_any_discriminator.py
"""

from __future__ import annotations

import torch
from torch import nn

import featmatch



class DCGANDiscriminator(nn.Module):
    """A discriminator as found in many repositories: one nn.Sequential called `main`."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 1, 4, 1, 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten(1)  # (N, 1)


D = DCGANDiscriminator()

print("layers you can tap:", featmatch.list_layers(D))
real = torch.randn(8, 1, 16, 16)
fake = torch.randn(8, 1, 16, 16, requires_grad=True)

with featmatch.FeatureTap(D, layers=["main.1", "main.4"]) as tap:
    fake_out = tap(fake)  # DiscriminatorOutput(logits=D(fake), features={"main.1": ..., "main.4": ...})
    with torch.no_grad():
        real_out = tap(real)
for name, feature in fake_out.features.items():
    print(f"  {name}: {tuple(feature.shape)}")

loss, terms = featmatch.feature_matching_loss(fake_out, real_out, statistic="mean", return_terms=True)
loss.backward()
print(f"feature-matching loss {loss.item():.4f}, per layer {({k: round(v.item(), 4) for k, v in terms.items()})}")
print("gradient reached the generated images:", fake.grad is not None)

# Discriminators that already return their features: adapt, then use any preset.
pix2pixhd_style = [[torch.randn(2, 64, 8, 8), torch.randn(2, 1, 7, 7)] for _ in range(3)]  # 3 scales, logits last
outputs = featmatch.as_discriminator_output(pix2pixhd_style, "pix2pixhd")
print("pix2pixHD-style output as", len(outputs), "DiscriminatorOutputs with features", list(outputs[0].features))
