"""Training: configuration, tasks, the trainer, checkpoints, distributed helpers, monitor, report.

Example:
    >>> from featmatch.train import build_config
    >>> build_config({"data.name": "ring8"}).model.family
    'mlp2d_benchmark'
"""

from __future__ import annotations

from featmatch.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from featmatch.train.config import (
    DATASET_DEFAULTS,
    DataConfig,
    LogConfig,
    ModelConfig,
    MonitorConfig,
    ObjectiveConfig,
    OptimConfig,
    TrainConfig,
    build_config,
    config_from_dict,
    config_to_dict,
    load_config_file,
    to_yaml,
)
from featmatch.train.distributed import DistContext, init_distributed, select_device
from featmatch.train.rundir import RunDirError
from featmatch.train.tasks import TASKS, Task, get_task, register_task
from featmatch.train.trainer import Trainer, load_generator, run_training

__all__ = [
    "DATASET_DEFAULTS",
    "TASKS",
    "CheckpointError",
    "DataConfig",
    "DistContext",
    "LogConfig",
    "ModelConfig",
    "MonitorConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "RunDirError",
    "Task",
    "TrainConfig",
    "Trainer",
    "build_config",
    "config_from_dict",
    "config_to_dict",
    "get_task",
    "init_distributed",
    "load_checkpoint",
    "load_config_file",
    "load_generator",
    "register_task",
    "run_training",
    "save_checkpoint",
    "select_device",
    "to_yaml",
]
