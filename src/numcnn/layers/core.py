"""Dense, shape and activation layers, and Dropout."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..utils.validation import _is_int, _short, check_int, check_number, standardize_data_format
from .base import Layer, check_axis_size


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)`` on the last axis.

    Args:
        units: output features.
        activation: None or an activation name.
        use_bias: add a bias.
        kernel_initializer, bias_initializer: initializer names or instances.

    Weights:
        kernel: (in_features, units); bias: (units,)

    Shape:
        input: (N, ..., in_features); output: (N, ..., units)

    Example:
        >>> Dense(49, input_shape=(49,)).count_params()   # note 000: a 7x7 image to a 7x7 output
        2450
    """

    weight_order = ("kernel", "bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        self.units = check_int(units, "units")
        self._set_kernel_options(activation, use_bias, kernel_initializer, bias_initializer)
        super().__init__(**kwargs)

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Layer '{self.name}' (Dense) needs inputs of shape (N, features). Received: {input_shape}")
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def _forward(self, x, training):
        if x.ndim < 2:
            raise ValueError(f"Layer '{self.name}' (Dense) needs inputs of shape (N, features). Received: {x.shape}")
        check_axis_size(self, x, -1, self.params["kernel"].shape[0], "input features")
        z, dense_cache = F.dense_forward(x, self.params["kernel"], self.params.get("bias"), check=False)
        y, act_cache = self._act_forward(z, check=False)
        return y, (dense_cache, act_cache)

    def _backward(self, dy, cache):
        dense_cache, act_cache = cache
        dx, dkernel, dbias = F.dense_backward(self._act_backward(dy, act_cache, check=False), dense_cache, check=False)
        return dx, ({"kernel": dkernel, "bias": dbias} if self.use_bias else {"kernel": dkernel})

    def get_config(self):
        return {**super().get_config(), "units": self.units, **self._kernel_options_config()}


class Flatten(Layer):
    """Flatten each sample to a vector.

    With ``data_format="channels_first"`` the channels are moved last first, as Keras
    does, so a model keeps its Dense weights when switching data formats.

    Shape:
        input: (N, d1, d2, ...); output: (N, d1 * d2 * ...)
    """

    def __init__(self, data_format="channels_last", **kwargs):
        self.data_format = standardize_data_format(data_format)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], math.prod(input_shape[1:]))

    def _forward(self, x, training):
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], math.prod(x.shape[1:])), x.shape  # not -1: ambiguous for a batch of 0

    def _backward(self, dy, cache):
        dx = dy.reshape(cache)
        if self.data_format == "channels_first" and len(cache) > 2:
            dx = np.moveaxis(dx, -1, 1)
        return dx, {}

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1).

    Shape:
        input: (N, ...); output: (N, *target_shape)
    """

    def __init__(self, target_shape, **kwargs):
        if not isinstance(target_shape, (tuple, list)) or not all(
                _is_int(d) and (d > 0 or d == -1) for d in target_shape) or list(target_shape).count(-1) > 1:
            raise ValueError(
                "The `target_shape` argument must be a tuple of positive ints (one may be -1). "
                f"Received: target_shape={_short(target_shape)}")
        self.target_shape = tuple(int(d) for d in target_shape)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and size != known):
            raise ValueError(
                f"Layer '{self.name}' cannot reshape samples of shape {tuple(input_shape[1:])} to {self.target_shape}. "
                f"Received: inputs with shape {tuple(input_shape)}")
        return (input_shape[0], *(size // known if d == -1 else d for d in self.target_shape))

    def _forward(self, x, training):
        shape = self.compute_output_shape(x.shape)
        return x.reshape(shape), x.shape

    def _backward(self, dy, cache):
        return dy.reshape(cache), {}

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Rescaling(Layer):
    """``y = x * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for pixel data)."""

    def __init__(self, scale, offset=0.0, **kwargs):
        self.scale, self.offset = check_number(scale, "scale"), check_number(offset, "offset")
        super().__init__(**kwargs)

    def _forward(self, x, training):
        return x * self.dtype.type(self.scale) + self.dtype.type(self.offset), None

    def _backward(self, dy, cache):
        return dy * self.dtype.type(self.scale), {}

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Activation(Layer):
    """Apply a named activation (``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``, ``"leaky_relu"``, ``"linear"``).

    Shape:
        input: any; output: same as input.
    """

    def __init__(self, activation, **kwargs):
        self.activation = activation
        self._act_forward, self._act_backward = F.get_activation(activation)
        super().__init__(**kwargs)

    def _forward(self, x, training):
        return self._act_forward(x, check=False)

    def _backward(self, dy, cache):
        return self._act_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class ReLU(Layer):
    """``max(x, 0)``. Shape: any -> same."""

    def _forward(self, x, training):
        return F.relu_forward(x, check=False)

    def _backward(self, dy, cache):
        return F.relu_backward(dy, cache, check=False), {}


class LeakyReLU(Layer):
    """``x`` if ``x > 0`` else ``negative_slope * x`` (Keras layer default 0.3). Shape: any -> same."""

    def __init__(self, negative_slope=0.3, **kwargs):
        self.negative_slope = check_number(negative_slope, "negative_slope", low=0)
        super().__init__(**kwargs)

    def _forward(self, x, training):
        return F.leaky_relu_forward(x, self.negative_slope, check=False)

    def _backward(self, dy, cache):
        return F.leaky_relu_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax along ``axis`` (default last). Shape: any -> same."""

    def __init__(self, axis=-1, **kwargs):
        if not _is_int(axis):
            raise ValueError(f"The `axis` argument must be an int. Received: axis={_short(axis)}")
        self.axis = int(axis)
        super().__init__(**kwargs)

    def _forward(self, x, training):
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"Layer '{self.name}' (Softmax) normalises axis {self.axis}, which {x.ndim}D inputs "
                             f"do not have. Received: inputs with shape {x.shape}")
        return F.softmax_forward(x, self.axis, check=False)

    def _backward(self, dy, cache):
        return F.softmax_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability ``rate`` and scale the
    rest by ``1 / (1 - rate)``; at inference, the identity.

    Masks come from the layer's Generator (``seed=``, or the one its model hands down).

    Shape:
        input: any; output: same as input.
    """

    def __init__(self, rate, **kwargs):
        self.rate = check_number(rate, "rate", 0, 1, high_open=True)
        super().__init__(**kwargs)

    def _forward(self, x, training):
        return F.dropout_forward(x, self.rate if training else 0.0, self.rng, check=False)

    def _backward(self, dy, cache):
        return F.dropout_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}
