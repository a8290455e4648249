"""The ``featmatch`` command: ``train``, ``sample``, ``eval`` and ``compare``.

Why one module over 600 lines: the four commands share one parser (its formatter, the ``train``
flags generated from the config's table, the error reporting) and one logging set-up; each
handler only builds a config or reads flags and calls the library, so splitting by command
would split those shared helpers, not any logic.

The CLI only builds a :class:`featmatch.train.TrainConfig` (flags over a config file over a
recipe: ``featmatch.train.config.RECIPES``), its ``train`` flags generated from the config's one
table (``featmatch.train.config.OPTIONS``), and hands it to the library; it also sets up logging, the only place
that does. ``main(argv)`` returns the exit status instead of exiting, so tests call it directly.

Example:
    >>> main(["train", "--data", "ring8", "--steps", "5", "--print-config"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import logging
import math
import re
import shlex
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from featmatch.errors import InputError

__all__ = ["build_parser", "main", "train_overrides"]

log = logging.getLogger("featmatch")

_DESCRIPTION = """\
Train GANs whose generator matches the discriminator's features (feature matching),
and look at what they learned. Each command has its own --help.
"""

_EXAMPLES = """\
examples:
  featmatch train                                 # digits, adversarial + feature matching, about 2 minutes on a CPU
  featmatch train --data ring8 --steps 5000 --out runs/ring8
  featmatch train --resume runs/ring8 --steps 10000  # continue a run to a later step
  featmatch sample --checkpoint runs/ring8 --n 1000 --out ring8.png
  featmatch eval --checkpoint runs/ring8
  featmatch compare --data ring8 --seeds 0,1,2 --variant "gan=--objective adv" \\
      --variant "fm=--objective fm" --out runs/cmp --jobs 2
  torchrun --nproc_per_node=2 -m featmatch train --data mnist1d --out runs/ddp
"""

_TRAIN_EXAMPLES = """\
Precedence: built-in defaults < recipe < --config FILE < flags (--set last). The recipe is the
task's own for the --data set (see --recipe; none for your data), or --recipe NAME|none; its
adversarial schedule is dropped whole when you pick another --objective or set --adv-weight.
See the full, effective configuration (and the recipe) with --print-config. Flags of one task
(the sections "task ...") need that task: --task NAME, or data that picks it.

examples:
  featmatch train
  featmatch train --data ring8 --objective adv+fm --fm-preset salimans2016 --fm-layers hidden2
  featmatch train --data mnist1d --objective fm --fm-preset layer_mse --d-loss hinge --steps 5000
  featmatch train --task early --data seqs.npz    # x (N, C, T), y (N,); x_test, y_test: the test split
  featmatch train --config my.yaml --set monitor.patience=100 --lr-d 1e-4
  featmatch train --print-config > my.yaml        # a starting point for --config
  featmatch train --resume runs/digits-fm-20250101-120000 --steps 4000
  torchrun --nproc_per_node=2 -m featmatch train --batch-size 32   # global batch 64

