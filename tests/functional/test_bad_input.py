"""Every op rejects bad input at the boundary with a message naming the argument and ending in ``Received:``."""

import numpy as np
import pytest

from numcnn.functional import (
    avg_pool2d,
    avg_pool2d_forward,
    categorical_cross_entropy,
    col2im,
    conv2d,
    conv2d_backward,
    conv2d_forward,
    conv_output_size,
    get_activation,
    global_avg_pool2d,
    global_max_pool2d,
    global_max_pool2d_forward,
    global_pool2d_backward,
    im2col,
    leaky_relu,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_forward,
    mean_squared_error,
    relu,
    resolve_padding,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    tanh,
)

X = np.ones((1, 4, 4, 3))  # NHWC
K = np.ones((2, 2, 3, 2))  # (kh, kw, C, F)
NAN_X = X.copy()
NAN_X[0, 1, 2, 0] = np.nan
STRINGS = np.full((1, 4, 4, 3), "a")
OBJECTS = np.empty((1, 4, 4, 3), dtype=object)
COMPLEX = X.astype(np.complex128)
RAGGED = [[1.0, 2.0], [3.0]]
LOGITS = np.zeros((2, 3))


def with_nan(array, index):
    out = np.array(array, dtype=float)
    out[index] = np.nan
    return out


def conv_backward_with_wrong_dy():
    _, cache = conv2d_forward(X, K)
    return conv2d_backward(np.ones((1, 3, 3, 1)), cache)


def pool_backward_with_wrong_dy():
    _, cache = max_pool2d_forward(X, 2)
    return max_pool2d_backward(np.ones((1, 3, 3, 3)), cache)


def global_backward_with_wrong_dy():
    _, cache = global_max_pool2d_forward(X)
    return global_pool2d_backward(np.ones((1, 2)), cache)


def argument(name):
    """Pattern: the message names ``name`` and then says what it received."""
    return rf"{name}[\s\S]*Received:"


