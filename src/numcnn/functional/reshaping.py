"""Shape ops: zero padding, cropping and upsampling of images, and permuting axes; forward and backward.

Each op is ``op_forward -> (y, cache)`` with ``op_backward(dy, cache)`` right below it, and the
output shape of each (``*_output_shape``, batch or sizes may be None) is computed here, for the
layers of :mod:`numcnn.layers.reshaping` too. Padding and cropping are each other's adjoint;
upsampling is a linear map along H and W, so its backward is the transposed map:

* ``"nearest"``: every pixel repeated ``size`` times (``y[i, j] = x[i // sh, j // sw]``, Keras's
  ``ops.repeat``, PyTorch's ``mode="nearest"``); backward sums each ``sh x sw`` block of ``dy``;
* ``"bilinear"``: half-pixel centres, ``align_corners=False`` (Keras 3, TensorFlow and PyTorch's
  ``interpolate(mode="bilinear")``): output row ``o`` reads input rows ``i0 = floor(src)`` and
  ``i1 = min(i0 + 1, H - 1)`` with weights ``1 - t`` and ``t``, where ``src = max(0, (o + 0.5) / sh - 0.5)``
  and ``t = src - i0``; the same along W. The backward adds ``(1 - t) * dy`` onto row ``i0`` and
  ``t * dy`` onto row ``i1``; for the output rows ``o = i * sh + r`` of one phase ``r`` these are
  shifted slices of the input rows, so it is a few slice-adds per phase (no ``np.add.at``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..utils.validation import (
    _is_int,
    _short,
    allocation_guard,
    as_array,
    check_rank,
    float_dtype,
    standardize_data_format,
    standardize_tuple,
)

INTERPOLATIONS = ("nearest", "bilinear")


def _spatial_axes(data_format: str) -> tuple:
    """The H and W axes of a 4D array in ``data_format``."""
    return (1, 2) if data_format == "channels_last" else (2, 3)


def standardize_margins(value, name: str) -> tuple:
    """A padding or cropping amount as ``((top, bottom), (left, right))``, as Keras reads it.

    Args:
        value: a non-negative int (all four sides), a pair ``(height, width)`` (each side of
            that axis), or a pair whose entries are ints or ``(before, after)`` pairs.
        name: the argument's name (``"padding"``, ``"cropping"``), for the error message.

    Example:
        >>> standardize_margins((1, (2, 3)), "padding")
        ((1, 1), (2, 3))
    """
    message = (f"The `{name}` argument must be a non-negative int, a pair of them (symmetric_height, "
               f"symmetric_width), or ((top, bottom), (left, right)). Received: {name}={_short(value)}")
    if _is_int(value):
        if value < 0:
            raise ValueError(message)
        return ((int(value),) * 2,) * 2
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(message)
    try:
        return tuple(standardize_tuple(v, 2, name, allow_zero=True) for v in value)
    except ValueError:
        raise ValueError(message) from None


def standardize_interpolation(interpolation) -> str:
    """Check ``interpolation`` is ``"nearest"`` or ``"bilinear"`` (any case)."""
    if isinstance(interpolation, str) and interpolation.lower() in INTERPOLATIONS:
        return interpolation.lower()
    raise ValueError(f"The `interpolation` argument must be one of {INTERPOLATIONS} (Keras's 'bicubic', 'lanczos3' "
                     f"and 'lanczos5' are not available). Received: interpolation={_short(interpolation)}")


def _check_image(x, data_format):
    """The door's array check of the 2D ops: a 4D array, in the float dtype to compute in."""
    x = as_array(x, "x")
    layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
    check_rank(x, 4, "x", f"{layout} for data_format='{data_format}'")
    return x.astype(float_dtype(x), copy=False)


def _check_dy(dy, shape):
    dy = as_array(dy, "dy")
    if dy.shape != tuple(shape):
        raise ValueError(f"The `dy` argument must have the output's shape {tuple(shape)}. "
                         f"Received: dy with shape {dy.shape}")
    return dy


def _with_spatial(shape, data_format, hw) -> tuple:
    """``shape`` with its H and W replaced by ``hw``."""
    shape = list(shape)
    for axis, size in zip(_spatial_axes(data_format), hw):
        shape[axis] = size
    return tuple(shape)


def _spatial(shape, data_format) -> tuple:
    return tuple(shape[axis] for axis in _spatial_axes(data_format))


def _window(data_format, margins, hw) -> tuple:
    """Index of the ``hw`` region after ``margins`` (``((top, _), (left, _))``) in a 4D array."""
    index = [slice(None)] * 4
    for axis, (before, _), size in zip(_spatial_axes(data_format), margins, hw):
        index[axis] = slice(before, before + size)
    return tuple(index)


