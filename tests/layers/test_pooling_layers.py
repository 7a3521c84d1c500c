"""Pooling layers: known values (TensorFlow's padding rules), a slow loop, shapes and gradients."""

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close

from numcnn import functional as F
from numcnn.layers import AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D


def _distinct(rng, shape):
    """Values at least 1 apart in random order: no ties, no kink within a finite-difference step."""
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2 + rng.uniform(-0.25, 0.25, size)).reshape(shape)


def _slow_pool(x, pool, stride, reduce):
    n, h, w, c = x.shape
    oh, ow = (h - pool) // stride + 1, (w - pool) // stride + 1
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j, :] = reduce(x[:, i * stride:i * stride + pool, j * stride:j * stride + pool, :], axis=(1, 2))
    return out


# -- known values ------------------------------------------------------------------------------

def test_seed002_max_pooling():
    x = np.array([[7, 11, 13, 15], [3, 4, 2, 3], [1, 2, 15, 9], [1, 8, 3, 10]]).reshape(1, 4, 4, 1)
    y = MaxPooling2D(2)(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, :, :, 0], [[11, 15], [8, 15]])


def test_seed002_max_pooling_channels_first_and_default_pool_size():
    x = np.array([[7, 11, 13, 15], [3, 4, 2, 3], [1, 2, 15, 9], [1, 8, 3, 10]]).reshape(1, 1, 4, 4)
    y = MaxPooling2D(data_format="channels_first")(x)  # pool_size defaults to (2, 2), strides to pool_size
    np.testing.assert_array_equal(y[0, 0], [[11, 15], [8, 15]])


def test_average_pooling_same_averages_real_pixels_only():
    # TensorFlow's rule: pool 3, stride 2 over [10, 20] is 15 (Keras 3.15 on torch gives 16.67)
    y = AveragePooling2D(3, strides=2, padding="same")(np.array([10.0, 20.0]).reshape(1, 1, 2, 1))
    assert y.shape == (1, 1, 1, 1)
    assert y[0, 0, 0, 0] == pytest.approx(15.0)


def test_average_pooling_same_border_windows():
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = AveragePooling2D(2, strides=1, padding="same")(x)[0, :, :, 0]
    # pads go bottom/right; each window divides by its count of real pixels
    np.testing.assert_allclose(y, [[3.0, 4.0, 4.5], [6.0, 7.0, 7.5], [7.5, 8.5, 9.0]])


def test_max_pooling_same_pads_with_minus_infinity():
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # all negative: zero padding would win
    y = MaxPooling2D(2, strides=2, padding="same")(x)[0, :, :, 0]
    np.testing.assert_array_equal(y, [[-1.0, -3.0], [-7.0, -9.0]])


def test_global_pooling_known_values():
    x = np.arange(8.0).reshape(1, 2, 2, 2)  # channel 0: 0, 2, 4, 6; channel 1: 1, 3, 5, 7
    np.testing.assert_array_equal(GlobalAveragePooling2D()(x), [[3.0, 4.0]])
    np.testing.assert_array_equal(GlobalMaxPooling2D()(x), [[6.0, 7.0]])
    np.testing.assert_array_equal(GlobalMaxPooling2D(keepdims=True)(x), [[[[6.0, 7.0]]]])
    xf = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(GlobalAveragePooling2D(data_format="channels_first", keepdims=True)(xf),
                                  [[[[3.0]], [[4.0]]]])


@pytest.mark.parametrize(("layer", "x_shape", "expected"), [
    (MaxPooling2D(2), (2, 7, 7, 3), (2, 3, 3, 3)),
    (MaxPooling2D(3, strides=2, padding="same"), (2, 7, 8, 3), (2, 4, 4, 3)),
    (AveragePooling2D((2, 3), strides=(1, 2)), (1, 5, 7, 2), (1, 4, 3, 2)),
    (AveragePooling2D(2, padding="same", data_format="channels_first"), (1, 2, 5, 5), (1, 2, 3, 3)),
    (MaxPooling2D(3, strides=3, padding=1), (1, 7, 7, 1), (1, 3, 3, 1)),
    (GlobalAveragePooling2D(), (2, 3, 4, 5), (2, 5)),
    (GlobalMaxPooling2D(data_format="channels_first"), (2, 3, 4, 5), (2, 3)),
])
def test_output_shapes(layer, x_shape, expected):
    assert layer(np.zeros(x_shape, np.float32)).shape == expected
    assert layer.compute_output_shape(x_shape) == expected
    assert layer.count_params() == 0


# -- against a slow loop and the functional ops -----------------------------------------------

@pytest.mark.parametrize(("pool", "stride"), [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_valid_pooling_equals_slow_loop(pool, stride, rng):
    x = rng.standard_normal((2, 8, 7, 3))
    assert_close(MaxPooling2D(pool, strides=stride)(x), _slow_pool(x, pool, stride, np.max), rtol=1e-12)
    assert_close(AveragePooling2D(pool, strides=stride)(x), _slow_pool(x, pool, stride, np.mean), rtol=1e-12)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("padding", ["valid", "same", ((1, 0), (0, 1))])
def test_layers_equal_functional(fmt, padding, rng):
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    if fmt == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    for layer_cls, fn in ((MaxPooling2D, F.max_pool2d), (AveragePooling2D, F.avg_pool2d)):
        y = layer_cls(2, strides=(2, 1), padding=padding, data_format=fmt)(x)
        np.testing.assert_array_equal(y, fn(x, 2, (2, 1), padding, fmt))
        assert y.dtype == np.float32


def test_channels_first_is_a_transpose_of_channels_last(rng):
    x = rng.standard_normal((2, 7, 6, 3))
    xf = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    for layer_cls in (MaxPooling2D, AveragePooling2D):
        last = layer_cls(3, strides=2, padding="same")(x)
        first = layer_cls(3, strides=2, padding="same", data_format="channels_first")(xf)
        np.testing.assert_allclose(first, last.transpose(0, 3, 1, 2), rtol=1e-12)


# -- gradients --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(pool_size=2),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), strides=1, padding=((1, 0), (1, 1))),
    dict(pool_size=3, strides=2, data_format="channels_first"),
])
@pytest.mark.parametrize("layer_cls", [MaxPooling2D, AveragePooling2D])
def test_pooling_gradients(layer_cls, kwargs, rng):
    x = _distinct(rng, (2, 3, 6, 5) if kwargs.get("data_format") == "channels_first" else (2, 6, 5, 3))
    dx, grads = check_layer_grads(layer_cls(**kwargs), x, rng)
    assert grads == {}
    assert dx.dtype == np.float64


@pytest.mark.parametrize("layer_cls", [GlobalAveragePooling2D, GlobalMaxPooling2D])
@pytest.mark.parametrize("kwargs", [dict(), dict(keepdims=True), dict(data_format="channels_first")])
def test_global_pooling_gradients(layer_cls, kwargs, rng):
    check_layer_grads(layer_cls(**kwargs), _distinct(rng, (2, 4, 3, 3)), rng)


def test_max_pooling_gradient_goes_to_the_max_only():
    x = np.array([[1.0, 5.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    layer = MaxPooling2D(2)
    layer(x)
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1), 7.0))[0, :, :, 0], [[0, 7], [0, 0]])


def test_average_pooling_same_gradient_divides_by_real_pixel_count():
    layer = AveragePooling2D(3, strides=2, padding="same")
    layer(np.array([10.0, 20.0]).reshape(1, 1, 2, 1))
    np.testing.assert_allclose(layer.backward(np.ones((1, 1, 1, 1)))[0, 0, :, 0], [0.5, 0.5])
