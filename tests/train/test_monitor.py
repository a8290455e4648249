"""Tests of the balance monitor: synthetic traces with known episodes, and real tiny GANs."""

from __future__ import annotations

import io
import json
import math
import random
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from featmatch.train.monitor import Alert, BalanceMonitor, MonitorConfig

# ----------------------------------------------------------------------------- traces


def healthy_scalars(rng: random.Random) -> dict[str, float]:
    """One step of a healthy game: D a little better than chance, noisy."""
    real = min(max(rng.gauss(0.6, 0.08), 0.0), 1.0)
    fake = min(max(rng.gauss(0.4, 0.08), 0.0), 1.0)
    return {
        "loss/d": -math.log(real) - math.log(1 - fake) + rng.gauss(0, 0.05),
        "loss/g_adv": -math.log(fake) + rng.gauss(0, 0.05),
        "loss/g_fm": abs(rng.gauss(0.05, 0.02)),
        "d/real_prob": real,
        "d/fake_prob": fake,
        "d/accuracy": min(max(rng.gauss(0.6, 0.08), 0.0), 1.0),
        "grad/g": abs(rng.gauss(1.0, 0.3)),
        "grad/d": abs(rng.gauss(2.0, 0.5)),
        "steps_per_sec": 100.0,
    }


def dominated_scalars(rng: random.Random, k: int) -> dict[str, float]:
    """Step k of an imbalance: D loss -> 0, accuracy -> 1, D(G(z)) -> 0, G's gradient shrinks."""
    fake = 0.4 * math.exp(-k / 15) + 0.002 * rng.random()
    real = 1 - 0.4 * math.exp(-k / 15) - 0.002 * rng.random()
    return {
        "loss/d": -math.log(real) - math.log(1 - fake),
        "loss/g_adv": -math.log(fake),
        "loss/g_fm": abs(rng.gauss(0.05, 0.02)),
        "d/real_prob": real,
        "d/fake_prob": fake,
        "d/accuracy": min(1.0, 0.6 + k / 20) - 0.002 * rng.random(),
        "grad/g": math.exp(-k / 20) * abs(rng.gauss(1.0, 0.1)),
        "grad/d": abs(rng.gauss(0.5, 0.1)),
        "steps_per_sec": 100.0,
    }


def imbalance_trace(phases: list[tuple[str, int]], seed: int = 0) -> list[dict[str, float]]:
    """Concatenates phases ("healthy" | "dominated", length) into one trace of scalars."""
    rng = random.Random(seed)
    trace = []
    for kind, length in phases:
        for k in range(length):
            trace.append(healthy_scalars(rng) if kind == "healthy" else dominated_scalars(rng, k))
    return trace


PHASES = [("healthy", 300), ("dominated", 300), ("healthy", 400), ("dominated", 250), ("healthy", 350)]
ONSETS = [300, 1000]  # first dominated step of each episode
RECOVERIES = [600, 1250]  # first healthy step after each


# ----------------------------------------------------------------------------- config


def test_config_defaults_are_documented_and_valid() -> None:
    cfg = MonitorConfig()
    assert cfg.enabled and not cfg.act
    assert 0 < cfg.fake_prob_low < 0.5 < cfg.d_accuracy_high < 1
    assert MonitorConfig.__doc__ is not None
    for name in cfg.__dataclass_fields__:
        assert f"{name}:" in MonitorConfig.__doc__, f"MonitorConfig.{name} is not documented"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window": 0}, "window must be an integer >= 1, got 0"),
        ({"patience": 2.5}, "patience must be an integer >= 1"),
        ({"warmup": -1}, "warmup must be an integer >= 0"),
        ({"d_accuracy_high": 1.5}, r"d_accuracy_high must be a probability in \[0, 1\], got 1.5"),
        ({"act_fm_factor": 0.5}, "act_fm_factor must be a number >= 1"),
        ({"act_max_multiplier": 0.0}, "act_max_multiplier must be a number >= 1"),
        ({"collapse_ratio": -0.1}, "collapse_ratio must be a number >= 0"),
    ],
)
def test_config_rejects_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MonitorConfig(**kwargs)


