"""Shared test settings: one thread per process keeps the suite fast on 2-core machines."""

import torch

torch.set_num_threads(1)
