"""Loss functions and their gradients.

Argument order follows Keras: ``(y_true, y_pred)``. Every loss is the mean over
the batch, so its gradient carries the ``1 / N``.

Classification targets come in two forms, as in PyTorch's ``cross_entropy``: integer
labels ``(N,)``, whose loss picks each row's log-probability, or probability rows
``(N, K)`` (one-hot or soft), whose loss is ``-sum(target * log p)``. NaN and infinity in
the predictions give a NaN or infinite loss (IEEE arithmetic, as PyTorch); the training
loop is where a non-finite loss is caught.

``check=False`` (numcnn's own callers) skips :func:`check_targets` and the checks of the
predictions: labels must then be int64 ``(N,)`` in range, or rows of the predictions' shape.
"""

from __future__ import annotations

import numpy as np

from ..utils.validation import as_array, check_number, float_dtype


def check_targets(y_true, shape, name="y_pred") -> np.ndarray:
    """Classification targets for predictions of ``shape`` (N, K), in the form the losses compute with.

    Args:
        y_true: integer labels ``(N,)`` (or ``(N, 1)``; floats that are whole numbers too), or
            probability rows ``(N, K)``.
        shape: the predictions' shape.
        name: the predictions' argument, for messages.

    Returns:
        int64 labels ``(N,)``, or the rows as given.

    Raises:
        ValueError: another shape, labels that are not whole numbers in ``[0, K)``.
    """
    n, k = shape
    y_true = as_array(y_true, "y_true")
    if y_true.ndim == 1 or (y_true.ndim == 2 and y_true.shape[1] == 1 and k > 1):
        labels = y_true.reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(
                f"The `y_true` argument must have one label per sample ({n}). Received: y_true with shape {y_true.shape}")
        if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):  # NaN is not a whole number
            bad = np.flatnonzero(labels != np.round(labels))[0]
            raise ValueError(
                "The `y_true` argument must hold integer class labels (or one-hot rows). "
                f"Received: y_true[{bad}] = {labels[bad]}")
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            bad = np.flatnonzero((labels < 0) | (labels >= k))[0]
            raise ValueError(f"The `y_true` argument's labels must be in [0, {k}) for {k} classes. "
                             f"Received: y_true[{bad}] = {labels[bad]}")
        return labels.astype(np.int64)
    if y_true.shape != tuple(shape):
        raise ValueError(
            f"The `y_true` argument must be integer labels of shape ({n},) or rows of shape {tuple(shape)}. "
            f"Received: y_true with shape {y_true.shape}")
    return y_true


def _check_predictions(y_pred, name):
    """The predictions as a float array ``(N >= 1, K >= 1)``."""
    y_pred = as_array(y_pred, name)
    if y_pred.ndim != 2 or 0 in y_pred.shape:
        raise ValueError(
            f"The `{name}` argument must be a 2D array (batch, classes) with at least one row and one class. "
            f"Received: {name} with shape {y_pred.shape}")
    return y_pred.astype(float_dtype(y_pred), copy=False)


def _mean_cross_entropy(y_true, log_probs):
    """``-mean over samples of sum(target * log p)``; labels pick their row's log-probability."""
    n = log_probs.shape[0]
    if y_true.ndim == 1:
        return -log_probs[np.arange(n), y_true].sum() / n
    return -(y_true.astype(log_probs.dtype, copy=False) * log_probs).sum() / n


def _minus_targets(probs, y_true, scale):
    """``(probs - targets) * scale``, in a new array."""
    grad = probs.copy()
    if y_true.ndim == 1:
        grad[np.arange(len(grad)), y_true] -= 1
    else:
        grad -= y_true.astype(grad.dtype, copy=False)
    grad *= grad.dtype.type(scale)
    return grad


# softmax cross-entropy: loss = mean(logsumexp(z) - z[label]); dz = (softmax(z) - target) / N
def softmax_cross_entropy_forward(y_true, logits, *, check=True):
    """Mean softmax cross-entropy from logits; returns ``(loss, cache)``.

    Computed as ``logsumexp(z) - z[label]`` after subtracting each row's max, so it
    never overflows or takes ``log(0)`` for finite logits.
    """
    if check:
        logits = _check_predictions(logits, "logits")
        y_true = check_targets(y_true, logits.shape, "logits")
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(sums)
    return logits.dtype.type(_mean_cross_entropy(y_true, log_probs)), (exp / sums, y_true)


