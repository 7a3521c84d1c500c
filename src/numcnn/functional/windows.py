"""Channels-last window helpers shared by the fast convolution and pooling.

The fast path works in NHWC: every window ``x[n, i*s : i*s + k, j*s : j*s + k, :]``
is contiguous along channels, so the patch matrix is a strided *view* of the
padded input that one ``reshape`` copies into GEMM-ready rows.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..utils.validation import DATA_FORMATS
from .threads import over_batch


def to_channels_last(x: np.ndarray, data_format: str) -> np.ndarray:
    """View of ``x`` as NHWC (no copy)."""
    return x if data_format == DATA_FORMATS[0] else x.transpose(0, 2, 3, 1)


def from_channels_last(y: np.ndarray, data_format: str) -> np.ndarray:
    """Back to the caller's layout, as a contiguous array."""
    return y if data_format == DATA_FORMATS[0] else np.ascontiguousarray(y.transpose(0, 3, 1, 2))


def shape_from_channels_last(shape, data_format: str) -> tuple:
    """An NHWC shape in the caller's layout (``(N, C, H, W)`` for channels_first)."""
    n, h, w, c = shape
    return tuple(shape) if data_format == DATA_FORMATS[0] else (n, c, h, w)


def pad_nhwc(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    """Pad the H and W axes of an NHWC array with ``value``.

    Shape:
        x: (N, H, W, C); pads: ((top, bottom), (left, right))
        output: (N, H + top + bottom, W + left + right, C)
    """
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    out = np.empty((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    out[:, :top] = out[:, top + h:] = value  # only the border is filled: one pass over the output
    out[:, top:top + h, :left] = out[:, top:top + h, left + w:] = value
    return out


def windows_nhwc(xp: np.ndarray, kernel_hw, strides, dilation_rate, out_hw) -> np.ndarray:
    """Read-only strided view of every window of a padded NHWC input.

    ``view[n, i, j, a, b, c] == xp[n, i*sh + a*dh, j*sw + b*dw, c]``

    Shape:
        xp: (N, Hp, Wp, C)
        output: (N, OH, OW, kh, kw, C)
    """
    n, _, _, c = xp.shape
    kh, kw = kernel_hw
    sh, sw = strides
    dh, dw = dilation_rate
    oh, ow = out_hw
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(
        xp,
        shape=(n, oh, ow, kh, kw, c),
        strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c),
        writeable=False,
    )


def tap_nhwc(xp: np.ndarray, a: int, b: int, strides, dilation_rate, out_hw) -> np.ndarray:
    """The positions of ``xp`` that filter tap ``(a, b)`` reads, one per output pixel (a view).

    ``tap_nhwc(xp, a, b, ...) == windows_nhwc(xp, ...)[:, :, :, a, b, :]``, but writable, so a
    backward pass can add a tap's gradient onto the input with ``view += grad``.

    Shape:
        xp: (N, Hp, Wp, C); output: (N, OH, OW, C)
    """
    sh, sw = strides
    dh, dw = dilation_rate
    oh, ow = out_hw
    return xp[:, a * dh: a * dh + sh * (oh - 1) + 1: sh, b * dw: b * dw + sw * (ow - 1) + 1: sw, :]


def add_windows_nhwc(dwin: np.ndarray, padded_shape, strides, dilation_rate) -> np.ndarray:
    """Adjoint of :func:`windows_nhwc`: sum window gradients back onto the padded input.

    One strided slice-add per filter tap (kh*kw of them), no ``np.add.at``; pieces of the
    batch run on threads.

    Shape:
        dwin: (N, OH, OW, kh, kw, C)
        output: ``padded_shape`` = (N, Hp, Wp, C)
    """
    n, oh, ow, kh, kw, _ = dwin.shape
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)

    def add(start, stop):
        part = dxp[start:stop]
        for a in range(kh):
            for b in range(kw):
                tap = tap_nhwc(part, a, b, strides, dilation_rate, (oh, ow))
                tap += dwin[start:stop, :, :, a, b, :]

    over_batch(add, n, dwin.size)
    return dxp


def crop_nhwc(xp: np.ndarray, pads, input_hw) -> np.ndarray:
    """Remove the padding added by :func:`pad_nhwc`."""
    (top, _), (left, _) = pads
    h, w = input_hw
    return xp[:, top:top + h, left:left + w, :]
