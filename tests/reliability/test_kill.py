"""The kill test in the normal suite: a few SIGKILLs (two during checkpoint writes), every checkpoint loads and resumes.

``kill_training.py --kills 50`` is the full run (a few minutes); here 4 kills, at an epoch end, in a checkpoint
write, in another file's write (config.json at the start of the resumed process) and at a random moment, in
about 25 s.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from numcnn.app.cli import main

SCRIPT = Path(__file__).with_name("kill_training.py")


def run_script(*args, timeout=600):
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert lines, f"no summary (exit {result.returncode}):\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result, json.loads(lines[-1][len("SUMMARY "):])


def test_sigkill_at_random_moments_and_during_checkpoint_writes_then_resume(tmp_path):
    result, summary = run_script("--kills", "4", "--strategies", "epoch-end,checkpoint-write,other-write,uniform",
                                 "--workdir", str(tmp_path), "--epochs", "4")
    assert summary["failures"] == [], summary["failures"]
    assert result.returncode == 0
    assert summary["kills"] == 4
    assert summary["by_strategy"]["checkpoint-write"] == summary["by_strategy"]["other-write"] == 1
    assert summary["during_checkpoint_write"] >= 1  # a cut write leaves its temporary file: it landed mid-write
    assert summary["during_other_write"] >= 1
    assert summary["with_checkpoint"] + summary["before_first_checkpoint"] == 4
    assert summary["loads_ok"] == summary["with_checkpoint"] == summary["resumes_ok"]
    assert summary["runs_finished"] >= 1 and summary["finished_identical"] == summary["runs_finished"]
    assert "==== kill test summary ====" in result.stdout


def test_the_script_fails_when_a_checkpoint_is_broken(tmp_path, monkeypatch):
    """The checks can fail: a checkpoint cut in half is reported, with the reason."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import kill_training
    finally:
        sys.path.remove(str(SCRIPT.parent))
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--batch-size", "256", "--out", str(run), "--progress", "quiet"]) == 0
    epoch, problems = kill_training.check_run_dir(run, None)
    assert epoch == 1 and problems == []
    checkpoint = run / "checkpoint.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    epoch, problems = kill_training.check_run_dir(run, 2)
    assert epoch is None and any("checkpoint does not load" in p for p in problems)
    (run / "history.csv").write_text("epoch,loss\n1,0.5\n2,")
    (run / "curves.png").write_bytes(b"\x89PNG\r\n")
    _, problems = kill_training.check_run_dir(run, None)
    assert any("curves.png unreadable" in p for p in problems)


def test_a_run_killed_in_its_first_epoch_can_be_resumed_and_restarted(tmp_path, capsys):
    """A kill (or Ctrl-C) in epoch 1 leaves config.json and no checkpoint: --resume starts it from the first
    epoch with its settings, and the same --out takes the directory for a new run."""
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--batch-size", "256", "--out", str(run), "--progress", "quiet"]) == 0
    for path in run.iterdir():  # what a kill in epoch 1 leaves: config.json only
        if path.name != "config.json":
            path.unlink()
    again = tmp_path / "again"
    shutil.copytree(run, again)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "1", "--progress", "quiet"]) == 0, capsys.readouterr().err
    assert "stopped before its first checkpoint; training starts from the first epoch" in capsys.readouterr().out
    assert main(["train", "--out", str(again), "--epochs", "1", "--batch-size", "256", "--progress", "quiet"]) == 0
    for directory in (run, again):
        assert (directory / "model.safetensors").exists() and (directory / "checkpoint.safetensors").exists()


def test_temporary_files_of_a_cut_write_are_cleaned_up_later(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--batch-size", "256", "--out", str(run), "--progress", "quiet"]) == 0
    stale = run / ".checkpoint.safetensors.k1ll3d.tmp"
    stale.write_bytes(os.urandom(4096))  # what SIGKILL during the checkpoint write of epoch 2 leaves
    assert main(["train", "--resume", str(run), "--epochs", "2", "--progress", "quiet"]) == 0
    assert not stale.exists(), sorted(p.name for p in run.iterdir())