# -- zero padding: y = x with zero rows and columns around it; dx = the middle of dy --------------------------------

@dataclass(frozen=True)
class Margins2DCache:
    """What :func:`zero_pad2d_backward` and :func:`crop2d_backward` need: the amounts, the layout, the shapes."""

    margins: tuple  # ((top, bottom), (left, right)): the padding added or the cropping removed
    data_format: str
    input_shape: tuple
    output_shape: tuple


def zero_pad2d_output_shape(input_shape, padding, data_format="channels_last") -> tuple:
    """Shape after :func:`zero_pad2d` (``padding`` as ``((top, bottom), (left, right))``; None stays None)."""
    hw = _spatial(input_shape, data_format)
    return _with_spatial(input_shape, data_format,
                         [None if s is None else s + sum(p) for s, p in zip(hw, padding)])


def zero_pad2d_forward(x, padding=1, data_format="channels_last", *, check=True):
    """Zero padding forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`zero_pad2d`, and ``check``: check and normalise them (the default);
    layers pass False with a 4D float array, ``padding`` from :func:`standardize_margins` and a
    lower-case data format.

    Returns:
        ``(y, cache)``; pass ``cache`` to :func:`zero_pad2d_backward`.
    """
    if check:
        data_format = standardize_data_format(data_format)
        padding = standardize_margins(padding, "padding")
        x = _check_image(x, data_format)
        with allocation_guard("zero_pad2d", f"x with shape {x.shape}, padding={padding}"):
            return zero_pad2d_forward(x, padding, data_format, check=False)
    out_shape = zero_pad2d_output_shape(x.shape, padding, data_format)
    y = np.zeros(out_shape, dtype=x.dtype)
    y[_window(data_format, padding, _spatial(x.shape, data_format))] = x
    return y, Margins2DCache(padding, data_format, x.shape, out_shape)


def zero_pad2d(x, padding=1, data_format="channels_last") -> np.ndarray:
    """Add rows and columns of zeros around each image (Keras ``ZeroPadding2D``, PyTorch ``F.pad``).

    Args:
        x: a batch of images.
        padding: an int (all sides), ``(pad_h, pad_w)`` (both sides of each axis) or
            ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        output: (N, H + top + bottom, W + left + right, C), or channels first

    Example:
        >>> zero_pad2d(np.ones((1, 1, 2, 1)), ((0, 1), (1, 0)))[0, :, :, 0]
        array([[0., 1., 1.],
               [0., 0., 0.]])
    """
    return zero_pad2d_forward(x, padding, data_format)[0]


def zero_pad2d_backward(dy, cache: Margins2DCache, *, check=True) -> np.ndarray:
    """Gradient of :func:`zero_pad2d` with respect to ``x``: the part of ``dy`` over the input.

    Shape:
        dy: like the output; dx: like ``x``
    """
    if check:
        dy = _check_dy(dy, cache.output_shape)
    hw = _spatial(cache.input_shape, cache.data_format)
    return np.ascontiguousarray(dy[_window(cache.data_format, cache.margins, hw)])


# -- cropping: y = the middle of x; dx = dy with zero rows and columns around it -------------------------------------

def crop2d_output_shape(input_shape, cropping, data_format="channels_last") -> tuple:
    """Shape after :func:`crop2d`; at least one row and column must be left (None stays None).

    Raises:
        ValueError: ``cropping`` removes every row or every column.
    """
    hw = _spatial(input_shape, data_format)
    if any(s is not None and sum(c) >= s for s, c in zip(hw, cropping)):
        raise ValueError(f"The `cropping` argument must leave at least one row and one column: its top + bottom "
                         f"must be smaller than the height and its left + right smaller than the width. Received: "
                         f"cropping={cropping} for inputs with shape {tuple(input_shape)} (data_format='{data_format}')")
    hw = [None if s is None else s - sum(c) for s, c in zip(hw, cropping)]
    return _with_spatial(input_shape, data_format, hw)


def crop2d_forward(x, cropping=0, data_format="channels_last", *, check=True):
    """Cropping forward pass that also returns the cache (a :class:`Margins2DCache`).

    Same arguments as :func:`crop2d`, and ``check`` (see :func:`zero_pad2d_forward`); layers pass
    False with an amount that leaves at least one row and column.

    Returns:
        ``(y, cache)``; pass ``cache`` to :func:`crop2d_backward`.
    """
    if check:
        data_format = standardize_data_format(data_format)
        cropping = standardize_margins(cropping, "cropping")
        x = _check_image(x, data_format)
    out_shape = crop2d_output_shape(x.shape, cropping, data_format)
    y = np.ascontiguousarray(x[_window(data_format, cropping, _spatial(out_shape, data_format))])
    return y, Margins2DCache(cropping, data_format, x.shape, out_shape)


