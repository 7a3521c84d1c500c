"""Export a model to ONNX: ``export_onnx(model, "model.onnx")``, then run it in onnxruntime.

How the graph is made:

* **Tracing.** The model's ``call`` runs once on placeholder tensors (``Sequential`` and
  subclassed models alike; nested models are traced through). While it runs, every layer
  call is recorded as ONNX nodes instead of computing anything. NumPy applied to a
  placeholder (``x + y``, ``np.concatenate``, ``x.reshape``) cannot be recorded and raises
  a ``ValueError`` naming the operation and the layer to use instead (``Add``,
  ``Concatenate``, ...); so does a layer without an ONNX translation.
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
Reshape -> Reshape; Rescaling -> Mul + Add; Activation/ReLU/LeakyReLU/Softmax and the
``activation=`` option -> Relu, LeakyRelu, Sigmoid, Tanh, Softmax; Dropout and "linear"
-> nothing; Add -> Add/Sum; Concatenate -> Concat.

``onnx`` is an optional dependency: ``pip install "numcnn[onnx]"``.
"""

# One module over the usual 400 lines: the tracer and the layer translations share private helpers
# and are read together; splitting them would leave two halves that only make sense side by side.
from __future__ import annotations

import contextlib
import threading

import numpy as np

from .._validation import _short
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
    Layer,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)
from .files import write_bytes_atomic

DEFAULT_OPSET = 17  # run by every onnxruntime since 1.12, and by most other ONNX runtimes
MIN_OPSET = 13  # Softmax on one axis, Reshape/Concat/Transpose as used here
_TO_NCHW, _TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_TRACE_LOCK = threading.Lock()  # one export at a time patches Layer.__call__


def _import_onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as error:
        raise ImportError('ONNX export needs the onnx package: pip install "numcnn[onnx]" (or pip install onnx). '
                          f"Received: {error!r}") from error
    return onnx, helper, numpy_helper


class _Symbol:
    """A placeholder for a tensor while ``call`` is traced: its ONNX value name and shape (batch axis None).

    Layers accept it; NumPy does not, and the refusal names the operation.
    """

    def __init__(self, tracer, name, shape, origin):
        self._tracer, self.name, self._shape, self.origin = tracer, name, shape, origin

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return None if self._shape is None else len(self._shape)

    dtype = np.dtype(np.float32)

    def __repr__(self):
        return f"<traced tensor {self.name!r} shape={self._shape}>"

    def _refuse(self, operation):
        model = self._tracer.models[-1].name if self._tracer.models else "?"
        raise ValueError(
            f"ONNX export records the layer calls of `call` in model '{model}', but `call` applies {operation} "
            f"to {self.origin}, which cannot be recorded. Use layers for such steps: numcnn.layers.Add for x + y, "
            "Concatenate for np.concatenate, Rescaling for x * c + d, Reshape or Flatten for reshapes, "
            f"Activation for activations. Received: {operation}")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        self._refuse(f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}"))

    def __array_function__(self, func, types, args, kwargs):
        self._refuse(f"{func.__module__}.{func.__name__}")

    def __array__(self, *args, **kwargs):
        self._refuse("a conversion to a NumPy array (np.asarray)")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse(f"the array attribute `.{name}`")


def _refusing(operation):
    def refuse(self, *args):
        self._refuse(operation)
    return refuse


for _dunder, _text in {
        "add": "x + y", "radd": "x + y", "iadd": "x += y", "sub": "x - y", "rsub": "x - y", "isub": "x -= y",
        "mul": "x * y", "rmul": "x * y", "imul": "x *= y", "truediv": "x / y", "rtruediv": "x / y",
        "itruediv": "x /= y", "floordiv": "x // y", "rfloordiv": "x // y", "mod": "x % y", "matmul": "x @ y",
        "rmatmul": "x @ y", "pow": "x ** y", "rpow": "x ** y", "neg": "-x", "pos": "+x", "abs": "abs(x)",
        "getitem": "indexing x[...]", "setitem": "x[...] = ...", "lt": "x < y", "le": "x <= y", "gt": "x > y",
        "ge": "x >= y", "bool": "a truth test (if x: ...)", "len": "len(x)", "iter": "iteration over x",
        "float": "float(x)", "int": "int(x)", "index": "x as an index"}.items():
    setattr(_Symbol, f"__{_dunder}__", _refusing(f"the operator `{_text}`"))


