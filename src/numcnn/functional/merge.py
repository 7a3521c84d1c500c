"""Merging branches: the sum of equal-shaped arrays (a residual connection) and concatenation."""

from __future__ import annotations

import numpy as np


# add: y = x_1 + ... + x_k; dx_i = dy
def add_forward(xs: list, dtype=None):
    """Elementwise sum of equal-shaped arrays; returns ``(y, k)``.

    Shape:
        xs: k arrays of one shape (N, ...); output: (N, ...)
    """
    return np.sum(xs, axis=0, dtype=dtype), len(xs)


def add_backward(dy, count: int) -> list:
    """Every input receives the whole gradient."""
    return [dy] * count


# concatenate: y = [x_1, ..., x_k] along axis; dx_i = the slice of dy that x_i filled
def concatenate_forward(xs: list, axis: int):
    """Join arrays along ``axis`` (a non-negative index); returns ``(y, (axis, split points))``.

    Shape:
        xs: arrays equal but on ``axis``; output: their sizes on ``axis`` summed.
    """
    sizes = [x.shape[axis] for x in xs]
    return np.concatenate(xs, axis=axis), (axis, np.cumsum(sizes)[:-1])


def concatenate_backward(dy, cache) -> list:
    """``dy`` split back into each input's part."""
    axis, splits = cache
    return np.split(dy, splits, axis=axis)
