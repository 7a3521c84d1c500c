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


def classification_report(matrix, names) -> dict:
    """Per-class precision, recall, F1 and support from a confusion matrix, with accuracy and the macro
    and support-weighted averages, as scikit-learn's ``classification_report(output_dict=True)`` (a
    ratio with nothing to divide is 0, as its ``zero_division`` default).

    Shape:
        matrix: (K, K) counts, rows true and columns predicted; names: K class names.
    """
    matrix = np.asarray(matrix, np.float64)
    correct, true, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, correct / predicted, 0.0)
        recall = np.where(true > 0, correct / true, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    total = true.sum()
    report = {name: {"precision": float(p), "recall": float(r), "f1-score": float(f), "support": int(s)}
              for name, p, r, f, s in zip(names, precision, recall, f1, true)}
    report["accuracy"] = float(correct.sum() / total) if total else 0.0
    weights = true / total if total else np.zeros_like(true)
    for key, avg in (("macro avg", lambda v: float(v.mean())), ("weighted avg", lambda v: float(v @ weights))):
        report[key] = {"precision": avg(precision), "recall": avg(recall), "f1-score": avg(f1), "support": int(total)}
    return report


def format_classification_report(report, digits: int = 2) -> str:
    """:func:`classification_report`'s dict as scikit-learn prints it."""
    names = [k for k in report if k not in ("accuracy", "macro avg", "weighted avg")]
    width = max([len(n) for n in names] + [len("weighted avg"), digits])
    headers = ("precision", "recall", "f1-score", "support")
    row = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    text = ("{:>{width}s} " + " {:>9}" * 4).format("", *headers, width=width) + "\n\n"
    for name in names:
        r = report[name]
        text += row.format(name, r["precision"], r["recall"], r["f1-score"], r["support"], width=width, digits=digits)
    text += "\n" + ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
        "accuracy", "", "", report["accuracy"], report["macro avg"]["support"], width=width, digits=digits)
    for key in ("macro avg", "weighted avg"):
        r = report[key]
        text += row.format(key, r["precision"], r["recall"], r["f1-score"], r["support"], width=width, digits=digits)
    return text
