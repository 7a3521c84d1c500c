"""Activation functions, each with its backward right below it.

Each ``<name>_forward`` returns ``(y, cache)`` and ``<name>_backward(dy, cache)``
returns ``dx``; the plain ``<name>(x)`` returns ``y`` only. The cache is the
smallest thing the derivative needs (the input's sign, or the output).

NaN and infinity follow IEEE arithmetic, as in PyTorch and NumPy: ``relu(nan)`` is NaN,
``sigmoid(-inf)`` is 0. ``check=False`` (numcnn's layers) skips turning the arguments into
float arrays and checking ``dy``'s shape: the layer did it once.
"""

from __future__ import annotations

import numpy as np

from ..utils.validation import _short, as_array, float_dtype


def _float(x, name="x"):
    x = as_array(x, name)
    return x.astype(float_dtype(x), copy=False)


def _check_dy(dy, shape):
    """``dy`` as a numeric array of the output's ``shape``: never broadcast into a wrong-shaped gradient."""
    dy = as_array(dy, "dy")
    if dy.shape != shape:
        raise ValueError(
            f"The `dy` argument must have the activation output's shape {shape}. Received: dy with shape {dy.shape}")
    return dy


# relu: y = max(x, 0); dy/dx = 1 where x > 0
def relu_forward(x, *, check=True):
    """ReLU forward. Shape: any; returns ``(y, cache)``."""
    if check:
        x = _float(x)
    positive = x > 0
    # np.maximum, not np.where(x > 0, x, 0): NaN must stay NaN (as PyTorch/TF), not become 0
    return np.maximum(x, 0).astype(x.dtype, copy=False), positive


def relu_backward(dy, cache, *, check=True):
    """ReLU backward: passes ``dy`` where the input was positive (0 at x == 0, as PyTorch/TF)."""
    if check:
        dy = _check_dy(dy, cache.shape)
    with np.errstate(invalid="ignore"):
        dx = np.multiply(dy, cache)  # ~10x faster than np.where(cache, dy, 0) on large arrays
    if dx.dtype.kind == "f" and not np.isfinite(dx).all():  # inf * False is NaN; a blocked gradient must be exactly 0
        dx = np.where(cache, dy, 0)
    return dx.astype(np.result_type(dy), copy=False)


def relu(x):
    """Rectified linear unit ``max(x, 0)``, elementwise."""
    return relu_forward(x)[0]


# leaky_relu: y = x if x > 0 else negative_slope * x
def _check_slope(negative_slope):
    if not isinstance(negative_slope, (int, float, np.floating)) or isinstance(negative_slope, bool) \
            or not np.isfinite(negative_slope) or negative_slope < 0:
        raise ValueError(
            "The `negative_slope` argument must be a finite number >= 0. "
            f"Received: negative_slope={_short(negative_slope)}")
    return float(negative_slope)


def leaky_relu_forward(x, negative_slope=0.2, *, check=True):
    """Leaky ReLU forward (Keras' functional default slope 0.2); returns ``(y, cache)``."""
    if check:
        negative_slope, x = _check_slope(negative_slope), _float(x)
    positive = x > 0
    return np.where(positive, x, x * negative_slope), (positive, negative_slope)


def leaky_relu_backward(dy, cache, *, check=True):
    """Leaky ReLU backward: ``dy`` where x > 0, ``negative_slope * dy`` elsewhere."""
    positive, slope = cache
    if check:
        dy = _check_dy(dy, positive.shape)
    return np.where(positive, dy, dy * slope)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for positive inputs, ``negative_slope * x`` otherwise."""
    return leaky_relu_forward(x, negative_slope)[0]


# sigmoid: y = 1 / (1 + exp(-x)); dy/dx = y (1 - y)
def sigmoid_forward(x, *, check=True):
    """Numerically stable logistic sigmoid; returns ``(y, y)``."""
    if check:
        x = _float(x)
    e = np.exp(-np.abs(x))  # never overflows
    y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
    return y, y


def sigmoid_backward(dy, cache, *, check=True):
    """Sigmoid backward: ``dy * y * (1 - y)``."""
    y = cache
    if check:
        dy = _check_dy(dy, y.shape)
    return dy * y * (1 - y)


def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, elementwise, without overflow."""
    return sigmoid_forward(x)[0]


# tanh: dy/dx = 1 - y^2
def tanh_forward(x, *, check=True):
    """Hyperbolic tangent; returns ``(y, y)``."""
    y = np.tanh(_float(x) if check else x)
    return y, y


def tanh_backward(dy, cache, *, check=True):
    """Tanh backward: ``dy * (1 - y**2)``."""
    if check:
        dy = _check_dy(dy, cache.shape)
    return dy * (1 - cache * cache)


def tanh(x):
    """Hyperbolic tangent, elementwise."""
    return tanh_forward(x)[0]


# softmax: y = exp(x - max) / sum(exp(x - max)); dx = y * (dy - sum(dy * y))
def _check_axis(x, axis):
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ValueError(f"The `axis` argument must be an int in [-{x.ndim}, {x.ndim}). Received: axis={_short(axis)}")
    return int(axis)


def softmax_forward(x, axis=-1, *, check=True):
    """Numerically stable softmax along ``axis``; returns ``(y, (y, axis))``."""
    if check:
        x = _float(x)
        axis = _check_axis(x, axis)
    if x.shape[axis] == 0:  # nothing to normalise: an empty result (as PyTorch), not a max of nothing
        y = np.zeros(x.shape, dtype=x.dtype)
        return y, (y, axis)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, (y, axis)


def softmax_backward(dy, cache, *, check=True):
    """Softmax backward (the Jacobian-vector product): ``y * (dy - sum(dy * y, axis))``."""
    y, axis = cache
    if check:
        dy = _check_dy(dy, y.shape)
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (default last): non-negative, sums to 1.

    Shape:
        x: any, e.g. (N, classes); output: same as x.
    """
    return softmax_forward(x, axis)[0]


def linear_forward(x, *, check=True):
    """Identity; returns ``(x, x.shape)``."""
    if check:
        x = _float(x)
    return x, x.shape


def linear_backward(dy, cache, *, check=True):
    """Identity backward."""
    return _check_dy(dy, cache) if check else dy


# Names accepted by ``activation=`` arguments (Keras names).
ACTIVATIONS = {
    "linear": (linear_forward, linear_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "softmax": (softmax_forward, softmax_backward),
}


def get_activation(name):
    """``(forward, backward)`` pair for an activation name (``None`` means linear)."""
    key = "linear" if name is None else name
    if isinstance(key, str) and key.lower() in ACTIVATIONS:
        return ACTIVATIONS[key.lower()]
    raise ValueError(
        f"The `activation` argument must be None or one of {sorted(ACTIVATIONS)}. Received: activation={_short(name)}")
