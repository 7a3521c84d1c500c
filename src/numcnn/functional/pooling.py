"""2D max and average pooling and global pooling: forward and backward.

Padding rules (TensorFlow's documented behaviour, which Keras follows):

* max pooling pads with ``-inf``, so padding never wins a window;
* average pooling divides by the number of *real* pixels in each window, so
  padding never dilutes the mean. With pool 3 and stride 2 over ``[10, 20]``
  and ``padding="same"`` the result is 15, not 16.67 (Keras 3.15 on the torch
  backend pads with edge copies and gives 16.67; we follow TensorFlow).

Max pooling sends each window's gradient to its first maximum (row-major),
as Deep Learning from Scratch, PyTorch and TensorFlow do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (
    _short,
    as_array,
    check_finite,
    check_rank,
    float_dtype,
    standardize_data_format,
    standardize_tuple,
)
from .geometry import check_array_size, output_hw, resolve_padding, steps_taken
from .windows import (
    add_windows_nhwc,
    crop_nhwc,
    from_channels_last,
    pad_nhwc,
    tap_nhwc,
    to_channels_last,
    windows_nhwc,
)
from .threads import over_batch


@dataclass(frozen=True)
class Pool2DCache:
    """What :func:`max_pool2d_backward` / :func:`avg_pool2d_backward` need."""

    mode: str  # "max" or "avg"
    window: tuple  # (ph, pw)
    strides: tuple
    pads: tuple
    input_hw: tuple
    padded_shape: tuple | None  # None for an empty input (never padded)
    out_shape: tuple  # NHWC
    data_format: str
    dtype: np.dtype
    padded: np.ndarray | None  # (N, Hp, Wp, C): the padded input (max: the backward finds the maxima)
    y: np.ndarray | None  # (N, OH, OW, C): the window maxima (max)
    count: np.ndarray | None  # (OH, OW, 1): real pixels per window (average)


def _pool_args(x, pool_size, strides, padding, data_format):
    data_format = standardize_data_format(data_format)
    x = as_array(x, "x")
    layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
    check_rank(x, 4, "x", f"{layout} for data_format='{data_format}'")
    pool_size = standardize_tuple(pool_size, 2, "pool_size")
    strides = pool_size if strides is None else standardize_tuple(strides, 2, "strides")
    check_finite(x, "x")
    xl = to_channels_last(x, data_format).astype(float_dtype(x), copy=False)
    pads = resolve_padding(padding, xl.shape[1:3], pool_size, strides)
    for (before, after), size, name in zip(pads, pool_size, ("height", "width")):
        if before >= size or after >= size:
            raise ValueError(
                f"The `padding` argument must be smaller than the pool window on each side, so every "
                f"window holds a real pixel. Received: padding={_short(padding)} with pool {name} {size}"
            )
    out = output_hw(xl.shape[1:3], pool_size, strides, pads)
    n, h, w, c = xl.shape
    if h == 0 or w == 0:
        raise ValueError(
            "The `x` argument must have a height and a width of at least 1: with padding, every window would "
            f"hold padding only, and a max or a mean of no pixel is undefined. Received: x with shape {x.shape} "
            f"(data_format='{data_format}'), padding={_short(padding)}")
    received = (f"pool_size={pool_size}, strides={strides}, padding={_short(padding)}, "
                f"x with shape {x.shape}")
    check_array_size((n, *out, c), xl.itemsize, "output", received)
    if n * c:  # an empty input is never padded
        check_array_size((n, h + sum(pads[0]), w + sum(pads[1]), c), xl.itemsize, "padded input", received)
    return xl, pool_size, steps_taken(strides, out), pads, out, data_format


def _window_means(win, count):
    """Mean of each window's real pixels: ``win.sum(axis=(3, 4)) / count``.

    The input is finite, so a non-finite mean means the sum left the dtype's range (finite inputs
    near its max): only then, sum in float64 (float16/float32) or divide before summing (float64).

    Shape:
        win: (N, OH, OW, ph, pw, C); count: (OH, OW, 1); output: (N, OH, OW, C)
    """
    with np.errstate(over="ignore"):
        y = win.sum(axis=(3, 4))
    y /= count
    if np.isfinite(y).all():
        return y
    if win.dtype.itemsize < 8:
        return (win.sum(axis=(3, 4), dtype=np.float64) / count).astype(win.dtype)
    return (win / count[:, :, None, None, :]).sum(axis=(3, 4))


def _pool_forward(mode, x, pool_size, strides, padding, data_format):
    xl, window, strides, pads, (oh, ow), data_format = _pool_args(x, pool_size, strides, padding, data_format)
    n, h, w, c = xl.shape
    if n * c == 0:  # an empty batch (or no channel): an empty output, nothing padded
        cache = Pool2DCache(mode, window, strides, pads, (h, w), None, (n, oh, ow, c), data_format, xl.dtype,
                            None, None, None)
        return from_channels_last(np.zeros((n, oh, ow, c), dtype=xl.dtype), data_format), cache
    xp = pad_nhwc(xl, pads, value=-np.inf if mode == "max" else 0.0)
    win = windows_nhwc(xp, window, strides, (1, 1), (oh, ow))  # (N, OH, OW, ph, pw, C)
    count = None
    if mode == "max":
        # one np.maximum per tap over strided views: no copy of every window, no argmax here
        # (the backward pass finds each window's first maximum from the kept input and output)
        y = np.empty((n, oh, ow, c), dtype=xl.dtype)

        def maxima(start, stop):
            out = y[start:stop]
            np.copyto(out, win[start:stop, :, :, 0, 0, :])
            for t in range(1, window[0] * window[1]):
                np.maximum(out, win[start:stop, :, :, t // window[1], t % window[1], :], out=out)

        over_batch(maxima, n, y.size * window[0] * window[1])
    else:
        ones = pad_nhwc(np.ones((1, h, w, 1), dtype=xl.dtype), pads)
        count = windows_nhwc(ones, window, strides, (1, 1), (oh, ow)).sum(axis=(3, 4))[0]  # (OH, OW, 1)
        y = _window_means(win, count)
    cache = Pool2DCache(mode, window, strides, pads, (h, w), xp.shape, y.shape, data_format, xl.dtype,
                        xp if mode == "max" else None, y.copy() if mode == "max" else None, count)
    return from_channels_last(y, data_format), cache


def _pool_backward(dy, cache: Pool2DCache):
    dy = as_array(dy, "dy")
    dyl = to_channels_last(dy, cache.data_format) if dy.ndim == 4 else dy
    if dyl.shape != cache.out_shape:
        raise ValueError(f"The `dy` argument must have the pooled output's shape. Received: dy with shape {dy.shape}")
    dyl = dyl.astype(cache.dtype, copy=False)
    n, oh, ow, c = cache.out_shape
    if n * c == 0:
        return from_channels_last(np.zeros((n, *cache.input_hw, c), dtype=cache.dtype), cache.data_format)
    ph, pw = cache.window
    if cache.mode == "max":
        # taps in row-major order: a tap gets dy where it equals the maximum and no earlier tap did
        # (the first maximum, as DLFS, PyTorch and TensorFlow), added onto the positions it read
        dxp = np.zeros(cache.padded_shape, dtype=cache.dtype)
        win = windows_nhwc(cache.padded, cache.window, cache.strides, (1, 1), (oh, ow))

        def route(start, stop):
            grad, y, out = dyl[start:stop], cache.y[start:stop], dxp[start:stop]
            term, hit, taken = np.empty_like(grad), np.empty(grad.shape, dtype=bool), np.zeros(grad.shape, dtype=bool)
            for t in range(ph * pw):
                a, b = divmod(t, pw)
                np.equal(win[start:stop, :, :, a, b, :], y, out=hit)
                hit &= ~taken
                taken |= hit
                np.multiply(grad, hit, out=term)
                tap = tap_nhwc(out, a, b, cache.strides, (1, 1), (oh, ow))
                tap += term

        over_batch(route, n, dyl.size * ph * pw)
    else:
        dwin = np.broadcast_to((dyl / cache.count)[:, :, :, None, None, :], (n, oh, ow, ph, pw, c))
        dxp = add_windows_nhwc(dwin, cache.padded_shape, cache.strides, (1, 1))
    dx = crop_nhwc(dxp, cache.pads, cache.input_hw)
    return from_channels_last(np.ascontiguousarray(dx), cache.data_format)


_POOL_DOC = """{title} over ``pool_size`` windows.

    Args:
        x: input images.
        pool_size: int or (ph, pw).
        strides: int or (sh, sw); None means ``pool_size`` (Keras default).
        padding: ``"valid"``, ``"same"`` (output ``ceil(in / stride)``, extra pixel
            bottom/right), or explicit amounts (int, pair, or ((top, bottom), (left, right)))
            smaller than the window. {padding_rule}
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        output: (N, OH, OW, C) or (N, C, OH, OW)
    """


def max_pool2d_forward(x, pool_size=2, strides=None, padding="valid", data_format="channels_last"):
    """Max pooling forward pass; returns ``(y, cache)`` for :func:`max_pool2d_backward`."""
    return _pool_forward("max", x, pool_size, strides, padding, data_format)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", data_format="channels_last") -> np.ndarray:
    return max_pool2d_forward(x, pool_size, strides, padding, data_format)[0]


max_pool2d.__doc__ = _POOL_DOC.format(
    title="Maximum", padding_rule="Padding is -inf: it never wins.") + """
    Example:
        >>> x = np.array([[7, 11, 13, 15], [3, 4, 2, 3], [1, 2, 15, 9], [1, 8, 3, 10]])
        >>> max_pool2d(x.reshape(1, 4, 4, 1), 2)[0, :, :, 0]   # seed 002
        array([[11., 15.],
               [ 8., 15.]], dtype=float32)
    """


def max_pool2d_backward(dy, cache: Pool2DCache) -> np.ndarray:
    """Gradient of max pooling: each window's ``dy`` goes to its (first) maximum.

    Shape:
        dy: like the pooled output; returns dx like the input.
    """
    return _pool_backward(dy, cache)


def avg_pool2d_forward(x, pool_size=2, strides=None, padding="valid", data_format="channels_last"):
    """Average pooling forward pass; returns ``(y, cache)`` for :func:`avg_pool2d_backward`."""
    return _pool_forward("avg", x, pool_size, strides, padding, data_format)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid", data_format="channels_last") -> np.ndarray:
    return avg_pool2d_forward(x, pool_size, strides, padding, data_format)[0]


avg_pool2d.__doc__ = _POOL_DOC.format(
    title="Mean", padding_rule="Each window is averaged over its real pixels only (TensorFlow's rule).")


def avg_pool2d_backward(dy, cache: Pool2DCache) -> np.ndarray:
    """Gradient of average pooling: ``dy / count`` spread evenly over each window's real pixels."""
    return _pool_backward(dy, cache)


