"""Shared test settings.

One thread per process keeps the suite fast on 2-core machines. Tests marked ``subprocess``
(torchrun, ``compare --jobs``, signals) start other processes and take most of the suite's
time: a plain ``python -m pytest -q`` during development leaves them out (they are listed as
deselected), and ``python -m pytest -q --all`` (the README's test command, which CI runs) runs
every test.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

# Real MNIST for the tests that need it: the offline copy beside the repository (../shared/data),
# unless FEATMATCH_DATA already points elsewhere. No test may reach the internet: MNIST's mirrors
# point at a closed loopback port unless a test serves files itself.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "FEATMATCH_DATA" not in os.environ and (SHARED_DATA / "mnist").is_dir():
    os.environ["FEATMATCH_DATA"] = str(SHARED_DATA)
os.environ.setdefault("FEATMATCH_MNIST_MIRRORS", "http://127.0.0.1:9/")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all", action="store_true", default=False,
        help="also run the tests marked 'subprocess' (torchrun, compare --jobs, signals); CI does",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--all"):
        return
    kept = [item for item in items if item.get_closest_marker("subprocess") is None]
    left_out = [item for item in items if item.get_closest_marker("subprocess") is not None]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture(autouse=True)
def _no_leaked_log_handlers():
    """A handler left on the 'featmatch' logger keeps writing to a stream a later test has closed."""
    logger = logging.getLogger("featmatch")
    before = list(logger.handlers)
    yield
    leaked = [h for h in logger.handlers if h not in before]
    for handler in leaked:
        logger.removeHandler(handler)
    assert not leaked, f"the test left logging handlers on the 'featmatch' logger: {leaked}"
