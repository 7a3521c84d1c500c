"""The training loop behind ``model.compile`` / ``fit`` / ``evaluate`` / ``predict``.

One training step is the plain loop of seed 004, spelled with the model API::

    y_pred = model(x, training=True)
    loss, cache = loss_fn.forward(y, y_pred)
    model.backward(loss_fn.backward(cache))
    optimizer.apply(model.grads, model.params)

A step whose loss (or output) is NaN or infinite is never applied: training
stops, and ``model.stop_reason`` names the epoch and step.
"""

from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from .. import losses as losses_module
from .. import optimizers as optimizers_module
from .._validation import BatchMemoryError, NonFiniteError, _gib, _short, as_array
from ..data.batching import batch_indices
from . import metrics as metrics_module
from .callbacks import CallbackList, History, ProgbarLogger, TerminateOnNaN


def compile(model, optimizer="adam", loss=None, metrics=None) -> None:
    """Attach an optimizer, a loss and metrics to ``model`` (see :meth:`numcnn.Model.compile`)."""
    if loss is None:
        raise ValueError("compile needs a loss, e.g. loss=SparseCategoricalCrossentropy(from_logits=True). Received: loss=None")
    if metrics is not None and not isinstance(metrics, (list, tuple)):
        raise TypeError(f"The `metrics` argument must be a list of names, e.g. ['accuracy']. Received: metrics={_short(metrics)}")
    model.optimizer = optimizers_module.get(optimizer)
    model.loss = losses_module.get(loss)
    model.compiled_metrics = [metrics_module.get(m) for m in (metrics or [])]
    model.compiled = True


def _check_compiled(model, what):
    if not getattr(model, "compiled", False):
        raise RuntimeError(f"Call model.compile(optimizer, loss, metrics) before model.{what}(). "
                           "Received: a model that was not compiled")


def _check_xy(x, y, who="x"):
    x = as_array(x, who)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"The `{who}` argument must be a non-empty batch of samples. Received: shape {x.shape}")
    if y is not None:
        y = as_array(y, "y")
        if y.ndim == 0 or len(y) != len(x):
            raise ValueError(
                f"The `y` argument must hold one target per sample of `{who}` ({len(x)}). Received: y with shape {y.shape}")
    return x, y


def _batch_logs(model, y_true, y_pred, loss_value):
    logs = {"loss": float(loss_value)}
    for name, fn in model.compiled_metrics:
        logs[name] = fn(y_true, y_pred) / len(y_true)
    return logs


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


def _snapshot(model):
    """Copies of everything one step changes: params, state (moving statistics), optimizer slots."""
    optimizer = model.optimizer
    arrays = [*model.params.values(), *model.state.values(),
              *(a for slots in optimizer.slots.values() for a in slots.values())]
    return [(a, a.copy()) for a in arrays], set(optimizer.slots), optimizer.iterations


def _restore(model, snapshot):
    saved, slot_names, iterations = snapshot
    for array, copy in saved:
        array[...] = copy
    optimizer = model.optimizer
    for name in set(optimizer.slots) - slot_names:
        del optimizer.slots[name]
    optimizer.iterations = iterations


def train_step(model, x, y) -> dict:
    """One forward, backward and optimizer update on a batch; returns the batch logs.

    If the output, the loss or the updated weights are not finite, the step is undone
    (weights, moving statistics and optimizer state as before it) and the logs carry
    ``loss = nan`` (or ``inf``).
    """
    snapshot = _snapshot(model)
    what = "a layer's input"  # what was not finite, if a layer's own check raises during the forward pass
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging model is reported by step
            y_pred = model(x, training=True)
            what = "model output"
            if not np.all(np.isfinite(y_pred)):
                raise NonFiniteError(what)
            loss_value, cache = model.loss.forward(y, y_pred)
            what = "loss"
            if not np.isfinite(loss_value):
                raise NonFiniteError(what)
            model.backward(model.loss.backward(cache))
            params = model.params  # after the forward pass: it builds an unbuilt model's weights
            model.optimizer.apply(model.grads, params)
            what = "updated weights"
            if not all(np.isfinite(p).all() for p in params.values()):
                raise NonFiniteError(what)
    except NonFiniteError:
        _restore(model, snapshot)
        return {"loss": math.nan, "non_finite": what}
    return _batch_logs(model, y, y_pred, loss_value)


def train_on_batch(model, x, y) -> dict:
    """Keras' ``train_on_batch``: one step on ``(x, y)``; returns the logs (loss and metrics)."""
    _check_compiled(model, "train_on_batch")
    x, y = _check_xy(x, y)
    return train_step(model, x, y)


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


