"""1D layers over sequences (Keras ``Conv1D``, ``MaxPooling1D``, ``AveragePooling1D``,
``GlobalAveragePooling1D``, ``GlobalMaxPooling1D``): thin layers over :mod:`numcnn.functional.one_d`."""

from __future__ import annotations

from ..functional import one_d as F1
from ..utils.validation import _is_int, _short, check_bool, check_int, standardize_tuple
from .base import Layer, check_axis_size


def _padding_config(padding):
    return padding if isinstance(padding, str) else list(padding)


def _check_rank(layer, input_shape):
    if len(input_shape) != 3:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) needs 3D inputs (N, L, C) or (N, C, L). "
            f"Received: inputs with shape {tuple(input_shape)}")


def _channel_axis(data_format):
    return -1 if data_format == "channels_last" else 1


class Conv1D(Layer):
    """1D convolution layer over sequences (Keras ``Conv1D``).

    Args:
        filters: number of output channels.
        kernel_size: int or (k,).
        strides: int or (s,).
        padding: ``"valid"``, ``"same"``, ``"causal"`` (``dilation_rate * (k - 1)`` zeros on the
            left only: ``output[t]`` never reads ``input[t + 1:]``), an int or ``(left, right)``.
        data_format: ``"channels_last"`` (N, L, C) or ``"channels_first"`` (N, C, L).
        dilation_rate: int or (d,).
        groups: channel groups (``groups == channels`` is depthwise).
        activation: None or an activation name (``"relu"``, ``"sigmoid"``, ...), applied after the bias.
        use_bias: add a per-filter bias.
        kernel_initializer, bias_initializer: initializer names or instances.
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable``, ``seed`` (see :class:`Layer`).

    Weights:
        kernel: (k, in_channels // groups, filters); bias: (filters,)

    Shape:
        input: (N, L, C) or (N, C, L)
        output: (N, OL, filters) or (N, filters, OL); ``OL = ceil(L / s)`` for "same" and "causal"

    Example:
        >>> conv = Conv1D(8, 3, padding="causal", dilation_rate=2, seed=0)
        >>> conv(np.zeros((4, 10, 16), np.float32)).shape
        (4, 10, 8)
        >>> [w.shape for w in conv.get_weights()]
        [(3, 16, 8), (8,)]
    """

    weight_order = ("kernel", "bias")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format="channels_last",
                 dilation_rate=1, groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        self.filters = check_int(filters, "filters")
        self.kernel_size = standardize_tuple(kernel_size, 1, "kernel_size")
        self.strides = standardize_tuple(strides, 1, "strides")
        self.padding = F1.standardize_padding_1d(padding)
        self.data_format = F1.standardize_data_format_1d(data_format)
        self.dilation_rate = standardize_tuple(dilation_rate, 1, "dilation_rate")
        if not _is_int(groups) or groups < 1 or self.filters % int(groups):
            raise ValueError(
                f"The `groups` argument must be a positive int that divides filters ({self.filters}). "
                f"Received: groups={_short(groups)}")
        self.groups = int(groups)
        self._set_kernel_options(activation, use_bias, kernel_initializer, bias_initializer)
        super().__init__(**kwargs)

    def build(self, input_shape):
        _check_rank(self, input_shape)
        axis = _channel_axis(self.data_format)
        channels = input_shape[axis]
        if channels == 0:
            raise ValueError(f"Layer '{self.name}' (Conv1D) needs inputs with at least one channel (axis {axis}). "
                             f"Received: inputs with shape {tuple(input_shape)}")
        if channels % self.groups:
            raise ValueError(
                f"The `groups` argument ({self.groups}) must divide the input channels. Received: {channels} channels")
        self.add_weight("kernel", (self.kernel_size[0], channels // self.groups, self.filters), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape)
        n = input_shape[0]
        length = F1.output_length(input_shape[F1.length_axis(self.data_format)], self.kernel_size[0], self.strides[0],
                                  self.padding, self.dilation_rate[0])
        return (n, length, self.filters) if self.data_format == "channels_last" else (n, self.filters, length)

    def _forward(self, x, training):
        _check_rank(self, x.shape)
        check_axis_size(self, x, _channel_axis(self.data_format), self.params["kernel"].shape[1] * self.groups,
                        "input channels")
        z, conv_cache = F1.conv1d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides,
                                          self.padding, self.dilation_rate, self.groups, self.data_format, check=False)
        y, act_cache = self._act_forward(z, check=False)
        return y, (conv_cache, act_cache)

    def _backward(self, dy, cache):
        conv_cache, act_cache = cache
        dz = self._act_backward(dy, act_cache, check=False)
        dx, dkernel, dbias = F1.conv1d_backward(dz, conv_cache, check=False)
        grads = {"kernel": dkernel}
        if self.use_bias:
            grads["bias"] = dbias
        return dx, grads

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": _padding_config(self.padding), "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate), "groups": self.groups, **self._kernel_options_config(),
        }


