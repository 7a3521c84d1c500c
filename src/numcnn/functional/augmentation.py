"""Image augmentation ops (Keras 3's random image layers, with their randomness drawn by the caller):
affine warps, flips, crop-and-resize, contrast and brightness; forward and backward side by side.

The warp follows ``keras.ops.image.affine_transform``: a ``transform`` row ``[a0, a1, a2, b0, b1, b2]``
maps each output pixel (column ``x``, row ``y``) to the input point ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``,
read with ``"nearest"`` (round half to even) or ``"bilinear"`` interpolation. Integer taps outside
the image are moved in by ``fill_mode``, on a row of 4 pixels ``a b c d``:

* ``"reflect"``: ``d c b a | a b c d | d c b a`` (mirrored about the edge, the edge pixel repeated);
* ``"wrap"``: ``a b c d | a b c d | a b c d``;
* ``"nearest"``: ``a a a a | a b c d | d d d d``;
* ``"constant"``: ``k k k k | a b c d | k k k k``, each outside tap reads ``fill_value``.

For fixed transforms the warp is linear in ``x``: ``y = sum_k w_k x[i_k] (+ fill)``, so its backward
is the transposed map, ``dx[i_k] += w_k dy`` (a scatter-add). Bilinear resizing with half-pixel
centres (``align_corners=False``, PyTorch's and Keras's ``resize``) is the warp
``x_in = (x + 0.5) * in / out - 0.5`` with ``fill_mode="nearest"``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..utils.validation import _is_int, _short, as_array, check_number, float_dtype, standardize_data_format
from .activations import clip_backward, clip_forward
from .reshaping import _check_dy, _check_image, crop2d_backward, crop2d_forward, standardize_interpolation

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def standardize_fill_mode(fill_mode) -> str:
    """Check ``fill_mode`` is one of :data:`FILL_MODES`."""
    if isinstance(fill_mode, str) and fill_mode.lower() in FILL_MODES:
        return fill_mode.lower()
    raise ValueError(f"The `fill_mode` argument must be one of {FILL_MODES}. Received: fill_mode={_short(fill_mode)}")


def _spatial_axes(data_format):
    return (1, 2) if data_format == "channels_last" else (2, 3)


def _per_sample(values, n, name):
    """``values`` as a float64 array of ``n`` finite numbers (one per sample)."""
    values = np.asarray(as_array(values, name), np.float64).reshape(-1)
    if values.shape != (n,) or not np.isfinite(values).all():
        raise ValueError(f"The `{name}` argument must hold {n} finite numbers, one per sample. "
                         f"Received: {name} with shape {np.shape(values)}")
    return values


def _check_value_range(value_range):
    ok = isinstance(value_range, (tuple, list)) and len(value_range) == 2
    low, high = (check_number(v, "value_range") for v in value_range) if ok else (0, -1)
    if low > high:
        raise ValueError(f"The `value_range` argument must be a pair (low, high) of numbers with low <= high. "
                         f"Received: value_range={_short(value_range)}")
    return low, high


# -- transforms: the Keras 3 matrices of RandomRotation, RandomTranslation, RandomZoom ---------------------------

def rotation_transform(angles, height, width) -> np.ndarray:
    """Rotations about the image centre by ``angles`` (radians, counter-clockwise on screen).

    Shape:
        angles: (N,); returns (N, 6).
    """
    angles = np.asarray(angles, np.float64)
    cos, sin = np.cos(angles), np.sin(angles)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return np.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos], axis=1)


def translation_transform(dx, dy) -> np.ndarray:
    """Shifts by ``dx`` pixels right and ``dy`` pixels down. Shape: dx, dy: (N,); returns (N, 6)."""
    dx, dy = np.asarray(dx, np.float64), np.asarray(dy, np.float64)
    zeros, ones = np.zeros_like(dx), np.ones_like(dx)
    return np.stack([ones, zeros, -dx, zeros, ones, -dy], axis=1)


def zoom_transform(zoom_x, zoom_y, height, width) -> np.ndarray:
    """Zooms about the image centre: the output samples ``zoom`` times the input's extent (> 1 zooms out).

    Shape:
        zoom_x, zoom_y: (N,); returns (N, 6).
    """
    zoom_x, zoom_y = np.asarray(zoom_x, np.float64), np.asarray(zoom_y, np.float64)
    zeros = np.zeros_like(zoom_x)
    return np.stack([zoom_x, zeros, (width - 1) / 2 * (1 - zoom_x), zeros, zoom_y, (height - 1) / 2 * (1 - zoom_y)],
                    axis=1)


# -- affine warp: y = sum over the taps of weight * x[tap]; dx = the scatter-add of weight * dy -----------------

@dataclass(frozen=True)
class AffineTransformCache:
    """What :func:`affine_transform_backward` needs: each tap's flat input pixel and weight."""

    indices: tuple  # per tap, (N * out_h * out_w,) int: the input pixel n * H * W + row * W + column
    weights: tuple  # per tap, (N * out_h * out_w,): the interpolation weight, 0 where the tap reads fill_value
    input_shape: tuple  # channels last (N, H, W, C)
    data_format: str


