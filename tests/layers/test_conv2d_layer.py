"""Conv2D layer: the seeds' shapes and values, against the functional op and a slow loop, gradients."""

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

from numcnn import functional as F
from numcnn.layers import Conv2D


def _slow_conv(x, kernel, bias):
    """Seed 003's loop: ``out[n, i, j, f] = sum(window * kernel[..., f]) + bias[f]`` (valid, stride 1)."""
    n, h, w, _ = x.shape
    kh, kw, _, filters = kernel.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, filters))
    for b in range(n):
        for f in range(filters):
            for i in range(h - kh + 1):
                for j in range(w - kw + 1):
                    out[b, i, j, f] = np.sum(x[b, i:i + kh, j:j + kw, :] * kernel[:, :, :, f]) + bias[f]
    return out


# -- known values: the seeds ---------------------------------------------------------------

@pytest.mark.parametrize(("filters", "kernel_size", "x_shape", "w_shape", "y_shape"), [
    (10, 3, (1, 28, 28, 3), (3, 3, 3, 10), (1, 26, 26, 10)),  # seed 001, Code 5-1-1
    (5, 3, (32, 28, 28, 3), (3, 3, 3, 5), (32, 26, 26, 5)),  # seed 001, Code 5-2-1
    (3, 4, (1, 5, 5, 3), (4, 4, 3, 3), (1, 2, 2, 3)),  # seed 001, RGB channels
    (1, 3, (1, 5, 5, 1), (3, 3, 1, 1), (1, 3, 3, 1)),  # seed 003, gray image
    (7, 3, (1, 5, 5, 1), (3, 3, 1, 7), (1, 3, 3, 7)),  # seed 003, 7 kernels
    (1, 3, (1, 5, 5, 3), (3, 3, 3, 1), (1, 3, 3, 1)),  # seed 003, RGB, one kernel
    (10, 3, (10, 5, 5, 3), (3, 3, 3, 10), (10, 3, 3, 10)),  # seed 003, batch of 10
])
def test_seed_shapes(filters, kernel_size, x_shape, w_shape, y_shape):
    conv = Conv2D(filters=filters, kernel_size=kernel_size, seed=0)
    y = conv(np.random.default_rng(1).uniform(0, 10, x_shape).astype(np.float32))
    kernel, bias = conv.get_weights()
    assert (kernel.shape, bias.shape, y.shape) == (w_shape, (filters,), y_shape)
    assert conv.output_shape == (None, *y_shape[1:])
    assert conv.count_params() == np.prod(w_shape) + filters


def test_seed000_parameter_count():
    # a 7x7 single-channel image: one 3x3 filter has 10 parameters (seed 000)
    assert Conv2D(1, 3, input_shape=(7, 7, 1)).count_params() == 10


def test_seed003_loop_equals_layer(rng):
    x = rng.uniform(0, 10, (2, 5, 5, 3))
    conv = Conv2D(10, 3, dtype="float64", seed=0)
    conv.build((None, 5, 5, 3))
    kernel, bias = rng.standard_normal((3, 3, 3, 10)), rng.standard_normal(10)
    conv.set_weights([kernel, bias])
    assert_close(conv(x), _slow_conv(x, kernel, bias), rtol=1e-12)


def test_seed002_known_values_channels_last():
    conv = Conv2D(1, 2, input_shape=(4, 4, 1), bias_initializer="zeros")
    conv.set_weights([np.ones((2, 2, 1, 1)), np.array([3.0])])
    y = conv(np.arange(16).reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[13, 17, 21], [29, 33, 37], [45, 49, 53]])


def test_seed002_known_values_channels_first_two_channels_three_filters():
    # seed 002: arange(18) as (1, 2, 3, 3), all-ones 2x2 kernels, bias 3 -> [[55, 63], [79, 87]] per filter
    conv = Conv2D(3, 2, data_format="channels_first", input_shape=(2, 3, 3))
    conv.set_weights([np.ones((2, 2, 2, 3)), np.full(3, 3.0)])
    y = conv(np.arange(18).reshape(1, 2, 3, 3))
    assert y.shape == (1, 3, 2, 2)
    np.testing.assert_array_equal(y[0], np.broadcast_to([[55, 63], [79, 87]], (3, 2, 2)))


@pytest.mark.parametrize(("size", "strides", "expected"), [(7, 2, 4), (8, 2, 4), (7, 3, 3), (8, 3, 3), (9, 3, 3)])
def test_same_padding_output_is_ceil_of_input_over_stride(size, strides, expected):
    conv = Conv2D(2, 3, strides=strides, padding="same", input_shape=(size, size, 1))
    assert conv.compute_output_shape((None, size, size, 1)) == (None, expected, expected, 2)
    assert conv(np.zeros((1, size, size, 1))).shape == (1, expected, expected, 2)


def test_dilation_and_explicit_padding_shapes():
    conv = Conv2D(4, 3, dilation_rate=2, padding=((1, 0), (2, 3)), seed=0)
    # effective kernel 5: height 9 + 1 - 5 + 1 = 6, width 9 + 5 - 5 + 1 = 10
    assert conv(np.zeros((2, 9, 9, 2), np.float32)).shape == (2, 6, 10, 4)


def test_depthwise_groups_kernel_shape_and_independence(rng):
    conv = Conv2D(4, 3, groups=4, dtype="float64", seed=0)
    x = rng.standard_normal((1, 5, 5, 4))
    y = conv(x)
    assert conv.params["kernel"].shape == (3, 3, 1, 4)
    x2 = x.copy()
    x2[..., 1] += 1.0  # only output channel 1 may change
    changed = np.abs(conv(x2) - y).max(axis=(0, 1, 2)) > 0
    np.testing.assert_array_equal(changed, [False, True, False, False])