class _Tracer:
    """Collects ONNX nodes and initializers while a model's ``call`` runs on :class:`_Symbol` placeholders."""

    def __init__(self, helper, numpy_helper, opset):
        self.helper, self.numpy_helper, self.opset = helper, numpy_helper, opset
        self.nodes = []  # [op, inputs, outputs, attrs]: lists, so graph outputs can be renamed
        self.initializers = {}  # name -> array
        self.weight_names = {}  # (id(layer), key) -> initializer name: a shared layer shares its weights
        self.taken = {"input", "output"}
        self.prefix, self.models = [], []

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
        self.initializers[name] = np.ascontiguousarray(array)
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

    def reduce(self, op, value, axes, keepdims, path):
        if self.opset >= 18:  # axes became an input in opset 18
            return self.node(op, [value, self.ints(f"{path}/axes", axes)], path, keepdims=int(keepdims))
        return self.node(op, [value], path, axes=list(axes), keepdims=int(keepdims))

    # -- tracing ----------------------------------------------------------------------
    def trace_model(self, model, inputs):
        """Run ``model.call`` on placeholders; returns the placeholder(s) it returns."""
        self.models.append(model)
        try:
            out = model.call(inputs, training=False) if model._call_takes_training else model.call(inputs)
        finally:
            self.models.pop()
        outputs = out if isinstance(out, (list, tuple)) else [out]
        for item in outputs:
            if not isinstance(item, _Symbol):
                raise ValueError(
                    f"ONNX export: `{type(model).__name__}.call` of model '{model.name}' must return the output of "
                    f"a layer (or a list of them), computed from its input. Received: {_short(item)}")
        return out

    def call_layer(self, layer, inputs):
        from ..models.model import Model

        multi = isinstance(inputs, (list, tuple))
        items = list(inputs) if multi else [inputs]
        path = "/".join([*self.prefix, layer.name])
        for i, item in enumerate(items):
            if not isinstance(item, _Symbol):
                raise ValueError(
                    f"ONNX export: layer '{path}' ({type(layer).__name__}) received an array that no layer computed "
                    f"from the model input (a constant or a NumPy result), which cannot be recorded. "
                    f"Received: inputs[{i}]={_short(item)}")
        if isinstance(layer, Model):
            layer._ensure_built()
            if not layer.built:
                raise ValueError(f"ONNX export: model '{path}' has no weights yet: call it on a batch first. "
                                 "Received: an unbuilt model")
            self.prefix.append(layer.name)
            try:
                return self.trace_model(layer, inputs)
            finally:
                self.prefix.pop()
        handler = _HANDLERS.get(type(layer))
        if handler is None:
            raise ValueError(
                f"ONNX export: layer '{path}' ({type(layer).__name__}) has no ONNX translation; supported layers: "
                f"{', '.join(sorted(cls.__name__ for cls in _HANDLERS))}. Received: {type(layer).__name__}")
        if not layer.built:
            raise ValueError(f"ONNX export: layer '{path}' ({type(layer).__name__}) has no weights yet: call the "
                             "model on a batch first. Received: an unbuilt layer")
        if multi != isinstance(layer, (Add, Concatenate)):
            raise ValueError(f"ONNX export: layer '{path}' ({type(layer).__name__}) takes "
                             f"{'a list of' if not multi else 'one'} array{'s' if not multi else ''}. "
                             f"Received: {_short(inputs)}")
        for i, item in enumerate(items):
            if item.shape is None:  # the model input: its shape is the one its first layer was built for
                if (i > 0 and isinstance(layer, Concatenate)) or layer.input_shape is None:
                    raise ValueError(f"ONNX export cannot tell the model's input shape from layer '{path}': pass "
                                     "input_shape=(H, W, C). Received: input_shape=None")
                item._shape = (None, *layer.input_shape[1:])
        name, shape = handler(self, layer, items if multi else items[0], path)
        return _Symbol(self, name, tuple(shape), f"the output of layer '{path}'")


