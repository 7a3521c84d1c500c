"""Small data and tiny models shared by the training tests (kept small so the whole directory runs in seconds)."""

from __future__ import annotations

import functools

import numpy as np

import numcnn
from numcnn.data import load_digits
from numcnn.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D, ReLU
from numcnn.losses import SparseCategoricalCrossentropy
from numcnn.training import Callback


@functools.lru_cache(maxsize=1)
def _digits():
    return load_digits()


def digits(n=128, offset=0):
    """The first ``n`` training digits (copies, so a test may modify them)."""
    data = _digits()
    return data.x_train[offset:offset + n].copy(), data.y_train[offset:offset + n].copy()


def digits_test(n=64):
    data = _digits()
    return data.x_test[:n].copy(), data.y_test[:n].copy()


def dense_model(seed=0, hidden=16):
    """Flatten - Dense(relu) - Dense(10): no batch norm, no dropout (deterministic in training)."""
    return numcnn.Sequential([Flatten(input_shape=(8, 8, 1)), Dense(hidden, activation="relu"), Dense(10)], seed=seed)


def conv_model(seed=0, dropout=0.25):
    """Conv - BatchNorm - ReLU - pool - Flatten - Dropout - Dense: every kind of state a resume must restore."""
    return numcnn.Sequential([
        Conv2D(4, 3, padding="same", input_shape=(8, 8, 1)),
        BatchNormalization(momentum=0.9),
        ReLU(),
        MaxPooling2D(2),
        Flatten(),
        Dropout(dropout),
        Dense(10),
    ], seed=seed)


def compiled(model, optimizer="adam", metrics=("accuracy",)):
    model.compile(optimizer, SparseCategoricalCrossentropy(from_logits=True), list(metrics) if metrics else None)
    return model


def snapshot(model) -> dict:
    """Copies of every array of the model (params and moving statistics)."""
    return {name: array.copy() for name, array in model.named_weights().items()}


def assert_arrays_equal(actual: dict, expected: dict):
    assert sorted(actual) == sorted(expected)
    for name in expected:
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def arrays_differ(a: dict, b: dict) -> bool:
    return any(not np.array_equal(a[name], b[name]) for name in b)


class Recorder(Callback):
    """Records every hook call as ``(hook, argument)`` and a snapshot of the weights at chosen hooks."""

    def __init__(self, snapshot_at=()):
        self.calls, self.snapshots, self.snapshot_at = [], [], set(snapshot_at)

    def _record(self, hook, arg, logs):
        self.calls.append((hook, arg))
        if hook in self.snapshot_at:
            self.snapshots.append(((hook, arg), snapshot(self.model), dict(logs or {})))

    def on_train_begin(self, logs=None): self._record("train_begin", None, logs)
    def on_train_end(self, logs=None): self._record("train_end", None, logs)
    def on_epoch_begin(self, epoch, logs=None): self._record("epoch_begin", epoch, logs)
    def on_epoch_end(self, epoch, logs=None): self._record("epoch_end", epoch, logs)
    def on_train_batch_begin(self, batch, logs=None): self._record("batch_begin", batch, logs)
    def on_train_batch_end(self, batch, logs=None): self._record("batch_end", batch, logs)
