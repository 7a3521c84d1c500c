"""Export a model to ONNX: ``export_onnx(model, "model.onnx")``, then run it in onnxruntime.

How the graph is made:

* **From the tape.** The model runs once, in inference mode, on a batch of zeros of its
  input shape; every layer call is recorded on its tape (:mod:`numcnn.layers.tape`), as for
  ``backward``. Each recorded call becomes ONNX nodes, wired by which array fed which layer
  (``Sequential`` and subclassed models alike; nested models are walked into). An array that
  a layer received but no layer made (NumPy's ``x + y``, ``np.concatenate``, ``x.reshape`` in
  ``call``) cannot be recorded and raises a ``ValueError`` naming the layer and the layers to
  use instead (``Add``, ``Concatenate``, ...); so does a layer without an ONNX translation.
* **Layout.** Every graph tensor keeps the layout it has in numcnn: the graph's input
  and output have the model's shapes (batch axis dynamic, named ``batch``), in its
  ``data_format``. ONNX ``Conv``/``MaxPool``/``AveragePool``/``BatchNormalization`` work
  on NCHW (channels on axis 1), so a channels_last layer is wrapped in two ``Transpose``
  nodes; onnxruntime's optimizer removes the back-to-back pairs between layers.
* **Padding.** ``"same"`` becomes explicit pads from :func:`~numcnn.functional.geometry.resolve_padding`
  (asymmetric ones included); average pooling uses ``count_include_pad=0`` (we divide by
  the real pixels), max pooling's ONNX padding never wins a window (our ``-inf``).
* **dtype.** The graph is float32 whatever the model's dtype: float64 (or float16)
  weights are rounded to float32, so such a model's ONNX outputs match to float32
  precision, not bit for bit (float32 models match to rounding).

Layer by layer: Conv2D -> Conv (kernel ``(kh, kw, in/groups, out)`` transposed to
``(out, in/groups, kh, kw)``; strides, dilation, groups); Dense -> Gemm (2D input) or
MatMul + Add; Max/AveragePooling2D -> MaxPool/AveragePool; BatchNormalization ->
BatchNormalization with the moving statistics (any axis; transposed to axis 1 when
needed); GlobalAverage/MaxPooling2D -> ReduceMean/ReduceMax; Flatten -> Flatten (after
a Transpose to channels last for ``data_format="channels_first"``, as our Flatten);
Reshape -> Reshape; Rescaling -> Mul + Add (numbers, or arrays broadcast against one
sample); Activation/LeakyReLU/Softmax and the ``activation=`` option -> Relu, LeakyRelu,
Sigmoid, Tanh, Softmax; Dropout, InputLayer and "linear" -> nothing; Add -> Add/Sum;
Concatenate -> Concat. In the ``onnx_layers_*`` modules: DepthwiseConv2D -> Conv with
``group``, SeparableConv2D -> two Convs, Conv2DTranspose -> ConvTranspose
(``onnx_layers_conv``); Conv1D -> Conv, Max/AveragePooling1D -> MaxPool/AveragePool,
GlobalAverage/MaxPooling1D -> ReduceMean/ReduceMax (``onnx_layers_1d``); ZeroPadding2D ->
Pad, Cropping2D -> Slice, UpSampling2D -> Resize, Permute -> Transpose, Multiply -> Mul,
Subtract -> Sub (``onnx_layers_shape``); ReLU (every option) -> Relu, Clip, LeakyRelu,
ThresholdedRelu, Min or Where; PReLU -> PRelu; Clip -> Clip (Identity without bounds);
LocalResponseNormalization -> LRN (or its AveragePool form); SpatialDropout2D -> nothing
(``onnx_layers_misc``). The random augmentation layers RandomFlip, RandomRotation,
RandomTranslation, RandomZoom, RandomContrast and RandomBrightness -> nothing, RandomCrop ->
Slice + Resize: what they do at inference.

``onnx`` is an optional dependency: ``pip install "numcnn[onnx]"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..functional.augmentation import center_crop_box
from ..functional.geometry import resolve_padding
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
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)
from .._version import __version__
from ..layers.input_layer import InputLayer
from ..layers.tape import Tape
from ..models import Model
from ..utils.files import check_suffix, write_bytes_atomic
from ..utils.validation import _short
from . import onnx_layers_1d, onnx_layers_conv, onnx_layers_misc, onnx_layers_shape

DEFAULT_OPSET = 17  # run by every onnxruntime since 1.12, and by most other ONNX runtimes
MIN_OPSET = 13  # Softmax on one axis, Reshape/Concat/Transpose as used here
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as error:
        raise ImportError('ONNX export needs the onnx package: pip install "numcnn[onnx]" (or pip install onnx). '
                          f"Received: {error!r}") from error
    return onnx, helper, numpy_helper


@dataclass(frozen=True)
class _Value:
    """A tensor of the graph: its ONNX name and its numcnn shape (batch axis None)."""

    name: str
    shape: tuple

    @property
    def ndim(self) -> int:
        return len(self.shape)


class _Tracer:
    """Collects ONNX nodes and initializers from the layer calls on a model's tape."""

    def __init__(self, helper, numpy_helper, opset):
        self.helper, self.numpy_helper, self.opset = helper, numpy_helper, opset
        self.nodes = []  # [op, inputs, outputs, attrs]: lists, so graph outputs can be renamed
        self.initializers = {}  # name -> array
        self.weight_names = {}  # (id(layer), key) -> initializer name: a shared layer shares its weights
        self.taken = {"input", "output"}
        self.prefix = []

    def fresh(self, base):
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def node(self, op, inputs, base, **attrs):
        out = self.fresh(f"{base}/{op}")
        self.nodes.append([op, list(inputs), [out], attrs])
        return out

    def constant(self, base, array, layer=None, key=None):
        if layer is not None and (id(layer), key) in self.weight_names:
            return self.weight_names[(id(layer), key)]
        name = self.fresh(base)
        self.initializers[name] = np.require(array, requirements="C")  # a 0-d array stays a scalar
        if layer is not None:
            self.weight_names[(id(layer), key)] = name
        return name

    def weight(self, layer, path, key, array):
        return self.constant(f"{path}/{key}", np.asarray(array, dtype=np.float32), layer, key)

    def ints(self, base, values):
        return self.constant(base, np.asarray(values, dtype=np.int64))

    def activation(self, value, name, path, slope=0.2):
        """``name`` as ONNX nodes (None and "linear" add none); ``slope``: functional leaky_relu's default."""
        key = "linear" if name is None else name.lower()
        if key == "linear":
            return value
        if key == "leaky_relu":
            return self.node("LeakyRelu", [value], path, alpha=float(slope))
        if key == "softmax":
            return self.node("Softmax", [value], path, axis=-1)
        return self.node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[key], [value], path)

    @staticmethod
    def pads(layer, x, window, dilation=(1, 1)):
        """ONNX ``pads`` ``[top, left, bottom, right]`` of a 2D ``layer`` (its ``padding``, ``strides``,
        ``data_format``) with a ``window`` on input ``x``."""
        hw = x.shape[1:3] if layer.data_format == "channels_last" else x.shape[2:4]
        (top, bottom), (left, right) = resolve_padding(layer.padding, hw, window, layer.strides, dilation, check=False)
        return [top, left, bottom, right]

    def reduce(self, op, value, axes, keepdims, path):
        if self.opset >= 18:  # axes became an input in opset 18
            return self.node(op, [value, self.ints(f"{path}/axes", axes)], path, keepdims=int(keepdims))
        return self.node(op, [value], path, axes=list(axes), keepdims=int(keepdims))

    # -- the tape ------------------------------------------------------------------------
    def walk(self, tape: Tape, names: dict, owner: str) -> None:
        """Add the nodes of every layer call on ``tape``; ``names`` maps ``id(array)`` to its ONNX value
        (the tape's inputs must be in it) and gets every output."""
        for node in tape.nodes:
            path = "/".join([*self.prefix, node.layer.name])
            inputs = []
            for i, array in enumerate(node.inputs):
                if id(array) not in names:
                    raise ValueError(
                        f"ONNX export: layer '{path}' ({type(node.layer).__name__}) received an array that no layer "
                        f"made from the model input: `call` of model '{owner}' computed it with NumPy (x + y, "
                        "x * c, np.concatenate, x.reshape) or it is a constant, which cannot be recorded. Use "
                        "layers for such steps: numcnn.layers.Add for x + y, Concatenate for np.concatenate, "
                        "Rescaling for x * c + d, Reshape or Flatten for reshapes, Activation for activations. "
                        f"Received: inputs[{i}] with shape {np.shape(array)}")
                inputs.append(_Value(names[id(array)], (None, *np.shape(array)[1:])))
            if isinstance(node.layer, Model):
                inner = node.cache  # a nested model's cache is its own tape
                inner_names = {id(a): v.name for a, v in zip(inner.inputs, inputs)}
                self.prefix.append(node.layer.name)
                try:
                    self.walk(inner, inner_names, node.layer.name)
                finally:
                    self.prefix.pop()
                outputs = inner.output if isinstance(inner.output, (list, tuple)) else [inner.output]
                produced = [_made_by_layers(inner_names, a, node.layer.name) for a in outputs]
                if isinstance(node.output, (list, tuple)):
                    names.update({id(a): v for a, v in zip(node.output, produced)})
                else:
                    names[id(node.output)] = produced[0]
                continue
            handler = _HANDLERS.get(type(node.layer))
            if handler is None:
                raise ValueError(
                    f"ONNX export: layer '{path}' ({type(node.layer).__name__}) has no ONNX translation; supported "
                    f"layers: {', '.join(sorted(cls.__name__ for cls in _HANDLERS))}. "
                    f"Received: {type(node.layer).__name__}")
            names[id(node.output)] = handler(self, node.layer, inputs if node.multi_input else inputs[0], path)


