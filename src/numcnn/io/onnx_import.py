"""Import an ONNX network as a numcnn functional model: ``model = from_onnx("resnet50.onnx")``.

How a graph becomes a model:

* **Nodes to layers.** The ONNX graph is walked in its (topological) order. Each node whose inputs
  are all known constants (initializers, ``Constant``, ``Shape`` of a tensor of known shape, and
  what is computed from them: ``Gather``, ``Concat``, ``Unsqueeze``, a batch norm written as ``Mul``
  and ``Add`` of constants, ...) is *folded*: evaluated once at import by ONNX's reference
  implementation of that op and opset. Every other node becomes numcnn layers called on symbolic
  tensors (:mod:`numcnn.io.onnx_import_ops` says which), so the result is an ordinary
  ``numcnn.Model(inputs, outputs)``: ``summary()``, ``backward``, ``fit``, save and export work on it.
* **Layout.** ``data_format="channels_first"`` keeps every tensor as ONNX has it (NCHW).
  ``"channels_last"`` (the default, as numcnn's layers) gives the model NHWC inputs and
  outputs and converts the weights once, at import. Inside, each tensor remembers how its axes
  relate to the ONNX tensor's (a permutation), so a ``Transpose`` costs nothing; a ``Permute``
  layer is added only where an op needs ONNX's own axis order (a ``Reshape`` or ``Flatten`` across
  the channel axis: ShuffleNet's channel shuffle, a Flatten of a feature map before ``Gemm``), and
  ``summary()`` shows it. Moves of axes of size 1 become a ``Reshape`` (no copy). A graph that is
  channels-last already (an input read only by Transposes to NCHW, an output made by a Transpose
  from NCHW: Keras, TensorFlow and numcnn's own exports) keeps those inputs and outputs as they are.
* **Batch.** The first axis is the batch, of any size, whatever the file declares: ``Shape``
  gives a marker for it, and a ``Reshape`` must keep it first (``0``, ``-1`` or the marker).
* **Refused, by name**: an op that has no translation (the error lists those that have), an
  attribute value that changes the meaning beyond what the layers compute, an opset outside
  6..21, a truncated or corrupt file, missing external data, a shape that stays unknown.

``onnx`` is an optional dependency: ``pip install "numcnn[onnx]"``.
"""

from __future__ import annotations

import os
import re
import numpy as np

from ..layers import Permute, Reshape
from ..layers.base import skip_init
from ..layers.input_layer import InputLayer
from ..layers.symbolic import SymbolicTensor
from ..models import Model
from ..utils.validation import _short, standardize_data_format
from .onnx_import_ops import HANDLERS
from .onnx_values import BATCH, OnnxImportError, Sym, channels_last, identity, same_order

MIN_OPSET, MAX_OPSET = 6, 21
_DTYPES = {1: np.float32, 11: np.float64}  # TensorProto.FLOAT, DOUBLE


def _import_onnx():
    try:
        import onnx
    except ImportError as error:
        raise ImportError('from_onnx needs the onnx package: pip install "numcnn[onnx]"') from error
    return onnx


def _sanitize(name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip("/")).strip("_")
    return name


# -- loading ---------------------------------------------------------------------------------------------------

def load_model_proto(model):
    """A ``ModelProto`` from a path or a ``ModelProto``, external data included; clear errors for a file
    that is missing, truncated or corrupt, or whose external data is missing."""
    onnx = _import_onnx()
    if isinstance(model, onnx.ModelProto):
        proto, base_dir = model, None
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The `model` argument must be an ONNX file or an onnx.ModelProto. "
                                    f"Received: model={path!r}, which is not a file")
        try:
            proto = onnx.load(path, load_external_data=False)
        except Exception as error:  # protobuf's DecodeError and friends: truncated or not ONNX at all
            raise OnnxImportError(f"{path!r} is not a readable ONNX model: the file is truncated, corrupt or not "
                                  f"ONNX. Received: {type(error).__name__}: {str(error)[:200]}") from None
        base_dir = os.path.dirname(os.path.abspath(path))
    else:
        raise TypeError(f"The `model` argument must be a path to an .onnx file or an onnx.ModelProto. "
                        f"Received: {type(model).__name__}")
    _load_external_data(onnx, proto, base_dir)
    if not proto.HasField("graph") or not proto.graph.output:
        raise OnnxImportError("The ONNX model has no graph outputs: the file is truncated or not a model. "
                              f"Received: a graph with {len(proto.graph.node)} nodes and no outputs")
    return proto