def softmax_cross_entropy_backward(cache, dloss=1.0, *, check=True):
    """Gradient with respect to the logits: ``(softmax(z) - y_true) / N`` (times ``dloss``).

    Shape:
        returns: (N, classes)
    """
    probs, y_true = cache
    if check:
        dloss = check_number(dloss, "dloss")
    return _minus_targets(probs, y_true, dloss / probs.shape[0])


def softmax_cross_entropy(y_true, logits):
    """Mean cross-entropy between labels and ``softmax(logits)``, numerically stable.

    Args:
        y_true: integer labels ``(N,)`` or one-hot / probability rows ``(N, classes)``.
        logits: unnormalised scores.

    Shape:
        y_true: (N,) or (N, K); logits: (N, K); returns a scalar.

    Example:
        >>> softmax_cross_entropy([0], np.array([[0.0, 0.0]]))   # log 2
        0.6931...
    """
    return softmax_cross_entropy_forward(y_true, logits)[0]


# categorical cross-entropy of probabilities: loss = -mean(sum(target * log clip(p))); dp = -target / p / N
def categorical_cross_entropy_forward(y_true, probs, epsilon=1e-7, *, check=True):
    """Mean cross-entropy of probabilities (already softmaxed); returns ``(loss, cache)``.

    Probabilities are clipped to ``[epsilon, 1 - epsilon]`` (as Keras) so ``log`` stays finite.
    """
    if check:
        probs = _check_predictions(probs, "y_pred")
        y_true = check_targets(y_true, probs.shape)
    clipped = np.clip(probs, epsilon, 1 - epsilon)
    inside = (probs >= epsilon) & (probs <= 1 - epsilon)
    return probs.dtype.type(_mean_cross_entropy(y_true, np.log(clipped))), (clipped, y_true, inside)


def categorical_cross_entropy_backward(cache, dloss=1.0, *, check=True):
    """Gradient with respect to the probabilities: ``-y_true / p / N`` (0 where clipped)."""
    clipped, y_true, inside = cache
    if check:
        dloss = check_number(dloss, "dloss")
    if y_true.ndim == 1:
        target = np.zeros_like(clipped)
        target[np.arange(len(target)), y_true] = 1
    else:
        target = y_true.astype(clipped.dtype, copy=False)
    return np.where(inside, -target / clipped, 0).astype(clipped.dtype) * (dloss / clipped.shape[0])


def categorical_cross_entropy(y_true, probs, epsilon=1e-7):
    """Mean cross-entropy between labels and probabilities (the output of a softmax).

    Args:
        y_true: integer labels ``(N,)`` or one-hot / probability rows ``(N, classes)``.
        probs: predicted probabilities, clipped to ``[epsilon, 1 - epsilon]``.

    Shape:
        y_true: (N,) or (N, K); probs: (N, K); returns a scalar.
    """
    return categorical_cross_entropy_forward(y_true, probs, epsilon)[0]


# mean squared error: loss = mean((y_pred - y_true)^2); dy_pred = 2 (y_pred - y_true) / size
def mean_squared_error_forward(y_true, y_pred, *, check=True):
    """Mean over every element of ``(y_pred - y_true) ** 2``; returns ``(loss, cache)``."""
    if check:
        y_pred, y_true = as_array(y_pred, "y_pred"), as_array(y_true, "y_true")
        if y_true.shape != y_pred.shape:
            raise ValueError(f"The `y_true` argument must have the shape of y_pred {y_pred.shape}. "
                             f"Received: y_true with shape {y_true.shape}")
        if y_pred.size == 0:
            raise ValueError(f"The `y_pred` argument must not be empty. Received: y_pred with shape {y_pred.shape}")
    # targets take the prediction's dtype (as Keras): float64 labels must not upcast a float32 model
    dtype = float_dtype(y_pred)
    diff = y_pred.astype(dtype) - y_true.astype(dtype)
    return dtype.type(np.mean(diff * diff)), diff


def mean_squared_error_backward(cache, dloss=1.0, *, check=True):
    """Gradient with respect to ``y_pred``: ``2 (y_pred - y_true) / size``."""
    diff = cache
    if check:
        dloss = check_number(dloss, "dloss")
    return diff * diff.dtype.type(2.0 * dloss / diff.size)


def mean_squared_error(y_true, y_pred):
    """Mean squared error over all elements.

    Shape:
        y_true, y_pred: any, equal; returns a scalar.
    """
    return mean_squared_error_forward(y_true, y_pred)[0]
