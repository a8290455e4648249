"""The interface every task implements (:class:`Task`) and what it exchanges with the shared step.

A task says what is specific to one kind of training; the shared step (:mod:`featmatch.train.step`)
and the driver (:mod:`featmatch.train.trainer`) know no task's details. The registry of tasks is
:mod:`featmatch.registry` (re-exported by :mod:`featmatch.train.tasks`).

Example:
    >>> o = Objective(terms={"a": torch.tensor(2.0)}, weights={"a": 1.0})
    >>> o.total()
    tensor(2.)
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from featmatch.data import DataSet, load_dataset
from featmatch.registry import DATASETS, DEFAULT_DATA_NEEDS, foreign_options_error
from featmatch.train.config import TrainConfig
from featmatch.train.monitor import run_suggestions

__all__ = ["Objective", "Streams", "Task", "TaskModels", "Weights"]


@dataclass
class TaskModels:
    """What a task's :meth:`Task.build_models` returns.

    Attributes:
        generator: the trained "generator" (checkpoint entry ``generator``; its EMA is ``ema``).
        discriminator: the trained discriminator (checkpoint entry ``discriminator``).
        family: the model family's name (recorded in checkpoints and the summary).
        latent_dim: the noise width (``None`` for a task without noise input).
        frozen: extra modules the task uses but never trains (e.g. a pretrained teacher).
    """

    generator: nn.Module
    discriminator: nn.Module
    family: str
    latent_dim: int | None = None
    frozen: dict[str, nn.Module] = field(default_factory=dict)


@dataclass
class Streams:
    """The random streams and data a task draws from in one step.

    Attributes:
        next_batch: the next batch of this rank's shard (the shared, seeded batch iterator).
        noise: this rank's noise generator (on ``device``).
        device: the training device.
    """

    next_batch: Callable[[], Any]
    noise: torch.Generator
    device: torch.device


@dataclass(frozen=True)
class Weights:
    """Weights the shared step schedules and hands to the objectives.

    Attributes:
        adv: the adversarial term's weight in this step (``objective.adv_weight``, ramped).
        fm_multiplier: the balance monitor's multiplier of the feature-matching weight.
    """

    adv: float
    fm_multiplier: float = 1.0


@dataclass
class Objective:
    """An objective as named terms: what the shared step sums, back-propagates and logs.

    Attributes:
        terms: every computed term by name, logged as ``loss/<name>`` when measuring.
        weights: the terms that make up the loss, in summation order, with their weights; a
            term not named here is measured only (compute it under ``no_grad``).
        layers: per-layer feature-matching terms, logged as ``fm/<name>``.
        real_logits, fake_logits: D's "real" logits on real and generated data (measured steps
            only), for ``d/real_prob``, ``d/fake_prob`` and ``d/accuracy``.
        real_out: D's output on the real batch, detached (from the D objective: what
            ``objective.reuse_real_features`` hands to the G objective).
        loss: set by the step: the weighted sum, detached.
        grad: set by the step when measuring: the total gradient norm of the updated model.

    Example:
        >>> o = Objective(terms={"a": torch.tensor(2.0), "b": torch.tensor(3.0)}, weights={"b": 0.5})
        >>> o.total()
        tensor(1.5000)
    """

    terms: dict[str, Tensor]
    weights: dict[str, float]
    layers: dict[str, Tensor] = field(default_factory=dict)
    real_logits: list[Tensor] | None = None
    fake_logits: list[Tensor] | None = None
    real_out: Any = None
    loss: Tensor | None = None
    grad: Tensor | None = None

    def total(self) -> Tensor:
        """The weighted sum of the terms named in ``weights`` (a 0-dim float32 tensor)."""
        if not self.weights:
            raise ValueError(f"an objective needs at least one weighted term; got terms {list(self.terms)}.")
        device = next(iter(self.terms.values())).device
        total = torch.zeros((), device=device)
        for name, weight in self.weights.items():
            term = self.terms[name]
            total = total + (term if weight == 1.0 else weight * term)
        return total


class Task:
    """One kind of training. Subclass it, set ``name``, and register it with :func:`register_task`.

    An instance is made per run from the run's config. Methods marked "required" have no
    default; the others have the defaults of a data set of samples ``data.x``.

    Example:
        >>> from featmatch.train.config import build_config
        >>> from featmatch.train.tasks import get_task
        >>> task = get_task("generation")(build_config({"data.name": "ring8"}))
        >>> task.config.data.name
        'ring8'
    """

    name: ClassVar[str] = ""
    #: What the task trains, in one line (``featmatch --help`` lists the tasks with it).
    summary: ClassVar[str] = ""
    #: What data the task trains on, for messages: "... trains on {data_needs}".
    data_needs: ClassVar[str] = DEFAULT_DATA_NEEDS
    #: What the run's metrics (:meth:`evaluate`) measure: their heading in ``report.md``.
    metrics_title: ClassVar[str] = "Evaluation of generated samples"
    #: The task's own settings: a dataclass whose fields all have defaults, filled from
    #: ``config.task_options`` (``None``: the task has none). Available as ``self.options``.
    Options: ClassVar[type | None] = None
    #: Flags for those settings: rows of the CLI's table with keys ``task_options.<field>``
    #: (:class:`featmatch.train.config.Option`); ``featmatch train --help`` lists them.
    flags: ClassVar[tuple[Any, ...]] = ()
    #: Whether ``streams.next_batch()`` yields ``(x, y)`` (samples and their labels) rather than ``x``.
    batch_labels: ClassVar[bool] = False

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.options = self.parse_options(config.task_options)

    @classmethod
    def claims_data(cls, name: Any, options: Mapping[str, Any] | None = None) -> bool:
        """Whether ``featmatch train --data NAME`` without ``--task`` means this task (default: no).

        ``options`` are the run's data options (``data.options``), for data that they mark as
        this task's (e.g. a paired file's array names).
        """
        return False

    @classmethod
    def data_names(cls) -> tuple[str, ...]:
        """The built-in data sets this task trains on (``--data NAME``; users' files are checked
        when loaded). Default: every unpaired built-in set (``featmatch.data.DATASETS``).

        Example:
            >>> from featmatch.train.tasks import get_task
            >>> "digits" in get_task("generation").data_names()
            True
        """
        return tuple(DATASETS)

    @classmethod
    def model_families(cls) -> tuple[str, ...]:
        """The model families (``--model``) this task builds, for the help; default: none listed."""
        return ()

    def monitor_suggestions(self) -> dict[str, str | None]:
        """What the balance monitor advises for each episode kind of this run (``"d_dominates"``,
        ``"collapse"``, ``"non_finite"``); ``None``: the episode does not matter here (recorded, and
        logged as information with nothing to change, not as a warning).

        The default fits the advice to the run's objective and optimiser
        (:func:`featmatch.train.monitor.run_suggestions`): it never recommends what the run
        already does. A task overrides the kinds whose meaning differs for it.
        """
        return dict(run_suggestions(self.config))

    @classmethod
    def parse_options(cls, values: Mapping[str, Any]) -> Any:
        """``config.task_options`` as an instance of :attr:`Options` (its defaults, then ``values``).

        Raises:
            ValueError: an option the task does not have (naming the ones it has), or a value
                that ``Options`` rejects.
        """
        values = dict(values or {})
        foreign = foreign_options_error(cls.name, values)
        if foreign is not None:
            raise foreign
        if cls.Options is None:
            if values:
                raise ValueError(
                    f"config key 'task_options' must be empty for task {cls.name!r} (it has no options); "
                    f"got {values!r}."
                )
            return None
        known = [f.name for f in dataclasses.fields(cls.Options)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" Hint: did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"unknown option(s) {unknown} in config key 'task_options' for task {cls.name!r}; it has {known}.{hint}"
            )
        try:
            return cls.Options(**values)
        except (TypeError, ValueError) as err:
            raise ValueError(f"config key 'task_options' of task {cls.name!r}: {err}") from err

    # --- data and models ---------------------------------------------------------------

    def load_data(self, split: str, device: torch.device) -> DataSet:
        """This run's ``split`` of the data set, its tensors on ``device``."""
        cfg = self.config
        options = cfg.data.load_options()  # data.options, and data.kind for the user's files
        if split == "train":
            data = load_dataset(cfg.data.name, split, seed=cfg.seed, size=cfg.data.size, **options)
        else:  # the whole test split (as load_test_split)
            data = load_dataset(cfg.data.name, split, seed=cfg.seed, **options)
        if device.type != "cpu":
            data = replace(data, x=data.x.to(device))
        return data

    def describe_data(self, data: DataSet) -> dict[str, Any]:
        """What checkpoints record of the data (``state["data"]``); :meth:`build_models` reads it."""
        return {
            "name": data.name,
            "kind": data.kind,
            "sample_shape": list(data.sample_shape),
            "centres": None if data.centres is None else data.centres.cpu(),
            "std": data.std,
        }

    def build_models(self, data: Mapping[str, Any], *, family: str | None = None) -> TaskModels:
        """Required: G, D (and frozen extras) from the config and a :meth:`describe_data` mapping.

        ``family`` overrides ``config.model.family`` (a checkpoint records the resolved one).
        Training and :func:`~featmatch.train.trainer.load_generator` both build models here.
        """
        raise NotImplementedError(f"task {self.name!r} must implement build_models")

    def setup(self, models: TaskModels, data: DataSet, *, distributed: bool, device: torch.device) -> None:
        """Prepare losses and anything trained before the GAN (after the models are built)."""

    # --- one step ------------------------------------------------------------------------

    def draw(self, streams: Streams, models: TaskModels) -> Any:
        """Required: one batch for one D update (real data, plus noise where the task has it)."""
        raise NotImplementedError(f"task {self.name!r} must implement draw")

    def redraw_noise(self, batch: Any, streams: Streams, models: TaskModels) -> Any:
        """``batch`` with fresh generator inputs (``optim.fresh_noise``: the G step samples G anew,
        as Improved GAN's code does). Default: the task draws its inputs once (an error)."""
        raise ValueError(
            f"config field 'optim.fresh_noise' (flag --fresh-noise) needs a task whose generator takes noise; "
            f"task {self.name!r} draws its inputs once. Hint: drop --fresh-noise."
        )

    def generate(self, G: nn.Module, batch: Any) -> Any:
        """Required: G's output for ``batch`` (the step runs it under autocast)."""
        raise NotImplementedError(f"task {self.name!r} must implement generate")

    def discriminator_objective(self, D: nn.Module, batch: Any, fake: Any, *, measure: bool) -> Objective:
        """Required: the D objective; ``fake`` is detached. Set ``real_out`` (detached) and, when
        ``measure``, ``real_logits``/``fake_logits``."""
        raise NotImplementedError(f"task {self.name!r} must implement discriminator_objective")

    def generator_objective(
        self, D: nn.Module, batch: Any, fake: Any, real_out: Any, weights: Weights, *, measure: bool
    ) -> Objective:
        """Required: the G objective. D is frozen and unwrapped (no DDP hooks); ``real_out`` is
        the D step's real output when ``objective.reuse_real_features``, else ``None``."""
        raise NotImplementedError(f"task {self.name!r} must implement generator_objective")

    def monitor_batches(self, batch: Any, fake: Any) -> tuple[Tensor, Tensor] | None:
        """The (real, generated) tensors the balance monitor looks at (detached), or ``None``."""
        return None

    # --- samples and evaluation -----------------------------------------------------------

    def sample_inputs(self, models: TaskModels, n: int, generator: torch.Generator) -> Any:
        """Required: fixed inputs for ``n`` samples (noise, conditions), drawn from ``generator``."""
        raise NotImplementedError(f"task {self.name!r} must implement sample_inputs")

    def sample(self, G: nn.Module, inputs: Any, device: torch.device) -> Tensor:
        """Required: G's samples for ``inputs`` on CPU (G is in eval mode, under ``no_grad``)."""
        raise NotImplementedError(f"task {self.name!r} must implement sample")

    def save_picture(
        self, G: nn.Module, inputs: Any, data: Mapping[str, Any], path: Path, *, title: str, device: torch.device
    ) -> Path:
        """Required: draw and write a picture of G's samples for ``inputs``; return its path.

        ``data`` is the :meth:`describe_data` mapping (what a checkpoint records), so that
        ``featmatch sample`` draws the same picture without loading the data set.
        """
        raise NotImplementedError(f"task {self.name!r} must implement save_picture")

    def evaluate(
        self,
        G: nn.Module,
        models: TaskModels,
        data: DataSet,
        device: torch.device,
        *,
        n: int | None = None,
        seed: int | None = None,
    ) -> dict[str, float]:
        """The run's metrics (``summary.json["metrics"]``); default: none.

        ``n`` and ``seed`` override the number of samples and the seed of their inputs (default:
        ``log.eval_samples`` and the run's own evaluation seed, so ``featmatch eval`` reproduces
        the run's numbers).
        """
        return {}

    def report_sections(self, run_dir: Path, summary: Mapping[str, Any], history: list[dict[str, Any]]) -> list[str]:
        """Markdown sections of ``report.md`` that only this task has (it may write figures into
        ``run_dir`` and link them relative to it); default: none.

        ``summary`` is what ``summary.json`` holds (``summary["metrics"]``: :meth:`evaluate`'s),
        ``history`` the rows of ``metrics.jsonl`` (evaluations as ``eval/<metric>``).
        """
        return []

    def save_real_picture(self, data: DataSet, path: Path, *, n: int, seed: int) -> Path | None:
        """A picture of ``n`` real training samples (chosen with ``seed``), drawn as :meth:`save_picture`
        draws generated ones: ``samples/real.png``, shown beside them in the report. Default: none
        (a task whose pictures already hold real data, or that has none to show)."""
        return None

    def write_run_files(self, run_dir: Path) -> list[Path]:
        """Write files of this task's own into a new or resumed run directory (the main process
        only, after ``config.yaml``), atomically; return their paths. Default: none."""
        return []

    def after_step(self, models: TaskModels, step: int) -> None:
        """Called at the end of every training step ``step`` (from 0), after the G update; default:
        nothing. For state that follows the trained models, e.g. a moving average of D (kept in
        ``models.frozen``, which checkpoints hold)."""

    def inputs_from_file(self, path: Path, models: TaskModels) -> Any:
        """Inputs for :meth:`sample` read from a user's file (``featmatch sample --condition``).

        Raises:
            ValueError: the task takes no inputs from files (the default).
        """
        raise ValueError(f"task {self.name!r} draws its own inputs; --condition applies to conditional runs.")
