"""conv2d forward and backward: seed values, the reference loops, numerical gradients, PyTorch and Keras."""

import numpy as np
import pytest
from hypothesis import given
from numpy.testing import assert_allclose, assert_array_equal

from helpers import assert_close, check_op_grads, import_keras, import_torch
from numcnn.functional import (
    conv2d,
    conv2d_backward,
    conv2d_backward_reference,
    conv2d_forward,
    conv2d_reference,
    resolve_padding,
)

from .strategies import ConvCase, conv_cases, to_format, to_nhwc

SEED_000_IMAGE = np.arange(49.0).reshape(7, 7)
# seed 000's cv_filter = np.random.randn(3, 3), as printed (8 decimals)
SEED_000_FILTER = np.array([
    [2.36566373, 1.93692724, 0.01336884],
    [0.89723602, 0.37494582, 0.9497417],
    [0.20884162, -0.60924503, -0.00647824],
])
SEED_000_NO_PADDING = np.array([
    [13.57301426, 19.70401595, 25.83501764, 31.96601933, 38.09702102],
    [56.4900261, 62.62102779, 68.75202948, 74.88303118, 81.01403287],
    [99.40703794, 105.53803964, 111.66904133, 117.80004302, 123.93104471],
    [142.32404979, 148.45505148, 154.58605317, 160.71705486, 166.84805656],
    [185.24106163, 191.37206332, 197.50306502, 203.63406671, 209.7650684],
])
# Checked by hand against the filter above: every printed number is consistent (to ~1e-9 relative).
SEED_000_PADDING_1 = np.array([
    [-3.26679945, -1.09594387, 0.71909802, 2.5341399, 4.34918179, 6.16422367, 1.42176907],
    [1.70931916, 13.57301426, 19.70401595, 25.83501764, 31.96601933, 38.09702102, 30.97410012],
    [20.32414147, 56.4900261, 62.62102779, 68.75202948, 74.88303118, 81.01403287, 67.19468586],
    [38.93896379, 99.40703794, 105.53803964, 111.66904133, 117.80004302, 123.93104471, 103.4152716],
    [57.55378611, 142.32404979, 148.45505148, 154.58605317, 160.71705486, 166.84805656, 139.63585733],
    [76.16860843, 185.24106163, 191.37206332, 197.50306502, 203.63406671, 209.7650684, 175.85644307],
    [124.96034932, 248.71747604, 255.25535938, 261.79324273, 268.33112608, 274.86900942, 234.30805797],
])

FORMATS = ("channels_last", "channels_first")


def single(image, data_format):
    """A 2D image as a batch of one single-channel image in ``data_format``."""
    return to_format(np.asarray(image, dtype=np.float64)[None, :, :, None], data_format)


def plane(y, data_format, channel=0):
    """Channel ``channel`` of the first image of an output in ``data_format``."""
    return to_nhwc(y, data_format)[0, :, :, channel]


def reference_forward(case, x, kernel, bias):
    y = conv2d_reference(to_nhwc(x, case.data_format), kernel, bias, case.strides, case.pads,
                         case.dilation_rate, case.groups)
    return to_format(y, case.data_format)


# 1. Known values --------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_seed_002_4x4_ones_kernel_bias_3(data_format):
    y = conv2d(single(np.arange(16).reshape(4, 4), data_format), np.ones((2, 2, 1, 1)), np.array([3.0]),
               data_format=data_format)
    assert y.shape == ((1, 3, 3, 1) if data_format == "channels_last" else (1, 1, 3, 3))
    assert_array_equal(plane(y, data_format), [[13, 17, 21], [29, 33, 37], [45, 49, 53]])


@pytest.mark.parametrize("data_format", FORMATS)
def test_seed_002_3x3_input(data_format):
    y = conv2d(single(np.arange(9).reshape(3, 3), data_format), np.ones((2, 2, 1, 1)), np.array([3.0]),
               data_format=data_format)
    assert_array_equal(plane(y, data_format), [[11, 15], [23, 27]])


