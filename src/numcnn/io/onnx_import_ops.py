"""ONNX ops as numcnn layers: one function per op type, ``(importer, node, inputs, attrs) -> outputs``.

``inputs`` holds :class:`~numcnn.io.onnx_import.Sym` (computed from the graph's inputs), NumPy arrays
(constants) or None (an omitted optional input). Weights are converted to numcnn's layouts here:
Conv ``(O, I/g, kh, kw)`` -> Conv2D ``(kh, kw, I/g, O)``; a depthwise Conv ``(C*m, 1, kh, kw)`` ->
DepthwiseConv2D ``(kh, kw, C, m)``; ConvTranspose ``(I, O, kh, kw)`` -> Conv2DTranspose ``(kh, kw, O, I)``;
Gemm's ``B`` (transposed when ``transB``) times ``alpha`` -> Dense ``(in, out)``, ``beta * C`` -> bias.

The forms that changed between opsets: attributes that became inputs (Clip's min/max, Pad's pads and
value at 11; Squeeze/Unsqueeze axes at 13; Dropout's ratio at 12), Softmax's axis (before 13 it
flattens from ``axis`` on, default 1; from 13 one axis, default -1), BatchNormalization's ``spatial``
(before 9), ``is_test`` and ``consumed_inputs`` (before 7: ignored; they only say how the op was run),
Gemm's ``broadcast`` (before 7) and the optional ``C`` (from 11).
"""

from __future__ import annotations

import math

import numpy as np

from ..layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Rescaling,
    Softmax,
)
from ..layers.arithmetic import Multiply, Subtract
from ..layers.conv_variants import Conv2DTranspose, DepthwiseConv2D
from ..layers.core import Clip, PReLU
from ..layers.normalization import LocalResponseNormalization
from ..layers.one_d import AveragePooling1D, Conv1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from ..layers.reshaping import Cropping2D, ZeroPadding2D
from .onnx_values import BATCH, OnnxImportError, Sym, channels_last, identity

HANDLERS: dict = {}


def handles(*op_types):
    def register(function):
        for op_type in op_types:
            HANDLERS[op_type] = function
        return function
    return register


# -- helpers ---------------------------------------------------------------------------------------------------

def _const(value, what):
    if value is None or isinstance(value, Sym):
        raise OnnxImportError(f"its {what} must be a constant (an initializer, or folded from constants). Received: "
                              + ("nothing" if value is None else "a tensor computed from the graph's inputs"))
    return value


def _optional_const(value, what, default=None):
    return default if value is None else _const(value, what)


def _data(inputs, op_type):
    if not isinstance(inputs[0], Sym):
        raise OnnxImportError(f"numcnn computes {op_type} on a tensor computed from the inputs, with the others "
                              "constant. Received: a constant first input and a computed other")
    return inputs[0]


def _name(imp, node, suffix=""):
    return imp.name_for((node.name or node.output[0]) + suffix, node.op_type.lower())


def _spatial(imp, value, op_type):
    """``value`` in a layout a channel layer reads, and that layer's ``data_format``."""
    if value.rank not in (3, 4):
        raise OnnxImportError(f"{op_type} needs a 3D (N, C, L) or 4D (N, C, H, W) tensor. Received: shape "
                              f"{value.shape}")
    if value.perm == channels_last(value.rank):
        return value, "channels_last"
    if value.perm == identity(value.rank):
        return value, "channels_first"
    value = imp.ensure(value, imp.canonical(value.rank))
    return value, "channels_last" if imp.cl else "channels_first"


def _out(layer_output, shape, like):
    return Sym(layer_output, tuple(shape), like.perm)


def _onnx_shape(tensor, perm):
    """The ONNX shape of a numcnn tensor kept in layout ``perm``."""
    shape = [None] * len(perm)
    for numcnn_axis, onnx_axis in enumerate(perm):
        shape[onnx_axis] = tensor.shape[numcnn_axis]
    return tuple(shape)


def _call(imp, layer, value, data_format=None, weights=None):
    """Call a layer on one Sym kept in its layout; the result's ONNX shape read back through it."""
    out = imp.call(layer, value.tensor, weights)
    return Sym(out, _onnx_shape(out, value.perm), value.perm)


def _ints(values, what):
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise OnnxImportError(f"its {what} must be integers. Received: {array.dtype}")
    return [int(v) for v in array.reshape(-1)]