def _fix_index(index, size, fill_mode):
    """Integer taps moved inside ``[0, size)`` as ``fill_mode`` extends the image."""
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "reflect":  # period 2 * size: a b c d d c b a
        index = index % (2 * size)
        return np.where(index < size, index, 2 * size - 1 - index)
    return np.clip(index, 0, size - 1)  # "nearest"; "constant" reads fill_value there instead


def _taps(coordinate, interpolation):
    """``[(integer tap, weight), ...]`` along one axis."""
    if interpolation == "nearest":
        return [(np.rint(coordinate).astype(np.int64), 1.0)]
    lower = np.floor(coordinate)
    upper_weight = coordinate - lower
    lower = lower.astype(np.int64)
    return [(lower, 1.0 - upper_weight), (lower + 1, upper_weight)]


def affine_transform_forward(x, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0,
                             data_format="channels_last", output_size=None, *, check=True):
    """Warp each image by its own affine map (``keras.ops.image.affine_transform``); returns ``(y, cache)``.

    Args:
        x: a batch of images.
        transform: one row ``[a0, a1, a2, b0, b1, b2]`` per image: output pixel (column ``c``, row ``r``)
            reads the input at column ``a0 c + a1 r + a2``, row ``b0 c + b1 r + b2``.
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_mode: ``"constant"``, ``"reflect"``, ``"wrap"`` or ``"nearest"`` (see the module docstring).
        fill_value: what ``"constant"`` reads outside the image.
        data_format: ``"channels_last"`` or ``"channels_first"``.
        output_size: ``(out_h, out_w)``; None keeps ``(H, W)``.
        check: check the arguments (numcnn's layers checked theirs and pass False).

    Shape:
        x: (N, H, W, C) or (N, C, H, W); transform: (N, 6); output: (N, out_h, out_w, C) or (N, C, out_h, out_w).
    """
    if check:
        data_format = standardize_data_format(data_format)
        x = _check_image(x, data_format)
        transform = np.asarray(as_array(transform, "transform"), np.float64)
        if transform.shape != (len(x), 6) or not np.isfinite(transform).all():
            raise ValueError(f"The `transform` argument must be {len(x)} rows of 6 finite numbers [a0, a1, a2, b0, b1, "
                             f"b2], one per image. Received: transform with shape {transform.shape}")
        interpolation, fill_mode = standardize_interpolation(interpolation), standardize_fill_mode(fill_mode)
        fill_value = check_number(fill_value, "fill_value")
    last = np.moveaxis(x, 1, -1) if data_format == "channels_first" else x
    n, h, w, c = last.shape
    out_h, out_w = (h, w) if output_size is None else output_size
    rows, cols = np.arange(out_h, dtype=np.float64)[:, None], np.arange(out_w, dtype=np.float64)[None, :]
    t = np.asarray(transform, np.float64)[:, :, None, None]
    columns_in = t[:, 0] * cols + t[:, 1] * rows + t[:, 2]  # (N, out_h, out_w)
    rows_in = t[:, 3] * cols + t[:, 4] * rows + t[:, 5]
    base = np.arange(n)[:, None, None] * (h * w)
    flat_x = last.reshape(n * h * w, c)
    y = np.zeros((n * out_h * out_w, c), x.dtype)
    fill_weight = 0.0
    indices, weights = [], []
    for (row, row_weight), (col, col_weight) in itertools.product(_taps(rows_in, interpolation),
                                                                   _taps(columns_in, interpolation)):
        weight = np.broadcast_to(row_weight * col_weight, rows_in.shape)
        if fill_mode == "constant":
            inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
            fill_weight = fill_weight + np.where(inside, 0.0, weight)
            weight = np.where(inside, weight, 0.0)
        index = (base + _fix_index(row, h, fill_mode) * w + _fix_index(col, w, fill_mode)).reshape(-1)
        weight = weight.reshape(-1, 1).astype(x.dtype)
        y += weight * flat_x[index]
        indices.append(index)
        weights.append(weight)
    if fill_mode == "constant" and fill_value != 0:
        y += (fill_weight.reshape(-1, 1) * fill_value).astype(x.dtype)
    y = y.reshape(n, out_h, out_w, c)
    if data_format == "channels_first":
        y = np.ascontiguousarray(np.moveaxis(y, -1, 1))
    return y, AffineTransformCache(tuple(indices), tuple(weights), (n, h, w, c), data_format)


