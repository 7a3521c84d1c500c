"""Metrics for ``compile(metrics=[...])``: each returns the number of correct samples in a batch,
so the loop can average them exactly over an epoch whatever the batch sizes."""

from __future__ import annotations

import numpy as np

from ..utils.registry import Registry


def sparse_categorical_accuracy(y_true, y_pred) -> int:
    """Correct predictions for integer labels.

    Shape:
        y_true: (N,); y_pred: (N, K) scores (logits or probabilities); returns an int count.
    """
    return int(np.count_nonzero(np.argmax(y_pred, axis=-1) == np.asarray(y_true).reshape(-1)))


def categorical_accuracy(y_true, y_pred) -> int:
    """Correct predictions for one-hot rows: ``argmax(y_true) == argmax(y_pred)``.

    Shape:
        y_true: (N, K); y_pred: (N, K); returns an int count.
    """
    return int(np.count_nonzero(np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)))


def accuracy(y_true, y_pred) -> int:
    """Keras' ``"accuracy"``: sparse or categorical, chosen by the labels' shape."""
    y_true = np.asarray(y_true)
    if y_true.ndim == 2 and y_true.shape[1] > 1:
        return categorical_accuracy(y_true, y_pred)
    return sparse_categorical_accuracy(y_true, y_pred)


METRICS = Registry("metric", None, "metrics")
METRICS.register(accuracy, names=("accuracy", "acc"))
METRICS.register(sparse_categorical_accuracy, names=("sparse_categorical_accuracy",))
METRICS.register(categorical_accuracy, names=("categorical_accuracy",))


def get(identifier):
    """``(name, function)`` for a metric name in :data:`METRICS` (or a function of ``(y_true, y_pred)``
    that returns the number of correct samples, named by its ``__name__``)."""
    fn = METRICS.get(identifier)
    return (identifier if isinstance(identifier, str) else fn.__name__), fn


def confusion_matrix(y_true, y_pred_labels, classes) -> np.ndarray:
    """Counts ``C[i, j]`` of samples of class ``i`` predicted as ``j``.

    Shape:
        y_true: (N,) ints; y_pred_labels: (N,) ints; returns (classes, classes) int64.
    """
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true).reshape(-1), np.asarray(y_pred_labels).reshape(-1)), 1)
    return matrix
