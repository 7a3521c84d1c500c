"""2D convolution (cross-correlation, as in every deep-learning library): forward and backward.

The fast path is im2col + one matrix multiply, in channels-last layout:

* forward:  ``cols (M, kh*kw*Cin) @ kernel (kh*kw*Cin, F) -> y (M, F)`` with ``M = N*OH*OW``;
* backward: ``dkernel = cols.T @ dy``, ``dbias = dy.sum(rows)``,
  ``dcols = dy @ kernel.T`` summed back onto the input windows (col2im).

Grouped convolution (``groups > 1``, e.g. depthwise) runs the same thing as a
batch of ``groups`` independent matrix multiplies.
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
from .geometry import output_hw, resolve_padding
from .windows import (
    add_windows_nhwc,
    crop_nhwc,
    from_channels_last,
    pad_nhwc,
    tap_nhwc,
    to_channels_last,
    windows_nhwc,
)


@dataclass(frozen=True)
class Conv2DCache:
    """What :func:`conv2d_backward` needs from the forward pass."""

    cols: np.ndarray  # (groups, M, kh*kw*Cin/groups): the patch matrix
    kernel_mat: np.ndarray  # (groups, kh*kw*Cin/groups, F/groups)
    kernel_shape: tuple
    input_hw: tuple
    padded_shape: tuple  # NHWC shape of the padded input
    out_shape: tuple  # NHWC shape of the output
    pads: tuple
    strides: tuple
    dilation_rate: tuple
    groups: int
    data_format: str
    has_bias: bool
    padded: np.ndarray | None = None  # depthwise path only: the padded NHWC input (no patch matrix)


def _check_conv_args(x, kernel, bias, strides, padding, dilation_rate, groups, data_format):
    """Validate everything once; return arrays and normalised hyper-parameters."""
    data_format = standardize_data_format(data_format)
    x = as_array(x, "x")
    kernel = as_array(kernel, "kernel")
    layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
    check_rank(x, 4, "x", f"{layout} for data_format='{data_format}'")
    check_rank(kernel, 4, "kernel", "(kernel_h, kernel_w, in_channels // groups, filters)")
    strides = standardize_tuple(strides, 2, "strides")
    dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"The `groups` argument must be a positive int. Received: groups={_short(groups)}")
    groups = int(groups)
    channels = x.shape[-1] if data_format == "channels_last" else x.shape[1]
    kh, kw, k_in, filters = kernel.shape
    if channels % groups or filters % groups:
        raise ValueError(
            "The `groups` argument must divide both the input channels and the filters. "
            f"Received: groups={groups}, input channels={channels}, filters={filters}"
        )
    if k_in * groups != channels:
        raise ValueError(
            f"The `kernel` argument's third axis must equal in_channels // groups = {channels} // {groups} "
            f"= {channels // groups} (input channels are on axis {-1 if data_format == 'channels_last' else 1} "
            f"for data_format='{data_format}'). Received: kernel with shape {kernel.shape}"
        )
    if bias is not None:
        bias = as_array(bias, "bias")
        if bias.shape != (filters,):
            raise ValueError(
                f"The `bias` argument must have shape (filters,) = ({filters},). Received: bias with shape {bias.shape}"
            )
    check_finite(x, "x")
    check_finite(kernel, "kernel")
    if bias is not None:
        check_finite(bias, "bias")
    return x, kernel, bias, strides, dilation_rate, groups, data_format


def conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
                   data_format="channels_last"):
    """Convolution forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`conv2d`.

    Returns:
        ``(y, cache)``; pass ``cache`` to :func:`conv2d_backward`.
    """
    x, kernel, bias, strides, dilation_rate, groups, data_format = _check_conv_args(
        x, kernel, bias, strides, padding, dilation_rate, groups, data_format)
    dtype = float_dtype(x, kernel, bias)
    xl = to_channels_last(x, data_format).astype(dtype, copy=False)
    n, h, w, c = xl.shape
    kh, kw, cg, filters = kernel.shape
    pads = resolve_padding(padding, (h, w), (kh, kw), strides, dilation_rate)
    oh, ow = output_hw((h, w), (kh, kw), strides, pads, dilation_rate)

    xp = pad_nhwc(xl, pads)
    win = windows_nhwc(xp, (kh, kw), strides, dilation_rate, (oh, ow))  # (N, OH, OW, kh, kw, C)
    m, fg = n * oh * ow, filters // groups
    if groups > 1 and cg == 1 and fg == 1:
        # depthwise: a GEMM per channel would be 1 x kh*kw matrices; kh*kw shifted multiply-adds are faster
        k = kernel.astype(dtype, copy=False).reshape(kh, kw, c)
        y, term = np.zeros((n, oh, ow, c), dtype), np.empty((n, oh, ow, c), dtype)
        for a in range(kh):
            for b in range(kw):
                y += np.multiply(win[:, :, :, a, b, :], k[a, b], out=term)
        if bias is not None:
            y += bias.astype(dtype, copy=False)
        cache = Conv2DCache(None, k, kernel.shape, (h, w), xp.shape, y.shape, pads, strides, dilation_rate,
                            groups, data_format, bias is not None, padded=xp)
        return from_channels_last(y, data_format), cache
    if groups == 1:
        cols = win.reshape(1, m, kh * kw * c)
        kernel_mat = kernel.astype(dtype, copy=False).reshape(1, kh * kw * c, filters)
    else:
        # split channels into groups and make the group the batch axis of the matmul
        cols = (win.reshape(n, oh, ow, kh, kw, groups, cg)
                .transpose(5, 0, 1, 2, 3, 4, 6).reshape(groups, m, kh * kw * cg))
        kernel_mat = (kernel.astype(dtype, copy=False).reshape(kh, kw, cg, groups, fg)
                      .transpose(3, 0, 1, 2, 4).reshape(groups, kh * kw * cg, fg))
    y = np.matmul(cols, kernel_mat)  # (groups, M, F/groups)
    y = y[0] if groups == 1 else y.transpose(1, 0, 2)
    y = y.reshape(n, oh, ow, filters)
    if bias is not None:
        y += bias.astype(dtype, copy=False)
    cache = Conv2DCache(cols, kernel_mat, kernel.shape, (h, w), xp.shape, y.shape, pads, strides,
                        dilation_rate, groups, data_format, bias is not None)
    return from_channels_last(y, data_format), cache


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1, groups=1,
           data_format="channels_last") -> np.ndarray:
    """2D convolution (cross-correlation) of a batch of images with a filter bank.

    ``y[n, i, j, f] = bias[f] + sum_{a, b, c} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, f]``
    (for ``groups=1``; with groups, output filter ``f`` sees only its group's channels).

    Args:
        x: input images.
        kernel: filters, Keras layout ``(kh, kw, in_channels // groups, filters)`` for both
            data formats.
        bias: optional per-filter bias.
        strides: int or (sh, sw).
        padding: ``"valid"`` (none), ``"same"`` (output ``ceil(in / stride)``; an odd total
            puts the extra pixel bottom/right, as TensorFlow/Keras), an int, a pair
            ``(pad_h, pad_w)`` or ``((top, bottom), (left, right))``.
        dilation_rate: int or (dh, dw): spacing between filter taps.
        groups: split the channels into this many independent convolutions.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Returns:
        The output, in the caller's float dtype (float32 for integer inputs).

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        kernel: (kh, kw, C // groups, F)
        bias: (F,)
        output: (N, OH, OW, F) or (N, F, OH, OW), ``OH = conv_output_size(H, kh, sh, top, bottom, dh)``

    Example:
        >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
        >>> conv2d(x, np.ones((2, 2, 1, 1)), bias=np.array([3.0]))[0, :, :, 0]   # seed 002
        array([[13., 17., 21.],
               [29., 33., 37.],
               [45., 49., 53.]])
    """
    return conv2d_forward(x, kernel, bias, strides, padding, dilation_rate, groups, data_format)[0]


def conv2d_backward(dy, cache: Conv2DCache):
    """Gradients of a convolution with respect to its input, kernel and bias.

    Args:
        dy: gradient of the loss with respect to the output of :func:`conv2d_forward`.
        cache: the cache that call returned.

    Returns:
        ``(dx, dkernel, dbias)``; ``dbias`` is None when the forward had no bias.

    Shape:
        dy: like the output, (N, OH, OW, F) or (N, F, OH, OW)
        dx: like x; dkernel: (kh, kw, C // groups, F); dbias: (F,)
    """
    dy = as_array(dy, "dy")
    dyl = to_channels_last(dy, cache.data_format) if dy.ndim == 4 else dy
    if dyl.shape != cache.out_shape:
        expected = from_channels_last(np.empty(cache.out_shape, dtype=bool), cache.data_format).shape
        raise ValueError(f"The `dy` argument must have the output's shape {expected}. Received: dy with shape {dy.shape}")
    if cache.padded is not None:
        return _depthwise_backward(dyl.astype(cache.padded.dtype, copy=False), cache)
    dtype = cache.cols.dtype
    dyl = dyl.astype(dtype, copy=False)
    n, oh, ow, filters = cache.out_shape
    kh, kw, cg, _ = cache.kernel_shape
    g = cache.groups
    m, fg = n * oh * ow, filters // g
    dy_mat = dyl.reshape(1, m, filters) if g == 1 else dyl.reshape(m, g, fg).transpose(1, 0, 2)

    dbias = dyl.reshape(m, filters).sum(axis=0) if cache.has_bias else None
    dk = np.matmul(cache.cols.transpose(0, 2, 1), dy_mat)  # (g, kh*kw*cg, fg)
    dkernel = dk[0].reshape(kh, kw, cg, filters) if g == 1 else (
        dk.reshape(g, kh, kw, cg, fg).transpose(1, 2, 3, 0, 4).reshape(kh, kw, cg, filters))

    dcols = np.matmul(dy_mat, cache.kernel_mat.transpose(0, 2, 1))  # (g, M, kh*kw*cg)
    c = cg * g
    if g == 1:
        dwin = dcols.reshape(n, oh, ow, kh, kw, c)
    else:
        dwin = dcols.reshape(g, n, oh, ow, kh, kw, cg).transpose(1, 2, 3, 4, 5, 0, 6).reshape(n, oh, ow, kh, kw, c)
    dxp = add_windows_nhwc(dwin, cache.padded_shape, cache.strides, cache.dilation_rate)
    dx = crop_nhwc(dxp, cache.pads, cache.input_hw)
    return from_channels_last(np.ascontiguousarray(dx), cache.data_format), dkernel, dbias


def _depthwise_backward(dyl, cache: Conv2DCache):
    """Backward of the depthwise path: per tap, ``dkernel[a, b] = sum(window_ab * dy)`` and
    ``dy * kernel[a, b]`` added onto the input positions that tap read."""
    n, oh, ow, c = cache.out_shape
    kh, kw, _, _ = cache.kernel_shape
    win = windows_nhwc(cache.padded, (kh, kw), cache.strides, cache.dilation_rate, (oh, ow))
    k = cache.kernel_mat
    dkernel = np.empty((kh, kw, 1, c), dtype=dyl.dtype)
    dxp = np.zeros(cache.padded_shape, dtype=dyl.dtype)
    term = np.empty_like(dyl)
    for a in range(kh):
        for b in range(kw):
            dkernel[a, b, 0] = np.einsum("nhwc,nhwc->c", win[:, :, :, a, b, :], dyl)
            tap = tap_nhwc(dxp, a, b, cache.strides, cache.dilation_rate, (oh, ow))
            tap += np.multiply(dyl, k[a, b], out=term)
    dbias = dyl.reshape(-1, c).sum(axis=0) if cache.has_bias else None
    dx = crop_nhwc(dxp, cache.pads, cache.input_hw)
    return from_channels_last(np.ascontiguousarray(dx), cache.data_format), dkernel, dbias
