"""Merge layers for branching models: ``Add`` (residual connections) and ``Concatenate``."""

from __future__ import annotations

from .. import functional as F
from ..utils.validation import _is_int, _short, as_array, float_dtype
from .base import Layer


class _Merge(Layer):
    def _prepare_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                f"Layer '{self.name}' needs a list of at least 2 arrays. Received: {_short(inputs)}")
        arrays = [as_array(a, f"inputs[{i}]") for i, a in enumerate(inputs)]
        if any(a.ndim == 0 for a in arrays):
            raise ValueError(f"Layer '{self.name}' needs batches of inputs (at least 1D arrays). "
                             f"Received: shapes {[a.shape for a in arrays]}")
        self._build_once(arrays[0].shape, self.dtype or float_dtype(*arrays))
        return [a.astype(self.dtype, copy=False) for a in arrays]


class Add(_Merge):
    """Elementwise sum of a list of arrays of equal shape (a residual connection).

    Shape:
        inputs: list of (N, ...) arrays, all the same shape; output: (N, ...)
    """

    def _forward(self, xs, training):
        shape = xs[0].shape
        if any(x.shape != shape for x in xs):
            raise ValueError(
                f"Layer '{self.name}' (Add) needs inputs of one shape. Received: shapes {[x.shape for x in xs]}")
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
        ndim = xs[0].ndim
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"The `axis` argument must name a non-batch axis. Received: axis={self.axis} for {ndim}D inputs")
        axis = self.axis % ndim
        others = [tuple(s for i, s in enumerate(x.shape) if i != axis) for x in xs]
        if any(x.ndim != ndim for x in xs) or len(set(others)) != 1:
            raise ValueError(
                f"Layer '{self.name}' (Concatenate) needs inputs equal except on axis {self.axis}. "
                f"Received: shapes {[x.shape for x in xs]}")
        return F.concatenate_forward(xs, axis, check=False)

    def _backward(self, dy, cache):
        return F.concatenate_backward(dy, cache), {}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)  # refined after the first call (needs every input's shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
