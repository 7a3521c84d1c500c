"""Merging branches: the sum of equal-shaped arrays (a residual connection) and concatenation."""

from __future__ import annotations

import numpy as np

from ..utils.validation import _is_int, _short, as_array, float_dtype


def _check_arrays(xs, what):
    if not isinstance(xs, (list, tuple)) or len(xs) < 2:
        raise ValueError(f"The `xs` argument must be a list of at least 2 arrays to {what}. Received: {_short(xs)}")
    arrays = [as_array(x, f"xs[{i}]") for i, x in enumerate(xs)]
    dtype = float_dtype(*arrays)
    return [a.astype(dtype, copy=False) for a in arrays]


# add: y = x_1 + ... + x_k; dx_i = dy
def add_forward(xs: list, dtype=None, *, check=True):
    """Elementwise sum of equal-shaped arrays; returns ``(y, k)``.

    ``check=False`` (the Add layer) takes a list of arrays of one shape.

    Shape:
        xs: k arrays of one shape (N, ...); output: (N, ...)
    """
    if check:
        xs = _check_arrays(xs, "add")
        if len({x.shape for x in xs}) != 1:
            raise ValueError(f"The `xs` argument must hold arrays of one shape. Received: shapes {[x.shape for x in xs]}")
    y = np.add(xs[0], xs[1], dtype=dtype)  # left to right, as np.sum over a stack, without the stack's copy
    for x in xs[2:]:
        np.add(y, x, out=y)
    return y, len(xs)


def add_backward(dy, count: int) -> list:
    """Every input receives the whole gradient."""
    return [dy] * count


# concatenate: y = [x_1, ..., x_k] along axis; dx_i = the slice of dy that x_i filled
def concatenate_forward(xs: list, axis: int, *, check=True):
    """Join arrays along ``axis``; returns ``(y, (axis, split points))``.

    ``check=False`` (the Concatenate layer) takes arrays equal but on ``axis``, a non-negative index.

    Shape:
        xs: arrays equal but on ``axis``; output: their sizes on ``axis`` summed.
    """
    if check:
        xs = _check_arrays(xs, "concatenate")
        ndim = xs[0].ndim
        if not _is_int(axis) or not -ndim <= axis < ndim or any(x.ndim != ndim for x in xs):
            raise ValueError(f"The `axis` argument must name an axis of arrays of one rank. "
                             f"Received: axis={_short(axis)}, shapes {[x.shape for x in xs]}")
        axis = int(axis) % ndim
        if len({x.shape[:axis] + x.shape[axis + 1:] for x in xs}) != 1:
            raise ValueError(f"The `xs` argument must hold arrays equal except on axis {axis}. "
                             f"Received: shapes {[x.shape for x in xs]}")
    sizes = [x.shape[axis] for x in xs]
    return np.concatenate(xs, axis=axis), (axis, np.cumsum(sizes)[:-1])


def concatenate_backward(dy, cache) -> list:
    """``dy`` split back into each input's part."""
    axis, splits = cache
    return np.split(dy, splits, axis=axis)
