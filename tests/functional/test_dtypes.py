"""Every op keeps the caller's float dtype (integers compute in float32) and never modifies its inputs."""

import numpy as np
import pytest

from numcnn.functional import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    categorical_cross_entropy_backward,
    categorical_cross_entropy_forward,
    col2im,
    conv2d_backward,
    conv2d_forward,
    global_avg_pool2d_forward,
    global_max_pool2d_forward,
    global_pool2d_backward,
    im2col,
    leaky_relu_backward,
    leaky_relu_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    mean_squared_error,
    mean_squared_error_backward,
    mean_squared_error_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_backward,
    softmax_forward,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
    tanh_backward,
    tanh_forward,
)

DTYPES = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "uint8": np.uint8}
EXPECTED = {"float32": np.float32, "float64": np.float64, "int64": np.float32, "uint8": np.float32}


class Inputs:
    """Makes the inputs of one op call and remembers a pristine copy of each."""

    def __init__(self, dtype, out_dtype):
        self.rng = np.random.default_rng(0)
        self.dtype, self.out_dtype = dtype, out_dtype
        self.made = []

    def keep(self, array):
        self.made.append((array, array.copy()))
        return array

    def random(self, shape, dtype=None):
        """Random input of the case's dtype; integers are small pixel-like values."""
        dtype = self.dtype if dtype is None else dtype
        if np.issubdtype(dtype, np.integer):
            return self.keep(self.rng.integers(0, 9, shape).astype(dtype))
        return self.keep(self.rng.standard_normal(shape).astype(dtype))

    def dy(self, y):
        """An upstream gradient shaped like ``y``, in the expected float dtype."""
        return self.keep(self.rng.standard_normal(np.shape(y)).astype(self.out_dtype))


def conv(inputs, **kwargs):
    channels_first = kwargs.get("data_format") == "channels_first"
    x = inputs.random((2, 4, 5, 6) if channels_first else (2, 5, 6, 4))
    kernel = inputs.random((3, 2, 4 // kwargs.get("groups", 1), 2))
    y, cache = conv2d_forward(x, kernel, inputs.random((2,)), **kwargs)
    return [y, *conv2d_backward(inputs.dy(y), cache)]


def im2col_pair(inputs):
    x = inputs.random((2, 2, 5, 5))
    col = im2col(x, 3, 3, stride=2, pad=1)
    return [col, col2im(inputs.random(col.shape), x.shape, 3, 3, stride=2, pad=1)]


def pool(forward, backward, **kwargs):
    def run(inputs):
        y, cache = forward(inputs.random((2, 5, 5, 3)), **kwargs)
        return [y, backward(inputs.dy(y), cache)]
    return run


def global_pool(forward, **kwargs):
    def run(inputs):
        y, cache = forward(inputs.random((2, 3, 4, 3)), **kwargs)
        return [y, global_pool2d_backward(inputs.dy(y), cache)]
    return run


def activation(forward, backward, **kwargs):
    def run(inputs):
        y, cache = forward(inputs.random((3, 4)), **kwargs)
        return [y, backward(inputs.dy(y), cache)]
    return run


def loss(forward, backward, targets):
    def run(inputs):
        y_pred = inputs.random((4, 3))
        if targets == "labels":
            y_true = inputs.keep(np.array([0, 2, 1, 2]))
        elif targets == "float64":  # float64 targets must not upcast a float32 prediction
            y_true = inputs.random((4, 3), np.float64)
        else:
            y_true = inputs.random((4, 3))
        value, cache = forward(y_true, y_pred)
        return [np.asarray(value), backward(cache)]
    return run


OPS = {
    "conv2d": conv,
    "conv2d-same-strided": lambda inputs: conv(inputs, strides=2, padding="same"),
    "conv2d-groups-channels-first": lambda inputs: conv(inputs, groups=2, data_format="channels_first"),
    "im2col-col2im": im2col_pair,
    "max_pool2d": pool(max_pool2d_forward, max_pool2d_backward, pool_size=2),
    "max_pool2d-same": pool(max_pool2d_forward, max_pool2d_backward, pool_size=3, strides=2, padding="same"),
    "avg_pool2d-same": pool(avg_pool2d_forward, avg_pool2d_backward, pool_size=3, strides=2, padding="same"),
    "avg_pool2d-channels-first": pool(avg_pool2d_forward, avg_pool2d_backward, pool_size=2,
                                      data_format="channels_first"),
    "global_avg_pool2d": global_pool(global_avg_pool2d_forward),
    "global_max_pool2d-keepdims": global_pool(global_max_pool2d_forward, keepdims=True),
    "relu": activation(relu_forward, relu_backward),
    "leaky_relu": activation(leaky_relu_forward, leaky_relu_backward, negative_slope=0.1),
    "sigmoid": activation(sigmoid_forward, sigmoid_backward),
    "tanh": activation(tanh_forward, tanh_backward),
    "softmax": activation(softmax_forward, softmax_backward),
    "softmax_cross_entropy-labels": loss(softmax_cross_entropy_forward, softmax_cross_entropy_backward, "labels"),
    "softmax_cross_entropy-float64-onehot": loss(softmax_cross_entropy_forward, softmax_cross_entropy_backward,
                                                 "float64"),
    "categorical_cross_entropy": loss(categorical_cross_entropy_forward, categorical_cross_entropy_backward,
                                      "labels"),
    "mean_squared_error": loss(mean_squared_error_forward, mean_squared_error_backward, "same"),
    "mean_squared_error-float64-targets": loss(mean_squared_error_forward, mean_squared_error_backward, "float64"),
}


@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("op", sorted(OPS))
def test_output_dtype_follows_input_and_inputs_are_untouched(op, dtype):
    inputs = Inputs(DTYPES[dtype], EXPECTED[dtype])
    outputs = OPS[op](inputs)
    for out in outputs:
        if out is not None:
            assert out.dtype == EXPECTED[dtype], f"{op}: {out.dtype} output for {dtype} input"
    assert inputs.made
    for array, pristine in inputs.made:
        assert array.dtype == pristine.dtype
        np.testing.assert_array_equal(array, pristine)  # not modified in place


def test_plain_functions_keep_float32():
    x = np.ones((2, 3), np.float32)
    assert np.asarray(softmax_cross_entropy([0, 1], x)).dtype == np.float32
    assert np.asarray(mean_squared_error(np.zeros((2, 3)), x)).dtype == np.float32
