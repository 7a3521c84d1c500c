"""``BatchNormalization`` (per-channel normalisation with moving statistics for inference) and
``LocalResponseNormalization`` (across channels, AlexNet and GoogLeNet)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional.lrn import local_response_norm_backward, local_response_norm_forward
from ..utils.validation import _is_int, _short, check_bool, check_int, check_number, standardize_data_format
from .base import Layer


class BatchNormalization(Layer):
    """Batch normalisation (Keras ``BatchNormalization``).

    In training, each channel is normalised with the batch mean and (biased) variance,
    and the moving statistics are updated:
    ``moving = momentum * moving + (1 - momentum) * batch``. At inference (or when
    ``trainable=False``, as Keras) the moving statistics are used. A batch with no
    value per channel (e.g. 0 samples) has no statistics: it is normalised with the
    moving ones, which it leaves unchanged, and the (empty) output has its shape.
    Inputs with 0 channels work too and give an empty output.

    Args:
        axis: the channel axis (-1 for channels_last, 1 for channels_first conv outputs).
        momentum: moving-average momentum (Keras default 0.99).
        epsilon: added to the variance (Keras default 1e-3).
        center, scale: learn ``beta`` / ``gamma``.

    Weights:
        gamma, beta (trainable), moving_mean, moving_variance: all (C,)

    Shape:
        input: any with C on ``axis``; output: same.
    """

    weight_order = ("gamma", "beta", "moving_mean", "moving_variance")

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        if not _is_int(axis):
            raise ValueError(f"The `axis` argument must be an int. Received: axis={_short(axis)}")
        self.axis = int(axis)
        self.momentum = check_number(momentum, "momentum", 0, 1)
        self.epsilon = check_number(epsilon, "epsilon", 0, low_open=True)
        self.center, self.scale = check_bool(center, "center"), check_bool(scale, "scale")
        super().__init__(**kwargs)

    def build(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ValueError(
                f"The `axis` argument of layer '{self.name}' must name a non-batch axis of the input. "
                f"Received: axis={self.axis} for inputs with shape {tuple(input_shape)}")
        c = (input_shape[self.axis],)
        if self.scale:
            self.add_weight("gamma", c, "ones")
        if self.center:
            self.add_weight("beta", c, "zeros")
        self.add_weight("moving_mean", c, "zeros", trainable=False)
        self.add_weight("moving_variance", c, "ones", trainable=False)

    def _forward(self, x, training):
        c = self.state["moving_mean"].shape[0]
        if x.ndim != len(self.input_shape) or x.shape[self.axis] != c:
            raise ValueError(
                f"Layer '{self.name}' was built for {c} channels on axis {self.axis}. Received: inputs with shape {x.shape}")
        gamma = self.params.get("gamma", np.ones(c, self.dtype))
        beta = self.params.get("beta", np.zeros(c, self.dtype))
        if training and self.trainable and x.size:
            y, cache, mean, var = F.batch_norm_forward(x, gamma, beta, self.axis, self.epsilon, check=False)
            for name, stat in (("moving_mean", mean), ("moving_variance", var)):
                self.state[name][...] = F.moving_average(self.state[name], stat, self.momentum)
        else:
            y, cache, _, _ = F.batch_norm_forward(x, gamma, beta, self.axis, self.epsilon, self.state["moving_mean"],
                                                  self.state["moving_variance"], check=False)
        return y, cache

    def _backward(self, dy, cache):
        dx, dgamma, dbeta = F.batch_norm_backward(dy, cache, check=False)
        grads = {}
        if self.scale:
            grads["gamma"] = dgamma
        if self.center:
            grads["beta"] = dbeta
        return dx, grads

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}



class LocalResponseNormalization(Layer):
    """Local response normalisation across channels (AlexNet, GoogLeNet), as ONNX ``LRN`` and
    ``torch.nn.LocalResponseNorm``; Keras 3 has no such layer.

    ``y_c = x_c / (bias + alpha / size * S_c) ** beta`` where ``S_c`` sums ``x_j ** 2`` over the
    channels ``j`` from ``c - floor((size - 1) / 2)`` to ``c + ceil((size - 1) / 2)`` (missing
    channels count as 0). For an odd ``size`` this is PyTorch's layer with ``k = bias``; for an even
    ``size`` PyTorch's window starts one channel lower (ONNX's rule is followed here).
    TensorFlow's ``tf.nn.local_response_normalization`` takes ``depth_radius`` (``size = 2 *
    depth_radius + 1``) and does not divide ``alpha`` by the window: pass ``alpha = alpha_tf * size``.

    Args:
        size: channels in each window, a positive int (AlexNet and GoogLeNet: 5).
        alpha: scale of the sum of squares (divided by ``size``).
        beta: exponent.
        bias: added before the power (AlexNet: 2; PyTorch's ``k``, default 1).
        data_format: ``"channels_last"`` (channels on the last axis) or ``"channels_first"`` (axis 1).

    Shape:
        input: (N, H, W, C) or (N, C, H, W) (any rank >= 2 with the channels there); output: same.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, bias=1.0, data_format="channels_last", **kwargs):
        self.size = check_int(size, "size")
        self.alpha = check_number(alpha, "alpha")
        self.beta = check_number(beta, "beta")
        self.bias = check_number(bias, "bias")
        self.data_format = standardize_data_format(data_format)
        super().__init__(**kwargs)

    def _check_rank(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Layer '{self.name}' (LocalResponseNormalization) needs inputs with a channel axis, "
                             f"at least (N, C). Received: inputs with shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return tuple(input_shape)

    def _forward(self, x, training):
        self._check_rank(x.shape)
        return local_response_norm_forward(x, self.size, self.alpha, self.beta, self.bias, self.data_format,
                                           check=False)

    def _backward(self, dy, cache):
        return local_response_norm_backward(dy, cache, check=False), {}

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta, "bias": self.bias,
                "data_format": self.data_format}
