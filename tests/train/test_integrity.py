"""Issue 14: non-finite values, checkpoint integrity, full disks, orphaned temporary files, file modes,
and `featmatch eval` reproducing the run's own evaluation."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from collections import namedtuple

import pytest
import torch

import featmatch.metrics
from featmatch import _io
from featmatch.cli import main
from featmatch.train import trainer as trainer_module
from featmatch.train.nonfinite import NONFINITE_EXIT
from featmatch.train.checkpoint import (
    CheckpointError,
    NonFiniteError,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    save_checkpoint,
)

MLP = ["--data", "ring8", "--data-size", "256", "--batch-size", "32", "--model", "mlp",
       "--model-width", "8", "--latent-dim", "4", "--quiet", "--sample-every", "0"]


@pytest.fixture
def fast_metrics(monkeypatch):
    """Stand-in metrics that depend on every generated value (so another noise seed shows)."""

    def evaluate(data, fake, **kwargs):
        return {"fake_mean": float(fake.mean()), "fake_std": float(fake.std())}

    monkeypatch.setattr(featmatch.metrics, "evaluate_samples", evaluate)


def _inject_nan(monkeypatch, at_step, *, once=True):
    """The batch drawn for step ``at_step`` (1-based) is all NaN (once, or every time it comes)."""
    original = trainer_module.Trainer._next_batch
    done = []

    def next_batch(self):
        batch = original(self)
        if self.step == at_step - 1 and not (once and done):
            done.append(self.step)
            return torch.full_like(batch, float("nan"))
        return batch

    monkeypatch.setattr(trainer_module.Trainer, "_next_batch", next_batch)
    return done


def _finite(path):
    state = load_checkpoint(path)
    return all(torch.isfinite(t).all() for key in ("generator", "discriminator", "ema")
               for t in (state[key] or {}).values())


# ------------------------------------------------------------------------------ 2. non-finite values


@pytest.mark.parametrize("log_every", ["1", "5"])
def test_a_nan_stops_the_run_by_default_and_keeps_the_good_checkpoints(tmp_path, monkeypatch, fast_metrics,
                                                                        caplog, log_every):
    run = tmp_path / "run"
    _inject_nan(monkeypatch, 21)
    with caplog.at_level(logging.INFO, logger="featmatch"):
        code = main(["train", *MLP, "--steps", "60", "--checkpoint-every", "5", "--keep-checkpoints", "3",
                     "--log-every", log_every, "--out", str(run)])
    assert code == NONFINITE_EXIT
    names = [p.name for p in list_checkpoints(run)]
    assert names[-1] == "step_00000020.pt" and all(_finite(p) for p in list_checkpoints(run))
    summary = json.loads((run / "summary.json").read_text())
    stopped = summary["stopped"]
    assert stopped["reason"] == "non_finite" and stopped["step"] == (21 if log_every == "1" else 25)
    assert stopped["last_good_checkpoint"].endswith("step_00000020.pt")
    assert "nan" in " ".join(stopped["quantities"]) or "generator" in " ".join(stopped["quantities"])
    assert "non-finite" in caplog.text and "step_00000020.pt" in caplog.text and "--resume" in caplog.text
    assert "done:" not in caplog.text and "stopped after" in caplog.text  # no "done" for a stopped run
    assert "Stopped on non-finite values" in (run / "report.md").read_text()
    # What the monitor advises works: the run resumes from the last good checkpoint.
    monkeypatch.undo()  # no more NaN batches (and the real ring8 metrics, which are quick)
    assert main(["train", "--resume", str(run), "--steps", "22", "--sample-every", "0"]) == 0


def test_continue_never_writes_or_prunes_away_the_last_finite_checkpoint(tmp_path, monkeypatch, fast_metrics):
    run = tmp_path / "run"
    _inject_nan(monkeypatch, 21)
    code = main(["train", *MLP, "--steps", "60", "--checkpoint-every", "5", "--keep-checkpoints", "3",
                 "--log-every", "5", "--on-nonfinite", "continue", "--out", str(run)])
    assert code == 0
    assert [p.name for p in list_checkpoints(run)] == ["step_00000010.pt", "step_00000015.pt",
                                                         "step_00000020.pt"]
    assert all(_finite(p) for p in list_checkpoints(run))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 60 and summary["stopped"] is None
    assert summary["nonfinite"][0]["step"] == 25 and summary["nonfinite"][0]["action"] == "continue"


def test_rollback_restores_the_last_finite_checkpoint_with_a_fresh_data_order(tmp_path, monkeypatch,
                                                                              fast_metrics, caplog):
    run = tmp_path / "run"
    _inject_nan(monkeypatch, 21)
    with caplog.at_level(logging.WARNING, logger="featmatch"):
        code = main(["train", *MLP, "--steps", "30", "--checkpoint-every", "5", "--log-every", "1",
                     "--on-nonfinite", "rollback", "--out", str(run)])
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 30 and summary["stopped"] is None
    assert [(r["from_step"], r["to_step"]) for r in summary["rollbacks"]] == [(21, 20)]
    assert "Rolled back (1 of at most 3)" in caplog.text
    assert list_checkpoints(run)[-1].name == "step_00000030.pt" and _finite(list_checkpoints(run)[-1])
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "loss/d" in line]
    assert steps == list(range(1, 31))  # the diverged step's row went with the rollback
    assert "Rolled back 1 time(s)" in (run / "report.md").read_text()


def test_rollbacks_are_bounded(tmp_path, monkeypatch, fast_metrics):
    run = tmp_path / "run"
    _inject_nan(monkeypatch, 21, once=False)
    code = main(["train", *MLP, "--steps", "30", "--checkpoint-every", "5", "--log-every", "1",
                 "--on-nonfinite", "rollback", "--max-rollbacks", "2", "--out", str(run)])
    assert code == NONFINITE_EXIT
    summary = json.loads((run / "summary.json").read_text())
    assert len(summary["rollbacks"]) == 2 and "already rolled back 2 time(s)" in summary["stopped"]["message"]
    assert list_checkpoints(run)[-1].name == "step_00000020.pt"


def _poison_newest(run):
    """Rewrite the run's newest checkpoint with NaN in G's weights (as an older featmatch wrote it)."""
    path = list_checkpoints(run)[-1]
    state = load_checkpoint(path)
    for key in ("generator", "ema"):
        first = next(iter(state[key]))
        state[key][first] = torch.full_like(state[key][first], float("nan"))
    save_checkpoint(state, path)  # no finite= check: what featmatch wrote before this fix
    return path


def test_save_checkpoint_refuses_non_finite_weights_and_writes_nothing(tmp_path):
    good = save_checkpoint({"step": 1, "generator": {"w": torch.ones(2)}}, checkpoint_path(tmp_path, 1))
    with pytest.raises(NonFiniteError, match=r"refusing to write .*step_00000002.pt.*generator.w") as caught:
        save_checkpoint({"step": 2, "generator": {"w": torch.tensor([1.0, float("inf")])}},
                        checkpoint_path(tmp_path, 2), finite=["generator"])
    assert caught.value.names == ["generator.w"]
    assert sorted(p.name for p in good.parent.iterdir()) == [good.name]


def test_resume_sample_and_eval_refuse_non_finite_weights(tmp_path, fast_metrics, capsys):
    run = tmp_path / "run"
    assert main(["train", *MLP, "--steps", "4", "--checkpoint-every", "2", "--log-every", "2",
                 "--out", str(run)]) == 0
    bad = _poison_newest(run)
    capsys.readouterr()
    # sample given the file: a clear error; given the run directory: the previous checkpoint.
    assert main(["sample", "--checkpoint", str(bad), "--n", "8", "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err
    assert "step_00000004.pt" in err and "non-finite" in err and "earlier checkpoint" in err
    assert main(["sample", "--checkpoint", str(run), "--n", "8", "--out", str(tmp_path / "s.npy")]) == 0
    assert "Falling back to the previous checkpoint (step_00000002.pt)" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(run)]) == 0
    assert bad.is_file()  # reading a run never renames its files
    # resume falls back as well, and keeps the bad file aside.
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0
    assert (run / "checkpoints" / "step_00000004.pt.bad").is_file()
    assert all(_finite(p) for p in list_checkpoints(run))


def test_eval_json_is_valid_when_a_metric_is_not_finite(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    monkeypatch.setattr(featmatch.metrics, "evaluate_samples", lambda data, fake, **kw: {"a": 1.0, "b": float("nan")})
    assert main(["train", *MLP, "--steps", "2", "--log-every", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--out", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    strict = json.loads(out, parse_constant=lambda name: pytest.fail(f"invalid JSON constant {name}"))
    assert strict["a"] == 1.0 and strict["b"] is None and "nan" in strict["non_finite"]["b"]
    assert out.endswith("}\n") and (tmp_path / "m.json").read_text() == out


# ------------------------------------------------------------------------------ 3. integrity


def _flip_inside_tensor(path, tensor):
    """Flip one bit in the middle of ``tensor``'s bytes inside the file (torch.load still accepts it)."""
    data = bytearray(path.read_bytes())
    needle = tensor.contiguous().numpy().tobytes()
    at = data.find(needle)
    assert at > 0
    data[at + len(needle) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_bit_flip_that_torch_load_accepts_is_caught(tmp_path):
    weights = torch.linspace(-1, 1, 4096)
    path = save_checkpoint({"step": 1, "ema": {"w": weights}}, checkpoint_path(tmp_path, 1))
    _flip_inside_tensor(path, weights)
    loaded = torch.load(path, weights_only=True)  # torch itself sees nothing wrong
    assert not torch.equal(loaded["ema"]["w"], weights)
    with pytest.raises(CheckpointError, match=r"step_00000001.pt' is corrupt: its contents do not match its checksum"):
        load_checkpoint(path)


def test_a_flipped_number_outside_the_tensors_is_caught_too(tmp_path):
    path = save_checkpoint({"step": 1, "lr": 0.000123456789}, checkpoint_path(tmp_path, 1))
    data = path.read_bytes()
    import struct

    packed = struct.pack(">d", 0.000123456789)  # pickle stores floats big-endian
    assert packed in data
    path.write_bytes(data.replace(packed, struct.pack(">d", 0.000123456788)))
    assert torch.load(path, weights_only=True)["lr"] == 0.000123456788
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(path)


def test_version_1_checkpoints_still_load_without_the_check(tmp_path, caplog):
    path = checkpoint_path(tmp_path, 1)
    path.parent.mkdir(parents=True)
    torch.save({"format": "featmatch.checkpoint", "version": 1, "step": 1, "w": torch.ones(2)}, path)
    with caplog.at_level(logging.INFO, logger="featmatch"):
        assert load_checkpoint(path)["step"] == 1
    assert "written before checksums" in caplog.text


def test_only_a_bad_checkpoint_does_not_claim_a_fallback(tmp_path, caplog):
    path = save_checkpoint({"step": 1}, checkpoint_path(tmp_path, 1))
    path.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="featmatch"), pytest.raises(CheckpointError, match="no usable"):
        load_latest(tmp_path, lambda s, p: None)
    assert "Falling back" not in caplog.text and "No older checkpoint to fall back to" in caplog.text


