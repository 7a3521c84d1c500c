"""``DepthwiseConv2D``, ``SeparableConv2D`` and ``Conv2DTranspose``: thin layers over
:mod:`numcnn.functional.depthwise` and :mod:`numcnn.functional.conv_transpose`."""

from __future__ import annotations

from .. import initializers
from ..functional import get_activation
from ..functional.conv_transpose import (
    check_output_padding,
    conv2d_transpose_backward,
    conv2d_transpose_forward,
    conv_transpose_output_hw,
)
from ..functional.depthwise import (
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from ..functional.geometry import output_hw, resolve_padding
from ..utils.validation import check_bool, check_int, standardize_data_format, standardize_padding, standardize_tuple
from .base import Layer, check_axis_size


class _ConvVariant(Layer):
    """What the three layers share: the spatial arguments, the activation, the initializers, the checks."""

    def _set_spatial(self, kernel_size, strides, padding, data_format, dilation_rate):
        self.kernel_size = standardize_tuple(kernel_size, 2, "kernel_size")
        self.strides = standardize_tuple(strides, 2, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate")

    def _set_options(self, activation, use_bias, **initializer_args):
        """The fused activation, the bias switch and the named initializers (``depthwise_initializer``...)."""
        self.activation = activation
        self._act_forward, self._act_backward = get_activation(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        self._init_names = initializer_args
        for argument, identifier in initializer_args.items():
            setattr(self, argument, initializers.get(identifier, argument))

    def _options_config(self) -> dict:
        return {"activation": self.activation, "use_bias": self.use_bias,
                **{argument: initializers.serialize(identifier) for argument, identifier in self._init_names.items()}}

    def _spatial_config(self) -> dict:
        return {"kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding if isinstance(self.padding, str) else [list(p) for p in self.padding],
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate)}

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _check_rank(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) needs 4D inputs (N, H, W, C) or (N, C, H, W). "
                f"Received: inputs with shape {tuple(input_shape)}")

    def _input_channels(self, input_shape):
        """The channels of ``input_shape`` (refused when 0, as Conv2D refuses them)."""
        self._check_rank(input_shape)
        channels = input_shape[self._channel_axis()]
        if channels == 0:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) needs inputs with at least one channel "
                             f"(axis {self._channel_axis()}). Received: inputs with shape {tuple(input_shape)}")
        return channels

    def _hw(self, input_shape):
        return tuple(input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4])

    def _conv_output_shape(self, input_shape, channels_out):
        """Output shape of a convolution with this layer's spatial arguments (the depthwise step)."""
        hw = self._hw(input_shape)
        pads = resolve_padding(self.padding, hw, self.kernel_size, self.strides, self.dilation_rate, check=False)
        oh, ow = output_hw(hw, self.kernel_size, self.strides, pads, self.dilation_rate)
        n = input_shape[0]
        return (n, oh, ow, channels_out) if self.data_format == "channels_last" else (n, channels_out, oh, ow)