def affine_transform_backward(dy, cache: AffineTransformCache, *, check=True):
    """Gradient of :func:`affine_transform_forward` w.r.t. ``x``: each tap's ``weight * dy`` added back
    onto the input pixel it read (``np.add.at``, as taps repeat)."""
    n, h, w, c = cache.input_shape
    if check:
        out_h_w = cache.indices[0].size // max(n, 1)
        dy = as_array(dy, "dy")
        if dy.ndim != 4 or len(dy) != n or dy.size != n * out_h_w * c:
            raise ValueError(f"The `dy` argument must have the warp output's shape. Received: dy with shape {dy.shape}")
    last = np.moveaxis(dy, 1, -1) if cache.data_format == "channels_first" else dy
    flat_dy = last.reshape(cache.indices[0].size, c)  # not -1: with no channel (c = 0) that is ambiguous
    dx = np.zeros((n * h * w, c), dy.dtype)
    for index, weight in zip(cache.indices, cache.weights):
        np.add.at(dx, index, weight * flat_dy)
    dx = dx.reshape(n, h, w, c)
    return np.ascontiguousarray(np.moveaxis(dx, -1, 1)) if cache.data_format == "channels_first" else dx


def affine_transform(x, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0,
                     data_format="channels_last", output_size=None) -> np.ndarray:
    """:func:`affine_transform_forward` without the cache.

    Example:
        >>> x = np.arange(4.0).reshape(1, 1, 4, 1)
        >>> affine_transform(x, translation_transform([1.0], [0.0]))[0, 0, :, 0]   # one pixel right
        array([0., 0., 1., 2.])
    """
    return affine_transform_forward(x, transform, interpolation, fill_mode, fill_value, data_format, output_size)[0]


# -- flips: y = x reversed along W (horizontal) and/or H (vertical), per sample; its own adjoint -------------

@dataclass(frozen=True)
class FlipCache:
    horizontal: np.ndarray  # (N,) bool
    vertical: np.ndarray  # (N,) bool
    data_format: str


def _flip(x, horizontal, vertical, data_format):
    h_axis, w_axis = _spatial_axes(data_format)
    y = x.copy()
    y[horizontal] = np.flip(y[horizontal], axis=w_axis)
    y[vertical] = np.flip(y[vertical], axis=h_axis)
    return y


def flip_forward(x, horizontal, vertical, data_format="channels_last", *, check=True):
    """Flip the images left-right where ``horizontal`` and top-bottom where ``vertical``; returns ``(y, cache)``.

    Shape:
        x: (N, H, W, C) or (N, C, H, W); horizontal, vertical: (N,) bool; output: same as x.
    """
    if check:
        data_format = standardize_data_format(data_format)
        x = _check_image(x, data_format)
        horizontal, vertical = (np.asarray(m, bool).reshape(-1) for m in (horizontal, vertical))
        if horizontal.shape != (len(x),) or vertical.shape != (len(x),):
            raise ValueError(f"The `horizontal` and `vertical` arguments must hold {len(x)} booleans, one per sample. "
                             f"Received: shapes {horizontal.shape} and {vertical.shape}")
    return _flip(x, horizontal, vertical, data_format), FlipCache(horizontal, vertical, data_format)


def flip_backward(dy, cache: FlipCache, *, check=True):
    """Gradient of :func:`flip_forward`: ``dy`` flipped back the same way."""
    if check:
        dy = as_array(dy, "dy")
    return _flip(dy, cache.horizontal, cache.vertical, cache.data_format)


# -- crop and resize: a window of each image, resized to (height, width) by bilinear half-pixel sampling ----

@dataclass(frozen=True)
class CropResizeCache:
    crop: object  # the crop2d cache
    resize: AffineTransformCache | None  # None when the window already has the output size


def center_crop_box(in_height, in_width, height, width) -> tuple:
    """``(top, left, crop_h, crop_w)``: the largest centred window with the aspect ratio ``height / width``
    (Keras's ``resize(crop_to_aspect_ratio=True)``, with its integer rounding)."""
    crop_h = max(min(in_height, int(float(in_width * height) / width)), 1)
    crop_w = max(min(in_width, int(float(in_height * width) / height)), 1)
    return int(float(in_height - crop_h) / 2), int(float(in_width - crop_w) / 2), crop_h, crop_w