def _check_rank(layer, x, rank, path):
    if x.ndim != rank:
        raise ValueError(f"ONNX export: layer '{path}' ({type(layer).__name__}) needs {rank}D inputs. "
                         f"Received: inputs with shape {x.shape}")


def _check_size(layer, x, axis, expected, what, path):
    if x.shape[axis] != expected:
        raise ValueError(f"ONNX export: layer '{path}' was built for {expected} {what} on axis {axis}. "
                         f"Received: inputs with shape {x.shape} (check input_shape=)")


def _pads(layer, x, window, dilation=(1, 1)):
    """ONNX ``pads`` ``[top, left, bottom, right]`` and the (H, W) axes' layout."""
    hw = x.shape[1:3] if layer.data_format == "channels_last" else x.shape[2:4]
    (top, bottom), (left, right) = resolve_padding(layer.padding, hw, window, layer.strides, dilation)
    return [top, left, bottom, right]


def _conv2d(t, layer, x, path):
    _check_rank(layer, x, 4, path)
    last = layer.data_format == "channels_last"
    kernel = layer.params["kernel"]
    _check_size(layer, x, -1 if last else 1, kernel.shape[2] * layer.groups, "input channels", path)
    shape = layer.compute_output_shape(x.shape)
    inputs = [t.node("Transpose", [x.name], f"{path}/to_nchw", perm=_TO_NCHW) if last else x.name,
              t.weight(layer, path, "kernel", kernel.transpose(3, 2, 0, 1))]
    if layer.use_bias:
        inputs.append(t.weight(layer, path, "bias", layer.params["bias"]))
    y = t.node("Conv", inputs, path, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
               dilations=list(layer.dilation_rate), pads=_pads(layer, x, layer.kernel_size, layer.dilation_rate),
               group=layer.groups)
    softmax = isinstance(layer.activation, str) and layer.activation.lower() == "softmax"
    if not softmax:  # elementwise: applied in NCHW, next to the Conv (onnxruntime fuses Conv + Relu)
        y = t.activation(y, layer.activation, path)
    if last:
        y = t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC)
    return (t.activation(y, "softmax", path) if softmax else y), shape


def _pooling2d(t, layer, x, path):
    _check_rank(layer, x, 4, path)
    last = layer.data_format == "channels_last"
    pads = _pads(layer, x, layer.pool_size)
    if any(p >= layer.pool_size[i % 2] for i, p in enumerate(pads)):
        raise ValueError(f"ONNX export: layer '{path}' pads by as much as its window on a side. "
                         f"Received: pads {pads} (top, left, bottom, right) with pool_size {layer.pool_size}")
    shape = layer.compute_output_shape(x.shape)
    y = t.node("Transpose", [x.name], f"{path}/to_nchw", perm=_TO_NCHW) if last else x.name
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides), "pads": pads}
    if isinstance(layer, AveragePooling2D):
        y = t.node("AveragePool", [y], path, count_include_pad=0, **attrs)
    else:
        y = t.node("MaxPool", [y], path, **attrs)
    return (t.node("Transpose", [y], f"{path}/to_nhwc", perm=_TO_NHWC) if last else y), shape


def _global_pooling2d(t, layer, x, path):
    _check_rank(layer, x, 4, path)
    op = "ReduceMean" if isinstance(layer, GlobalAveragePooling2D) else "ReduceMax"
    axes = [1, 2] if layer.data_format == "channels_last" else [2, 3]
    return t.reduce(op, x.name, axes, layer.keepdims, path), layer.compute_output_shape(x.shape)


def _dense(t, layer, x, path):
    if x.ndim < 2:
        raise ValueError(f"ONNX export: layer '{path}' (Dense) needs inputs of shape (N, features). "
                         f"Received: inputs with shape {x.shape}")
    _check_size(layer, x, -1, layer.params["kernel"].shape[0], "input features", path)
    kernel = t.weight(layer, path, "kernel", layer.params["kernel"])
    bias = [t.weight(layer, path, "bias", layer.params["bias"])] if layer.use_bias else []
    if x.ndim == 2:
        y = t.node("Gemm", [x.name, kernel, *bias], path)
    else:  # Gemm is 2D only; MatMul broadcasts over the leading axes
        y = t.node("MatMul", [x.name, kernel], path)
        y = t.node("Add", [y, *bias], path) if bias else y
    return t.activation(y, layer.activation, path), layer.compute_output_shape(x.shape)


