"""Balance monitor: spots a discriminator that wins outright, collapse and NaN/Inf.

Why one module over 600 lines: :class:`BalanceMonitor` is one state machine (episodes with
hysteresis over windows of the step's scalars, its resumable state, the optional acting on them)
and the advice it gives (:func:`run_suggestions`), which must agree with it.

The failure featmatch exists to fix looks the same in every run's scalars: the
discriminator's loss falls towards zero, its accuracy towards one, D(G(z)) towards
zero, the generator's adversarial loss climbs and its gradient vanishes. The
:class:`BalanceMonitor` reads the scalars the training loop logs at each step
(smoothed with an exponential moving average), combines these signals into
*episodes* with hysteresis (a condition must hold for ``patience`` steps before an
episode starts, and must be clearly gone for ``patience`` steps before it ends), and
returns one :class:`Alert` when an episode starts. It never prints: the loop logs
the alerts and shows :attr:`BalanceMonitor.status` in its progress bar.

Example:
    >>> monitor = BalanceMonitor(MonitorConfig(patience=5, window=2, warmup=0))
    >>> alerts = []
    >>> for step in range(20):
    ...     alerts += monitor.update(step, {"loss/d": 0.01, "d/accuracy": 1.0, "d/fake_prob": 0.001})
    >>> [a.kind for a in alerts], monitor.status
    (['d_dominates'], 'D dominates')
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

# MonitorConfig is declared with the rest of the configuration; importable here as before.
from featmatch.train.config.options import setting
from featmatch.train.config.schema import MonitorConfig, TrainConfig

__all__ = ["EPISODE_KINDS", "Alert", "BalanceMonitor", "MonitorConfig", "either", "run_suggestions"]

# Kinds of episode, in the order of priority used by ``BalanceMonitor.status``.
_KINDS = ("non_finite", "d_dominates", "collapse")
_STATUS = {"non_finite": "NaN/Inf", "d_dominates": "D dominates", "collapse": "collapse"}

# Recovery thresholds sit this factor further from the failure than the start
# thresholds (hysteresis in value, on top of the hysteresis in time given by patience),
# so that a statistic hovering at a threshold does not start and end episodes repeatedly.
_RECOVERY_FACTOR = 2.0

# The generator's adversarial loss counts as "rising" when its short-term average
# exceeds its long-term average (over this many windows) by this relative margin.
_SLOW_WINDOWS = 4
_RISING_MARGIN = 0.02

# What to change, by config key; the flag comes from the CLI's table (featmatch.train.config.options).
# The advice of a monitor used on its own (no run config to fit it to); a training run gets
# run_suggestions(config) instead, which names only changes the run has not made.
_SUGGESTIONS = {
    "d_dominates": (
        "the discriminator wins outright and the generator gets little signal: use feature matching or "
        f"raise its weight ({setting('objective.kind')}; {setting('objective.fm_weight')}), lower the "
        f"discriminator's learning rate ({setting('optim.lr_d')}) or its steps per generator step "
        f"({setting('optim.d_steps')}), or switch the discriminator loss to hinge "
        f"({setting('objective.d_loss', 'hinge')})"
    ),
    "collapse": (
        "generated samples are far less spread than real ones (mode collapse): match batch statistics "
        f"of the discriminator's features ({setting('objective.fm_preset', 'salimans2016')}, or "
        f"{setting('objective.fm_statistic', 'mean_std')}), or lower the generator's learning "
        f"rate ({setting('optim.lr_g')})"
    ),
    "non_finite": (
        f"a logged value is NaN or infinite: lower the learning rates ({setting('optim.lr_g')}; "
        f"{setting('optim.lr_d')}), use fp32 or bf16 instead of fp16 ({setting('optim.precision')}), "
        "or resume from the last good checkpoint (featmatch train --resume RUN_DIR)"
    ),
}
# The suggestion of an episode kind that does not matter for the training (a task's None).
_NOTHING_TO_CHANGE = "nothing to change: this does not affect this run's training (its task says so)"
#: The kinds of episode, for a task's ``monitor_suggestions``.
EPISODE_KINDS: tuple[str, ...] = tuple(_SUGGESTIONS)

# Feature-matching statistics that compare batches as wholes (the others: "paired").
_BATCH_STATISTICS = ("mean", "mean_std", "rff", "mmd")


def _now(key: str, value: Any) -> str:
    """A setting and its current value, for advice that says "raise" or "lower" it."""
    return f"{setting(key)}, now {value:g}" if isinstance(value, float) else f"{setting(key)}, now {value}"


def either(moves: list[str]) -> str:
    """Alternatives as one phrase: ``"a, b, or c"``.

    Example:
        >>> either(["raise x", "lower y"])
        'raise x, or lower y'
    """
    return moves[0] if len(moves) == 1 else ", ".join(moves[:-1]) + ", or " + moves[-1]


def run_suggestions(config: TrainConfig) -> dict[str, str]:
    """The monitor's advice for each episode kind, fitted to a run's config.

    It names only changes the run has not made: no "add feature matching" to a run that uses
    it, no "feature matching only" to an ``fm`` run, no "hinge" to a hinge run, no batch
    statistics to a run that matches them; "raise" and "lower" quote the current value.
    Tasks replace the kinds whose meaning differs for them (``Task.monitor_suggestions``).

    Example:
        >>> from featmatch.train.config import build_config
        >>> text = run_suggestions(build_config({"objective.kind": "fm"}))["d_dominates"]
        >>> "objective.kind: fm" in text, "feature matching still gives the generator a gradient" in text
        (False, True)
    """
    obj, opt = config.objective, config.optim
    uses_fm, uses_adv = "fm" in obj.kind, "adv" in obj.kind
    statistic = config.fm_loss_options().get("statistic", "paired") if uses_fm else None

    if uses_adv:
        intro = "the discriminator wins outright, so the adversarial term gives the generator little signal"
    else:
        intro = (
            "the discriminator wins outright; feature matching still gives the generator a gradient, so act "
            "only if the run's samples or metrics stop improving"
        )
    moves = []
    if uses_fm:
        moves.append(f"raise the feature-matching weight ({_now('objective.fm_weight', obj.fm_weight)})")
        if not config.monitor.act:
            moves.append(f"let the monitor raise it while this lasts ({setting('monitor.act')})")
    else:
        moves.append(f"add feature matching ({setting('objective.kind', 'adv+fm')})")
    if uses_adv:
        moves.append(f"train with feature matching only ({setting('objective.kind', 'fm')})")
    moves.append(f"lower the discriminator's learning rate ({_now('optim.lr_d', opt.lr_d)})")
    if opt.d_steps > 1:
        moves.append(f"lower its updates per generator update ({_now('optim.d_steps', opt.d_steps)})")
    if obj.d_loss != "hinge":
        moves.append(f"switch the discriminator loss to hinge ({setting('objective.d_loss', 'hinge')})")
    dominates = f"{intro}: {either(moves)}"

    moves = []
    if not uses_fm:
        preset = obj.fm_preset
        batch = preset is not None and config.fm_loss_options().get("statistic") in _BATCH_STATISTICS
        how = "" if batch else f" with {setting('objective.fm_preset', 'salimans2016')}"
        moves.append(f"add feature matching on batch statistics ({setting('objective.kind', 'adv+fm')}{how})")
    elif statistic == "paired":
        moves.append(
            f"match batch statistics instead of paired features ({setting('objective.fm_statistic', 'mean_std')})"
        )
    elif statistic == "mean":
        moves.append(
            f"match the features' spread too ({setting('objective.fm_statistic', 'mean_std')}) or their whole "
            f"distribution ({setting('objective.fm_statistic', 'rff')})"
        )
    elif statistic == "mean_std":
        moves.append(f"match the features' whole distribution ({setting('objective.fm_statistic', 'rff')})")
    else:
        moves.append(f"raise the feature-matching weight ({_now('objective.fm_weight', obj.fm_weight)})")
    moves.append(f"lower the generator's learning rate ({_now('optim.lr_g', opt.lr_g)})")
    collapse = f"generated samples are far less spread than real ones (mode collapse): {either(moves)}"

    moves = [f"lower the learning rates ({_now('optim.lr_g', opt.lr_g)}; {_now('optim.lr_d', opt.lr_d)})"]
    if opt.precision == "fp16":
        moves.append(f"train in bf16 or fp32 instead of fp16 ({setting('optim.precision', 'bf16')})")
    if opt.on_nonfinite != "rollback":
        moves.append(
            f"let the run roll back to its last finite checkpoint ({setting('optim.on_nonfinite', 'rollback')})"
        )
    moves.append("resume from the last good checkpoint (featmatch train --resume RUN_DIR)")
    non_finite = f"a logged value is NaN or infinite: {either(moves)}"
    return {"d_dominates": dominates, "collapse": collapse, "non_finite": non_finite}


@dataclass
class Alert:
    """The start of an episode, for the loop to log.

    Attributes:
        kind: ``"d_dominates"``, ``"collapse"`` or ``"non_finite"``.
        step: The step at which the episode was flagged.
        message: What was seen, with the numbers.
        suggestion: A concrete suggestion of what to change.
        quiet: The episode does not matter for this training (its task says so): the loop
            logs it as information, not as a warning.

    Example:
        >>> Alert("collapse", 10, "spread ratio 0.01", "use feature matching").kind
        'collapse'
    """

    kind: str
    step: int
    message: str
    suggestion: str
    quiet: bool = False


class BalanceMonitor:
    """Tracks the training scalars and flags imbalance, collapse and NaN/Inf episodes.

    Call :meth:`update` once per step (or every k steps: smoothing and patience
    count steps, not calls) with the step's scalars, under the loop's logging names:
    ``loss/d``, ``loss/g_adv``, ``loss/g_fm``, ``d/real_prob``, ``d/fake_prob``,
    ``d/accuracy``, ``grad/g``, ``grad/d``. Missing keys are fine: a signal whose
    scalar never arrives is simply not used. Other keys are only checked for NaN/Inf.

    *d_dominates* combines the primary signals (smoothed ``loss/d`` below
    ``d_loss_low``, ``d/accuracy`` above ``d_accuracy_high``, ``d/fake_prob`` below
    ``fake_prob_low``; the loss signal is dropped for good once ``loss/d`` goes negative,
    as a WGAN critic's loss does) with the supporting ones (``grad/g`` below ``grad_g_low`` times
    its largest smoothed value, ``loss/g_adv`` rising). The condition holds when at
    least two primary signals hold (or the only one measured), or one primary and one
    supporting signal. *collapse* needs ``real_batch`` and ``fake_batch``: the mean
    per-feature standard deviation of the generated batch over that of the real batch,
    smoothed, below ``collapse_ratio``. *non_finite* starts at once when any scalar or
    batch holds NaN/Inf and ends at the first step where all are finite.

    Args:
        config: Thresholds; defaults to ``MonitorConfig()``.
        suggestions: The suggestion logged with an episode, by kind (``"d_dominates"``,
            ``"collapse"``, ``"non_finite"``), replacing the general advice (a run passes
            its task's ``monitor_suggestions()``, fitted to its config); ``None`` for a kind
            that does not matter for this training: its episodes are recorded as usual, with
            nothing to change, and their alerts are ``quiet``.

    Example:
        >>> monitor = BalanceMonitor()
        >>> monitor.update(0, {"loss/d": float("nan")})[0].kind
        'non_finite'
        >>> monitor.status
        'NaN/Inf'
    """

    def __init__(
        self, config: MonitorConfig | None = None, *, suggestions: Mapping[str, str | None] | None = None
    ) -> None:
        if config is None:
            config = MonitorConfig()
        if not isinstance(config, MonitorConfig):
            raise TypeError(
                f"config must be a MonitorConfig or None, got {type(config).__name__}; "
                "hint: BalanceMonitor(MonitorConfig(patience=100))"
            )
        unknown = sorted(set(suggestions or {}) - set(_SUGGESTIONS))
        if unknown:
            raise ValueError(
                f"suggestions: unknown episode kind(s) {unknown}; expected some of {sorted(_SUGGESTIONS)}."
            )
        given = dict(suggestions or {})
        self._suggestions = {**_SUGGESTIONS, **{k: v for k, v in given.items() if v is not None}}
        # Kinds that do not matter for this training: recorded as usual (the numbers stay
        # comparable across runs), flagged as quiet alerts with nothing to change.
        self._quiet = {k for k, v in given.items() if v is None}
        for kind in self._quiet:
            self._suggestions[kind] = _NOTHING_TO_CHANGE
        self.config = config
        self._last_step: int | None = None
        self._ema: dict[str, float] = {}  # key -> smoothed value (window)
        self._ema_slow: dict[str, float] = {}  # key -> smoothed value (window * _SLOW_WINDOWS)
        self._seen_steps: dict[str, int] = {}  # key -> steps covered by finite values
        self._grad_g_ref: float = 0.0  # largest smoothed grad/g so far
        # A negative loss/d means a loss unbounded below (WGAN): "near zero" means nothing there.
        self._loss_d_signed = False
        self._spread_ratio: float | None = None  # smoothed fake/real spread
        self._spread_step: int | None = None  # step of the last spread measurement
        self._multiplier: float = 1.0
        self._episodes: list[dict[str, Any]] = []
        # Per kind: index of the ongoing episode, step since which the start condition
        # holds, step since which the recovery condition holds.
        self._state: dict[str, dict[str, int | None]] = {
            kind: {"active": None, "cond_since": None, "clear_since": None} for kind in _KINDS
        }

    # ------------------------------------------------------------------ public API

    def update(
        self,
        step: int,
        scalars: dict[str, float],
        *,
        real_batch: Tensor | None = None,
        fake_batch: Tensor | None = None,
    ) -> list[Alert]:
        """Reads one step's scalars (and optionally a real and a generated batch).

        Args:
            step: The training step; must increase from call to call.
            scalars: Logged values by name (Python numbers or one-element tensors).
            real_batch: A batch of real samples, ``(N, ...)``, to measure collapse.
            fake_batch: A batch of generated samples with the same per-sample shape.

        Returns:
            The alerts of the episodes that start at this step (one per episode).

        Raises:
            ValueError: If ``step`` does not increase, or the batches' shapes disagree.
            TypeError: If ``scalars`` is not a mapping of numbers.

        Example:
            >>> BalanceMonitor().update(0, {"loss/d": 1.38, "d/accuracy": 0.55})
            []
        """
        if not self.config.enabled:
            return []
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step must be an int, got {type(step).__name__} ({step!r})")
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(
                f"step must increase from call to call: got step={step} after step={self._last_step}; "
                "hint: call update() once per training step, or load_state_dict() before resuming"
            )
        values = self._read_scalars(scalars)
        dt = 1 if self._last_step is None else step - self._last_step
        self._last_step = step

        alerts: list[Alert] = []
        bad = sorted(k for k, v in values.items() if not math.isfinite(v))
        for name, batch in (("real_batch", real_batch), ("fake_batch", fake_batch)):
            if batch is not None and not bool(torch.isfinite(batch.detach()).all()):
                bad.append(name)
        alerts += self._update_non_finite(step, bad, values)

        for key, value in values.items():
            if math.isfinite(value):
                self._smooth(key, value, dt)
        if -math.inf < values.get("loss/d", 0.0) < 0.0:
            self._loss_d_signed = True
        if "grad/g" in self._ema:
            self._grad_g_ref = max(self._grad_g_ref, self._ema["grad/g"])

        alerts += self._update_dominance(step)
        alerts += self._update_collapse(step, real_batch, fake_batch)
        self._update_multiplier(dt)
        return alerts

    @property
    def status(self) -> str:
        """Short text for a progress bar: ``"ok"``, ``"NaN/Inf"``, ``"D dominates"``,
        ``"collapse"`` (the most serious ongoing episode) or ``"off"``."""
        if not self.config.enabled:
            return "off"
        for kind in _KINDS:
            if self._state[kind]["active"] is not None:
                return _STATUS[kind]
        return "ok"

    @property
    def episodes(self) -> list[dict[str, Any]]:
        """All episodes so far, in order of start (a copy).

        Each is a dict with ``kind``, ``start_step`` (first step the condition held),
        ``alert_step`` (when it was flagged), ``end_step`` (first step of the recovery
        that ended it; None while ongoing), ``peak`` (the most extreme smoothed values
        seen during the episode, by name), ``message`` and ``suggestion``.
        """
        return copy.deepcopy(self._episodes)

    @property
    def fm_weight_multiplier(self) -> float:
        """Factor for the feature-matching weight: 1.0 unless ``act`` is on and the
        discriminator dominates, then it grows by ``act_fm_factor`` every ``window``
        steps up to ``act_max_multiplier``, and decays back to 1.0 once it recovers."""
        return self._multiplier

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly after a resume, as plain Python types.

        Example:
            >>> a = BalanceMonitor(); _ = a.update(0, {"loss/d": 1.0})
            >>> b = BalanceMonitor(); b.load_state_dict(a.state_dict())
            >>> b.state_dict() == a.state_dict()
            True
        """
        return {
            "config": asdict(self.config),
            "last_step": self._last_step,
            "ema": dict(self._ema),
            "ema_slow": dict(self._ema_slow),
            "seen_steps": dict(self._seen_steps),
            "grad_g_ref": self._grad_g_ref,
            "loss_d_signed": self._loss_d_signed,
            "spread_ratio": self._spread_ratio,
            "spread_step": self._spread_step,
            "multiplier": self._multiplier,
            "episodes": copy.deepcopy(self._episodes),
            "state": copy.deepcopy(self._state),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what :meth:`state_dict` returned. The config stays this monitor's own.

        Raises:
            ValueError: If ``state`` lacks an entry (not from ``state_dict``).
        """
        required = (
            "last_step",
            "ema",
            "ema_slow",
            "seen_steps",
            "grad_g_ref",
            "spread_ratio",
            "spread_step",
            "multiplier",
            "episodes",
            "state",
        )
        missing = [k for k in required if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}; expected the dict returned by BalanceMonitor.state_dict()")
        self._last_step = state["last_step"]
        self._ema = {k: float(v) for k, v in state["ema"].items()}
        self._ema_slow = {k: float(v) for k, v in state["ema_slow"].items()}
        self._seen_steps = {k: int(v) for k, v in state["seen_steps"].items()}
        self._grad_g_ref = float(state["grad_g_ref"])
        self._loss_d_signed = bool(state.get("loss_d_signed", False))
        self._spread_ratio = None if state["spread_ratio"] is None else float(state["spread_ratio"])
        self._spread_step = state["spread_step"]
        self._multiplier = float(state["multiplier"])
        self._episodes = copy.deepcopy(state["episodes"])
        self._state = {kind: dict(state["state"][kind]) for kind in _KINDS}

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _read_scalars(scalars: dict[str, float]) -> dict[str, float]:
        if not hasattr(scalars, "items"):
            raise TypeError(
                f"scalars must be a mapping name -> number, got {type(scalars).__name__}; "
                'hint: monitor.update(step, {"loss/d": 0.7, "d/accuracy": 0.6})'
            )
        values: dict[str, float] = {}
        for key, value in scalars.items():
            if isinstance(value, Tensor):
                if value.numel() != 1:
                    raise TypeError(
                        f"scalars[{key!r}] must be a number or a one-element tensor, "
                        f"got a tensor of shape {tuple(value.shape)}"
                    )
                value = value.detach().item()
            if isinstance(value, bool) or not _is_real(value):
                raise TypeError(f"scalars[{key!r}] must be a number, got {type(value).__name__} ({value!r})")
            values[str(key)] = float(value)
        return values

    def _smooth(self, key: str, value: float, dt: int) -> None:
        # Exponential moving average in steps: a gap of dt steps decays the old value
        # as dt single steps would, so calling every k steps smooths over the same time.
        window = self.config.window
        for store, length in ((self._ema, window), (self._ema_slow, window * _SLOW_WINDOWS)):
            if key not in store:
                store[key] = value
            else:
                keep = (1.0 - 2.0 / (length + 1)) ** dt
                store[key] = keep * store[key] + (1.0 - keep) * value
        self._seen_steps[key] = self._seen_steps.get(key, 0) + dt

    def _signals(self, relax: float) -> tuple[dict[str, bool], dict[str, bool]]:
        """Primary and supporting dominance signals, for the measured scalars only.

        ``relax`` > 1 moves each threshold away from the failure (used to decide recovery).
        """
        cfg, ema = self.config, self._ema
        primary: dict[str, bool] = {}
        if "loss/d" in ema and not self._loss_d_signed:
            primary["loss/d"] = ema["loss/d"] < cfg.d_loss_low * relax
        if "d/accuracy" in ema:
            primary["d/accuracy"] = ema["d/accuracy"] > 1.0 - (1.0 - cfg.d_accuracy_high) * relax
        if "d/fake_prob" in ema:
            primary["d/fake_prob"] = ema["d/fake_prob"] < cfg.fake_prob_low * relax
        supporting: dict[str, bool] = {}
        if "grad/g" in ema and self._seen_steps.get("grad/g", 0) >= cfg.window and self._grad_g_ref > 0:
            supporting["grad/g"] = ema["grad/g"] < cfg.grad_g_low * relax * self._grad_g_ref
        if "loss/g_adv" in ema and self._seen_steps.get("loss/g_adv", 0) >= cfg.window:
            fast, slow = ema["loss/g_adv"], self._ema_slow["loss/g_adv"]
            supporting["loss/g_adv"] = fast > slow + _RISING_MARGIN * max(1.0, abs(slow))
        return primary, supporting

    def _dominates(self, relax: float) -> bool:
        primary, supporting = self._signals(relax)
        if not primary:
            return False
        n_primary = sum(primary.values())
        return n_primary >= min(2, len(primary)) or (n_primary >= 1 and any(supporting.values()))

    def _dominance_numbers(self) -> dict[str, float]:
        keys = ("loss/d", "d/accuracy", "d/fake_prob", "d/real_prob", "loss/g_adv")
        numbers = {k: self._ema[k] for k in keys if k in self._ema}
        if "grad/g" in self._ema and self._grad_g_ref > 0:
            numbers["grad/g_ratio"] = self._ema["grad/g"] / self._grad_g_ref
        return numbers

    def _dominance_message(self, step: int, since: int) -> str:
        # Only the signals that hold: a value quoted beside its threshold must be past it.
        cfg, ema = self.config, self._ema
        primary, supporting = self._signals(1.0)
        parts = []
        if primary.get("loss/d"):
            parts.append(f"loss/d {ema['loss/d']:.4g} (near zero below {cfg.d_loss_low:g})")
        if primary.get("d/accuracy"):
            parts.append(f"d/accuracy {ema['d/accuracy']:.4g} (near one above {cfg.d_accuracy_high:g})")
        if primary.get("d/fake_prob"):
            parts.append(f"D(G(z)) {ema['d/fake_prob']:.4g} (near zero below {cfg.fake_prob_low:g})")
        if supporting.get("loss/g_adv"):
            parts.append(f"loss/g_adv {ema['loss/g_adv']:.4g} (rising)")
        if supporting.get("grad/g"):
            ratio = ema["grad/g"] / self._grad_g_ref
            parts.append(
                f"grad/g {ema['grad/g']:.3g} = {100 * ratio:.3g}% of its peak {self._grad_g_ref:.3g} "
                f"(vanishing below {100 * cfg.grad_g_low:g}%)"
            )
        text = (
            f"the discriminator dominates since step {since} (flagged at step {step}, "
            f"smoothed over {cfg.window} steps): " + ", ".join(parts)
        )
        if cfg.act:
            text += (
                f"; acting: the feature-matching weight grows x{cfg.act_fm_factor:g} every "
                f"{cfg.window} steps, up to x{cfg.act_max_multiplier:g}"
            )
        return text

    def _start(self, kind: str, step: int, since: int, message: str, peak: dict[str, float]) -> Alert:
        suggestion = self._suggestions[kind]
        self._episodes.append(
            {
                "kind": kind,
                "start_step": since,
                "alert_step": step,
                "end_step": None,
                "peak": dict(peak),
                "message": message,
                "suggestion": suggestion,
            }
        )
        self._state[kind]["active"] = len(self._episodes) - 1
        self._state[kind]["clear_since"] = None
        return Alert(kind=kind, step=step, message=message, suggestion=suggestion, quiet=kind in self._quiet)

    def _active_episode(self, kind: str) -> dict[str, Any]:
        """The episode of `kind` in progress; callers call it only while one is."""
        index = self._state[kind]["active"]
        if index is None:  # a bug in this class, never a user's error
            raise RuntimeError(f"BalanceMonitor: no {kind!r} episode in progress.")
        return self._episodes[index]

    def _end(self, kind: str, end_step: int) -> None:
        state = self._state[kind]
        self._active_episode(kind)["end_step"] = end_step
        state["active"] = None
        state["clear_since"] = None
        state["cond_since"] = None

    def _update_peak(self, kind: str, numbers: dict[str, float], lower_is_worse: set[str]) -> None:
        peak = self._active_episode(kind)["peak"]
        for key, value in numbers.items():
            if key not in peak:
                peak[key] = value
            elif key in lower_is_worse:
                peak[key] = min(peak[key], value)
            else:
                peak[key] = max(peak[key], value)

    def _update_non_finite(self, step: int, bad: list[str], values: dict[str, float]) -> list[Alert]:
        state = self._state["non_finite"]
        if state["active"] is None:
            if not bad:
                return []
            shown = ", ".join(f"{k}={values[k]}" if k in values else f"{k} has NaN/Inf" for k in bad)
            message = f"non-finite values at step {step}: {shown}"
            return [self._start("non_finite", step, step, message, {"steps": 1.0})]
        if bad:
            self._update_peak("non_finite", {"steps": self._active_episode("non_finite")["peak"]["steps"] + 1.0}, set())
        else:
            self._end("non_finite", step)
        return []

    def _advance_episode(
        self,
        kind: str,
        step: int,
        *,
        holds: bool,
        still_holds: Callable[[], bool],
        start: Callable[[int], tuple[str, dict[str, float]]],
        peak: Callable[[], dict[str, float]],
        peak_keys: set[str],
    ) -> list[Alert]:
        """The hysteresis shared by slow episodes (dominance, collapse).

        An episode starts once its condition (``holds``) has held for ``patience`` steps, after
        ``warmup``; it ends once the relaxed condition (``still_holds``) has failed for
        ``patience`` steps. ``start(since)`` gives the alert's message and numbers.
        """
        state, cfg = self._state[kind], self.config
        if state["active"] is None:
            if not holds:
                state["cond_since"] = None
                return []
            since = state["cond_since"]
            if since is None:
                since = state["cond_since"] = step
            if step - since + 1 >= cfg.patience and step >= cfg.warmup:
                message, numbers = start(since)
                return [self._start(kind, step, since, message, numbers)]
            return []
        self._update_peak(kind, peak(), peak_keys)
        if still_holds():
            state["clear_since"] = None
            return []
        clear_since = state["clear_since"]
        if clear_since is None:
            clear_since = state["clear_since"] = step
        if step - clear_since + 1 >= cfg.patience:
            self._end(kind, clear_since)
        return []

    def _update_dominance(self, step: int) -> list[Alert]:
        return self._advance_episode(
            "d_dominates",
            step,
            holds=self._dominates(1.0),
            still_holds=lambda: self._dominates(_RECOVERY_FACTOR),
            start=lambda since: (self._dominance_message(step, since), self._dominance_numbers()),
            peak=self._dominance_numbers,
            peak_keys={"loss/d", "d/fake_prob", "grad/g_ratio"},
        )

    def _update_collapse(self, step: int, real_batch: Tensor | None, fake_batch: Tensor | None) -> list[Alert]:
        if real_batch is None or fake_batch is None:
            return []  # no new evidence: the collapse state stays as it was
        ratio = _spread_ratio(real_batch, fake_batch)
        if ratio is None:
            return []
        # Smooth over the steps since the previous measurement (batches may come every k steps).
        if self._spread_ratio is None or self._spread_step is None:
            self._spread_ratio = ratio
        else:
            keep = (1.0 - 2.0 / (self.config.window + 1)) ** (step - self._spread_step)
            self._spread_ratio = keep * self._spread_ratio + (1.0 - keep) * ratio
        self._spread_step = step
        smoothed, cfg = self._spread_ratio, self.config

        def start(since: int) -> tuple[str, dict[str, float]]:
            message = (
                f"mode collapse since step {since} (flagged at step {step}): the generated batch's "
                f"spread (mean per-feature std) is {smoothed:.3g} times the real batch's, "
                f"below {cfg.collapse_ratio:g} (smoothed over {cfg.window} steps)"
            )
            return message, {"spread_ratio": smoothed}

        return self._advance_episode(
            "collapse",
            step,
            holds=smoothed < cfg.collapse_ratio,
            still_holds=lambda: smoothed < cfg.collapse_ratio * _RECOVERY_FACTOR,
            start=start,
            peak=lambda: {"spread_ratio": smoothed},
            peak_keys={"spread_ratio"},
        )

    def _update_multiplier(self, dt: int) -> None:
        cfg = self.config
        if not cfg.act:
            self._multiplier = 1.0
            return
        rate = cfg.act_fm_factor ** (dt / cfg.window)
        if self._state["d_dominates"]["active"] is not None:
            self._multiplier = min(self._multiplier * rate, cfg.act_max_multiplier)
        else:
            self._multiplier = max(self._multiplier / rate, 1.0)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spread(batch: Tensor) -> float:
    flat = batch.detach().reshape(batch.shape[0], -1).float()  # (N, D)
    return float(flat.std(dim=0, unbiased=False).mean())


def _spread_ratio(real_batch: Tensor, fake_batch: Tensor) -> float | None:
    """Mean per-feature std of the generated batch over the real batch's; None if unmeasurable."""
    for name, batch in (("real_batch", real_batch), ("fake_batch", fake_batch)):
        if not isinstance(batch, Tensor):
            raise TypeError(f"{name} must be a Tensor or None, got {type(batch).__name__}")
        if batch.dim() < 2:
            raise ValueError(
                f"{name} must have a batch dimension and features, shape (N, ...), got shape {tuple(batch.shape)}"
            )
    if real_batch.shape[1:] != fake_batch.shape[1:]:
        raise ValueError(
            f"real_batch and fake_batch must have the same per-sample shape, got {tuple(real_batch.shape[1:])} "
            f"and {tuple(fake_batch.shape[1:])}; hint: pass G(z) and a real batch from the same data"
        )
    # One sample has no spread, and a constant real batch gives no scale to compare with.
    if real_batch.shape[0] < 2 or fake_batch.shape[0] < 2:
        return None
    real = _spread(real_batch)
    if not real > 1e-12 or not math.isfinite(real):
        return None
    fake = _spread(fake_batch)
    if not math.isfinite(fake):
        return None
    return fake / real
