"""``im2col`` / ``col2im``: convolution as one matrix multiply (the teaching core).

These follow *Deep Learning from Scratch* (``common/util.py``) and note 002
exactly: NCHW input, one row per output position, one column per
``(channel, filter_y, filter_x)`` tap. The fast convolution in :mod:`.conv`
uses a channels-last layout of the same idea; tests check that both agree.

How it works, for a ``(N, C, H, W)`` input and a ``fh x fw`` filter:

1. pad the input by ``pad`` on every side;
2. for each filter tap ``(y, x)`` copy the strided slice of the input that tap
   sees at every output position into ``col[:, :, y, x, :, :]``;
3. move the output positions to the front and flatten:
   ``(N, C, fh, fw, OH, OW) -> (N, OH, OW, C, fh, fw) -> (N*OH*OW, C*fh*fw)``.

A filter bank ``W`` of shape ``(FN, C, fh, fw)`` reshaped to ``(FN, C*fh*fw)``
then gives the convolution as ``col @ W.T``.
"""

from __future__ import annotations

import numpy as np

from ..utils.validation import allocation_guard, as_array, check_rank, float_dtype, standardize_tuple
from .geometry import conv_output_size


def _im2col_args(shape, filter_h, filter_w, stride, pad):
    fh, fw = standardize_tuple((filter_h, filter_w), 2, "filter_h/filter_w")
    stride = standardize_tuple(stride, 1, "stride")[0]
    pad = standardize_tuple(pad, 1, "pad", allow_zero=True)[0]
    n, c, h, w = shape
    out_h = conv_output_size(h, fh, stride, pad, pad, check=False)
    out_w = conv_output_size(w, fw, stride, pad, pad, check=False)
    return fh, fw, stride, pad, out_h, out_w


def im2col(x, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Unfold every filter-sized window of ``x`` into a row of a matrix.

    Args:
        x: input images, NCHW.
        filter_h, filter_w: filter size.
        stride: step between windows (same on both axes).
        pad: zeros added on every side.

    Returns:
        ``col`` with one row per output position (ordered n, out_y, out_x) and one
        column per tap (ordered c, filter_y, filter_x).

    Shape:
        x: (N, C, H, W)
        col: (N * OH * OW, C * filter_h * filter_w), with
        ``OH = (H + 2*pad - filter_h) // stride + 1`` (likewise OW).

    Example:
        >>> im2col(np.zeros((1, 3, 7, 7)), 5, 5).shape   # note 002
        (9, 75)
    """
    x = as_array(x, "x")
    check_rank(x, 4, "x", "(N, C, H, W)")
    fh, fw, stride, pad, out_h, out_w = _im2col_args(x.shape, filter_h, filter_w, stride, pad)
    n, c = x.shape[:2]
    with allocation_guard("im2col", f"x with shape {x.shape}, a {fh}x{fw} filter, stride {stride}, pad {pad}"):
        img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
        col = np.zeros((n, c, fh, fw, out_h, out_w), dtype=float_dtype(x))
    for y in range(fh):
        y_max = y + stride * out_h
        for x_ in range(fw):
            x_max = x_ + stride * out_w
            col[:, :, y, x_, :, :] = img[:, :, y:y_max:stride, x_:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)


def col2im(col, input_shape, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """Fold a patch matrix back into images, *adding* where windows overlap.

    This is the adjoint (transpose) of :func:`im2col`, which is exactly what the
    backward pass needs: the gradient of a pixel is the sum of the gradients of
    every window that saw it. It is therefore *not* an inverse: for a 4x4 input
    and a 2x2 filter, ``col2im(im2col(x))`` multiplies each pixel by the number
    of windows covering it (note 002: ``[[0, 2, 4, 3], [8, 20, 24, 14], ...]``).

    Args:
        col: patch matrix as returned by :func:`im2col`.
        input_shape: ``(N, C, H, W)`` of the original input.
        filter_h, filter_w, stride, pad: as given to :func:`im2col`.

    Shape:
        col: (N * OH * OW, C * filter_h * filter_w)
        output: (N, C, H, W)
    """
    col = as_array(col, "col")
    if len(tuple(input_shape)) != 4:
        raise ValueError(f"The `input_shape` argument must be (N, C, H, W). Received: input_shape={input_shape}")
    n, c, h, w = (int(v) for v in input_shape)
    fh, fw, stride, pad, out_h, out_w = _im2col_args((n, c, h, w), filter_h, filter_w, stride, pad)
    expected = (n * out_h * out_w, c * fh * fw)
    if col.shape != expected:
        raise ValueError(
            f"The `col` argument must have shape {expected} for input_shape {(n, c, h, w)}, "
            f"a {fh}x{fw} filter, stride {stride} and pad {pad}. Received: col with shape {col.shape}"
        )
    col = col.reshape(n, out_h, out_w, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    # stride - 1 extra rows/columns: room for the last strided slice, cropped below
    with allocation_guard("col2im", f"input_shape={(n, c, h, w)}, stride {stride}, pad {pad}"):
        img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=float_dtype(col))
    for y in range(fh):
        y_max = y + stride * out_h
        for x_ in range(fw):
            x_max = x_ + stride * out_w
            img[:, :, y:y_max:stride, x_:x_max:stride] += col[:, :, y, x_, :, :]
    return img[:, :, pad:h + pad, pad:w + pad]