@dataclass(frozen=True)
class GlobalPoolCache:
    mode: str
    x_shape: tuple
    axes: tuple
    keepdims: bool
    dtype: np.dtype
    share: np.ndarray | None  # max: 1/ties where x equals the max, else 0


def _global_args(x, data_format, keepdims):
    """Checked ``(x in its compute dtype, spatial axes, keepdims)``."""
    data_format = standardize_data_format(data_format)
    if not (isinstance(keepdims, (bool, np.bool_)) or (isinstance(keepdims, (int, np.integer)) and keepdims in (0, 1))):
        raise ValueError(f"The `keepdims` argument must be True or False. Received: keepdims={_short(keepdims)}")
    x = as_array(x, "x")
    layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
    check_rank(x, 4, "x", f"{layout} for data_format='{data_format}'")
    check_finite(x, "x")
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    channels = x.shape[3] if data_format == "channels_last" else x.shape[1]
    if x.shape[axes[0]] * x.shape[axes[1]] == 0 and x.shape[0] * channels:
        raise ValueError(
            "The `x` argument must have at least one pixel (H * W >= 1) to pool over. "
            f"Received: x with shape {x.shape} (data_format='{data_format}')")
    return x.astype(float_dtype(x), copy=False), axes, bool(keepdims)


def global_avg_pool2d_forward(x, data_format="channels_last", keepdims=False):
    """Global average pooling forward; returns ``(y, cache)``."""
    x, axes, keepdims = _global_args(x, data_format, keepdims)
    if x.size == 0:  # an empty batch or no channel: an empty mean, without NumPy's warning
        y = np.zeros([1 if i in axes else s for i, s in enumerate(x.shape)], dtype=x.dtype)
        y = y if keepdims else y.squeeze(axis=axes)
    else:
        with np.errstate(over="ignore"):
            y = x.mean(axis=axes, keepdims=keepdims)
        if not np.isfinite(y).all():  # the sum of finite inputs near the dtype's max left its range
            spatial = x.shape[axes[0]] * x.shape[axes[1]]
            y = (x.mean(axis=axes, keepdims=keepdims, dtype=np.float64).astype(x.dtype) if x.itemsize < 8
                 else (x / spatial).sum(axis=axes, keepdims=keepdims))
    return y, GlobalPoolCache("avg", x.shape, axes, keepdims, x.dtype, None)