@pytest.mark.parametrize("data_format", FORMATS)
def test_seed_002_3x3_input_padded_by_one(data_format):
    y = conv2d(single(np.arange(9).reshape(3, 3), data_format), np.ones((2, 2, 1, 1)), np.array([3.0]),
               padding=1, data_format=data_format)
    assert_array_equal(plane(y, data_format), [[3, 4, 6, 5], [6, 11, 15, 10], [12, 23, 27, 16], [9, 16, 18, 11]])


@pytest.mark.parametrize("filters", [1, 3])
def test_seed_002_two_channels_nchw(filters):
    # arange(18) as (1, 2, 3, 3) NCHW; the kernel stays (kh, kw, C, F) for channels_first
    y = conv2d(np.arange(18.0).reshape(1, 2, 3, 3), np.ones((2, 2, 2, filters)), np.full(filters, 3.0),
               data_format="channels_first")
    assert_array_equal(y, np.broadcast_to([[55, 63], [79, 87]], (1, filters, 2, 2)))


def test_seed_002_two_images_two_channels_three_filters():
    y = conv2d(np.arange(36.0).reshape(2, 2, 3, 3), np.ones((2, 2, 2, 3)), data_format="channels_first")
    assert y.shape == (2, 3, 2, 2)  # as printed in seed 002
    # the sums of the rows of the seed's printed (8, 8) im2col matrix
    assert_array_equal(y[0], np.broadcast_to([[52, 60], [76, 84]], (3, 2, 2)))
    assert_array_equal(y[1], np.broadcast_to([[196, 204], [220, 228]], (3, 2, 2)))


@pytest.mark.parametrize("data_format", FORMATS)
def test_seed_000_no_padding(data_format):
    y = conv2d(single(SEED_000_IMAGE, data_format), SEED_000_FILTER[:, :, None, None], np.array([0.1]),
               data_format=data_format)
    assert_allclose(plane(y, data_format), SEED_000_NO_PADDING, rtol=1e-6)


@pytest.mark.parametrize("data_format", FORMATS)
def test_seed_000_padding_1(data_format):
    y = conv2d(single(SEED_000_IMAGE, data_format), SEED_000_FILTER[:, :, None, None], np.array([0.1]),
               padding=1, data_format=data_format)
    assert_allclose(plane(y, data_format), SEED_000_PADDING_1, rtol=1e-6, atol=1e-6)
    # a 3x3 kernel with padding 1 is 'same'
    same = conv2d(single(SEED_000_IMAGE, data_format), SEED_000_FILTER[:, :, None, None], np.array([0.1]),
                  padding="same", data_format=data_format)
    assert_array_equal(same, y)


def test_seed_000_blur():
    y = conv2d(np.arange(49).reshape(1, 7, 7, 1), np.full((3, 3, 1, 1), 1 / 9), np.array([0.0]))
    assert_allclose(y[0, :, :, 0], np.arange(8, 41).reshape(-1)[np.add.outer(np.arange(5) * 7, np.arange(5))],
                    rtol=1e-12)
    assert_allclose(y[0, :, :, 0], [[8, 9, 10, 11, 12], [15, 16, 17, 18, 19], [22, 23, 24, 25, 26],
                                    [29, 30, 31, 32, 33], [36, 37, 38, 39, 40]], rtol=1e-12)


def test_stride_2_known_values():
    y = conv2d(np.arange(16.0).reshape(1, 4, 4, 1), np.ones((2, 2, 1, 1)), np.array([3.0]), strides=2)
    assert_array_equal(y[0, :, :, 0], [[13, 21], [45, 53]])


def test_dilation_2_known_values():
    # out[i, j] = x[i, j] + x[i, j+2] + x[i+2, j] + x[i+2, j+2] = 4 * (5i + j) + 24 for arange(25)
    y = conv2d(np.arange(25.0).reshape(1, 5, 5, 1), np.ones((2, 2, 1, 1)), dilation_rate=2)
    i, j = np.mgrid[0:3, 0:3]
    assert_array_equal(y[0, :, :, 0], 4 * (5 * i + j) + 24)


