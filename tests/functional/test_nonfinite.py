"""NaN and infinity flow through the ops as IEEE arithmetic and PyTorch have them (the ops check
arguments, not values; only ``fit`` stops on a non-finite loss). Every test here compares with
torch's CPU kernels on the same input, in float64 unless the dtype is the point.

NumPy warns about the NaN and overflow these inputs are meant to produce; the warnings are expected.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from helpers import import_torch
from numcnn import functional as F

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning",
                                        "ignore:overflow encountered:RuntimeWarning")

NAN, INF = np.nan, np.inf


def nchw_to(x, data_format):
    return x if data_format == "channels_first" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def to_nchw(y, data_format):
    return y if data_format == "channels_first" else y.transpose(0, 3, 1, 2)


# -- convolution ---------------------------------------------------------------------------------

# (strides, padding, dilation, groups, in_channels, filters): plain GEMM, strided + padded + dilated,
# grouped GEMM, depthwise (its own shifted multiply-add path)
CONV_GEOMETRIES = {
    "plain": (1, 0, 1, 1, 3, 4),
    "stride2-pad1-dilation2": (2, 1, 2, 1, 3, 4),
    "groups2": (1, 1, 1, 2, 4, 6),
    "depthwise": (1, 1, 1, 4, 4, 4),
}


def _with_nonfinite(where, x, kernel, bias):
    """Put NaN or infinity into one argument, at positions every geometry above reads
    (odd rows and columns: stride 2 over a padding of 1 reads those)."""
    if where == "x-nan":
        x[0, 0, 1, 3] = NAN
    elif where == "x-inf":
        x[1, 1, 3, 1] = INF
    elif where == "x-neginf":
        x[0, 2, 5, 5] = -INF
    elif where == "x-inf-next-to-neginf":  # windows holding both sum to NaN
        x[1, 1, 1, 1], x[1, 1, 1, 3] = INF, -INF
    elif where == "kernel-nan":
        kernel[1, 1, 0, 0] = NAN
    elif where == "kernel-inf":  # inf * a padded zero is NaN, inf * a pixel is +-inf
        kernel[0, 2, 0, 1] = INF
    elif where == "bias-nan":
        bias[1] = NAN
    elif where == "bias-neginf":
        bias[2] = -INF


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES)
@pytest.mark.parametrize("where", ["x-nan", "x-inf", "x-neginf", "x-inf-next-to-neginf", "kernel-nan", "kernel-inf",
                                   "bias-nan", "bias-neginf"])
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_conv2d_forward_with_nan_and_inf_matches_torch(where, geometry, data_format, rng):
    torch = import_torch()
    strides, padding, dilation, groups, channels, filters = CONV_GEOMETRIES[geometry]
    x = rng.standard_normal((2, channels, 6, 7))
    kernel = rng.standard_normal((3, 3, channels // groups, filters))
    bias = rng.standard_normal(filters)
    _with_nonfinite(where, x, kernel, bias)
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(kernel.transpose(3, 2, 0, 1)),
                                          torch.tensor(bias), strides, padding, dilation, groups).numpy()
    assert not np.isfinite(expected).all()  # the case reaches the output
    y = F.conv2d(nchw_to(x, data_format), kernel, bias, strides, padding, dilation, groups, data_format)
    assert_allclose(to_nchw(y, data_format), expected, rtol=1e-10, atol=1e-10)  # NaN and +-inf where torch has them


# -- max pooling ---------------------------------------------------------------------------------


def _max_pool_input(rng):
    """(2, 2, 6, 6) NCHW: at most one NaN per image channel (so no window holds two), a 3x3 block of -inf,
    a +inf, a NaN beside the -inf block, and a window with both +inf and NaN."""
    x = rng.standard_normal((2, 2, 6, 6))
    x[0, 0, :3, :3] = -INF  # whole windows of -inf, with and without padding around them
    x[0, 0, 3, 1] = NAN  # next to the -inf block: windows holding both give NaN
    x[0, 0, 1, 5] = INF
    x[0, 1, 4, 4] = NAN
    x[0, 1, 5, 5] = INF  # NaN beats +inf
    x[1, 0, 0, 0] = NAN  # a corner, where padded windows start
    x[1, 1, 2:4, 2:5] = -INF
    x[1, 1, 5, 0] = -INF
    return x


MAX_POOL_GEOMETRIES = {  # (kernel, stride, padding); torch pads symmetrically
    "k2-s2": (2, 2, 0),
    "k3-s1-overlapping": (3, 1, 0),
    "k3-s2-pad1": (3, 2, 1),
    "k2-s1-pad1": (2, 1, 1),
}


@pytest.mark.parametrize("geometry", MAX_POOL_GEOMETRIES)
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool2d_with_nan_and_neginf_matches_torch_forward_and_backward(geometry, data_format, dtype, rng):
    """NaN wins its windows, a window of -inf (and padding) gives -inf; the gradient of a -inf window
    goes to its first real pixel, never to padding, and that of a window with one NaN to that NaN."""
    torch = import_torch()
    k, s, p = MAX_POOL_GEOMETRIES[geometry]
    x = _max_pool_input(rng).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, k, s, p)
    dy = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(dy))
    expected_y, expected_dx = yt.detach().numpy(), xt.grad.numpy()
    assert np.isnan(expected_y).any() and np.isneginf(expected_y).any()  # the cases reach the output

    y, cache = F.max_pool2d_forward(nchw_to(x, data_format), k, s, p, data_format)
    assert y.dtype == dtype
    assert_array_equal(to_nchw(y, data_format), expected_y)  # exact, NaN where torch has NaN
    dx = F.max_pool2d_backward(nchw_to(dy, data_format), cache)
    tolerance = 1e-6 if dtype == np.float32 else 1e-12  # several windows' dy add up, in another order
    assert_allclose(to_nchw(dx, data_format), expected_dx, rtol=tolerance, atol=tolerance)


def test_max_pool2d_backward_of_an_all_neginf_padded_window_goes_to_its_first_real_pixel():
    x = np.full((1, 1, 3, 3), -INF)
    x[0, 0, 2, 2] = 5.0
    y, cache = F.max_pool2d_forward(x, 2, 2, 1, "channels_first")  # windows: (-1..0) x (-1..0) etc.
    assert_array_equal(y[0, 0], [[-INF, -INF], [-INF, 5.0]])
    dx = F.max_pool2d_backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), cache)
    assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 0, 0], [0, 0, 4]])  # (0,0), (0,1), (1,0): first real pixels


def test_max_pool2d_backward_of_a_window_with_several_nans_matches_torch():
    torch = import_torch()
    x = np.array([[[[NAN, NAN], [1.0, NAN]]]])
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).backward(torch.ones((1, 1, 1, 1), dtype=torch.float64))
    _, cache = F.max_pool2d_forward(x, 2, data_format="channels_first")
    assert_array_equal(F.max_pool2d_backward(np.ones((1, 1, 1, 1)), cache), xt.grad.numpy())


# -- average and global pooling ------------------------------------------------------------------


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 1, 1), (3, 2, 1)], ids=["k2-s2", "k3-s1-pad1", "k3-s2-pad1"])
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_avg_pool2d_with_nan_and_inf_matches_torch(k, s, p, data_format, rng):
    """A window holding NaN, or both +inf and -inf, averages to NaN; one holding +inf to +inf.
    Padding is left out of each mean (TensorFlow's rule, torch's count_include_pad=False)."""
    torch = import_torch()
    x = rng.standard_normal((2, 2, 6, 6))
    x[0, 0, 1, 1] = NAN
    x[0, 1, 3, 3] = INF
    x[1, 0, 4, 4], x[1, 0, 4, 5] = INF, -INF
    x[1, 1, 0, 5] = -INF
    expected = torch.nn.functional.avg_pool2d(torch.tensor(x), k, s, p, count_include_pad=False).numpy()
    assert np.isnan(expected).any() and np.isposinf(expected).any() and np.isneginf(expected).any()
    y = F.avg_pool2d(nchw_to(x, data_format), k, s, p, data_format)
    assert_allclose(to_nchw(y, data_format), expected, rtol=1e-12)


def test_global_pooling_with_nan_and_inf():
    torch = import_torch()
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float64).reshape(2, 3, 2, 2)  # NCHW
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = NAN  # two NaNs in one channel
    x[0, 1, 1, 1] = -INF
    x[1, 2, 0, 0] = INF
    expected_avg = torch.tensor(x).mean(dim=(2, 3)).numpy()
    expected_max = torch.tensor(x).amax(dim=(2, 3)).numpy()
    assert_array_equal(F.global_avg_pool2d(x, "channels_first"), expected_avg)
    y, cache = F.global_max_pool2d_forward(x, "channels_first")
    assert_array_equal(y, expected_max)
    assert_array_equal(y, [[NAN, 6.0, 11.0], [15.0, 19.0, INF]])
    # numcnn's rule (torch's amax gives NaN everywhere, its max one index): a NaN channel's
    # gradient is shared among its NaNs, a -inf pixel that is not the maximum gets nothing
    dx = F.global_pool2d_backward(np.full((2, 3), 4.0), cache)
    assert_array_equal(dx[0, 0], [[0, 2], [2, 0]])
    assert_array_equal(dx[0, 1], [[0, 0], [4, 0]])
    assert_array_equal(dx[1, 2], [[4, 0], [0, 0]])


# -- activations ---------------------------------------------------------------------------------

ACTIVATION_INPUT = np.array([[NAN, INF, -INF, 0.0, -2.0, 3.0]])
SOFTMAX_INPUT = np.array([[NAN, 1, 2], [INF, 1, 2], [-INF, 1, 2], [-INF, -INF, -INF], [INF, INF, 0], [INF, -INF, 0],
                          [1, 2, 3]])


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activations_with_nan_and_inf_match_torch(name, dtype):
    torch = import_torch()
    x = (SOFTMAX_INPUT if name == "softmax" else ACTIVATION_INPUT).astype(dtype)
    t = torch.tensor(x)
    expected = {
        "relu": lambda: torch.relu(t),
        "leaky_relu": lambda: torch.nn.functional.leaky_relu(t, 0.2),
        "sigmoid": lambda: torch.sigmoid(t),
        "tanh": lambda: torch.tanh(t),
        "softmax": lambda: torch.softmax(t, dim=-1),
    }[name]().numpy()
    y = getattr(F, name)(x)
    assert y.dtype == dtype
    assert_allclose(y, expected, rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_the_nonfinite_values_the_activations_give():
    """The same facts as known values: NaN stays NaN, the infinities saturate."""
    assert_array_equal(F.relu(ACTIVATION_INPUT), [[NAN, INF, 0, 0, 0, 3]])
    assert_array_equal(F.leaky_relu(ACTIVATION_INPUT, 0.5), [[NAN, INF, -INF, 0, -1, 3]])
    assert_array_equal(F.sigmoid(ACTIVATION_INPUT)[0, :4], [NAN, 1, 0, 0.5])
    assert_array_equal(F.tanh(ACTIVATION_INPUT)[0, :4], [NAN, 1, -1, 0])
    y = F.softmax(SOFTMAX_INPUT)
    assert np.isnan(y[[0, 1, 3, 4, 5]]).all()  # NaN, or inf - inf after subtracting the row's max
    assert y[2, 0] == 0 and math.isclose(y[2].sum(), 1.0)  # -inf just has probability 0


# -- losses --------------------------------------------------------------------------------------

LOGITS = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -1.0], [0.3, 0.2, 0.1]])
LABELS = np.array([2, 0, 1])


@pytest.mark.parametrize("case", ["nan", "inf", "neginf-elsewhere", "neginf-at-label", "all-neginf"])
@pytest.mark.parametrize("targets", ["labels", "one-hot"])
def test_softmax_cross_entropy_with_nan_and_inf_logits_matches_torch(case, targets):
    """A NaN logit makes the loss NaN; -inf on the label makes it inf; +inf (inf - inf) makes it NaN.
    -inf on another class: integer labels pick their row's log-probability (PyTorch's NLL), so the
    loss stays finite, while one-hot rows multiply 0 * -inf = NaN, as torch's probability targets do.
    The gradient is torch's, row by row."""
    torch = import_torch()
    logits = LOGITS.copy()
    index, expected_loss = {
        "nan": ((1, 2), NAN), "inf": ((0, 1), NAN), "neginf-elsewhere": ((1, 2), None if targets == "labels" else NAN),
        "neginf-at-label": ((1, 0), INF), "all-neginf": ((2, slice(None)), NAN)}[case]
    logits[index] = NAN if case == "nan" else INF if case == "inf" else -INF
    y_true = LABELS if targets == "labels" else np.eye(3)[LABELS]
    lt = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(lt, torch.tensor(y_true))
    loss_t.backward()

    loss, cache = F.softmax_cross_entropy_forward(y_true, logits)
    assert_allclose(loss, loss_t.item(), rtol=1e-12)
    if expected_loss is None:
        assert np.isfinite(loss)
    else:
        assert_array_equal(loss, expected_loss)
    assert_allclose(F.softmax_cross_entropy_backward(cache), lt.grad.numpy(), rtol=1e-12, atol=1e-15)
