"""Parity with Keras 3 (torch backend): weights copied from Keras layers, outputs and gradients compared.

Keras and numcnn share the kernel layout (kh, kw, in, out) and the get_weights order, so
``set_weights(keras_layer.get_weights())`` is all the conversion needed.

Average pooling with ``padding="same"`` is the one known difference: Keras 3.15 on the torch
backend pads with edge copies (pool 3, stride 2 over [10, 20] gives 16.67) while TensorFlow
averages only the real pixels (15). numcnn follows TensorFlow, so that case is checked against
a slow loop instead, and Keras is compared only where no window overlaps the padding.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import assert_close  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

# Keras' own variables trip NumPy 2's __array__(copy=...) check; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

import numcnn  # noqa: E402
from numcnn import layers as L  # noqa: E402


def _np(tensor):
    return keras.ops.convert_to_numpy(tensor)


def _input(rng, n, c, h, w, data_format):
    shape = (n, h, w, c) if data_format == "channels_last" else (n, c, h, w)
    return rng.standard_normal(shape).astype(np.float32)


def _copy(keras_layer, layer, x):
    """Give ``layer`` the Keras layer's weights (building both on ``x``)."""
    keras_layer(x)
    layer(x)
    layer.set_weights(keras_layer.get_weights())


# -- Conv2D ------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("size", [(7, 7), (8, 8), (7, 10)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv2d_outputs(padding, size, strides, data_format, rng):
    x = _input(rng, 2, 3, *size, data_format)
    kwargs = dict(filters=4, kernel_size=3, strides=strides, padding=padding, data_format=data_format)
    keras_layer = keras.layers.Conv2D(**kwargs, bias_initializer="random_normal")
    layer = L.Conv2D(**kwargs)
    _copy(keras_layer, layer, x)
    expected = _np(keras_layer(x))
    y = layer(x)
    assert y.dtype == np.float32
    assert_close(y, expected, rtol=1e-5)


