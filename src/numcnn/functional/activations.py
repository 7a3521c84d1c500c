"""Activation functions, each with its backward right below it.

Each ``<name>_forward`` returns ``(y, cache)`` and ``<name>_backward(dy, cache)``
returns ``dx``; the plain ``<name>(x)`` returns ``y`` only. The cache is the
smallest thing the derivative needs (the input's sign, or the output).

NaN and infinity follow IEEE arithmetic, as in PyTorch and NumPy: ``relu(nan)`` is NaN,
``sigmoid(-inf)`` is 0. ``check=False`` (numcnn's layers) skips turning the arguments into
float arrays and checking ``dy``'s shape: the layer did it once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils.validation import _short, as_array, check_number, float_dtype
from .threads import over_batch


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
# with options (Keras): y = min(x, max_value) where x > threshold, negative_slope * (x - threshold) elsewhere;
# dy/dx = 1 where threshold < x < max_value, 0 where x >= max_value (as torch's relu6/hardtanh), negative_slope
# where x <= threshold
@dataclass(frozen=True)
class ReLUCache:
    """What :func:`relu_backward` needs from a ReLU with options (the plain ReLU's cache is ``x > 0`` alone)."""

    passing: np.ndarray  # threshold < x < max_value: the gradient passes unchanged
    below: np.ndarray | None  # x <= threshold, where the gradient is scaled by negative_slope; None when it is 0
    negative_slope: float


def _check_relu_options(negative_slope, max_value, threshold):
    negative_slope = check_number(negative_slope, "negative_slope", low=0)
    max_value = None if max_value is None else check_number(max_value, "max_value", low=0)
    return negative_slope, max_value, check_number(threshold, "threshold", low=0)


def _plain_relu(x, inplace):
    """``(max(x, 0), x > 0)``, over the batch on numcnn's threads; ``inplace`` writes ``y`` into ``x``.

    np.maximum, not np.where(x > 0, x, 0): NaN stays NaN (as PyTorch/TF), not 0.
    """
    y = x if inplace else np.empty_like(x)
    positive = np.empty(x.shape, dtype=bool)
    if x.ndim == 0:
        np.greater(x, 0, out=positive)
        return np.maximum(x, 0), positive

    def part(start, stop):
        np.greater(x[start:stop], 0, out=positive[start:stop])
        np.maximum(x[start:stop], 0, out=y[start:stop])

    over_batch(part, len(x), x.size)
    return y, positive


def relu_forward(x, negative_slope=0.0, max_value=None, threshold=0.0, *, check=True, inplace=False):
    """ReLU forward, with the options of Keras' ``relu``; returns ``(y, cache)``.

    ``y = min(x, max_value)`` where ``x > threshold``, ``negative_slope * (x - threshold)`` elsewhere
    (so ``y == 0`` at ``x == threshold``, as Keras computes it). ``max_value=6`` is ReLU6.

    Args:
        x: the inputs.
        negative_slope: slope below the threshold, >= 0 (0: the plain ReLU's zeros).
        max_value: None (no ceiling) or the largest output, >= 0.
        threshold: where the ReLU bends, >= 0.
        check: turn ``x`` into a float array and check the options (numcnn's layers pass False).
        inplace: the plain ReLU writes its output into ``x`` (as ``torch.relu_``): for a caller that
            owns ``x``, such as a layer's own pre-activation.

    Shape:
        x: any; output: same as x.
    """
    if check:
        x = _float(x)
        negative_slope, max_value, threshold = _check_relu_options(negative_slope, max_value, threshold)
    if max_value is None and negative_slope == 0 and threshold == 0:
        return _plain_relu(x, inplace and isinstance(x, np.ndarray) and x.ndim > 0)
    below = x <= threshold  # False for NaN, which takes the upper branch and stays NaN
    upper = x if max_value is None else np.minimum(x, max_value)
    lower = (x - threshold) * negative_slope if negative_slope else 0  # never 0 * -inf: that is NaN
    passing = x > threshold if max_value is None else (x > threshold) & (x < max_value)  # False for NaN
    y = np.where(below, lower, upper).astype(x.dtype, copy=False)
    return y, ReLUCache(passing, below if negative_slope else None, negative_slope)


def relu_backward(dy, cache, *, check=True):
    """ReLU backward: passes ``dy`` where the input was positive (0 at x == 0, as PyTorch/TF).

    With options: ``dy`` where ``threshold < x < max_value``, ``negative_slope * dy`` where
    ``x <= threshold`` and 0 from ``max_value`` on (0 at exactly ``max_value``, as ``torch.nn.functional.relu6``
    and ``hardtanh``). A NaN input gets a 0 gradient, as in the plain ReLU.
    """
    if type(cache) is ReLUCache:
        return _relu_options_backward(dy, cache, check)
    if check:
        dy = _check_dy(dy, cache.shape)
    dy = np.asarray(dy)
    if dy.ndim == 0:
        return np.where(cache, dy, 0).astype(dy.dtype, copy=False)
    dx = np.empty(dy.shape, dtype=np.result_type(dy))

    def part(start, stop):
        out = dx[start:stop]
        with np.errstate(invalid="ignore"):
            np.multiply(dy[start:stop], cache[start:stop], out=out)  # ~10x faster than np.where
        if out.dtype.kind == "f" and not np.isfinite(out).all():  # inf * False is NaN: a blocked gradient is 0
            np.copyto(out, np.where(cache[start:stop], dy[start:stop], 0))

    over_batch(part, len(dy), dy.size)
    return dx


def _relu_options_backward(dy, cache, check):
    if check:
        dy = _check_dy(dy, cache.passing.shape)
    # np.where, not products with the masks: an infinite dy where the gradient is blocked must give 0, not NaN
    blocked = 0 if cache.below is None else np.where(cache.below, dy * cache.negative_slope, 0)
    return np.where(cache.passing, dy, blocked).astype(np.result_type(dy), copy=False)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit ``max(x, 0)``, elementwise; the options as Keras' ``activations.relu``
    (see :func:`relu_forward`): ``relu(x, max_value=6)`` is ReLU6."""
    return relu_forward(x, negative_slope, max_value, threshold)[0]


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



# prelu: y = x where x > 0, alpha * x elsewhere; dy/dx = 1 or alpha (alpha at exactly 0, as PyTorch);
# dy/dalpha = x where x <= 0, summed over the axes alpha is broadcast along
def _sum_to(a, shape):
    """``a`` summed down to ``shape`` (the shape it was broadcast from, right-aligned)."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape) if d == 1 and a.shape[lead + i] != 1)
    return a.sum(axis=axes, keepdims=True).reshape(shape) if axes else a.reshape(shape)


def prelu_forward(x, alpha, *, check=True):
    """Parametric ReLU forward: ``x`` where ``x > 0``, ``alpha * x`` elsewhere; returns ``(y, cache)``.

    Shape:
        x: (N, ...); alpha: broadcastable to one sample (e.g. ``(C,)`` or ``(1, 1, C)`` for NHWC,
        ``(C, 1, 1)`` for NCHW); output: same as x.
    """
    if check:
        x = _float(x)
        alpha = as_array(alpha, "alpha").astype(x.dtype, copy=False)
        try:
            if np.broadcast_shapes(x.shape[1:], alpha.shape) != x.shape[1:]:
                raise ValueError
        except ValueError:
            raise ValueError(f"The `alpha` argument must broadcast to one sample of x, shape {x.shape[1:]}. "
                             f"Received: alpha with shape {alpha.shape}") from None
    positive = x > 0
    return np.where(positive, x, alpha * x), (x, alpha, positive)


def prelu_backward(dy, cache, *, check=True):
    """Parametric ReLU backward: ``(dx, dalpha)``, ``dalpha`` of ``alpha``'s shape, summed over the batch
    and the axes ``alpha`` is broadcast along."""
    x, alpha, positive = cache
    if check:
        dy = _check_dy(dy, x.shape)
    dx = np.where(positive, dy, dy * alpha)
    dalpha = _sum_to(np.where(positive, 0, dy * x), alpha.shape)
    return dx, dalpha


def prelu(x, alpha):
    """``x`` where ``x > 0``, ``alpha * x`` elsewhere (``torch.nn.functional.prelu``'s rule, ``alpha``
    broadcast against one sample as :func:`prelu_forward` says)."""
    return prelu_forward(x, alpha)[0]


# clip: y = min(max(x, min_value), max_value) (NaN stays NaN); dy/dx = 1 where min_value <= x <= max_value
# (torch.clamp's rule, 1 at the bounds), 0 elsewhere
def check_clip_bounds(min_value, max_value):
    """``(min_value, max_value)`` as floats or None, each finite, ``min_value <= max_value``."""
    low = None if min_value is None else check_number(min_value, "min_value")
    high = None if max_value is None else check_number(max_value, "max_value")
    if low is not None and high is not None and low > high:
        raise ValueError(f"The `min_value` argument must be <= max_value. Received: min_value={low}, "
                         f"max_value={high}")
    return low, high


def clip_forward(x, min_value=None, max_value=None, *, check=True):
    """Clip forward (ONNX ``Clip``, ``torch.clamp``): ``x`` limited to ``[min_value, max_value]``
    (``None``: no limit on that side); returns ``(y, cache)``."""
    if check:
        x, (min_value, max_value) = _float(x), check_clip_bounds(min_value, max_value)
    inside = np.ones(x.shape, bool)
    if min_value is not None:
        inside &= x >= min_value
    if max_value is not None:
        inside &= x <= max_value
    y = x if min_value is None else np.where(x < min_value, x.dtype.type(min_value), x)
    y = y if max_value is None else np.where(y > max_value, x.dtype.type(max_value), y)
    return y, inside


def clip_backward(dy, cache, *, check=True):
    """Clip backward: ``dy`` where ``min_value <= x <= max_value`` (bounds included, as ``torch.clamp``), 0
    elsewhere, NaN inputs included when a bound is set."""
    if check:
        dy = _check_dy(dy, cache.shape)
    return np.where(cache, dy, 0).astype(dy.dtype, copy=False)


def clip(x, min_value=None, max_value=None):
    """``x`` limited to ``[min_value, max_value]``, elementwise; NaN stays NaN. Shape: any -> same."""
    return clip_forward(x, min_value, max_value)[0]


# Names accepted by ``activation=`` arguments (Keras names).
ACTIVATIONS = {
    "linear": (linear_forward, linear_backward),
    "relu": (relu_forward, relu_backward),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "tanh": (tanh_forward, tanh_backward),
    "softmax": (softmax_forward, softmax_backward),
}


def _relu_forward_inplace(x, *, check=True):
    return relu_forward(x, check=check, inplace=True)


def get_activation(name, *, inplace=False):
    """``(forward, backward)`` pair for an activation name (``None`` means linear); ``inplace``: a
    forward that may write into its input (for a layer's own pre-activation; ReLU does)."""
    key = "linear" if name is None else name
    if isinstance(key, str) and key.lower() in ACTIVATIONS:
        if inplace and key.lower() == "relu":
            return _relu_forward_inplace, relu_backward
        return ACTIVATIONS[key.lower()]
    raise ValueError(
        f"The `activation` argument must be None or one of {sorted(ACTIVATIONS)}. Received: activation={_short(name)}")