def test_corrupt_checkpoints_in_resume_sample_and_eval(tmp_path, fast_metrics, capsys):
    run = tmp_path / "run"
    assert main(["train", *MLP, "--steps", "4", "--checkpoint-every", "2", "--log-every", "2", "--ema", "0.9",
                 "--out", str(run)]) == 0
    newest = list_checkpoints(run)[-1]
    ema = load_checkpoint(newest)["ema"]
    big = max(ema.values(), key=lambda t: t.numel())
    _flip_inside_tensor(newest, big)
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(newest), "--n", "4", "--out", str(tmp_path / "a.npy")]) == 2
    assert "corrupt" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(newest)]) == 2
    assert main(["eval", "--checkpoint", str(run)]) == 0
    assert "Falling back to the previous checkpoint" in capsys.readouterr().err
    # An unreadable newest file: sample and eval on the run directory fall back as resume does.
    shutil.copy(newest, tmp_path / "flipped.pt")
    newest.write_bytes(newest.read_bytes()[:100])
    assert main(["sample", "--checkpoint", str(run), "--n", "4", "--out", str(tmp_path / "b.npy")]) == 0
    shutil.copy(tmp_path / "flipped.pt", newest)
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0
    err = capsys.readouterr().err
    assert "checksum" in err and "Falling back" in err
    assert (run / "checkpoints" / "step_00000004.pt.bad").is_file()


