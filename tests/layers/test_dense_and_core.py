"""Dense, Flatten, Reshape, Rescaling and the activation layers: values and gradients."""

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close

from numcnn.layers import Activation, Dense, Flatten, LeakyReLU, ReLU, Rescaling, Reshape, Softmax


# -- Dense ---------------------------------------------------------------------------------------

def test_seed000_dense_parameter_count():
    # a 7x7 image to a 7x7 output: 7*7*7*7 weights + 7*7 biases (seed 000)
    assert Dense(49, input_shape=(49,)).count_params() == 2450


def test_seed000_fully_connected_loop_equals_dense(rng):
    img = np.arange(49.0).reshape(7, 7)
    fc_filter, fc_bias = rng.standard_normal((7, 7, 7, 7)), rng.standard_normal((7, 7))
    fc_out = np.zeros((7, 7))
    for i in range(7):
        for j in range(7):
            fc_out[i, j] = np.sum(img * fc_filter[i, j]) + fc_bias[i, j]
    dense = Dense(49, input_shape=(49,), dtype="float64")
    dense.set_weights([fc_filter.reshape(49, 49).T, fc_bias.reshape(49)])
    assert_close(dense(img.reshape(1, 49)).reshape(7, 7), fc_out, rtol=1e-12)


@pytest.mark.parametrize("x_shape", [(4, 5), (2, 3, 5), (2, 2, 3, 5)])
def test_dense_equals_x_at_kernel_plus_bias(x_shape, rng):
    x = rng.standard_normal(x_shape)
    dense = Dense(3, dtype="float64", seed=0, bias_initializer="random_normal")
    y = dense(x)
    kernel, bias = dense.get_weights()
    assert kernel.shape == (5, 3) and bias.shape == (3,)
    assert y.shape == (*x_shape[:-1], 3)
    assert_close(y, x @ kernel + bias, rtol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softmax", "leaky_relu"])
def test_dense_fused_activation(activation, rng):
    x = rng.standard_normal((4, 5))
    dense = Dense(3, activation=activation, dtype="float64", seed=0, bias_initializer="random_normal")
    y = dense(x)
    kernel, bias = dense.get_weights()
    z = x @ kernel + bias
    expected = {"relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z),
                "softmax": np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True),
                "leaky_relu": np.where(z > 0, z, 0.2 * z)}[activation]
    assert_close(y, expected, rtol=1e-12)


@pytest.mark.parametrize("x_shape", [(3, 4), (2, 3, 4)])
@pytest.mark.parametrize("kwargs", [dict(), dict(activation="tanh"), dict(activation="softmax"), dict(use_bias=False)])
def test_dense_gradients(x_shape, kwargs, rng):
    dense = Dense(3, dtype="float64", seed=1, bias_initializer="random_normal", **kwargs)
    dx, grads = check_layer_grads(dense, rng.standard_normal(x_shape), rng)
    assert set(grads) == ({"kernel"} if kwargs.get("use_bias") is False else {"kernel", "bias"})


def test_dense_gradient_formulas(rng):
    x = rng.standard_normal((4, 5))
    dense = Dense(3, dtype="float64", seed=0)
    dense(x)
    dy = rng.standard_normal((4, 3))
    dx = dense.backward(dy)
    assert_close(dense.grads["kernel"], x.T @ dy, rtol=1e-12)
    assert_close(dense.grads["bias"], dy.sum(axis=0), rtol=1e-12)
    assert_close(dx, dy @ dense.params["kernel"].T, rtol=1e-12)


# -- Flatten, Reshape, Rescaling ----------------------------------------------------------------

def test_flatten_values_and_channels_first_order(rng):
    x = rng.standard_normal((2, 3, 4, 5))  # NHWC
    flat = Flatten()(x)
    assert flat.shape == (2, 60)
    np.testing.assert_array_equal(flat, x.reshape(2, 60))
    # channels_first moves channels last first (Keras), so both layouts flatten alike
    xf = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(xf), flat)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
def test_flatten_gradients(fmt, rng):
    dx, _ = check_layer_grads(Flatten(data_format=fmt), rng.standard_normal((2, 3, 2, 4)), rng)
    assert dx.shape == (2, 3, 2, 4)


def test_flatten_channels_first_backward_undoes_forward(rng):
    layer = Flatten(data_format="channels_first")
    x = rng.standard_normal((2, 3, 2, 4))
    y = layer(x)
    np.testing.assert_array_equal(layer.backward(y), x)


@pytest.mark.parametrize(("target", "expected"), [((6, 4), (2, 6, 4)), ((-1, 2), (2, 12, 2)), ((24,), (2, 24))])
def test_reshape_values_and_gradients(target, expected, rng):
    x = rng.standard_normal((2, 3, 4, 2))
    layer = Reshape(target)
    y = layer(x)
    assert y.shape == expected
    assert layer.compute_output_shape((None, 3, 4, 2)) == (None, *expected[1:])
    np.testing.assert_array_equal(y.reshape(x.shape), x)
    check_layer_grads(Reshape(target), x, rng)


def test_rescaling_pixels_to_unit_interval():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    y = Rescaling(1 / 255)(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [[0.0, 0.2, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(Rescaling(2.0, offset=-1.0)(np.array([[0.0, 0.5, 1.0]])), [[-1.0, 0.0, 1.0]])


def test_rescaling_gradients(rng):
    layer = Rescaling(-0.5, offset=3.0)
    dx, grads = check_layer_grads(layer, rng.standard_normal((2, 3)), rng)
    assert grads == {}


# -- activation layers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("layer", "expected"), [
    (ReLU(), lambda x: np.maximum(x, 0)),
    (LeakyReLU(), lambda x: np.where(x > 0, x, 0.3 * x)),  # the Keras layer's default slope
    (LeakyReLU(negative_slope=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (Activation("relu"), lambda x: np.maximum(x, 0)),
    (Activation("sigmoid"), lambda x: 1 / (1 + np.exp(-x))),
    (Activation("tanh"), np.tanh),
    (Activation("linear"), lambda x: x),
    (Activation("softmax"), lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)),
    (Softmax(), lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)),
    (Softmax(axis=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
], ids=lambda v: getattr(v, "name", ""))
def test_activation_layers_values_and_gradients(layer, expected, rng):
    x = rng.standard_normal((2, 3, 4))
    assert_close(layer(x), expected(x), rtol=1e-12)
    dx, grads = check_layer_grads(layer, x, rng)
    assert grads == {}


def test_softmax_layer_rows_sum_to_one_for_large_inputs():
    y = Softmax()(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(y, [[0.5, 0.5, 0.0]])
    assert y.dtype == np.float32
