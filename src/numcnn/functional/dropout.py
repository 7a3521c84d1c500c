"""Inverted dropout: zero each input with probability ``rate`` and scale the rest by ``1 / (1 - rate)``."""

from __future__ import annotations

import numpy as np

from ..utils.validation import as_array, check_number, float_dtype


# dropout: y = x * mask, mask = keep / (1 - rate) with keep ~ Bernoulli(1 - rate); dx = dy * mask
def dropout_forward(x, rate, rng: np.random.Generator, *, check=True):
    """Drop inputs at random; returns ``(y, mask)`` (``mask`` None when ``rate`` is 0).

    Args:
        x: the inputs.
        rate: probability of zeroing each input, in [0, 1).
        rng: the Generator that draws the mask.
        check: check the arguments (the Dropout layer checked its rate once and passes False).

    Shape:
        x: any; output: same as x.
    """
    if check:
        x = as_array(x, "x")
        x = x.astype(float_dtype(x), copy=False)
        rate = check_number(rate, "rate", 0, 1, high_open=True)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"The `rng` argument must be a numpy.random.Generator. Received: {type(rng).__name__}")
    if rate == 0:
        return x, None
    mask = (rng.random(x.shape) >= rate).astype(x.dtype) / x.dtype.type(1 - rate)
    return x * mask, mask


def dropout_backward(dy, mask, *, check=True):
    """Gradient of :func:`dropout_forward`: ``dy * mask`` (``dy`` where nothing was dropped)."""
    if check:
        dy = as_array(dy, "dy")
        if mask is not None and dy.shape != mask.shape:
            raise ValueError(f"The `dy` argument must have the output's shape {mask.shape}. "
                             f"Received: dy with shape {dy.shape}")
    return dy if mask is None else dy * mask