def _wiring(tape: Tape) -> list:
    """Which layer each call of ``tape`` made, and which call made each of its inputs and the outputs
    (index, or -1 for a tape input): the graph a tape records, nested models included."""
    made = {id(a): -1 - i for i, a in enumerate(tape.inputs)}
    wiring = []
    for k, node in enumerate(tape.nodes):
        sources = [made.get(id(a)) for a in node.inputs]
        inner = _wiring(node.cache) if isinstance(node.layer, Model) else None
        wiring.append((id(node.layer), sources, inner))
        for a in (node.output if isinstance(node.output, (list, tuple)) else [node.output]):
            made[id(a)] = k
    outputs = tape.output if isinstance(tape.output, (list, tuple)) else [tape.output]
    return [wiring, [made.get(id(a)) for a in outputs]]


def _made_by_layers(names, array, owner) -> str:
    """The ONNX name of an output of model ``owner``'s ``call``; it must come from a layer."""
    if id(array) not in names:
        raise ValueError(f"ONNX export: `call` of model '{owner}' returns an array that no layer made (a NumPy "
                         "result), which cannot be recorded: end `call` with a layer (Add, Rescaling, Activation, "
                         f"...). Received: an output with shape {np.shape(array)}")
    return names[id(array)]


def _conv2d(t, layer, x, path):
    last = layer.data_format == "channels_last"
    kernel = layer.params["kernel"]
    inputs = [t.node("Transpose", [x.name], f"{path}/to_nchw", perm=_TO_NCHW) if last else x.name,
              t.weight(layer, path, "kernel", kernel.transpose(3, 2, 0, 1))]
    if layer.use_bias:
        inputs.append(t.weight(layer, path, "bias", layer.params["bias"]))
    y = t.node("Conv", inputs, path, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
               dilations=list(layer.dilation_rate), pads=t.pads(layer, x, layer.kernel_size, layer.dilation_rate),
               group=layer.groups)
    softmax = isinstance(layer.activation, str) and layer.activation.lower() == "softmax"
    if not softmax:  # elementwise: applied in NCHW, next to the Conv (onnxruntime fuses Conv + Relu)
        y = t.activation(y, layer.activation, path)
    if last:
        y = t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC)
    return t.activation(y, "softmax", path) if softmax else y