def _batch_normalization(t, layer, x, path):
    axis = layer.axis % x.ndim
    c = layer.state["moving_mean"].shape[0]
    if not -x.ndim <= layer.axis < x.ndim or axis == 0 or x.ndim != len(layer.input_shape):
        raise ValueError(f"ONNX export: layer '{path}' (BatchNormalization, axis {layer.axis}) was built for "
                         f"{len(layer.input_shape)}D inputs. Received: inputs with shape {x.shape}")
    _check_size(layer, x, axis, c, "channels", path)
    stats = [layer.params.get("gamma", np.ones(c)), layer.params.get("beta", np.zeros(c)),
             layer.state["moving_mean"], layer.state["moving_variance"]]
    names = [t.weight(layer, path, key, array) for key, array in zip(("gamma", "beta", "mean", "var"), stats)]
    perm = [0, axis, *(i for i in range(1, x.ndim) if i != axis)]  # ONNX wants the channels on axis 1
    y = x.name if axis == 1 else t.node("Transpose", [x.name], f"{path}/to_axis1", perm=perm)
    y = t.node("BatchNormalization", [y, *names], path, epsilon=layer.epsilon)
    if axis != 1:
        y = t.node("Transpose", [y], f"{path}/from_axis1", perm=[int(i) for i in np.argsort(perm)])
    return y, x.shape


def _flatten(t, layer, x, path):
    y = x.name
    if layer.data_format == "channels_first" and x.ndim > 2:  # as our Flatten: channels last first
        y = t.node("Transpose", [y], f"{path}/to_channels_last", perm=[0, *range(2, x.ndim), 1])
    return t.node("Flatten", [y], path, axis=1), layer.compute_output_shape(x.shape)


def _reshape(t, layer, x, path):
    shape = layer.compute_output_shape(x.shape)
    return t.node("Reshape", [x.name, t.ints(f"{path}/shape", [0, *shape[1:]])], path), shape


def _rescaling(t, layer, x, path):
    y = t.node("Mul", [x.name, t.constant(f"{path}/scale", np.array(layer.scale, np.float32))], path)
    if layer.offset:
        y = t.node("Add", [y, t.constant(f"{path}/offset", np.array(layer.offset, np.float32))], path)
    return y, x.shape


def _activation(t, layer, x, path):
    if isinstance(layer, ReLU):
        return t.activation(x.name, "relu", path), x.shape
    if isinstance(layer, LeakyReLU):
        return t.activation(x.name, "leaky_relu", path, layer.negative_slope), x.shape
    if isinstance(layer, Softmax):
        if not -x.ndim <= layer.axis < x.ndim:
            raise ValueError(f"ONNX export: layer '{path}' (Softmax) has axis {layer.axis}. "
                             f"Received: inputs with shape {x.shape}")
        return t.node("Softmax", [x.name], path, axis=layer.axis), x.shape
    return t.activation(x.name, layer.activation, path), x.shape


def _dropout(t, layer, x, path):
    return x.name, x.shape  # the identity at inference


def _add(t, layer, xs, path):
    if len({x.shape for x in xs}) != 1:
        raise ValueError(f"ONNX export: layer '{path}' (Add) needs inputs of one shape. "
                         f"Received: shapes {[x.shape for x in xs]}")
    return t.node("Add" if len(xs) == 2 else "Sum", [x.name for x in xs], path), xs[0].shape


def _concatenate(t, layer, xs, path):
    ndim = xs[0].ndim
    axis = layer.axis % ndim
    others = {tuple(s for i, s in enumerate(x.shape) if i != axis) for x in xs}
    if not -ndim <= layer.axis < ndim or axis == 0 or any(x.ndim != ndim for x in xs) or len(others) != 1:
        raise ValueError(f"ONNX export: layer '{path}' (Concatenate, axis {layer.axis}) needs inputs equal "
                         f"except on a non-batch axis. Received: shapes {[x.shape for x in xs]}")
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    return t.node("Concat", [x.name for x in xs], path, axis=axis), tuple(shape)


