"""Depthwise and depthwise-separable 2D convolution (Keras ``DepthwiseConv2D``, ``SeparableConv2D``).

Both are :func:`~numcnn.functional.conv2d` with a kernel seen another way, so neither has
a loop of its own:

* depthwise: Keras's kernel ``(kh, kw, C, M)`` (``M`` the depth multiplier) *is* a grouped
  convolution's kernel ``(kh, kw, 1, C*M)`` with ``groups = C``, by a reshape: output
  channel ``c*M + j`` is input channel ``c`` convolved with ``kernel[:, :, c, j]``. With
  ``M = 1`` :func:`~numcnn.functional.conv2d` runs its depthwise path (shifted
  multiply-adds), else one small GEMM per channel;
* separable: the depthwise convolution (no bias), then a 1x1 convolution with
  ``pointwise_kernel (1, 1, C*M, F)`` and the bias, both in channels-last layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils.validation import as_array, check_rank, standardize_data_format
from .conv import Conv2DCache, check_bias, conv2d_backward, conv2d_forward
from .windows import from_channels_last, shape_from_channels_last, to_channels_last


def _check_depthwise_args(x, kernel, data_format):
    """``(x, kernel, data_format)`` checked: 4D arrays, ``kernel.shape[2]`` the input channels."""
    data_format = standardize_data_format(data_format)
    x = as_array(x, "x")
    kernel = as_array(kernel, "kernel")
    layout = "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
    check_rank(x, 4, "x", f"{layout} for data_format='{data_format}'")
    check_rank(kernel, 4, "kernel", "(kernel_h, kernel_w, in_channels, depth_multiplier)")
    axis = -1 if data_format == "channels_last" else 1
    if x.shape[axis] == 0:
        raise ValueError(f"The `x` argument must have at least one input channel (axis {axis} for "
                         f"data_format='{data_format}'). Received: x with shape {x.shape}")
    if 0 in kernel.shape:
        raise ValueError("The `kernel` argument must have a non-zero size on every axis (kernel_h, kernel_w, "
                         f"in_channels, depth_multiplier). Received: kernel with shape {kernel.shape}")
    if kernel.shape[2] != x.shape[axis]:
        raise ValueError(
            f"The `kernel` argument's third axis must equal the input channels ({x.shape[axis]}, axis {axis} for "
            f"data_format='{data_format}'): Keras's layout is (kernel_h, kernel_w, in_channels, depth_multiplier). "
            f"Received: kernel with shape {kernel.shape}")
    return x, kernel, data_format


def _grouped(kernel):
    """Keras's depthwise kernel ``(kh, kw, C, M)`` as a grouped conv kernel ``(kh, kw, 1, C*M)`` (a view)."""
    kh, kw, c, m = kernel.shape
    return kernel.reshape(kh, kw, 1, c * m)


def depthwise_conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
                             data_format="channels_last", *, check=True):
    """Depthwise convolution forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`depthwise_conv2d`, and ``check`` (layers pass False with
    normalised arguments, as for :func:`~numcnn.functional.conv2d_forward`).

    Returns:
        ``(y, cache)``: a :class:`~numcnn.functional.Conv2DCache` of the grouped convolution;
        pass it to :func:`depthwise_conv2d_backward`.
    """
    if check:
        x, kernel, data_format = _check_depthwise_args(x, kernel, data_format)
        bias = check_bias(bias, kernel.shape[2] * kernel.shape[3], "in_channels * depth_multiplier")
    return conv2d_forward(x, _grouped(kernel), bias, strides, padding, dilation_rate, kernel.shape[2], data_format,
                          check=check)


def depthwise_conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
                     data_format="channels_last") -> np.ndarray:
    """Depthwise 2D convolution: each input channel convolved with its own ``depth_multiplier`` filters.

    ``y[n, i, j, c*M + m] = bias[c*M + m] + sum_{a, b} xpad[n, i*sh + a*dh, j*sw + b*dw, c] * kernel[a, b, c, m]``

    Args:
        x: input images.
        kernel: Keras layout ``(kh, kw, in_channels, depth_multiplier)``, for both data formats.
        bias: optional, one per output channel.
        strides, padding, dilation_rate, data_format: as :func:`~numcnn.functional.conv2d`.

    Returns:
        The output, in the caller's float dtype (float32 for integer inputs).

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        kernel: (kh, kw, C, M)
        bias: (C*M,)
        output: (N, OH, OW, C*M) or (N, C*M, OH, OW), OH and OW as for conv2d

    Example:
        >>> x = np.arange(8.0).reshape(1, 2, 2, 2)            # two channels
        >>> depthwise_conv2d(x, np.array([1.0, 10.0]).reshape(1, 1, 2, 1))[0, 0]   # channel 1 times 10
        array([[ 0., 10.],
               [ 2., 30.]])
    """
    return depthwise_conv2d_forward(x, kernel, bias, strides, padding, dilation_rate, data_format)[0]