def _pooling2d(t, layer, x, path):
    last = layer.data_format == "channels_last"
    pads = t.pads(layer, x, layer.pool_size)
    y = t.node("Transpose", [x.name], f"{path}/to_nchw", perm=_TO_NCHW) if last else x.name
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides), "pads": pads}
    if isinstance(layer, AveragePooling2D):
        y = t.node("AveragePool", [y], path, count_include_pad=0, **attrs)
    else:
        y = t.node("MaxPool", [y], path, **attrs)
    return t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC) if last else y


def _global_pooling2d(t, layer, x, path):
    op = "ReduceMean" if isinstance(layer, GlobalAveragePooling2D) else "ReduceMax"
    axes = [1, 2] if layer.data_format == "channels_last" else [2, 3]
    return t.reduce(op, x.name, axes, layer.keepdims, path)


def _dense(t, layer, x, path):
    kernel = t.weight(layer, path, "kernel", layer.params["kernel"])
    bias = [t.weight(layer, path, "bias", layer.params["bias"])] if layer.use_bias else []
    if x.ndim == 2:
        y = t.node("Gemm", [x.name, kernel, *bias], path)
    else:  # Gemm is 2D only; MatMul broadcasts over the leading axes
        y = t.node("MatMul", [x.name, kernel], path)
        y = t.node("Add", [y, *bias], path) if bias else y
    return t.activation(y, layer.activation, path)


