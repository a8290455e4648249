"""accuracy_by_fraction on a hand-made classifier whose accuracy at every fraction is known."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from featmatch.metrics import (
    EARLY_FRACTIONS,
    accuracy_by_fraction,
    fraction_metric_name,
)
from featmatch.models import EncoderOutput

T, CLASSES = 20, 5


def marked_sequences(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample i holds its label (+1) at step i % T only; labels 1..4 (0 means 'saw nothing')."""
    x = torch.zeros(n, 1, T)
    y = torch.arange(n) % (CLASSES - 1) + 1
    x[torch.arange(n), 0, torch.arange(n) % T] = y.float() + 1
    return x, y


class MarkerReader(nn.Module):
    """Correct iff it sees its sample's marked step: predicts the largest value seen - 1, else class 0."""

    def __init__(self, wrap: bool = False) -> None:
        super().__init__()
        self.wrap = wrap

    def forward(self, x: torch.Tensor) -> torch.Tensor | EncoderOutput:
        predicted = (x[:, 0].amax(dim=1) - 1).clamp(min=0).long()  # channel 0 only: ignores the mask
        logits = nn.functional.one_hot(predicted, CLASSES).float()
        return EncoderOutput(x, logits) if self.wrap else logits


@pytest.mark.parametrize("mode", ["mask", "zero"])
@pytest.mark.parametrize("wrap", [False, True])
def test_accuracy_is_the_share_of_samples_whose_marked_step_was_observed(mode: str, wrap: bool) -> None:
    x, y = marked_sequences(60)  # marked steps 0..19, three times each
    model = MarkerReader(wrap).train()
    metrics = accuracy_by_fraction(model, x, y, mode=mode, batch_size=7)  # batches that do not divide N
    # At fraction r the first round(20 r) steps are seen: marked step t < 20 r, a share of exactly r.
    expected = {f"accuracy@{r}": r for r in EARLY_FRACTIONS}
    assert list(metrics) == [*expected, "accuracy_auc"]
    for name, value in expected.items():
        assert metrics[name].dtype == torch.float64 and metrics[name].ndim == 0
        assert float(metrics[name]) == pytest.approx(value, abs=1e-12)
    assert float(metrics["accuracy_auc"]) == pytest.approx(0.55, abs=1e-12)  # mean of 0.1 .. 1.0
    assert model.training  # left in the mode it was in


def test_custom_fractions_and_names() -> None:
    x, y = marked_sequences(20)
    metrics = accuracy_by_fraction(MarkerReader(), x, y, fractions=(0.25, 1))
    assert {k: round(float(v), 6) for k, v in metrics.items()} == {
        "accuracy@0.25": 0.25, "accuracy@1.0": 1.0, "accuracy_auc": 0.625,  # round(0.25 * 20) = 5 steps
    }
    assert fraction_metric_name(0.30000000000000004) == "accuracy@0.3"


def test_errors() -> None:
    x, y = marked_sequences(10)
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\]"):
        accuracy_by_fraction(MarkerReader(), x, y, fractions=(0.5, 0.0))
    with pytest.raises(ValueError, match="distinct names"):
        accuracy_by_fraction(MarkerReader(), x, y, fractions=(0.5, 0.50001))
    with pytest.raises(ValueError, match="at least one fraction"):
        accuracy_by_fraction(MarkerReader(), x, y, fractions=())
    with pytest.raises(ValueError, match=r"y must be an int64 Tensor of shape \(10,\)"):
        accuracy_by_fraction(MarkerReader(), x, y.float())
    with pytest.raises(ValueError, match=r"logits of shape \(N, K\)"):
        accuracy_by_fraction(lambda v: v, x, y)
