"""Callbacks for ``model.fit``, with Keras names and hooks.

A callback overrides any of ``on_train_begin/end(logs)``, ``on_epoch_begin(epoch)``,
``on_epoch_end(epoch, logs)``, ``on_train_batch_end(batch, logs)``; ``self.model``
is the model being trained and ``self.state`` the :class:`~numcnn.training.state.FitState`
of the fit (history, data generator, where a resume starts). Setting
``self.model.stop_training = True``, as in Keras, ends training after the current batch
(``model.stop_training`` is the fit state's flag).
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys

import numpy as np

from ..utils.files import check_suffix, remove_stale_temporaries, write_text_atomic
from ..utils.validation import _short, check_bool, check_int, check_number
from .checkpoint import restore_checkpoint, save_checkpoint
from .state import ResumePoint


class Callback:
    """Base class: every hook does nothing."""

    model = None
    state = None

    def set_model(self, model):
        self.model = model

    def set_state(self, state):
        """The :class:`~numcnn.training.state.FitState` of the fit this callback serves."""
        self.state = state

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"][e]``, ``history.epoch``."""

    def __init__(self):
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _check_monitor(monitor):
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"The `monitor` argument must name a key of the epoch logs, e.g. 'val_loss'. "
                         f"Received: monitor={_short(monitor)}")
    return monitor


def _monitor_mode(monitor, mode):
    if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
        raise ValueError(f"The `mode` argument must be 'auto', 'min' or 'max'. Received: mode={_short(mode)}")
    if mode == "auto":
        mode = "max" if any(k in monitor for k in ("acc", "auc")) else "min"
    return mode


def _monitored(logs, monitor, who):
    if monitor not in (logs or {}):
        raise ValueError(
            f"{who} monitors '{monitor}', which is not in the logs; available: {sorted(logs or {})} "
            "(val_* needs validation data). Received: monitor=" + repr(monitor))
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracies).
        restore_best_weights: at the end, put back the weights of the best epoch.
        start_from_epoch: epochs to wait before counting.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False,
                 start_from_epoch=0, verbose=0):
        self.monitor = _check_monitor(monitor)
        self.min_delta = abs(check_number(min_delta, "min_delta"))
        self.patience = check_int(patience, "patience", 0)
        self.mode = _monitor_mode(monitor, mode)
        self.restore_best_weights = check_bool(restore_best_weights, "restore_best_weights")
        self.start_from_epoch = check_int(start_from_epoch, "start_from_epoch", 0)
        self.verbose = check_int(verbose, "verbose", 0)
        self.stopped_epoch, self.best_epoch = None, None

    def _better(self, value, best):
        return value < best - self.min_delta if self.mode == "min" else value > best + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait, self.best, self.best_weights = 0, math.inf if self.mode == "min" else -math.inf, None
        self.stopped_epoch = self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        value = _monitored(logs, self.monitor, "EarlyStopping")
        if epoch < self.start_from_epoch:
            return
        if self._better(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.copy() for k, v in self.model.named_weights().items()}
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:  # Keras' rule
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch is not None and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping (best {self.monitor} {self.best:.4f} "
                  f"at epoch {self.best_epoch + 1})")
        if self.restore_best_weights and self.best_weights is not None:
            self.model.assign_weights(self.best_weights, "EarlyStopping's best weights")