def test_same_padding_puts_the_extra_pixel_bottom_right():
    # 2x2 kernel, stride 1: one pixel of padding, after (as TensorFlow)
    y = conv2d(np.arange(9.0).reshape(1, 3, 3, 1), np.ones((2, 2, 1, 1)), padding="same")
    assert_array_equal(y[0, :, :, 0], [[8, 12, 7], [20, 24, 13], [13, 15, 8]])


def test_same_padding_stride_2_extra_pixel_after():
    # same_padding(4, 3, 2) == (0, 1): windows start at 0 and 2; the second one reads one zero
    y = conv2d(np.arange(16.0).reshape(1, 4, 4, 1), np.ones((3, 3, 1, 1)), padding="same", strides=2)
    assert_array_equal(y[0, :, :, 0], [[45, 39], [66, 50]])


def test_asymmetric_padding_known_values():
    # ((top, bottom), (left, right)) = ((1, 0), (0, 1)) on [[1, 2], [3, 4]] with a 2x2 ones kernel
    y = conv2d(np.array([[1.0, 2], [3, 4]]).reshape(1, 2, 2, 1), np.ones((2, 2, 1, 1)), padding=((1, 0), (0, 1)))
    assert_array_equal(y[0, :, :, 0], [[3, 2], [10, 6]])


def test_depthwise_groups_known_values():
    # groups = channels: each channel convolved on its own
    y = conv2d(np.arange(18.0).reshape(1, 2, 3, 3), np.ones((2, 2, 1, 2)), groups=2, data_format="channels_first")
    assert_array_equal(y[0], [[[8, 12], [20, 24]], [[44, 48], [56, 60]]])


def test_one_by_one_kernel_mixes_channels_only():
    x = np.arange(12.0).reshape(1, 2, 2, 3)
    kernel = np.array([1.0, 10.0, 100.0]).reshape(1, 1, 3, 1)
    y = conv2d(x, kernel)
    assert_array_equal(y[..., 0], x @ np.array([1.0, 10.0, 100.0]))


