"""Merge layers for branching models: ``Add`` (residual connections) and ``Concatenate``."""

from __future__ import annotations

from .. import functional as F
from ..utils.validation import _is_int, _short, as_array, float_dtype
from .base import Layer


class _Merge(Layer):
    """A layer of several inputs: ``compute_output_shape`` takes the list of their shapes, and refuses
    shapes that do not fit (in a graph being built, or on arrays)."""

    def _prepare_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                f"Layer '{self.name}' needs a list of at least 2 arrays. Received: {_short(inputs)}")
        arrays = [as_array(a, f"inputs[{i}]") for i, a in enumerate(inputs)]
        if any(a.ndim == 0 for a in arrays):
            raise ValueError(f"Layer '{self.name}' needs batches of inputs (at least 1D arrays). "
                             f"Received: shapes {[a.shape for a in arrays]}")
        self._build_once([a.shape for a in arrays], self.dtype or float_dtype(*arrays))
        return [a.astype(self.dtype, copy=False) for a in arrays]

    def compute_output_shape(self, input_shape):
        """The one shape every input has (a list of shapes in)."""
        shapes = [tuple(shape) for shape in input_shape]
        if len(set(shapes)) != 1:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs inputs of one shape. "
                             f"Received: shapes {shapes}")
        return shapes[0]


class Add(_Merge):
    """Elementwise sum of a list of arrays of equal shape (a residual connection).

    Shape:
        inputs: list of (N, ...) arrays, all the same shape; output: (N, ...)
    """

    def _forward(self, xs, training):
        self.compute_output_shape([x.shape for x in xs])
        return F.add_forward(xs, self.dtype, check=False)

    def _backward(self, dy, cache):
        return F.add_backward(dy, cache), {}


class Concatenate(_Merge):
    """Join a list of arrays along ``axis`` (default -1, the channels of NHWC).

    Shape:
        inputs: list of arrays equal except on ``axis``; output: sizes on ``axis`` summed.
    """

    def __init__(self, axis=-1, **kwargs):
        if not _is_int(axis):
            raise ValueError(f"The `axis` argument must be an int. Received: axis={_short(axis)}")
        self.axis = int(axis)
        super().__init__(**kwargs)

    def _forward(self, xs, training):
        self.compute_output_shape([x.shape for x in xs])
        return F.concatenate_forward(xs, self.axis % xs[0].ndim, check=False)

    def _backward(self, dy, cache):
        return F.concatenate_backward(dy, cache), {}

    def compute_output_shape(self, input_shape):
        shapes = [tuple(shape) for shape in input_shape]
        ndim = len(shapes[0])
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"The `axis` argument must name a non-batch axis. Received: axis={self.axis} for "
                             f"{ndim}D inputs")
        axis = self.axis % ndim
        others = [shape[:axis] + shape[axis + 1:] for shape in shapes]
        if any(len(shape) != ndim for shape in shapes) or len(set(others)) != 1:
            raise ValueError(f"Layer '{self.name}' (Concatenate) needs inputs equal except on axis {self.axis}. "
                             f"Received: shapes {shapes}")
        return (*shapes[0][:axis], sum(shape[axis] for shape in shapes), *shapes[0][axis + 1:])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
