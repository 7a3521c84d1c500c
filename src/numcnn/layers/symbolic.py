"""Symbolic tensors: how ``numcnn.Input`` and layer calls on it describe a graph before any data flows.

As in Keras, the functional API builds a model by calling layers on placeholders::

    x = numcnn.Input((28, 28, 1))             # a SymbolicTensor of shape (None, 28, 28, 1)
    h = Conv2D(8, 3, activation="relu")(x)    # shape (None, 26, 26, 8), from compute_output_shape
    y = Dense(10)(Flatten()(h))
    model = numcnn.Model(inputs=x, outputs=y)

A layer called on a :class:`SymbolicTensor` computes nothing: it records a :class:`GraphNode`
(the layer and the tensors it took) and returns new symbolic tensors whose shapes come from
its ``compute_output_shape``, so a shape that does not fit is refused where the graph is
written. :mod:`numcnn.models.graph` turns the nodes into a model that runs them in order, and
:mod:`numcnn.layers.input_layer` makes the graph's inputs.
"""

from __future__ import annotations

import numpy as np

from ..utils.validation import _short


class SymbolicTensor:
    """A tensor of a graph being built: its shape (batch axis ``None``), its dtype, and the layer
    call that makes it. It has no values: NumPy refuses it, with a message that says to use layers.

    Attributes:
        shape: e.g. ``(None, 26, 26, 8)``.
        dtype: the float dtype the layer computes in.
        node: the :class:`GraphNode` that outputs it; ``index``: which of that node's outputs.
    """

    def __init__(self, shape, dtype, node=None, index=0):
        self.shape, self.dtype, self.node, self.index = tuple(shape), np.dtype(dtype), node, index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def layer(self):
        """The layer whose call made this tensor."""
        return self.node.layer

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name} from layer '{self.node.layer.name}'>"

    def __array__(self, *args, **kwargs):
        raise TypeError(f"A symbolic tensor (the output of layer '{self.node.layer.name}' in a graph being built) "
                        "holds no values: apply layers to it (Add, Multiply, Rescaling, Reshape, Activation, ...), "
                        f"not NumPy. Received: {self!r}")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return self.__array__()

    def __array_function__(self, func, types, args, kwargs):
        return self.__array__()


class GraphNode:
    """One layer call in a graph: the layer, the symbolic tensors it took (``inputs``, a list), whether
    it took a list (``multi``), and the tensors it made (``outputs``)."""

    def __init__(self, layer, inputs, multi):
        self.layer, self.inputs, self.multi = layer, list(inputs), multi
        self.outputs = []

    def __repr__(self):
        return f"<GraphNode {self.layer.name} <- {[t.node.layer.name for t in self.inputs]}>"


def is_symbolic(inputs) -> bool:
    """Whether a layer was called on symbolic tensors (one, or a list holding one)."""
    if isinstance(inputs, (list, tuple)):
        return any(isinstance(item, SymbolicTensor) for item in inputs)
    return isinstance(inputs, SymbolicTensor)


def call_symbolic(layer, inputs):
    """What ``layer(inputs)`` does on symbolic tensors: record a :class:`GraphNode` and return the
    symbolic output(s), shaped by ``layer.compute_output_shape``. No weight is made yet: the model
    builds every layer of its graph, in order, once it hands them its seed."""
    multi = isinstance(inputs, (list, tuple))
    items = list(inputs) if multi else [inputs]
    for i, item in enumerate(items):
        if not isinstance(item, SymbolicTensor):
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) was called on symbolic tensors mixed with an array: "
                f"in a graph every input comes from numcnn.Input or another layer. Received: inputs[{i}]="
                f"{_short(item)}")
    shapes = [item.shape for item in items]
    declared = layer._batch_input_shape
    if declared is not None and not multi and tuple(shapes[0][1:]) != declared[1:]:
        raise ValueError(f"Layer '{layer.name}' declares input_shape={declared[1:]}. "
                         f"Received: a tensor of shape {shapes[0]}")
    out = layer.compute_output_shape(shapes if multi else shapes[0])
    dtype = layer.dtype or np.result_type(*(item.dtype for item in items))
    node = GraphNode(layer, items, multi)
    several = isinstance(out, list)
    node.outputs = [SymbolicTensor(shape, dtype, node, i) for i, shape in enumerate(out if several else [out])]
    layer._inbound_nodes.append(node)
    return list(node.outputs) if several else node.outputs[0]