def crop2d(x, cropping=0, data_format="channels_last") -> np.ndarray:
    """Remove rows and columns at the sides of each image (Keras ``Cropping2D``).

    Args:
        x: a batch of images.
        cropping: an int (all sides), ``(crop_h, crop_w)`` (both sides of each axis) or
            ``((top, bottom), (left, right))``; at least one row and column must be left.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        output: (N, H - top - bottom, W - left - right, C), or channels first

    Example:
        >>> crop2d(np.arange(9.0).reshape(1, 3, 3, 1), ((1, 0), (0, 1)))[0, :, :, 0]
        array([[3., 4.],
               [6., 7.]])
    """
    return crop2d_forward(x, cropping, data_format)[0]


def crop2d_backward(dy, cache: Margins2DCache, *, check=True) -> np.ndarray:
    """Gradient of :func:`crop2d` with respect to ``x``: ``dy`` put back, zeros where rows were cut.

    Shape:
        dy: like the output; dx: like ``x``
    """
    if check:
        dy = _check_dy(dy, cache.output_shape)
    dx = np.zeros(cache.input_shape, dtype=dy.dtype)
    dx[_window(cache.data_format, cache.margins, _spatial(cache.output_shape, cache.data_format))] = dy
    return dx


# -- upsampling: nearest (repeat) or bilinear (half-pixel); backward: the transposed map -----------------------------

@dataclass(frozen=True)
class UpSampling2DCache:
    """What :func:`upsample2d_backward` needs: factors, method, layout and shapes."""

    size: tuple  # (sh, sw)
    interpolation: str
    data_format: str
    input_shape: tuple
    output_shape: tuple


def upsample2d_output_shape(input_shape, size, data_format="channels_last") -> tuple:
    """Shape after :func:`upsample2d`: H and W multiplied by ``size`` (None stays None)."""
    hw = _spatial(input_shape, data_format)
    return _with_spatial(input_shape, data_format, [None if s is None else s * f for s, f in zip(hw, size)])


