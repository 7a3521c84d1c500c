"""The training loop behind ``model.compile`` / ``fit`` / ``evaluate`` / ``predict``.

One training step is the plain loop of seed 004, spelled with the model API::

    y_pred = model(x, training=True)
    loss, cache = loss_fn.forward(y, y_pred)
    model.backward(loss_fn.backward(cache))
    optimizer.apply(model.grads, model.params)

A step whose loss (or output) is NaN or infinite, or whose loss exceeds
:data:`DIVERGENCE_FACTOR` times the first step's (a learning rate that explodes), is
never applied: training stops, and ``model.stop_reason`` names the epoch and step.

``fit(..., distributed=...)`` trains data-parallel on MPI (see :mod:`numcnn.distributed`):
each rank runs the forward and backward pass on its share of the global batch and
the gradients are averaged between ``backward`` and the optimizer step.
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


NON_FINITE_BEFORE_UPDATE = ("a layer's input", "model output", "loss")


def _forward_backward(model, x, y):
    """Forward and backward pass: ``(logs, None)``, or ``(None, what)`` if ``what`` was not finite."""
    if len(x) == 0:  # a rank's share of a short last batch may be empty
        return None, None
    what = NON_FINITE_BEFORE_UPDATE[0]  # if a layer's own check raises during the forward pass
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
    except NonFiniteError:
        return None, what
    return _batch_logs(model, y, y_pred, loss_value), None


def _average_over_ranks(communicator, model, grads, logs, failed, share):
    """The gradients and logs of the global batch, and the first non-finite stage of any rank.

    Each rank weights its mean gradient and logs by ``share`` (its samples / the global
    batch) and the ranks sum them, all in one bucketed allreduce that also carries a
    flag per non-finite stage, so every rank takes the same decision. A rank without
    gradients (no sample, or a non-finite stage) adds zeros.
    """
    params = model.params
    missing = [k for k in params if grads is not None and k not in grads]
    if missing:
        raise ValueError(f"No gradient for {missing[:5]}: every parameter needs one for distributed training. "
                         f"Received: gradients for {list(grads)[:5]}")
    arrays = [grads[k] if grads is not None else np.zeros_like(p) for k, p in params.items()]
    keys = ["loss", *(name for name, _ in model.compiled_metrics)]
    extras = np.zeros(len(keys) + len(NON_FINITE_BEFORE_UPDATE), arrays[0].dtype if arrays else np.float64)
    if logs is not None:
        extras[:len(keys)] = [logs[k] * share for k in keys]
    if failed is not None:
        extras[len(keys) + NON_FINITE_BEFORE_UPDATE.index(failed)] = 1
    *summed, extras = communicator.allreduce_sum([*arrays, extras], [share] * len(arrays) + [1],
                                                 what="averaging the gradients")
    flags = extras[len(keys):]
    if flags.any():
        return None, None, NON_FINITE_BEFORE_UPDATE[int(np.flatnonzero(flags)[0])]
    return dict(zip(params, summed)), {k: float(v) for k, v in zip(keys, extras)}, None


#: fit stops when a batch's loss exceeds this many times the first batch's (at least 1): a learning
#: rate that explodes may keep the loss finite (1e24) for ever without ever reaching NaN
DIVERGENCE_FACTOR = 1e4


def train_step(model, x, y, communicator=None, global_size=None, max_loss=None) -> dict:
    """One forward, backward and optimizer update on a batch; returns the batch logs.

    If the output, the loss or the updated weights are not finite, the step is undone
    (weights, moving statistics and optimizer state as before it) and the logs carry
    ``loss = nan`` (or ``inf``).

    With a ``communicator`` (:mod:`numcnn.distributed`), ``(x, y)`` is this rank's share of
    a global batch of ``global_size`` samples; gradients, logs and the non-finite checks
    are combined over all ranks before the update, so every rank applies the same one.

    With ``max_loss``, a finite loss above it counts as diverged too: the step is undone and
    the logs carry ``loss = nan`` and ``exploded`` (the loss that was too large).
    """
    snapshot = _snapshot(model)
    logs, failed = _forward_backward(model, x, y)
    grads = model.grads if logs is not None else None
    if communicator is not None:
        grads, logs, failed = _average_over_ranks(communicator, model, grads, logs, failed, len(x) / global_size)
    if failed is None and max_loss is not None and logs["loss"] > max_loss:
        _restore(model, snapshot)  # the same on every rank: they share the averaged loss
        return {"loss": math.nan, "exploded": logs["loss"]}
    if failed is None:
        params = model.params  # after the forward pass: it builds an unbuilt model's weights
        with np.errstate(over="ignore", invalid="ignore"):
            model.optimizer.apply(grads, params)
        if not all(np.isfinite(p).all() for p in params.values()):
            failed = "updated weights"  # the same on every rank: they applied the same update
    if failed is not None:
        _restore(model, snapshot)
        return {"loss": math.nan, "non_finite": failed}
    return logs


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


def _communicator(distributed):
    if distributed is None or distributed is False:
        return None
    from ..distributed import Communicator  # mpi4py itself is imported only when a Communicator is made

    if distributed is True:
        return Communicator()
    if not isinstance(distributed, Communicator):
        raise TypeError("The `distributed` argument must be None, False, True (all ranks of mpirun) or a "
                        f"numcnn.distributed.Communicator. Received: distributed={_short(distributed)}")
    return distributed


def _local_batch(x, y, index, augment, rng, communicator):
    """This rank's share of the global batch ``index``; augmentation draws for the whole batch on
    every rank, so that every rank's generator stays in step and the result equals one process's."""
    part = slice(None) if communicator is None else communicator.shard(len(index))
    if augment is None:
        return x[index[part]], y[index[part]]
    return augment(x[index], rng)[part], y[index[part]]


def fit(model, x, y, *, batch_size=32, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
        validation_data=None, shuffle=True, initial_epoch=0, seed=None, augment=None, distributed=None):
    """Train ``model`` on ``(x, y)``; see :meth:`numcnn.Model.fit`. Returns the :class:`History`."""
    _check_compiled(model, "fit")
    communicator = _communicator(distributed)
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
    if communicator is not None and communicator.rank != 0:
        callbacks, verbose = None, 0  # rank 0 alone writes and prints; its decision to stop is shared below

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
    if communicator is not None:
        communicator.broadcast_training_state(model, rng)  # rank 0's weights, and its checkpoint if it resumed
        communicator.own_random_streams(model)
    if model._resume is not None:
        initial_epoch = max(initial_epoch, model._resume["epoch"])
        history.history = {k: list(v) for k, v in model._resume["history"].items()}
        history.epoch = list(range(initial_epoch))
        if verbose and initial_epoch:
            print(f"Resuming after epoch {initial_epoch}", flush=True)
    max_loss = None  # set by the first step of this call
    for epoch in range(initial_epoch, epochs):
        if model.stop_training:
            break
        hooks.on_epoch_begin(epoch)
        started = time.perf_counter()
        running = _Mean()
        for step, index in enumerate(batch_indices(len(x), batch_size, rng, shuffle)):
            xb, yb = _local_batch(x, y, index, augment, rng, communicator)
            if communicator is not None:
                communicator.context = f"epoch {epoch + 1}, step {step + 1}"
            hooks.on_train_batch_begin(step)
            logs = train_step(model, xb, yb, communicator, len(index), max_loss)
            if "exploded" in logs:
                model.stop_reason = (f"loss is {logs['exploded']:.3g} at epoch {epoch + 1}, step {step + 1} (more "
                                     f"than {DIVERGENCE_FACTOR:g} x the loss this fit call started from: exploding): "
                                     "training stopped; the weights are those before that step")
            elif not np.isfinite(logs["loss"]):
                model.stop_reason = (f"loss is {logs['loss']} at epoch {epoch + 1}, step {step + 1} (non-finite "
                                     f"{logs.get('non_finite', 'loss')}): training stopped; the weights are those "
                                     "before that step")
            else:
                running.add(logs, len(index))
                if max_loss is None:
                    max_loss = DIVERGENCE_FACTOR * max(logs["loss"], 1.0)
            hooks.on_train_batch_end(step, {**running.result(), **({"loss": logs["loss"]} if model.stop_reason else {})})
            if communicator is not None:
                model.stop_training = communicator.any(model.stop_training)
            if model.stop_training:
                break
        if model.stop_reason:
            break  # a partial epoch is neither logged nor checkpointed
        epoch_logs = running.result()
        if communicator is not None:
            communicator.context = f"end of epoch {epoch + 1}"
        if validation_data is not None:
            values = _evaluate_mean(model, *validation_data, batch_size, communicator)
            epoch_logs.update({f"val_{k}": v for k, v in values.items()})
        epoch_logs["learning_rate"] = model.optimizer.learning_rate_at(max(0, model.optimizer.iterations - 1))
        epoch_logs["seconds"] = time.perf_counter() - started
        hooks.on_epoch_end(epoch, epoch_logs)
        if communicator is not None:
            model.stop_training = communicator.any(model.stop_training)
    hooks.on_train_end()
    if communicator is not None:
        communicator.context = None
        communicator.broadcast_training_state(model, rng)  # e.g. restore_best_weights ran on rank 0 alone
    if model.stop_reason and verbose:
        print(f"Stopped: {model.stop_reason}", file=sys.stderr, flush=True)
    return history


def _evaluate_mean(model, x, y, batch_size, communicator=None) -> dict:
    """Mean loss and metrics over ``(x, y)``; with a communicator, each rank evaluates its share."""
    total = _Mean()
    if communicator is not None:
        part = communicator.shard(len(x))
        x, y = x[part], y[part]
    for index in batch_indices(len(x), batch_size, shuffle=False):
        y_pred = model(x[index], training=False)
        value, _ = model.loss.forward(y[index], y_pred)
        total.add(_batch_logs(model, y[index], y_pred, value), len(index))
    if communicator is not None:
        keys = ["loss", *(name for name, _ in model.compiled_metrics)]
        sums = np.array([total.count, *(total.sums.get(k, 0.0) for k in keys)], np.float64)
        sums = communicator.allreduce_sum([sums], what="validating")[0]
        total.count, total.sums = int(sums[0]), dict(zip(keys, sums[1:].tolist()))
    return total.result()


def evaluate(model, x, y, *, batch_size=32, verbose=0, return_dict=False):
    """Loss and metrics over ``(x, y)`` in inference mode; see :meth:`numcnn.Model.evaluate`."""
    _check_compiled(model, "evaluate")
    x, y = _check_xy(x, y)
    result = _evaluate_mean(model, x, y, batch_size)
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
