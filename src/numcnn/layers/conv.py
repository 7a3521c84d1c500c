"""``Conv2D``: a thin layer over :func:`numcnn.functional.conv2d`."""

from __future__ import annotations

from .. import functional as F
from ..utils.validation import _is_int, _short, check_int, standardize_data_format, standardize_padding, standardize_tuple
from ..functional.geometry import output_hw, resolve_padding
from .base import Layer, check_axis_size
from .tape import in_inference, input_gradient_wanted


class Conv2D(Layer):
    """2D convolution layer (Keras ``Conv2D``).

    Args:
        filters: number of output channels.
        kernel_size: int or (kh, kw).
        strides: int or (sh, sw).
        padding: ``"valid"``, ``"same"``, an int, a pair or ``((top, bottom), (left, right))``.
        data_format: ``"channels_last"`` (N, H, W, C) or ``"channels_first"`` (N, C, H, W).
        dilation_rate: int or (dh, dw).
        groups: channel groups (``groups == channels`` is depthwise).
        activation: None or an activation name (``"relu"``, ``"sigmoid"``, ...), applied after the bias.
        use_bias: add a per-filter bias.
        kernel_initializer, bias_initializer: initializer names or instances.
        **kwargs: ``name``, ``input_shape``, ``dtype``, ``trainable``, ``seed`` (see :class:`Layer`).

    Weights:
        kernel: (kh, kw, in_channels // groups, filters); bias: (filters,)

    Shape:
        input: (N, H, W, C) or (N, C, H, W)
        output: (N, OH, OW, filters) or (N, filters, OH, OW)

    Example:
        >>> conv = Conv2D(10, 3, seed=0)
        >>> conv(np.zeros((1, 28, 28, 3), np.float32)).shape   # note 001
        (1, 26, 26, 10)
        >>> [w.shape for w in conv.get_weights()]
        [(3, 3, 3, 10), (10,)]
    """

    weight_order = ("kernel", "bias")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format="channels_last",
                 dilation_rate=1, groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        self.filters = check_int(filters, "filters")
        self.kernel_size = standardize_tuple(kernel_size, 2, "kernel_size")
        self.strides = standardize_tuple(strides, 2, "strides")
        self.padding = standardize_padding(padding)
        self.data_format = standardize_data_format(data_format)
        self.dilation_rate = standardize_tuple(dilation_rate, 2, "dilation_rate")
        if not _is_int(groups) or groups < 1 or self.filters % int(groups):  # int: 2**63 % np.int64 overflows
            raise ValueError(
                f"The `groups` argument must be a positive int that divides filters ({self.filters}). "
                f"Received: groups={_short(groups)}")
        self.groups = int(groups)
        self._set_kernel_options(activation, use_bias, kernel_initializer, bias_initializer)
        super().__init__(**kwargs)

    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def _check_rank(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"Layer '{self.name}' (Conv2D) needs 4D inputs (N, H, W, C) or (N, C, H, W). "
                f"Received: inputs with shape {tuple(input_shape)}")

    def build(self, input_shape):
        self._check_rank(input_shape)
        channels = input_shape[self._channel_axis()]
        if channels == 0:
            raise ValueError(f"Layer '{self.name}' (Conv2D) needs inputs with at least one channel (axis "
                             f"{self._channel_axis()}). Received: inputs with shape {tuple(input_shape)}")
        if channels % self.groups:
            raise ValueError(
                f"The `groups` argument ({self.groups}) must divide the input channels. Received: {channels} channels")
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, channels // self.groups, self.filters), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        n = input_shape[0]
        hw = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        pads = resolve_padding(self.padding, hw, self.kernel_size, self.strides, self.dilation_rate, check=False)
        oh, ow = output_hw(hw, self.kernel_size, self.strides, pads, self.dilation_rate)
        return (n, oh, ow, self.filters) if self.data_format == "channels_last" else (n, self.filters, oh, ow)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        check_axis_size(self, x, self._channel_axis(), self.params["kernel"].shape[2] * self.groups, "input channels")
        z, conv_cache = F.conv2d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides, self.padding,
                                         self.dilation_rate, self.groups, self.data_format, check=False,
                                         keep_patches=bool(training) and not in_inference())
        y, act_cache = self._act_forward(z, check=False)
        return y, (conv_cache, act_cache)

    def _backward(self, dy, cache):
        conv_cache, act_cache = cache
        dz = self._act_backward(dy, act_cache, check=False)
        dx, dkernel, dbias = F.conv2d_backward(dz, conv_cache, check=False, input_gradient=input_gradient_wanted())
        grads = {"kernel": dkernel}
        if self.use_bias:
            grads["bias"] = dbias
        return dx, grads

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "padding": self.padding if isinstance(self.padding, str) else [list(p) for p in self.padding],
            "data_format": self.data_format, "dilation_rate": list(self.dilation_rate), "groups": self.groups,
            **self._kernel_options_config(),
        }
