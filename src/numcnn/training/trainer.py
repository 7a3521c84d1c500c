"""The training loop behind ``model.compile`` / ``fit`` / ``evaluate``, and ``predict``.

One training step is the plain loop of the study notes (note 004), spelled with the model API::

    y_pred = model(x, training=True)
    loss, cache = loss_fn.forward(y, y_pred)
    model.backward(loss_fn.backward(cache))
    optimizer.apply(model.grads, model.params)

``model.compile(...)`` makes a :class:`Trainer`: the optimizer, loss and metrics it chose, and
the loop that uses them. Each ``fit`` keeps what it is doing in a
:class:`~numcnn.training.state.FitState` (history, data generator, stop flag and reason,
resume point), which its callbacks share. How the work is shared between processes is a
strategy (:mod:`numcnn.training.strategy`): one process, or the ranks of MPI.

A step whose model output, loss or gradients hold NaN or infinity, or whose update makes the
weights non-finite or changes a weight by more than :data:`MAX_UPDATE` times the largest one
(a learning rate that explodes), is undone (weights, moving statistics and optimizer state as
before it) and training stops, naming the epoch and the step, as Keras' ``TerminateOnNaN``
stops. A finite loss never stops training by its size, however large or sudden.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings

import numpy as np

from ..data.batching import batch_indices
from ..data.folders import ImageFiles
from ..layers.tape import global_batch, inference, input_gradient
from ..utils.validation import _short, allocation_guard, as_array, check_finite, check_int, check_number
from . import losses, optimizers
from . import metrics as numcnn_metrics
from .callbacks import Callback, CallbackList, History, ProgbarLogger
from .state import STAGES, FitState
from .strategy import get_strategy


#: an update that changes a weight by more than this many times the largest weight (or than this, for
#: weights below 1) is undone and stops training: a learning rate that explodes (``--lr 1e8``) makes one
#: at its first step, while a loss, however large or sudden (a batch of outliers), never does by its size
MAX_UPDATE = 1e3


def _check_update(params, before, grads, scratch=None) -> str | None:
    """What is wrong with an optimizer update of ``params`` with ``grads`` (``before``: ``(array, copy)``
    pairs of the params, in order), or None. Every process finds the same: they applied the same update.
    ``scratch``: a float array at least as large as the largest weight, for the differences."""
    changes = []
    for a, copy in before:  # |a - copy| is NaN or inf exactly where an updated weight is (the copy is finite)
        if a.size:
            diff = (np.subtract(a, copy, out=scratch[:a.size].reshape(a.shape))
                    if scratch is not None and scratch.dtype == a.dtype and scratch.size >= a.size else a - copy)
            changes.append(float(np.max(np.abs(diff, out=diff))))
    # a non-finite change is a non-finite weight, or finite ones so far apart that float overflows (exploding)
    if not all(math.isfinite(c) for c in changes) and not all(np.isfinite(p).all() for p in params.values()):
        finite = all(np.isfinite(g).all() for g in grads.values())  # non-finite gradients end here too
        return "non-finite updated weights" if finite else "non-finite gradients"
    change = max((c if not math.isnan(c) else math.inf for c in changes), default=0.0)
    largest = max((max(float(copy.max()), -float(copy.min())) for _, copy in before if copy.size), default=0.0)
    if change > MAX_UPDATE * max(largest, 1.0):
        return f"a weight changed by {change:.3g}, over {MAX_UPDATE:g} x the largest weight: exploding"
    return None


class _Mean:
    """Sample-weighted running means of a dict of values."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, logs, n):
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + v * n
        self.count += n

    def result(self):
        return {k: v / self.count for k, v in self.sums.items()} if self.count else {}


