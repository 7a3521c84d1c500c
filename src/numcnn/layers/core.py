"""Dense, shape and activation layers, Dropout and SpatialDropout2D."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import initializers
from ..functional.dropout import noise_shape_for
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
    """``y = x * scale + offset`` (e.g. ``Rescaling(1 / 255)`` for pixel data).

    ``scale`` and ``offset`` are numbers, or arrays (nested lists) broadcast against one sample, as
    in Keras: ``Rescaling([1 / 0.229, 1 / 0.224, 1 / 0.225], [-0.485 / 0.229, ...])`` normalises
    each channel of NHWC images.

    Shape:
        input: any; output: same as input.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        self.scale, self.offset = _number_or_array(scale, "scale"), _number_or_array(offset, "offset")
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            shape = np.shape(value)
            try:
                fits = np.broadcast_shapes(tuple(input_shape[1:]), shape) == tuple(input_shape[1:])
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"Layer '{self.name}' (Rescaling): the `{name}` argument, of shape {shape}, must "
                                 f"broadcast to one sample of its input. Received: inputs with shape "
                                 f"{tuple(input_shape)}")
        return tuple(input_shape)

    def _forward(self, x, training):
        if np.ndim(self.scale) or np.ndim(self.offset):
            self.compute_output_shape(x.shape)
        scale, offset = (np.asarray(v, self.dtype) for v in (self.scale, self.offset))
        return x * scale + offset, None

    def _backward(self, dy, cache):
        return dy * np.asarray(self.scale, self.dtype), {}

    def get_config(self):
        def plain(value):
            return value.tolist() if isinstance(value, np.ndarray) else value
        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


def _number_or_array(value, name):
    """A finite float, or a float64 array of int or float numbers (NaN and infinity pass, as in the ops)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            array = np.asarray(value)
        except ValueError:  # ragged nesting
            array = None
        # np.array(..., dtype=float64) would read "1.5" as a number and None as NaN: ints and floats only
        if array is None or array.dtype.kind not in "iuf" or array.size == 0:
            raise ValueError(f"The `{name}` argument must be a number or a non-empty array of numbers. "
                             f"Received: {name}={_short(value)}")
        return check_number(array.item(), name) if array.ndim == 0 else array.astype(np.float64)
    return check_number(value, name)


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
    """Rectified linear unit with Keras' options: ``max(x, 0)`` by default, ``ReLU(max_value=6)`` is ReLU6.

    ``y = min(x, max_value)`` where ``x > threshold``, ``negative_slope * (x - threshold)`` elsewhere
    (0 at ``x == threshold``, as Keras computes it). The gradient is 1 strictly between ``threshold``
    and ``max_value``, 0 from ``max_value`` on (as PyTorch's ``relu6``/``hardtanh``: 0 at exactly 6)
    and ``negative_slope`` at and below ``threshold`` (0 at exactly 0 for the plain ReLU, as PyTorch).

    Args:
        max_value: None (unbounded) or the largest output, a number >= 0.
        negative_slope: the slope below ``threshold``, a number >= 0.
        threshold: where the unit bends, a number >= 0.

    Shape:
        input: any; output: same as input.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        self.max_value = None if max_value is None else check_number(max_value, "max_value", low=0)
        self.negative_slope = check_number(negative_slope, "negative_slope", low=0)
        self.threshold = check_number(threshold, "threshold", low=0)
        plain = self.max_value is None and self.negative_slope == 0 and self.threshold == 0
        # the plain ReLU calls relu_forward with no option: the same path as before the options existed
        self._options = () if plain else (self.negative_slope, self.max_value, self.threshold)
        super().__init__(**kwargs)

    def _forward(self, x, training):
        return F.relu_forward(x, *self._options, check=False)

    def _backward(self, dy, cache):
        return F.relu_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


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


class PReLU(Layer):
    """Parametric ReLU (Keras ``PReLU``): ``x`` where ``x > 0``, ``alpha * x`` elsewhere, with ``alpha``
    learned for each position of a sample, or shared along ``shared_axes``.

    Args:
        alpha_initializer: initializer of ``alpha`` (default ``"zeros"``, as Keras: a ReLU at first).
        shared_axes: axes (counted from 1, after the batch) that share one ``alpha``; ``[1, 2]`` on
            NHWC images gives one ``alpha`` per channel, as ``torch.nn.PReLU(C)`` and ONNX ``PRelu``.

    Weights:
        alpha: one sample's shape with the shared axes of size 1.

    Shape:
        input: (N, ...); output: same.
    """

    weight_order = ("alpha",)

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        if shared_axes is not None and _is_int(shared_axes):
            shared_axes = [shared_axes]
        if shared_axes is not None and (not isinstance(shared_axes, (list, tuple)) or not all(
                _is_int(a) and a >= 1 for a in shared_axes)):
            raise ValueError("The `shared_axes` argument must be None, an int or a list of ints >= 1 (axes after "
                             f"the batch). Received: shared_axes={_short(shared_axes)}")
        self.shared_axes = None if shared_axes is None else sorted({int(a) for a in shared_axes})
        self.alpha_initializer = initializers.get(alpha_initializer, "alpha_initializer")
        super().__init__(**kwargs)

    def _alpha_shape(self, input_shape):
        shared = self.shared_axes or []
        if any(a >= len(input_shape) for a in shared):
            raise ValueError(f"Layer '{self.name}' (PReLU): the `shared_axes` argument must name axes from 1 to "
                             f"{len(input_shape) - 1} of its input. Received: shared_axes={shared} for inputs with "
                             f"shape {tuple(input_shape)}")
        return tuple(1 if axis in shared else d for axis, d in enumerate(input_shape) if axis > 0)

    def build(self, input_shape):
        self.add_weight("alpha", self._alpha_shape(input_shape), self.alpha_initializer)

    def compute_output_shape(self, input_shape):
        self._alpha_shape(input_shape)
        if self.built and self._alpha_shape(input_shape) != self.params["alpha"].shape:
            raise ValueError(f"Layer '{self.name}' (PReLU) was built for samples of alpha shape "
                             f"{self.params['alpha'].shape}. Received: inputs with shape {tuple(input_shape)}")
        return tuple(input_shape)

    def _forward(self, x, training):
        self.compute_output_shape(x.shape)
        return F.prelu_forward(x, self.params["alpha"], check=False)

    def _backward(self, dy, cache):
        dx, dalpha = F.prelu_backward(dy, cache, check=False)
        return dx, {"alpha": dalpha}

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "shared_axes": self.shared_axes}


