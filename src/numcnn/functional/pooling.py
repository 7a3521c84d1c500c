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

from ..utils.validation import (
    _short,
    allocation_guard,
    as_array,
    check_rank,
    float_dtype,
    standardize_data_format,
    standardize_padding,
    standardize_tuple,
)
from .geometry import output_hw, resolve_padding
from .windows import (
    add_windows_nhwc,
    crop_nhwc,
    from_channels_last,
    pad_nhwc,
    shape_from_channels_last,
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


def check_pool_input(x: np.ndarray, data_format: str) -> None:
    """Refuse an input pooling cannot take: not 4D, no channel, or no pixel (a max or a mean of
    nothing is undefined). The per-call checks of the pooling functions and layers."""
    layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
    check_rank(x, 4, "x", f"{layout} for data_format='{data_format}'")
    n, h, w, c = x.shape if data_format == "channels_last" else (x.shape[0], *x.shape[2:], x.shape[1])
    if c == 0 or h == 0 or w == 0:
        raise ValueError(
            "The `x` argument must have at least one channel and a height and width of at least 1, as in "
            f"PyTorch. Received: x with shape {x.shape} (data_format='{data_format}')")


def check_pool_padding(padding, pool_size) -> None:
    """Refuse explicit padding as large as the window on a side: a window of padding only has no value."""
    if isinstance(padding, str):
        return  # "valid" pads nothing, and "same" pads less than the window on each side
    for (before, after), size, name in zip(padding, pool_size, ("height", "width")):
        if before >= size or after >= size:
            raise ValueError(
                f"The `padding` argument must be smaller than the pool window on each side, so every "
                f"window holds a real pixel. Received: padding={_short(padding)} with pool {name} {size}")


def _check_pool_args(x, pool_size, strides, padding, data_format):
    """The door's checks; returns the arguments normalised, in :func:`_pool_forward`'s order."""
    data_format = standardize_data_format(data_format)
    x = as_array(x, "x")
    pool_size = standardize_tuple(pool_size, 2, "pool_size")
    strides = pool_size if strides is None else standardize_tuple(strides, 2, "strides")
    padding = standardize_padding(padding)
    check_pool_input(x, data_format)
    check_pool_padding(padding, pool_size)
    return x, pool_size, strides, padding, data_format


def _window_means(win, count):
    """Mean of each window's real pixels: ``win.sum(axis=(3, 4)) / count``.

    A non-finite mean of finite inputs means the sum left the dtype's range (values near its max):
    only then, sum in float64 (float16/float32) or divide before summing (float64), as PyTorch
    accumulates in a wider type. NaN and infinity in the input stay in the output.

    Shape:
        win: (N, OH, OW, ph, pw, C); count: (OH, OW, 1); output: (N, OH, OW, C)
    """
    with np.errstate(over="ignore", invalid="ignore"):
        y = win.sum(axis=(3, 4))
    y /= count
    if np.isfinite(y).all() or not np.isfinite(win).all():
        return y
    if win.dtype.itemsize < 8:
        return (win.sum(axis=(3, 4), dtype=np.float64) / count).astype(win.dtype)
    return (win / count[:, :, None, None, :]).sum(axis=(3, 4))


def _pool_forward(mode, x, pool_size, strides, padding, data_format, check):
    if check:
        args = _check_pool_args(x, pool_size, strides, padding, data_format)
        received = f"x with shape {args[0].shape}, pool_size={args[1]}, strides={args[2]}, padding={_short(padding)}"
        with allocation_guard(f"{mode}_pool2d", received):
            return _pool_forward(mode, *args, check=False)
    xl = to_channels_last(x, data_format).astype(float_dtype(x), copy=False)
    window = pool_size
    pads = resolve_padding(padding, xl.shape[1:3], window, strides, check=False)
    oh, ow = output_hw(xl.shape[1:3], window, strides, pads)
    n, h, w, c = xl.shape
    if n == 0:  # an empty batch: an empty output, nothing padded
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


def _first_max_taps(cache: Pool2DCache, dyl: np.ndarray) -> np.ndarray:
    """Max pooling backward: each window's ``dy`` goes to its first maximum in row-major order (as
    Deep Learning from Scratch, PyTorch and TensorFlow), added onto the input position that tap read.

    As PyTorch's CPU kernel does, a window whose maximum is NaN sends it to its last NaN, and one
    whose maximum is -inf to its first real pixel (never to padding).

    Shape:
        dyl: (N, OH, OW, C); output: dx padded like the forward's input, (N, Hp, Wp, C)
    """
    n, oh, ow, _ = cache.out_shape
    ph, pw = cache.window
    nan_max = np.isnan(cache.y)
    nan_max = nan_max if nan_max.any() else None
    if nan_max is None and _tiles(cache):
        return _first_max_tiles(cache, dyl)
    dxp = np.zeros(cache.padded_shape, dtype=cache.dtype)
    win = windows_nhwc(cache.padded, cache.window, cache.strides, (1, 1), (oh, ow))
    padded = any(p for pair in cache.pads for p in pair)
    real = None  # (OH, OW, ph, pw, 1): which taps read a real pixel, where a -inf maximum needs it
    if padded and np.isneginf(cache.y).any():
        ones = pad_nhwc(np.ones((1, *cache.input_hw, 1), dtype=bool), cache.pads, value=False)
        real = windows_nhwc(ones, cache.window, cache.strides, (1, 1), (oh, ow))[0]

    def route(start, stop):
        grad, y, out = dyl[start:stop], cache.y[start:stop], dxp[start:stop]
        term, hit, taken = np.empty_like(grad), np.empty(grad.shape, dtype=bool), np.zeros(grad.shape, dtype=bool)

        def send(t):  # the gradient of the windows that ``hit`` marks goes to the position tap t read
            hit[...] &= ~taken
            taken[...] |= hit
            np.multiply(grad, hit, out=term)
            target = tap_nhwc(out, *divmod(t, pw), cache.strides, (1, 1), (oh, ow))
            target += term

        for t in range(ph * pw):  # a NaN maximum equals no tap: those windows wait for the loop below
            a, b = divmod(t, pw)
            np.equal(win[start:stop, :, :, a, b, :], y, out=hit)
            if real is not None:
                hit &= real[:, :, a, b] | (y != -np.inf)
            send(t)
        if nan_max is not None:
            for t in reversed(range(ph * pw)):
                np.logical_and(nan_max[start:stop], np.isnan(win[start:stop, :, :, t // pw, t % pw, :]), out=hit)
                send(t)

    over_batch(route, n, dyl.size * ph * pw)
    return dxp


def _tiles(cache: Pool2DCache) -> bool:
    """Windows that tile the input: stride = window, no padding, no pixel left over (2x2 pooling of an
    even image, the common case), so that every input pixel belongs to exactly one window."""
    n, oh, ow, _ = cache.out_shape
    return (cache.strides == cache.window and not any(map(any, cache.pads))
            and cache.padded_shape[1:3] == (oh * cache.window[0], ow * cache.window[1]))


def _first_max_tiles(cache: Pool2DCache, dyl: np.ndarray) -> np.ndarray:
    """:func:`_first_max_taps` for tiling windows without a NaN maximum: each input pixel is written once,
    ``dy`` where it is its window's first maximum and 0 elsewhere, with no zeroed buffer and no additions."""
    n, oh, ow, c = cache.out_shape
    ph, pw = cache.window
    xv = cache.padded.reshape(n, oh, ph, ow, pw, c)
    dxp = np.empty(cache.padded_shape, dtype=cache.dtype)
    dxv = dxp.reshape(n, oh, ph, ow, pw, c)

    def route(start, stop):
        grad, y = dyl[start:stop], cache.y[start:stop]
        hit, taken = np.empty(grad.shape, dtype=bool), np.empty(grad.shape, dtype=bool)
        for t in range(ph * pw):
            a, b = divmod(t, pw)
            np.equal(xv[start:stop, :, a, :, b, :], y, out=hit)
            if t == 0:
                np.copyto(taken, hit)
            else:
                np.greater(hit, taken, out=hit)  # a maximum, and no earlier tap of the window had one
                if t < ph * pw - 1:
                    taken |= hit
            np.multiply(grad, hit, out=dxv[start:stop, :, a, :, b, :])

    over_batch(route, n, dyl.size * ph * pw)
    return dxp


def _pool_backward(dy, cache: Pool2DCache, check):
    if check:
        dy = as_array(dy, "dy")
        expected = shape_from_channels_last(cache.out_shape, cache.data_format)
        if dy.shape != expected:
            raise ValueError(f"The `dy` argument must have the pooled output's shape {expected}. "
                             f"Received: dy with shape {dy.shape}")
    dyl = to_channels_last(dy, cache.data_format).astype(cache.dtype, copy=False)
    n, oh, ow, c = cache.out_shape
    if n == 0:
        return from_channels_last(np.zeros((n, *cache.input_hw, c), dtype=cache.dtype), cache.data_format)
    if cache.mode == "max":
        dxp = _first_max_taps(cache, dyl)
    else:
        ph, pw = cache.window
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


def max_pool2d_forward(x, pool_size=2, strides=None, padding="valid", data_format="channels_last", *, check=True):
    """Max pooling forward pass; returns ``(y, cache)`` for :func:`max_pool2d_backward`.

    ``check=False`` (numcnn's layers) skips the checks: ``strides`` a tuple, ``padding`` from
    ``standardize_padding``, an input :func:`check_pool_input` accepts.
    """
    return _pool_forward("max", x, pool_size, strides, padding, data_format, check)


def max_pool2d(x, pool_size=2, strides=None, padding="valid", data_format="channels_last") -> np.ndarray:
    return max_pool2d_forward(x, pool_size, strides, padding, data_format)[0]


max_pool2d.__doc__ = _POOL_DOC.format(
    title="Maximum", padding_rule="Padding is -inf: it never wins; NaN wins every window it is in.") + """
    Example:
        >>> x = np.array([[7, 11, 13, 15], [3, 4, 2, 3], [1, 2, 15, 9], [1, 8, 3, 10]])
        >>> max_pool2d(x.reshape(1, 4, 4, 1), 2)[0, :, :, 0]   # note 002
        array([[11., 15.],
               [ 8., 15.]], dtype=float32)
    """


def max_pool2d_backward(dy, cache: Pool2DCache, *, check=True) -> np.ndarray:
    """Gradient of max pooling: each window's ``dy`` goes to its (first) maximum.

    Shape:
        dy: like the pooled output; returns dx like the input.
    """
    return _pool_backward(dy, cache, check)


def avg_pool2d_forward(x, pool_size=2, strides=None, padding="valid", data_format="channels_last", *, check=True):
    """Average pooling forward pass; returns ``(y, cache)`` for :func:`avg_pool2d_backward`."""
    return _pool_forward("avg", x, pool_size, strides, padding, data_format, check)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid", data_format="channels_last") -> np.ndarray:
    return avg_pool2d_forward(x, pool_size, strides, padding, data_format)[0]


avg_pool2d.__doc__ = _POOL_DOC.format(
    title="Mean", padding_rule="Each window is averaged over its real pixels only (TensorFlow's rule).")


def avg_pool2d_backward(dy, cache: Pool2DCache, *, check=True) -> np.ndarray:
    """Gradient of average pooling: ``dy / count`` spread evenly over each window's real pixels."""
    return _pool_backward(dy, cache, check)


@dataclass(frozen=True)
class GlobalPoolCache:
    mode: str
    x_shape: tuple
    axes: tuple
    keepdims: bool
    dtype: np.dtype
    share: np.ndarray | None  # max: 1/ties where x equals the max (or is NaN where the max is), else 0


def _check_global_args(x, data_format, keepdims):
    """The door's checks: ``(x, data_format, keepdims)`` normalised."""
    data_format = standardize_data_format(data_format)
    if not (isinstance(keepdims, (bool, np.bool_)) or (isinstance(keepdims, (int, np.integer)) and keepdims in (0, 1))):
        raise ValueError(f"The `keepdims` argument must be True or False. Received: keepdims={_short(keepdims)}")
    x = as_array(x, "x")
    check_pool_input(x, data_format)
    return x, data_format, bool(keepdims)


def global_avg_pool2d_forward(x, data_format="channels_last", keepdims=False, *, check=True):
    """Global average pooling forward; returns ``(y, cache)``."""
    if check:
        x, data_format, keepdims = _check_global_args(x, data_format, keepdims)
    x = x.astype(float_dtype(x), copy=False)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    with np.errstate(over="ignore", invalid="ignore"):
        y = x.mean(axis=axes, keepdims=keepdims)
    if not np.isfinite(y).all() and np.isfinite(x).all():  # the sum of values near the dtype's max left its range
        spatial = x.shape[axes[0]] * x.shape[axes[1]]
        y = (x.mean(axis=axes, keepdims=keepdims, dtype=np.float64).astype(x.dtype) if x.itemsize < 8
             else (x / spatial).sum(axis=axes, keepdims=keepdims))
    return y, GlobalPoolCache("avg", x.shape, axes, keepdims, x.dtype, None)


def global_max_pool2d_forward(x, data_format="channels_last", keepdims=False, *, check=True):
    """Global max pooling forward; returns ``(y, cache)``.

    On ties the gradient is shared evenly among the maxima (as TensorFlow's ``reduce_max``); a
    channel whose maximum is NaN shares it among its NaNs.
    """
    if check:
        x, data_format, keepdims = _check_global_args(x, data_format, keepdims)
    x = x.astype(float_dtype(x), copy=False)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    if x.shape[0] == 0:  # an empty batch: NumPy has no max of an empty array
        y = np.zeros([1 if i in axes else s for i, s in enumerate(x.shape)], dtype=x.dtype)
        share = np.zeros(x.shape, dtype=x.dtype)
        return (y if keepdims else y.squeeze(axis=axes)), GlobalPoolCache("max", x.shape, axes, keepdims, x.dtype, share)
    y = x.max(axis=axes, keepdims=True)
    hit = x == y
    if np.isnan(y).any():
        hit |= np.isnan(x) & np.isnan(y)
    hit = hit.astype(x.dtype)
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


def global_pool2d_backward(dy, cache: GlobalPoolCache, *, check=True) -> np.ndarray:
    """Gradient of global average or max pooling.

    Shape:
        dy: (N, C) (or keepdims shape); returns dx like the input.
    """
    kept = tuple(1 if i in cache.axes else s for i, s in enumerate(cache.x_shape))
    if check:
        dy = as_array(dy, "dy")
        expected = kept if cache.keepdims else tuple(s for i, s in enumerate(cache.x_shape) if i not in cache.axes)
        if dy.shape != expected:
            raise ValueError(
                f"The `dy` argument must have the pooled output's shape {expected}. Received: dy with shape {dy.shape}")
    dy = dy.reshape(kept)
    spatial = cache.x_shape[cache.axes[0]] * cache.x_shape[cache.axes[1]]
    if cache.mode == "avg":
        return np.broadcast_to(dy / spatial, cache.x_shape).astype(cache.dtype)
    return (dy * cache.share).astype(cache.dtype, copy=False)
