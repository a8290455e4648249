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


# --- early decisions: the stopping rule, against plain-Python reference computations ------------

from featmatch.metrics.early import (  # noqa: E402
    choose_threshold,
    decision_metrics,
    harmonic_mean,
    stop_fractions,
    stopping_point,
)


def _reference_rule(probs: list, y: list, fractions: list, threshold: float) -> tuple[float, float, float]:
    """Accuracy at the stop, earliness and harmonic mean, one sequence at a time with Python lists."""
    right, observed = [], []
    for rows, label in zip(probs, y, strict=True):
        stop = len(rows) - 1
        for j, row in enumerate(rows):
            if max(row) >= threshold:
                stop = j
                break
        right.append(max(range(len(rows[stop])), key=lambda k, r=rows[stop]: r[k]) == label)
        observed.append(fractions[stop])
    accuracy, earliness = sum(right) / len(right), sum(observed) / len(observed)
    late = 1 - earliness
    return accuracy, earliness, (2 * accuracy * late / (accuracy + late) if accuracy + late else 0.0)


def _random_case(seed: int, n: int = 30, r: int = 6, k: int = 4) -> tuple[torch.Tensor, torch.Tensor, tuple]:
    gen = torch.Generator().manual_seed(seed)
    # Confidence grows with the fraction on average, as a real early classifier's does.
    logits = torch.randn(n, r, k, generator=gen) * torch.linspace(0.5, 4, r).view(1, r, 1)
    return logits.softmax(-1), torch.randint(0, k, (n,), generator=gen), stop_fractions(r)


def test_stop_fractions_are_even_and_end_at_one() -> None:
    assert stop_fractions(20)[:3] == (0.05, 0.1, 0.15) and stop_fractions(20)[-1] == 1.0
    assert stop_fractions(1) == (1.0,)
    with pytest.raises(ValueError, match="points must be an int >= 1, got 0"):
        stop_fractions(0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("threshold", [0.0, 0.4, 0.7, 0.95, 1.5])
def test_decision_metrics_equal_the_reference(seed: int, threshold: float) -> None:
    probs, y, fractions = _random_case(seed)
    got = decision_metrics(probs, y, fractions, threshold)
    accuracy, earliness, hm = _reference_rule(probs.tolist(), y.tolist(), list(fractions), threshold)
    assert float(got["accuracy_at_stop"]) == pytest.approx(accuracy, abs=1e-12)
    assert float(got["earliness"]) == pytest.approx(earliness, abs=1e-12)
    assert float(got["harmonic_mean"]) == pytest.approx(hm, abs=1e-12)
    assert all(v.dtype == torch.float64 for v in got.values())


def test_stopping_point_stops_at_the_first_confident_column_or_the_last() -> None:
    probs = torch.tensor([[[0.5, 0.5], [0.8, 0.2], [0.9, 0.1]],  # first reaches 0.8 at column 1
                          [[0.4, 0.6], [0.45, 0.55], [0.5, 0.5]]])  # never: the last column
    index, predicted = stopping_point(probs, 0.8)
    assert index.tolist() == [1, 2] and predicted.tolist() == [0, 0]
    assert stopping_point(probs, 0.0)[0].tolist() == [0, 0]  # threshold 0: stop at once


def test_harmonic_mean_values() -> None:
    assert float(harmonic_mean(1.0, 0.0)) == 1.0
    assert float(harmonic_mean(0.0, 1.0)) == 0.0  # both zero: 0, not NaN
    assert float(harmonic_mean(0.8, 0.4)) == pytest.approx(2 * 0.8 * 0.6 / 1.4)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_choose_threshold_maximises_the_harmonic_mean(seed: int) -> None:
    probs, y, fractions = _random_case(seed)
    chosen = choose_threshold(probs, y, fractions)
    best = _reference_rule(probs.tolist(), y.tolist(), list(fractions), chosen)[2]
    # No threshold does better: every confidence in the data, and a fine grid in between.
    candidates = probs.max(-1).values.flatten().tolist() + torch.linspace(0, 1, 401).tolist()
    scores = [_reference_rule(probs.tolist(), y.tolist(), list(fractions), t)[2] for t in candidates]
    assert best == pytest.approx(max(scores), abs=1e-12)
    # ... and it is the highest threshold that reaches that harmonic mean (the cautious choice).
    reaching = [t for t, s in zip(candidates, scores, strict=True) if s >= max(scores) - 1e-12]
    assert chosen == pytest.approx(max(t for t in reaching if t <= max(probs.max(-1).values.flatten().tolist())))


def test_stopping_rule_errors_name_the_argument() -> None:
    probs, y, fractions = _random_case(0)
    with pytest.raises(ValueError, match=r"probabilities must be a Tensor of shape \(N, R, K\).*got \(30, 6\)"):
        stopping_point(probs[..., 0], 0.5)
    with pytest.raises(ValueError, match=r"one fraction per column R of probabilities: got 5 fractions for R = 6"):
        decision_metrics(probs, y, fractions[:5], 0.5)
    with pytest.raises(ValueError, match=r"y must be an int64 Tensor of shape \(30,\)"):
        choose_threshold(probs, y.float(), fractions)
    with pytest.raises(ValueError, match="fractions must increase strictly"):
        decision_metrics(probs, y, tuple(reversed(fractions)), 0.5)