def _batch_normalization(t, layer, x, path):
    axis = layer.axis % x.ndim
    c = layer.state["moving_mean"].shape[0]
    stats = [layer.params.get("gamma", np.ones(c)), layer.params.get("beta", np.zeros(c)),
             layer.state["moving_mean"], layer.state["moving_variance"]]
    names = [t.weight(layer, path, key, array) for key, array in zip(("gamma", "beta", "mean", "var"), stats)]
    perm = [0, axis, *(i for i in range(1, x.ndim) if i != axis)]  # ONNX wants the channels on axis 1
    y = x.name if axis == 1 else t.node("Transpose", [x.name], f"{path}/to_axis1", perm=perm)
    y = t.node("BatchNormalization", [y, *names], path, epsilon=layer.epsilon)
    if axis != 1:
        y = t.node("Transpose", [y], f"{path}/from_axis1", perm=[int(i) for i in np.argsort(perm)])
    return y


def _flatten(t, layer, x, path):
    y = x.name
    if layer.data_format == "channels_first" and x.ndim > 2:  # as our Flatten: channels last first
        y = t.node("Transpose", [y], f"{path}/to_channels_last", perm=[0, *range(2, x.ndim), 1])
    return t.node("Flatten", [y], path, axis=1)


def _reshape(t, layer, x, path):
    shape = layer.compute_output_shape(x.shape)
    return t.node("Reshape", [x.name, t.ints(f"{path}/shape", [0, *shape[1:]])], path)


def _rescaling(t, layer, x, path):
    def sample_shaped(value):
        """A number as a scalar; an array with leading 1s up to one sample's rank (it broadcasts right-aligned,
        in ONNX as in NumPy, so this only makes the constant's axes readable)."""
        array = np.asarray(value, np.float32)
        return array if array.ndim == 0 else array.reshape((1,) * (x.ndim - 1 - array.ndim) + array.shape)

    y = t.node("Mul", [x.name, t.constant(f"{path}/scale", sample_shaped(layer.scale))], path)
    if np.any(np.asarray(layer.offset) != 0):  # NaN != 0: a NaN offset is kept
        y = t.node("Add", [y, t.constant(f"{path}/offset", sample_shaped(layer.offset))], path)
    return y


def _activation(t, layer, x, path):
    if isinstance(layer, ReLU):
        return t.activation(x.name, "relu", path)
    if isinstance(layer, LeakyReLU):
        return t.activation(x.name, "leaky_relu", path, layer.negative_slope)
    if isinstance(layer, Softmax):
        return t.node("Softmax", [x.name], path, axis=layer.axis)
    return t.activation(x.name, layer.activation, path)


def _dropout(t, layer, x, path):
    return x.name  # the identity at inference