class ModelCheckpoint(Callback):
    """Save the weights (``.safetensors``) after every epoch, or only when ``monitor`` improves.

    Args:
        filepath: file name; may hold fields of the epoch logs, e.g.
            ``"weights-{epoch:02d}-{val_loss:.3f}.safetensors"`` (``epoch`` counts from 1).
        monitor: the log key compared when ``save_best_only``.
        save_best_only: keep only improvements over the best so far.
        mode: ``"min"``, ``"max"`` or ``"auto"``.
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto", verbose=0):
        self.filepath = check_suffix(filepath, (".safetensors",), "filepath")
        self.monitor, self.save_best_only = _check_monitor(monitor), check_bool(save_best_only, "save_best_only")
        self.verbose = check_int(verbose, "verbose", 0)
        self.mode = _monitor_mode(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = _monitored(logs, self.monitor, "ModelCheckpoint")
            improved = value < self.best if self.mode == "min" else value > self.best
            if not improved:
                return
            self.best = value
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill in the file name ({e}); the logs hold {sorted(logs)}. "
                             f"Received: filepath={self.filepath!r}") from None
        self.model.save_weights(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {path}")


class CSVLogger(Callback):
    """Write every epoch's logs to a CSV file (``epoch`` first, from 0 as Keras), rewritten atomically."""

    def __init__(self, filename, separator=",", append=False):
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"The `separator` argument must be one character. Received: separator={_short(separator)}")
        self.filename, self.separator = os.fspath(filename), separator
        self.append = check_bool(append, "append")

    def on_train_begin(self, logs=None):
        self.rows = []
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                self.rows = list(csv.DictReader(f, delimiter=self.separator))

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, **(logs or {})})
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=keys, delimiter=self.separator, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.filename, out.getvalue())


class TerminateOnNaN(Callback):
    """Stop training when a batch loss is NaN or infinite (the loop never applies that step's update)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.stop_training = True


class BackupAndRestore(Callback):
    """Checkpoint after every epoch; on the next ``fit``, continue from the last checkpoint.

    The checkpoint (``backup_dir/checkpoint.safetensors``, see
    :mod:`numcnn.training.checkpoint`) holds weights, optimizer state, epoch, history
    and random states, so an interrupted run that is restarted ends with the same
    weights as a run that was never interrupted.

    Args:
        backup_dir: directory of the checkpoint.
        delete_checkpoint: remove it when training ends normally (Keras' default).
    """

    filename = "checkpoint.safetensors"

    def __init__(self, backup_dir, delete_checkpoint=True):
        self.backup_dir, self.delete_checkpoint = os.fspath(backup_dir), check_bool(delete_checkpoint, "delete_checkpoint")
        self.path = os.path.join(self.backup_dir, self.filename)

    def on_train_begin(self, logs=None):
        remove_stale_temporaries(self.backup_dir, self.filename)
        if os.path.exists(self.path):
            meta = restore_checkpoint(self.path, self.model, self.state.data_rng)
            self.state.resume = ResumePoint(meta["epoch"], meta["history"])

    def on_epoch_end(self, epoch, logs=None):
        save_checkpoint(self.path, self.model, epoch=epoch + 1, history=self.state.history.history,
                        data_rng=self.state.data_rng)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and not self.state.stop_reason and os.path.exists(self.path):
            os.unlink(self.path)


def _format_logs(logs):
    return " - ".join(f"{k}: {v:.4g}" if k == "learning_rate" else f"{k}: {v:.4f}"
                      for k, v in logs.items() if isinstance(v, float) and k != "seconds")


class ProgbarLogger(Callback):
    """Progress of ``fit``: a bar per epoch (``verbose=1``) and one line per epoch (``verbose`` 1 or 2).

    The bar (tqdm, on stderr) shows the running loss and metrics; the line gives the epoch's
    train and validation values and its time.
    """

    def __init__(self, verbose=1, epochs=1, steps=1):
        self.verbose, self.epochs, self.steps = verbose, epochs, steps
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", unit="batch",
                            leave=False, file=sys.stderr, dynamic_ncols=True)

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix_str(_format_logs(logs or {}), refresh=False)
            self.bar.update(1)

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_epoch_end(self, epoch, logs=None):
        self._close()
        if self.verbose:
            seconds = (logs or {}).get("seconds", 0.0)
            print(f"Epoch {epoch + 1}/{self.epochs} - {seconds:.1f}s - {_format_logs(logs or {})}", flush=True)

    def on_train_end(self, logs=None):
        self._close()


class CallbackList(Callback):
    """Calls every hook of every callback in order."""

    def __init__(self, callbacks, model, state):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_state(state)

    def _call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_train_begin(self, logs=None): self._call("on_train_begin", logs)
    def on_train_end(self, logs=None): self._call("on_train_end", logs)
    def on_epoch_begin(self, epoch, logs=None): self._call("on_epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._call("on_epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._call("on_train_batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._call("on_train_batch_end", batch, logs)