_HANDLERS = {
    Conv2D: _conv2d, Dense: _dense, MaxPooling2D: _pooling2d, AveragePooling2D: _pooling2d,
    GlobalAveragePooling2D: _global_pooling2d, GlobalMaxPooling2D: _global_pooling2d,
    BatchNormalization: _batch_normalization, Flatten: _flatten, Reshape: _reshape, Rescaling: _rescaling,
    Activation: _activation, ReLU: _activation, LeakyReLU: _activation, Softmax: _activation, Dropout: _dropout,
    Add: _add, Concatenate: _concatenate,
}


def _all_layers(model, found):
    from ..models.model import Model

    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, Model):
            _all_layers(layer, found)
    return found


@contextlib.contextmanager
def _recording_layer_calls(tracer, model):
    """While tracing, a layer called on a placeholder records nodes; called on arrays, it computes as usual."""
    original = Layer.__call__

    def traced_call(self, inputs, training=None):
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if any(isinstance(item, _Symbol) for item in items):
            return tracer.call_layer(self, inputs)
        return original(self, inputs, training)

    # Layer, and model classes that took Layer.__call__ as their own (a subclass that wrote __call__, see Model)
    classes = {Layer} | {cls for layer in _all_layers(model, [model]) for cls in type(layer).__mro__
                         if cls.__dict__.get("__call__") is original}
    with _TRACE_LOCK:
        for cls in classes:
            cls.__call__ = traced_call
        try:
            yield
        finally:
            for cls in classes:
                cls.__call__ = original


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
    from .. import __version__
    from ..models.model import Model

    if not isinstance(model, Model):
        raise TypeError(f"The `model` argument must be a numcnn Model or Sequential. Received: {_short(model)}")
    batch_shape = _check_args(opset, input_shape, onnx)
    model._ensure_built()  # a Sequential with input_shape= builds on demand
    if not model.built:
        raise ValueError(f"Model '{model.name}' has no weights yet: call it on a batch or build((None, H, W, C)) "
                         "before exporting. Received: an unbuilt model")
    tracer = _Tracer(helper, numpy_helper, opset)
    x = _Symbol(tracer, "input", batch_shape, "the model input")
    with _recording_layer_calls(tracer, model):
        out = tracer.trace_model(model, x)
    outputs = list(out) if isinstance(out, (list, tuple)) else [out]
    if x.shape is None:
        raise ValueError(f"ONNX export cannot tell the input shape of model '{model.name}': pass input_shape=(...). "
                         "Received: input_shape=None")

    names = []
    for i, symbol in enumerate(outputs):
        final = "output" if len(outputs) == 1 else f"output_{i}"
        if symbol.name == "input" or symbol.name in names:  # returned twice, or the input itself
            tracer.nodes.append(["Identity", [symbol.name], [final], {}])
        else:  # give the producing node's output the public name
            for node in tracer.nodes:
                node[1] = [final if v == symbol.name else v for v in node[1]]
                node[2] = [final if v == symbol.name else v for v in node[2]]
        names.append(final)

    def value_info(name, shape):
        return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["batch", *shape[1:]])

    graph = helper.make_graph(
        [helper.make_node(op, inputs, outs, name=outs[0], **attrs) for op, inputs, outs, attrs in tracer.nodes],
        model.name, [value_info("input", x.shape)], [value_info(n, s.shape) for n, s in zip(names, outputs)],
        [numpy_helper.from_array(array, name) for name, array in tracer.initializers.items()])
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="numcnn", producer_version=__version__,
                              doc_string=f"numcnn {type(model).__name__} '{model.name}'")
    proto.ir_version = helper.find_min_ir_version_for(opsets)  # readable by older runtimes too
    onnx.checker.check_model(proto, full_check=True)
    write_bytes_atomic(path, proto.SerializeToString())
    return proto


__all__ = ["export_onnx", "DEFAULT_OPSET"]