def _pads_pairs(pads, n):
    """ONNX ``[b1, .., bn, e1, .., en]`` -> ``((b1, e1), ..., (bn, en))``."""
    return tuple((int(pads[i]), int(pads[i + n])) for i in range(n))


def _auto_pads(auto_pad, size, kernel, strides, dilations):
    """Explicit pads for ``auto_pad`` SAME_UPPER / SAME_LOWER (ONNX: output ``ceil(in / stride)``)."""
    pairs = []
    for i, s, k, d in zip(size, strides, kernel, dilations):
        total = max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
        small, large = total // 2, total - total // 2
        pairs.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
    return tuple(pairs)


def _window_args(attrs, value, kernel, op_type, dilations=None):
    """strides, dilations and explicit ``((begin, end), ...)`` pads of a Conv or pooling node."""
    n = value.rank - 2
    strides = tuple(attrs.get("strides", [1] * n))
    dilations = tuple(dilations or attrs.get("dilations", [1] * n))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    size = value.shape[2:]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = _auto_pads(auto_pad, size, kernel, strides, dilations)
    elif auto_pad == "VALID":
        pads = ((0, 0),) * n
    elif auto_pad == "NOTSET":
        pads = _pads_pairs(attrs.get("pads", [0] * 2 * n), n)
    else:
        raise OnnxImportError(f"{op_type}'s auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID. "
                              f"Received: auto_pad={auto_pad!r}")
    if any(p < 0 for pair in pads for p in pair):
        raise OnnxImportError(f"{op_type}'s pads must be >= 0. Received: pads={list(attrs.get('pads'))}")
    return strides, dilations, pads


def _layer_padding(pads):
    return pads[0] if len(pads) == 1 else pads


def _broadcast_constant(imp, constant, value, op_type):
    """A constant broadcast against ``value`` as one sample's array in numcnn's layout (a float when it
    is one number); refused when it would change the shape of ``value`` or differ along the batch."""
    constant = np.asarray(constant, dtype=np.float64)
    if constant.ndim > value.rank:
        raise OnnxImportError(f"{op_type}'s constant of shape {constant.shape} has more axes than its other "
                              f"input {value.shape}")
    full = constant.reshape((1,) * (value.rank - constant.ndim) + constant.shape)
    sample = [d for d in value.shape]
    for axis, (c, x) in enumerate(zip(full.shape, sample)):
        if c != 1 and (axis == 0 or c != x):
            raise OnnxImportError(f"{op_type}'s constant of shape {constant.shape} must broadcast to one sample "
                                  f"of the other input, shape {value.shape}, without changing it. Received: "
                                  f"{constant.shape}")
    if np.all(constant == constant.reshape(-1)[0]):  # one number, whatever its shape (it changes no shape)
        return float(constant.reshape(-1)[0])
    return full.transpose(value.perm)[0]


# -- convolution -----------------------------------------------------------------------------------------------

@handles("Conv")
def conv(imp, node, inputs, attrs):
    x = _data(inputs, "Conv")
    weight = _const(inputs[1], "weight W")
    bias = _optional_const(inputs[2] if len(inputs) > 2 else None, "bias B")
    x, data_format = _spatial(imp, x, "Conv")
    n = x.rank - 2
    kernel = tuple(weight.shape[2:])
    if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != kernel:
        raise OnnxImportError(f"kernel_shape {list(attrs['kernel_shape'])} differs from the weight's {kernel}")
    strides, dilations, pads = _window_args(attrs, x, kernel, "Conv")
    group = int(attrs.get("group", 1))
    channels, filters = x.shape[1], weight.shape[0]
    if weight.shape[1] * group != channels or filters % group:
        raise OnnxImportError(f"its weight of shape {weight.shape} with group={group} does not fit "
                              f"{channels} input channels")
    common = dict(strides=strides, padding=_layer_padding(pads), dilation_rate=dilations, data_format=data_format,
                  use_bias=bias is not None, activation="relu" if imp.fuse_relu(node) else None, name=_name(imp, node))
    if n == 2 and group == channels and group > 1:
        multiplier = filters // channels
        layer = DepthwiseConv2D(kernel, depth_multiplier=multiplier, **common)
        weights = {"kernel": weight.reshape(channels, multiplier, *kernel).transpose(2, 3, 0, 1)}
    elif n == 2:
        layer = Conv2D(filters, kernel, groups=group, **common)
        weights = {"kernel": weight.transpose(2, 3, 1, 0)}
    else:
        layer = Conv1D(filters, kernel[0], groups=group, **common)
        weights = {"kernel": weight.transpose(2, 1, 0)}
    if bias is not None:
        weights["bias"] = bias
    return [_call(imp, layer, x, weights=weights)]