CASES = [
    # conv2d: shapes
    (lambda: conv2d(X[0], K), ValueError, argument("`x`"), "conv-x-rank-3"),
    (lambda: conv2d(X, K[0]), ValueError, argument("`kernel`"), "conv-kernel-rank-3"),
    (lambda: conv2d(X, np.ones((2, 2, 2, 2))), ValueError, argument("`kernel`") + " kernel with shape",
     "conv-channels-mismatch"),
    (lambda: conv2d(X, K, data_format="channels_first"), ValueError,  # NCHW: 4 channels, kernel wants 3
     r"`kernel`[\s\S]*axis 1[\s\S]*Received:", "conv-channels-first-mismatch"),
    (lambda: conv2d(np.ones((1, 2, 2, 3)), np.ones((3, 3, 3, 1))), ValueError, argument("kernel"),
     "conv-kernel-larger-than-input"),
    (lambda: conv2d(X, K, dilation_rate=4), ValueError, argument("kernel"), "conv-dilated-kernel-larger"),
    (lambda: conv2d(X, K, bias=np.ones(3)), ValueError, argument("`bias`"), "conv-bias-shape"),
    (conv_backward_with_wrong_dy, ValueError, argument("`dy`"), "conv-backward-dy-shape"),
    # conv2d: hyper-parameters
    (lambda: conv2d(X, K, strides=0), ValueError, argument("`strides`") + " strides=0", "conv-strides-0"),
    (lambda: conv2d(X, K, strides=-1), ValueError, argument("`strides`"), "conv-strides-negative"),
    (lambda: conv2d(X, K, strides=(1, 0)), ValueError, argument("`strides`"), "conv-strides-pair-0"),
    (lambda: conv2d(X, K, strides=1.5), ValueError, argument("`strides`"), "conv-strides-float"),
    (lambda: conv2d(X, K, strides=(1, 1, 1)), ValueError, argument("`strides`"), "conv-strides-triple"),
    (lambda: conv2d(X, K, dilation_rate=0), ValueError, argument("`dilation_rate`"), "conv-dilation-0"),
    (lambda: conv2d(X, K, dilation_rate=(2, -1)), ValueError, argument("`dilation_rate`"), "conv-dilation-negative"),
    (lambda: conv2d(X, K, padding="full"), ValueError, argument("`padding`") + " padding='full'", "conv-padding-name"),
    (lambda: conv2d(X, K, padding=-1), ValueError, argument("`padding`"), "conv-padding-negative"),
    (lambda: conv2d(X, K, padding=(1, -1)), ValueError, argument("`padding`"), "conv-padding-pair-negative"),
    (lambda: conv2d(X, K, padding=((1, 2), (3,))), ValueError, argument("`padding`"), "conv-padding-malformed"),
    (lambda: conv2d(X, K, padding=1.0), ValueError, argument("`padding`"), "conv-padding-float"),
    (lambda: conv2d(X, K, data_format="NHWC"), ValueError, argument("`data_format`") + " data_format='NHWC'",
     "conv-data-format"),
    (lambda: conv2d(X, K, data_format=None), ValueError, argument("`data_format`"), "conv-data-format-none"),
    (lambda: conv2d(X, np.ones((2, 2, 1, 2)), groups=2), ValueError, argument("`groups`") + " groups=2",
     "conv-groups-not-dividing-channels"),
    (lambda: conv2d(np.ones((1, 4, 4, 4)), np.ones((2, 2, 2, 3)), groups=2), ValueError, argument("`groups`"),
     "conv-groups-not-dividing-filters"),
    (lambda: conv2d(X, K, groups=0), ValueError, argument("`groups`"), "conv-groups-0"),
    (lambda: conv2d(X, K, groups=1.0), ValueError, argument("`groups`"), "conv-groups-float"),
    # conv2d: values
    (lambda: conv2d(STRINGS, K), TypeError, argument("`x`"), "conv-x-strings"),
    (lambda: conv2d(OBJECTS, K), TypeError, argument("`x`"), "conv-x-objects"),
    (lambda: conv2d(COMPLEX, K), TypeError, argument("`x`"), "conv-x-complex"),
    (lambda: conv2d(RAGGED, K), TypeError, argument("`x`"), "conv-x-ragged"),
    (lambda: conv2d(X, K.astype(complex)), TypeError, argument("`kernel`"), "conv-kernel-complex"),
    (lambda: conv2d(X, K, bias=np.array(["a", "b"])), TypeError, argument("`bias`"), "conv-bias-strings"),
    (lambda: conv2d(NAN_X, K), ValueError, argument("`x`[\\s\\S]*finite"), "conv-x-nan"),
    (lambda: conv2d(X, with_nan(K, (0, 0, 0, 0)) * np.inf), ValueError, argument("`kernel`"), "conv-kernel-inf"),
    (lambda: conv2d(X, K, bias=np.array([0.0, np.nan])), ValueError, argument("`bias`"), "conv-bias-nan"),
    # im2col / col2im
    (lambda: im2col(np.ones((3, 4, 4)), 2, 2), ValueError, argument("`x`"), "im2col-rank"),
    (lambda: im2col(np.ones((1, 1, 4, 4)), 2, 2, stride=0), ValueError, argument("`stride`"), "im2col-stride-0"),
    (lambda: im2col(np.ones((1, 1, 4, 4)), 2, 2, pad=-1), ValueError, argument("`pad`"), "im2col-pad-negative"),
    (lambda: im2col(np.ones((1, 1, 4, 4)), 0, 2), ValueError, argument("`filter_h/filter_w`"), "im2col-filter-0"),
    (lambda: im2col(np.ones((1, 1, 2, 2)), 3, 3), ValueError, argument("kernel"), "im2col-filter-too-large"),
    (lambda: im2col(np.ones((1, 1, 4, 4), dtype=complex), 2, 2), TypeError, argument("`x`"), "im2col-complex"),
    (lambda: col2im(np.ones((9, 5)), (1, 1, 4, 4), 2, 2), ValueError, argument("`col`"), "col2im-col-shape"),
    (lambda: col2im(np.ones((9, 4)), (1, 4, 4), 2, 2), ValueError, argument("`input_shape`"), "col2im-input-shape"),
    (lambda: col2im(np.full((9, 4), "a"), (1, 1, 4, 4), 2, 2), TypeError, argument("`col`"), "col2im-strings"),
    # geometry
    (lambda: conv_output_size(2, 3), ValueError, argument("kernel"), "output-size-kernel-too-large"),
    (lambda: resolve_padding("full", (4, 4), (2, 2), (1, 1)), ValueError, argument("`padding`"), "resolve-padding"),
    # global pooling
    (lambda: global_avg_pool2d(X[0]), ValueError, argument("`x`"), "global-avg-rank"),
    (lambda: global_max_pool2d(X, data_format="NCHW"), ValueError, argument("`data_format`"), "global-data-format"),
    (lambda: global_max_pool2d(NAN_X), ValueError, argument("`x`"), "global-max-nan"),
    (lambda: global_avg_pool2d(STRINGS), TypeError, argument("`x`"), "global-avg-strings"),
    (global_backward_with_wrong_dy, ValueError, argument("`dy`"), "global-backward-dy-shape"),
    (pool_backward_with_wrong_dy, ValueError, argument("`dy`"), "pool-backward-dy-shape"),
    # activations
    (lambda: relu(STRINGS), TypeError, argument("`x`"), "relu-strings"),
    (lambda: sigmoid(COMPLEX), TypeError, argument("`x`"), "sigmoid-complex"),
    (lambda: tanh(OBJECTS), TypeError, argument("`x`"), "tanh-objects"),
    (lambda: softmax(RAGGED), TypeError, argument("`x`"), "softmax-ragged"),
    (lambda: leaky_relu(X, negative_slope=-0.1), ValueError, argument("`negative_slope`"), "leaky-slope-negative"),
    (lambda: leaky_relu(X, negative_slope=np.nan), ValueError, argument("`negative_slope`"), "leaky-slope-nan"),
    (lambda: leaky_relu(X, negative_slope="0.1"), ValueError, argument("`negative_slope`"), "leaky-slope-string"),
    (lambda: leaky_relu(X, negative_slope=True), ValueError, argument("`negative_slope`"), "leaky-slope-bool"),
    (lambda: softmax(LOGITS, axis=2), ValueError, argument("`axis`") + " axis=2", "softmax-axis-out-of-range"),
    (lambda: softmax(LOGITS, axis=1.0), ValueError, argument("`axis`"), "softmax-axis-float"),
    (lambda: get_activation("gelu"), ValueError, argument("`activation`") + " activation='gelu'", "activation-name"),
    # softmax_cross_entropy
    (lambda: softmax_cross_entropy([0, 3], LOGITS), ValueError, argument("`y_true`") + " labels from 0 to 3",
     "sce-label-too-large"),
    (lambda: softmax_cross_entropy([-1, 0], LOGITS), ValueError, argument("`y_true`"), "sce-label-negative"),
    (lambda: softmax_cross_entropy([0.5, 1.0], LOGITS), ValueError, argument("`y_true`"), "sce-label-fraction"),
    (lambda: softmax_cross_entropy([np.nan, 1.0], LOGITS), ValueError, argument("`y_true`"), "sce-label-nan"),
    (lambda: softmax_cross_entropy([0, 1, 2], LOGITS), ValueError, argument("`y_true`"), "sce-label-count"),
    (lambda: softmax_cross_entropy(np.ones((2, 4)), LOGITS), ValueError, argument("`y_true`"), "sce-onehot-shape"),
    (lambda: softmax_cross_entropy(with_nan(np.eye(3)[:2], (0, 0)), LOGITS), ValueError, argument("`y_true`"),
     "sce-onehot-nan"),
    (lambda: softmax_cross_entropy([0], np.zeros(3)), ValueError, argument("`logits`"), "sce-logits-1d"),
    (lambda: softmax_cross_entropy([], np.zeros((0, 3))), ValueError, argument("`logits`"), "sce-logits-empty"),
    (lambda: softmax_cross_entropy([0, 1], with_nan(LOGITS, (1, 2))), ValueError, argument("`logits`"),
     "sce-logits-nan"),
    (lambda: softmax_cross_entropy([0, 1], LOGITS.astype(complex)), TypeError, argument("`logits`"),
     "sce-logits-complex"),
    (lambda: softmax_cross_entropy(["a", "b"], LOGITS), TypeError, argument("`y_true`"), "sce-labels-strings"),
    # categorical_cross_entropy
    (lambda: categorical_cross_entropy([0, 3], np.full((2, 3), 1 / 3)), ValueError, argument("`y_true`"),
     "cce-label-too-large"),
    (lambda: categorical_cross_entropy([0, 1], with_nan(np.full((2, 3), 1 / 3), (0, 1))), ValueError,
     argument("`y_pred`"), "cce-probs-nan"),
    (lambda: categorical_cross_entropy([0, 1], np.full((2, 3), "p")), TypeError, argument("`y_pred`"),
     "cce-probs-strings"),
    # mean_squared_error
    (lambda: mean_squared_error(np.ones(3), np.ones(4)), ValueError, argument("`y_true`"), "mse-shape"),
    (lambda: mean_squared_error(np.ones(0), np.ones(0)), ValueError, argument("`y_pred`"), "mse-empty"),
    (lambda: mean_squared_error(np.ones(3), with_nan(np.ones(3), 1)), ValueError, argument("`y_pred`"), "mse-pred-nan"),
    (lambda: mean_squared_error(with_nan(np.ones(3), 0), np.ones(3)), ValueError, argument("`y_true`"), "mse-true-nan"),
    (lambda: mean_squared_error(np.ones(3), np.array(["a", "b", "c"])), TypeError, argument("`y_pred`"),
     "mse-pred-strings"),
    (lambda: mean_squared_error(np.ones(3, dtype=complex), np.ones(3)), TypeError, argument("`y_true`"),
     "mse-true-complex"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [c[:3] for c in CASES], ids=[c[3] for c in CASES])
def test_bad_input_is_rejected_with_a_readable_message(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


POOLS = [max_pool2d, avg_pool2d]
POOL_CASES = [
    (dict(x=X[0]), ValueError, argument("`x`"), "rank-3"),
    (dict(x=np.ones((1, 3, 4, 4)), data_format="CHW"), ValueError, argument("`data_format`"), "data-format"),
    (dict(pool_size=0), ValueError, argument("`pool_size`") + " pool_size=0", "pool-size-0"),
    (dict(pool_size=(2, -2)), ValueError, argument("`pool_size`"), "pool-size-negative"),
    (dict(strides=0), ValueError, argument("`strides`"), "strides-0"),
    (dict(strides=(2, 0)), ValueError, argument("`strides`"), "strides-pair-0"),
    (dict(padding="full"), ValueError, argument("`padding`"), "padding-name"),
    (dict(padding=-1), ValueError, argument("`padding`"), "padding-negative"),
    (dict(padding=2), ValueError, argument("`padding`") + r" padding=2 with pool height 2", "padding-not-smaller"),
    (dict(padding=((0, 0), (0, 3)), pool_size=3), ValueError, argument("`padding`") + ".*width", "padding-right"),
    (dict(pool_size=5), ValueError, argument("kernel"), "pool-larger-than-input"),
    (dict(x=NAN_X), ValueError, argument("`x`"), "nan"),
    (dict(x=STRINGS), TypeError, argument("`x`"), "strings"),
    (dict(x=COMPLEX), TypeError, argument("`x`"), "complex"),
]


@pytest.mark.parametrize(("kwargs", "error", "pattern"), [c[:3] for c in POOL_CASES], ids=[c[3] for c in POOL_CASES])
@pytest.mark.parametrize("pool", POOLS, ids=["max", "avg"])
def test_pooling_rejects_bad_input(pool, kwargs, error, pattern):
    kwargs = {"x": X, "pool_size": 2, **kwargs}
    with pytest.raises(error, match=pattern):
        pool(**kwargs)


def test_avg_pool_backward_rejects_wrong_dy():
    _, cache = avg_pool2d_forward(X, 2)
    with pytest.raises(ValueError, match=argument("`dy`")):
        max_pool2d_backward(np.ones((1, 2, 2, 2)), cache)
