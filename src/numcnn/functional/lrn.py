"""Local response normalisation (AlexNet, GoogLeNet): each value divided by a power of the squares
of its neighbours across channels.

    b_c = a_c / (bias + alpha / size * S_c) ** beta,   S_c = sum of a_j ** 2 for j in W(c)
    W(c) = c - floor((size - 1) / 2) ... c + ceil((size - 1) / 2), channels outside [0, C) count as 0

This is ONNX ``LRN`` exactly. ``torch.nn.LocalResponseNorm`` (and Caffe) compute the same thing
for an odd ``size``; for an even ``size`` PyTorch's window reaches one channel further *down*
(``c - size // 2 ... c + (size - 1) // 2``) where ONNX's reaches one further *up*; numcnn follows
ONNX (Caffe refuses even sizes, onnxruntime's ``LRN`` too). TensorFlow's ``tf.nn.local_response_normalization(depth_radius,
bias, alpha, beta)`` sums ``2 * depth_radius + 1`` channels centred on ``c`` and does not divide
``alpha`` by the window size: it is ``size = 2 * depth_radius + 1`` with ``alpha = alpha_tf * size``
here. AlexNet's paper writes the TensorFlow form too (``k=2, n=5, alpha=1e-4, beta=0.75``).

Backward (every channel in a window contributes). With ``d_c = bias + alpha / size * S_c`` and
``b_c = a_c * d_c ** -beta``:

    dL/da_j = g_j * d_j ** -beta
              - (2 * alpha * beta / size) * a_j * sum over c with j in W(c) of g_c * a_c * d_c ** (-beta - 1)

and ``j in W(c)`` is ``c in W'(j)``, the window mirrored (``ceil`` below, ``floor`` above).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils.validation import as_array, check_int, check_number, float_dtype, standardize_data_format


@dataclass(frozen=True)
class LRNCache:
    """What :func:`local_response_norm_backward` needs from the forward pass."""

    x: np.ndarray  # the input
    scale: np.ndarray  # d ** -beta, with d = bias + alpha / size * (window sum of x ** 2); y = x * scale
    d: np.ndarray
    axis: int  # the channel axis
    size: int
    alpha: float
    beta: float


def lrn_window(size: int) -> tuple[int, int]:
    """``(below, above)``: channel ``c``'s window is ``c - below ... c + above`` (ONNX's rule).

    Example:
        >>> lrn_window(5), lrn_window(4)
        ((2, 2), (1, 2))
    """
    return (size - 1) // 2, size // 2


def window_sum(a: np.ndarray, axis: int, below: int, above: int) -> np.ndarray:
    """``s[c] = a[c - below] + ... + a[c + above]`` along ``axis``, zeros outside ``[0, C)``.

    Shifted slices added onto a copy: ``below + above`` passes over the array, no padded copy.
    """
    c = a.shape[axis]
    s = a.copy()

    def part(start, stop):
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, stop)
        return tuple(index)

    for k in range(1, min(below, c - 1) + 1):  # s[c] += a[c - k] for c >= k
        s[part(k, c)] += a[part(0, c - k)]
    for k in range(1, min(above, c - 1) + 1):  # s[c] += a[c + k] for c < C - k
        s[part(0, c - k)] += a[part(k, c)]
    return s


def _check_lrn_args(x, size, alpha, beta, bias, data_format):
    data_format = standardize_data_format(data_format)
    x = as_array(x, "x")
    if x.ndim < 2:
        raise ValueError("The `x` argument must be at least 2D, (N, ..., C) for data_format='channels_last' or "
                         f"(N, C, ...) for 'channels_first'. Received: x with shape {x.shape}")
    size = check_int(size, "size")
    alpha, beta, bias = (check_number(v, name) for v, name in ((alpha, "alpha"), (beta, "beta"), (bias, "bias")))
    return x.astype(float_dtype(x), copy=False), size, alpha, beta, bias, data_format


# LRN: y = x * d ** -beta, d = bias + alpha / size * window_sum(x ** 2)
def local_response_norm_forward(x, size=5, alpha=1e-4, beta=0.75, bias=1.0, data_format="channels_last", *,
                                check=True):
    """Local response normalisation across channels (ONNX ``LRN``); returns ``(y, cache)``.

    Args:
        x: the inputs, channels on the last axis (``"channels_last"``) or on axis 1.
        size: the number of channels in each window (a positive int; see :func:`lrn_window`).
        alpha: the scale of the sum of squares, divided by ``size``.
        beta: the exponent.
        bias: added to the scaled sum (``k`` in PyTorch and the AlexNet paper).
        data_format: ``"channels_last"`` or ``"channels_first"``.
        check: check the arguments (the LocalResponseNormalization layer checked them once).

    Shape:
        x: (N, ..., C) or (N, C, ...), at least 2D; output: same as x.

    Example:
        >>> y, _ = local_response_norm_forward(np.ones((1, 1, 1, 3)), size=3, alpha=3.0, beta=1.0)
        >>> y[0, 0, 0]   # windows hold 2, 3 and 2 channels: 1 / (1 + 2), 1 / (1 + 3), 1 / (1 + 2)
        array([0.33333333, 0.25      , 0.33333333])
    """
    if check:
        x, size, alpha, beta, bias, data_format = _check_lrn_args(x, size, alpha, beta, bias, data_format)
    axis = x.ndim - 1 if data_format == "channels_last" else 1
    below, above = lrn_window(size)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # inf and NaN flow as in PyTorch, silently
        d = window_sum(x * x, axis, below, above)
        d *= alpha / size
        d += bias
        scale = np.power(d, -beta)
        y = x * scale
    return y, LRNCache(x, scale, d, axis, size, alpha, beta)


def local_response_norm_backward(dy, cache: LRNCache, *, check=True):
    """Gradient of :func:`local_response_norm_forward` with respect to ``x``."""
    if check:
        dy = as_array(dy, "dy")
        if dy.shape != cache.x.shape:
            raise ValueError(f"The `dy` argument must have the output's shape {cache.x.shape}. "
                             f"Received: dy with shape {dy.shape}")
    below, above = lrn_window(cache.size)
    # every window that holds channel j: the mirrored window
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        spread = window_sum(dy * cache.x * cache.scale / cache.d, cache.axis, above, below)
        return dy * cache.scale - (2 * cache.alpha * cache.beta / cache.size) * cache.x * spread


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, bias=1.0, data_format="channels_last"):
    """Local response normalisation across channels, as ONNX ``LRN``; see :func:`local_response_norm_forward`.

    Shape:
        x: (N, ..., C) or (N, C, ...); output: same as x.
    """
    return local_response_norm_forward(x, size, alpha, beta, bias, data_format)[0]
