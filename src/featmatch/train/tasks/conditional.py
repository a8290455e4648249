"""Conditional generation (task ``"conditional"``): ``fake = G(condition[, z])`` against the paired real target.

Each example is a pair (condition, target) (:class:`featmatch.data.PairedDataSet`: the built-in
``digits-superres``, ``digits-inpaint``, ``mnist1d-complete`` or the user's pairs), so
``featmatch train --data digits-superres`` needs no ``--task``. The models are the conditional
families of :mod:`featmatch.models.conditional`: a U-Net G, and pix2pix's D over condition and
target stacked on channels (``D(condition, target)``; multi-scale for ``cond_multiscale_*``).

D objective: ``discriminator_loss`` on D(c, target) against D(c, G(c)) (term ``d``). G objective,
as ``objective.kind`` and the task's options say:

- ``g_fm``: *paired* feature matching of D(c, G(c))'s features against D(c, target)'s, pair i
  against pair i (use a paired preset: ``pix2pixhd``, ``hifigan``, ``layer_mse``, ``encodec``,
  ``spade``); the real features under ``no_grad`` (or the D step's, with
  ``objective.reuse_real_features``). Weight ``objective.fm_weight``.
- ``g_adv``: the adversarial term (``objective.d_loss``), weight ``objective.adv_weight``.
- ``g_l1``: the reconstruction term, mean ``|G(c) - target|`` (pix2pix), weight
  ``task_options.l1_weight`` (flag ``--l1-weight``); with ``task_options.reconstruction_only``
  (``--reconstruction-only``) it is G's only term (the L1 baseline; D still trains, for the logs).

The shared step freezes D in the G step, so D gets no gradient from any of these.

Metrics (``summary.json["metrics"]``, on the test split): ``reconstruction_l1``,
``frechet_distance`` (features of the domain classifier, generated vs real test targets) and
``class_accuracy`` (the classifier's accuracy on generated targets against the pair's label);
the last two need labelled pairs.

Example:
    >>> from featmatch.train.config import build_config
    >>> task = ConditionalTask(build_config({"data.name": "digits-superres"}))
    >>> models = task.build_models({"sample_shape": [1, 8, 8], "condition_shape": [1, 4, 4]})
    >>> models.family, models.latent_dim is None
    ('cond_multiscale_conv', True)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

import featmatch.metrics  # called as featmatch.metrics.X: replaceable, as the tests do
from featmatch.data import PAIRED_DATASETS, PairedDataSet, is_paired_source, load_paired_dataset
from featmatch.losses import FeatureMatchingLoss, generator_loss
from featmatch.models import CONDITIONAL_FAMILIES, build_models
from featmatch.models.conditional import default_conditional_family, resize_condition
from featmatch.registry import register_task
from featmatch.train.config import Option, Recipe, register_recipe, setting
from featmatch.train.monitor import either
from featmatch.train.plots import new_figure, save_figure
from featmatch.train.seeds import eval_seed
from featmatch.train.tasks.base import Objective, Streams, Task, TaskModels, Weights
from featmatch.train.tasks.generation import adversarial_d_objective, logits_of

__all__ = ["ConditionalBatch", "ConditionalInputs", "ConditionalOptions", "ConditionalTask", "save_pairs"]

# Columns of one block of the samples picture (more pairs start a new block of three rows).
_COLUMNS = 8
# Built-in paired data sets -> the name of their targets' own data set (the domain classifier).
_TARGET_DATA = {"digits-superres": "digits", "digits-inpaint": "digits", "mnist1d-complete": "mnist1d"}


@dataclass(frozen=True)
class ConditionalOptions:
    """The conditional task's settings (``config.task_options``).

    Attributes:
        l1_weight: weight of the reconstruction term ``mean |G(c) - target|`` in G's objective
            (0: none). Flag ``--l1-weight``.
        reconstruction_only: train G on the reconstruction term alone (no adversarial or
            feature-matching term): the L1 baseline. Flag ``--reconstruction-only``.
    """

    l1_weight: float = 0.0
    reconstruction_only: bool = False

    def __post_init__(self) -> None:
        weight = self.l1_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise ValueError(f"l1_weight (flag --l1-weight) must be a number >= 0; got {weight!r}.")
        if not isinstance(self.reconstruction_only, bool):
            raise ValueError(f"reconstruction_only must be true or false; got {self.reconstruction_only!r}.")
        if self.reconstruction_only and weight == 0:
            raise ValueError(
                "reconstruction_only trains G on the L1 term alone, but l1_weight is 0. "
                "Hint: pass --l1-weight 1 (any weight > 0) with --reconstruction-only."
            )


@dataclass
class ConditionalBatch:
    """One batch: conditions ``(B, *condition_shape)``, targets ``(B, *target_shape)``, noise ``z`` or None."""

    condition: Tensor
    target: Tensor
    z: Tensor | None = None


@dataclass
class ConditionalInputs:
    """Inputs of G for samples: conditions, and where known the real targets and labels (for pictures).

    Attributes:
        condition: ``(N, *condition_shape)``, CPU.
        target: the paired real targets ``(N, *target_shape)`` or None (the user's own conditions).
        y: labels ``(N,)`` or None.
        z: noise ``(N, latent_dim)`` or None (a generator without noise).
    """

    condition: Tensor
    target: Tensor | None = None
    y: Tensor | None = None
    z: Tensor | None = None

    def __len__(self) -> int:
        return int(self.condition.shape[0])


class ConditionalTask(Task):
    """Conditional GANs on paired data: paired feature matching, adversarial and L1 terms."""

    name = "conditional"
    summary = "conditional GANs on paired data (condition -> target, pix2pix style); chosen by paired --data"
    data_needs = "paired data (condition, target)"
    metrics_title = "Evaluation of generated targets against the test pairs"
    Options = ConditionalOptions
    flags = (
        Option(
            "task_options.l1_weight",
            "--l1-weight",
            "conditional task: weight of the L1 reconstruction term |G(c) - target| (0: none)",
            "objective",
            parse=float,
            metavar="W",
        ),
        Option(
            "task_options.reconstruction_only",
            "--reconstruction-only",
            "conditional task: train G on the L1 term alone (the baseline; needs --l1-weight > 0)",
            "objective",
            switch=True,
        ),
    )

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        kind = config.objective.kind
        only_l1 = self.options.reconstruction_only
        self.use_fm = "fm" in kind and not only_l1
        self.use_adv = "adv" in kind and not only_l1
        self.fm_loss: nn.Module | None = None
        self._test: PairedDataSet | None = None

    @classmethod
    def claims_data(cls, name: Any, options: Mapping[str, Any] | None = None) -> bool:
        """Paired data (``featmatch.data.is_paired_source``): a built-in paired set, a paired ``.npz``,
        or a file whose pair arrays the options name."""

        return isinstance(name, (str, Path)) and is_paired_source(name, options)

    @classmethod
    def data_names(cls) -> tuple[str, ...]:
        """The built-in paired data sets (``featmatch.data.PAIRED_DATASETS``)."""

        return tuple(PAIRED_DATASETS)

    @classmethod
    def model_families(cls) -> tuple[str, ...]:

        return tuple(CONDITIONAL_FAMILIES)

    def monitor_suggestions(self) -> dict[str, str | None]:
        """Paired matching is right here (no batch-statistics advice), and with the L1 term alone
        (``reconstruction_only``) G has no term through D, so D's dominance does not matter."""
        general = super().monitor_suggestions()
        obj, opt, l1 = self.config.objective, self.config.optim, self.options.l1_weight
        if self.options.reconstruction_only:
            collapse = (
                "expected with the L1 term alone: it pulls each output towards the middle of the targets of its "
                "condition (a blur); the adversarial and feature-matching terms restore the spread (drop "
                "--reconstruction-only)"
            )
            return {**general, "d_dominates": None, "collapse": collapse}
        moves = []
        if self.use_fm:
            moves.append(f"raise the feature-matching weight ({setting('objective.fm_weight')}, now {obj.fm_weight:g})")
        else:
            moves.append(f"add paired feature matching ({setting('objective.kind', 'adv+fm')})")
        if l1 > 0:
            moves.append(
                f"lower the L1 weight, which pulls outputs towards the middle of their condition's targets "
                f"({setting('task_options.l1_weight')}, now {l1:g})"
            )
        moves.append(f"lower the generator's learning rate ({setting('optim.lr_g')}, now {opt.lr_g:g})")
        collapse = "generated targets are far less spread than real ones: " + either(moves)
        return {**general, "collapse": collapse}

    # --- data and models ---------------------------------------------------------------

    def load_data(self, split: str, device: torch.device) -> PairedDataSet:  # type: ignore[override]

        cfg = self.config
        size = cfg.data.size if split == "train" else None  # the whole test split
        options = cfg.data.load_options()  # data.options, and data.kind for the user's files
        pairs = load_paired_dataset(cfg.data.name, split, seed=cfg.seed, size=size, **options)
        return pairs if device.type == "cpu" else pairs.to(device)

    def test_pairs(self) -> PairedDataSet:
        """The whole test split on the CPU (loaded once per task)."""
        if self._test is None:
            self._test = self.load_data("test", torch.device("cpu"))
        return self._test

    def describe_data(self, data: Any) -> dict[str, Any]:
        return {
            "name": data.name,
            "kind": data.target_kind,
            "condition_kind": data.condition_kind,
            "sample_shape": list(data.target_shape),
            "condition_shape": list(data.condition_shape),
            "centres": None,
            "std": None,
        }

    def build_models(self, data: Mapping[str, Any], *, family: str | None = None) -> TaskModels:

        model = self.config.model
        target, condition = tuple(data["sample_shape"]), tuple(data["condition_shape"])
        family = family or model.family or default_conditional_family(condition, target)
        if family not in CONDITIONAL_FAMILIES:
            raise ValueError(
                f"config field 'model.family' (flag --model) must be a conditional family "
                f"{CONDITIONAL_FAMILIES} for task 'conditional'; got {family!r}. Hint: --model "
                f"{default_conditional_family(condition, target)}, or leave --model out."
            )
        options = dict(model.options)
        if model.width is not None:
            options["width"] = model.width
        g, d = build_models(family, target, condition_shape=condition, latent_dim=model.latent_dim or 0, **options)
        latent = cast(int, g.latent_dim)  # an int attribute (torch types Module attributes as Tensor | Module)
        return TaskModels(generator=g, discriminator=d, family=family, latent_dim=latent or None)

    def setup(self, models: TaskModels, data: Any, *, distributed: bool, device: torch.device) -> None:

        options = {**self.config.fm_loss_options(), "sync_statistics": distributed, "return_terms": True}
        self.fm_loss = FeatureMatchingLoss(**options)

    # --- one step ------------------------------------------------------------------------

    def draw(self, streams: Streams, models: TaskModels) -> ConditionalBatch:
        condition, target = streams.next_batch()  # (B, *condition_shape), (B, *target_shape)
        z = None
        if models.latent_dim:
            z = torch.randn(
                condition.shape[0], models.latent_dim, generator=streams.noise, device=streams.device
            )  # (B, Z)
        return ConditionalBatch(condition, target, z)

    def generate(self, G: nn.Module, batch: ConditionalBatch) -> Tensor:
        return G(batch.condition) if batch.z is None else G(batch.condition, batch.z)  # (B, *target_shape)

    def discriminator_objective(
        self, D: nn.Module, batch: ConditionalBatch, fake: Tensor, *, measure: bool
    ) -> Objective:
        real_out = D(batch.condition, batch.target)
        fake_out = D(batch.condition, fake)
        return adversarial_d_objective(real_out, fake_out, kind=self.config.objective.d_loss, measure=measure)

    def generator_objective(
        self, D: nn.Module, batch: ConditionalBatch, fake: Tensor, real_out: Any, weights: Weights, *, measure: bool
    ) -> Objective:

        assert self.fm_loss is not None, "call setup() first"
        obj = self.config.objective
        l1_weight = float(self.options.l1_weight)
        result = Objective(terms={}, weights={})
        need_d = self.use_fm or self.use_adv or measure
        fake_out = D(batch.condition, fake) if need_d else None
        if self.use_fm or measure:  # measured steps log every term (the trainer prints g_fm)
            with contextlib.nullcontext() if self.use_fm else torch.no_grad():
                if real_out is None:
                    with torch.no_grad():  # the real pair's features are the fixed reference
                        real_out = D(batch.condition, batch.target)
                fm, layers = self.fm_loss(fake_out, real_out)  # pair i against pair i
            result.terms["g_fm"] = fm
            result.layers = layers
            if self.use_fm:
                result.weights["g_fm"] = obj.fm_weight * weights.fm_multiplier
        if self.use_adv or measure:
            with contextlib.nullcontext() if self.use_adv else torch.no_grad():
                result.terms["g_adv"] = generator_loss(logits_of(fake_out), kind=obj.d_loss, saturating=obj.saturating)
            if self.use_adv:
                result.weights["g_adv"] = weights.adv
        if l1_weight > 0 or measure:
            with contextlib.nullcontext() if l1_weight > 0 else torch.no_grad():
                result.terms["g_l1"] = (fake - batch.target).abs().mean()
            if l1_weight > 0:
                result.weights["g_l1"] = l1_weight
        return result

    def monitor_batches(self, batch: ConditionalBatch, fake: Tensor) -> tuple[Tensor, Tensor]:
        return batch.target.detach(), fake.detach()

    # --- samples and evaluation -----------------------------------------------------------

    def _noise(self, models: TaskModels, n: int, generator: torch.Generator) -> Tensor | None:
        return torch.randn(n, models.latent_dim, generator=generator) if models.latent_dim else None

    def sample_inputs(self, models: TaskModels, n: int, generator: torch.Generator) -> ConditionalInputs:
        """``n`` fixed pairs of the test split (drawn by ``generator``), so pictures compare across steps."""
        test = self.test_pairs()
        if n <= len(test):
            index = torch.randperm(len(test), generator=generator)[:n].sort().values
        else:  # more samples than test pairs: each pair appears more than once
            index = torch.randint(len(test), (n,), generator=generator)
        return ConditionalInputs(
            test.condition[index],
            test.target[index],
            None if test.y is None else test.y[index],
            self._noise(models, n, generator),
        )

    @torch.no_grad()
    def sample(self, G: nn.Module, inputs: ConditionalInputs, device: torch.device) -> Tensor:
        out = []
        for start in range(0, len(inputs), 512):
            condition = inputs.condition[start : start + 512].to(device)
            if inputs.z is None:
                out.append(G(condition).float().cpu())
            else:
                out.append(G(condition, inputs.z[start : start + 512].to(device)).float().cpu())
        return torch.cat(out)  # (N, *target_shape)

    def save_picture(
        self,
        G: nn.Module,
        inputs: ConditionalInputs,
        data: Mapping[str, Any],
        path: Path,
        *,
        title: str,
        device: torch.device,
    ) -> Path:
        generated = self.sample(G, inputs, device)
        return save_pairs(inputs.condition, generated, inputs.target, data["kind"], path, title=title)

    def evaluate(
        self,
        G: nn.Module,
        models: TaskModels,
        data: Any,
        device: torch.device,
        *,
        n: int | None = None,
        seed: int | None = None,
    ) -> dict[str, float]:
        """``reconstruction_l1``, ``frechet_distance`` and ``class_accuracy`` on the test split.

        ``n`` (default ``log.eval_samples``) test pairs are scored, all of them when the split
        is no larger; ``seed`` (default the run's :func:`eval_seed`) picks them and draws the noise.
        """
        test = self.test_pairs()
        n = self.config.log.eval_samples if n is None else n
        gen = torch.Generator().manual_seed(eval_seed(self.config.seed) if seed is None else seed)
        if n < len(test):
            test = test._take(torch.randperm(len(test), generator=gen)[:n].sort().values)
        inputs = ConditionalInputs(test.condition, test.target, test.y, self._noise(models, len(test), gen))
        fake = self.sample(G, inputs, device)  # (n, *target_shape)
        if not bool(torch.isfinite(fake).all()):
            keys = ["reconstruction_l1"]
            keys += [] if test.y is None else ["frechet_distance", "frechet_distance_real", "class_accuracy"]
            return dict.fromkeys(keys, math.nan)
        metrics = {"reconstruction_l1": float((fake - test.target).abs().mean())}
        if test.y is None:  # no labels, no classifier: no feature space to compare in
            return metrics

        train = (
            data
            if isinstance(data, PairedDataSet) and self.config.data.size is None
            else self.load_data("train", torch.device("cpu"))
        )
        if train.y is None:
            return metrics
        name = _TARGET_DATA.get(str(self.config.data.name), str(train.name))
        classes = max(int(train.y.max()), int(test.y.max())) + 1
        classifier = featmatch.metrics.get_classifier(name, train.target.cpu(), train.y.cpu(), num_classes=classes)
        real_features, _ = featmatch.metrics.classify(classifier, test.target)
        fake_features, fake_logits = featmatch.metrics.classify(classifier, fake)
        metrics["frechet_distance"] = float(featmatch.metrics.frechet_distance(fake_features, real_features))
        # Its scale: as many real training targets against the same test targets.
        where = featmatch.metrics.classifier_cache_path(name, train.target.cpu(), train.y.cpu(), num_classes=classes)
        metrics["frechet_distance_real"] = featmatch.metrics.real_frechet_distance(
            classifier, train.target.cpu(), real_features, n=len(test), cache_path=where
        )
        metrics["class_accuracy"] = float((fake_logits.argmax(dim=1).cpu() == test.y.cpu()).double().mean())
        return metrics

    def report_sections(self, run_dir: Path, summary: Mapping[str, Any], history: list[dict[str, Any]]) -> list[str]:
        metrics = summary.get("metrics") or {}
        if "reconstruction_l1" not in metrics:
            return []
        test = self.test_pairs()
        shown = _shown_condition(test.condition, tuple(test.target.shape[2:]), test.target.shape[1])
        baseline = float((shown - test.target).abs().mean()) if shown.shape == test.target.shape else None
        lines = [
            "## Conditional generation",
            "",
            f"Test split of `{self.config.data.name}` ({len(test)} pairs). `reconstruction_l1`: mean "
            f"|G(condition) - target| = {metrics['reconstruction_l1']:.4f}",
        ]
        if baseline is not None:
            lines[-1] += f" (the condition itself, resized, scores {baseline:.4f}: lower than that is learned)"
        lines[-1] += "."
        if "class_accuracy" in metrics:
            lines += [
                "",
                f"`class_accuracy` {metrics['class_accuracy']:.3f}: the domain classifier recognises "
                "the pair's class in that share of generated targets (the output keeps the input's "
                f"identity); `frechet_distance` {_with_floor(metrics)} in its feature space, "
                "generated vs real test targets (real data: as many real training targets against the same "
                "test targets, the floor a perfect generator reaches).",
            ]
        lines += ["", "Samples (`samples/`): rows condition | generated | real, the same test pairs at every step."]
        return ["\n".join(lines) + "\n"]

    def inputs_from_file(self, path: Path, models: TaskModels) -> ConditionalInputs:
        """The user's conditions from an ``.npy`` file, in the run's condition layout.

        Raises:
            ValueError: not an ``.npy`` file, or conditions of another shape than the run's.
        """

        path = Path(path)
        if path.suffix.lower() != ".npy" or not path.is_file():
            raise ValueError(f"--condition must be an existing .npy file of conditions; got {str(path)!r}.")
        array = np.load(path, allow_pickle=False)
        expected = tuple(cast(tuple[int, ...], models.generator.condition_shape))
        if tuple(array.shape) == expected:
            array = array[None]  # one condition
        if array.ndim != len(expected) + 1 or tuple(array.shape[1:]) != expected or array.shape[0] == 0:
            raise ValueError(
                f"--condition {str(path)!r} holds an array of shape {tuple(array.shape)}, but this run's "
                f"conditions have shape (N, {', '.join(map(str, expected))}). Hint: save conditions in the "
                f"training pairs' layout and range, e.g. featmatch.data.make_condition(name, targets) for a "
                f"built-in data set."
            )
        if not np.issubdtype(array.dtype, np.number):
            raise ValueError(f"--condition {str(path)!r} must hold numbers; got dtype {array.dtype}.")
        condition = torch.from_numpy(np.ascontiguousarray(array)).float()
        return ConditionalInputs(condition, z=self._noise(models, len(condition), torch.Generator().manual_seed(0)))


def _with_floor(metrics: Mapping[str, Any]) -> str:
    """``frechet_distance`` with its real-data floor beside it, e.g. ``"7.26 (real data: 3.1)"``."""
    text = f"{metrics['frechet_distance']:.2f}"
    floor = metrics.get("frechet_distance_real")
    return text + (f" (real data: {floor:.2f})" if isinstance(floor, (int, float)) else "")


def _shown_condition(condition: Tensor, size: tuple[int, ...], channels: int) -> Tensor:
    """The condition as a picture of the target's size: its first ``channels`` channels, resized."""

    shown = resize_condition(condition.float(), size)
    return shown[:, :channels] if shown.shape[1] >= channels else shown[:, :1]


def save_pairs(
    condition: Tensor, generated: Tensor, real: Tensor | None, kind: str, path: Path, *, title: str = ""
) -> Path:
    """Draw rows condition | generated | real (one column per pair; images or line plots) and write ``path``.

    Conditions are shown at the target's size (resized, first channels: a mask channel is left
    out). ``real`` None (the user's own conditions) leaves its row out.

    Example:
        >>> import pathlib, tempfile
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "pairs.png"
        >>> save_pairs(torch.zeros(3, 2, 40), torch.zeros(3, 1, 40), None, "sequence", out).name
        'pairs.png'
    """

    channels = generated.shape[1]
    rows_of = [
        ("condition", _shown_condition(condition, tuple(generated.shape[2:]), channels)),
        ("generated", generated.float()),
    ]
    if real is not None:
        rows_of.append(("real", real.float()))
    n = generated.shape[0]
    columns = min(_COLUMNS, n)
    blocks = math.ceil(n / columns)
    image = kind == "image" and generated.ndim == 4
    cell = (1.0, 1.0) if image else (1.6, 1.1)
    figure = new_figure(cell[0] * columns + 0.9, cell[1] * len(rows_of) * blocks + (0.4 if title else 0.1))
    # Sequences share one y scale, so condition, generated and real read against each other.
    axes = figure.subplots(len(rows_of) * blocks, columns, squeeze=False, sharey=not image)
    for block in range(blocks):
        for r, (label, values) in enumerate(rows_of):
            for c in range(columns):
                ax = axes[block * len(rows_of) + r, c]
                i = block * columns + c
                if i >= n:
                    ax.set_visible(False)
                    continue
                sample = torch.nan_to_num(values[i].cpu(), nan=0.0).clamp(-1.5, 1.5) if image else values[i].cpu()
                if image:
                    pixels = ((sample.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
                    ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
                    ax.set_xticks([])
                    ax.set_yticks([])
                else:
                    for channel in range(sample.shape[0]):
                        ax.plot(
                            sample[channel].numpy(),
                            linewidth=1.0,
                            color={"condition": "tab:gray", "generated": "tab:blue"}.get(label, "tab:green"),
                        )
                    ax.tick_params(labelsize=6)
                    ax.grid(alpha=0.3)
                if c == 0:
                    ax.set_ylabel(label, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


# --- recipes: the default config of each built-in paired data set ---------------------------

_DIGITS_NOTES = """\
8x8 digits from {what}: U-Net G without noise (deterministic, as pix2pixHD), pix2pixHD's 3-scale
conditional D (at 8x8 one conv block per scale, so three feature maps to match), adversarial +
paired feature matching (pix2pixhd preset) + L1. Tuned on 2 CPU threads; BENCHMARKS.md, Table 4."""


def _digits(what: str) -> tuple[str, dict[str, Any]]:
    return _DIGITS_NOTES.format(what=what), {
        "model.family": "cond_multiscale_conv",
        "model.width": 32,
        "objective.kind": "adv+fm",
        "objective.fm_preset": "pix2pixhd",
        "task_options": {"l1_weight": 10.0},
        "data.batch_size": 64,
        "steps": 2000,
        "optim.lr_g": 2e-4,
        "optim.lr_d": 2e-4,
        "optim.ema": 0.995,
        "log.n_samples": 16,
        "log.sample_every": 500,
        "log.checkpoint_every": 500,
    }


_SEQUENCE_NOTES = """\
MNIST-1D completion (second half from the first): the reference article's setting, its 1-D
convolutional D over (condition, target) stacked on channels, with layer_mse paired feature
matching (MSE per layer, averaged) + the adversarial term + L1; a 1-D U-Net G without noise.
Width 16: width 32 cost 3.3x more per step (2.0 against 6.8 steps/s on a loaded 2-core machine)
for the same metrics after 200 steps (test L1 0.078 vs 0.080, class accuracy 0.54 vs 0.50).
BENCHMARKS.md, Table 4."""

_SEQUENCE = {
    "model.family": "cond_sequence",
    "model.width": 16,
    "objective.kind": "adv+fm",
    "objective.fm_preset": "layer_mse",
    "task_options": {"l1_weight": 10.0},
    "data.batch_size": 64,
    "steps": 1500,
    "optim.lr_g": 2e-4,
    "optim.lr_d": 2e-4,
    "optim.ema": 0.995,
    "log.n_samples": 16,
    "log.sample_every": 500,
    "log.checkpoint_every": 500,
}

for _name, (_notes, _values) in {
    "digits-superres": _digits("their 2x2-average-pooled 4x4 version"),
    "digits-inpaint": _digits("a copy with the lower half masked"),
    "mnist1d-complete": (_SEQUENCE_NOTES, _SEQUENCE),
}.items():
    register_recipe(Recipe(_name, _notes, _values, task="conditional"))

register_task(ConditionalTask)