def _random_crop(t, layer, x, path):
    # at inference: the largest centred window of the output's aspect ratio, resized (half-pixel, edges clamped)
    axes = [1, 2] if layer.data_format == "channels_last" else [2, 3]
    h, w = (x.shape[a] for a in axes)
    top, left, crop_h, crop_w = center_crop_box(h, w, layer.height, layer.width)
    y = x.name
    if (crop_h, crop_w) != (h, w):
        starts, ends = [top, left], [top + crop_h, left + crop_w]
        y = t.node("Slice", [y, t.ints(f"{path}/starts", starts), t.ints(f"{path}/ends", ends),
                             t.ints(f"{path}/axes", axes)], path)
    if (crop_h, crop_w) == (layer.height, layer.width):
        return y
    last = layer.data_format == "channels_last"
    y = t.node("Transpose", [y], f"{path}/to_nchw", perm=_TO_NCHW) if last else y
    # sizes, not scales: floor(size * scale) could miss the size by one
    shape = t.node("Shape", [y], path)
    batch_channels = t.node("Slice", [shape, t.ints(f"{path}/zero", [0]), t.ints(f"{path}/two", [2])], path)
    sizes = t.node("Concat", [batch_channels, t.ints(f"{path}/size", [layer.height, layer.width])], path, axis=0)
    y = t.node("Resize", [y, "", "", sizes], path, mode="linear", coordinate_transformation_mode="half_pixel")
    return t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC) if last else y


def _add(t, layer, xs, path):
    return t.node("Add" if len(xs) == 2 else "Sum", [x.name for x in xs], path)


def _concatenate(t, layer, xs, path):
    return t.node("Concat", [x.name for x in xs], path, axis=layer.axis % xs[0].ndim)


_HANDLERS = {
    Conv2D: _conv2d, Dense: _dense, MaxPooling2D: _pooling2d, AveragePooling2D: _pooling2d,
    GlobalAveragePooling2D: _global_pooling2d, GlobalMaxPooling2D: _global_pooling2d,
    BatchNormalization: _batch_normalization, Flatten: _flatten, Reshape: _reshape, Rescaling: _rescaling,
    Activation: _activation, ReLU: _activation, LeakyReLU: _activation, Softmax: _activation, Dropout: _dropout,
    Add: _add, Concatenate: _concatenate, InputLayer: _dropout,
    RandomFlip: _dropout, RandomRotation: _dropout, RandomTranslation: _dropout, RandomZoom: _dropout,
    RandomContrast: _dropout, RandomBrightness: _dropout, RandomCrop: _random_crop,  # their inference behaviour
    **onnx_layers_conv.HANDLERS, **onnx_layers_shape.HANDLERS, **onnx_layers_1d.HANDLERS, **onnx_layers_misc.HANDLERS,
}


def _check_args(opset, input_shape, onnx):
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or isinstance(opset, bool) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"The `opset` argument must be an int from {MIN_OPSET} to {newest} (the newest this onnx "
                         f"package knows). Received: opset={_short(opset)}")
    if input_shape is None:
        return None
    if isinstance(input_shape, (int, np.integer)):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0 for d in input_shape):
        raise ValueError("The `input_shape` argument must be None or a tuple of positive ints, one sample's shape "
                         f"without the batch axis, e.g. (28, 28, 1). Received: input_shape={_short(input_shape)}")
    return (None, *(int(d) for d in input_shape))


