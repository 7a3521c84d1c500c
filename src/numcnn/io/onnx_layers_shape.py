"""ONNX translations of ZeroPadding2D, Cropping2D, UpSampling2D, Permute, Multiply, Subtract (see :mod:`numcnn.io.onnx_export`).

Each handler is ``handler(t, layer, x, path) -> name``: ``t`` is the exporter's tracer (``t.node``,
``t.weight``, ``t.constant``, ``t.ints``, ``t.activation``, ``t.pads``, ``t.reduce``, ``t.opset``), ``x``
the input (``x.name``, ``x.shape`` with the batch axis None; a list for merge layers) and ``path`` the
layer's name in the graph; it returns the ONNX name of the layer's output.

Pad, Slice and Resize take their amounts as tensor inputs, the form of opset 13 that every opset
the exporter writes (13 to the newest) still reads. Pad and Slice work in any layout, so they act
on the layer's own axes; Resize runs on NCHW, wrapped in two Transposes for channels_last.
"""

from __future__ import annotations

import numpy as np

from ..layers.arithmetic import Multiply, Subtract
from ..layers.reshaping import Cropping2D, Permute, UpSampling2D, ZeroPadding2D

_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _spatial_axes(layer):
    return [1, 2] if layer.data_format == "channels_last" else [2, 3]


def _zero_padding2d(t, layer, x, path):
    # pads: the start of each of the 4 axes, then the end of each; zeros by default (mode "constant")
    begins, ends = [0] * 4, [0] * 4
    for axis, (before, after) in zip(_spatial_axes(layer), layer.padding):
        begins[axis], ends[axis] = before, after
    return t.node("Pad", [x.name, t.ints(f"{path}/pads", begins + ends)], path, mode="constant")


def _cropping2d(t, layer, x, path):
    axes = _spatial_axes(layer)
    starts = [before for before, _ in layer.cropping]
    ends = [x.shape[axis] - after for axis, (_, after) in zip(axes, layer.cropping)]
    inputs = [x.name, t.ints(f"{path}/starts", starts), t.ints(f"{path}/ends", ends), t.ints(f"{path}/axes", axes)]
    return t.node("Slice", inputs, path)


def _up_sampling2d(t, layer, x, path):
    last = layer.data_format == "channels_last"
    y = t.node("Transpose", [x.name], f"{path}/to_nchw", perm=_TO_NCHW) if last else x.name
    scales = t.constant(f"{path}/scales", np.array([1, 1, *layer.size], dtype=np.float32))
    if layer.interpolation == "nearest":  # y[i] = x[floor(i / s)]: Keras's repeat
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:  # half-pixel centres, edges clamped: Keras 3 and PyTorch's align_corners=False
        attrs = dict(mode="linear", coordinate_transformation_mode="half_pixel")
    y = t.node("Resize", [y, "", scales], path, **attrs)  # "": no region of interest (its opset-13 form)
    return t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC) if last else y


def _permute(t, layer, x, path):
    return t.node("Transpose", [x.name], path, perm=[0, *layer.dims])


def _multiply(t, layer, xs, path):
    y = xs[0].name
    for x in xs[1:]:  # Mul takes two inputs: folded from the left, as the layer
        y = t.node("Mul", [y, x.name], path)
    return y


def _subtract(t, layer, xs, path):
    return t.node("Sub", [xs[0].name, xs[1].name], path)


HANDLERS: dict = {
    ZeroPadding2D: _zero_padding2d, Cropping2D: _cropping2d, UpSampling2D: _up_sampling2d, Permute: _permute,
    Multiply: _multiply, Subtract: _subtract,
}