class _Pooling1D(Layer):
    _forward_fn = None
    _backward_fn = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format="channels_last", **kwargs):
        self.pool_size = standardize_tuple(pool_size, 1, "pool_size")
        self.strides = self.pool_size if strides is None else standardize_tuple(strides, 1, "strides")
        self.padding = F1.standardize_padding_1d(padding, allow_causal=False)
        F1.check_pool1d_padding(self.padding, self.pool_size)
        self.data_format = F1.standardize_data_format_1d(data_format)
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape)
        length = F1.output_length(input_shape[F1.length_axis(self.data_format)], self.pool_size[0], self.strides[0],
                                  self.padding)
        n, c = input_shape[0], input_shape[_channel_axis(self.data_format)]
        return (n, length, c) if self.data_format == "channels_last" else (n, c, length)

    def _forward(self, x, training):
        F1.check_pool1d_input(x, self.data_format)
        return type(self)._forward_fn(x, self.pool_size, self.strides, self.padding, self.data_format, check=False)

    def _backward(self, dy, cache):
        return type(self)._backward_fn(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": _padding_config(self.padding), "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """Max pooling over steps (Keras ``MaxPooling1D``); padding is -inf, the gradient goes to each
    window's first maximum.

    Args:
        pool_size: int or (p,), default 2.
        strides: int or (s,); None means ``pool_size``.
        padding: ``"valid"``, ``"same"`` (output ``ceil(L / s)``, the extra step on the right), or an
            int or ``(left, right)`` smaller than the window.
        data_format: ``"channels_last"`` (N, L, C) or ``"channels_first"`` (N, C, L).

    Shape:
        input: (N, L, C) or (N, C, L)
        output: (N, OL, C) or (N, C, OL)
    """

    _forward_fn = staticmethod(F1.max_pool1d_forward)
    _backward_fn = staticmethod(F1.max_pool1d_backward)


class AveragePooling1D(_Pooling1D):
    """Average pooling over steps (Keras ``AveragePooling1D``); windows average their real steps only.

    Same arguments and shapes as :class:`MaxPooling1D`. With ``padding="same"`` the padded
    positions are left out of each mean (TensorFlow's rule).
    """

    _forward_fn = staticmethod(F1.avg_pool1d_forward)
    _backward_fn = staticmethod(F1.avg_pool1d_backward)


class _GlobalPooling1D(Layer):
    _forward_fn = None

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        self.data_format = F1.standardize_data_format_1d(data_format)
        self.keepdims = check_bool(keepdims, "keepdims")
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        _check_rank(self, input_shape)
        n = input_shape[0]
        if self.data_format == "channels_last":
            return (n, 1, input_shape[2]) if self.keepdims else (n, input_shape[2])
        return (n, input_shape[1], 1) if self.keepdims else (n, input_shape[1])

    def _forward(self, x, training):
        F1.check_pool1d_input(x, self.data_format)
        return type(self)._forward_fn(x, self.data_format, self.keepdims, check=False)

    def _backward(self, dy, cache):
        return F1.global_pool1d_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps for each channel (Keras ``GlobalAveragePooling1D``, without masks).

    Args:
        data_format: ``"channels_last"`` (N, L, C) or ``"channels_first"`` (N, C, L).
        keepdims: keep the length axis, with size 1.

    Shape:
        input: (N, L, C) or (N, C, L)
        output: (N, C), or (N, 1, C) / (N, C, 1) with ``keepdims=True``
    """

    _forward_fn = staticmethod(F1.global_avg_pool1d_forward)


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Maximum over the steps for each channel (Keras ``GlobalMaxPooling1D``); ties share the gradient.

    Arguments and shapes as :class:`GlobalAveragePooling1D`.
    """

    _forward_fn = staticmethod(F1.global_max_pool1d_forward)