class DepthwiseConv2D(_ConvVariant):
    """Depthwise 2D convolution (Keras ``DepthwiseConv2D``): each input channel convolved on its own.

    Output channel ``c * depth_multiplier + m`` is input channel ``c`` convolved with
    ``kernel[:, :, c, m]``; channels are never mixed (see :func:`numcnn.functional.depthwise_conv2d`).

    Args:
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: ``"valid"``, ``"same"``, an int, a pair or ``((top, bottom), (left, right))``.
        depth_multiplier: output channels per input channel.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).
        dilation_rate: int or (dh, dw).
        activation: None or an activation name, applied after the bias.
        use_bias: add a bias per output channel.
        depthwise_initializer, bias_initializer: initializer names or instances.
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable``, ``seed`` (see :class:`Layer`).

    Weights:
        kernel: (kh, kw, in_channels, depth_multiplier); bias: (in_channels * depth_multiplier,)

    Shape:
        input: (N, H, W, C) or (N, C, H, W)
        output: (N, OH, OW, C * depth_multiplier) or (N, C * depth_multiplier, OH, OW), OH and OW as Conv2D's

    Example:
        >>> layer = DepthwiseConv2D(3, depth_multiplier=2, padding="same", seed=0)
        >>> layer(np.zeros((1, 8, 8, 3), np.float32)).shape
        (1, 8, 8, 6)
        >>> [w.shape for w in layer.get_weights()]
        [(3, 3, 3, 2), (6,)]
    """

    weight_order = ("kernel", "bias")

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format="channels_last",
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        self._set_spatial(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = check_int(depth_multiplier, "depth_multiplier")
        self._set_options(activation, use_bias, depthwise_initializer=depthwise_initializer,
                          bias_initializer=bias_initializer)
        super().__init__(**kwargs)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.add_weight("kernel", (*self.kernel_size, channels, self.depth_multiplier), self.depthwise_initializer)
        if self.use_bias:
            self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return self._conv_output_shape(input_shape, self._input_channels(input_shape) * self.depth_multiplier)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        check_axis_size(self, x, self._channel_axis(), self.params["kernel"].shape[2], "input channels")
        z, conv_cache = depthwise_conv2d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides,
                                                 self.padding, self.dilation_rate, self.data_format, check=False)
        y, act_cache = self._act_forward(z, check=False)
        return y, (conv_cache, act_cache)

    def _backward(self, dy, cache):
        conv_cache, act_cache = cache
        dz = self._act_backward(dy, act_cache, check=False)
        dx, dkernel, dbias = depthwise_conv2d_backward(dz, conv_cache, check=False)
        return dx, ({"kernel": dkernel, "bias": dbias} if self.use_bias else {"kernel": dkernel})

    def get_config(self):
        return {**super().get_config(), **self._spatial_config(), "depth_multiplier": self.depth_multiplier,
                **self._options_config()}