def depthwise_conv2d_backward(dy, cache: Conv2DCache, *, check=True):
    """Gradients of a depthwise convolution with respect to its input, kernel and bias.

    Returns:
        ``(dx, dkernel, dbias)``; ``dbias`` is None when the forward had no bias.

    Shape:
        dy: like the output; dx: like x; dkernel: (kh, kw, C, M); dbias: (C*M,)
    """
    dx, dkernel, dbias = conv2d_backward(dy, cache, check=check)
    kh, kw, _, cm = dkernel.shape
    return dx, dkernel.reshape(kh, kw, cache.groups, cm // cache.groups), dbias


@dataclass(frozen=True)
class SeparableConv2DCache:
    """What :func:`separable_conv2d_backward` needs: the caches of both convolutions (channels-last)."""

    depthwise: Conv2DCache
    pointwise: Conv2DCache
    data_format: str


def separable_conv2d_forward(x, depthwise_kernel, pointwise_kernel, bias=None, strides=1, padding="valid",
                             dilation_rate=1, data_format="channels_last", *, check=True):
    """Separable convolution forward pass that also returns the cache for the backward pass.

    Same arguments as :func:`separable_conv2d`, and ``check``.

    Returns:
        ``(y, cache)``; pass ``cache`` to :func:`separable_conv2d_backward`.
    """
    if check:
        x, depthwise_kernel, data_format = _check_depthwise_args(x, depthwise_kernel, data_format)
        pointwise_kernel = as_array(pointwise_kernel, "pointwise_kernel")
        middle = depthwise_kernel.shape[2] * depthwise_kernel.shape[3]
        if pointwise_kernel.ndim != 4 or pointwise_kernel.shape[:3] != (1, 1, middle) or pointwise_kernel.shape[3] == 0:
            raise ValueError(
                "The `pointwise_kernel` argument must have shape (1, 1, in_channels * depth_multiplier, filters) = "
                f"(1, 1, {middle}, filters), filters >= 1. "
                f"Received: pointwise_kernel with shape {pointwise_kernel.shape}")
        bias = check_bias(bias, pointwise_kernel.shape[3], "filters")
    # both steps in channels-last: one layout change each way instead of one per step
    z, depthwise = depthwise_conv2d_forward(to_channels_last(x, data_format), depthwise_kernel, None, strides,
                                            padding, dilation_rate, "channels_last", check=check)
    y, pointwise = conv2d_forward(z, pointwise_kernel, bias, (1, 1), "valid", (1, 1), 1, "channels_last",
                                  check=False)
    return from_channels_last(y, data_format), SeparableConv2DCache(depthwise, pointwise, data_format)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
                     data_format="channels_last") -> np.ndarray:
    """Depthwise-separable 2D convolution: :func:`depthwise_conv2d`, then a 1x1 convolution mixing channels.

    ``y = conv2d(depthwise_conv2d(x, depthwise_kernel, strides=..., padding=..., dilation_rate=...),
    pointwise_kernel, bias)``, as Keras's ``ops.separable_conv`` plus the layer's bias.

    Args:
        x: input images.
        depthwise_kernel: ``(kh, kw, in_channels, depth_multiplier)``.
        pointwise_kernel: ``(1, 1, in_channels * depth_multiplier, filters)``.
        bias: optional per-filter bias.
        strides, padding, dilation_rate, data_format: of the depthwise step, as
            :func:`~numcnn.functional.conv2d`.

    Shape:
        x: (N, H, W, C) or (N, C, H, W)
        depthwise_kernel: (kh, kw, C, M); pointwise_kernel: (1, 1, C*M, F); bias: (F,)
        output: (N, OH, OW, F) or (N, F, OH, OW), OH and OW as for conv2d
    """
    return separable_conv2d_forward(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate,
                                    data_format)[0]


def separable_conv2d_backward(dy, cache: SeparableConv2DCache, *, check=True):
    """Gradients of a separable convolution: the pointwise step's backward, then the depthwise step's.

    Returns:
        ``(dx, ddepthwise_kernel, dpointwise_kernel, dbias)``; ``dbias`` is None without a bias.

    Shape:
        dy: like the output; dx: like x; ddepthwise_kernel: (kh, kw, C, M);
        dpointwise_kernel: (1, 1, C*M, F); dbias: (F,)
    """
    if check:
        dy = as_array(dy, "dy")
        expected = shape_from_channels_last(cache.pointwise.out_shape, cache.data_format)
        if dy.shape != expected:
            raise ValueError(f"The `dy` argument must have the output's shape {expected}. "
                             f"Received: dy with shape {dy.shape}")
    dz, dpointwise, dbias = conv2d_backward(to_channels_last(dy, cache.data_format), cache.pointwise, check=False)
    dxl, ddepthwise, _ = depthwise_conv2d_backward(dz, cache.depthwise, check=False)
    return from_channels_last(dxl, cache.data_format), ddepthwise, dpointwise, dbias


__all__ = [
    "SeparableConv2DCache",
    "depthwise_conv2d",
    "depthwise_conv2d_backward",
    "depthwise_conv2d_forward",
    "separable_conv2d",
    "separable_conv2d_backward",
    "separable_conv2d_forward",
]
