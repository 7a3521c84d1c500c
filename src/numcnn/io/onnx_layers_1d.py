"""ONNX translations of Conv1D, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D and GlobalMaxPooling1D
(see :mod:`numcnn.io.onnx_export`).

Each handler is ``handler(t, layer, x, path) -> name``: ``t`` is the exporter's tracer (``t.node``,
``t.weight``, ``t.constant``, ``t.ints``, ``t.activation``, ``t.pads``, ``t.reduce``, ``t.opset``), ``x``
the input (``x.name``, ``x.shape`` with the batch axis None; a list for merge layers) and ``path`` the
layer's name in the graph; it returns the ONNX name of the layer's output.

ONNX ``Conv``, ``MaxPool`` and ``AveragePool`` take 3D ``(N, C, L)`` tensors as they take 4D ones:
channels_first layers map straight onto them, channels_last ones are wrapped in two ``Transpose``
nodes (perm ``[0, 2, 1]`` each way). Every padding ("same", "causal", explicit) becomes explicit
``pads = [left, right]``; average pooling uses ``count_include_pad=0`` (the mean of the real steps).
Global pooling is ``ReduceMean`` / ``ReduceMax`` over the length axis, in the layer's own layout.
"""

from ..functional.one_d import length_axis, resolve_padding_1d
from ..layers.one_d import (
    AveragePooling1D,
    Conv1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
)

_SWAP = [0, 2, 1]  # (N, L, C) <-> (N, C, L): its own inverse


def _pads(layer, x, window, dilation=1):
    """ONNX ``pads`` ``[left, right]`` of a 1D layer with a ``window`` on input ``x``."""
    length = x.shape[length_axis(layer.data_format)]
    return list(resolve_padding_1d(layer.padding, length, window, layer.strides[0], dilation))


def _conv1d(t, layer, x, path):
    last = layer.data_format == "channels_last"
    inputs = [t.node("Transpose", [x.name], f"{path}/to_ncl", perm=_SWAP) if last else x.name,
              t.weight(layer, path, "kernel", layer.params["kernel"].transpose(2, 1, 0))]  # (F, C // groups, k)
    if layer.use_bias:
        inputs.append(t.weight(layer, path, "bias", layer.params["bias"]))
    y = t.node("Conv", inputs, path, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
               dilations=list(layer.dilation_rate), pads=_pads(layer, x, layer.kernel_size[0], layer.dilation_rate[0]),
               group=layer.groups)
    softmax = isinstance(layer.activation, str) and layer.activation.lower() == "softmax"
    if not softmax:  # elementwise: applied in (N, C, L), next to the Conv
        y = t.activation(y, layer.activation, path)
    if last:
        y = t.node("Transpose", [y], f"{path}/to_nlc", perm=_SWAP)
    return t.activation(y, "softmax", path) if softmax else y  # softmax on the last axis of the layer's layout


def _pooling1d(t, layer, x, path):
    last = layer.data_format == "channels_last"
    y = t.node("Transpose", [x.name], f"{path}/to_ncl", perm=_SWAP) if last else x.name
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides),
             "pads": _pads(layer, x, layer.pool_size[0])}
    if isinstance(layer, AveragePooling1D):
        y = t.node("AveragePool", [y], path, count_include_pad=0, **attrs)
    else:
        y = t.node("MaxPool", [y], path, **attrs)
    return t.node("Transpose", [y], f"{path}/to_nlc", perm=_SWAP) if last else y


def _global_pooling1d(t, layer, x, path):
    op = "ReduceMean" if isinstance(layer, GlobalAveragePooling1D) else "ReduceMax"
    return t.reduce(op, x.name, [length_axis(layer.data_format)], layer.keepdims, path)


HANDLERS: dict = {
    Conv1D: _conv1d, MaxPooling1D: _pooling1d, AveragePooling1D: _pooling1d,
    GlobalAveragePooling1D: _global_pooling1d, GlobalMaxPooling1D: _global_pooling1d,
}