def test_update_rejects_bad_input() -> None:
    monitor = BalanceMonitor()
    with pytest.raises(TypeError, match="config must be a MonitorConfig"):
        BalanceMonitor({"window": 3})  # type: ignore[arg-type]
    monitor.update(5, {"loss/d": 1.0})
    with pytest.raises(ValueError, match="step must increase.*step=5 after step=5"):
        monitor.update(5, {"loss/d": 1.0})
    with pytest.raises(TypeError, match=r"scalars\['loss/d'\] must be a number, got str"):
        monitor.update(6, {"loss/d": "high"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="one-element tensor"):
        monitor.update(7, {"loss/d": torch.ones(3)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"same per-sample shape, got \(2,\) and \(3,\)"):
        monitor.update(8, {}, real_batch=torch.randn(4, 2), fake_batch=torch.randn(4, 3))
    # One-element tensors are accepted as numbers.
    assert monitor.update(9, {"loss/d": torch.tensor(1.2)}) == []


# ----------------------------------------------------------------------------- dominance


def run_trace(monitor: BalanceMonitor, trace: list[dict[str, float]], start: int = 0) -> list[tuple[int, Alert]]:
    alerts = []
    for step, scalars in enumerate(trace[start:], start=start):
        alerts += [(step, alert) for alert in monitor.update(step, scalars)]
    return alerts


def test_forced_imbalance_gives_one_alert_per_episode_after_patience() -> None:
    cfg = MonitorConfig()
    monitor = BalanceMonitor(cfg)
    trace = imbalance_trace(PHASES)
    statuses = []
    alerts = []
    for step, scalars in enumerate(trace):
        alerts += monitor.update(step, scalars)
        statuses.append(monitor.status)

    assert [a.kind for a in alerts] == ["d_dominates", "d_dominates"]
    episodes = monitor.episodes
    assert len(episodes) == 2
    for alert, episode, onset, recovery in zip(alerts, episodes, ONSETS, RECOVERIES, strict=True):
        assert alert.step == episode["alert_step"]
        # The condition held for exactly `patience` steps before the alert, and it began
        # after the imbalance did (smoothing delays it by tens of steps).
        assert episode["alert_step"] - episode["start_step"] + 1 == cfg.patience
        assert onset <= episode["start_step"] <= onset + 2 * cfg.window
        # The episode ends once the trace has recovered (smoothing + patience later).
        assert episode["end_step"] is not None
        assert recovery <= episode["end_step"] <= recovery + 2 * cfg.window
        assert statuses[episode["alert_step"]] == "D dominates"
        assert statuses[episode["alert_step"] - 1] == "ok"
        assert statuses[episode["end_step"] + cfg.patience - 1] == "ok"
        # The message carries the numbers, the suggestion names concrete flags.
        assert re.search(r"loss/d 0\.0\d+ \(near zero below 0\.1\)", alert.message)
        assert re.search(r"d/accuracy 0\.9[5-9]\d*", alert.message)
        assert re.search(r"D\(G\(z\)\) 0\.0[0-4]\d*", alert.message)
        assert "loss/g_adv" in alert.message and "(rising)" in alert.message
        assert re.search(r"grad/g [\d.e-]+ = [\d.]+% of its peak", alert.message)
        assert "--fm-weight" in alert.suggestion and "--d-loss hinge" in alert.suggestion
        assert episode["message"] == alert.message and episode["suggestion"] == alert.suggestion
        assert episode["peak"]["loss/d"] < 0.05 and episode["peak"]["d/fake_prob"] < 0.02
    assert statuses[-1] == "ok"


def reference_ema(values: list[float], window: int) -> list[float]:
    alpha = 2.0 / (window + 1)
    out, ema = [], None
    for value in values:
        ema = value if ema is None else (1 - alpha) * ema + alpha * value
        out.append(ema)
    return out


def test_start_step_matches_reference_ema_of_primary_signals() -> None:
    # Noise-free step change with the three primary signals only: the condition holds from
    # the first step at which two of the smoothed signals are past their thresholds.
    cfg = MonitorConfig(window=20, patience=10, warmup=0)
    n_healthy, n_bad = 100, 200
    loss = [1.3] * n_healthy + [0.01] * n_bad
    acc = [0.6] * n_healthy + [1.0] * n_bad
    fake = [0.4] * n_healthy + [0.003] * n_bad
    ema_loss, ema_acc, ema_fake = (reference_ema(v, cfg.window) for v in (loss, acc, fake))
    expected_start = next(
        t
        for t in range(len(loss))
        if (ema_loss[t] < cfg.d_loss_low) + (ema_acc[t] > cfg.d_accuracy_high) + (ema_fake[t] < cfg.fake_prob_low) >= 2
    )
    monitor = BalanceMonitor(cfg)
    trace = [{"loss/d": a, "d/accuracy": b, "d/fake_prob": c} for a, b, c in zip(loss, acc, fake, strict=True)]
    alerts = run_trace(monitor, trace)
    assert [step for step, _ in alerts] == [expected_start + cfg.patience - 1]
    assert monitor.episodes[0]["start_step"] == expected_start
    assert monitor.episodes[0]["end_step"] is None  # never recovered
    assert monitor.status == "D dominates"


def test_healthy_noisy_trace_raises_no_alert_over_2000_steps() -> None:
    monitor = BalanceMonitor()
    rng = random.Random(1)
    gen = torch.Generator().manual_seed(1)
    alerts = []
    for step in range(2000):
        scalars = healthy_scalars(rng)
        # A generator whose gradient fades slowly as training converges is not a failure.
        scalars["grad/g"] *= 1.0 - 0.7 * step / 2000
        real = torch.randn(32, 2, generator=gen) * 1.4
        fake = torch.randn(32, 2, generator=gen) * 1.2
        alerts += monitor.update(step, scalars, real_batch=real, fake_batch=fake)
        assert monitor.status == "ok"
    assert alerts == []
    assert monitor.episodes == []
    assert monitor.fm_weight_multiplier == 1.0


def test_disabled_monitor_does_nothing() -> None:
    monitor = BalanceMonitor(MonitorConfig(enabled=False))
    assert run_trace(monitor, imbalance_trace(PHASES[:2])) == []
    assert monitor.update(10_000, {"loss/d": float("nan")}) == []
    assert monitor.status == "off" and monitor.episodes == []


# ----------------------------------------------------------------------------- NaN / Inf


def test_non_finite_is_flagged_immediately_once_per_episode() -> None:
    monitor = BalanceMonitor()
    assert monitor.update(0, {"loss/d": 1.3, "grad/g": 1.0}) == []
    alerts = monitor.update(1, {"loss/d": float("nan"), "grad/g": 1.0})
    assert [a.kind for a in alerts] == ["non_finite"]
    assert alerts[0].step == 1 and "loss/d=nan" in alerts[0].message
    assert "--lr-d" in alerts[0].suggestion
    assert monitor.status == "NaN/Inf"
    assert monitor.update(2, {"loss/d": float("nan"), "grad/g": float("inf")}) == []  # same episode
    assert monitor.update(3, {"loss/d": 1.3, "grad/g": 1.0}) == []  # recovered
    assert monitor.status == "ok"
    alerts = monitor.update(4, {"loss/d": 1.3, "grad/g": float("-inf")})
    assert [a.kind for a in alerts] == ["non_finite"] and "grad/g=-inf" in alerts[0].message
    episodes = monitor.episodes
    assert [(e["start_step"], e["end_step"]) for e in episodes] == [(1, 3), (4, None)]
    assert episodes[0]["peak"]["steps"] == 2
    # Non-finite values never enter the smoothed statistics.
    assert all(math.isfinite(v) for v in monitor.state_dict()["ema"].values())


def test_non_finite_batch_is_flagged() -> None:
    monitor = BalanceMonitor()
    fake = torch.randn(8, 2)
    fake[3, 1] = float("nan")
    alerts = monitor.update(0, {"loss/d": 1.0}, real_batch=torch.randn(8, 2), fake_batch=fake)
    assert [a.kind for a in alerts] == ["non_finite"] and "fake_batch has NaN/Inf" in alerts[0].message


# ----------------------------------------------------------------------------- collapse


def test_collapse_from_batches_of_one_point() -> None:
    cfg = MonitorConfig(warmup=0)
    monitor = BalanceMonitor(cfg)
    gen = torch.Generator().manual_seed(0)
    alerts = []
    for step in range(200):
        real = torch.randn(64, 2, generator=gen) * 1.5
        fake = torch.full((64, 2), 0.7)  # every generated sample is the same point
        alerts += monitor.update(step, {"loss/d": 1.2}, real_batch=real, fake_batch=fake)
    assert [(a.kind, a.step) for a in alerts] == [("collapse", cfg.patience - 1)]
    assert "spread" in alerts[0].message and "is 0 times the real batch's" in alerts[0].message
    assert monitor.status == "collapse"
    # Recovery: the generator spreads out again.
    for step in range(200, 500):
        real = torch.randn(64, 2, generator=gen) * 1.5
        fake = torch.randn(64, 2, generator=gen) * 1.4
        assert monitor.update(step, {"loss/d": 1.2}, real_batch=real, fake_batch=fake) == []
    episode = monitor.episodes[0]
    assert episode["kind"] == "collapse" and episode["start_step"] == 0 and episode["peak"]["spread_ratio"] == 0.0
    assert 200 <= episode["end_step"] <= 250
    assert monitor.status == "ok"


def test_collapse_ratio_against_scaled_copy_and_sparse_batches() -> None:
    # A generated batch that is the real batch scaled by 0.05 has exactly 0.05 of its spread;
    # batches every 10 steps: patience and warm-up still count steps.
    cfg = MonitorConfig(warmup=100, patience=50)
    monitor = BalanceMonitor(cfg)
    gen = torch.Generator().manual_seed(0)
    alerts = []
    for step in range(0, 300, 10):
        real = torch.randn(32, 3, 4, 4, generator=gen)
        alerts += monitor.update(step, {}, real_batch=real, fake_batch=0.05 * real)
    assert [(a.kind, a.step) for a in alerts] == [("collapse", 100)]  # held since 0, warm-up until 100
    assert "is 0.05 times the real batch's" in alerts[0].message
    assert monitor.episodes[0]["peak"]["spread_ratio"] == pytest.approx(0.05, rel=1e-5)


def test_collapse_not_judged_without_both_batches_or_with_one_sample() -> None:
    monitor = BalanceMonitor(MonitorConfig(warmup=0, patience=1))
    assert monitor.update(0, {}, fake_batch=torch.zeros(8, 2)) == []
    assert monitor.update(1, {}, real_batch=torch.randn(1, 2), fake_batch=torch.zeros(1, 2)) == []
    assert monitor.update(2, {}, real_batch=torch.ones(8, 2), fake_batch=torch.zeros(8, 2)) == []  # no real spread
    assert monitor.status == "ok"


# ----------------------------------------------------------------------------- act mode + resume


def test_act_multiplier_grows_while_dominating_and_returns_to_one() -> None:
    cfg = MonitorConfig(act=True, act_fm_factor=2.0, act_max_multiplier=8.0, window=20, patience=10, warmup=0)
    monitor = BalanceMonitor(cfg)
    trace = imbalance_trace([("healthy", 100), ("dominated", 300), ("healthy", 400)])
    multipliers, alert_step = [], None
    for step, scalars in enumerate(trace):
        if monitor.update(step, scalars):
            alert_step = step
        multipliers.append(monitor.fm_weight_multiplier)
    assert alert_step is not None
    assert all(m == 1.0 for m in multipliers[:alert_step])
    # Grows by act_fm_factor every `window` steps from the alert on, up to the cap.
    assert multipliers[alert_step] == pytest.approx(2.0 ** (1 / cfg.window))
    assert multipliers[alert_step + cfg.window - 1] == pytest.approx(2.0)
    assert max(multipliers) == 8.0
    growing = multipliers[alert_step : alert_step + 3 * cfg.window]
    assert all(b >= a for a, b in zip(growing, growing[1:]))
    assert "acting: the feature-matching weight grows x2" in monitor.episodes[0]["message"]
    end = monitor.episodes[0]["end_step"]
    assert end is not None and multipliers[-1] == 1.0
    shrinking = multipliers[end + cfg.patience - 1 :]
    assert all(b <= a for a, b in zip(shrinking, shrinking[1:]))


def test_act_off_keeps_multiplier_at_one() -> None:
    monitor = BalanceMonitor(MonitorConfig(warmup=0))
    run_trace(monitor, imbalance_trace([("healthy", 100), ("dominated", 300)]))
    assert monitor.status == "D dominates" and monitor.fm_weight_multiplier == 1.0


def test_state_dict_round_trip_gives_identical_behaviour() -> None:
    cfg = MonitorConfig(act=True, window=20, patience=10, warmup=0)
    trace = imbalance_trace(PHASES, seed=3)
    gen = torch.Generator().manual_seed(0)
    # Collapsed generated batches between steps 200 and 500.
    batches = [
        (torch.randn(16, 2, generator=gen), torch.randn(16, 2, generator=gen) * (0.01 if 200 < t < 500 else 1.0))
        for t in range(len(trace))
    ]
    cut = 450  # mid-episode: dominance and collapse both ongoing, multiplier above one

    def feed(monitor: BalanceMonitor, start: int, stop: int) -> list:
        out = []
        for t in range(start, stop):
            real, fake = batches[t]
            alerts = monitor.update(t, trace[t], real_batch=real, fake_batch=fake)
            out.append((alerts, monitor.status, monitor.fm_weight_multiplier))
        return out

    a = BalanceMonitor(cfg)
    feed(a, 0, cut)
    assert a.status == "D dominates" and a.fm_weight_multiplier > 1.0
    state = a.state_dict()
    json.dumps(state)  # plain Python types only
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    b = BalanceMonitor(cfg)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    assert b.state_dict() == state
    assert feed(a, cut, len(trace)) == feed(b, cut, len(trace))
    assert a.episodes == b.episodes and len(a.episodes) >= 3
    with pytest.raises(ValueError, match=r"state is missing \['ema'"):
        BalanceMonitor().load_state_dict({"last_step": 3})


# ----------------------------------------------------------------------------- real GANs


def _ring8(n: int, gen: torch.Generator) -> torch.Tensor:
    angle = torch.randint(0, 8, (n,), generator=gen).float() * (2 * math.pi / 8)
    centres = torch.stack([2 * torch.cos(angle), 2 * torch.sin(angle)], dim=1)  # (n, 2)
    return centres + 0.05 * torch.randn(n, 2, generator=gen)


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, n_out)
    )