def linear_taps(n_in: int, factor: int):
    """The two input rows and weights of each output row of a half-pixel linear upsampling.

    ``y[o] = w0[o] * x[i0[o]] + w1[o] * x[i1[o]]`` for ``o < n_in * factor``, with
    ``src = max(0, (o + 0.5) / factor - 0.5)``, ``i0 = floor(src)``, ``i1 = min(i0 + 1, n_in - 1)``,
    ``w1 = src - i0`` and ``w0 = 1 - w1`` (PyTorch's ``align_corners=False``, TensorFlow's half pixel).

    Returns:
        ``(i0, i1, w0, w1)``: two int64 and two float64 arrays of length ``n_in * factor``.

    Example:
        >>> linear_taps(2, 2)[3]   # sources 0 (clamped from -0.25), 0.25, 0.75, 1.25 (row 1 twice)
        array([0.  , 0.25, 0.75, 0.25])
    """
    src = np.maximum((np.arange(n_in * factor) + 0.5) / factor - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = src - i0
    return i0, i1, 1.0 - w1, w1


def _along(axis, ndim, values):
    """``values`` shaped to broadcast along ``axis`` of an ``ndim``-D array."""
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


def _interpolate_axis(x, axis, factor):
    """Half-pixel linear upsampling of ``x`` along ``axis`` by ``factor``."""
    i0, i1, w0, w1 = linear_taps(x.shape[axis], factor)
    with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf is NaN, as in PyTorch: no warning
        return (np.take(x, i0, axis=axis) * _along(axis, x.ndim, w0.astype(x.dtype))
                + np.take(x, i1, axis=axis) * _along(axis, x.ndim, w1.astype(x.dtype)))


def _interpolate_axis_adjoint(dy, axis, n_in, factor):
    """Transpose of :func:`_interpolate_axis`: each output row's gradient added onto the two rows it
    read, with the same weights, one phase ``r`` of the output rows ``o = i * factor + r`` at a time.

    Rows of phase ``r`` sit ``d = (r + 0.5) / factor - 0.5`` input rows from row ``i``. With ``d >= 0``
    they read rows ``i`` and ``min(i + 1, n - 1)``; with ``d < 0``, rows ``i - 1`` and ``i``, but for
    ``i = 0`` (source clamped to 0) rows ``0`` and ``min(1, n - 1)``, as :func:`linear_taps` says. So
    each term is a shifted slice-add plus one row at the clamped edge: no ``np.add.at``, a few passes
    over the input per phase.
    """
    _, _, w0, w1 = linear_taps(n_in, factor)
    phases = dy.reshape(*dy.shape[:axis], n_in, factor, *dy.shape[axis + 1:])
    dx = np.zeros((*dy.shape[:axis], n_in, *dy.shape[axis + 1:]), dtype=dy.dtype)
    term = np.empty_like(dx)
    last = n_in - 1

    def rows(start, stop):
        """Rows ``start:stop`` along ``axis``."""
        return (slice(None),) * axis + (slice(start, stop),)

    for r in range(factor):
        g = phases[(slice(None),) * axis + (slice(None), r)]
        with np.errstate(invalid="ignore", over="ignore"):  # 0 * inf is NaN, as in PyTorch's backward
            np.multiply(g, _along(axis, dy.ndim, w0[r::factor].astype(dy.dtype)), out=term)
            if 2 * r + 1 < factor:  # d < 0: rows max(i - 1, 0) ...
                dx[rows(0, last)] += term[rows(1, n_in)]
                dx[rows(0, 1)] += term[rows(0, 1)]
                np.multiply(g, _along(axis, dy.ndim, w1[r::factor].astype(dy.dtype)), out=term)
                dx[rows(1, n_in)] += term[rows(1, n_in)]  # ... and i, or min(1, n - 1) for i = 0
                dx[rows(min(1, last), min(1, last) + 1)] += term[rows(0, 1)]
            else:  # d >= 0: rows i ...
                dx += term
                np.multiply(g, _along(axis, dy.ndim, w1[r::factor].astype(dy.dtype)), out=term)
                dx[rows(1, n_in)] += term[rows(0, last)]  # ... and min(i + 1, n - 1)
                dx[rows(last, n_in)] += term[rows(last, n_in)]
    return dx


def _repeat_view(x, axes, size):
    """``x`` with each index on ``axes`` repeated ``size`` times, as a broadcast view of shape
    ``(..., H, sh, ..., W, sw, ...)`` (a copy is made by the caller's reshape)."""
    (ah, aw), (sh, sw) = axes, size
    expanded = np.expand_dims(x, (ah + 1, aw + 2))
    shape = list(expanded.shape)
    shape[ah + 1], shape[aw + 2] = sh, sw
    return np.broadcast_to(expanded, shape)


def upsample2d_forward(x, size=2, data_format="channels_last", interpolation="nearest", *, check=True):
    """Upsampling forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`upsample2d`, and ``check``: check and normalise them (the default);
    layers pass False with a 4D float array, an int pair, a lower-case data format and
    interpolation.

    Returns:
        ``(y, cache)``; pass ``cache`` to :func:`upsample2d_backward`.
    """
    if check:
        data_format = standardize_data_format(data_format)
        size = standardize_tuple(size, 2, "size")
        interpolation = standardize_interpolation(interpolation)
        x = _check_image(x, data_format)
        with allocation_guard("upsample2d", f"x with shape {x.shape}, size={size}"):
            return upsample2d_forward(x, size, data_format, interpolation, check=False)
    out_shape = upsample2d_output_shape(x.shape, size, data_format)
    cache = UpSampling2DCache(size, interpolation, data_format, x.shape, out_shape)
    axes = _spatial_axes(data_format)
    if x.size == 0:
        return np.zeros(out_shape, dtype=x.dtype), cache
    if interpolation == "nearest":
        return _repeat_view(x, axes, size).reshape(out_shape), cache
    y = x
    for axis, factor in zip(axes, size):
        if factor > 1:  # a factor of 1 is the identity
            y = _interpolate_axis(y, axis, factor)
    return (y.copy() if y is x else y), cache


def upsample2d(x, size=2, data_format="channels_last", interpolation="nearest") -> np.ndarray:
    """Enlarge each image by integer factors (Keras ``UpSampling2D``, PyTorch ``F.interpolate``).

    Args:
        x: a batch of images.
        size: int or ``(sh, sw)``: the factors for rows and columns.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).
        interpolation: ``"nearest"`` (repeat each pixel) or ``"bilinear"`` (half-pixel centres,
            ``align_corners=False``, the edge rows and columns repeated).

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        output: (N, H * sh, W * sw, C), or channels first

    Example:
        >>> upsample2d(np.array([0.0, 4.0]).reshape(1, 1, 2, 1), (1, 2), interpolation="bilinear")[0, 0, :, 0]
        array([0., 1., 3., 4.])
    """
    return upsample2d_forward(x, size, data_format, interpolation)[0]


def upsample2d_backward(dy, cache: UpSampling2DCache, *, check=True) -> np.ndarray:
    """Gradient of :func:`upsample2d` with respect to ``x`` (the transposed interpolation).

    ``"nearest"``: the sum of each ``sh x sw`` block of ``dy``; ``"bilinear"``: each output
    pixel's gradient shared between the input pixels it read, with the same weights.

    Shape:
        dy: like the output; dx: like ``x``
    """
    if check:
        dy = _check_dy(dy, cache.output_shape)
    axes = _spatial_axes(cache.data_format)
    if dy.size == 0:
        return np.zeros(cache.input_shape, dtype=dy.dtype)
    if cache.interpolation == "nearest":
        (ah, aw), (sh, sw) = axes, cache.size
        blocks = list(cache.input_shape)
        blocks.insert(aw + 1, sw)
        blocks.insert(ah + 1, sh)
        return dy.reshape(blocks).sum(axis=(ah + 1, aw + 2))
    dx = dy
    for axis, factor in reversed(list(zip(axes, cache.size))):
        if factor > 1:
            dx = _interpolate_axis_adjoint(dx, axis, cache.input_shape[axis], factor)
    return dx.copy() if dx is dy else dx


# -- permute: y = x with its non-batch axes reordered; dx = dy with the inverse order ---------------------------------

@dataclass(frozen=True)
class PermuteCache:
    """What :func:`permute_backward` needs: the order that undoes the permutation, the output shape."""

    inverse: tuple  # axes of the output, in the input's order (with the batch axis 0)
    output_shape: tuple


def standardize_dims(dims) -> tuple:
    """Check Keras's ``dims``: a permutation of ``1..k`` (the non-batch axes, counted from 1)."""
    ok = isinstance(dims, Sequence) and not isinstance(dims, str) and len(dims) > 0 and all(_is_int(d) for d in dims)
    if not ok or sorted(int(d) for d in dims) != list(range(1, len(dims) + 1)):
        raise ValueError("The `dims` argument must be a permutation of 1, ..., k over the k non-batch axes (the "
                         f"batch axis 0 stays first), e.g. (2, 1). Received: dims={_short(dims)}")
    return tuple(int(d) for d in dims)


def permute_output_shape(input_shape, dims) -> tuple:
    """Shape after :func:`permute`: ``(N, *(input_shape[d] for d in dims))``."""
    if len(input_shape) != len(dims) + 1:
        raise ValueError(f"The `dims` argument {tuple(dims)} reorders {len(dims)} axes, so inputs must have "
                         f"{len(dims) + 1} dimensions (batch axis first). Received: inputs with shape "
                         f"{tuple(input_shape)}")
    return (input_shape[0], *(input_shape[d] for d in dims))


def permute_forward(x, dims, *, check=True):
    """Permute forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`permute`, and ``check``; layers pass False with an array of
    ``len(dims) + 1`` dimensions and ``dims`` from :func:`standardize_dims`.
    """
    if check:
        dims = standardize_dims(dims)
        x = as_array(x, "x")
        x = x.astype(float_dtype(x), copy=False)
        permute_output_shape(x.shape, dims)
    axes = (0, *dims)
    y = np.ascontiguousarray(x.transpose(axes))
    return y, PermuteCache(tuple(int(i) for i in np.argsort(axes)), y.shape)


def permute(x, dims) -> np.ndarray:
    """Reorder the non-batch axes (Keras ``Permute``, PyTorch ``Tensor.permute(0, *dims)``).

    Args:
        x: a batch of arrays.
        dims: Keras's pattern: a permutation of ``1..k`` over the ``k`` non-batch axes;
            output axis ``i + 1`` is input axis ``dims[i]``.

    Shape:
        x: (N, d_1, ..., d_k); output: (N, d_dims[0], ..., d_dims[k-1])

    Example:
        >>> permute(np.zeros((2, 3, 4, 5)), (3, 1, 2)).shape
        (2, 5, 3, 4)
    """
    return permute_forward(x, dims)[0]


def permute_backward(dy, cache: PermuteCache, *, check=True) -> np.ndarray:
    """Gradient of :func:`permute` with respect to ``x``: ``dy`` with the axes put back.

    Shape:
        dy: like the output; dx: like ``x``
    """
    if check:
        dy = _check_dy(dy, cache.output_shape)
    return np.ascontiguousarray(dy.transpose(cache.inverse))
