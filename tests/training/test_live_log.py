"""live.jsonl: what `numcnn train` appends while it trains, and how a watcher tells running, finished and killed apart."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from numcnn.app.cli import main
from numcnn.training.live_log import SILENT_SECONDS, LiveLog, read_live_log


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("live") / "run"
    assert main(["train", "--out", str(out), "--progress", "quiet", "--epochs", "2", "--batch-size", "64"]) == 0
    return out


def test_a_finished_run_logs_start_steps_epochs_and_its_test_metrics(run):
    log = records(run / "live.jsonl")
    assert [r["event"] for r in log][0] == "start" and log[-1]["event"] == "end"
    start, end = log[0], log[-1]
    assert start["pid"] == os.getpid() and start["epochs"] == 2 and start["initial_epoch"] == 0
    steps = [r for r in log if r["event"] == "step"]
    metrics = json.loads((run / "metrics.json").read_text())
    last = -(-metrics["train_samples"] // 64) - 1  # each epoch's last step is always there
    assert start["steps"] == last + 1 and {(r["epoch"], r["step"]) for r in steps} >= {(0, last), (1, last)}
    with open(run / "history.csv") as f:
        history = list(csv.DictReader(f))
    epochs = [r for r in log if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    for record, row in zip(epochs, history):
        assert record["logs"]["loss"] == pytest.approx(float(row["loss"]), rel=1e-6)
        assert record["logs"]["accuracy"] == pytest.approx(float(row["accuracy"]), rel=1e-6)
    last_steps = [r for r in steps if r["step"] == last]
    for step, epoch in zip(last_steps, epochs):  # the last step's running means are the epoch's
        assert step["loss"] == pytest.approx(epoch["logs"]["loss"], rel=1e-6)
    assert end["status"] == "finished" and end["metrics"]["test_accuracy"] == metrics["test_accuracy"]
    times = [r["time"] for r in log]
    assert times == sorted(times)
    status = read_live_log(run / "live.jsonl")
    assert status.status == "finished" and len(status.epochs) == 2 and status.end == end


def test_a_diverged_run_ends_stopped_with_the_reason(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--progress", "quiet", "--epochs", "1", "--optimizer", "sgd", "--lr", "1e30"]) == 3
    status = read_live_log(out / "live.jsonl")
    assert status.status == "stopped" and "diverged" in status.end["reason"]


def test_a_killed_run_is_told_from_a_running_one(tmp_path):
    """A train process killed by SIGKILL after its first epoch: running before, killed after, with
    the epoch it finished; a resume appends a new start and replaces the epochs it does again."""
    out = tmp_path / "run"
    code = ("import sys; from numcnn.app.cli import main; "
            f"sys.exit(main(['train', '--out', {str(out)!r}, '--progress', 'quiet', '--epochs', '200']))")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 120
        while time.time() < deadline and child.poll() is None:
            status = read_live_log(out / "live.jsonl")
            if status.epochs:
                break
            time.sleep(0.05)
        assert status.status == "running" and status.start["pid"] == child.pid
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    killed = read_live_log(out / "live.jsonl")
    assert killed.status == "killed" and killed.end is None and killed.epochs
    done = len(killed.epochs)
    assert main(["train", "--resume", str(out), "--epochs", str(done + 1), "--progress", "quiet"]) == 0
    resumed = read_live_log(out / "live.jsonl")
    assert resumed.status == "finished" and resumed.start["initial_epoch"] == done
    assert [r["epoch"] for r in resumed.epochs] == list(range(done + 1))


def test_silence_means_dead_even_when_the_pid_lives(tmp_path):
    """A pid that lives (reused, or the process hangs) but a log silent past SILENT_SECONDS: killed."""
    clock = [1000.0]
    log = LiveLog(tmp_path / "live.jsonl", clock=lambda: clock[0])
    log._write("start", pid=os.getpid(), host=os.uname().nodename, epochs=1, steps=1, initial_epoch=0)
    assert read_live_log(tmp_path / "live.jsonl", now=1000.0 + SILENT_SECONDS - 1).status == "running"
    assert read_live_log(tmp_path / "live.jsonl", now=1000.0 + SILENT_SECONDS + 1).status == "killed"


def test_the_heartbeat_fills_silences_and_a_torn_last_line_is_skipped(tmp_path, monkeypatch):
    import numcnn.training.live_log as live_log

    monkeypatch.setattr(live_log, "HEARTBEAT_SECONDS", 0.05)
    path = tmp_path / "live.jsonl"
    log = LiveLog(path)

    class State:
        epochs, steps, resume, epoch = 1, 1, None, 0

    log.set_state(State())
    log.on_train_begin()
    time.sleep(0.5)
    log.finish("finished", metrics={"test_accuracy": 0.5, "test_loss": float("nan")})
    beats = [r for r in records(path) if r["event"] == "heartbeat"]
    assert len(beats) >= 3
    assert records(path)[-1]["metrics"] == {"test_accuracy": 0.5, "test_loss": None}  # JSON has no NaN
    with open(path, "a") as f:
        f.write('{"event": "end", "sta')  # a writer cut mid-line
    assert read_live_log(path).status == "finished"
    assert read_live_log(tmp_path / "none.jsonl").status == "none"