def test_backward_known_values():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    y, cache = conv2d_forward(x, np.ones((2, 2, 1, 1)), np.array([3.0]))
    dx, dkernel, dbias = conv2d_backward(np.ones_like(y), cache)
    # each input pixel gets one gradient per window that covers it
    assert_array_equal(dx[0, :, :, 0], [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    # each tap sees a 3x3 block of arange(16): sums 45, 54 / 81, 90
    assert_array_equal(dkernel[:, :, 0, 0], [[45, 54], [81, 90]])
    assert_array_equal(dbias, [9])


def test_backward_without_bias_returns_none():
    _, cache = conv2d_forward(np.ones((1, 3, 3, 1)), np.ones((2, 2, 1, 1)))
    assert conv2d_backward(np.ones((1, 2, 2, 1)), cache)[2] is None


# 2. Reference loops -----------------------------------------------------------------------------

@given(conv_cases())
def test_forward_matches_reference_loops(case):
    x, kernel, bias = case.arrays()
    assert_close(conv2d(x, kernel, bias, **case.kwargs), reference_forward(case, x, kernel, bias), rtol=1e-12)


@given(conv_cases())
def test_backward_matches_reference_loops(case):
    x, kernel, bias = case.arrays()
    y, cache = conv2d_forward(x, kernel, bias, **case.kwargs)
    dy = np.random.default_rng(case.seed + 1).standard_normal(y.shape)
    dx, dkernel, dbias = conv2d_backward(dy, cache)
    rx, rkernel, rbias = conv2d_backward_reference(to_nhwc(dy, case.data_format), to_nhwc(x, case.data_format),
                                                   kernel, case.strides, case.pads, case.dilation_rate, case.groups)
    assert_close(dx, to_format(rx, case.data_format), rtol=1e-12)
    assert_close(dkernel, rkernel, rtol=1e-12)
    if bias is None:
        assert dbias is None
    else:
        assert_close(dbias, rbias, rtol=1e-12)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

GRAD_CONFIGS = [
    dict(),
    dict(strides=2, padding="same"),
    dict(strides=(1, 2), padding=((1, 0), (2, 1)), dilation_rate=(2, 1)),
    dict(groups=2, padding=1),
    dict(strides=3, padding="same", data_format="channels_first"),
]


@pytest.mark.parametrize("config", GRAD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_gradients_match_numerical(config, rng):
    channels_first = config.get("data_format") == "channels_first"
    x = rng.standard_normal((2, 2, 5, 4) if channels_first else (2, 5, 4, 2))
    kernel = rng.standard_normal((3, 2, 2 // config.get("groups", 1), 4))
    bias = rng.standard_normal(4)
    check_op_grads(conv2d_forward, conv2d_backward, (x, kernel, bias), config, rng)


@given(conv_cases())
def test_gradients_match_directional_derivatives(case):
    check_op_grads(conv2d_forward, conv2d_backward, case.arrays(), case.kwargs, np.random.default_rng(case.seed),
                   directional=True, checked=(0, 1))


# 4. PyTorch and Keras parity (float32) ----------------------------------------------------------

def torch_conv(torch, case, x, kernel, bias):
    """PyTorch's conv2d on NCHW tensors; asymmetric padding through F.pad."""
    F = torch.nn.functional
    xt = torch.tensor(to_format(to_nhwc(x, case.data_format), "channels_first"), requires_grad=True)
    kt = torch.tensor(kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)  # (F, C/groups, kh, kw)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    (top, bottom), (left, right) = case.pads
    y = F.conv2d(F.pad(xt, (left, right, top, bottom)), kt, bt, stride=case.strides,
                 dilation=case.dilation_rate, groups=case.groups)
    return y, (xt, kt, bt)


def gradient_scales(x, dy, data_format):
    """Sizes of the terms summed into dkernel and dbias, for their absolute tolerance.

    Each entry of dkernel sums ``x * dy`` over every output position and dbias sums
    ``dy``: both can cancel to almost nothing, so compare them relative to the terms.
    """
    dy_abs = np.abs(to_nhwc(dy, data_format)).reshape(-1, dy.shape[-1 if data_format == "channels_last" else 1])
    per_filter = float(dy_abs.sum(axis=0).max())
    return float(np.abs(x).max()) * per_filter, per_filter


def check_against_torch_autograd(case, y_torch, leaves, x, kernel, bias):
    """Forward and all three gradients against a torch graph built in NCHW."""
    torch = import_torch()
    y, cache = conv2d_forward(x, kernel, bias, **case.kwargs)
    y_nchw = to_format(to_nhwc(y, case.data_format), "channels_first")
    assert y.dtype == np.float32
    assert_close(y_nchw, y_torch.detach().numpy(), rtol=1e-5)

    dy_nchw = np.random.default_rng(case.seed + 7).standard_normal(y_nchw.shape).astype(np.float32)
    y_torch.backward(torch.from_numpy(dy_nchw))
    dx, dkernel, dbias = conv2d_backward(to_format(to_nhwc(dy_nchw, "channels_first"), case.data_format), cache)
    xt, kt, bt = leaves
    kernel_scale, bias_scale = gradient_scales(x, dy_nchw, "channels_first")
    assert_close(to_format(to_nhwc(dx, case.data_format), "channels_first"), xt.grad.numpy(), rtol=1e-5)
    assert_close(dkernel, kt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-5, scale=kernel_scale)
    if bias is not None:
        assert_close(dbias, bt.grad.numpy(), rtol=1e-5, scale=bias_scale)


@given(conv_cases(padding_kinds=("valid", "int", "pair", "explicit")))
def test_matches_torch_forward_and_backward(case):
    torch = import_torch()
    x, kernel, bias = case.arrays(np.float32)
    y_torch, leaves = torch_conv(torch, case, x, kernel, bias)
    check_against_torch_autograd(case, y_torch, leaves, x, kernel, bias)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("padding, strides, groups", [("valid", (1, 1), 1), ("same", (1, 1), 1), (1, (1, 1), 1),
                                                      ("valid", (2, 2), 1), ("valid", (1, 1), 2)])
def test_one_by_one_convolutions_match_torch(padding, strides, groups, data_format):
    """1x1 kernels at stride 1, unpadded, one group take a path of their own (one GEMM on the input itself)."""
    torch = import_torch()
    case = ConvCase(n=3, h=5, w=7, channels=6, kernel_hw=(1, 1), filters=4, strides=strides, dilation_rate=(1, 1),
                    padding=padding, groups=groups, data_format=data_format, use_bias=True, seed=5)
    x, kernel, bias = case.arrays(np.float32)
    expected_path = padding in ("valid", "same") and strides == (1, 1) and groups == 1
    assert conv2d_forward(x, kernel, bias, **case.kwargs)[1].pointwise == expected_path
    y_torch, leaves = torch_conv(torch, case, x, kernel, bias)
    check_against_torch_autograd(case, y_torch, leaves, x, kernel, bias)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@given(conv_cases(padding_kinds=("same",), max_stride=1))
def test_same_stride_1_matches_torch_native_same(case):
    # torch computes 'same' itself (stride 1 only): an independent check of the padding rule
    torch = import_torch()
    x, kernel, bias = case.arrays(np.float32)
    xt = torch.tensor(to_format(to_nhwc(x, case.data_format), "channels_first"))
    kt = torch.tensor(kernel.transpose(3, 2, 0, 1).copy())
    bt = None if bias is None else torch.tensor(bias)
    expected = torch.nn.functional.conv2d(xt, kt, bt, padding="same", dilation=case.dilation_rate,
                                          groups=case.groups).numpy()
    y = conv2d(x, kernel, bias, **case.kwargs)
    assert_close(to_format(to_nhwc(y, case.data_format), "channels_first"), expected, rtol=1e-5)


def keras_conv(case, x, kernel, bias):
    keras = import_keras()
    torch = import_torch()
    xt = torch.tensor(x, requires_grad=True)
    # The leaf is in torch's (F, C, kh, kw) layout and keras gets a (kh, kw, C, F) view of it, which
    # keras permutes straight back: torch's CPU conv backward rejects a non-contiguous weight.
    kt = torch.tensor(kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    y = keras.ops.conv(xt, kt.permute(2, 3, 1, 0), strides=case.strides, padding="same",
                       data_format=case.data_format, dilation_rate=case.dilation_rate)
    bt = None
    if bias is not None:
        bt = torch.tensor(bias, requires_grad=True)
        y = y + (bt if case.data_format == "channels_last" else bt[:, None, None])
    return y, (xt, kt, bt)


def check_against_keras(case):
    torch = import_torch()
    x, kernel, bias = case.arrays(np.float32)
    y_keras, (xt, kt, bt) = keras_conv(case, x, kernel, bias)
    y, cache = conv2d_forward(x, kernel, bias, **case.kwargs)
    assert_close(y, y_keras.detach().numpy(), rtol=1e-5)
    dy = np.random.default_rng(case.seed + 3).standard_normal(y.shape).astype(np.float32)
    y_keras.backward(torch.from_numpy(dy))
    dx, dkernel, dbias = conv2d_backward(dy, cache)
    kernel_scale, bias_scale = gradient_scales(x, dy, case.data_format)
    assert_close(dx, xt.grad.numpy(), rtol=1e-5)
    assert_close(dkernel, kt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-5, scale=kernel_scale)
    if bias is not None:
        assert_close(dbias, bt.grad.numpy(), rtol=1e-5, scale=bias_scale)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("stride", [2, 3])
@pytest.mark.parametrize("kernel_size", [2, 3])
def test_same_padding_matches_keras(kernel_size, stride, size, data_format):
    case = ConvCase(n=2, h=size, w=size + 1, channels=3, kernel_hw=(kernel_size, kernel_size), filters=4,
                    strides=(stride, stride), dilation_rate=(1, 1), padding="same", groups=1,
                    data_format=data_format, use_bias=True, seed=kernel_size * 100 + stride * 10 + size)
    check_against_keras(case)


@given(conv_cases(padding_kinds=("same",), max_groups=1, max_dilation=1))
def test_same_padding_matches_keras_random(case):
    check_against_keras(case)


@given(conv_cases(padding_kinds=("same",), max_groups=1, max_stride=1, max_dilation=3))
def test_same_padding_with_dilation_matches_keras(case):
    check_against_keras(case)


@pytest.mark.parametrize("strides, dilation_rate, padding", [
    ((1, 1), (1, 1), "same"), ((2, 1), (1, 1), "valid"), ((1, 2), (2, 1), "same"), ((2, 2), (1, 2), ((1, 0), (2, 1))),
])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_depthwise_path_matches_reference_loops_forward_and_backward(strides, dilation_rate, padding, data_format):
    # groups == channels == filters runs as kh*kw shifted multiply-adds instead of tiny GEMMs
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 6, 4))
    kernel, bias = rng.standard_normal((3, 2, 1, 4)), rng.standard_normal(4)
    pads = resolve_padding(padding, (7, 6), (3, 2), strides, dilation_rate)
    xf = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
    y, cache = conv2d_forward(xf, kernel, bias, strides, padding, dilation_rate, groups=4, data_format=data_format)
    assert cache.padded is not None  # the depthwise path ran
    expected = conv2d_reference(x, kernel, bias, strides, pads, dilation_rate, groups=4)
    assert_close(y if data_format == "channels_last" else y.transpose(0, 2, 3, 1), expected, rtol=1e-12)
    dy = rng.standard_normal(expected.shape)
    dx, dkernel, dbias = conv2d_backward(dy if data_format == "channels_last" else dy.transpose(0, 3, 1, 2), cache)
    rx, rkernel, rbias = conv2d_backward_reference(dy, x, kernel, strides, pads, dilation_rate, groups=4)
    assert_close(dx if data_format == "channels_last" else dx.transpose(0, 2, 3, 1), rx, rtol=1e-12)
    assert_close(dkernel, rkernel, rtol=1e-12)
    assert_close(dbias, rbias, rtol=1e-12)
    assert dx.dtype == dkernel.dtype == np.float64


def test_kept_patches_give_the_same_forward_and_gradients(monkeypatch, rng):
    from numcnn.functional import conv as conv_module

    x = rng.standard_normal((3, 7, 6, 4)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 2, 6)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    args = dict(strides=(2, 1), padding="same", groups=2)
    y, cache = conv2d_forward(x, kernel, bias, **args)
    y_kept, kept = conv2d_forward(x, kernel, bias, **args, keep_patches=True)
    assert cache.cols is None and [(a, b, c.shape) for a, b, c in kept.cols] == [(0, 3, (2, 3 * 4 * 6, 3 * 3 * 2))]
    np.testing.assert_allclose(y_kept, y, rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    for a, b in zip(conv2d_backward(dy, kept), conv2d_backward(dy, cache)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # kept in pieces of at most one image's patches: the same numbers
    monkeypatch.setattr(conv_module, "KEEP_PIECE_BYTES", 4 * 4 * 6 * 3 * 3 * 2 * 2)
    y_pieces, pieces = conv2d_forward(x, kernel, bias, **args, keep_patches=True)
    assert [(a, b, c.shape) for a, b, c in pieces.cols] == [(i, i + 1, (2, 4 * 6, 3 * 3 * 2)) for i in range(3)]
    np.testing.assert_allclose(y_pieces, y, rtol=1e-6, atol=1e-6)
    for a, b in zip(conv2d_backward(dy, pieces), conv2d_backward(dy, cache)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(conv_module, "KEEP_PATCHES_BYTES", 100)  # too large to keep: built in pieces again
    assert conv2d_forward(x, kernel, bias, **args, keep_patches=True)[1].cols is None


@pytest.mark.parametrize("kernel_hw, padding, dilation, channels, filters", [
    ((3, 3), "same", (1, 1), 8, 8), ((2, 4), "same", (1, 1), 9, 3), ((3, 3), ((2, 0), (1, 2)), (1, 1), 10, 3),
    ((3, 2), "valid", (2, 3), 8, 5), ((3, 3), "same", (2, 2), 12, 12),
    ((3, 3), ((3, 0), (0, 0)), (1, 1), 8, 3),  # wider than the kernel's extent: the tap-by-tap path
    ((3, 3), "same", (1, 1), 4, 3),  # few channels: the tap-by-tap path
    ((3, 3), "same", (1, 1), 8, 9),  # more filters than channels: the tap-by-tap path
])
def test_stride_one_input_gradient_as_a_transposed_convolution(kernel_hw, padding, dilation, channels, filters, rng):
    from numcnn.functional import conv as conv_module
    from numcnn.functional.reference import conv2d_backward_reference

    x = rng.standard_normal((2, 7, 6, channels))
    kernel = rng.standard_normal((*kernel_hw, channels, filters))
    y, cache = conv2d_forward(x, kernel, padding=padding, dilation_rate=dilation)
    dy = rng.standard_normal(y.shape)
    transposed = conv_module._transposed_conv(dy, cache)
    taps = conv_module.crop_nhwc(conv_module._input_gradient_by_taps(dy, cache), cache.pads, cache.input_hw)
    expected = conv2d_backward_reference(dy, x, kernel, pads=cache.pads, dilation_rate=dilation)[0]
    np.testing.assert_allclose(taps, expected, rtol=1e-10, atol=1e-10)
    few_channels = channels < max(conv_module.CONV_INPUT_GRADIENT_CHANNELS, filters)
    assert (transposed is None) == (few_channels or padding == ((3, 0), (0, 0)))
    if transposed is not None:
        np.testing.assert_allclose(conv_module._gemm_forward(transposed)[0], expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(conv2d_backward(dy, cache)[0], expected, rtol=1e-10, atol=1e-10)


def test_a_conv_layer_keeps_its_patches_in_training_only(rng):
    import numcnn
    from numcnn.layers import Conv2D

    layer = Conv2D(2, 3, input_shape=(5, 5, 1))
    x = rng.standard_normal((2, 5, 5, 1)).astype(np.float32)
    layer(x, training=True)
    assert layer._last_cache[0][0].cols is not None
    layer(x, training=False)
    assert layer._last_cache[0][0].cols is None


@pytest.mark.parametrize("channels, kwargs", [
    (1, dict()), (2, dict(strides=(2, 1), padding="same")), (3, dict(dilation_rate=(1, 2), padding=((1, 0), (2, 1)))),
])
def test_patches_of_few_channels_built_tap_by_tap_are_the_general_ones(monkeypatch, rng, channels, kwargs):
    from numcnn.functional import conv as conv_module

    x = rng.standard_normal((3, 7, 8, channels)).astype(np.float32)
    kernel = rng.standard_normal((3, 2, channels, 4)).astype(np.float32)
    _, cache = conv2d_forward(x, kernel, None, **kwargs)
    n, oh, ow, _ = cache.out_shape
    size = n * oh * ow * 3 * 2 * channels
    by_tap = conv_module._patches(cache, 0, n, np.empty(size, np.float32))
    monkeypatch.setattr(conv_module, "FEW_CHANNELS", 0)
    general = conv_module._patches(cache, 0, n, np.empty(size, np.float32))
    np.testing.assert_array_equal(by_tap, general)
    y, kept = conv2d_forward(x, kernel, None, **kwargs, keep_patches=True)
    monkeypatch.setattr(conv_module, "FEW_CHANNELS", 3)
    y_tap, kept_tap = conv2d_forward(x, kernel, None, **kwargs, keep_patches=True)
    np.testing.assert_allclose(y_tap, y, rtol=1e-6, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_allclose(conv2d_backward(dy, kept_tap)[1], conv2d_backward(dy, kept)[1], rtol=1e-5, atol=1e-5)