# ------------------------------------------------------------------------------ 4. full disk, orphans


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4736 vs 4624"),
    OSError(28, "No space left on device"),
])
def test_a_full_disk_is_one_clear_line_and_the_old_checkpoint_stays(tmp_path, monkeypatch, error):
    path = save_checkpoint({"step": 1, "w": torch.ones(3)}, checkpoint_path(tmp_path, 1))
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise error

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10_000, 9_000, 1_000))
    with pytest.raises(_io.DiskFullError) as caught:
        save_checkpoint({"step": 2, "w": torch.ones(3)}, checkpoint_path(tmp_path, 2))
    message = str(caught.value)
    assert "\n" not in message and message.startswith("disk full: cannot write")
    assert "step_00000002.pt" in message and "1000 bytes free" in message and "Hint:" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left


def test_the_cli_reports_a_full_disk_in_one_line(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4736 vs 4624")

    monkeypatch.setattr(torch, "save", full)
    assert main(["train", *MLP, "--steps", "2", "--log-every", "1", "--out", str(tmp_path / "run")]) != 0
    err = capsys.readouterr().err
    assert "disk full: cannot write" in err and "free on" in err and "Traceback" not in err


def test_temporary_files_of_killed_writes_are_removed_on_resume(tmp_path, fast_metrics):
    run = tmp_path / "run"
    assert main(["train", *MLP, "--steps", "2", "--checkpoint-every", "2", "--log-every", "1",
                 "--out", str(run)]) == 0
    folder = run / "checkpoints"
    orphans = [folder / ".step_00000004.pt.k2j4h5g6.tmp", folder / ".step_00000006.pt.0123456789abcdef.tmp",
               run / ".summary.json.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half a checkpoint")
    keep = [folder / "notes.tmp", run / ".my_notes.abcdefgh.tmp"]
    for path in keep:
        path.write_text("mine")
    assert main(["train", "--resume", str(run), "--steps", "4"]) == 0
    assert not any(p.exists() for p in orphans)
    assert all(path.read_text() == "mine" for path in keep)


# ------------------------------------------------------------------------------ 8. files and outputs


def test_every_output_gets_the_mode_of_a_plain_write(tmp_path, fast_metrics):
    old = os.umask(0o022)
    try:
        run = tmp_path / "run"
        assert main(["train", *MLP, "--steps", "2", "--log-every", "1", "--sample-every", "2",
                     "--out", str(run)]) == 0
        from featmatch.metrics.classifier import _save_atomic

        _save_atomic(torch.nn.Linear(2, 2), tmp_path / "clf.pt")  # the cached classifier's writer
        assert main(["sample", "--checkpoint", str(run), "--n", "4", "--out", str(tmp_path / "s.npy")]) == 0
        assert main(["eval", "--checkpoint", str(run), "--out", str(tmp_path / "m.json")]) == 0
    finally:
        os.umask(old)
    files = [p for p in run.rglob("*") if p.is_file() and p.name != "train.log"]
    files += [tmp_path / "clf.pt", tmp_path / "s.npy", tmp_path / "m.json"]
    names = {p.name for p in files}
    assert {"report.md", "losses.png", "step_000002.png", "step_00000002.pt", "config.yaml",
            "summary.json"} <= names
    modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert set(modes.values()) == {"0o644"}, modes


def test_eval_reproduces_the_runs_final_evaluation_by_default(tmp_path, fast_metrics, capsys):
    run = tmp_path / "run"
    assert main(["train", *MLP, "--steps", "3", "--log-every", "1", "--ema", "0.9", "--out", str(run)]) == 0
    expected = json.loads((run / "summary.json").read_text())["metrics"]
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run)]) == 0
    assert json.loads(capsys.readouterr().out) == expected
    assert main(["eval", "--checkpoint", str(run), "--seed", "5"]) == 0
    assert json.loads(capsys.readouterr().out) != expected