class SeparableConv2D(_ConvVariant):
    """Depthwise-separable 2D convolution (Keras ``SeparableConv2D``): a depthwise convolution, then a 1x1
    convolution that mixes the channels, then the bias (see :func:`numcnn.functional.separable_conv2d`).

    Args:
        filters: output channels of the pointwise (1x1) step.
        kernel_size, strides, padding, data_format, dilation_rate: of the depthwise step, as Conv2D's.
        depth_multiplier: channels the depthwise step makes per input channel.
        activation: None or an activation name, applied after the bias.
        use_bias: add a per-filter bias.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializer names or instances.
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable``, ``seed`` (see :class:`Layer`).

    Weights:
        depthwise_kernel: (kh, kw, in_channels, depth_multiplier);
        pointwise_kernel: (1, 1, in_channels * depth_multiplier, filters); bias: (filters,)

    Shape:
        input: (N, H, W, C) or (N, C, H, W)
        output: (N, OH, OW, filters) or (N, filters, OH, OW), OH and OW as Conv2D's

    Example:
        >>> layer = SeparableConv2D(4, 3, seed=0)
        >>> layer(np.zeros((1, 8, 8, 3), np.float32)).shape
        (1, 6, 6, 4)
        >>> [w.shape for w in layer.get_weights()]
        [(3, 3, 3, 1), (1, 1, 3, 4), (4,)]
    """

    weight_order = ("depthwise_kernel", "pointwise_kernel", "bias")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format="channels_last", dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        self.filters = check_int(filters, "filters")
        self._set_spatial(kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = check_int(depth_multiplier, "depth_multiplier")
        self._set_options(activation, use_bias, depthwise_initializer=depthwise_initializer,
                          pointwise_initializer=pointwise_initializer, bias_initializer=bias_initializer)
        super().__init__(**kwargs)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.add_weight("depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier),
                        self.depthwise_initializer)
        self.add_weight("pointwise_kernel", (1, 1, channels * self.depth_multiplier, self.filters),
                        self.pointwise_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        self._input_channels(input_shape)
        return self._conv_output_shape(input_shape, self.filters)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        check_axis_size(self, x, self._channel_axis(), self.params["depthwise_kernel"].shape[2], "input channels")
        z, conv_cache = separable_conv2d_forward(
            x, self.params["depthwise_kernel"], self.params["pointwise_kernel"], self.params.get("bias"),
            self.strides, self.padding, self.dilation_rate, self.data_format, check=False)
        y, act_cache = self._act_forward(z, check=False)
        return y, (conv_cache, act_cache)

    def _backward(self, dy, cache):
        conv_cache, act_cache = cache
        dz = self._act_backward(dy, act_cache, check=False)
        dx, ddepthwise, dpointwise, dbias = separable_conv2d_backward(dz, conv_cache, check=False)
        grads = {"depthwise_kernel": ddepthwise, "pointwise_kernel": dpointwise}
        if self.use_bias:
            grads["bias"] = dbias
        return dx, grads

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._spatial_config(),
                "depth_multiplier": self.depth_multiplier, **self._options_config()}


class Conv2DTranspose(_ConvVariant):
    """Transposed 2D convolution (Keras ``Conv2DTranspose``), the input gradient of a Conv2D run forwards:
    each input pixel adds ``value * kernel`` onto the output, ``strides`` apart (an upsampling layer).

    Args:
        filters: output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: ``"valid"`` (output ``(H-1)*sh + max(ekh, sh)``, ``ekh = (kh-1)*dh + 1``) or ``"same"``
            (output ``H*sh``), Keras's rules; or an int, a pair or ``((top, bottom), (left, right))``:
            rows cut from the full output, PyTorch's ``padding`` (the padding of the Conv2D it transposes).
        output_padding: None, an int or (oh, ow), each smaller than its stride: rows added at the
            bottom/right (Keras's meaning for "valid"/"same": with it, "same" gives
            ``(H-1)*sh + ekh % 2 + oh``; PyTorch's for explicit padding).
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).
        dilation_rate: int or (dh, dw).
        activation: None or an activation name, applied after the bias.
        use_bias: add a per-filter bias.
        kernel_initializer, bias_initializer: initializer names or instances.
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable``, ``seed`` (see :class:`Layer`).

    Weights:
        kernel: (kh, kw, filters, in_channels) (Keras's layout); bias: (filters,)

    Shape:
        input: (N, H, W, C) or (N, C, H, W)
        output: (N, OH, OW, filters) or (N, filters, OH, OW)

    Example:
        >>> layer = Conv2DTranspose(4, 3, strides=2, padding="same", seed=0)
        >>> layer(np.zeros((1, 5, 5, 3), np.float32)).shape
        (1, 10, 10, 4)
        >>> [w.shape for w in layer.get_weights()]
        [(3, 3, 4, 3), (4,)]
    """

    weight_order = ("kernel", "bias")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        self.filters = check_int(filters, "filters")
        self._set_spatial(kernel_size, strides, padding, data_format, dilation_rate)
        self.output_padding = check_output_padding(output_padding, self.strides)
        self._set_options(activation, use_bias, kernel_initializer=kernel_initializer,
                          bias_initializer=bias_initializer)
        super().__init__(**kwargs)

    def build(self, input_shape):
        channels = self._input_channels(input_shape)
        self.add_weight("kernel", (*self.kernel_size, self.filters, channels), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        self._input_channels(input_shape)
        oh, ow = conv_transpose_output_hw(self._hw(input_shape), self.kernel_size, self.strides, self.padding,
                                          self.output_padding, self.dilation_rate)
        n = input_shape[0]
        return (n, oh, ow, self.filters) if self.data_format == "channels_last" else (n, self.filters, oh, ow)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        check_axis_size(self, x, self._channel_axis(), self.params["kernel"].shape[3], "input channels")
        z, conv_cache = conv2d_transpose_forward(x, self.params["kernel"], self.params.get("bias"), self.strides,
                                                 self.padding, self.output_padding, self.dilation_rate,
                                                 self.data_format, check=False)
        y, act_cache = self._act_forward(z, check=False)
        return y, (conv_cache, act_cache)

    def _backward(self, dy, cache):
        conv_cache, act_cache = cache
        dz = self._act_backward(dy, act_cache, check=False)
        dx, dkernel, dbias = conv2d_transpose_backward(dz, conv_cache, check=False)
        return dx, ({"kernel": dkernel, "bias": dbias} if self.use_bias else {"kernel": dkernel})

    def get_config(self):
        output_padding = None if self.output_padding is None else list(self.output_padding)
        config = {**super().get_config(), "filters": self.filters, **self._spatial_config(),
                  "output_padding": output_padding, **self._options_config()}
        return config


__all__ = ["Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D"]
