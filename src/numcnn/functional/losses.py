"""Loss functions and their gradients.

Argument order follows Keras: ``(y_true, y_pred)``. Every loss is the mean over
the batch, so its gradient carries the ``1 / N``.
"""

from __future__ import annotations

import numpy as np

from .._validation import _short, as_array, check_finite, float_dtype


def _targets(y_true, logits, name="y_pred"):
    """Validated one-hot/probability targets of ``logits``' shape and dtype (``name``: the predictions' argument)."""
    n, k = logits.shape
    y_true = as_array(y_true, "y_true")
    if y_true.ndim == 1 or (y_true.ndim == 2 and y_true.shape[1] == 1 and k > 1):
        labels = y_true.reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(
                f"The `y_true` argument must have one label per sample ({n}). Received: y_true with shape {y_true.shape}")
        if labels.dtype.kind == "f":
            if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
                raise ValueError(
                    "The `y_true` argument must hold integer class labels (or one-hot rows). "
                    f"Received: y_true with dtype {labels.dtype} and non-integer values")
        labels = labels.astype(np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(
                f"The `y_true` argument's labels must be in [0, {k}) for {k} classes. "
                f"Received: labels from {labels.min()} to {labels.max()}")
        onehot = np.zeros((n, k), dtype=logits.dtype)
        onehot[np.arange(n), labels] = 1
        return onehot
    if y_true.shape != logits.shape:
        raise ValueError(
            f"The `y_true` argument must be integer labels of shape ({n},) or one-hot rows of shape {logits.shape}. "
            f"Received: y_true with shape {y_true.shape}")
    if k == 0:  # labels of 0 classes were refused above as out of range
        raise ValueError(
            f"The `{name}` argument must have at least one class: shape (batch, classes >= 1). "
            f"Received: {name} with shape {logits.shape}")
    check_finite(y_true, "y_true")
    return y_true.astype(logits.dtype, copy=False)


def _check_dloss(dloss) -> float:
    """The upstream gradient of a scalar loss: a finite real number."""
    value = float("nan")
    if isinstance(dloss, (int, float, np.integer, np.floating)) and not isinstance(dloss, (bool, np.bool_)):
        value = float(dloss) if not isinstance(dloss, int) or abs(dloss) < 2**1023 else float("inf")
    if not np.isfinite(value):
        raise ValueError(f"The `dloss` argument must be a finite real number. Received: dloss={_short(dloss)}")
    return value


def _logits(y_pred, name="y_pred"):
    y_pred = as_array(y_pred, name)
    if y_pred.ndim != 2 or y_pred.shape[0] == 0:
        raise ValueError(
            f"The `{name}` argument must be a 2D array (batch, classes) with at least one row. "
            f"Received: {name} with shape {y_pred.shape}")
    check_finite(y_pred, name)
    return y_pred.astype(float_dtype(y_pred), copy=False)


def softmax_cross_entropy_forward(y_true, logits):
    """Mean softmax cross-entropy from logits; returns ``(loss, cache)``.

    Computed as ``logsumexp(z) - z[label]`` after subtracting each row's max, so it
    never overflows or takes ``log(0)``.
    """
    logits = _logits(logits, "logits")
    target = _targets(y_true, logits, "logits")
    # finite logits further apart than the dtype's range give -inf here, and 0 * -inf = NaN in the sum
    # below: the dtype's lowest value instead (a probability of 0 either way, and a saturated loss)
    with np.errstate(over="ignore"):
        shifted = logits - logits.max(axis=1, keepdims=True)
    np.maximum(shifted, np.finfo(shifted.dtype).min, out=shifted)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_sum
    n = logits.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        loss = -(target * log_probs).sum() / n
        if not np.isfinite(loss):  # products beyond the dtype's range: scale them into it first
            scale = -log_probs.min()  # the largest -log p: finite (clamped above), and large here
            loss = scale * (-(target * (log_probs / scale)).sum() / n)  # at worst +-inf, never inf - inf
    return logits.dtype.type(loss), (np.exp(log_probs), target)


def softmax_cross_entropy_backward(cache, dloss=1.0):
    """Gradient with respect to the logits: ``(softmax(z) - y_true) / N`` (times ``dloss``).

    Shape:
        returns: (N, classes)
    """
    probs, target = cache
    dloss = _check_dloss(dloss)
    return ((probs - target) * (dloss / probs.shape[0])).astype(probs.dtype, copy=False)


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


def categorical_cross_entropy_forward(y_true, probs, epsilon=1e-7):
    """Mean cross-entropy of probabilities (already softmaxed); returns ``(loss, cache)``.

    Probabilities are clipped to ``[epsilon, 1 - epsilon]`` (as Keras) so ``log`` stays finite.
    """
    probs = _logits(probs, "y_pred")
    target = _targets(y_true, probs)
    clipped = np.clip(probs, epsilon, 1 - epsilon)
    loss = -(target * np.log(clipped)).sum() / probs.shape[0]
    inside = (probs >= epsilon) & (probs <= 1 - epsilon)
    return probs.dtype.type(loss), (clipped, target, inside)


def categorical_cross_entropy_backward(cache, dloss=1.0):
    """Gradient with respect to the probabilities: ``-y_true / p / N`` (0 where clipped)."""
    clipped, target, inside = cache
    dloss = _check_dloss(dloss)
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


def mean_squared_error_forward(y_true, y_pred):
    """Mean over every element of ``(y_pred - y_true) ** 2``; returns ``(loss, cache)``."""
    y_pred = as_array(y_pred, "y_pred")
    y_true = as_array(y_true, "y_true")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"The `y_true` argument must have the shape of y_pred {y_pred.shape}. Received: y_true with shape {y_true.shape}")
    if y_pred.size == 0:
        raise ValueError(f"The `y_pred` argument must not be empty. Received: y_pred with shape {y_pred.shape}")
    check_finite(y_pred, "y_pred")
    check_finite(y_true, "y_true")
    # targets take the prediction's dtype (as Keras): float64 labels must not upcast a float32 model
    dtype = float_dtype(y_pred)
    diff = y_pred.astype(dtype) - y_true.astype(dtype)
    return dtype.type(np.mean(diff * diff)), diff


def mean_squared_error_backward(cache, dloss=1.0):
    """Gradient with respect to ``y_pred``: ``2 (y_pred - y_true) / size``."""
    diff = cache
    dloss = _check_dloss(dloss)
    return (diff * (2.0 * dloss / diff.size)).astype(diff.dtype, copy=False)


def mean_squared_error(y_true, y_pred):
    """Mean squared error over all elements.

    Shape:
        y_true, y_pred: any, equal; returns a scalar.
    """
    return mean_squared_error_forward(y_true, y_pred)[0]