@handles("ConvTranspose")
def conv_transpose(imp, node, inputs, attrs):
    x = _data(inputs, "ConvTranspose")
    weight = _const(inputs[1], "weight W")
    bias = _optional_const(inputs[2] if len(inputs) > 2 else None, "bias B")
    if x.rank != 4:
        raise OnnxImportError(f"numcnn imports 2D ConvTranspose (4D tensors). Received: shape {x.shape}")
    if int(attrs.get("group", 1)) != 1:
        raise OnnxImportError(f"numcnn's Conv2DTranspose has no groups. Received: group={attrs['group']}")
    x, data_format = _spatial(imp, x, "ConvTranspose")
    kernel = tuple(weight.shape[2:])
    strides = tuple(attrs.get("strides", [1, 1]))
    dilations = tuple(attrs.get("dilations", [1, 1]))
    output_padding = tuple(attrs.get("output_padding", [0, 0]))
    full = [s * (i - 1) + op + (k - 1) * d + 1
            for i, s, op, k, d in zip(x.shape[2:], strides, output_padding, kernel, dilations)]
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if "output_shape" in attrs or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = list(attrs["output_shape"])[-2:] if "output_shape" in attrs else [
            i * s for i, s in zip(x.shape[2:], strides)]
        pads = []
        for f, w in zip(full, wanted):
            total = f - w
            if total < 0:
                raise OnnxImportError(f"output_shape {wanted} is larger than the full output {full}")
            # the ONNX spec: SAME_UPPER cuts the odd row at the end, otherwise at the start
            pads.append((total // 2, total - total // 2) if auto_pad == "SAME_UPPER" else (total - total // 2, total // 2))
        pads = tuple(pads)
    elif auto_pad == "VALID":
        pads = ((0, 0), (0, 0))
    else:
        pads = _pads_pairs(attrs.get("pads", [0, 0, 0, 0]), 2)
    layer = Conv2DTranspose(weight.shape[1], kernel, strides=strides, padding=pads,
                            output_padding=output_padding if any(output_padding) else None,
                            dilation_rate=dilations, data_format=data_format, use_bias=bias is not None,
                            name=_name(imp, node))
    weights = {"kernel": weight.transpose(2, 3, 1, 0)}
    if bias is not None:
        weights["bias"] = bias
    return [_call(imp, layer, x, weights=weights)]


# -- normalization and activations -------------------------------------------------------------------------------

@handles("BatchNormalization")
def batch_normalization(imp, node, inputs, attrs):
    x = _data(inputs, "BatchNormalization")
    scale, bias, mean, var = (_const(v, what) for v, what in zip(inputs[1:5], ("scale", "B", "mean", "var")))
    if int(attrs.get("training_mode", 0)):
        raise OnnxImportError("training_mode=1 (batch statistics) is refused: import the inference form")
    if imp.opset < 9 and int(attrs.get("spatial", 1)) == 0 and scale.ndim > 1:
        raise OnnxImportError("spatial=0 with per-position statistics has no numcnn layer")
    flat = [np.asarray(a).reshape(-1) for a in (scale, bias, mean, var)]
    layer = BatchNormalization(axis=x.axis(1), momentum=float(attrs.get("momentum", 0.9)),
                               epsilon=float(attrs.get("epsilon", 1e-5)), name=_name(imp, node))
    weights = dict(zip(("gamma", "beta", "moving_mean", "moving_variance"), flat))
    return [_call(imp, layer, x, weights=weights)]


@handles("LRN")
def lrn(imp, node, inputs, attrs):
    x, data_format = _spatial(imp, _data(inputs, "LRN"), "LRN")
    layer = LocalResponseNormalization(int(attrs["size"]), float(attrs.get("alpha", 1e-4)),
                                       float(attrs.get("beta", 0.75)), float(attrs.get("bias", 1.0)),
                                       data_format=data_format, name=_name(imp, node))
    return [_call(imp, layer, x)]


@handles("Relu", "Sigmoid", "Tanh")
def activation(imp, node, inputs, attrs):
    x = _data(inputs, node.op_type)
    layer = ReLU(name=_name(imp, node)) if node.op_type == "Relu" else Activation(
        node.op_type.lower(), name=_name(imp, node))
    return [_call(imp, layer, x)]


@handles("LeakyRelu")
def leaky_relu(imp, node, inputs, attrs):
    layer = LeakyReLU(float(attrs.get("alpha", 0.01)), name=_name(imp, node))
    return [_call(imp, layer, _data(inputs, "LeakyRelu"))]


@handles("PRelu")
def prelu(imp, node, inputs, attrs):
    x = _data(inputs, "PRelu")
    slope = np.asarray(_broadcast_constant(imp, _const(inputs[1], "slope"), x, "PRelu"), np.float64)
    sample = x.tensor.shape[1:]
    slope = np.broadcast_to(slope.reshape((1,) * (len(sample) - slope.ndim) + slope.shape), np.broadcast_shapes(
        slope.shape, (1,) * len(sample)))
    shared = [axis + 1 for axis in range(len(sample)) if slope.shape[axis] == 1 and sample[axis] != 1]
    layer = PReLU(shared_axes=shared or None, name=_name(imp, node))
    alpha_shape = tuple(1 if axis + 1 in shared else sample[axis] for axis in range(len(sample)))
    return [_call(imp, layer, x, weights={"alpha": np.broadcast_to(slope, alpha_shape).copy()})]


@handles("Clip")
def clip(imp, node, inputs, attrs):
    x = _data(inputs, "Clip")
    if imp.opset < 11:
        low, high = attrs.get("min", -np.inf), attrs.get("max", np.inf)
    else:
        low = _optional_const(inputs[1] if len(inputs) > 1 else None, "min", -np.inf)
        high = _optional_const(inputs[2] if len(inputs) > 2 else None, "max", np.inf)
    low, high = float(np.asarray(low).reshape(-1)[0]), float(np.asarray(high).reshape(-1)[0])
    if low == 0:
        layer = ReLU(max_value=None if math.isinf(high) else high, name=_name(imp, node))
    else:
        layer = Clip(None if math.isinf(low) else low, None if math.isinf(high) else high, name=_name(imp, node))
    return [_call(imp, layer, x)]


@handles("Softmax")
def softmax(imp, node, inputs, attrs):
    x = _data(inputs, "Softmax")
    axis = int(attrs.get("axis", 1 if imp.opset < 13 else -1)) % x.rank
    if imp.opset >= 13 or axis == x.rank - 1 or all(d == 1 for d in x.shape[axis + 1:]):
        return [_call(imp, Softmax(axis=x.axis(axis), name=_name(imp, node)), x)]
    if axis == 0:
        raise OnnxImportError("Softmax over the batch axis (axis=0 before opset 13) mixes samples")
    flat = imp.reshape(x, (*x.shape[:axis], math.prod(x.shape[axis:])), _name(imp, node, "_flat"))
    y = _call(imp, Softmax(axis=-1, name=_name(imp, node)), flat)
    return [imp.reshape(y, x.shape, _name(imp, node, "_unflat"))]


@handles("Dropout")
def dropout(imp, node, inputs, attrs):
    x = _data(inputs, "Dropout")
    if imp.opset >= 12:
        ratio = _optional_const(inputs[1] if len(inputs) > 1 else None, "ratio", 0.5)
        training = _optional_const(inputs[2] if len(inputs) > 2 else None, "training_mode", False)
        if bool(np.asarray(training)):
            raise OnnxImportError("training_mode=true makes the graph random at inference; numcnn's Dropout is the "
                                  "identity at inference")
    else:
        ratio = attrs.get("ratio", 0.5)
    return [_call(imp, Dropout(float(np.asarray(ratio)), name=_name(imp, node)), x)]


@handles("Identity")
def identity_op(imp, node, inputs, attrs):
    return [inputs[0]]


# -- pooling ---------------------------------------------------------------------------------------------------------

def _ceil_pads(value, kernel, strides, dilations, pads):
    """Extra end pads for ``ceil_mode=1``: PyTorch's and onnxruntime's rule, a last window must start
    inside the input or its begin padding."""
    extra = []
    for size, k, s, d, (begin, end) in zip(value.shape[2:], kernel, strides, dilations, pads):
        span = size + begin + end - ((k - 1) * d + 1)
        out = -(-span // s) + 1
        if (out - 1) * s >= size + begin:
            out -= 1
        extra.append(max((out - 1) * s + (k - 1) * d + 1 - (size + begin + end), 0))
    return tuple((begin, end + more) for (begin, end), more in zip(pads, extra))


@handles("MaxPool", "AveragePool")
def pool(imp, node, inputs, attrs):
    x, data_format = _spatial(imp, _data(inputs, node.op_type), node.op_type)
    n = x.rank - 2
    kernel = tuple(attrs["kernel_shape"])
    strides, dilations, pads = _window_args(attrs, x, kernel, node.op_type)
    if any(d != 1 for d in dilations):
        raise OnnxImportError(f"dilated pooling has no numcnn layer. Received: dilations={list(dilations)}")
    if int(attrs.get("storage_order", 0)):
        raise OnnxImportError("storage_order=1 (column-major Indices) is refused")
    if int(attrs.get("ceil_mode", 0)):
        pads = _ceil_pads(x, kernel, strides, dilations, pads)
    if node.op_type == "AveragePool" and int(attrs.get("count_include_pad", 0)) and any(map(any, pads)):
        explicit = _pads_pairs(attrs.get("pads", [0] * 2 * n), n) if attrs.get("auto_pad", b"NOTSET") in (
            b"NOTSET", "NOTSET") else _window_args(attrs, x, kernel, node.op_type)[2]
        if n != 2:
            raise OnnxImportError("count_include_pad=1 is imported for 2D pooling only")
        x = _call(imp, ZeroPadding2D(explicit, data_format=data_format, name=_name(imp, node, "_pad")), x)
        pads = tuple((0, end - e) for (_, end), (_, e) in zip(pads, explicit))
    cls = {("MaxPool", 2): MaxPooling2D, ("AveragePool", 2): AveragePooling2D,
           ("MaxPool", 1): MaxPooling1D, ("AveragePool", 1): AveragePooling1D}[node.op_type, n]
    layer = cls(kernel if n == 2 else kernel[0], strides=strides if n == 2 else strides[0],
                padding=_layer_padding(pads), data_format=data_format, name=_name(imp, node))
    return [_call(imp, layer, x)]


def _global_pool(imp, node, x, channel, average):
    """Global pooling of ``x`` over every axis but the batch and ONNX axis ``channel``, dims kept."""
    if x.rank not in (3, 4):
        raise OnnxImportError(f"global pooling needs a 3D or 4D tensor. Received: shape {x.shape}")
    if x.perm.index(channel) not in (1, x.rank - 1):
        x = imp.ensure(x, tuple(p for p in x.perm if p != channel) + (channel,))
    data_format = "channels_last" if x.perm.index(channel) == x.rank - 1 else "channels_first"
    cls = {(True, 4): GlobalAveragePooling2D, (False, 4): GlobalMaxPooling2D,
           (True, 3): GlobalAveragePooling1D, (False, 3): GlobalMaxPooling1D}[average, x.rank]
    return _call(imp, cls(data_format=data_format, keepdims=True, name=_name(imp, node)), x)


@handles("GlobalAveragePool", "GlobalMaxPool")
def global_pool(imp, node, inputs, attrs):
    return [_global_pool(imp, node, _data(inputs, node.op_type), 1, node.op_type == "GlobalAveragePool")]


@handles("ReduceMean", "ReduceMax")
def reduce_spatial(imp, node, inputs, attrs):
    """ReduceMean / ReduceMax over every axis but the batch and one (the channels): global pooling
    (``torch.mean(x, (2, 3))``; Keras' and numcnn's NHWC exports reduce axes 1 and 2)."""
    x = _data(inputs, node.op_type)
    if imp.opset >= 18:  # axes became an input
        axes = _ints(_const(inputs[1], "axes"), "axes") if len(inputs) > 1 and inputs[1] is not None else None
    else:
        axes = attrs.get("axes")
    kept = [a for a in range(1, x.rank) if axes is not None and a not in {b % x.rank for b in axes}]
    if x.rank not in (3, 4) or axes is None or 0 in {b % x.rank for b in axes} or len(kept) != 1:
        raise OnnxImportError(f"numcnn imports {node.op_type} over every axis but the batch and the channels of a "
                              f"3D or 4D tensor (global pooling). Received: axes={axes} for shape {x.shape}")
    y = _global_pool(imp, node, x, kept[0], node.op_type == "ReduceMean")
    if int(attrs.get("keepdims", 1)):
        return [y]
    return [imp.reshape(y, (None, x.shape[kept[0]]), _name(imp, node, "_squeeze"))]


# -- dense -------------------------------------------------------------------------------------------------------

def _dense(imp, node, x, kernel, bias):
    if x.rank < 2:
        raise OnnxImportError(f"needs an input with a batch axis and features. Received: shape {x.shape}")
    x = imp.row_major(x) if x.rank > 2 else x
    if x.perm != identity(x.rank):
        x = imp.ensure(x, identity(x.rank))
    layer = Dense(kernel.shape[1], use_bias=bias is not None, activation="relu" if imp.fuse_relu(node) else None,
                  name=_name(imp, node))
    weights = {"kernel": kernel} if bias is None else {"kernel": kernel, "bias": bias}
    return _call(imp, layer, x, weights=weights)


@handles("Gemm")
def gemm(imp, node, inputs, attrs):
    a = _data(inputs, "Gemm")
    b = np.asarray(_const(inputs[1], "B"))
    c = inputs[2] if len(inputs) > 2 else None
    if int(attrs.get("transA", 0)):
        raise OnnxImportError("transA=1 moves the batch axis: numcnn's Dense takes (N, features)")
    if a.rank != 2:
        raise OnnxImportError(f"Gemm's A must be 2D. Received: shape {a.shape}")
    kernel = b.T if int(attrs.get("transB", 0)) else b
    alpha = float(attrs.get("alpha", 1.0))
    if alpha != 1.0:  # in float64, then back: VGG's 25088x4096 kernel is not copied twice for nothing
        kernel = (kernel.astype(np.float64) * alpha).astype(b.dtype)
    bias = None
    if c is not None:
        c = np.asarray(_const(c, "C"), np.float64) * float(attrs.get("beta", 1.0))
        if c.ndim == 2 and c.shape[0] != 1:
            raise OnnxImportError(f"a C of shape {c.shape} changes along the batch. Received: C {c.shape}")
        bias = np.broadcast_to(c.reshape(-1) if c.size > 1 else c.reshape(()), (kernel.shape[1],)).copy()
    return [_dense(imp, node, a, kernel, bias)]


@handles("MatMul")
def matmul(imp, node, inputs, attrs):
    a = _data(inputs, "MatMul")
    b = _const(inputs[1], "second input B")
    if b.ndim != 2:
        raise OnnxImportError(f"numcnn imports MatMul by a 2D constant (a Dense layer). Received: B {b.shape}")
    return [_dense(imp, node, a, b, None)]


# -- arithmetic --------------------------------------------------------------------------------------------------

def _same_layout(imp, values):
    first = values[0]
    return [first] + [imp.ensure(v, first.perm) for v in values[1:]]


@handles("Add", "Sub", "Mul", "Div", "Sum")
def arithmetic(imp, node, inputs, attrs):
    op_type = node.op_type
    syms = [v for v in inputs if isinstance(v, Sym)]
    if imp.opset < 7 and int(attrs.get("broadcast", 0)) and "axis" in attrs:
        raise OnnxImportError("the legacy broadcast with an axis attribute (before opset 7) is refused")
    if len(syms) == len(inputs):  # every input computed: a merge layer
        if op_type == "Div":
            raise OnnxImportError("Div of two computed tensors has no numcnn layer (Div by a constant has)")
        shapes = {v.shape for v in syms}
        if len(shapes) > 1:
            raise OnnxImportError(f"numcnn's merge layers take inputs of one shape. Received: shapes "
                                  f"{sorted(shapes, key=str)}")
        if len(syms) == 1:
            return [syms[0]]
        values = _same_layout(imp, syms)
        cls = {"Add": Add, "Sum": Add, "Sub": Subtract, "Mul": Multiply}[op_type]
        out = imp.call(cls(name=_name(imp, node)), [v.tensor for v in values])
        return [Sym(out, values[0].shape, values[0].perm)]
    if op_type == "Sum":
        raise OnnxImportError("Sum of computed tensors and constants is refused; write it as Add")
    x, constant, x_first = (inputs[0], inputs[1], True) if isinstance(inputs[0], Sym) else (inputs[1], inputs[0], False)
    c = _broadcast_constant(imp, constant, x, op_type)
    if op_type == "Add":
        scale, offset = 1.0, c
    elif op_type == "Mul":
        scale, offset = c, 0.0
    elif op_type == "Sub":
        scale, offset = (1.0, _neg(c)) if x_first else (-1.0, c)
    elif x_first:  # Div by a constant
        scale, offset = _reciprocal(c), 0.0
    else:
        raise OnnxImportError("a constant divided by a computed tensor has no numcnn layer")
    return [_call(imp, Rescaling(scale, offset, name=_name(imp, node)), x)]


def _neg(c):
    return -c if isinstance(c, float) else np.negative(c)


def _reciprocal(c):
    with np.errstate(divide="ignore"):
        return 1.0 / c if isinstance(c, float) else np.reciprocal(c)


# -- shapes ------------------------------------------------------------------------------------------------------

@handles("Concat")
def concat(imp, node, inputs, attrs):
    if not all(isinstance(v, Sym) for v in inputs):
        raise OnnxImportError("numcnn concatenates computed tensors; a constant among them is refused")
    values = _same_layout(imp, inputs)
    axis = int(attrs["axis"]) % values[0].rank
    if axis == 0:
        raise OnnxImportError("Concat on the batch axis mixes samples")
    out = imp.call(Concatenate(axis=values[0].axis(axis), name=_name(imp, node)), [v.tensor for v in values])
    return [Sym(out, _onnx_shape(out, values[0].perm), values[0].perm)]


@handles("Flatten")
def flatten(imp, node, inputs, attrs):
    x = _data(inputs, "Flatten")
    axis = int(attrs.get("axis", 1))
    axis = axis + x.rank if axis < 0 else axis
    if axis != 1:
        raise OnnxImportError(f"Flatten with axis={axis} folds axes into the batch (its output is 2D): numcnn's "
                              f"batch is free. Received: axis={attrs.get('axis')} on a tensor of rank {x.rank}")
    if x.rank == 2:
        return [x]
    x = imp.row_major(x)
    out = imp.call(Flatten(data_format="channels_last", name=_name(imp, node)), x.tensor)
    return [Sym(out, (None, math.prod(x.shape[1:])), (0, 1))]


def resolve_reshape(in_shape, target, allowzero=False):
    """The ONNX output shape of Reshape (batch ``None`` first), refused when the batch does not stay first."""
    target = [int(t) for t in target]
    if not target:
        raise OnnxImportError("Reshape to a scalar drops the batch axis")
    first = target[0]
    if not (first == BATCH or (first == 0 and not allowzero) or first == -1):
        raise OnnxImportError(f"Reshape must keep the batch axis first (0, -1 or the batch taken from Shape); "
                              f"numcnn's batch is free. Received: shape {target}")
    rest = []
    for i, t in enumerate(target[1:], start=1):
        if t == 0 and not allowzero:
            if i >= len(in_shape):
                raise OnnxImportError(f"Reshape copies axis {i}, which its input of shape {in_shape} lacks")
            rest.append(in_shape[i])
        elif t == BATCH:
            raise OnnxImportError(f"Reshape moves the batch size away from axis 0. Received: shape {target}")
        elif t < -1:
            raise OnnxImportError(f"Reshape's shape values must be >= -1. Received: {target}")
        else:
            rest.append(t)
    size = math.prod(in_shape[1:])
    if first == -1:
        if -1 in rest or math.prod(rest) != size:
            raise OnnxImportError(f"Reshape with -1 as the batch must keep each sample's size {size}. Received: "
                                  f"shape {target} for an input of shape {in_shape}")
    elif -1 in rest:
        if rest.count(-1) > 1:
            raise OnnxImportError(f"Reshape's shape has more than one -1. Received: {target}")
        known = math.prod(t for t in rest if t != -1)
        if known == 0 or size % known:
            raise OnnxImportError(f"Reshape cannot make shape {target} from {in_shape}")
        rest[rest.index(-1)] = size // known
    if math.prod(rest) != size:
        raise OnnxImportError(f"Reshape cannot make shape {target} from {in_shape}: {math.prod(rest)} values "
                              f"a sample, not {size}")
    return (None, *rest)


@handles("Reshape")
def reshape(imp, node, inputs, attrs):
    x = _data(inputs, "Reshape")
    target = attrs["shape"] if imp.opset < 5 else _ints(_const(inputs[1], "shape"), "shape")
    shape = resolve_reshape(x.shape, target, bool(attrs.get("allowzero", 0)))
    return [imp.reshape(x, shape, _name(imp, node))]


def _axes(imp, node, inputs, attrs, op_type):
    if imp.opset < 13:
        return attrs.get("axes")
    return _ints(_const(inputs[1], "axes"), "axes") if len(inputs) > 1 and inputs[1] is not None else None


@handles("Squeeze")
def squeeze(imp, node, inputs, attrs):
    x = _data(inputs, "Squeeze")
    axes = _axes(imp, node, inputs, attrs, "Squeeze")
    axes = [a % x.rank for a in axes] if axes is not None else [a for a in range(1, x.rank) if x.shape[a] == 1]
    if 0 in axes:
        raise OnnxImportError("Squeeze of the batch axis: numcnn's batch is free")
    if any(x.shape[a] != 1 for a in axes):
        raise OnnxImportError(f"Squeeze of an axis of size > 1. Received: axes {axes} of shape {x.shape}")
    shape = tuple(d for a, d in enumerate(x.shape) if a not in axes)
    return [imp.reshape(x, shape, _name(imp, node))]


@handles("Unsqueeze")
def unsqueeze(imp, node, inputs, attrs):
    x = _data(inputs, "Unsqueeze")
    axes = _axes(imp, node, inputs, attrs, "Unsqueeze")
    rank = x.rank + len(axes)
    axes = sorted(a % rank for a in axes)
    if 0 in axes:
        raise OnnxImportError("Unsqueeze before the batch axis: numcnn's batch stays first")
    shape, rest = [], iter(x.shape)
    for axis in range(rank):
        shape.append(1 if axis in axes else next(rest))
    return [imp.reshape(x, tuple(shape), _name(imp, node))]


@handles("Transpose")
def transpose(imp, node, inputs, attrs):
    x = _data(inputs, "Transpose")
    order = list(attrs.get("perm", reversed(range(x.rank))))
    if order[0] != 0:
        raise OnnxImportError(f"Transpose that moves the batch axis. Received: perm={order}")
    inverse = [order.index(a) for a in range(x.rank)]
    shape = tuple(x.shape[a] for a in order)
    return [Sym(x.tensor, shape, tuple(inverse[p] for p in x.perm))]


@handles("Pad")
def pad(imp, node, inputs, attrs):
    x = _data(inputs, "Pad")
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode != "constant":
        raise OnnxImportError(f"numcnn imports constant padding. Received: mode={mode!r}")
    if imp.opset < 11:
        pads, value = list(attrs.get("pads", attrs.get("paddings", []))), float(attrs.get("value", 0.0))
    else:
        pads = _ints(_const(inputs[1], "pads"), "pads")
        value = float(np.asarray(_optional_const(inputs[2] if len(inputs) > 2 else None, "constant_value",
                                                 0.0)).reshape(-1)[0]) if len(inputs) > 2 and inputs[2] is not None \
            else 0.0
        if len(inputs) > 3 and inputs[3] is not None:
            axes = [a % x.rank for a in _ints(_const(inputs[3], "axes"), "axes")]
            full = [0] * (2 * x.rank)
            for i, a in enumerate(axes):
                full[a], full[a + x.rank] = pads[i], pads[i + len(axes)]
            pads = full
    if value != 0:
        raise OnnxImportError(f"numcnn pads with zeros (ZeroPadding2D). Received: constant value {value}")
    pairs = _pads_pairs(pads, x.rank)
    if any(pairs[0]) or any(pairs[1]) or x.rank != 4:
        raise OnnxImportError(f"numcnn pads the two spatial axes of a 4D tensor. Received: pads {list(pads)} for "
                              f"shape {x.shape}")
    spatial = pairs[2:]
    if not any(map(any, spatial)):
        return [x]
    x, data_format = _spatial(imp, x, "Pad")
    if all(p >= 0 for pair in spatial for p in pair):
        return [_call(imp, ZeroPadding2D(spatial, data_format=data_format, name=_name(imp, node)), x)]
    if all(p <= 0 for pair in spatial for p in pair):
        crop = tuple((-a, -b) for a, b in spatial)
        return [_call(imp, Cropping2D(crop, data_format=data_format, name=_name(imp, node)), x)]
    raise OnnxImportError(f"Pad that both pads and crops. Received: pads {list(pads)}")


@handles("Shape")
def shape_op(imp, node, inputs, attrs):
    x = inputs[0]
    shape = np.array([BATCH if d is None else d for d in x.shape], np.int64)
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return [shape[start:None if end is None else int(end)]]