def _load_external_data(onnx, proto, base_dir):
    from onnx.external_data_helper import ExternalDataInfo, uses_external_data

    external = [t for t in proto.graph.initializer if uses_external_data(t)]
    if not external:
        return
    if base_dir is None:
        raise OnnxImportError("The ModelProto keeps its weights in external data files, which a ModelProto "
                              "alone cannot find: pass the .onnx file's path, or load it with "
                              f"onnx.load(path). Received: {len(external)} external tensors")
    for tensor in external:
        location = ExternalDataInfo(tensor).location
        path = os.path.join(base_dir, location)
        if not os.path.isfile(path):
            raise OnnxImportError(f"The ONNX model keeps tensor {tensor.name!r} in the external data file "
                                  f"{location!r}, which is missing next to the model. Received: no file {location!r}")
    try:
        onnx.external_data_helper.load_external_data_for_model(proto, base_dir)
    except Exception as error:
        raise OnnxImportError(f"The ONNX model's external data could not be read (truncated?). "
                              f"Received: {type(error).__name__}: {str(error)[:200]}") from None


def opset_of(proto) -> int:
    """The default-domain opset of a model, checked to be in 6..21."""
    versions = {entry.domain: entry.version for entry in proto.opset_import}
    if not versions:  # IR version 1/2 files: opset 1
        versions[""] = 1
    version = versions.get("", versions.get("ai.onnx"))
    if version is None:
        raise OnnxImportError(f"The ONNX model imports no default-domain opset, only {sorted(versions)}: numcnn "
                              "reads standard ONNX ops.")
    if not MIN_OPSET <= version <= MAX_OPSET:
        raise OnnxImportError(f"numcnn imports ONNX opsets {MIN_OPSET} to {MAX_OPSET}. Received: opset {version}"
                              + (" (older files: convert them with onnx.version_converter)" if version < MIN_OPSET
                                 else ""))
    return version


# -- the importer ----------------------------------------------------------------------------------------------

