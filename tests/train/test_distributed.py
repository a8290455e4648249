"""DDP on CPU (gloo): 2 processes with batch b equal 1 process with batch 2b; torchrun end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from featmatch.train.checkpoint import list_checkpoints, load_checkpoint
from featmatch.train.trainer import Trainer

sys.path.insert(0, str(Path(__file__).parent))
import _ddp_worker  # noqa: E402

WORKER = Path(__file__).with_name("_ddp_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


@pytest.mark.subprocess
def test_two_processes_match_one_process_with_the_whole_batch(tmp_path):
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(tmp_path)],
            env=_env(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
                     MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for rank in range(2)
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for statistic in _ddp_worker.STATISTICS:
        trainer = Trainer(_ddp_worker.make_config(statistic))
        x, z = _ddp_worker.global_batch(trainer)
        single = _ddp_worker.generator_step(trainer, x, z)
        for rank in ranks:
            got = rank[statistic]
            # The synchronised statistics make each rank's FM loss the global one.
            torch.testing.assert_close(got["fm"], single["fm"], rtol=1e-5, atol=1e-7)
            # DDP's averaged gradients equal the one-process gradients (FM + adversarial terms).
            for a, b in zip(got["g_grads"], single["g_grads"], strict=True):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
            # The generator step gave the discriminator no gradient at all.
            assert all(g is None for g in got["d_grads"])


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "featmatch", "train", *args]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=180)


def _train_2_steps_then_resume_to_3(run: Path, *first_args: str) -> tuple[dict, dict]:
    """torchrun 2 steps into ``run``, resume it to 3; checks rank 0 alone wrote; returns (last checkpoint, summary)."""
    common = ["--quiet", "--log-every", "1", "--sample-every", "0", "--checkpoint-every", "2"]
    first = _torchrun(*first_args, "--steps", "2", "--out", str(run), *common)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _torchrun("--resume", str(run), "--steps", "3", *common)
    assert second.returncode == 0, second.stderr[-3000:]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss/d" in r] == [1, 2, 3]  # rank 0 alone writes
    state = load_checkpoint(list_checkpoints(run)[-1])
    assert state["step"] == 3 and state["world_size"] == 2 and len(state["ranks"]) == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    return state, summary


@pytest.mark.slow
@pytest.mark.subprocess
def test_torchrun_trains_writes_once_and_resumes(tmp_path):
    state, _ = _train_2_steps_then_resume_to_3(
        tmp_path / "run", "--data", "ring8", "--data-size", "128", "--batch-size", "8", "--model", "mlp",
        "--model-width", "8", "--latent-dim", "4",
    )
    # Each rank drew its own batches (its own shard) and its own noise.
    assert not torch.equal(state["ranks"][0]["noise"], state["ranks"][1]["noise"])


def _tiny_pairs(path: Path) -> Path:
    """A user's paired .npz without labels (so no domain classifier is trained): 64 pairs of 8x8 images."""
    import numpy as np

    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, size=(64, 1, 8, 8)).astype(np.float32)
    np.savez(path, condition=target[:, :, ::2, ::2].copy(), target=target)
    return path


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("task", ["conditional", "semi"])
def test_torchrun_trains_and_resumes_the_new_tasks(task, tmp_path):
    """The conditional and semi-supervised tasks under DDP: rank 0 writes, both ranks resume, metrics land."""
    if task == "conditional":
        first_args = ["--data", str(_tiny_pairs(tmp_path / "pairs.npz")), "--fm-preset", "pix2pixhd",
                      "--l1-weight", "10", "--model-width", "8", "--batch-size", "8"]
        expected = {"reconstruction_l1"}
    else:
        first_args = ["--task", "semi", "--data", "digits", "--labels", "2", "--batch-size", "8",
                      "--set", "task_options.sample_metrics=false"]
        expected = {"test_error", "test_errors"}
    _, summary = _train_2_steps_then_resume_to_3(tmp_path / "run", *first_args)
    assert summary["config"]["task"] == task
    assert expected <= set(summary["metrics"]), summary["metrics"]
