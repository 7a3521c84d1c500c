"""Elementwise arithmetic of branches: the product of equal-shaped arrays, and the difference of two.

The sum (``add``) and concatenation live in :mod:`numcnn.functional.merge`; these are the
other Keras merges, with the same argument checks.
"""

from __future__ import annotations

import numpy as np

from ..utils.validation import as_array
from .merge import _check_arrays


def _check_same_shape(xs):
    if len({x.shape for x in xs}) != 1:
        raise ValueError(f"The `xs` argument must hold arrays of one shape. Received: shapes {[x.shape for x in xs]}")


def _check_dy(dy, shape):
    dy = as_array(dy, "dy")
    if dy.shape != shape:
        raise ValueError(f"The `dy` argument must have the output's shape {shape}. Received: dy with shape {dy.shape}")
    return dy


# multiply: y = x_1 * ... * x_k; dx_i = dy * (the product of every x_j but x_i)
def multiply_forward(xs: list, *, check=True):
    """Elementwise product of equal-shaped arrays, as Keras folds it: ``((x_1 * x_2) * x_3) ...``.

    Args:
        xs: two or more arrays of one shape.
        check: check them (the default) and compute in their widest float dtype; the Multiply
            layer passes False with a list of arrays of one shape and dtype.

    Returns:
        ``(y, cache)``; ``cache`` (the inputs, not copied) goes to :func:`multiply_backward`.

    Shape:
        xs: k arrays of one shape (N, ...); output: (N, ...)

    Example:
        >>> multiply_forward([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]]), np.array([[5.0, 0.0]])])[0]
        array([[15.,  0.]])
    """
    if check:
        xs = _check_arrays(xs, "multiply")
        _check_same_shape(xs)
    y = np.multiply(xs[0], xs[1])
    for x in xs[2:]:
        y *= x  # y is ours: the first product made it
    return y, tuple(xs)


def multiply(xs: list) -> np.ndarray:
    """Elementwise product of two or more arrays of one shape (Keras ``Multiply``)."""
    return multiply_forward(xs)[0]


def multiply_backward(dy, cache, *, check=True) -> list:
    """Gradients of :func:`multiply_forward`: input ``i`` gets ``dy`` times the product of the others.

    The products of the inputs before ``i`` (left to right) and after it (right to left) are
    multiplied, never divided out of the whole product, so an input that holds zeros gets the
    right gradient (and the others get zero there). ``3k`` multiplications for ``k`` inputs.

    Args:
        dy: the gradient with respect to the output.
        cache: what :func:`multiply_forward` returned.
        check: check ``dy`` (an array of the output's shape); layers pass False.

    Returns:
        One gradient per input, in their order.

    Shape:
        dy: (N, ...); each gradient: (N, ...)
    """
    xs = cache
    if check:
        dy = _check_dy(dy, xs[0].shape)
    after = [None] * len(xs)  # after[i] = x_{i+1} * ... * x_{k-1}
    after[-2] = xs[-1]
    for i in range(len(xs) - 3, -1, -1):
        after[i] = xs[i + 1] * after[i + 1]
    grads, running = [], dy  # running = dy * x_0 * ... * x_{i-1}
    for i, x in enumerate(xs):
        grads.append(running * after[i] if after[i] is not None else running)
        if i + 1 < len(xs):
            running = running * x
    return grads


# subtract: y = x_1 - x_2; dx_1 = dy, dx_2 = -dy
def subtract_forward(xs: list, *, check=True):
    """Elementwise difference ``xs[0] - xs[1]`` of two arrays of one shape.

    Args:
        xs: exactly two arrays of one shape.
        check: check them (the default) and compute in their widest float dtype; the Subtract
            layer passes False with two arrays of one shape and dtype.

    Returns:
        ``(y, cache)``; ``cache`` (the output's shape) goes to :func:`subtract_backward`.

    Shape:
        xs: 2 arrays of one shape (N, ...); output: (N, ...)
    """
    if check:
        if isinstance(xs, (list, tuple)) and len(xs) != 2:
            raise ValueError(f"The `xs` argument must be a list of exactly 2 arrays to subtract. "
                             f"Received: a list of {len(xs)}")
        xs = _check_arrays(xs, "subtract")
        _check_same_shape(xs)
    y = np.subtract(xs[0], xs[1])
    return y, y.shape


def subtract(xs: list) -> np.ndarray:
    """Elementwise ``xs[0] - xs[1]`` (Keras ``Subtract``)."""
    return subtract_forward(xs)[0]


def subtract_backward(dy, cache, *, check=True) -> list:
    """Gradients of :func:`subtract_forward`: ``[dy, -dy]``.

    Shape:
        dy: (N, ...); each gradient: (N, ...)
    """
    if check:
        dy = _check_dy(dy, cache)
    return [dy, np.negative(dy)]
