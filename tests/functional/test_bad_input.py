"""Every op rejects bad input at the boundary with a message naming the argument and ending in ``Received:``.

NaN and infinity are values, not bad input: the ops compute with them as PyTorch does (the inputs
that used to be refused are checked against torch at the end of this file, and many more in
``test_nonfinite.py``). Only labels must be whole numbers, so a NaN label is still refused.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from helpers import import_torch
from numcnn import functional as F
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
    (lambda: softmax_cross_entropy([0, 3], LOGITS), ValueError,
     r"`y_true`[\s\S]*\[0, 3\) for 3 classes\. Received: y_true\[1\] = 3$", "sce-label-too-large"),
    (lambda: softmax_cross_entropy([-1, 0], LOGITS), ValueError, argument("`y_true`"), "sce-label-negative"),
    (lambda: softmax_cross_entropy([0.5, 1.0], LOGITS), ValueError, argument("`y_true`"), "sce-label-fraction"),
    (lambda: softmax_cross_entropy([np.nan, 1.0], LOGITS), ValueError, argument("`y_true`") + r" y_true\[0\] = nan",
     "sce-label-nan"),
    (lambda: softmax_cross_entropy([0, 1], np.zeros((2, 0))), ValueError,
     argument("`logits`") + r" logits with shape \(2, 0\)", "sce-logits-no-class"),
    (lambda: categorical_cross_entropy([0, 1], np.zeros((2, 0))), ValueError,
     argument("`y_pred`") + r" y_pred with shape \(2, 0\)", "cce-probs-no-class"),
    (lambda: softmax_cross_entropy([0, 1, 2], LOGITS), ValueError, argument("`y_true`"), "sce-label-count"),
    (lambda: softmax_cross_entropy(np.ones((2, 4)), LOGITS), ValueError, argument("`y_true`"), "sce-onehot-shape"),
    (lambda: softmax_cross_entropy([0], np.zeros(3)), ValueError, argument("`logits`"), "sce-logits-1d"),
    (lambda: softmax_cross_entropy([], np.zeros((0, 3))), ValueError, argument("`logits`"), "sce-logits-empty"),
    (lambda: softmax_cross_entropy([0, 1], LOGITS.astype(complex)), TypeError, argument("`logits`"),
     "sce-logits-complex"),
    (lambda: softmax_cross_entropy(["a", "b"], LOGITS), TypeError, argument("`y_true`"), "sce-labels-strings"),
    # categorical_cross_entropy
    (lambda: categorical_cross_entropy([0, 3], np.full((2, 3), 1 / 3)), ValueError, argument("`y_true`"),
     "cce-label-too-large"),
    (lambda: categorical_cross_entropy([0, 1], np.full((2, 3), "p")), TypeError, argument("`y_pred`"),
     "cce-probs-strings"),
    # mean_squared_error
    (lambda: mean_squared_error(np.ones(3), np.ones(4)), ValueError, argument("`y_true`"), "mse-shape"),
    (lambda: mean_squared_error(np.ones(0), np.ones(0)), ValueError, argument("`y_pred`"), "mse-empty"),
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
    (dict(padding=2), ValueError, argument("`padding`") + r" padding=\(\(2, 2\), \(2, 2\)\) with pool height 2",
     "padding-not-smaller"),
    (dict(padding=((0, 0), (0, 3)), pool_size=3), ValueError, argument("`padding`") + ".*width", "padding-right"),
    (dict(pool_size=5), ValueError, argument("kernel"), "pool-larger-than-input"),
    (dict(x=np.ones((1, 4, 4, 0))), ValueError, argument("`x`") + r" x with shape \(1, 4, 4, 0\)", "no-channels"),
    (dict(x=np.ones((1, 0, 4, 3))), ValueError, argument("`x`") + r" x with shape \(1, 0, 4, 3\)", "no-height"),
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


# -- NaN and infinity: computed with, as PyTorch does -----------------------------------------------


def with_inf(array, index):
    out = np.array(array, dtype=float)
    out[index] = np.inf
    return out


def torch_conv(torch, x, kernel, bias=None):
    """torch's conv2d on NHWC ``x`` and a Keras-layout kernel, back in NHWC."""
    y = torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(kernel).permute(3, 2, 0, 1),
                                   None if bias is None else torch.tensor(bias))
    return y.permute(0, 2, 3, 1).numpy()


def torch_nchw(torch, op, x, *args):
    """torch's ``op`` on NHWC ``x`` through its NCHW layout, back in NHWC."""
    return op(torch.tensor(x).permute(0, 3, 1, 2), *args).permute(0, 2, 3, 1).numpy()


def conv_known(filter0, filter1, nan_window=False):
    """The (1, 3, 3, 2) output of X or NAN_X with K: ``filter0`` / ``filter1`` everywhere (12 = 2*2*3
    ones), and NaN where a window holds NAN_X's NaN pixel (1, 2)."""
    y = np.empty((1, 3, 3, 2))
    y[..., 0], y[..., 1] = filter0, filter1
    if nan_window:
        y[0, 0:2, 1:3, :] = np.nan
    return y


CCE_PROBS = np.full((2, 3), 1 / 3)

