"""Inverted dropout: zero each input with probability ``rate`` and scale the rest by ``1 / (1 - rate)``.

With a ``noise_shape`` (Keras' argument) one draw is shared along the axes where it is 1:
``(N, 1, 1, C)`` on an NHWC batch drops whole feature maps (``SpatialDropout2D``).
"""

from __future__ import annotations

import numpy as np

from ..utils.validation import _is_int, _short, as_array, check_number, float_dtype


def noise_shape_for(noise_shape, shape) -> tuple:
    """The shape of the dropout draws for inputs of ``shape``: ``noise_shape`` with each None
    replaced by the input's size on that axis (as Keras); every size must be 1 or the input's.

    Example:
        >>> noise_shape_for((None, 1, 1, None), (8, 28, 28, 16))
        (8, 1, 1, 16)
    """
    ok = isinstance(noise_shape, (tuple, list)) and len(noise_shape) == len(shape) and all(
        d is None or _is_int(d) and d in (1, size) for d, size in zip(noise_shape, shape))
    if not ok:
        raise ValueError(
            f"The `noise_shape` argument must have one entry per input axis ({len(shape)}), each None, 1 or the "
            f"input's size on that axis. Received: noise_shape={_short(noise_shape)} for inputs with shape {shape}")
    return tuple(size if d is None else int(d) for d, size in zip(noise_shape, shape))


# dropout: y = x * mask, mask = keep / (1 - rate) with keep ~ Bernoulli(1 - rate); dx = dy * mask
def dropout_forward(x, rate, rng: np.random.Generator, noise_shape=None, *, check=True):
    """Drop inputs at random; returns ``(y, mask)`` (``mask`` None when ``rate`` is 0).

    Args:
        x: the inputs.
        rate: probability of zeroing each input, in [0, 1).
        rng: the Generator that draws the mask.
        noise_shape: None (one draw per input) or the shape of the draws, broadcast against ``x``:
            1 on the axes that share a draw, None or the input's size on the others
            (:func:`noise_shape_for`). ``x.shape`` itself draws exactly what None does.
        check: check the arguments (the Dropout layers checked theirs once and pass False, with a
            ``noise_shape`` of ints only).

    Shape:
        x: any; output: same as x. The mask has ``x``'s shape (a broadcast view of the draws).
    """
    if check:
        x = as_array(x, "x")
        x = x.astype(float_dtype(x), copy=False)
        rate = check_number(rate, "rate", 0, 1, high_open=True)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"The `rng` argument must be a numpy.random.Generator. Received: {type(rng).__name__}")
        if noise_shape is not None:
            noise_shape = noise_shape_for(noise_shape, x.shape)
    if rate == 0:
        return x, None
    keep = (rng.random(x.shape if noise_shape is None else noise_shape) >= rate).astype(x.dtype)
    mask = keep / x.dtype.type(1 - rate)
    if mask.shape != x.shape:
        mask = np.broadcast_to(mask, x.shape)  # a read-only view: no array of x's size is kept
    return x * mask, mask


def dropout_backward(dy, mask, *, check=True):
    """Gradient of :func:`dropout_forward`: ``dy * mask`` (``dy`` where nothing was dropped)."""
    if check:
        dy = as_array(dy, "dy")
        if mask is not None and dy.shape != mask.shape:
            raise ValueError(f"The `dy` argument must have the output's shape {mask.shape}. "
                             f"Received: dy with shape {dy.shape}")
    return dy if mask is None else dy * mask
