"""Merge layers for elementwise arithmetic: ``Multiply`` (gating, attention masks) and ``Subtract``,
over :mod:`numcnn.functional.arithmetic`."""

from __future__ import annotations

from ..functional import arithmetic as A
from .merge import _Merge


class Multiply(_Merge):
    """Elementwise product of a list of two or more arrays of one shape (Keras ``Multiply``).

    The gradient of each input is ``dy`` times the product of the other inputs, computed
    without dividing, so inputs that hold zeros get exact gradients.

    Shape:
        inputs: list of (N, ...) arrays, all the same shape; output: (N, ...)

    Example:
        >>> Multiply()([np.array([[1.0, 2.0]]), np.array([[3.0, 0.5]])])
        array([[3., 1.]])
    """

    def _forward(self, xs, training):
        self.compute_output_shape([x.shape for x in xs])
        return A.multiply_forward(xs, check=False)

    def _backward(self, dy, cache):
        return A.multiply_backward(dy, cache, check=False), {}


class Subtract(_Merge):
    """Elementwise difference ``inputs[0] - inputs[1]`` of exactly two arrays of one shape (Keras ``Subtract``).

    Shape:
        inputs: list of 2 arrays (N, ...) of the same shape; output: (N, ...)

    Example:
        >>> Subtract()([np.array([[5.0, 2.0]]), np.array([[3.0, 4.0]])])
        array([[ 2., -2.]])
    """

    def compute_output_shape(self, input_shape):
        """The inputs' one shape; exactly two of them (a list of shapes in)."""
        if len(input_shape) != 2:
            raise ValueError(f"Layer '{self.name}' (Subtract) needs a list of exactly 2 arrays. "
                             f"Received: {len(input_shape)} inputs with shapes {[tuple(s) for s in input_shape]}")
        return super().compute_output_shape(input_shape)

    def _forward(self, xs, training):
        self.compute_output_shape([x.shape for x in xs])
        return A.subtract_forward(xs, check=False)

    def _backward(self, dy, cache):
        return A.subtract_backward(dy, cache, check=False), {}
