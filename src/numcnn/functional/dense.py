"""The fully connected layer's math: ``y = x @ kernel + bias`` on the last axis, and its gradients."""

from __future__ import annotations

import math

from ..utils.validation import as_array, float_dtype


def _check_dense_args(x, kernel, bias):
    x, kernel = as_array(x, "x"), as_array(kernel, "kernel")
    if kernel.ndim != 2:
        raise ValueError("The `kernel` argument must be 2D (in_features, units). "
                         f"Received: kernel with shape {kernel.shape}")
    if x.ndim < 2 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"The `x` argument must be (N, ..., {kernel.shape[0]}) for a kernel of shape "
                         f"{kernel.shape}. Received: x with shape {x.shape}")
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != kernel.shape[1:]:
            raise ValueError(f"The `bias` argument must have shape ({kernel.shape[1]},). "
                             f"Received: bias with shape {bias.shape}")
    dtype = float_dtype(x, kernel, bias)
    return x.astype(dtype, copy=False), kernel.astype(dtype, copy=False), None if bias is None else bias.astype(dtype)


# dense: y = x @ kernel + bias; dx = dy @ kernel.T, dkernel = x.T @ dy, dbias = sum(dy)
def dense_forward(x, kernel, bias=None, *, check=True):
    """Affine map of the last axis; returns ``(y, cache)`` for :func:`dense_backward`.

    ``check=False`` (the Dense layer) takes float arrays of one dtype with matching sizes.

    Shape:
        x: (N, ..., in_features); kernel: (in_features, units); bias: (units,)
        output: (N, ..., units)

    Example:
        >>> dense_forward(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0))[0]
        array([[3., 4., 5., 6.],
               [3., 4., 5., 6.]])
    """
    if check:
        x, kernel, bias = _check_dense_args(x, kernel, bias)
    y = x @ kernel
    if bias is not None:
        y += bias
    return y, (x, kernel, bias is not None)


def dense_backward(dy, cache, *, check=True):
    """Gradients ``(dx, dkernel, dbias)`` of :func:`dense_forward`; ``dbias`` is None without a bias.

    Shape:
        dy: (N, ..., units); dx: like x; dkernel: (in_features, units); dbias: (units,)
    """
    x, kernel, has_bias = cache
    if check:
        dy = as_array(dy, "dy")
        expected = (*x.shape[:-1], kernel.shape[1])
        if dy.shape != expected:
            raise ValueError(f"The `dy` argument must have the output's shape {expected}. "
                             f"Received: dy with shape {dy.shape}")
    dy = dy.astype(x.dtype, copy=False)
    rows = math.prod(x.shape[:-1])  # not -1: ambiguous when there are 0 features
    x2, dy2 = x.reshape(rows, x.shape[-1]), dy.reshape(rows, kernel.shape[1])
    dbias = dy2.sum(axis=0) if has_bias else None
    return dy @ kernel.T, x2.T @ dy2, dbias


def dense(x, kernel, bias=None):
    """``x @ kernel + bias`` on the last axis (Keras ``Dense`` without activation).

    Shape:
        x: (N, ..., in_features); kernel: (in_features, units); bias: (units,); output: (N, ..., units)
    """
    return dense_forward(x, kernel, bias)[0]