def global_max_pool2d_forward(x, data_format="channels_last", keepdims=False):
    """Global max pooling forward; returns ``(y, cache)``.

    On ties the gradient is shared evenly among the maxima (as TensorFlow's ``reduce_max``).
    """
    x, axes, keepdims = _global_args(x, data_format, keepdims)
    if x.size == 0:  # an empty batch or no channel: NumPy has no max of an empty array
        y = np.zeros([1 if i in axes else s for i, s in enumerate(x.shape)], dtype=x.dtype)
        share = np.zeros(x.shape, dtype=x.dtype)
        return (y if keepdims else y.squeeze(axis=axes)), GlobalPoolCache("max", x.shape, axes, keepdims, x.dtype, share)
    y = x.max(axis=axes, keepdims=True)
    hit = (x == y).astype(x.dtype)
    share = hit / hit.sum(axis=axes, keepdims=True)
    return (y if keepdims else y.squeeze(axis=axes)), GlobalPoolCache("max", x.shape, axes, keepdims, x.dtype, share)


def global_avg_pool2d(x, data_format="channels_last", keepdims=False) -> np.ndarray:
    """Mean over the spatial axes.

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        output: (N, C), or (N, 1, 1, C) / (N, C, 1, 1) with ``keepdims=True``
    """
    return global_avg_pool2d_forward(x, data_format, keepdims)[0]


def global_max_pool2d(x, data_format="channels_last", keepdims=False) -> np.ndarray:
    """Maximum over the spatial axes. Shapes as :func:`global_avg_pool2d`."""
    return global_max_pool2d_forward(x, data_format, keepdims)[0]


def global_pool2d_backward(dy, cache: GlobalPoolCache) -> np.ndarray:
    """Gradient of global average or max pooling.

    Shape:
        dy: (N, C) (or keepdims shape); returns dx like the input.
    """
    dy = as_array(dy, "dy")
    kept = tuple(1 if i in cache.axes else s for i, s in enumerate(cache.x_shape))
    expected = kept if cache.keepdims else tuple(s for i, s in enumerate(cache.x_shape) if i not in cache.axes)
    if dy.shape != expected:
        raise ValueError(
            f"The `dy` argument must have the pooled output's shape {expected}. Received: dy with shape {dy.shape}")
    dy = dy.reshape(kept)
    spatial = max(cache.x_shape[cache.axes[0]] * cache.x_shape[cache.axes[1]], 1)  # 0 only for an empty dy
    if cache.mode == "avg":
        return np.broadcast_to(dy / spatial, cache.x_shape).astype(cache.dtype)
    return (dy * cache.share).astype(cache.dtype, copy=False)
