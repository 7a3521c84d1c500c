"""Empty batches, absurd geometry and values near a dtype's range: a right answer or a clear refusal.

The minimal inputs the fuzzing suite found are in ``tests/reliability/test_fuzz_entry_points.py``;
these check the values around them (what an empty batch's gradients are, that a never-taken stride
changes nothing, that an average near the dtype's max is the average).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from numcnn import functional as F
from numcnn import layers as L

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax")


# -- convolution --------------------------------------------------------------------------------


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv_on_an_empty_batch_gives_empty_output_and_zero_weight_gradients(data_format):
    x = np.zeros((0, 5, 5, 2) if data_format == "channels_last" else (0, 2, 5, 5), np.float32)
    kernel, bias = np.ones((3, 3, 2, 4), np.float32), np.ones(4, np.float32)
    y, cache = F.conv2d_forward(x, kernel, bias, padding="same", data_format=data_format)
    assert y.shape == ((0, 5, 5, 4) if data_format == "channels_last" else (0, 4, 5, 5)) and y.dtype == np.float32
    dx, dkernel, dbias = F.conv2d_backward(np.zeros(y.shape, np.float32), cache)
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert_array_equal(dkernel, np.zeros_like(kernel))
    assert_array_equal(dbias, np.zeros(4))
    with pytest.raises(ValueError, match="`dy`"):
        F.conv2d_backward(np.zeros((1, *y.shape[1:])), cache)


def test_conv2d_layer_on_an_empty_batch():
    layer = L.Conv2D(3, 2, seed=0)
    assert layer(np.zeros((0, 4, 4, 1), np.float32)).shape == (0, 3, 3, 3)
    dx = layer.backward(np.zeros((0, 3, 3, 3), np.float32))
    assert dx.shape == (0, 4, 4, 1)
    assert_array_equal(layer.grads["kernel"], 0)


@pytest.mark.parametrize("x_shape, kernel_shape, name", [
    ((2, 4, 4, 0), (3, 3, 0, 2), "`x`"), ((2, 4, 4, 3), (3, 3, 3, 0), "`kernel`"), ((2, 4, 4, 3), (3, 0, 3, 2), "`kernel`")])
def test_conv_with_nothing_to_convolve_is_refused_by_name(x_shape, kernel_shape, name):
    with pytest.raises(ValueError, match=f"{name}.*Received"):
        F.conv2d(np.zeros(x_shape), np.zeros(kernel_shape))


def test_a_stride_never_taken_changes_nothing(rng):
    x, kernel, bias = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    y, cache = F.conv2d_forward(x, kernel, bias, strides=(2**62, 1))
    y_ref, cache_ref = F.conv2d_forward(x, kernel, bias, strides=(3, 1))  # one output row either way
    assert_array_equal(y, y_ref)
    dy = rng.standard_normal(y.shape)
    for got, want in zip(F.conv2d_backward(dy, cache), F.conv2d_backward(dy, cache_ref)):
        assert_array_equal(got, want)


def test_a_dilation_of_a_one_tap_kernel_changes_nothing(rng):
    x, kernel = rng.standard_normal((1, 4, 4, 2)), rng.standard_normal((1, 3, 2, 2))
    assert_array_equal(F.conv2d(x, kernel, dilation_rate=(2**62, 1)), F.conv2d(x, kernel))


@pytest.mark.parametrize("call", [
    lambda: F.conv2d(np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1)), padding=((2**40, 0), (0, 0))),
    lambda: F.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), padding="same", dilation_rate=2**40),
    lambda: F.conv2d(np.ones((0, 4, 4, 1)), np.ones((2, 2, 1, 1)), padding=2**62),
    lambda: F.max_pool2d(np.ones((1, 4, 4, 1)), 2**40, padding="same"),
], ids=["conv-padding", "conv-dilation-same", "conv-empty-batch-padding", "pool-size-same"])
def test_absurd_geometry_is_refused_before_allocation(call):
    with pytest.raises(ValueError, match=r"`padding`.*TiB.*Received"):
        call()


# -- pooling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_average_pooling_near_the_dtype_max_is_the_average(dtype):
    top = float(np.finfo(dtype).max)
    x = (np.array([1.0, 0.9, 0.8, 0.7, 0.95, 0.85, 0.75, 0.65, 0.5]) * top).astype(dtype).reshape(1, 3, 3, 1)
    y, cache = F.avg_pool2d_forward(x, 2, strides=1, padding="valid")
    assert y.dtype == dtype and np.isfinite(y).all()
    wide = x.astype(np.float64) / 4  # exact: a power of two
    expected = wide[:, :-1, :-1] + wide[:, 1:, :-1] + wide[:, :-1, 1:] + wide[:, 1:, 1:]
    assert_allclose(y.astype(np.float64), expected, rtol=2e-3 if dtype == np.float16 else 1e-6)
    assert F.avg_pool2d_backward(np.ones_like(y), cache).shape == x.shape


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_global_average_near_the_dtype_max_is_the_average(dtype):
    top = float(np.finfo(dtype).max)
    x = (np.array([1.0, 0.5, 0.9, 0.7]) * top).astype(dtype).reshape(1, 2, 2, 1)
    y = F.global_avg_pool2d(x)
    assert y.dtype == dtype
    expected = (x.astype(np.float64) / 4).sum()  # exact division: a power of two
    assert_allclose(y.astype(np.float64), [[expected]], rtol=2e-3 if dtype == np.float16 else 1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_an_empty_batch_or_no_channels(mode):
    forward, backward = (F.max_pool2d_forward, F.max_pool2d_backward) if mode == "max" else (
        F.avg_pool2d_forward, F.avg_pool2d_backward)
    for shape, out in (((0, 5, 5, 2), (0, 3, 3, 2)), ((2, 5, 5, 0), (2, 3, 3, 0))):
        y, cache = forward(np.zeros(shape, np.float32), 2, padding="same")
        assert y.shape == out and y.dtype == np.float32
        assert backward(np.zeros(out), cache).shape == shape


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_an_input_without_height_is_refused(pool):
    with pytest.raises(ValueError, match="`x`.*Received"):
        pool(np.zeros((2, 0, 3, 1)), 2, padding=1)


@pytest.mark.parametrize("forward", [F.global_avg_pool2d_forward, F.global_max_pool2d_forward])
def test_global_pooling_edges(forward):
    x = np.arange(24.0).reshape(2, 2, 2, 3)
    assert forward(x, keepdims=1)[0].shape == (2, 1, 1, 3)
    assert forward(x, keepdims=np.False_)[0].shape == (2, 3)
    for keepdims in ("no", None, 2, 0.5):
        with pytest.raises(ValueError, match="`keepdims`.*Received"):
            forward(x, keepdims=keepdims)
    with pytest.raises(ValueError, match="`x`.*Received"):
        forward(np.zeros((2, 0, 2, 3)))
    y, cache = forward(np.zeros((0, 0, 2, 3)))  # nothing to pool and nobody to pool it for: empty
    assert y.shape == (0, 3)
    assert F.global_pool2d_backward(np.zeros((0, 3)), cache).shape == (0, 0, 2, 3)
    _, cache = forward(x)
    for dy in (np.float64(1.0), np.ones((2, 1, 1, 3)), np.ones(6)):
        with pytest.raises(ValueError, match=r"`dy`.*\(2, 3\).*Received"):
            F.global_pool2d_backward(dy, cache)


# -- activations --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_checks_dy(name):
    y, cache = getattr(F, f"{name}_forward")(np.array([[-1.0, 0.5, 2.0], [0.0, -3.0, 1.0]]))
    backward = getattr(F, f"{name}_backward")
    assert_array_equal(backward(np.ones((2, 3)).tolist(), cache), backward(np.ones((2, 3)), cache))
    for dy in (np.ones(3), np.ones((1, 2, 3)), np.ones((3, 2))):
        with pytest.raises(ValueError, match=r"`dy`.*\(2, 3\).*Received"):
            backward(dy, cache)
    for dy in (None, np.full((2, 3), "a")):
        with pytest.raises(TypeError, match="`dy`.*Received"):
            backward(dy, cache)


def test_leaky_relu_with_a_slope_beyond_float16():
    x = np.array([-1e-3, 0.0, -1.0, 2.0], np.float16)
    y, cache = F.leaky_relu_forward(x, negative_slope=7e4)
    assert y.dtype == np.float16
    assert_allclose(y[:2].astype(np.float64), [-70.0, 0.0], rtol=1e-3)
    assert y[2] == -np.inf and y[3] == 2  # -70000 is beyond float16: it overflows, it is not NaN
    dx = F.leaky_relu_backward(np.array([1e-3, 1e-3, 1e-3, 1.0], np.float16), cache)
    assert_allclose(dx.astype(np.float64), [70.0, 70.0, 70.0, 1.0], rtol=1e-3)


def test_softmax_over_an_empty_axis():
    y, cache = F.softmax_forward(np.zeros((3, 0), np.float32))
    assert y.shape == (3, 0) and y.dtype == np.float32
    assert F.softmax_backward(np.zeros((3, 0)), cache).shape == (3, 0)
    assert_allclose(F.softmax(np.zeros((0, 4)), axis=1), np.zeros((0, 4)))


# -- losses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_softmax_cross_entropy_of_logits_further_apart_than_the_dtype(dtype):
    top = float(np.finfo(dtype).max) * 0.9
    logits = np.array([[top, -top, 0.0]], dtype)
    assert F.softmax_cross_entropy([0], logits) == 0
    assert_allclose(float(F.softmax_cross_entropy([2], logits)), top, rtol=1e-3)  # -log p = top, still finite
    loss, cache = F.softmax_cross_entropy_forward([1], logits)
    assert loss == float(np.finfo(dtype).max)  # -log p = 2 top: saturated, not inf or NaN
    assert_allclose(F.softmax_cross_entropy_backward(cache), [[1, -1, 0]])
    mixed = np.array([[-3, 3, 1]], dtype)  # signed "targets": huge terms of both signs, never inf - inf
    assert not np.isnan(F.softmax_cross_entropy(mixed, logits))


@pytest.mark.parametrize("loss, y_true, y_pred", [
    (F.softmax_cross_entropy, np.zeros((2, 0)), np.zeros((2, 0))),
    (F.categorical_cross_entropy, np.zeros((2, 0)), np.zeros((2, 0))),
], ids=["softmax_cross_entropy", "categorical_cross_entropy"])
def test_cross_entropy_with_zero_classes_is_refused(loss, y_true, y_pred):
    with pytest.raises(ValueError, match="at least one class.*Received"):
        loss(y_true, y_pred)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "categorical_cross_entropy", "mean_squared_error"])
def test_loss_backward_checks_dloss(name):
    y_true, y_pred = np.array([0, 1]), np.array([[0.3, 0.7], [0.6, 0.4]])
    if name == "mean_squared_error":
        y_true = np.eye(2)
    _, cache = getattr(F, f"{name}_forward")(y_true, y_pred)
    backward = getattr(F, f"{name}_backward")
    assert_allclose(backward(cache, np.int64(2)), 2 * backward(cache, 1.0))
    for dloss in ("a", None, np.ones(3), [1.0], True, float("nan"), float("inf"), 10**400):
        with pytest.raises(ValueError, match="`dloss`.*Received"):
            backward(cache, dloss)