def crop_resize_forward(x, box, size, data_format="channels_last", *, check=True):
    """Cut the window ``box`` of every image and resize it to ``size`` (bilinear, half-pixel centres, edges
    clamped: ``keras.ops.image.resize``); returns ``(y, cache)``.

    Args:
        x: a batch of images.
        box: ``(top, left, crop_h, crop_w)``, inside the images.
        size: ``(height, width)`` of the output.

    Shape:
        x: (N, H, W, C) or (N, C, H, W); output: (N, height, width, C) or (N, C, height, width).
    """
    if check:
        data_format = standardize_data_format(data_format)
        x = _check_image(x, data_format)
        hw = [x.shape[a] for a in _spatial_axes(data_format)]
        ok = isinstance(box, (tuple, list)) and isinstance(size, (tuple, list)) and len(box) == 4 and len(size) == 2
        ok = ok and all(_is_int(v) for v in (*box, *size))
        top, left, crop_h, crop_w = (int(v) for v in box) if ok else (0, 0, 0, 0)
        if not ok or min(crop_h, crop_w, *size) < 1 or min(top, left) < 0 or top + crop_h > hw[0] or \
                left + crop_w > hw[1]:
            raise ValueError(f"The `box` argument must be (top, left, crop_h, crop_w) inside images of size {hw} "
                             f"and `size` two positive ints. Received: box={_short(box)}, size={_short(size)}")
    top, left, crop_h, crop_w = box
    h, w = (x.shape[a] for a in _spatial_axes(data_format))
    window, crop = crop2d_forward(x, ((top, h - top - crop_h), (left, w - left - crop_w)), data_format, check=False)
    if (crop_h, crop_w) == tuple(size):
        return window, CropResizeCache(crop, None)
    sy, sx = crop_h / size[0], crop_w / size[1]
    transform = np.tile([sx, 0.0, 0.5 * sx - 0.5, 0.0, sy, 0.5 * sy - 0.5], (len(x), 1))
    y, resize = affine_transform_forward(window, transform, "bilinear", "nearest", 0.0, data_format, tuple(size),
                                         check=False)
    return y, CropResizeCache(crop, resize)


def crop_resize_backward(dy, cache: CropResizeCache, *, check=True):
    """Gradient of :func:`crop_resize_forward`: the resize's transpose, then zeros around the window."""
    if check:
        dy = as_array(dy, "dy")
    d_window = dy if cache.resize is None else affine_transform_backward(dy, cache.resize, check=check)
    return crop2d_backward(d_window, cache.crop, check=check)


# -- contrast: y = clip((x - mean) * factor + mean); mean over H and W per image and channel ---------------------
# dz/dx = factor * g + (1 - factor) * mean(g), with g = dy where the clip let z through

@dataclass(frozen=True)
class ContrastCache:
    factor: np.ndarray  # (N, 1, 1, 1)
    inside: np.ndarray  # where the clip let the value through
    axes: tuple


def contrast_forward(x, factor, value_range=(0, 255), data_format="channels_last", *, check=True):
    """Keras 3's ``RandomContrast`` with the factors drawn: ``(x - mean) * factor + mean`` per image and
    channel (``mean`` over H and W), clipped to ``value_range``; returns ``(y, cache)``.

    Shape:
        x: (N, H, W, C) or (N, C, H, W); factor: (N,); output: same as x.
    """
    if check:
        data_format = standardize_data_format(data_format)
        x = _check_image(x, data_format)
        factor = _per_sample(factor, len(x), "factor")
        value_range = _check_value_range(value_range)
    axes = _spatial_axes(data_format)
    f = np.asarray(factor, np.float64).reshape(-1, 1, 1, 1).astype(x.dtype)
    mean = x.mean(axis=axes, keepdims=True)
    y, inside = clip_forward((x - mean) * f + mean, *value_range, check=False)
    return y, ContrastCache(f, inside, axes)


def contrast_backward(dy, cache: ContrastCache, *, check=True):
    """Gradient of :func:`contrast_forward` w.r.t. ``x``."""
    if check:
        dy = _check_dy(dy, cache.inside.shape)
    g = clip_backward(dy, cache.inside, check=False)
    return cache.factor * g + (1 - cache.factor) * g.mean(axis=cache.axes, keepdims=True)


# -- brightness: y = clip(x + delta); dy/dx = 1 where the clip let it through ---------------------------------

def brightness_forward(x, delta, value_range=(0, 255), *, check=True):
    """Keras 3's ``RandomBrightness`` with the shifts drawn: ``x + delta`` (one number per image, already
    scaled to the value range), clipped to ``value_range``; returns ``(y, cache)``.

    Shape:
        x: (N, ...); delta: (N,); output: same as x.
    """
    if check:
        x = as_array(x, "x")
        x = x.astype(float_dtype(x), copy=False)
        delta = _per_sample(delta, len(x), "delta")
        value_range = _check_value_range(value_range)
    shift = np.asarray(delta, np.float64).reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)
    return clip_forward(x + shift, *value_range, check=False)


def brightness_backward(dy, cache, *, check=True):
    """Gradient of :func:`brightness_forward`: ``dy`` where the clip let the value through."""
    return clip_backward(dy, cache, check=check)