def export_onnx(model, path, *, opset=DEFAULT_OPSET, input_shape=None):
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ``onnx.ModelProto``.

    Args:
        model: a built numcnn ``Sequential`` or subclassed ``Model`` (called once, or built).
        path: the ``.onnx`` file to write.
        opset: ONNX opset version (default 17; 13 to the newest the installed onnx knows).
        input_shape: one sample's shape without the batch axis, e.g. ``(28, 28, 1)``; by
            default the shape the model's first layer was built for.

    Shape:
        ONNX input ``input``: (batch, *input_shape), in the model's data format;
        ONNX output ``output`` (``output_0``, ``output_1``, ... for several): the model's output shape.

    Raises:
        ImportError: the ``onnx`` package is missing (``pip install "numcnn[onnx]"``).
        ValueError: an unbuilt model, a layer without ONNX translation, NumPy arithmetic in
            ``call``, or a bad argument; the message names the layer or the operation.

    Example:
        >>> export_onnx(model, "model.onnx")   # doctest: +SKIP
        >>> import onnxruntime
        >>> session = onnxruntime.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])
        >>> logits = session.run(None, {"input": x.astype(np.float32)})[0]   # == model.predict(x)
    """
    onnx, helper, numpy_helper = _import_onnx()
    path = check_suffix(path, (".onnx",), "path")
    if not isinstance(model, Model):
        raise TypeError(f"The `model` argument must be a numcnn Model or Sequential. Received: {_short(model)}")
    batch_shape = _check_args(opset, input_shape, onnx)
    model._ensure_built()  # a Sequential with input_shape= builds on demand
    if not model.built:
        raise ValueError(f"Model '{model.name}' has no weights yet: call it on a batch or build((None, H, W, C)) "
                         "before exporting. Received: an unbuilt model")
    batch_shape = batch_shape or model.input_shape
    if batch_shape is None:
        raise ValueError(f"ONNX export cannot tell the input shape of model '{model.name}': pass input_shape=(...). "
                         "Received: input_shape=None")
    shapes = batch_shape if isinstance(batch_shape, list) else [batch_shape]  # a list: a model of several inputs
    input_names = ["input"] if len(shapes) == 1 else [f"input_{i}" for i in range(len(shapes))]
    zeros = [np.zeros((1, *shape[1:]), dtype=model.dtype or np.float32) for shape in shapes]
    noise = [np.random.default_rng(i).standard_normal(z.shape).astype(z.dtype) for i, z in enumerate(zeros)]
    _, tape = model.call_recorded(zeros if len(zeros) > 1 else zeros[0])  # every layer call, as for backward
    _, other = model.call_recorded(noise if len(noise) > 1 else noise[0])
    if _wiring(tape) != _wiring(other):
        raise ValueError(
            f"ONNX export: `call` of model '{model.name}' calls its layers in another way for other input values "
            "(an `if` or a loop on the arrays), so no single graph computes it. Compute such choices with layers. "
            "Received: different layer calls for a batch of zeros and a random batch")
    tracer = _Tracer(helper, numpy_helper, opset)
    tracer.taken |= set(input_names)
    names = {id(a): name for a, name in zip(tape.inputs, input_names)}
    tracer.walk(tape, names, model.name)
    out = tape.output
    outputs = [_Value(_made_by_layers(names, a, model.name), (None, *a.shape[1:]))
               for a in (out if isinstance(out, (list, tuple)) else [out])]

    names, renamed = [], {}
    for i, value in enumerate(outputs):
        final = "output" if len(outputs) == 1 else f"output_{i}"
        if value.name in input_names or value.name in renamed:  # an input itself, or an output returned twice
            tracer.nodes.append(["Identity", [renamed.get(value.name, value.name)], [final], {}])
        else:  # give the producing node's output the public name
            for node in tracer.nodes:
                node[1] = [final if v == value.name else v for v in node[1]]
                node[2] = [final if v == value.name else v for v in node[2]]
            renamed[value.name] = final
        names.append(final)

    def value_info(name, shape):
        return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", *shape[1:]])

    graph = helper.make_graph(
        [helper.make_node(op, inputs, outs, name=outs[0], **attrs) for op, inputs, outs, attrs in tracer.nodes],
        model.name, [value_info(n, s) for n, s in zip(input_names, shapes)],
        [value_info(n, s.shape) for n, s in zip(names, outputs)],
        [numpy_helper.from_array(array, name) for name, array in tracer.initializers.items()])
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="numcnn", producer_version=__version__,
                              doc_string=f"numcnn {type(model).__name__} '{model.name}'")
    proto.ir_version = helper.find_min_ir_version_for(opsets)  # readable by older runtimes too
    onnx.checker.check_model(proto, full_check=True)
    write_bytes_atomic(path, proto.SerializeToString())
    return proto


__all__ = ["export_onnx", "DEFAULT_OPSET"]
