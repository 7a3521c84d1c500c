"""ONNX translations of DepthwiseConv2D, SeparableConv2D, Conv2DTranspose (see :mod:`numcnn.io.onnx_export`).

Each handler is ``handler(t, layer, x, path) -> name``: ``t`` is the exporter's tracer (``t.node``,
``t.weight``, ``t.constant``, ``t.ints``, ``t.activation``, ``t.pads``, ``t.reduce``, ``t.opset``), ``x``
the input (``x.name``, ``x.shape`` with the batch axis None; a list for merge layers) and ``path`` the
layer's name in the graph; it returns the ONNX name of the layer's output.

* DepthwiseConv2D -> ``Conv`` with ``group = in_channels``: Keras's kernel ``(kh, kw, C, M)``
  reshaped to ``(kh, kw, 1, C*M)`` (output channel ``c*M + m``) and transposed to ONNX's
  ``(C*M, 1, kh, kw)``;
* SeparableConv2D -> that ``Conv`` (no bias), then a 1x1 ``Conv`` with the pointwise kernel and the bias;
* Conv2DTranspose -> ``ConvTranspose``, weight ``(C, F, kh, kw)`` (Keras's ``(kh, kw, F, C)``
  transposed); the rows cut from the full output become ``pads``, the zero rows added at the
  bottom/right ``output_padding`` (one of the two is zero on each side).

channels_last layers are wrapped in Transpose nodes, as Conv2D's export does; the activation is
applied next to the convolution in NCHW (softmax after the Transpose back: it works on the last axis).
"""

from __future__ import annotations

from ..functional.conv_transpose import resolve_transpose_padding
from ..layers.conv_variants import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _to_nchw(t, layer, x, path):
    return t.node("Transpose", [x.name], f"{path}/to_nchw", perm=_TO_NCHW) if layer.data_format == "channels_last" \
        else x.name


def _finish(t, layer, y, path):
    """The activation and the Transpose back to channels last, as for Conv2D."""
    softmax = isinstance(layer.activation, str) and layer.activation.lower() == "softmax"
    if not softmax:
        y = t.activation(y, layer.activation, path)
    if layer.data_format == "channels_last":
        y = t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC)
    return t.activation(y, "softmax", path) if softmax else y


def _depthwise_conv(t, layer, x, y, kernel, key, path, bias_key=None):
    """A Conv node of the depthwise step: ``kernel`` in Keras's ``(kh, kw, C, M)``, on NCHW value ``y``."""
    kh, kw, c, m = kernel.shape
    inputs = [y, t.weight(layer, path, key, kernel.reshape(kh, kw, 1, c * m).transpose(3, 2, 0, 1))]
    if bias_key is not None:
        inputs.append(t.weight(layer, path, bias_key, layer.params[bias_key]))
    return t.node("Conv", inputs, path, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                  dilations=list(layer.dilation_rate), pads=t.pads(layer, x, layer.kernel_size, layer.dilation_rate),
                  group=c)


def _depthwise_conv2d(t, layer, x, path):
    y = _depthwise_conv(t, layer, x, _to_nchw(t, layer, x, path), layer.params["kernel"], "kernel", path,
                        "bias" if layer.use_bias else None)
    return _finish(t, layer, y, path)


def _separable_conv2d(t, layer, x, path):
    y = _depthwise_conv(t, layer, x, _to_nchw(t, layer, x, path), layer.params["depthwise_kernel"],
                        "depthwise_kernel", f"{path}/depthwise")
    inputs = [y, t.weight(layer, path, "pointwise_kernel", layer.params["pointwise_kernel"].transpose(3, 2, 0, 1))]
    if layer.use_bias:
        inputs.append(t.weight(layer, path, "bias", layer.params["bias"]))
    y = t.node("Conv", inputs, f"{path}/pointwise", kernel_shape=[1, 1])
    return _finish(t, layer, y, path)


def _conv2d_transpose(t, layer, x, path):
    (top, bottom), (left, right) = resolve_transpose_padding(layer.padding, layer.kernel_size, layer.strides,
                                                             layer.output_padding, layer.dilation_rate)
    kernel = layer.params["kernel"].transpose(3, 2, 0, 1)  # (kh, kw, F, C) -> ONNX's (C, F, kh, kw)
    inputs = [_to_nchw(t, layer, x, path), t.weight(layer, path, "kernel", kernel)]
    if layer.use_bias:
        inputs.append(t.weight(layer, path, "bias", layer.params["bias"]))
    y = t.node("ConvTranspose", inputs, path, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
               dilations=list(layer.dilation_rate), pads=[top, left, max(bottom, 0), max(right, 0)],
               output_padding=[max(-bottom, 0), max(-right, 0)])
    return _finish(t, layer, y, path)


HANDLERS: dict = {
    DepthwiseConv2D: _depthwise_conv2d,
    SeparableConv2D: _separable_conv2d,
    Conv2DTranspose: _conv2d_transpose,
}