# -- against the functional op -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(strides=2, padding="same"),
    dict(strides=(1, 3), padding=1, dilation_rate=(2, 1)),
    dict(groups=2, padding="same"),
    dict(data_format="channels_first", strides=2, padding=((0, 1), (1, 0))),
    dict(use_bias=False, padding="same"),
])
def test_layer_equals_functional_conv2d(kwargs, rng):
    fmt = kwargs.get("data_format", "channels_last")
    x = rng.standard_normal((2, 4, 7, 6) if fmt == "channels_first" else (2, 7, 6, 4))
    conv = Conv2D(6, 3, dtype="float64", seed=3, bias_initializer="random_normal", **kwargs)
    y = conv(x)
    kernel = conv.params["kernel"]
    bias = conv.params.get("bias")
    expected = F.conv2d(x, kernel, bias, strides=kwargs.get("strides", 1), padding=kwargs.get("padding", "valid"),
                        dilation_rate=kwargs.get("dilation_rate", 1), groups=kwargs.get("groups", 1), data_format=fmt)
    assert_close(y, expected, rtol=1e-12)
    assert ("bias" in conv.params) == kwargs.get("use_bias", True)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "leaky_relu", "softmax", "linear"])
def test_fused_activation_equals_activation_after_conv(activation, rng):
    x = rng.standard_normal((2, 5, 5, 2))
    fused = Conv2D(3, 3, activation=activation, dtype="float64", seed=0, bias_initializer="random_normal")
    plain = Conv2D(3, 3, dtype="float64", seed=1)
    y = fused(x)
    plain.build((None, 5, 5, 2))
    plain.set_weights(fused.get_weights())
    forward, _ = F.get_activation(activation)
    assert_close(y, forward(plain(x))[0], rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 2), h=st.integers(3, 7), w=st.integers(3, 7), c=st.integers(1, 3),
       filters=st.integers(1, 3), k=st.integers(1, 3), s=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]),
       fmt=st.sampled_from(["channels_last", "channels_first"]), seed=st.integers(0, 2**31))
def test_layer_equals_functional_randomized(n, h, w, c, filters, k, s, padding, fmt, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c) if fmt == "channels_last" else (n, c, h, w)).astype(np.float32)
    conv = Conv2D(filters, k, strides=s, padding=padding, data_format=fmt, seed=seed)
    y = conv(x)
    expected = F.conv2d(x, conv.params["kernel"], conv.params["bias"], strides=s, padding=padding, data_format=fmt)
    assert y.dtype == np.float32
    assert y.shape == conv.compute_output_shape(x.shape)
    assert_close(y, expected, rtol=1e-6)


# -- gradients --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(strides=2, padding="same", activation="relu"),
    dict(strides=(2, 1), padding=((1, 0), (0, 2)), dilation_rate=(1, 2), activation="tanh"),
    dict(groups=2, padding="same", activation="sigmoid"),
    dict(data_format="channels_first", strides=2, padding="same", activation="leaky_relu"),
    dict(data_format="channels_first", groups=2, dilation_rate=2, use_bias=False),
])
def test_conv2d_gradients(kwargs, rng):
    fmt = kwargs.get("data_format", "channels_last")
    x = rng.standard_normal((2, 4, 6, 5) if fmt == "channels_first" else (2, 6, 5, 4))
    conv = Conv2D(4, (3, 2), dtype="float64", seed=5, bias_initializer="random_normal", **kwargs)
    dx, grads = check_layer_grads(conv, x, rng)
    assert dx.shape == x.shape
    assert set(grads) == ({"kernel", "bias"} if kwargs.get("use_bias", True) else {"kernel"})


def test_bias_gradient_is_sum_of_dy(rng):
    conv = Conv2D(3, 2, seed=0, dtype="float64")
    y = conv(rng.standard_normal((2, 4, 4, 2)))
    dy = rng.standard_normal(y.shape)
    conv.backward(dy)
    assert_close(conv.grads["bias"], dy.sum(axis=(0, 1, 2)), rtol=1e-12)


def test_standalone_backward_uses_the_last_forward(rng):
    conv = Conv2D(2, 3, seed=0, dtype="float64")
    x1, x2 = rng.standard_normal((2, 1, 5, 5, 1))
    conv(x1)
    y2 = conv(x2)
    dy = np.ones_like(y2)
    conv.backward(dy)
    expected = F.conv2d_backward(dy, F.conv2d_forward(x2, conv.params["kernel"], conv.params["bias"])[1])
    assert_close(conv.grads["kernel"], expected[1], rtol=1e-12)


def test_a_refused_first_call_leaves_the_layer_unbuilt_and_its_dtype_free():
    conv = Conv2D(2, 3, seed=0)
    with pytest.raises(ValueError, match=r"needs 4D inputs.*Received: inputs with shape \(8, 8, 3\)"):
        conv(np.zeros((8, 8, 3), np.float64))
    assert not conv.built and conv.dtype is None and conv.params == {}
    assert conv(np.zeros((2, 8, 8, 3), np.float32)).dtype == np.float32


def test_a_layer_input_without_channels_is_refused_naming_the_layer():
    with pytest.raises(ValueError, match=r"Layer 'conv2d' \(Conv2D\) needs inputs with at least one channel.*"
                                         r"Received: inputs with shape \(2, 8, 8, 0\)"):
        Conv2D(2, 3)(np.zeros((2, 8, 8, 0), np.float32))