class Importer:
    """Walks one ONNX graph and makes the layers; the op translations live in :mod:`.onnx_import_ops`."""

    def __init__(self, proto, opset, data_format, input_shapes):
        self.proto, self.graph, self.opset = proto, proto.graph, opset
        self.cl = data_format == "channels_last"
        self.values: dict = {}
        self.layers_made: list = []
        self.weights: list = []  # (layer, {name: array}) set once the model is built
        self._names: set = set()
        self._layout_cache: dict = {}
        # initializers become arrays when first read and are freed after their last reader: the weights are
        # never held three times (the file's bytes, ONNX's arrays, numcnn's layout)
        self._initializers = {tensor.name: tensor for tensor in self.graph.initializer}
        self.dtype = None
        self.inputs = [self._make_input(info, input_shapes) for info in self._real_inputs()]

    # -- graph inputs and outputs --------------------------------------------------------------------------
    def _real_inputs(self):
        return [info for info in self.graph.input if info.name not in self.values]

    def _make_input(self, info, input_shapes):
        tensor_type = info.type.tensor_type
        dtype = _DTYPES.get(tensor_type.elem_type)
        if dtype is None:
            raise OnnxImportError(f"Graph input {info.name!r} has element type {tensor_type.elem_type}; numcnn "
                                  "imports float (1) and double (11) inputs.")
        if self.dtype is not None and dtype != self.dtype:
            raise OnnxImportError(f"The graph's inputs mix float and double. Received: {info.name!r} of {dtype.__name__}")
        self.dtype = dtype
        shape = self._declared_shape(info, input_shapes)
        perm = self.canonical(len(shape))
        if self._feeds_only_transposes_to_channels_first(info.name, len(shape)):
            perm = identity(len(shape))  # already NHWC in the file (Keras, TensorFlow, numcnn's own export)
        layer = InputLayer(tuple(shape[p] for p in perm[1:]), dtype=np.dtype(dtype).name, name=self.name_for(info.name))
        self.values[info.name] = Sym(layer.make_tensor(), (None, *shape[1:]), perm)
        return self.values[info.name].tensor

    def _feeds_only_transposes_to_channels_first(self, name, rank):
        """Whether input ``name`` is channels-last in the file: all its readers are Transposes to NCHW."""
        to_first = [0, rank - 1, *range(1, rank - 1)]
        readers = [node for node in self.graph.node if name in node.input]
        return self.cl and rank >= 3 and bool(readers) and all(
            node.op_type == "Transpose" and list(_attributes(node).get("perm", [])) == to_first for node in readers)

    def _made_by_transpose_to_channels_last(self, name, rank):
        """Whether output ``name`` is channels-last in the file: a Transpose from NCHW made it."""
        to_last = list(channels_last(rank))
        return self.cl and any(node.op_type == "Transpose" and name in node.output and
                               list(_attributes(node).get("perm", [])) == to_last for node in self.graph.node)

    def _declared_shape(self, info, input_shapes):
        dims = info.type.tensor_type.shape.dim
        given = (input_shapes or {}).get(info.name)
        if given is not None:
            given = tuple(given)
            if len(given) != len(dims) - 1 and dims:
                raise ValueError(f"The `input_shape` for {info.name!r} must give the {len(dims) - 1} axes after the "
                                 f"batch axis, in ONNX's order. Received: {given}")
            return (None, *given)
        if len(dims) < 2:
            raise OnnxImportError(f"Graph input {info.name!r} must have a batch axis and at least one more. "
                                  f"Received: rank {len(dims)}")
        shape = [None]
        for axis, dim in enumerate(dims[1:], start=1):
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                raise OnnxImportError(
                    f"Graph input {info.name!r} has a dynamic axis {axis} ({dim.dim_param or '?'}): numcnn builds "
                    f"layers for known shapes. Pass input_shape={{{info.name!r}: (...)}} (the axes after the "
                    f"batch, ONNX's order). Received: axis {axis} unknown")
            shape.append(dim.dim_value)
        return tuple(shape)

    def outputs(self) -> list:
        result = []
        for info in self.graph.output:
            value = self.values.get(info.name)
            if not isinstance(value, Sym):
                raise OnnxImportError(f"Graph output {info.name!r} is " + ("never computed" if value is None else
                                      "a constant, not computed from the inputs") + ": numcnn models compute their "
                                      "outputs from their inputs.")
            wanted = self.canonical(value.rank)
            if self._made_by_transpose_to_channels_last(info.name, value.rank):
                wanted = identity(value.rank)
            result.append(self.ensure(value, wanted).tensor)
        return result

    # -- names and layers --------------------------------------------------------------------------------------
    def name_for(self, wanted: str, default: str = "layer") -> str:
        base = _sanitize(wanted) or default
        name, k = base, 1
        while name in self._names:
            name, k = f"{base}_{k}", k + 1
        self._names.add(name)
        return name

    def call(self, layer, inputs, weights=None):
        """Call ``layer`` (named already) on symbolic tensors; remember the weights to set once built."""
        out = layer(inputs)
        self.layers_made.append(layer)
        if weights:
            self.weights.append((layer, {k: np.asarray(v) for k, v in weights.items()}))
        return out

    def canonical(self, rank: int) -> tuple:
        """The layout of a tensor of this rank that numcnn's layers expect in this data format."""
        return channels_last(rank) if self.cl else identity(rank)

    def ensure(self, value: Sym, perm: tuple, name: str = "") -> Sym:
        """``value`` in layout ``perm``: as is, through a ``Reshape`` (only axes of size 1 move), or a
        ``Permute`` layer."""
        perm = tuple(perm)
        if value.perm == perm:
            return value
        key = (id(value.tensor), perm)
        if key not in self._layout_cache:
            shape = value.shape
            target = tuple(shape[p] for p in perm[1:])
            base = value.tensor.node.layer.name
            if same_order(value.perm, perm, shape):
                layer = Reshape(target, name=self.name_for(f"{base}_as_{_layout_name(perm)}"))
            else:
                dims = tuple(value.perm.index(p) for p in perm[1:])
                layer = Permute(dims, name=self.name_for(f"{base}_to_{_layout_name(perm)}"))
            self._layout_cache[key] = Sym(self.call(layer, value.tensor), shape, perm)
        return self._layout_cache[key]

    def row_major(self, value: Sym) -> Sym:
        """``value`` with its values in ONNX's memory order (what Reshape and Flatten need)."""
        if same_order(value.perm, identity(value.rank), value.shape):
            return value
        return self.ensure(value, identity(value.rank))

    def reshape(self, value: Sym, shape: tuple, name: str) -> Sym:
        """``value`` (in any layout) reshaped to the ONNX shape ``shape`` (batch ``None`` first); the result
        takes the data format's layout when that needs no copy, else ONNX's."""
        value = self.row_major(value)
        perm = self.canonical(len(shape))
        if not same_order(perm, identity(len(shape)), shape):
            perm = identity(len(shape))
        target = tuple(shape[p] for p in perm[1:])
        if target == value.tensor.shape[1:]:
            return Sym(value.tensor, tuple(shape), perm)
        return Sym(self.call(Reshape(target, name=self.name_for(name)), value.tensor), tuple(shape), perm)

    # -- walking ---------------------------------------------------------------------------------------------
    def fuse_relu(self, node) -> bool:
        """Whether ``node``'s only output feeds one Relu and nothing else (no graph output): then the
        layer made for ``node`` takes ``activation="relu"`` and that Relu makes no layer of its own."""
        readers = self._readers.get(node.output[0], [])
        if len(readers) != 1 or readers[0].op_type != "Relu" or node.output[0] in self._graph_outputs:
            return False
        self._fused.add(id(readers[0]))
        return True

    def run(self):
        self._fused = set()
        self._readers = {}
        for node in self.graph.node:
            for name in set(node.input):
                self._readers.setdefault(name, []).append(node)
        self._graph_outputs = {o.name for o in self.graph.output}
        last_read = {name: index for index, node in enumerate(self.graph.node) for name in node.input}
        for index, node in enumerate(self.graph.node):
            if id(node) in self._fused:  # a Relu its producer computes
                self.values[node.output[0]] = self.values[node.input[0]]
                continue
            if node.domain not in ("", "ai.onnx"):
                raise OnnxImportError(f"ONNX node {_node_label(node, index)} is in domain {node.domain!r}; numcnn "
                                      "imports the standard ONNX ops only.")
            inputs = []
            for name in node.input:
                if name == "":
                    inputs.append(None)
                elif name in self.values or name in self._initializers:
                    inputs.append(self._value(name))
                else:
                    raise OnnxImportError(
                        f"ONNX node {_node_label(node, index)} reads {name!r}, which no earlier node makes and which is "
                        "neither an input nor an initializer: the file is truncated or its nodes are out of order.")
            attrs = _attributes(node)
            if all(not isinstance(v, Sym) for v in inputs) and node.op_type not in _NEVER_FOLD:
                outputs = self.fold(node, inputs)
            else:
                handler = HANDLERS.get(node.op_type)
                if handler is None:
                    raise OnnxImportError(
                        f"ONNX node {_node_label(node, index)} is a {node.op_type!r}, which numcnn cannot import. "
                        f"Supported ops: {', '.join(sorted(HANDLERS))}; ops on constants only are folded at "
                        f"import. Received: op_type={node.op_type!r}")
                try:
                    outputs = handler(self, node, inputs, attrs)
                except OnnxImportError as error:
                    raise OnnxImportError(f"ONNX node {_node_label(node, index)}: {error}") from None
                except ValueError as error:  # a layer's own shape check
                    raise OnnxImportError(f"ONNX node {_node_label(node, index)} ({node.op_type}) cannot be "
                                          f"made from numcnn layers: {error}") from None
            for name, value in zip(node.output, outputs):
                if name:
                    self.values[name] = value
            for name in set(node.input):  # read for the last time: freed (the layers hold what they need)
                if last_read.get(name) == index and name not in self._graph_outputs:
                    self.values.pop(name, None)
            unmade = [name for name in node.output[len(outputs):] if name and self._is_used(name)]
            if unmade:
                raise OnnxImportError(f"ONNX node {_node_label(node, index)} ({node.op_type}) has its extra output "
                                      f"{unmade[0]!r} used; numcnn computes only the first "
                                      f"{len(outputs)}. Received: outputs {list(node.output)}")

    def _value(self, name):
        """A tensor's value: a ``Sym`` or an array (an initializer is converted on its first read)."""
        if name not in self.values:
            from onnx import numpy_helper

            self.values[name] = numpy_helper.to_array(self._initializers.pop(name))
        return self.values[name]

    def _is_used(self, name):
        return name in self._readers or name in self._graph_outputs

    def fold(self, node, inputs):
        """Evaluate a node whose inputs are all constants, with ONNX's reference implementation."""
        from onnx.reference import ReferenceEvaluator
        from onnx.reference.ops import load_op

        try:
            op_class = load_op("", node.op_type, self.opset)
            op = op_class(node, {"log": lambda *a: None, "opsets": {"": self.opset}, "verbose": 0, "new_ops": None,
                                 "existing_functions": {}, "evaluator_cls": ReferenceEvaluator})
            outputs = op.run(*inputs)
        except Exception as error:
            raise OnnxImportError(f"ONNX node {_node_label(node)} ({node.op_type}) computes on constants only, but "
                                  f"could not be folded at import. Received: {type(error).__name__}: "
                                  f"{str(error)[:200]}") from None
        outputs = [np.asarray(out) for out in outputs]
        for out in outputs:
            if out.dtype.kind in "iu" and out.size and np.any((np.abs(out) > BATCH // 2) & (out != BATCH)):
                raise OnnxImportError(
                    f"ONNX node {_node_label(node)} ({node.op_type}) computes with the batch size in a way numcnn "
                    "cannot fold (only passing it through, as Shape-Gather-Concat does, is foldable): the batch size "
                    "is free in numcnn models. Received: a shape computed from the batch size")
        return outputs

    def set_weights(self, model):
        """Each layer's weights into the model (built under :func:`skip_init`), freeing the imported arrays."""
        self.values.clear()
        while self.weights:
            layer, arrays = self.weights.pop(0)
            current = layer.named_weights()
            for key, array in arrays.items():
                if current[key].shape != array.shape:  # a translation bug, not user input
                    raise AssertionError(f"{layer.name}/{key}: {array.shape} != {current[key].shape}")
            layer.assign_weights(arrays, "ONNX import")
            del arrays


_NEVER_FOLD = frozenset()


def _layout_name(perm) -> str:
    if perm == channels_last(len(perm)) and len(perm) >= 3:
        return "channels_last"
    if perm == identity(len(perm)):
        return "onnx_order"
    return "axes_" + "".join(map(str, perm))


def _node_label(node, index=None) -> str:
    if node.name:
        return repr(node.name)
    return f"#{index}" if index is not None else f"making {list(node.output)}"


def _attributes(node) -> dict:
    from onnx import helper

    return {attr.name: helper.get_attribute_value(attr) for attr in node.attribute}


def from_onnx(model, data_format: str = "channels_last", *, input_shape=None, name: str | None = None) -> Model:
    """Import an ONNX network as a numcnn functional :class:`~numcnn.Model`.

    Args:
        model: path to an ``.onnx`` file (external data next to it is read), or an ``onnx.ModelProto``.
        data_format: ``"channels_last"`` (NHWC inputs and outputs, weights converted once) or
            ``"channels_first"`` (NCHW, exactly as the ONNX graph).
        input_shape: the axes after the batch of an input whose ONNX shape is dynamic, in ONNX's order:
            a tuple (one input) or ``{input_name: tuple}``.
        name: the model's name (default: the ONNX graph's name).

    Returns:
        A functional model with the ONNX weights; it runs, trains (``backward``, ``fit``) and saves as any.

    Raises:
        OnnxImportError: (a ``ValueError``) an unsupported op, attribute or opset, a corrupt or truncated
            file, missing external data, or a shape that cannot be known at import.
    """
    data_format = standardize_data_format(data_format)
    proto = load_model_proto(model)
    opset = opset_of(proto)
    real = [info.name for info in proto.graph.input if info.name not in {t.name for t in proto.graph.initializer}]
    if input_shape is not None and not isinstance(input_shape, dict):
        if len(real) != 1:
            raise ValueError(f"The `input_shape` argument must be a dict {{input_name: shape}} for a graph with "
                             f"{len(real)} inputs. Received: input_shape={_short(input_shape)}")
        input_shape = {real[0]: input_shape}
    importer = Importer(proto, opset, data_format, input_shape)
    del proto
    importer.run()
    outputs = importer.outputs()
    inputs = importer.inputs
    with skip_init():  # every weight is set from the file next: no random values made first
        result = Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                       name=name or _sanitize(importer.graph.name) or "onnx_model")
    importer.proto = importer.graph = importer._initializers = importer._readers = None  # the file's bytes go first
    importer.set_weights(result)
    return result