def fit(model, x, y, *, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, initial_epoch=0, seed=None, augment=None):
    """Train ``model`` on ``(x, y)``; see :meth:`numcnn.Model.fit`. Returns the :class:`History`."""
    _check_compiled(model, "fit")
    x, y = _check_xy(x, y)
    for name, value, low in (("batch_size", batch_size, 1), ("epochs", epochs, 0), ("initial_epoch", initial_epoch, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"The `{name}` argument must be an int >= {low}. Received: {name}={_short(value)}")
    if not (isinstance(validation_split, (int, float)) and 0 <= validation_split < 1):
        raise ValueError(f"The `validation_split` argument must be in [0, 1). Received: validation_split={_short(validation_split)}")
    if validation_split and validation_data is None:
        cut = validation_cut(len(x), validation_split)
        if cut < 1 or cut == len(x):
            raise ValueError(f"validation_split={validation_split} leaves no samples for one of the splits of {len(x)}. "
                             f"Received: validation_split={validation_split}")
        x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(f"The `validation_data` argument must be a pair (x_val, y_val). Received: {_short(validation_data)}")
        validation_data = _check_xy(*validation_data, who="x_val")
    verbose = _resolve_verbose(verbose)

    if not model.built:  # first, so the layers' generators do not depend on the data generator below
        model.build((None, *x.shape[1:]))
    if seed is not None:
        model._data_rng = np.random.default_rng(seed)
    elif getattr(model, "_data_rng", None) is None:
        model._data_rng = model.rng.spawn(1)[0]
    rng = model._data_rng

    steps = math.ceil(len(x) / batch_size)
    history = History()
    callbacks = list(callbacks or [])
    if not any(isinstance(c, TerminateOnNaN) for c in callbacks):
        callbacks.append(TerminateOnNaN())
    progress = ProgbarLogger(verbose, epochs, steps)
    hooks = CallbackList([history, *callbacks, progress], model)
    model.history, model.stop_training, model.stop_reason, model._resume = history, False, None, None

    hooks.on_train_begin()
    if model._resume is not None:
        initial_epoch = max(initial_epoch, model._resume["epoch"])
        history.history = {k: list(v) for k, v in model._resume["history"].items()}
        history.epoch = list(range(initial_epoch))
        if verbose and initial_epoch:
            print(f"Resuming after epoch {initial_epoch}", flush=True)
    for epoch in range(initial_epoch, epochs):
        if model.stop_training:
            break
        hooks.on_epoch_begin(epoch)
        started = time.perf_counter()
        running = _Mean()
        for step, index in enumerate(batch_indices(len(x), batch_size, rng, shuffle)):
            xb, yb = x[index], y[index]
            if augment is not None:
                xb = augment(xb, rng)
            hooks.on_train_batch_begin(step)
            logs = train_step(model, xb, yb)
            if not np.isfinite(logs["loss"]):
                model.stop_reason = (f"loss is {logs['loss']} at epoch {epoch + 1}, step {step + 1} (non-finite "
                                     f"{logs.get('non_finite', 'loss')}): training stopped; the weights are those "
                                     "before that step")
            else:
                running.add(logs, len(index))
            hooks.on_train_batch_end(step, {**running.result(), **({"loss": logs["loss"]} if model.stop_reason else {})})
            if model.stop_training:
                break
        if model.stop_reason:
            break  # a partial epoch is neither logged nor checkpointed
        epoch_logs = running.result()
        if validation_data is not None:
            values = evaluate(model, *validation_data, batch_size=batch_size, return_dict=True)
            epoch_logs.update({f"val_{k}": v for k, v in values.items()})
        epoch_logs["learning_rate"] = model.optimizer.learning_rate_at(max(0, model.optimizer.iterations - 1))
        epoch_logs["seconds"] = time.perf_counter() - started
        hooks.on_epoch_end(epoch, epoch_logs)
    hooks.on_train_end()
    if model.stop_reason and verbose:
        print(f"Stopped: {model.stop_reason}", file=sys.stderr, flush=True)
    return history


def evaluate(model, x, y, *, batch_size=32, verbose=0, return_dict=False):
    """Loss and metrics over ``(x, y)`` in inference mode; see :meth:`numcnn.Model.evaluate`."""
    _check_compiled(model, "evaluate")
    x, y = _check_xy(x, y)
    total = _Mean()
    for index in batch_indices(len(x), batch_size, shuffle=False):
        y_pred = model(x[index], training=False)
        value, _ = model.loss.forward(y[index], y_pred)
        total.add(_batch_logs(model, y[index], y_pred, value), len(index))
    result = total.result()
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
    x, _ = _check_xy(x, None)
    batches = batch_indices(len(x), batch_size, shuffle=False)
    first = model(x[batches[0]], training=False)
    try:  # one array for all outputs, filled batch by batch (no list of parts and a second copy)
        out = np.empty((len(x), *first.shape[1:]), dtype=first.dtype)
    except MemoryError:
        need = len(x) * first[:1].nbytes
        raise BatchMemoryError(
            f"The outputs of predict for {len(x)} samples need {_gib(need)}, more than this machine can give: "
            f"predict fewer samples per call (e.g. x[i:i + k] in a loop). Received: x with shape {x.shape}") from None
    start = len(first)
    out[:start] = first
    for index in batches[1:]:
        y = model(x[index], training=False)
        out[start:start + len(y)] = y
        start += len(y)
    return out