def check_samples(x, y=None, name="x"):
    """``x`` (and ``y``) as arrays of one non-empty batch of samples, with one target per sample. Image
    files (:class:`~numcnn.data.folders.ImageFiles`) stay files: the loop decodes each batch."""
    x = x if isinstance(x, ImageFiles) else as_array(x, name)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"The `{name}` argument must be a non-empty batch of samples. Received: shape {x.shape}")
    if y is not None:
        y = as_array(y, "y")
        if y.ndim == 0 or len(y) != len(x):
            raise ValueError(
                f"The `y` argument must hold one target per sample of `{name}` ({len(x)}). Received: y with shape {y.shape}")
    return x, y


def validation_cut(n, validation_split) -> int:
    """How many of ``n`` samples ``fit`` trains on; the rest, at the end, validate (Keras' rule)."""
    return int(math.floor(n * (1.0 - validation_split)))


def _resolve_verbose(verbose):
    if verbose == "auto":
        interactive = sys.stderr.isatty() and not os.environ.get("CI")
        return 1 if interactive else 2
    if verbose not in (0, 1, 2):
        raise ValueError(f"The `verbose` argument must be 'auto', 0, 1 or 2. Received: verbose={_short(verbose)}")
    return verbose


class Trainer:
    """What ``compile`` chose for a model, and the loop that trains and evaluates it with that.

    Args:
        model: the model to train (a :class:`~numcnn.Model`).
        optimizer: a name (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
            ``"adam"``, ``"adamw"``), a config, or a :mod:`numcnn.optimizers` instance.
        loss: a name (``"sparse_categorical_crossentropy"``, ...), a config, or a
            :mod:`numcnn.losses` instance, e.g. ``SparseCategoricalCrossentropy(from_logits=True)``.
        metrics: list of names, e.g. ``["accuracy"]``.

    Attributes:
        optimizer, loss: the objects chosen.
        metrics: ``[(name, function), ...]``.
        state: the :class:`~numcnn.training.state.FitState` of the last ``fit``.
        data_rng: the Generator of shuffling and augmentation, kept from one ``fit`` to the next.
    """

    def __init__(self, model, optimizer="adam", loss=None, metrics=None):
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss=SparseCategoricalCrossentropy(from_logits=True). "
                             "Received: loss=None")
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"The `metrics` argument must be a list of names, e.g. ['accuracy']. "
                            f"Received: metrics={_short(metrics)}")
        self.model = model
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        self.metrics = [numcnn_metrics.get(m) for m in metrics or []]
        self.data_rng = None
        self.state = None
        self._snapshot_buffers: dict = {}  # id(array) -> (array, its copy): the undo snapshot's buffers
        self._check_buffer = None  # the update check's scratch (:meth:`_scratch`)

    # -- one step ---------------------------------------------------------------------
    def _logs(self, y_true, y_pred, loss_value) -> dict:
        logs = {"loss": float(loss_value)}
        for name, fn in self.metrics:
            logs[name] = fn(y_true, y_pred) / len(y_true)
        return logs

    def _forward_backward(self, x, y, check_targets=False):
        """Forward and backward pass: ``(logs, None, loss)``, or ``(None, stage, loss)`` at the first
        non-finite stage (``loss`` NaN when the output already was not finite). With ``check_targets``,
        ``y`` is checked against the outputs first (``train_on_batch``; ``fit`` checked all of them)."""
        if len(x) == 0:  # a rank's share of a short last batch may be empty: its forward pass still runs, so
            self.model(x, training=True)  # random layers draw for the global batch and stay in step with the others
            return None, None, math.nan
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a diverging step is named below
            y_pred = self.model(x, training=True)
            if check_targets:
                y = self._checked_targets(y, y_pred)
            if not np.isfinite(y_pred).all():
                return None, STAGES[0], math.nan
            loss_value, cache = self.loss.forward(y, y_pred, check=False)
            if not np.isfinite(loss_value):
                return None, STAGES[1], float(loss_value)
            with input_gradient(False):  # nothing needs the gradient of the images
                self.model.backward(self.loss.backward(cache))
        return self._logs(y, y_pred, loss_value), None, float(loss_value)

    def _snapshot(self):
        """Copies of everything one step changes: params, state (moving statistics), optimizer slots; made
        into the same buffers from step to step (the arrays are updated in place, so they stay the same)."""
        optimizer = self.optimizer
        arrays = [*self.model.params.values(), *self.model.state.values(),
                  *(a for slots in optimizer.slots.values() for a in slots.values())]
        kept, pairs = {}, []
        for a in arrays:
            entry = self._snapshot_buffers.get(id(a))
            if entry is None or entry[0] is not a:  # a new array (first step, new slots, a rebuilt model)
                entry = (a, np.empty_like(a))
            np.copyto(entry[1], a)
            kept[id(a)] = entry
            pairs.append(entry)
        self._snapshot_buffers = kept  # only this step's arrays: replaced ones are let go
        return pairs, set(optimizer.slots), optimizer.iterations

    def _scratch(self, params):
        """A float buffer as large as the largest weight, for :func:`_check_update`."""
        size = max((p.size for p in params.values()), default=0)
        dtype = next(iter(params.values())).dtype if params else np.float32
        buffer = self._check_buffer
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._check_buffer = np.empty(size, dtype)
        return buffer

    def _restore(self, snapshot):
        saved, slot_names, iterations = snapshot
        for array, copy in saved:
            array[...] = copy
        for name in set(self.optimizer.slots) - slot_names:
            del self.optimizer.slots[name]
        self.optimizer.iterations = iterations

    def train_step(self, x, y, strategy=None, global_size=None, check_targets=False) -> dict:
        """One forward, backward and optimizer update on a batch; the batch logs.

        If the model output or the loss is not finite, the update gives non-finite weights (from
        non-finite gradients or not), or it changes a weight by more than :data:`MAX_UPDATE` times
        the largest one, the step is undone and the logs carry ``loss`` and ``failed`` (what went
        wrong). With a strategy, ``(x, y)`` is this process's share of a global batch of
        ``global_size`` samples, and every process takes the same decision. ``y`` must have been
        checked (:meth:`_prepare_targets`), unless ``check_targets``.
        """
        strategy = strategy or get_strategy(None)
        snapshot = self._snapshot()
        try:
            logs, failed, loss_value = self._forward_backward(x, y, check_targets)
        except ValueError:  # targets refused after the forward pass moved the batch norm statistics
            self._restore(snapshot)
            raise
        grads = self.model.grads if logs is not None else None
        keys = ["loss", *(name for name, _ in self.metrics)]
        local = failed
        grads, logs, failed = strategy.combine(self.model, grads, logs, failed, len(x) / (global_size or len(x)), keys)
        if failed != local:  # another process's batch share failed: this one's loss says nothing of it
            loss_value = math.nan
        if failed is None:
            params = self.model.params  # after the forward pass: it builds an unbuilt model's weights
            reached = {k: p for k, p in params.items() if k in grads}  # as PyTorch, a weight without a gradient
            with np.errstate(over="ignore", invalid="ignore"):          # this step is left alone
                self.optimizer.apply(grads, reached, check=False)
                failed = _check_update(params, snapshot[0][:len(params)], grads, self._scratch(params))
            loss_value = logs["loss"]  # the global batch's
        if failed is not None:
            self._restore(snapshot)
            return {"loss": loss_value, "failed": failed}
        return logs

    def train_on_batch(self, x, y) -> dict:
        """Keras' ``train_on_batch``: one step on ``(x, y)``; returns the logs (loss and metrics)."""
        x, y = check_samples(x, y)
        if not self.model.built:
            self.model.build((None, *x.shape[1:]))
        return self.train_step(x, y, check_targets=True)

    def _checked_targets(self, y, outputs):
        """``y`` checked against the model's ``outputs`` (shape, labels, probabilities) and for NaN."""
        y = self.loss.prepare_targets(y, outputs)
        check_finite(y, "y")
        return y

    def _prepare_targets(self, x, y):
        """Every target checked once, against the model's output for the first sample: the loop then
        trusts them (and a NaN target is named here, not blamed on the output steps later)."""
        with inference():
            return self._checked_targets(y, self.model(x[:1], training=False))

    # -- fit ---------------------------------------------------------------------------
    def fit(self, x, y, *, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, seed=None, augment=None, distributed=None):
        """Train on ``(x, y)``; see :meth:`numcnn.Model.fit`. Returns the :class:`History`."""
        strategy = get_strategy(distributed)
        x, y = check_samples(x, y)
        batch_size, epochs = check_int(batch_size, "batch_size"), check_int(epochs, "epochs", 0)
        initial_epoch = check_int(initial_epoch, "initial_epoch", 0)
        validation_split = check_number(validation_split, "validation_split", 0, 1, high_open=True)
        if validation_split and validation_data is None:
            cut = validation_cut(len(x), validation_split)
            if cut < 1 or cut == len(x):
                raise ValueError(f"validation_split={validation_split} leaves no samples for one of the splits of "
                                 f"{len(x)}. Received: validation_split={validation_split}")
            x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("The `validation_data` argument must be a pair (x_val, y_val). "
                                 f"Received: {_short(validation_data)}")
            validation_data = check_samples(*validation_data, name="x_val")
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"Callbacks must be numcnn.training.Callback instances. Received: {_short(callback)}")
        verbose = _resolve_verbose(verbose)
        if augment is not None and not callable(augment):
            raise TypeError(f"The `augment` argument must be a function (x_batch, rng) -> x_batch, e.g. "
                            f"numcnn.data.RandomShift(2). Received: augment={_short(augment)}")

        if not self.model.built:  # first, so the layers' generators do not depend on the data generator below
            self.model.build((None, *x.shape[1:]))
        if not self.model.params:
            raise ValueError(f"Model '{self.model.name}' has no trainable weights to fit (all its layers are "
                             "weightless or trainable=False). Received: a model with 0 trainable weights")
        y = self._prepare_targets(x, y)
        if validation_data is not None:
            validation_data = (validation_data[0], self._prepare_targets(*validation_data))
        if seed is not None:
            self.data_rng = np.random.default_rng(seed)
        elif self.data_rng is None:
            self.data_rng = self.model.rng.spawn(1)[0]
        if not strategy.is_root:
            callbacks, verbose = [], 0  # rank 0 alone writes and prints; its decision to stop is shared
        steps = math.ceil(len(x) / batch_size)
        state = self.state = FitState(History(), self.data_rng, epochs, steps)
        hooks = CallbackList([state.history, *callbacks, ProgbarLogger(verbose, epochs, steps)], self.model, state)
        self._loop(x, y, state, hooks, strategy, batch_size, initial_epoch, shuffle, augment, validation_data,
                   verbose)
        if state.stop_reason:
            message = f"Stopped: {state.stop_reason}"
            if verbose:
                print(message, file=sys.stderr, flush=True)
            elif strategy.is_root:
                warnings.warn(message, RuntimeWarning, stacklevel=3)
        return state.history

    def _loop(self, x, y, state, hooks, strategy, batch_size, initial_epoch, shuffle, augment, validation_data,
              verbose):
        hooks.on_train_begin()
        strategy.begin(self.model, self.optimizer, state)
        if state.resume is not None:
            initial_epoch = max(initial_epoch, state.resume.epoch)
            state.history.history = {k: list(v) for k, v in state.resume.history.items()}
            state.history.epoch = list(range(initial_epoch))
            if verbose and initial_epoch:
                print(f"Resuming after epoch {initial_epoch}", flush=True)
        for epoch in range(initial_epoch, state.epochs):
            if state.stop_training:
                break
            state.epoch = epoch
            hooks.on_epoch_begin(epoch)
            started = time.perf_counter()
            running = _Mean()
            for step, index in enumerate(batch_indices(len(x), batch_size, state.data_rng, shuffle)):
                state.step = step
                strategy.at(f"epoch {epoch + 1}, step {step + 1}")
                part = strategy.shard(len(index))
                # augmentation draws for the whole global batch on every rank, so that every rank's
                # generator stays in step and the result equals one process's
                xb = x[index] if augment is None else augment(x[index], state.data_rng)
                hooks.on_train_batch_begin(step)
                with global_batch(len(index), part.start):
                    logs = self.train_step(xb[part], y[index[part]], strategy, len(index))
                if "failed" in logs:
                    state.stop_reason = (f"loss is {logs['loss']:.4g} at epoch {epoch + 1}, step {step + 1} "
                                         f"({logs['failed']}): training stopped; the weights are those before "
                                         "that step")
                    state.stop_training = True  # the same on every process: they took the same decision
                else:
                    running.add(logs, len(index))
                hooks.on_train_batch_end(step, {**running.result(), **({"loss": logs["loss"]} if state.stop_reason
                                                                        else {})})
                state.stop_training = strategy.any(state.stop_training)
                if state.stop_training:
                    break
            if state.stop_reason:
                break  # a partial epoch is neither logged nor checkpointed
            epoch_logs = running.result()
            strategy.at(f"end of epoch {epoch + 1}")
            if validation_data is not None:
                values = self._evaluate_mean(*validation_data, batch_size, strategy)
                epoch_logs.update({f"val_{k}": v for k, v in values.items()})
            epoch_logs["learning_rate"] = self.optimizer.learning_rate_at(max(0, self.optimizer.iterations - 1))
            epoch_logs["seconds"] = time.perf_counter() - started
            hooks.on_epoch_end(epoch, epoch_logs)
            state.stop_training = strategy.any(state.stop_training)
        hooks.on_train_end()
        strategy.end(self.model, self.optimizer, state)

    # -- evaluate ------------------------------------------------------------------------
    def _evaluate_mean(self, x, y, batch_size, strategy) -> dict:
        """Mean loss and metrics over ``(x, y)`` (checked targets); each process evaluates its share."""
        total = _Mean()
        part = strategy.shard(len(x))
        x, y = x[part], y[part]
        for index in batch_indices(len(x), batch_size, shuffle=False):
            with inference():
                y_pred = self.model(x[index], training=False)
            value, _ = self.loss.forward(y[index], y_pred, check=False)
            total.add(self._logs(y[index], y_pred, value), len(index))
        keys = ["loss", *(name for name, _ in self.metrics)]
        sums = np.array([total.count, *(total.sums.get(k, 0.0) for k in keys)], np.float64)
        sums = strategy.sum(sums, "validating")
        total.count, total.sums = int(sums[0]), dict(zip(keys, sums[1:].tolist()))
        return total.result()

    def evaluate(self, x, y, *, batch_size=32, verbose=0, return_dict=False):
        """Loss and metrics over ``(x, y)`` in inference mode; see :meth:`numcnn.Model.evaluate`."""
        x, y = check_samples(x, y)
        batch_size = check_int(batch_size, "batch_size")
        y = self._prepare_targets(x, y)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a non-finite loss is a result
            result = self._evaluate_mean(x, y, batch_size, get_strategy(None))
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if len(result) == 1 else list(result.values())


def predict(model, x, *, batch_size=32):
    """Outputs for ``x`` in inference mode, computed ``batch_size`` samples at a time.

    Shape:
        x: (N, ...); returns (N, ...) (the model's output per sample).
    """
    x, _ = check_samples(x)
    batch_size = check_int(batch_size, "batch_size")
    batches = batch_indices(len(x), batch_size, shuffle=False)
    with inference():  # nothing kept for a backward pass: each activation is freed once read
        first = model(x[batches[0]], training=False)
    with allocation_guard(f"predict on {len(x)} samples", f"x with shape {x.shape}",
                          ": predict fewer samples per call (e.g. x[i:i + k] in a loop)"):
        out = np.empty((len(x), *first.shape[1:]), dtype=first.dtype)  # filled batch by batch, no second copy
    start = len(first)
    out[:start] = first
    for index in batches[1:]:
        with inference():
            y = model(x[index], training=False)
        out[start:start + len(y)] = y
        start += len(y)
    return out


__all__ = ["STAGES", "Trainer", "check_samples", "predict", "validation_cut"]
