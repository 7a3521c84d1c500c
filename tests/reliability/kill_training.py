"""Kill test: SIGKILL ``numcnn train`` at random moments, including during checkpoint writes, and resume.

Usage::

    python tests/reliability/kill_training.py --kills 50 --seed 0 --workdir /tmp/kills

It first trains one run straight through (the reference), then starts ``numcnn train --dataset digits``
again and again in a subprocess and sends it SIGKILL at a moment drawn from four kinds:

* ``checkpoint-write``: the moment a temporary ``.checkpoint.safetensors.*.tmp`` appears (the atomic write
  has begun and not yet been renamed; on ext4 with fsync this lasts 15-60 ms);
* ``other-write``: the moment any other temporary file appears (config.json at the start of every process,
  history.csv after every epoch, model.safetensors, metrics.json and curves.png at the end);
* ``epoch-end``: 0-60 ms after a new checkpoint replaced the old one (history.csv, curves.png, the next epoch);
* ``uniform``: 0.2-4 s after the start;
* ``startup``: 0-1.2 s after the start (imports, config.json).

After every kill it checks the run directory: every file there is whole (config.json and metrics.json parse,
history.csv reads, curves.png decodes, model.safetensors loads), the checkpoint loads into a model rebuilt
from config.json together with its optimizer state (the slots and step count), its epoch never went back,
and history.csv never runs ahead of it and agrees with the history it holds (history.csv may lag: it is
written after the checkpoint, and rewritten whole at the next epoch end). Then it continues the run with ``numcnn train --resume`` (the
next process, killed in turn: resume, then kill again, chaining); a kill's checkpoint counts as resumed once a
later process printed ``Resuming after epoch N`` for it. A kill before the first checkpoint leaves nothing to
resume: the run starts over in a new directory. A run that finishes must end with exactly the weights of the
reference run (a resumed run is bit-identical to an uninterrupted one). At the end the last run is resumed
without a kill and must finish the same way.

A kill counts as "during a checkpoint write" when a temporary checkpoint file was left behind: SIGKILL lets
``atomic_path`` neither rename nor remove it, so the leftover proves the write was cut.

The children run single-threaded (OMP/OPENBLAS/NUMCNN_NUM_THREADS=1): on a shared machine threads make the
epochs ten times slower and the results are bit-identical for any thread count.

Prints a summary and exits 1 on any failure (0 otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

STRATEGIES = (("checkpoint-write", 0.35), ("other-write", 0.15), ("epoch-end", 0.2), ("uniform", 0.2), ("startup", 0.1))
TEMP = re.compile(r"^\.(?P<target>.+)\.[^.]+\.tmp$")  # atomic_path's mkstemp names: .<name>.<random>.tmp
CHECKPOINT = "checkpoint.safetensors"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=50, help="number of SIGKILLs to deliver (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments (default 0)")
    parser.add_argument("--workdir", help="where the runs go (default: a new temporary directory, removed at the end)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of each run (default 6)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size of the runs (default 128)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds any one process may take (default 300)")
    parser.add_argument("--keep", action="store_true", help="keep --workdir's runs (always kept when given)")
    parser.add_argument("--strategies", help="comma-separated kinds of kill moment to cycle through instead of drawing "
                                             f"them at random (kinds: {', '.join(n for n, _ in STRATEGIES)})")
    return parser.parse_args(argv)


class Child:
    """A ``numcnn train`` subprocess whose output lines are collected as they come."""

    def __init__(self, argv, log):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "NUMCNN_NUM_THREADS": "1"}
        self.argv, self.started = argv, time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "numcnn", *argv], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env=env)
        self.lines, self.log = [], log
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self):
        if self.alive():
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.reader.join(timeout=10)

    def finish(self, timeout):
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.reader.join(timeout=10)

    def output(self) -> str:
        return "\n".join(self.lines)


def temp_files(run_dir: Path) -> set:
    try:
        return {entry.name for entry in os.scandir(run_dir) if TEMP.match(entry.name)}
    except FileNotFoundError:
        return set()


def checkpoint_id(run_dir: Path):
    try:
        st = os.stat(run_dir / CHECKPOINT)
        return (st.st_ino, st.st_mtime_ns)
    except FileNotFoundError:
        return None


def wait_for(child, condition, deadline):
    """Poll fast until ``condition()`` or the child exits or the deadline passes; True when the condition held."""
    while child.alive() and time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.0002)
    return False


def wait_for_a_write(child, run_dir, before, of_checkpoint, deadline, rng):
    """Return while a new temporary file (of the checkpoint, or of another file) exists, so that a kill sent now
    cuts that write; a write that ended before the check is skipped and the next one awaited."""
    seen = set(before)

    def writing():
        return [n for n in temp_files(run_dir) - seen if (TEMP.match(n).group("target") == CHECKPOINT) == of_checkpoint]

    while wait_for(child, lambda: bool(writing()), deadline):
        names = writing()
        if of_checkpoint:
            time.sleep(float(rng.uniform(0, 0.003)))  # somewhere in the 15-60 ms of writing and fsync
        # frozen before the look, so that the write cannot end between the look and the kill
        os.kill(child.process.pid, signal.SIGSTOP)
        if any(name in temp_files(run_dir) for name in names):
            return  # the kill that follows lands in this write (SIGKILL ends a stopped process too)
        os.kill(child.process.pid, signal.SIGCONT)
        seen.update(names)  # that write ended in between: wait for the next one


# -- checks of a run directory ------------------------------------------------------------------------------------


def check_run_dir(run_dir: Path, previous_epoch):
    """Every file whole, the checkpoint loadable with its optimizer state. Returns (epoch or None, problems)."""
    from PIL import Image

    from numcnn import losses
    from numcnn.io import load_model, model_from_config
    from numcnn.app.runs import read_config, read_history_csv, read_settings
    from numcnn.training import load_checkpoint, restore_checkpoint

    problems = []
    if not (run_dir / "config.json").exists():
        if (run_dir / CHECKPOINT).exists():
            problems.append("a checkpoint without config.json")
        return None, problems
    try:
        config = read_config(run_dir)
    except Exception as e:  # noqa: BLE001 - anything here is a finding
        return None, [f"config.json unreadable: {type(e).__name__}: {e}"]
    epoch, saved_history = None, None
    if (run_dir / CHECKPOINT).exists():
        try:
            arrays, meta = load_checkpoint(run_dir / CHECKPOINT)
            epoch, saved_history = meta["epoch"], meta["history"]
            model = model_from_config(config["model"], config["dataset"]["input_shape"])
            model.compile(read_settings(run_dir).make_optimizer(1), losses.SparseCategoricalCrossentropy(from_logits=True))
            restore_checkpoint(run_dir / CHECKPOINT, model, np.random.default_rng())
            for name, value in {**model.params, **model.state}.items():
                if not np.array_equal(value, arrays[f"model/{name}"]):
                    problems.append(f"checkpoint array {name} not restored")
            state = meta.get("optimizer", {}).get("state", {})
            if model.optimizer.iterations != state.get("iterations") or not model.optimizer.slots:
                problems.append(f"optimizer state not restored: {model.optimizer.iterations} steps, "
                                f"{len(model.optimizer.slots)} slot sets")
        except Exception as e:  # noqa: BLE001
            problems.append(f"checkpoint does not load: {type(e).__name__}: {e}")
    if epoch is not None and previous_epoch is not None and epoch < previous_epoch:
        problems.append(f"the checkpoint went back from epoch {previous_epoch} to {epoch}")
    if (run_dir / "history.csv").exists():
        # written after the checkpoint at each epoch end, and rewritten whole at the next one after a resume:
        # after kills it may lag behind the checkpoint, never run ahead of it or disagree with it
        try:
            history = read_history_csv(run_dir / "history.csv")
            rows = len(history.get("epoch", []))
            if epoch is not None and rows > epoch:
                problems.append(f"history.csv has {rows} epochs, the checkpoint {epoch}")
            elif saved_history is not None:
                for key, values in history.items():
                    if key != "epoch" and values != [float(v) for v in saved_history.get(key, [])][:len(values)]:
                        problems.append(f"history.csv column {key} disagrees with the checkpoint's history")
        except Exception as e:  # noqa: BLE001
            problems.append(f"history.csv unreadable: {type(e).__name__}: {e}")
    if (run_dir / "curves.png").exists():
        try:
            with Image.open(run_dir / "curves.png") as png:
                png.load()
        except Exception as e:  # noqa: BLE001
            problems.append(f"curves.png unreadable: {type(e).__name__}: {e}")
    for name in ("metrics.json",):
        if (run_dir / name).exists():
            try:
                json.loads((run_dir / name).read_text())
            except Exception as e:  # noqa: BLE001
                problems.append(f"{name} unreadable: {type(e).__name__}: {e}")
    if (run_dir / "model.safetensors").exists():
        try:
            load_model(run_dir / "model.safetensors")
        except Exception as e:  # noqa: BLE001
            problems.append(f"model.safetensors does not load: {type(e).__name__}: {e}")
    return epoch, problems


def same_weights(run_dir: Path, reference: Path):
    from numcnn.io import load_arrays

    mine, _ = load_arrays(run_dir / "model.safetensors")
    theirs, _ = load_arrays(reference / "model.safetensors")
    differ = sorted(k for k in theirs if k not in mine or not np.array_equal(mine[k], theirs[k]))
    return not differ and sorted(mine) == sorted(theirs), differ


# -- the kill loop -------------------------------------------------------------------------------------------------


def run(args) -> dict:
    rng = np.random.default_rng(args.seed)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="numcnn-kills-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = ["--dataset", "digits", "--model", "simple", "--epochs", str(args.epochs), "--batch-size",
                str(args.batch_size), "--progress", "lines"]
    summary = {"kills": 0, "by_strategy": {name: 0 for name, _ in STRATEGIES}, "during_checkpoint_write": 0,
               "during_other_write": 0, "before_first_checkpoint": 0, "with_checkpoint": 0, "loads_ok": 0,
               "resumes_ok": 0, "runs_finished": 0, "finished_identical": 0, "stale_temp_files": 0,
               "failures": [], "notes": []}

    def fail(message):
        summary["failures"].append(message)
        print(f"FAILURE: {message}", flush=True)

    # the reference: one run straight through
    reference = workdir / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    child = Child(["train", *settings, "--out", str(reference)], print)
    child.finish(args.timeout)
    if child.process.returncode != 0:
        fail(f"the reference run failed ({child.process.returncode}): {child.output()[-500:]}")
        return summary
    print(f"reference run: {time.monotonic() - child.started:.1f} s", flush=True)

    index, run_dir, resume = 0, workdir / "run0", False
    shutil.rmtree(run_dir, ignore_errors=True)
    pending = []  # kills whose checkpoint no later process has resumed from yet: (kill number, epoch)
    epoch = None
    names = [name for name, _ in STRATEGIES]
    weights = [w for _, w in STRATEGIES]
    cycle = args.strategies.split(",") if args.strategies else []
    if set(cycle) - set(names):
        raise SystemExit(f"unknown --strategies {sorted(set(cycle) - set(names))}; kinds: {names}")
    attempt = 0

    def finished_run(child):
        nonlocal index, run_dir, resume, epoch
        summary["runs_finished"] += 1
        _, problems = check_run_dir(run_dir, epoch)
        for problem in problems:
            fail(f"{run_dir.name} after it finished: {problem}")
        identical, differ = same_weights(run_dir, reference)
        if identical:
            summary["finished_identical"] += 1
        else:
            fail(f"{run_dir.name} finished with other weights than the reference run: {differ[:4]}")
        index += 1
        run_dir, resume, epoch = workdir / f"run{index}", False, None

    def note_resume(child, expected_epoch):
        """Mark pending kills resumed when the child said 'Resuming after epoch N'."""
        said = [int(m.group(1)) for line in child.lines for m in [re.match(r"Resuming after epoch (\d+)", line)] if m]
        if said:
            if expected_epoch is not None and said[0] != expected_epoch:
                fail(f"{run_dir.name}: resumed after epoch {said[0]}, the checkpoint holds epoch {expected_epoch}")
            for kill_number, kill_epoch in list(pending):
                if kill_epoch == said[0]:
                    summary["resumes_ok"] += 1
                    pending.remove((kill_number, kill_epoch))

    while summary["kills"] < args.kills:
        argv = ["train", "--resume", str(run_dir), "--epochs", str(args.epochs), "--progress", "lines"] if resume \
            else ["train", *settings, "--out", str(run_dir)]
        strategy = cycle[attempt % len(cycle)] if cycle else names[rng.choice(len(names), p=weights)]
        attempt += 1
        before_temps = temp_files(run_dir)
        epoch_at_start = epoch
        child = Child(argv, print)
        deadline = child.started + args.timeout
        if strategy in ("checkpoint-write", "other-write"):
            wait_for_a_write(child, run_dir, before_temps, strategy == "checkpoint-write", deadline, rng)
        elif strategy == "epoch-end":
            first = checkpoint_id(run_dir)
            if wait_for(child, lambda: checkpoint_id(run_dir) not in (None, first), deadline):
                time.sleep(float(rng.uniform(0, 0.06)))
        else:
            delay = float(rng.uniform(0.2, 4.0) if strategy == "uniform" else rng.uniform(0, 1.2))
            wait_for(child, lambda: time.monotonic() - child.started >= delay, deadline)
        if not child.alive():  # it ended before the kill: a finished run, or an error
            child.finish(args.timeout)
            note_resume(child, epoch_at_start if resume else None)
            if child.process.returncode == 0:
                print(f"{run_dir.name}: finished before the {strategy} kill", flush=True)
                finished_run(child)
            else:
                fail(f"{' '.join(argv[:3])}: exit {child.process.returncode}: {child.output()[-600:]}")
                shutil.rmtree(run_dir, ignore_errors=True)
                index += 1
                run_dir, resume, epoch = workdir / f"run{index}", False, None
            continue
        child.kill()
        summary["kills"] += 1
        summary["by_strategy"][strategy] += 1
        number = summary["kills"]
        note_resume(child, epoch_at_start if resume else None)
        left = temp_files(run_dir) - before_temps
        targets = {TEMP.match(n).group("target") for n in left}
        if CHECKPOINT in targets:
            summary["during_checkpoint_write"] += 1
        if targets - {CHECKPOINT}:
            summary["during_other_write"] += 1
        new_epoch, problems = check_run_dir(run_dir, epoch)
        for problem in problems:
            fail(f"kill {number} ({strategy}): {problem}")
        where = "during a checkpoint write" if CHECKPOINT in targets else (
            f"during a write of {sorted(targets)}" if targets else "")
        print(f"kill {number:3d} ({strategy:16s}) after {time.monotonic() - child.started:5.2f} s {where}: "
              f"checkpoint epoch {new_epoch}", flush=True)
        if new_epoch is None:
            summary["before_first_checkpoint"] += 1
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing to resume: start over in a new directory
            index += 1
            run_dir, resume, epoch = workdir / f"run{index}", False, None
            continue
        summary["with_checkpoint"] += 1
        if not problems:
            summary["loads_ok"] += 1
        pending.append((number, new_epoch))
        epoch, resume = new_epoch, True

    # the last run, resumed without a kill, must finish as the reference did
    if resume:
        child = Child(["train", "--resume", str(run_dir), "--epochs", str(args.epochs), "--progress", "lines"], print)
        child.finish(args.timeout)
        note_resume(child, epoch)
        if child.process.returncode != 0:
            fail(f"the final resume of {run_dir.name} failed ({child.process.returncode}): {child.output()[-600:]}")
        else:
            finished_run(child)
    for kill_number, kill_epoch in pending:
        fail(f"kill {kill_number}: no process resumed from its checkpoint of epoch {kill_epoch}")
    summary["stale_temp_files"] = sum(len(temp_files(d)) for d in workdir.iterdir() if d.is_dir())
    if summary["stale_temp_files"]:
        summary["notes"].append(f"{summary['stale_temp_files']} temporary files of cut writes are left in the run "
                                "directories (SIGKILL stops atomic_path's cleanup; nothing removes them later)")
    if not args.workdir and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary


def print_summary(summary):
    print("\n==== kill test summary ====")
    print(f"kills: {summary['kills']} ({', '.join(f'{k} {v}' for k, v in summary['by_strategy'].items())})")
    print(f"kills during a checkpoint write: {summary['during_checkpoint_write']}")
    print(f"kills during another atomic write (config.json, history.csv, curves.png): {summary['during_other_write']}")
    print(f"kills before the first checkpoint (run started over): {summary['before_first_checkpoint']}")
    print(f"checkpoint loads OK (model + optimizer state): {summary['loads_ok']} of {summary['with_checkpoint']}")
    print(f"resumes OK (a later process resumed from that checkpoint): {summary['resumes_ok']} of "
          f"{summary['with_checkpoint']}")
    print(f"runs finished: {summary['runs_finished']}, bit-identical to the uninterrupted run: "
          f"{summary['finished_identical']}")
    for note in summary["notes"]:
        print(f"note: {note}")
    print(f"failures: {len(summary['failures'])}")
    for failure in summary["failures"]:
        print(f"  - {failure}")
    print("SUMMARY " + json.dumps({k: v for k, v in summary.items() if k != "notes"}), flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    summary = run(args)
    print_summary(summary)
    return 1 if summary["failures"] or summary["kills"] < args.kills else 0


if __name__ == "__main__":
    sys.exit(main())
