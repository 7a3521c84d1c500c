"""Pooling layers over :mod:`numcnn.functional.pooling`."""

from __future__ import annotations

from .. import functional as F
from ..utils.validation import check_bool, standardize_data_format, standardize_padding, standardize_tuple
from ..functional.geometry import output_hw, resolve_padding
from ..functional.pooling import check_pool_input, check_pool_padding
from .base import Layer


class _Pooling2D(Layer):
    _forward_fn = None
    _backward_fn = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format="channels_last", **kwargs):
        self.pool_size = standardize_tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, 2, "strides")
        self.padding = standardize_padding(padding)
        check_pool_padding(self.padding, self.pool_size)
        self.data_format = standardize_data_format(data_format)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"Layer '{self.name}' needs 4D inputs (N, H, W, C) or (N, C, H, W). Received: inputs with shape {input_shape}")
        last = self.data_format == "channels_last"
        hw = input_shape[1:3] if last else input_shape[2:4]
        pads = resolve_padding(self.padding, hw, self.pool_size, self.strides, check=False)
        oh, ow = output_hw(hw, self.pool_size, self.strides, pads)
        n, c = input_shape[0], input_shape[3 if last else 1]
        return (n, oh, ow, c) if last else (n, c, oh, ow)

    def _forward(self, x, training):
        check_pool_input(x, self.data_format)
        return type(self)._forward_fn(x, self.pool_size, self.strides, self.padding, self.data_format, check=False)

    def _backward(self, dy, cache):
        return type(self)._backward_fn(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding if isinstance(self.padding, str) else [list(p) for p in self.padding],
                "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max pooling (Keras ``MaxPooling2D``); padding is -inf, the gradient goes to each window's first max.

    Args:
        pool_size: int or (ph, pw), default (2, 2).
        strides: int or (sh, sw); None means ``pool_size``.
        padding: ``"valid"``, ``"same"`` or explicit amounts smaller than the window.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Shape:
        input: (N, H, W, C); output: (N, OH, OW, C) (or channels first)
    """

    _forward_fn = staticmethod(F.max_pool2d_forward)
    _backward_fn = staticmethod(F.max_pool2d_backward)


class AveragePooling2D(_Pooling2D):
    """Average pooling (Keras ``AveragePooling2D``); windows average their real pixels only.

    Same arguments and shapes as :class:`MaxPooling2D`. With ``padding="same"`` the
    padded positions are left out of each mean (TensorFlow's rule).
    """

    _forward_fn = staticmethod(F.avg_pool2d_forward)
    _backward_fn = staticmethod(F.avg_pool2d_backward)


class _GlobalPooling2D(Layer):
    _forward_fn = None

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        self.data_format = standardize_data_format(data_format)
        self.keepdims = check_bool(keepdims, "keepdims")
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 4:  # else an IndexError below
            raise ValueError(
                f"Layer '{self.name}' needs 4D inputs (N, H, W, C) or (N, C, H, W). Received: inputs with shape {input_shape}")
        n = input_shape[0]
        if self.data_format == "channels_last":
            return (n, 1, 1, input_shape[3]) if self.keepdims else (n, input_shape[3])
        return (n, input_shape[1], 1, 1) if self.keepdims else (n, input_shape[1])

    def _forward(self, x, training):
        check_pool_input(x, self.data_format)
        return type(self)._forward_fn(x, self.data_format, self.keepdims, check=False)

    def _backward(self, dy, cache):
        return F.global_pool2d_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over H and W for each channel.

    Shape:
        input: (N, H, W, C); output: (N, C), or (N, 1, 1, C) with ``keepdims=True``
    """

    _forward_fn = staticmethod(F.global_avg_pool2d_forward)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Maximum over H and W for each channel (ties share the gradient). Shapes as GlobalAveragePooling2D."""

    _forward_fn = staticmethod(F.global_max_pool2d_forward)