# (id, numcnn, torch, known value): each input was refused before NaN and inf were allowed through
NONFINITE_CASES = [
    ("conv-x-nan", lambda: conv2d(NAN_X, K), lambda t: torch_conv(t, NAN_X, K),
     conv_known(12.0, 12.0, nan_window=True)),
    ("conv-kernel-inf", lambda: conv2d(X, with_inf(K, (0, 0, 0, 0))),
     lambda t: torch_conv(t, X, with_inf(K, (0, 0, 0, 0))), conv_known(np.inf, 12.0)),
    ("conv-bias-nan", lambda: conv2d(X, K, bias=np.array([0.0, np.nan])),
     lambda t: torch_conv(t, X, K, np.array([0.0, np.nan])), conv_known(12.0, np.nan)),
    ("max-pool-nan", lambda: max_pool2d(NAN_X, 2), lambda t: torch_nchw(t, t.nn.functional.max_pool2d, NAN_X, 2),
     np.where(np.arange(12).reshape(1, 2, 2, 3) == 3, np.nan, 1.0)),  # output (0, 1), channel 0
    ("avg-pool-nan", lambda: avg_pool2d(NAN_X, 2), lambda t: torch_nchw(t, t.nn.functional.avg_pool2d, NAN_X, 2),
     np.where(np.arange(12).reshape(1, 2, 2, 3) == 3, np.nan, 1.0)),
    ("global-max-nan", lambda: global_max_pool2d(NAN_X),
     lambda t: t.tensor(NAN_X).amax(dim=(1, 2)).numpy(), [[np.nan, 1.0, 1.0]]),
    ("sce-onehot-nan", lambda: softmax_cross_entropy(with_nan(np.eye(3)[:2], (0, 0)), LOGITS),
     lambda t: t.nn.functional.cross_entropy(t.tensor(LOGITS), t.tensor(with_nan(np.eye(3)[:2], (0, 0)))).item(),
     np.nan),
    ("sce-logits-nan", lambda: softmax_cross_entropy([0, 1], with_nan(LOGITS, (1, 2))),
     lambda t: t.nn.functional.cross_entropy(t.tensor(with_nan(LOGITS, (1, 2))), t.tensor([0, 1])).item(), np.nan),
    # integer labels pick their class's probability (PyTorch's NLL): a NaN elsewhere in the row is never read
    ("cce-probs-nan-elsewhere", lambda: categorical_cross_entropy([0, 1], with_nan(CCE_PROBS, (0, 1))),
     lambda t: t.nn.functional.nll_loss(t.log(t.clamp(t.tensor(with_nan(CCE_PROBS, (0, 1))), 1e-7, 1 - 1e-7)),
                                        t.tensor([0, 1])).item(), math.log(3)),
    ("cce-probs-nan-at-label", lambda: categorical_cross_entropy([0, 1], with_nan(CCE_PROBS, (0, 0))),
     lambda t: t.nn.functional.nll_loss(t.log(t.clamp(t.tensor(with_nan(CCE_PROBS, (0, 0))), 1e-7, 1 - 1e-7)),
                                        t.tensor([0, 1])).item(), np.nan),
    ("mse-pred-nan", lambda: mean_squared_error(np.ones(3), with_nan(np.ones(3), 1)),
     lambda t: t.nn.functional.mse_loss(t.tensor(with_nan(np.ones(3), 1)), t.tensor(np.ones(3))).item(), np.nan),
    ("mse-true-nan", lambda: mean_squared_error(with_nan(np.ones(3), 0), np.ones(3)),
     lambda t: t.nn.functional.mse_loss(t.tensor(np.ones(3)), t.tensor(with_nan(np.ones(3), 0))).item(), np.nan),
    ("mse-true-inf", lambda: mean_squared_error(with_inf(np.ones(3), 0), np.ones(3)),
     lambda t: t.nn.functional.mse_loss(t.tensor(np.ones(3)), t.tensor(with_inf(np.ones(3), 0))).item(), np.inf),
]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("ours", "theirs", "known"), [c[1:] for c in NONFINITE_CASES],
                         ids=[c[0] for c in NONFINITE_CASES])
def test_nan_and_inf_are_computed_with_as_pytorch_does(ours, theirs, known):
    torch = import_torch()
    result = ours()
    assert_allclose(result, theirs(torch), rtol=1e-12)  # NaN and inf where torch has them
    assert_array_equal(result, known)


@pytest.mark.parametrize("call, message", [
    (lambda: F.batch_norm_forward(np.ones((2, 3)), np.ones(2), np.zeros(3), -1, 1e-3), r"`gamma` argument must have "
                                                                                        r"shape \(3,\)"),
    (lambda: F.batch_norm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), 0, 1e-3), r"`axis` argument"),
    (lambda: F.batch_norm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), -1, -1.0), r"`epsilon` argument"),
    (lambda: F.batch_norm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), -1, 1e-3, np.zeros(3)), r"`mean` and `var`"),
    (lambda: F.add_forward([np.ones((2, 3)), np.ones((2, 4))]), r"`xs` argument must hold arrays of one shape"),
    (lambda: F.add_forward(np.ones((2, 3))), r"`xs` argument must be a list of at least 2 arrays"),
    (lambda: F.concatenate_forward([np.ones((2, 3)), np.ones((3, 3))], -1), r"equal except on axis 1"),
    (lambda: F.concatenate_forward([np.ones((2, 3)), np.ones((2, 3))], 2), r"`axis` argument"),
    (lambda: F.conv_output_size(7, 3, stride=0), r"`stride` argument must be a positive int"),
    (lambda: F.same_padding(7, 3, dilation=-1), r"`dilation` argument must be a positive int"),
], ids=["bn-gamma", "bn-batch-axis", "bn-epsilon", "bn-mean-alone", "add-shapes", "add-not-list", "concat-shapes",
        "concat-axis", "output-size-stride", "same-padding-dilation"])
def test_the_functional_doors_of_batch_norm_merges_and_geometry_check_their_arguments(call, message):
    with pytest.raises(ValueError, match=message + ".*Received"):
        call()
