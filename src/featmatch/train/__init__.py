"""Training: configuration, the training loop, checkpoints, distributed helpers, monitor, report.

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
from featmatch.train.loop import RunDirError, Trainer, load_generator, run_training

__all__ = [
    "DATASET_DEFAULTS",
    "CheckpointError",
    "DataConfig",
    "DistContext",
    "LogConfig",
    "ModelConfig",
    "MonitorConfig",
    "ObjectiveConfig",
    "OptimConfig",
    "RunDirError",
    "TrainConfig",
    "Trainer",
    "build_config",
    "config_from_dict",
    "config_to_dict",
    "init_distributed",
    "load_checkpoint",
    "load_config_file",
    "load_generator",
    "run_training",
    "save_checkpoint",
    "select_device",
    "to_yaml",
]