def _train_tiny_gan(*, strong_d: bool, steps: int, seed: int) -> BalanceMonitor:
    """A minimal GAN on ring-8 data, logging the loop's scalars into a default monitor.

    strong_d: a wider discriminator, 10x the generator's learning rate, 3 D steps per G
    step and the saturating generator loss log(1 - D(G(z))) (minimised: -softplus(logit)),
    whose gradient vanishes once D is confident. Otherwise: equal sizes and learning rates,
    one D step and the non-saturating loss -log D(G(z)).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    g_net = _mlp(2, 32, 2)
    d_net = _mlp(2, 64 if strong_d else 32, 1)
    lr_g, lr_d, d_steps = (1e-4, 2e-3, 3) if strong_d else (1e-3, 1e-3, 1)
    opt_g = torch.optim.Adam(g_net.parameters(), lr=lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d_net.parameters(), lr=lr_d, betas=(0.5, 0.999))
    monitor = BalanceMonitor()
    batch = 64
    for step in range(steps):
        for _ in range(d_steps):
            real = _ring8(batch, gen)
            fake = g_net(torch.randn(batch, 2, generator=gen)).detach()
            real_logits, fake_logits = d_net(real), d_net(fake)
            loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        fake = g_net(torch.randn(batch, 2, generator=gen))
        logits = d_net(fake)
        loss_g = -F.softplus(logits).mean() if strong_d else F.softplus(-logits).mean()
        opt_g.zero_grad()
        loss_g.backward()
        grad_g = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in g_net.parameters()))
        opt_g.step()
        scalars = {
            "loss/d": loss_d.item(),
            "loss/g_adv": loss_g.item(),
            "d/real_prob": torch.sigmoid(real_logits).mean().item(),
            "d/fake_prob": torch.sigmoid(fake_logits).mean().item(),
            "d/accuracy": 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()).item(),
            "grad/g": grad_g,
        }
        monitor.update(step, scalars, real_batch=real, fake_batch=fake.detach())
    return monitor


def test_real_gan_with_strong_discriminator_is_flagged() -> None:
    monitor = _train_tiny_gan(strong_d=True, steps=180, seed=0)
    dominance = [e for e in monitor.episodes if e["kind"] == "d_dominates"]
    assert len(dominance) == 1
    assert dominance[0]["end_step"] is None  # the saturating generator never recovers
    assert monitor.status == "D dominates"
    assert "D(G(z))" in dominance[0]["message"]


def test_real_balanced_gan_is_not_flagged() -> None:
    monitor = _train_tiny_gan(strong_d=False, steps=400, seed=0)
    assert monitor.episodes == []
    assert monitor.status == "ok"


def test_sparse_updates_every_50_steps_count_steps_not_calls() -> None:
    # The trainer updates the monitor only on logging steps (every 50 by default).
    cfg = MonitorConfig()
    monitor = BalanceMonitor(cfg)
    trace = imbalance_trace(PHASES)
    alerts = []
    for step in range(0, len(trace), 50):
        alerts += monitor.update(step, trace[step])
    assert [a.kind for a in alerts] == ["d_dominates", "d_dominates"]
    for episode, onset, recovery in zip(monitor.episodes, ONSETS, RECOVERIES, strict=True):
        assert episode["alert_step"] - episode["start_step"] == 50  # two consecutive logging steps
        assert onset < episode["start_step"] <= onset + 150
        assert episode["end_step"] == recovery


def test_negative_d_loss_of_wgan_is_not_read_as_near_zero() -> None:
    # A WGAN critic's loss is negative and unbounded: once seen, loss/d stops counting, so a
    # confident critic (accuracy near one alone) is not flagged; with D(G(z)) near zero too it is.
    cfg = MonitorConfig(window=5, patience=5, warmup=0)
    monitor = BalanceMonitor(cfg)
    for step in range(100):
        assert monitor.update(step, {"loss/d": -3.0 - step, "d/accuracy": 1.0, "d/fake_prob": 0.3}) == []
    alerts = monitor.update(100, {"loss/d": -3.0, "d/accuracy": 1.0, "d/fake_prob": 0.3})
    for step in range(101, 120):
        alerts += monitor.update(step, {"loss/d": 0.01, "d/accuracy": 1.0, "d/fake_prob": 0.001})
    assert [a.kind for a in alerts] == ["d_dominates"]
    assert "loss/d" not in alerts[0].message  # the signals that hold, and only they, are quoted
    # Without the negative values, the same loss and accuracy would be flagged.
    other = BalanceMonitor(cfg)
    flagged = run_trace(other, [{"loss/d": 0.01, "d/accuracy": 1.0, "d/fake_prob": 0.3}] * 20)
    assert [(step, a.kind) for step, a in flagged] == [(cfg.patience - 1, "d_dominates")]


def test_a_task_replaces_the_suggestion_of_one_episode_kind() -> None:
    """Semi-supervised training: D dominating is expected, so the task's suggestion replaces the general one."""
    from featmatch.train.config import build_config
    from featmatch.train.trainer import Trainer

    trainer = Trainer(build_config({"task": "semi", "data.name": "digits", "task_options.labels": 2, "steps": 1,
                                    "model.options": {"widths": [8], "generator_widths": [8]}}))
    general = BalanceMonitor()
    alerts = []
    for monitor in (trainer.monitor, general):
        for step, scalars in enumerate(imbalance_trace(PHASES)):
            alerts += [a for a in monitor.update(step, scalars) if a.kind == "d_dominates"][:1]
    semi_alert, general_alert = alerts[0], alerts[2]
    assert semi_alert.suggestion.startswith("expected in semi-supervised training") and "test_error" in semi_alert.suggestion
    assert general_alert.suggestion.startswith("the discriminator wins outright")
    assert trainer.monitor.episodes[0]["suggestion"] == semi_alert.suggestion  # what report.md lists
    # Only the kinds the task names change; an unknown kind is an error that names it.
    with pytest.raises(ValueError, match=r"unknown episode kind\(s\) \['dominates'\]"):
        BalanceMonitor(suggestions={"dominates": "x"})
