"""Transposed 2D convolution (Keras ``Conv2DTranspose``, PyTorch ``conv_transpose2d``): forward and backward.

A transposed convolution is the input gradient of a convolution, run forwards: every input
pixel stamps the kernel, scaled by its value, onto the output, ``strides`` apart. So both
passes reuse the tap-by-tap machinery of :mod:`numcnn.functional.conv`:

* forward:  the *full* output ``(N, (H-1)*sh + ekh, (W-1)*sw + ekw, F)`` (``ek`` the dilated
  kernel size) is a convolution's input gradient, one filter tap at a time
  (``x @ kernel[a, b].T`` added onto the positions tap ``(a, b)`` reaches); ``padding``
  then crops it (or, on the bottom/right, extends it with zeros);
* backward: ``dx`` is a convolution forward of the (un-cropped) ``dy`` with the same kernel,
  and ``dkernel`` that convolution's kernel gradient with ``x`` as its output gradient.

The padding rule, for each spatial axis, is ``(before, after)``: how many rows of the full
output are cut at the start and at the end, a negative ``after`` adding zeros instead.
It is the one place that knows the rule (:func:`conv_transpose_crops`):

* ``"valid"``: nothing cut; ``output_padding`` rows added at the end (Keras's default
  ``max(ek, s) - ek``), so the output is ``(in-1)*s + max(ek, s)``;
* ``"same"``: Keras's rule: output ``in*s`` (``output_padding=None``) or
  ``(in-1)*s + ek % 2 + output_padding``, the crop split as Keras/JAX split it;
* explicit ``p``, ``(ph, pw)`` or ``((top, bottom), (left, right))``: PyTorch's and ONNX's
  ``padding``/``pads``: rows cut from each side, ``output_padding`` given back at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils.validation import (
    _short,
    allocation_guard,
    as_array,
    float_dtype,
    standardize_tuple,
)
from .conv import (
    Conv2DCache,
    _input_gradient_by_taps,
    _kernel_gradient,
    check_bias,
    check_image_conv_args,
    conv2d_forward,
)
from .windows import from_channels_last, pad_nhwc, shape_from_channels_last, to_channels_last


# -- geometry ----------------------------------------------------------------------------------------------------

def conv_transpose_crops(kernel_size: int, stride: int, padding, output_padding=None, dilation: int = 1):
    """``(before, after)`` rows cut from the full output of a transposed convolution along one axis.

    The full output has ``(in - 1) * stride + ek`` rows, ``ek = (kernel_size - 1) * dilation + 1``;
    a negative ``after`` adds that many zero rows at the end instead. ``before`` is never negative.

    Args:
        kernel_size, stride, dilation: the axis's kernel length, stride and dilation.
        padding: ``"valid"``, ``"same"`` (Keras's rules) or an explicit ``(before, after)`` pair
            (PyTorch's/ONNX's: rows cut from each side).
        output_padding: None or the rows given back at the end (``< stride``).

    Example:
        >>> conv_transpose_crops(3, 2, "same")      # output in*2: cut 0 before, 1 after
        (0, 1)
        >>> conv_transpose_crops(3, 2, "valid", 1)  # nothing cut, one zero row added
        (0, -1)
    """
    effective = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        return 0, -extra
    if padding == "same":
        if output_padding is None:  # output in * stride
            total = stride + effective - 2
        else:  # output (in - 1) * stride + effective % 2 + output_padding
            total = effective + effective % 2 - 2 + output_padding
        left = min(total // 2 + total % 2, effective - 1)
        return effective - 1 - left, effective - 1 - (total - left)
    before, after = padding
    return before, after - (output_padding or 0)


def conv_transpose_output_size(input_size: int, kernel_size: int, stride: int, padding, output_padding=None,
                               dilation: int = 1) -> int:
    """Length of a transposed convolution's output along one axis (Keras's and PyTorch's rule).

    ``out = (in - 1) * stride + ek - before - after`` with ``(before, after)`` from
    :func:`conv_transpose_crops`. Raises ``ValueError`` when the input is empty or the
    padding leaves no output.

    Example:
        >>> conv_transpose_output_size(4, 3, 2, "same"), conv_transpose_output_size(4, 3, 2, "valid")
        (8, 9)
    """
    before, after = conv_transpose_crops(kernel_size, stride, padding, output_padding, dilation)
    full = (input_size - 1) * stride + (kernel_size - 1) * dilation + 1
    if input_size < 1 or full - before - after < 1:
        raise ValueError(
            f"A transposed convolution needs a non-empty input and a padding that leaves some output: the full "
            f"output has {max(full, 0)} rows, the padding cuts {before} before and {after} after. "
            f"Received: input size {input_size}, kernel_size {kernel_size}, stride {stride}, padding={_short(padding)}")
    return full - before - after


def resolve_transpose_padding(padding, kernel_hw, strides, output_padding=None, dilation_rate=(1, 1)):
    """``((top, bottom), (left, right))`` crops of the full output for a normalised ``padding``
    (``"valid"``, ``"same"`` or explicit pairs, as ``standardize_padding`` returns them)."""
    output_padding = (None, None) if output_padding is None else output_padding
    pairs = (padding, padding) if isinstance(padding, str) else padding
    return tuple(conv_transpose_crops(k, s, p, o, d)
                 for k, s, p, o, d in zip(kernel_hw, strides, pairs, output_padding, dilation_rate))


def conv_transpose_output_hw(input_hw, kernel_hw, strides, padding, output_padding=None, dilation_rate=(1, 1)):
    """(OH, OW) of a transposed convolution, via :func:`conv_transpose_output_size` on each axis."""
    output_padding = (None, None) if output_padding is None else output_padding
    pairs = (padding, padding) if isinstance(padding, str) else padding
    return tuple(conv_transpose_output_size(i, k, s, p, o, d)
                 for i, k, s, p, o, d in zip(input_hw, kernel_hw, strides, pairs, output_padding, dilation_rate))


def check_output_padding(output_padding, strides):
    """``output_padding`` as None or a pair of ints, each in ``[0, stride)`` (Keras's rule)."""
    if output_padding is None:
        return None
    output_padding = standardize_tuple(output_padding, 2, "output_padding", allow_zero=True)
    if any(o >= s for o, s in zip(output_padding, strides)):
        raise ValueError(
            "The `output_padding` argument must be None or smaller than `strides` on each axis "
            f"(strides={strides}). Received: output_padding={output_padding}")
    return output_padding


# -- forward and backward -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv2DTransposeCache:
    """What :func:`conv2d_transpose_backward` needs from the forward pass."""

    x: np.ndarray  # (N, H, W, C): the NHWC input, in the compute dtype
    kernel: np.ndarray  # (kh, kw, F, C), in the compute dtype
    out_shape: tuple  # NHWC shape of the output
    crops: tuple  # ((top, bottom), (left, right)) cut from the full output; negative bottom/right: zeros added
    strides: tuple
    dilation_rate: tuple
    data_format: str
    has_bias: bool


def _check_transpose_args(x, kernel, bias, strides, padding, output_padding, dilation_rate, data_format):
    """The door's checks, in :func:`conv2d_transpose_forward`'s order."""
    x, kernel, strides, padding, dilation_rate, data_format = check_image_conv_args(
        x, kernel, strides, padding, dilation_rate, data_format, "(kernel_h, kernel_w, filters, in_channels)")
    output_padding = check_output_padding(output_padding, strides)
    axis = -1 if data_format == "channels_last" else 1
    channels = x.shape[axis]
    if channels == 0:
        raise ValueError(f"The `x` argument must have at least one input channel (axis {axis} for "
                         f"data_format='{data_format}'). Received: x with shape {x.shape}")
    if 0 in kernel.shape:
        raise ValueError("The `kernel` argument must have a non-zero size on every axis (kernel_h, kernel_w, "
                         f"filters, in_channels). Received: kernel with shape {kernel.shape}")
    if kernel.shape[3] != channels:
        raise ValueError(
            f"The `kernel` argument's last axis must equal the input channels ({channels}, axis {axis} for "
            f"data_format='{data_format}'): Keras's layout is (kernel_h, kernel_w, filters, in_channels). "
            f"Received: kernel with shape {kernel.shape}")
    bias = check_bias(bias, kernel.shape[2])
    return x, kernel, bias, strides, padding, output_padding, dilation_rate, data_format


def conv2d_transpose_forward(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                             data_format="channels_last", *, check=True):
    """Transposed convolution forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`conv2d_transpose`, and ``check``: check and normalise the arguments
    (the default). numcnn's layers, which checked theirs once, pass False with arrays of the right
    rank, int tuples, a padding from ``standardize_padding``, ``output_padding`` from
    :func:`check_output_padding` and a lower-case data format.

    Returns:
        ``(y, cache)``; pass ``cache`` to :func:`conv2d_transpose_backward`.
    """
    if check:
        args = _check_transpose_args(x, kernel, bias, strides, padding, output_padding, dilation_rate, data_format)
        received = (f"x with shape {args[0].shape}, kernel with shape {args[1].shape}, strides={args[3]}, "
                    f"padding={_short(padding)}, output_padding={args[5]}, dilation_rate={args[6]}")
        with allocation_guard("conv2d_transpose", received):
            return conv2d_transpose_forward(*args, check=False)
    dtype = float_dtype(x, kernel, bias)
    xl = to_channels_last(x, data_format).astype(dtype, copy=False)
    kernel = kernel.astype(dtype, copy=False)
    n, h, w, c = xl.shape
    kh, kw, filters, _ = kernel.shape
    crops = resolve_transpose_padding(padding, (kh, kw), strides, output_padding, dilation_rate)
    oh, ow = conv_transpose_output_hw((h, w), (kh, kw), strides, padding, output_padding, dilation_rate)
    cache = Conv2DTransposeCache(xl, kernel, (n, oh, ow, filters), crops, strides, dilation_rate, data_format,
                                 bias is not None)
    if n == 0:
        y = np.zeros(cache.out_shape, dtype=dtype)
    else:
        full_hw = tuple((i - 1) * s + (k - 1) * d + 1 for i, k, s, d in zip((h, w), (kh, kw), strides, dilation_rate))
        # x is the output gradient of a convolution whose (padded) input is the full output; only that
        # input's shape and dtype are read, so a zero-byte broadcast stands in for it
        conv = Conv2DCache(np.broadcast_to(np.zeros((), dtype), (n, *full_hw, filters)), kernel, full_hw,
                           (n, h, w, c), ((0, 0), (0, 0)), strides, dilation_rate, 1, "channels_last", False)
        full = _input_gradient_by_taps(xl, conv)
        (top, bottom), (left, right) = crops
        y = full[:, top:full_hw[0] - max(bottom, 0), left:full_hw[1] - max(right, 0)]
        y = pad_nhwc(y, ((0, max(-bottom, 0)), (0, max(-right, 0))))
    if bias is not None:
        y += bias.astype(dtype, copy=False)
    return np.ascontiguousarray(from_channels_last(y, data_format)), cache


def conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", output_padding=None, dilation_rate=1,
                     data_format="channels_last") -> np.ndarray:
    """Transposed 2D convolution: each input pixel adds ``value * kernel`` onto the output, ``strides`` apart.

    ``full[n, i*sh + a*dh, j*sw + b*dw, f] += sum_c x[n, i, j, c] * kernel[a, b, f, c]``, then
    ``y = bias + full`` cropped by the padding rule (see the module docstring). It is the
    input gradient of :func:`~numcnn.functional.conv2d` with the same kernel, strides and
    dilation (and, for ``"same"`` and explicit padding, the same padding).

    Args:
        x: input images.
        kernel: filters, Keras layout ``(kh, kw, filters, in_channels)`` for both data formats
            (PyTorch's weight ``(in_channels, filters, kh, kw)`` is ``kernel.transpose(3, 2, 0, 1)``).
        bias: optional per-filter bias.
        strides: int or (sh, sw).
        padding: ``"valid"`` or ``"same"`` (Keras's output sizes), or PyTorch's/ONNX's explicit
            rows cut from the full output: an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``.
        output_padding: None, an int or (oh, ow), each smaller than its stride: rows added at
            the bottom/right (Keras's meaning for "valid"/"same", PyTorch's for explicit padding).
        dilation_rate: int or (dh, dw): spacing between filter taps.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Returns:
        The output, in the caller's float dtype (float32 for integer inputs).

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        kernel: (kh, kw, F, C)
        bias: (F,)
        output: (N, OH, OW, F) or (N, F, OH, OW), ``OH = conv_transpose_output_size(H, kh, sh, ...)``:
        ``H*sh`` for "same", ``(H-1)*sh + max(ekh, sh)`` for "valid"

    Example:
        >>> x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
        >>> conv2d_transpose(x, np.ones((2, 2, 1, 1)), strides=2)[0, :, :, 0]   # each pixel stamped 2x2
        array([[1., 1., 2., 2.],
               [1., 1., 2., 2.],
               [3., 3., 4., 4.],
               [3., 3., 4., 4.]])
    """
    return conv2d_transpose_forward(x, kernel, bias, strides, padding, output_padding, dilation_rate, data_format)[0]


def conv2d_transpose_backward(dy, cache: Conv2DTransposeCache, *, check=True):
    """Gradients of a transposed convolution with respect to its input, kernel and bias.

    Args:
        dy: gradient of the loss with respect to the output of :func:`conv2d_transpose_forward`.
        cache: the cache that call returned.
        check: check ``dy`` (an array of the output's shape); layers pass False.

    Returns:
        ``(dx, dkernel, dbias)``; ``dbias`` is None when the forward had no bias.

    Shape:
        dy: like the output, (N, OH, OW, F) or (N, F, OH, OW)
        dx: like x; dkernel: (kh, kw, F, C); dbias: (F,)
    """
    if check:
        dy = as_array(dy, "dy")
        expected = shape_from_channels_last(cache.out_shape, cache.data_format)
        if dy.shape != expected:
            raise ValueError(f"The `dy` argument must have the output's shape {expected}. "
                             f"Received: dy with shape {dy.shape}")
    xl, kernel = cache.x, cache.kernel
    dyl = to_channels_last(dy, cache.data_format).astype(xl.dtype, copy=False)
    n, oh, ow, filters = cache.out_shape
    dbias = None
    if cache.has_bias:  # a matrix-vector product: faster and more accurate in float32 than sum(axis=0)
        dbias = np.ones(n * oh * ow, dtype=dyl.dtype) @ dyl.reshape(-1, filters)
    if n == 0:
        return from_channels_last(np.zeros(xl.shape, dtype=xl.dtype), cache.data_format), np.zeros_like(kernel), dbias
    # dy back on the full output's grid: the cropped rows get zeros, the added zero rows are dropped
    (top, bottom), (left, right) = cache.crops
    dfull = pad_nhwc(dyl[:, :oh - max(-bottom, 0), :ow - max(-right, 0)],
                     ((top, max(bottom, 0)), (left, max(right, 0))))
    dxl, conv = conv2d_forward(dfull, kernel, None, cache.strides, "valid", cache.dilation_rate, 1, "channels_last",
                               check=False)
    dkernel = _kernel_gradient(xl, conv)  # x is that convolution's output gradient
    return from_channels_last(dxl, cache.data_format), dkernel, dbias


__all__ = [
    "Conv2DTransposeCache",
    "check_output_padding",
    "conv2d_transpose",
    "conv2d_transpose_backward",
    "conv2d_transpose_forward",
    "conv_transpose_crops",
    "conv_transpose_output_hw",
    "conv_transpose_output_size",
    "resolve_transpose_padding",
]
