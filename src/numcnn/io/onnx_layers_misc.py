"""ONNX translations of ReLU (every option), PReLU, Clip, LocalResponseNormalization, SpatialDropout2D (see
:mod:`numcnn.io.onnx_export`).

Each handler is ``handler(t, layer, x, path) -> name``: ``t`` is the exporter's tracer (``t.node``,
``t.weight``, ``t.constant``, ``t.ints``, ``t.activation``, ``t.pads``, ``t.reduce``, ``t.opset``), ``x``
the input (``x.name``, ``x.shape`` with the batch axis None; a list for merge layers) and ``path`` the
layer's name in the graph; it returns the ONNX name of the layer's output.

* ReLU: ``Relu``; ``Clip`` for ``max_value`` (its bounds are inputs since opset 11); ``LeakyRelu``
  for ``negative_slope`` and ``ThresholdedRelu`` for ``threshold``, then ``Min`` for ``max_value``;
  with both a slope and a threshold, ``Where(x <= threshold, slope * (x - threshold), Min(x, max_value))``.
* PReLU: ONNX ``PRelu`` with ``alpha`` as its slope, unchanged. ``alpha`` has one sample's shape (the
  shared axes of size 1) in the layer's own layout, and the exported tensor keeps that layout (numcnn's,
  channels_last or channels_first), so ``alpha`` already broadcasts against ``(N, ...)`` right-aligned,
  as ``PRelu``'s unidirectional broadcasting wants: no Transpose, no Reshape.
* Clip: ONNX ``Clip``, its bounds as inputs (opset 11 on; the exporter writes 13 on); a bound that is None
  is an omitted input (``""`` for the min when only the max is set). ONNX's omitted bounds are the float's
  ``lowest()`` and ``max()``, not infinities, so an infinite input on an unbounded side comes out of
  onnxruntime as float32's -3.4028235e38 or 3.4028235e38 where numcnn (and ``torch.clamp``) keep it infinite; NaN stays NaN in both.
  Without any bound the layer is the identity: ``Identity``, which keeps infinities too.
* LocalResponseNormalization: ONNX ``LRN`` (same ``size``, ``alpha``, ``beta``, ``bias``, same window),
  between two ``Transpose`` nodes for channels_last. onnxruntime runs ``LRN`` for odd sizes on 4D
  inputs only; other cases are written out: the squares' window sums are an ``AveragePool`` over the
  channel axis (zero padding counted, so the mean is ``sum / size``), then ``Pow`` and ``Div``.
* SpatialDropout2D: nothing (the identity at inference), as Dropout.
"""

from __future__ import annotations

import numpy as np

from ..functional.lrn import lrn_window
from ..layers.core import Clip, PReLU, ReLU, SpatialDropout2D
from ..layers.normalization import LocalResponseNormalization

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _scalar(t, path, key, value):
    return t.constant(f"{path}/{key}", np.array(value, dtype=np.float32))


def _relu(t, layer, x, path):
    slope, top, threshold = layer.negative_slope, layer.max_value, layer.threshold
    if threshold == 0 and slope == 0:
        if top is None:
            return t.node("Relu", [x.name], path)
        return t.node("Clip", [x.name, _scalar(t, path, "min", 0.0), _scalar(t, path, "max", top)], path)
    if threshold == 0 or slope == 0:
        if threshold == 0:
            y = t.node("LeakyRelu", [x.name], path, alpha=slope)
        else:  # x where x > threshold, else 0
            y = t.node("ThresholdedRelu", [x.name], path, alpha=threshold)
        # below the bend the output is <= 0 <= max_value: Min only clips the upper branch
        return y if top is None else t.node("Min", [y, _scalar(t, path, "max", top)], path)
    bend = _scalar(t, path, "threshold", threshold)
    upper = x.name if top is None else t.node("Min", [x.name, _scalar(t, path, "max", top)], path)
    lower = t.node("Mul", [t.node("Sub", [x.name, bend], path), _scalar(t, path, "negative_slope", slope)], path)
    return t.node("Where", [t.node("LessOrEqual", [x.name, bend], path), lower, upper], path)


def _prelu(t, layer, x, path):
    return t.node("PRelu", [x.name, t.weight(layer, path, "alpha", layer.params["alpha"])], path)


def _clip(t, layer, x, path):
    if layer.min_value is None and layer.max_value is None:
        return t.node("Identity", [x.name], path)
    inputs = [x.name, "" if layer.min_value is None else _scalar(t, path, "min", layer.min_value)]
    if layer.max_value is not None:
        inputs.append(_scalar(t, path, "max", layer.max_value))
    return t.node("Clip", inputs, path)


def _local_response_normalization(t, layer, x, path):
    last = layer.data_format == "channels_last"
    if layer.size % 2 and x.ndim == 4:
        y = t.node("Transpose", [x.name], f"{path}/to_nchw", perm=_TO_NCHW) if last else x.name
        y = t.node("LRN", [y], path, size=layer.size, alpha=layer.alpha, beta=layer.beta, bias=layer.bias)
        return t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC) if last else y
    channels = x.shape[-1] if last else x.shape[1]
    below, above = lrn_window(layer.size)
    squares = t.node("Mul", [x.name, x.name], path)
    if last:  # (N, ..., C) -> (N, 1, M, C): pool along the last axis
        rows = t.node("Reshape", [squares, t.ints(f"{path}/rows", [0, 1, -1, channels])], path)
        mean = t.node("AveragePool", [rows], path, kernel_shape=[1, layer.size], pads=[0, below, 0, above],
                      strides=[1, 1], count_include_pad=1)
    else:  # (N, C, ...) -> (N, 1, C, M): pool along axis 2
        rows = t.node("Reshape", [squares, t.ints(f"{path}/rows", [0, 1, channels, -1])], path)
        mean = t.node("AveragePool", [rows], path, kernel_shape=[layer.size, 1], pads=[below, 0, above, 0],
                      strides=[1, 1], count_include_pad=1)
    mean = t.node("Reshape", [mean, t.node("Shape", [x.name], path)], path)
    d = t.node("Add", [t.node("Mul", [mean, _scalar(t, path, "alpha", layer.alpha)], path),
                       _scalar(t, path, "bias", layer.bias)], path)
    return t.node("Div", [x.name, t.node("Pow", [d, _scalar(t, path, "beta", layer.beta)], path)], path)


def _spatial_dropout(t, layer, x, path):
    return x.name  # the identity at inference


HANDLERS: dict = {
    ReLU: _relu,  # replaces the exporter's own ReLU entry, which knows no options
    PReLU: _prelu,
    Clip: _clip,
    LocalResponseNormalization: _local_response_normalization,
    SpatialDropout2D: _spatial_dropout,
}
