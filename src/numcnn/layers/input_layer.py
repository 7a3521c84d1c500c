"""``numcnn.Input`` and the ``InputLayer`` behind it: where a functional graph's data comes in."""

from __future__ import annotations

from ..utils.validation import _is_int, _short
from .base import Layer
from .symbolic import GraphNode, SymbolicTensor


class InputLayer(Layer):
    """Where a graph's data comes in: the shape of one sample (no weights, the identity).

    Args:
        shape: one sample's shape, without the batch axis, e.g. ``(28, 28, 1)``.
        dtype: ``"float32"`` (default), ``"float64"`` or ``"float16"``.
        name: layer name (default ``input_layer``; a model makes names unique).
    """

    def __init__(self, shape, dtype="float32", name=None, **kwargs):
        if _is_int(shape):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not shape or not all(_is_int(d) and d > 0 for d in shape):
            raise ValueError("The `shape` argument must be a tuple of positive ints, one sample's shape without the "
                             f"batch axis, e.g. (28, 28, 1). Received: shape={_short(shape)}")
        super().__init__(name=name, input_shape=tuple(shape), dtype=dtype, **kwargs)
        self.shape = self.output_shape = (None, *(int(d) for d in shape))

    def _forward(self, x, training):
        if x.shape[1:] != self.shape[1:]:
            raise ValueError(f"Input '{self.name}' takes samples of shape {self.shape[1:]}. "
                             f"Received: inputs with shape {x.shape}")
        return x, None

    def _backward(self, dy, cache):
        return dy, {}

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape[1:]), "dtype": str(self.dtype)}

    def make_tensor(self) -> SymbolicTensor:
        """The symbolic tensor of this input, for layers to be called on."""
        node = GraphNode(self, [], multi=False)
        node.outputs = [SymbolicTensor(self.shape, self.dtype, node)]
        self._inbound_nodes.append(node)
        return node.outputs[0]


def Input(shape, dtype="float32", name=None) -> SymbolicTensor:  # noqa: N802 - Keras' name
    """A graph's input: a :class:`~numcnn.layers.symbolic.SymbolicTensor` of shape ``(None, *shape)``
    to call layers on (see :mod:`numcnn.layers.symbolic`).

    Example:
        >>> x = Input((28, 28, 1))
        >>> x.shape
        (None, 28, 28, 1)
    """
    return InputLayer(shape, dtype, name).make_tensor()