class Clip(Layer):
    """``min(max(x, min_value), max_value)``: ONNX ``Clip`` and ``torch.clamp`` as a layer (Keras has it as
    ``keras.ops.clip``; for ``min_value=0`` use ``ReLU(max_value=...)``, Keras' ReLU6).

    Args:
        min_value, max_value: the bounds; None for no bound on that side.

    Shape:
        input: any; output: same.
    """

    def __init__(self, min_value=None, max_value=None, **kwargs):
        self.min_value, self.max_value = F.check_clip_bounds(min_value, max_value)
        super().__init__(**kwargs)

    def _forward(self, x, training):
        return F.clip_forward(x, self.min_value, self.max_value, check=False)

    def _backward(self, dy, cache):
        return F.clip_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "min_value": self.min_value, "max_value": self.max_value}


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

    Args:
        rate: the probability of dropping an input, in [0, 1).
        noise_shape: None (each input drawn on its own) or, as Keras, one entry per input axis:
            1 where inputs share a draw, None (or the input's size) where they do not; e.g.
            ``(None, 1, 1, None)`` drops whole feature maps of an NHWC batch.

    Shape:
        input: any; output: same as input.
    """

    def __init__(self, rate, noise_shape=None, **kwargs):
        self.rate = check_number(rate, "rate", 0, 1, high_open=True)
        if noise_shape is not None and (not isinstance(noise_shape, (tuple, list)) or not all(
                d is None or _is_int(d) and d > 0 for d in noise_shape)):
            raise ValueError("The `noise_shape` argument must be None or a tuple of positive ints or None, one per "
                             f"input axis. Received: noise_shape={_short(noise_shape)}")
        self.noise_shape = None if noise_shape is None else tuple(None if d is None else int(d) for d in noise_shape)
        super().__init__(**kwargs)

    def _noise_shape(self, x):
        """The shape of the draws for ``x`` (None: one per input)."""
        return None if self.noise_shape is None else noise_shape_for(self.noise_shape, x.shape)

    def _forward(self, x, training):
        if not training or self.rate == 0:
            return x, None
        return F.dropout_forward(x, self.rate, self.rng, self._noise_shape(x), check=False)

    def _backward(self, dy, cache):
        return F.dropout_backward(dy, cache, check=False), {}

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape}


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps (Keras ``SpatialDropout2D``): in training, each channel of each
    sample is zeroed with probability ``rate`` (one draw per sample and channel) and the others are
    scaled by ``1 / (1 - rate)``; at inference, the identity.

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    regularises little; dropping the whole map does (Tompson et al., 2014). Masks come from the
    layer's Generator, as :class:`Dropout`'s.

    Args:
        rate: the probability of dropping a feature map, in [0, 1).
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).

    Shape:
        input: (N, H, W, C) or (N, C, H, W); output: same as input.
    """

    def __init__(self, rate, data_format="channels_last", **kwargs):
        self.data_format = standardize_data_format(data_format)
        super().__init__(rate, noise_shape=None, **kwargs)

    def _check_rank(self, shape):
        if len(shape) != 4:
            layout = "(N, H, W, C)" if self.data_format == "channels_last" else "(N, C, H, W)"
            raise ValueError(f"Layer '{self.name}' (SpatialDropout2D) needs 4D inputs {layout}. "
                             f"Received: inputs with shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return tuple(input_shape)

    def _noise_shape(self, x):
        n, a, b, c = x.shape
        return (n, 1, 1, c) if self.data_format == "channels_last" else (n, a, 1, 1)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        return super()._forward(x, training)

    def get_config(self):
        config = super().get_config()
        del config["noise_shape"]  # fixed by data_format, as in Keras' config
        return {**config, "data_format": self.data_format}