The run directory (--out) gets: config.yaml, metrics.jsonl, train.log, samples/*.png,
checkpoints/step_*.pt, summary.json, report.md and its plots. Ctrl-C saves a checkpoint
and stops cleanly; continue with --resume.
"""


_COMPARE_EXAMPLES = """\
examples:
  featmatch compare --data ring8 --seeds 0,1,2,3,4 --steps 25000 --jobs 2 --out runs/cmp \\
      --variant "gan=--objective adv" --variant "fm_mean=--objective fm --fm-statistic mean" \\
      --variant "featmatch="
  featmatch compare --data grid25 --variants variants.yaml --seeds 0,1 --out runs/cmp_grid

variants.yaml:
  gan: --objective adv
  fm_mean: [--objective, fm, --fm-statistic, mean]

Finished runs (a summary.json that reached its steps) are skipped, so an interrupted
comparison continues where it stopped when run again with the same command.
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-made descriptions and epilogs as written, with wider help columns."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


class _Parser(argparse.ArgumentParser):
    """Takes no abbreviated flags (a flag in a script must not change meaning when a new flag is
    added: ``--step`` is not ``--steps``), and reports a usage error in one line with a hint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. Hint: {self.prog} --help lists every flag and its values.\n")


def _tasks_text() -> str:
    """The kinds of training for ``featmatch --help``, from the task registry."""
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.tasks import TASKS

    width = max(len(name) for name in TASKS)
    lines = [
        f"  {name:<{width}}  {cls.summary or (cls.__doc__ or '').strip().splitlines()[0]}"
        for name, cls in TASKS.items()
    ]
    return "kinds of training (featmatch train --task NAME; see featmatch train --help):\n" + "\n".join(lines) + "\n\n"


def _csv(item_type: type) -> Any:
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.config.options import csv

    return csv(item_type)


# A key a recipe does not set (None is a value).
_MISSING = object()


def _recipe_value(values: Any, key: str) -> Any:
    """A recipe's value of dotted ``key``, also inside a mapping it sets whole (``task_options``); else a marker."""
    if key in values:
        return values[key]
    section, _, name = key.rpartition(".")
    if section in values and isinstance(values[section], dict) and name in values[section]:
        return values[section][name]
    return _MISSING


def _defaults_text() -> dict[str, str]:
    """Each config key's default as the help shows it, naming the recipes whose own default differs.

    Task options (``task_options.<field>``) show their task's default and that task's recipes'.

    Example: ``{"objective.kind": "digits, ring8, grid25, ...: adv+fm; mnist1d, ..., your data: fm", "seed": "0"}``.
    """
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.config import KEY_ALIASES, RECIPES, TrainConfig, config_to_dict
    from featmatch.train.config import flatten as _flatten
    from featmatch.train.tasks import TASKS

    base: dict[str, tuple[str, str | None]] = {  # key -> (default, the task it belongs to)
        k: (str(v), None) for k, v in _flatten(config_to_dict(TrainConfig())).items()
    }
    for task_name, cls in TASKS.items():
        if cls.Options is not None:  # every field has a default (the Task contract)
            for option, value in dataclasses.asdict(cls.Options()).items():
                base[f"task_options.{option}"] = (str(value), task_name)
    texts = {key: value for key, (value, _) in base.items()}
    for key, (value, task) in base.items():
        field_key = KEY_ALIASES.get(key, key)
        by_value: dict[str, list[str]] = {}  # shown value -> recipes, in registration order
        for name, recipe in RECIPES.items():
            if task is not None and recipe.task != task:
                continue  # a task option: only its own task's recipes set it
            own = _recipe_value(recipe.values, field_key)
            shown = value if own is _MISSING else str(own)
            by_value.setdefault(shown, []).append(name)
        if set(by_value) - {value}:  # some recipe's default differs from the dataclass's
            by_value.setdefault(value, []).append("your data")
            texts[key] = "; ".join(f"{', '.join(names)}: {shown}" for shown, names in by_value.items())
    return texts


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` flags: the config's table (featmatch.train.config.OPTIONS), and those that are no setting."""
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.config import all_options
    from featmatch.train.config.options import GROUPS
    from featmatch.train.tasks import TASKS

    d = _defaults_text()
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    # Each task's own flags in a section of their own, after the shared ones.
    task_groups = {
        name: parser.add_argument_group(f"task {name} (--task {name})", cls.summary or None)
        for name, cls in TASKS.items()
        if cls.flags
    }
    owner = {row.key: name for name, cls in TASKS.items() for row in cls.flags}
    run = groups["run"]
    run.add_argument("--config", metavar="FILE", help="YAML or TOML config file (keys as in --print-config)")
    run.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its newest good checkpoint "
        "(flags given now override its config.yaml, e.g. a larger --steps)",
    )
    run.add_argument("--overwrite", action="store_true", help="replace an existing run directory given by --out")
    run.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective config as YAML (with the recipe applied) and exit",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any config key, e.g. --set monitor.patience=100 (YAML value; repeatable)",
    )
    for row in all_options():  # the table's rows and the registered tasks' own flags
        default = ""
        if row.show_default and row.key in d and "(default:" not in row.help:  # a help may say its own
            default = f" (default: {d[row.key].replace('None', row.unset)})"
        kw: dict[str, Any] = {"dest": row.key, "default": argparse.SUPPRESS, "help": row.help + default}
        # Unset flags stay absent (SUPPRESS), so they never override the config file.
        if row.switch:
            kw.update(action="store_const", const=True)
        else:
            kw.update(type=row.parse, choices=row.choices, metavar=row.metavar)
        group = task_groups[owner[row.key]] if row.key in owner else groups[row.group]
        group.add_argument(row.flag, **kw)


def build_parser() -> argparse.ArgumentParser:
    """The ``featmatch`` argument parser with its ``train``, ``sample``, ``eval`` and ``compare`` subcommands."""
    parser = _Parser(
        prog="featmatch", description=_DESCRIPTION, epilog=_tasks_text() + _EXAMPLES, formatter_class=_Formatter
    )
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch import __version__

    parser.add_argument("--version", action="version", version=f"featmatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a GAN (default: digits, adversarial + feature matching; --task for other kinds)",
        formatter_class=_Formatter,
        description="Train a GAN with a feature-matching generator loss (or adversarial, or both).",
        epilog=_TRAIN_EXAMPLES,
    )
    _add_train_arguments(train)

    sample = sub.add_parser(
        "sample",
        help="draw samples from a checkpoint",
        formatter_class=_Formatter,
        description="Draw samples from a trained generator (its moving average when the run kept one).",
        epilog="examples:\n  featmatch sample --checkpoint runs/digits --n 64 --out digits.png\n"
        "  featmatch sample --checkpoint runs/ring8/checkpoints/step_00003000.pt --n 5000 --out ring8.npy\n",
    )
    _add_checkpoint_arguments(sample)
    sample.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    sample.add_argument(
        "--condition",
        metavar="FILE.npy",
        help="conditional runs: generate one sample for each of your conditions (an .npy "
        "array in the run's condition layout) instead of --n drawn ones",
    )
    sample.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="output: .png (image grid, scatter or line plot) or .npy (raw array)",
    )
    sample.add_argument(
        "--probabilities",
        action="store_true",
        help="early runs: write the student's class probabilities at each of the stopping rule's R observed "
        "fractions (1/R ... 1, R = task_options.stop_points, 20 by default) as an (N, R, K) float32 .npy",
    )

    evaluate = sub.add_parser(
        "eval",
        help="compute evaluation metrics of a checkpoint",
        formatter_class=_Formatter,
        description="Generate samples from a checkpoint and compute the metrics of its data set "
        "(mode coverage for 2-D mixtures, Frechet distance and classifier metrics otherwise).",
        epilog="examples:\n  featmatch eval --checkpoint runs/ring8\n"
        "  featmatch eval --checkpoint runs/digits --n 2000 --out metrics.json\n",
    )
    _add_checkpoint_arguments(
        evaluate,
        seed_help="seed of the noise (default: the run's own evaluation noise, so that the numbers "
        "match its summary.json and report.md)",
    )
    evaluate.add_argument(
        "--n", type=int, default=None, help="generated samples to evaluate (default: the run's log.eval_samples)"
    )
    evaluate.add_argument("--out", metavar="FILE", help="also write the metrics to this JSON file")

    compare = sub.add_parser(
        "compare",
        help="train several set-ups x seeds and tabulate them",
        formatter_class=_Formatter,
        description="Train every variant (a name and its `featmatch train` flags) with every seed on one "
        "data set, with the same number of steps, into OUT/<variant>/seed<k>/; finished runs are skipped. "
        "Then write OUT/table.md and OUT/table.json (mean +- std over seeds) and OUT/comparison.png.",
        epilog=_COMPARE_EXAMPLES,
    )
    compare.add_argument("--data", required=True, metavar="NAME", help="data set (as for featmatch train --data)")
    compare.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help='a variant: a name and featmatch train flags, e.g. "gan=--objective adv" '
        "(repeatable; NAME= alone is the data set's defaults)",
    )
    compare.add_argument(
        "--variants", metavar="FILE", help="YAML file of variants: a mapping name -> flags (string or list)"
    )
    compare.add_argument(
        "--seeds", type=_csv(int), default=[0], metavar="S1,S2", help="comma-separated seeds (default: 0)"
    )
    compare.add_argument("--steps", type=int, metavar="N", help="training steps of every run (default: the data set's)")
    compare.add_argument(
        "--train-args",
        default="",
        metavar="FLAGS",
        help="featmatch train flags for every run, before each variant's own, "
        'e.g. "--lr-d 1e-4 --set log.eval_samples=2500"',
    )
    compare.add_argument("--out", required=True, metavar="DIR", help="output folder")
    compare.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="runs at a time; above 1, worker processes with one torch thread each (default: 1)",
    )
    compare.add_argument("--overwrite", action="store_true", help="retrain finished runs instead of skipping them")
    compare.add_argument("--title", help="heading of the table (default: data, steps and seeds)")
    return parser


def _add_checkpoint_arguments(parser: argparse.ArgumentParser, *, seed_help: str | None = None) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="FILE",
        help="a checkpoint .pt file, or a run directory (its newest usable checkpoint: "
        "corrupt or non-finite ones are skipped with a warning)",
    )
    if seed_help is None:
        parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default: 0)")
    else:
        parser.add_argument("--seed", type=int, default=None, help=seed_help)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument(
        "--use-ema",
        dest="use_ema",
        action="store_true",
        default=True,
        help="use the moving average of G's weights when the run kept one (default), as the API's use_ema=True",
    )
    weights.add_argument(
        "--no-ema",
        dest="use_ema",
        action="store_false",
        help="use G's raw weights even when the run kept an EMA (use_ema=False)",
    )
    weights.add_argument("--raw", dest="raw", action="store_true", help=argparse.SUPPRESS)  # deprecated: --no-ema


# ----------------------------------------------------------------------------------------


class _TqdmHandler(logging.StreamHandler):
    """Writes log lines through tqdm, so they do not break an active progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm  # optional dependency (the train extra's)

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise
            self.handleError(record)


def _configure_logging(level: int) -> logging.Handler:
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(min(level, logging.INFO))  # the run's train.log keeps INFO
    handler.setLevel(level)
    return handler


def _train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    import yaml  # optional dependency (pyyaml, the train extra's)

    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.config import all_options

    keys = {row.key for row in all_options()}  # the table's flags; the others (--resume, --set, ...) are no setting
    overrides = {k: v for k, v in vars(args).items() if k in keys}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE (e.g. monitor.patience=100); got {item!r}.")
        try:
            overrides[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item!r}: the value is not valid YAML ({err}).") from err
    return overrides


def _build_config(overrides: dict[str, Any], **kw: Any) -> Any:
    """``build_config``, with its deprecation warnings (old key spellings) logged where users see them."""
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.config import build_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        config = build_config(overrides, **kw)
    for warning in caught:
        log.warning("%s", warning.message)
    return config


def _cmd_train(args: argparse.Namespace) -> int:
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.config import config_from_dict, load_config_file, to_yaml
    from featmatch.train.distributed import cleanup_distributed, init_distributed
    from featmatch.train.trainer import run_training

    overrides = _train_overrides(args)
    if args.resume:
        resume_dir = Path(args.resume)
        config_file = resume_dir / "config.yaml"
        if not config_file.is_file():
            raise ValueError(
                f"cannot resume from {str(resume_dir)!r}: it has no config.yaml, so it is not a featmatch "
                "run directory. Hint: pass the --out directory of an earlier run."
            )
        out = overrides.pop("log.out", None)
        if out is not None and Path(out).resolve() != resume_dir.resolve():
            raise ValueError(
                f"--out {out!r} and --resume {args.resume!r} name different directories; a resumed run "
                "continues in its own directory. Hint: drop --out."
            )
        base = config_from_dict(load_config_file(config_file), source=f"config file {str(config_file)!r}")
        config = _build_config(overrides, file=args.config, base=base)
        run_dir: Path | None = resume_dir
    else:
        config = _build_config(overrides, file=args.config)
        run_dir = None
    if args.print_config:
        if not args.resume:
            # start-up time: the library (torch) loads only when a command needs it
            from featmatch.train.config import explain_recipe

            with warnings.catch_warnings():  # build_config above has logged them
                warnings.simplefilter("ignore", DeprecationWarning)
                notes = explain_recipe(overrides, file=args.config).notes()
            notes.append(_kind_note(config))
            sys.stdout.write("".join(f"# {line}\n" for line in notes))
        sys.stdout.write(to_yaml(config))
        return 0
    ctx, device = init_distributed(config.device)
    try:
        if not ctx.is_main:
            log.handlers[-1].setLevel(logging.WARNING)
        summary = run_training(
            config, run_dir=run_dir, resume=bool(args.resume), overwrite=args.overwrite, ctx=ctx, device=device
        )
    finally:
        cleanup_distributed(ctx)
    if ctx.is_main and summary.get("stopped"):
        log.error(
            "stopped after %d steps (%s); run directory %s (see report.md)",
            summary["steps"],
            summary["stopped"].get("message", summary["stopped"]["reason"]),
            summary["run_dir"],
        )
    elif ctx.is_main:
        final = summary.get("final", {})
        losses = ", ".join(f"{k} {v:.4g}" for k, v in final.items() if k.startswith("loss/") and isinstance(v, float))
        log.info(
            "done: %d steps in %.1f s; %s; run directory %s (see report.md)",
            summary["steps"],
            summary["wall_time_sec"],
            losses or "no losses measured",
            summary["run_dir"],
        )
    if summary.get("stopped"):
        # start-up time: the library (torch) loads only when a command needs it
        from featmatch.train.nonfinite import NONFINITE_EXIT

        return NONFINITE_EXIT
    return 130 if summary.get("interrupted") else 0


def _kind_note(config: Any) -> str:
    """What ``--print-config`` says of ``data.kind``: a built-in data set's own, the one given, or the shape's."""
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.data.kinds import BUILTIN_KINDS

    if config.data.name in BUILTIN_KINDS:
        return f"data.kind: {BUILTIN_KINDS[config.data.name]} ({config.data.name!r} is built in)"
    if config.data.kind is not None:
        return f"data.kind: {config.data.kind} (given)"
    return (
        "data.kind: null, chosen from the arrays' shape when the run loads them (an ambiguous shape asks "
        "for --data-kind image|sequence|vector)"
    )


def _load_run(args: argparse.Namespace) -> Any:
    """The checkpoint's run (task, models, state), from a ``sample``/``eval`` command's flags."""
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.distributed import select_device
    from featmatch.train.trainer import load_run

    if getattr(args, "raw", False):
        log.warning("--raw is deprecated and will be removed in the next release; use --no-ema (the same).")
        args.use_ema = False
    return load_run(args.checkpoint, device=select_device(args.device), use_ema=args.use_ema)


def _cmd_sample(args: argparse.Namespace) -> int:
    # start-up time: numpy and torch load only when a command needs them
    import numpy as np
    import torch

    # start-up time: the library (torch) loads only when a command needs it
    from featmatch._io import atomic_path

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".npy"):
        raise ValueError(f"--out must end in .png or .npy; got {args.out!r}.")
    if args.n < 1:
        raise ValueError(f"--n must be >= 1; got {args.n}.")
    run = _load_run(args)
    device = next(run.generator.parameters()).device
    if getattr(args, "condition", None):
        inputs = run.task.inputs_from_file(Path(args.condition), run.models)
    else:
        inputs = run.task.sample_inputs(run.models, args.n, torch.Generator().manual_seed(args.seed))
    if getattr(args, "probabilities", False):
        if suffix != ".npy":
            raise ValueError(f"--probabilities writes an (N, R, K) array: --out must end in .npy; got {args.out!r}.")
        if not hasattr(run.task, "probabilities"):
            raise ValueError(
                f"--probabilities applies to early-prediction runs (task 'early'); --checkpoint {args.checkpoint!r} "
                f"is a {run.task.name!r} run. Hint: drop --probabilities."
            )
        samples = run.task.probabilities(run.generator, inputs, device)  # (N, R, K)
    else:
        samples = run.task.sample(run.generator, inputs, device)
    if not bool(torch.isfinite(samples).all()):
        raise ValueError(
            f"the generator of --checkpoint {args.checkpoint!r} (step {run.state.get('step')}) produced NaN/Inf "
            "samples although its weights are finite. Hint: try an earlier checkpoint, or --no-ema."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        with atomic_path(out) as tmp, open(tmp, "wb") as handle:
            np.save(handle, samples.numpy())
    else:
        run.task.save_picture(
            run.generator, inputs, run.state["data"], out, title=f"step {run.state.get('step')}", device=device
        )
    log.info("wrote %d samples to %s", len(samples), out)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    import torch  # start-up time: torch loads only when a command needs it

    # start-up time: the library (torch) loads only when a command needs it
    from featmatch._io import atomic_write_text

    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1; got {args.n}.")
    run = _load_run(args)
    device = next(run.generator.parameters()).device
    data = run.task.load_data("train", torch.device("cpu"))
    # By default the run's own evaluation (its number of samples and noise), so the numbers agree.
    with torch.no_grad():
        values = run.task.evaluate(run.generator, run.models, data, device, n=args.n, seed=args.seed)
    metrics: dict[str, Any] = {}
    non_finite: dict[str, str] = {}
    for key, value in values.items():
        number = float(value)
        metrics[key] = number if math.isfinite(number) else None
        if not math.isfinite(number):
            non_finite[key] = f"the metric came out as {number} (JSON has no NaN/Infinity)"
    if non_finite:
        metrics["non_finite"] = non_finite
        log.warning("metrics %s are not finite; written as null.", ", ".join(non_finite))
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    sys.stdout.write(text)
    if args.out:
        atomic_write_text(Path(args.out), text)
    return 0


class _RaisingParser(_Parser):
    """An argument parser that raises ``ValueError`` instead of printing usage and exiting."""

    def error(self, message: str) -> Any:
        raise ValueError(message)


def _close_flags(text: str, parser: argparse.ArgumentParser) -> str:
    flags = [s for a in parser._actions for s in a.option_strings]  # argparse has no public list
    return " or ".join(difflib.get_close_matches(text.split("=", 1)[0], flags, n=2))


def _unknown_flags_message(parser: argparse.ArgumentParser, command: str | None, unknown: list[str]) -> str:
    """One line for flags (or stray values) no parser took, naming the closest flags of the command."""
    prog = "featmatch" if command is None else f"featmatch {command}"
    target = parser
    if command is not None:
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        target = subparsers.choices[command]
    flag = next((u for u in unknown if u.startswith("-")), unknown[0])
    close = _close_flags(flag, target) if flag.startswith("-") else ""
    hint = f"did you mean {close}? " if close else ""
    return (
        f"{prog}: error: unrecognized arguments: {' '.join(unknown)}. Hint: {hint}{prog} --help lists every flag "
        "(flags are never abbreviated)."
    )


def train_overrides(flags: Sequence[str]) -> dict[str, Any]:
    """The config overrides (dotted keys) that ``featmatch train`` flags set, without training.

    What ``featmatch train FLAGS`` puts over the per-data-set defaults: each flag's config key,
    ``--set KEY=VALUE`` items (YAML values), and a ``--config FILE``'s values under the flags.
    For scripts that keep set-ups as readable flags (the benchmark tables); give the result to
    :func:`featmatch.train.build_config` or :func:`featmatch.train.sweep.run_sweep`.

    Raises:
        ValueError: an unknown flag or stray value (with the closest flags), a bad value, or a
            flag that is not a config setting (``--resume``, ``--overwrite``, ``--print-config``).

    Example:
        >>> train_overrides(["--objective", "adv", "--lr-d", "1e-3", "--set", "monitor.patience=100"])
        {'objective.kind': 'adv', 'optim.lr_d': 0.001, 'monitor.patience': 100}
    """
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.config import flatten, load_config_file

    parser = _RaisingParser(prog="featmatch train", add_help=False)
    _add_train_arguments(parser)
    flags = [str(f) for f in flags]
    namespace, unknown = parser.parse_known_args(flags)
    if unknown:
        close = _close_flags(unknown[0], parser)
        hint = f" Did you mean {close}?" if close else " See featmatch train --help."
        raise ValueError(f"unknown flag or stray value {unknown[0]!r}.{hint}")
    for dest, flag in (("resume", "--resume"), ("overwrite", "--overwrite"), ("print_config", "--print-config")):
        if getattr(namespace, dest):
            raise ValueError(f"{flag} is not a config setting; it cannot be given here. Hint: remove {flag}.")
    overrides = _train_overrides(namespace)
    if namespace.config:
        overrides = {**flatten(load_config_file(namespace.config)), **overrides}
    return overrides


# Flags a compare variant may not set: compare owns them, so that every run has the same data,
# budget, seed list and place.
_COMPARE_RESERVED = {
    "--data": "the data set is given once, to compare (--data)",
    "--seed": "seeds are given once, to compare (--seeds)",
    "--steps": "every variant gets the same budget (compare --steps)",
    "--out": "each run goes to <out>/<variant>/seed<k>",
    "--resume": "compare skips finished runs by itself",
    "--overwrite": "use compare --overwrite",
    "--print-config": "compare trains the runs",
    "--config": "put the flags in the variant, or use compare --train-args",
}
_VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def _compare_overrides(where: str, flags: Sequence[str], *, allow_config: bool = False) -> dict[str, Any]:
    """A compare variant's (or --train-args') flags as overrides; errors name ``where`` and the flag."""
    for arg in flags:
        flag = arg.split("=", 1)[0]
        if flag in _COMPARE_RESERVED and not (allow_config and flag == "--config"):
            raise ValueError(
                f"{where} sets {flag}, which compare controls: {_COMPARE_RESERVED[flag]}. "
                f"Hint: remove {flag} from {where}."
            )
    try:
        return train_overrides(flags)
    except ValueError as err:
        raise ValueError(f"{where}: {err} (flags: {shlex.join(flags)!r})") from err


def _check_variant_name(name: str, where: str) -> None:
    if not _VARIANT_NAME.match(name):
        raise ValueError(
            f"variant name {name!r} (in {where!r}) must start with a letter or digit and use only "
            "letters, digits and _ . + - (it becomes a folder name). Hint: e.g. 'fm_mean'."
        )


def _parse_variant(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"NAME=FLAGS"`` (flags as on a shell command line) as ``(name, flags)``; ``"NAME="``: no flags."""
    name, sep, flags = spec.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(
            f"variant spec {spec!r} has no '='. Hint: write NAME=FLAGS, e.g. "
            '--variant "gan=--objective adv" (or NAME= for the data set\'s defaults).'
        )
    _check_variant_name(name, spec)
    try:
        return name, tuple(shlex.split(flags))
    except ValueError as err:
        raise ValueError(f"variant {name!r}: cannot split its flags {flags!r}: {err}.") from err


def _load_variants(path: str | Path) -> list[tuple[str, tuple[str, ...]]]:
    """``(name, flags)`` of each variant of a ``--variants`` YAML file: a mapping name -> flags (a
    string or a list), or a list of ``{name: ..., args: ...}``."""
    import yaml  # optional dependency (pyyaml, the train extra's)

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"variants file {str(path)!r} does not exist. Hint: check the --variants path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"variants file {str(path)!r} is not valid YAML: {err}") from err
    if isinstance(data, Mapping):
        entries = list(data.items())
    elif isinstance(data, list):
        entries = []
        for i, item in enumerate(data):
            if not isinstance(item, Mapping) or "name" not in item:
                raise ValueError(
                    f"variants file {str(path)!r}: entry {i} must be a mapping with 'name' and 'args'; got {item!r}."
                )
            entries.append((item["name"], item.get("args", "")))
    else:
        raise ValueError(
            f"variants file {str(path)!r} must hold a mapping name -> flags or a list of "
            f"{{name, args}}; got {type(data).__name__}."
        )
    variants = []
    for name, args in entries:
        name = str(name)
        _check_variant_name(name, str(path))
        if args is None:
            args = ""
        if isinstance(args, str):
            flags = tuple(shlex.split(args))
        elif isinstance(args, list) and all(isinstance(a, (str, int, float)) for a in args):
            flags = tuple(str(a) for a in args)
        else:
            raise ValueError(
                f"variant {name!r} in {str(path)!r}: flags must be a string or a list of strings; got {args!r}."
            )
        variants.append((name, flags))
    return variants


def _cmd_compare(args: argparse.Namespace) -> int:
    # start-up time: the library (torch) loads only when a command needs it
    from featmatch.train.sweep import run_sweep

    specs = _load_variants(args.variants) if args.variants else []
    specs += [_parse_variant(spec) for spec in args.variant]
    if not specs:
        raise ValueError("no variants. Hint: give at least one --variant NAME=FLAGS (or --variants FILE).")
    names = [name for name, _ in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"variant names must be unique; repeated: {repeated}. Hint: rename one of them.")
    try:
        extra = shlex.split(args.train_args)
    except ValueError as err:
        raise ValueError(f"--train-args {args.train_args!r} cannot be split into flags: {err}.") from err
    # The flags become config overrides here; the library trains and validates them.
    base = _compare_overrides("--train-args", extra, allow_config=True)
    variants = {name: _compare_overrides(f"variant {name!r}", flags) for name, flags in specs}
    try:
        result = run_sweep(
            args.data,
            variants,
            args.seeds,
            args.out,
            steps=args.steps,
            jobs=args.jobs,
            base_overrides=base,
            overwrite=args.overwrite,
            title=args.title,
            descriptions={name: shlex.join(flags) for name, flags in specs},
        )
    except KeyboardInterrupt:
        log.warning("compare interrupted; the same command continues it (finished runs are skipped)")
        return 130
    sys.stdout.write(result.table_path.read_text(encoding="utf-8"))
    log.info("wrote %s, %s and %s", result.table_path, result.json_path, result.plot_path)
    return 1 if result.failed else 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``featmatch`` command line; return the exit status (0 ok, 2 usage/config error,
    130 interrupted with a checkpoint saved).

    Example:
        >>> main(["--version"])  # doctest: +SKIP
    """
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors: argparse has printed them
        return int(exit_.code) if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    if unknown:
        sys.stderr.write(_unknown_flags_message(parser, args.command, unknown) + "\n")
        return 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    quiet = bool(getattr(args, "log.quiet", False))
    handler = _configure_logging(logging.WARNING if quiet else logging.INFO)
    commands = {"train": _cmd_train, "sample": _cmd_sample, "eval": _cmd_eval, "compare": _cmd_compare}
    try:
        return commands[args.command](args)
    except (ValueError, InputError, OSError) as err:
        # The user's mistakes (config, data, run directory, checkpoint, paths) in one line; any
        # other exception is a bug in featmatch and keeps its traceback.
        sys.stderr.write(f"featmatch {args.command}: error: {err}\n")
        return 2
    finally:
        log.removeHandler(handler)
