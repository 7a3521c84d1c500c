"""The live log of a training run, ``live.jsonl``: what a watcher (``numcnn explain``) reads while it trains.

One JSON object per line, appended and flushed as training goes, each line written whole
by one ``write`` (a reader may see a last line cut short and skips it). Every record has
``event`` and ``time`` (seconds since the epoch):

* ``start``: ``pid``, ``host``, ``epochs`` (in all), ``steps`` (per epoch), ``initial_epoch``
  (non-zero when resumed; a resumed run appends a new ``start``);
* ``step``: ``epoch`` and ``step`` (from 0), and the epoch's running means so far (``loss``,
  ``accuracy``): at most :data:`STEPS_PER_SECOND` a second, and always an epoch's last step;
* ``epoch``: ``epoch`` (from 0) and its ``logs`` (those of ``history.csv``), written after the
  epoch's checkpoint is on disk, so a watcher can load it;
* ``heartbeat``: written every :data:`HEARTBEAT_SECONDS` when nothing else was (a long epoch);
* ``end``: ``status`` (``finished``, ``stopped``: diverged or stopped early, ``failed``: an
  error, ``interrupted``: Ctrl+C) with ``reason``, and for ``finished`` the test ``metrics``.

A run with no ``end`` after its last ``start`` is running while its process lives and keeps
writing; a killed one (SIGKILL, power loss) leaves neither: :func:`read_live_log` tells them apart.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from .callbacks import Callback

#: the file name in a run directory
LIVE_LOG = "live.jsonl"
#: a step record at most this often (the epoch's last step always)
STEPS_PER_SECOND = 10
#: the longest silence of a running writer
HEARTBEAT_SECONDS = 5.0
#: a run without an ``end`` whose log is silent this long is taken as dead, whatever its pid
SILENT_SECONDS = 6 * HEARTBEAT_SECONDS


def _finite(value):
    """JSON has no NaN or infinity: a non-finite number is written as null."""
    value = float(value)
    return value if math.isfinite(value) else None


class LiveLog(Callback):
    """Appends the run's progress to ``path`` (see the module's docstring for the records).

    ``finish(status, reason, metrics)`` writes the ``end`` record; the application calls it
    once the run's files are written (the last ``epoch`` record comes earlier, with its checkpoint).
    """

    def __init__(self, path, *, clock=time.time):
        self.path, self.clock = path, clock
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._last_step = -math.inf
        self._stop = threading.Event()
        self._beat = None

    def _write(self, event, **fields) -> None:
        now = self.clock()
        line = json.dumps({"event": event, "time": now, **fields}, separators=(",", ":"), allow_nan=False) + "\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            self._last_write = now

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS / 5):
            if self.clock() - self._last_write >= HEARTBEAT_SECONDS:
                self._write("heartbeat")

    def on_train_begin(self, logs=None):
        state = self.state  # fit sets it before any hook
        initial = state.resume.epoch if state.resume is not None else 0
        self._write("start", pid=os.getpid(), host=socket.gethostname(), epochs=state.epochs, steps=state.steps,
                    initial_epoch=initial)
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="numcnn-live-log", daemon=True)
        self._beat.start()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        last = batch == self.state.steps - 1
        if not last and now - self._last_step < 1.0 / STEPS_PER_SECOND:
            return
        self._last_step = now
        self._write("step", epoch=self.state.epoch, step=batch, **{k: _finite(v) for k, v in (logs or {}).items()})

    def on_epoch_end(self, epoch, logs=None):
        self._write("epoch", epoch=epoch, logs={k: _finite(v) for k, v in (logs or {}).items()})

    def on_train_end(self, logs=None):
        self._stop.set()

    def finish(self, status, reason=None, metrics=None) -> None:
        """Write the ``end`` record: ``status`` is finished, stopped, failed or interrupted."""
        self._stop.set()
        fields = {"status": status, "reason": reason}
        if metrics is not None:
            fields["metrics"] = {k: _finite(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                                 for k, v in metrics.items()}
        self._write("end", **fields)


@dataclass
class LiveStatus:
    """What :func:`read_live_log` found.

    ``status``: ``none`` (no log yet), ``running``, ``killed`` (no ``end``, and the process is
    gone or silent for :data:`SILENT_SECONDS`), or the ``end`` record's status.
    """

    status: str
    steps: list = field(default_factory=list)  # the step records, oldest first
    epochs: list = field(default_factory=list)  # the epoch records, oldest first (a resume replaces re-done ones)
    start: dict | None = None  # the last start record
    end: dict | None = None
    last_time: float | None = None  # the time of the last record


def _alive(pid, host) -> bool | None:
    """Whether process ``pid`` lives; None when it ran on another host (only its log can tell)."""
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_live_log(path, *, now=None) -> LiveStatus:
    """Read a live log; see :class:`LiveStatus`. A missing file gives status ``none``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return LiveStatus("none")
    status = LiveStatus("none")
    for line in data[:data.rfind(b"\n") + 1].splitlines():  # a line still being written waits for the next read
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn line (a crash mid-write on a file system that allows it)
        if not isinstance(record, dict):
            continue
        event = record.get("event")
        status.last_time = record.get("time", status.last_time)
        if event == "start":
            status.start, status.end = record, None
            first = record.get("initial_epoch") or 0
            status.epochs = [e for e in status.epochs if e.get("epoch", 0) < first]
            status.steps = [s for s in status.steps if (s.get("epoch") or 0) < first]
        elif event == "step":
            status.steps.append(record)
        elif event == "epoch":
            status.epochs.append(record)
        elif event == "end":
            status.end = record
    if status.start is None:
        return status
    if status.end is not None:
        status.status = status.end.get("status", "finished")
        return status
    now = time.time() if now is None else now
    alive = _alive(status.start.get("pid"), status.start.get("host"))
    silent = status.last_time is None or now - status.last_time > SILENT_SECONDS
    status.status = "killed" if alive is False or silent else "running"
    return status