@pytest.mark.parametrize(("kwargs", "size"), [
    (dict(kernel_size=(3, 2), dilation_rate=2, padding="same"), (9, 8)),
    (dict(kernel_size=2, strides=(1, 2), padding="same", activation="relu"), (6, 7)),
    (dict(kernel_size=3, groups=2, padding="same"), (6, 6)),
    (dict(kernel_size=4, strides=2, padding="same", activation="sigmoid", use_bias=False), (9, 9)),
])
def test_conv2d_dilation_groups_activation(kwargs, size, rng):
    x = _input(rng, 2, 4, *size, "channels_last")
    keras_layer = keras.layers.Conv2D(filters=6, bias_initializer="random_normal", **kwargs)
    layer = L.Conv2D(filters=6, **kwargs)
    _copy(keras_layer, layer, x)
    assert_close(layer(x), _np(keras_layer(x)), rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(h=st.integers(3, 9), w=st.integers(3, 9), c=st.integers(1, 3), filters=st.integers(1, 4),
       k=st.integers(1, 3), s=st.integers(1, 3), padding=st.sampled_from(["same", "valid"]),
       data_format=st.sampled_from(["channels_last", "channels_first"]), seed=st.integers(0, 2**31))
def test_conv2d_outputs_randomized(h, w, c, filters, k, s, padding, data_format, seed):
    rng = np.random.default_rng(seed)
    x = _input(rng, 2, c, h, w, data_format)
    kwargs = dict(filters=filters, kernel_size=k, strides=s, padding=padding, data_format=data_format)
    keras_layer = keras.layers.Conv2D(**kwargs, bias_initializer="random_normal")
    layer = L.Conv2D(**kwargs)
    _copy(keras_layer, layer, x)
    assert_close(layer(x), _np(keras_layer(x)), rtol=1e-5)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(("strides", "size"), [(1, 6), (2, 7), (2, 8), (3, 7)])
def test_conv2d_gradients_against_torch_autograd(strides, size, data_format, rng):
    x = _input(rng, 2, 3, size, size, data_format)
    kwargs = dict(filters=4, kernel_size=3, strides=strides, padding="same", data_format=data_format,
                  activation="tanh")
    keras_layer = keras.layers.Conv2D(**kwargs, bias_initializer="random_normal")
    layer = L.Conv2D(**kwargs)
    _copy(keras_layer, layer, x)
    xt = torch.tensor(x, requires_grad=True)
    yt = keras_layer(xt)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    (yt * torch.tensor(g)).sum().backward()
    layer(x)
    dx = layer.backward(g)
    assert dx.dtype == np.float32 and layer.grads["kernel"].dtype == np.float32
    assert_close(dx, xt.grad.numpy(), rtol=1e-4, atol_scale=1e-5)
    assert_close(layer.grads["kernel"], keras_layer.kernel.value.grad.numpy(), rtol=1e-4, atol_scale=1e-5)
    assert_close(layer.grads["bias"], keras_layer.bias.value.grad.numpy(), rtol=1e-4, atol_scale=1e-5)


# -- pooling ------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(("pool", "strides"), [(2, 2), (3, 2), (3, 3), (2, 3)])
@pytest.mark.parametrize("size", [(7, 7), (8, 9)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_max_pooling(padding, size, pool, strides, data_format, rng):
    x = _input(rng, 2, 3, *size, data_format)
    kwargs = dict(pool_size=pool, strides=strides, padding=padding, data_format=data_format)
    np.testing.assert_array_equal(L.MaxPooling2D(**kwargs)(x), _np(keras.layers.MaxPooling2D(**kwargs)(x)))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(("pool", "strides", "size"), [(2, 2, (7, 8)), (3, 2, (7, 9)), (3, 3, (9, 10)), (2, 1, (5, 5))])
def test_average_pooling_valid(pool, strides, size, data_format, rng):
    x = _input(rng, 2, 3, *size, data_format)
    kwargs = dict(pool_size=pool, strides=strides, padding="valid", data_format=data_format)
    assert_close(L.AveragePooling2D(**kwargs)(x), _np(keras.layers.AveragePooling2D(**kwargs)(x)), rtol=1e-5)


@pytest.mark.parametrize(("pool", "strides", "size"), [(2, 2, 6), (3, 3, 9), (1, 2, 7), (2, 2, 8)])
def test_average_pooling_same_without_padding_overlap(pool, strides, size, rng):
    # "same" with these sizes needs no padding at all: Keras and TensorFlow agree
    x = _input(rng, 2, 3, size, size, "channels_last")
    kwargs = dict(pool_size=pool, strides=strides, padding="same")
    assert_close(L.AveragePooling2D(**kwargs)(x), _np(keras.layers.AveragePooling2D(**kwargs)(x)), rtol=1e-5)


def _tf_avg_pool_same(x, pool, stride):
    """TensorFlow's rule, as a loop: each window averages the real pixels it covers."""
    n, h, w, c = x.shape
    oh, ow = -(-h // stride), -(-w // stride)
    top = max((oh - 1) * stride + pool - h, 0) // 2
    left = max((ow - 1) * stride + pool - w, 0) // 2
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - top, j * stride - left
            window = x[:, max(r0, 0):max(r0 + pool, 0), max(c0, 0):max(c0 + pool, 0), :]
            out[:, i, j, :] = window.mean(axis=(1, 2))
    return out


def test_average_pooling_same_follows_tensorflow_not_keras_torch():
    x = np.array([10.0, 20.0], np.float32).reshape(1, 1, 2, 1)
    y = L.AveragePooling2D(3, strides=2, padding="same")(x)
    assert y[0, 0, 0, 0] == pytest.approx(15.0)  # TensorFlow; Keras 3.15 on torch gives 16.67


@pytest.mark.parametrize(("pool", "stride", "size"), [(3, 2, (7, 7)), (2, 2, (5, 6)), (3, 1, (4, 5)), (3, 3, (7, 8))])
def test_average_pooling_same_known_tensorflow_values(pool, stride, size, rng):
    x = rng.standard_normal((2, *size, 3))
    assert_close(L.AveragePooling2D(pool, strides=stride, padding="same")(x), _tf_avg_pool_same(x, pool, stride),
                 rtol=1e-12)


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(keepdims, rng):
    x = _input(rng, 2, 3, 5, 4, "channels_last")
    assert_close(L.GlobalAveragePooling2D(keepdims=keepdims)(x),
                 _np(keras.layers.GlobalAveragePooling2D(keepdims=keepdims)(x)), rtol=1e-5)
    np.testing.assert_array_equal(L.GlobalMaxPooling2D(keepdims=keepdims)(x),
                                  _np(keras.layers.GlobalMaxPooling2D(keepdims=keepdims)(x)))


# -- Dense, BatchNormalization, activations -------------------------------------------------------

@pytest.mark.parametrize("activation", [None, "relu", "softmax", "tanh"])
@pytest.mark.parametrize("x_shape", [(4, 6), (2, 3, 6)])
def test_dense(activation, x_shape, rng):
    x = rng.standard_normal(x_shape).astype(np.float32)
    keras_layer = keras.layers.Dense(5, activation=activation, bias_initializer="random_normal")
    layer = L.Dense(5, activation=activation)
    _copy(keras_layer, layer, x)
    assert_close(layer(x), _np(keras_layer(x)), rtol=1e-5)


def _random_bn_weights(rng, c):
    return [rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c), rng.uniform(0.5, 2, c)]


@pytest.mark.parametrize(("axis", "x_shape"), [(-1, (4, 5, 5, 3)), (1, (4, 3, 5, 5)), (-1, (6, 4))])
def test_batch_normalization_inference(axis, x_shape, rng):
    x = rng.standard_normal(x_shape).astype(np.float32)
    keras_layer = keras.layers.BatchNormalization(axis=axis)
    layer = L.BatchNormalization(axis=axis)
    keras_layer(x)
    layer(x)
    weights = [w.astype(np.float32) for w in _random_bn_weights(rng, x_shape[axis])]
    keras_layer.set_weights(weights)
    layer.set_weights(weights)
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in keras_layer.get_weights()]
    assert_close(layer(x, training=False), _np(keras_layer(x, training=False)), rtol=1e-5)


@pytest.mark.parametrize(("axis", "x_shape"), [(-1, (4, 5, 5, 3)), (1, (4, 3, 5, 5))])
def test_batch_normalization_training_and_moving_statistics(axis, x_shape, rng):
    x = (rng.standard_normal(x_shape) * 3 + 1).astype(np.float32)
    keras_layer = keras.layers.BatchNormalization(axis=axis, momentum=0.9)
    layer = L.BatchNormalization(axis=axis, momentum=0.9)
    for _ in range(2):
        expected = _np(keras_layer(x, training=True))
        y = layer(x, training=True)
        assert_close(y, expected, rtol=1e-4, atol_scale=1e-5)
    for ours, theirs in zip(layer.get_weights(), keras_layer.get_weights(), strict=True):
        assert_close(ours, theirs, rtol=1e-5)


@pytest.mark.parametrize(("ours", "theirs"), [
    (L.ReLU(), keras.layers.ReLU()), (L.LeakyReLU(), keras.layers.LeakyReLU()),
    (L.Softmax(axis=1), keras.layers.Softmax(axis=1)), (L.Activation("sigmoid"), keras.layers.Activation("sigmoid")),
    (L.Rescaling(1 / 255, offset=-0.5), keras.layers.Rescaling(1 / 255, offset=-0.5)),
    (L.Flatten(), keras.layers.Flatten()), (L.Reshape((-1, 4)), keras.layers.Reshape((-1, 4))),
], ids=lambda layer: type(layer).__name__)
def test_parameter_free_layers(ours, theirs, rng):
    x = rng.standard_normal((2, 3, 4, 2)).astype(np.float32)
    assert_close(ours(x), _np(theirs(x)), rtol=1e-5)


def test_flatten_channels_first(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(L.Flatten(data_format="channels_first")(x),
                                  _np(keras.layers.Flatten(data_format="channels_first")(x)))


# -- whole models ---------------------------------------------------------------------------------

def _keras_cnn(data_format="channels_last"):
    shape = (8, 8, 2) if data_format == "channels_last" else (2, 8, 8)
    axis = -1 if data_format == "channels_last" else 1
    return keras.Sequential([
        keras.Input(shape), keras.layers.Conv2D(4, 3, padding="same", activation="relu", data_format=data_format),
        keras.layers.MaxPooling2D(2, data_format=data_format), keras.layers.BatchNormalization(axis=axis),
        keras.layers.Conv2D(3, 3, strides=2, padding="same", data_format=data_format),
        keras.layers.Flatten(data_format=data_format), keras.layers.Dense(5, activation="softmax")])


def _numcnn_cnn(data_format="channels_last"):
    axis = -1 if data_format == "channels_last" else 1
    return numcnn.Sequential([
        L.Conv2D(4, 3, padding="same", activation="relu", data_format=data_format),
        L.MaxPooling2D(2, data_format=data_format), L.BatchNormalization(axis=axis),
        L.Conv2D(3, 3, strides=2, padding="same", data_format=data_format),
        L.Flatten(data_format=data_format), L.Dense(5, activation="softmax")], seed=0)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_sequential_cnn_outputs_and_counts(data_format, rng):
    keras_model, model = _keras_cnn(data_format), _numcnn_cnn(data_format)
    x = _input(rng, 3, 2, 8, 8, data_format)
    model(x)
    weights = keras_model.get_weights()
    weights[3:5] = [w + rng.uniform(0.1, 0.5, w.shape).astype(np.float32) for w in weights[3:5]]  # beta, moving mean
    keras_model.set_weights(weights)
    model.set_weights(weights)
    assert model.count_params() == keras_model.count_params() == 76 + 16 + 111 + 65
    assert [w.shape for w in model.get_weights()] == [w.shape for w in keras_model.get_weights()]
    assert_close(model(x), _np(keras_model(x, training=False)), rtol=1e-5)
