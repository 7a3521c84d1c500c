"""zero_pad2d, crop2d, upsample2d and permute: known values, the slow loops, numerical gradients, PyTorch."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from helpers import assert_close, check_directional_grad, import_torch, numerical_grad
from numcnn.functional.reshaping import (
    crop2d,
    crop2d_backward,
    crop2d_forward,
    linear_taps,
    permute,
    permute_backward,
    permute_forward,
    standardize_margins,
    upsample2d,
    upsample2d_backward,
    upsample2d_forward,
    zero_pad2d,
    zero_pad2d_backward,
    zero_pad2d_forward,
)
from numcnn.utils.validation import ArraySizeError

from .strategies import to_format, to_nhwc

FORMATS = ("channels_last", "channels_first")
MODES = ("nearest", "bilinear")


def image(rows, data_format="channels_last"):
    """A 2D list as a batch of one single-channel image in ``data_format``."""
    return to_format(np.asarray(rows, dtype=np.float64)[None, :, :, None], data_format)


def plane(y, data_format="channels_last"):
    return to_nhwc(y, data_format)[0, :, :, 0]


# 1. Known values --------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_zero_pad_keras_docstring_example(data_format):
    # keras.layers.ZeroPadding2D(padding=1) on arange(4) as (1, 1, 2, 2): channels_last, 1 row of 2 channels
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    y = zero_pad2d(x, 1)
    assert y.shape == (1, 3, 4, 2)
    assert_array_equal(y[0, 1], [[0, 0], [0, 1], [2, 3], [0, 0]])
    assert not y[0, 0].any() and not y[0, 2].any()
    assert_array_equal(plane(zero_pad2d(image([[1, 2]], data_format), ((0, 1), (2, 0)), data_format),
                             data_format), [[0, 0, 1, 2], [0, 0, 0, 0]])


@pytest.mark.parametrize(("padding", "expected"), [
    (2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))), (((1, 0), (0, 2)), ((1, 0), (0, 2))),
    ((1, (2, 3)), ((1, 1), (2, 3))), ([[0, 1], 4], ((0, 1), (4, 4))), (np.int64(1), ((1, 1), (1, 1))),
])
def test_the_three_keras_forms_of_an_amount(padding, expected):
    assert standardize_margins(padding, "padding") == expected


@pytest.mark.parametrize("data_format", FORMATS)
def test_crop_known_values(data_format):
    x = image(np.arange(20).reshape(4, 5), data_format)
    assert_array_equal(plane(crop2d(x, ((1, 2), (0, 3)), data_format), data_format), [[5, 6]])
    assert_array_equal(plane(crop2d(x, 1, data_format), data_format), [[6, 7, 8], [11, 12, 13]])
    assert_array_equal(crop2d(x, 0, data_format), x)


def test_crop_keras_docstring_shape():
    assert crop2d(np.zeros((2, 28, 28, 3)), ((2, 2), (4, 4))).shape == (2, 24, 20, 3)


def test_nearest_keras_docstring_example():
    # keras.layers.UpSampling2D(size=(1, 2)) on arange(12) as (2, 2, 1, 3)
    y = upsample2d(np.arange(12.0).reshape(2, 2, 1, 3), (1, 2))
    assert_array_equal(y, [[[[0, 1, 2], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]],
                           [[[6, 7, 8], [6, 7, 8]], [[9, 10, 11], [9, 10, 11]]]])


@pytest.mark.parametrize("data_format", FORMATS)
def test_nearest_repeats_each_pixel(data_format):
    y = upsample2d(image([[1, 2], [3, 4]], data_format), (2, 3), data_format)
    assert_array_equal(plane(y, data_format), [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2],
                                               [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]])


@pytest.mark.parametrize("data_format", FORMATS)
def test_bilinear_half_pixel_known_values(data_format):
    # factor 2: outputs sit at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1) of the input rows
    y = upsample2d(image([[0, 4]], data_format), (1, 2), data_format, "bilinear")
    assert_array_equal(plane(y, data_format), [[0, 1, 3, 4]])
    # factor 3: -1/3 -> 0, 0, 1/3, 2/3, 1, 4/3 -> 1 of [0, 3]: 0, 0, 1, 2, 3, 3
    y = upsample2d(image([[0, 3]], data_format), (1, 3), data_format, "bilinear")
    assert_close(plane(y, data_format), [[0, 0, 1, 2, 3, 3]], rtol=1e-15)
    # both axes: the product of the 1D weights
    y = upsample2d(image([[0, 4], [8, 12]], data_format), 2, data_format, "bilinear")
    assert_array_equal(plane(y, data_format), [[0, 1, 3, 4], [2, 3, 5, 6], [6, 7, 9, 10], [8, 9, 11, 12]])


def test_linear_taps_known_values():
    i0, i1, w0, w1 = linear_taps(3, 2)  # sources -0.25 -> 0, 0.25, 0.75, 1.25, 1.75, 2.25
    assert_array_equal(i0, [0, 0, 0, 1, 1, 2])
    assert_array_equal(i1, [1, 1, 1, 2, 2, 2])
    assert_array_equal(w1, [0, 0.25, 0.75, 0.25, 0.75, 0.25])
    assert_array_equal(w0 + w1, np.ones(6))
    i0, i1, w0, w1 = linear_taps(1, 3)  # one input row: every output is that row
    assert_array_equal(i0, [0, 0, 0])
    assert_array_equal(i1, [0, 0, 0])


def test_upsampling_by_one_is_the_identity(rng):
    x = rng.standard_normal((2, 3, 4, 2))
    for mode in MODES:
        y, cache = upsample2d_forward(x, 1, interpolation=mode)
        assert_array_equal(y, x)
        assert y is not x
        assert_array_equal(upsample2d_backward(x, cache), x)


def test_bilinear_keeps_constants_and_linear_ramps_inside(rng):
    y = upsample2d(np.full((1, 3, 4, 2), 7.0), (3, 2), interpolation="bilinear")
    assert_close(y, np.full((1, 9, 8, 2), 7.0), rtol=1e-15)
    ramp = np.arange(5.0)[None, None, :, None]  # away from the clamped edges, a ramp stays a ramp
    y = upsample2d(ramp, (1, 2), interpolation="bilinear")[0, 0, 1:-1, 0]
    assert_close(y, (np.arange(1, 9) + 0.5) / 2 - 0.5, rtol=1e-15)


def test_permute_known_values():
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    y = permute(x, (3, 1, 2))
    assert y.shape == (1, 4, 2, 3)
    assert y[0, 3, 1, 2] == x[0, 1, 2, 3]
    assert_array_equal(permute(np.arange(6.0).reshape(1, 2, 3), (2, 1))[0], [[0, 3], [1, 4], [2, 5]])
    assert y.flags.c_contiguous


def test_backward_known_values():
    _, cache = zero_pad2d_forward(np.zeros((1, 2, 2, 1)), ((1, 0), (0, 1)))
    dy = np.arange(9.0).reshape(1, 3, 3, 1)
    assert_array_equal(zero_pad2d_backward(dy, cache)[0, :, :, 0], [[3, 4], [6, 7]])
    _, cache = crop2d_forward(np.zeros((1, 3, 3, 1)), ((1, 0), (0, 1)))
    assert_array_equal(crop2d_backward(np.array([[1.0, 2], [3, 4]]).reshape(1, 2, 2, 1), cache)[0, :, :, 0],
                       [[0, 0, 0], [1, 2, 0], [3, 4, 0]])
    _, cache = upsample2d_forward(np.zeros((1, 2, 2, 1)), 2)
    assert_array_equal(upsample2d_backward(np.arange(16.0).reshape(1, 4, 4, 1), cache)[0, :, :, 0],
                       [[10, 18], [42, 50]])  # the sum of each 2x2 block
    _, cache = upsample2d_forward(np.zeros((1, 1, 2, 1)), (1, 2), interpolation="bilinear")
    # weights of [x0, x1] in the outputs: [1, 0], [.75, .25], [.25, .75], [0, 1]
    assert_array_equal(upsample2d_backward(np.ones((1, 1, 4, 1)), cache)[0, 0, :, 0], [2, 2])
    assert_array_equal(upsample2d_backward(np.array([1.0, 0, 0, 0]).reshape(1, 1, 4, 1), cache)[0, 0, :, 0], [1, 0])
    assert_array_equal(upsample2d_backward(np.array([0, 1.0, 0, 0]).reshape(1, 1, 4, 1), cache)[0, 0, :, 0],
                       [0.75, 0.25])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype, rng):
    x = rng.standard_normal((2, 4, 5, 3)).astype(dtype)
    for y, cache, backward in [
        (*zero_pad2d_forward(x, 1), zero_pad2d_backward), (*crop2d_forward(x, 1), crop2d_backward),
        (*upsample2d_forward(x, 2), upsample2d_backward),
        (*upsample2d_forward(x, 2, interpolation="bilinear"), upsample2d_backward),
        (*permute_forward(x, (2, 3, 1)), permute_backward),
    ]:
        assert y.dtype == dtype
        assert backward(np.ones_like(y), cache).dtype == dtype


def test_integer_inputs_give_float32():
    x = np.arange(8).reshape(1, 2, 2, 2)
    for y in (zero_pad2d(x), crop2d(x, 0), upsample2d(x), upsample2d(x, interpolation="bilinear"),
              permute(x, (3, 1, 2))):
        assert y.dtype == np.float32


def test_nan_and_inf_flow_through():
    x = np.array([[1.0, np.nan], [np.inf, 2.0]]).reshape(1, 2, 2, 1)
    assert_array_equal(zero_pad2d(x, 1)[0, 1:3, 1:3, 0], x[0, :, :, 0])
    assert_array_equal(upsample2d(x, 2)[0, :, :, 0], np.repeat(np.repeat(x[0, :, :, 0], 2, 0), 2, 1))
    # bilinear: a weight of 0 times inf is NaN, in PyTorch too (its kernel reads the same two rows)
    torch = import_torch()
    expected = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2)), scale_factor=2,
                                               mode="bilinear", align_corners=False).numpy().transpose(0, 2, 3, 1)
    y = upsample2d(x, 2, interpolation="bilinear")
    assert_array_equal(y, expected)  # NaN where torch has NaN
    assert y[0, 3, 3, 0] == 2.0 and np.isinf(y[0, 3, 0, 0]) and np.isnan(y[0, 0, 0, 0])
    # and backward: an infinite gradient reaches the rows that read it, NaN where its weight is 0, as torch's
    _, cache = upsample2d_forward(np.zeros((1, 3, 4, 1)), (2, 3), interpolation="bilinear")
    dy = np.random.default_rng(0).standard_normal((1, 6, 12, 1))
    dy[0, 0, 0, 0] = dy[0, 5, 11, 0] = dy[0, 2, 4, 0] = np.inf
    xt = torch.zeros((1, 1, 3, 4), dtype=torch.float64, requires_grad=True)
    torch.nn.functional.interpolate(xt, size=(6, 12), mode="bilinear", align_corners=False).backward(
        torch.from_numpy(dy.transpose(0, 3, 1, 2).copy()))
    dx = upsample2d_backward(dy, cache)[0, :, :, 0]
    expected = xt.grad.numpy()[0, 0]
    assert_array_equal(np.isnan(dx), np.isnan(expected))
    assert_array_equal(np.isinf(dx), np.isinf(expected))
    assert np.isnan(dx).sum() == 5 and np.isinf(dx).sum() == 2
    finite = np.isfinite(dx)
    assert_close(dx[finite], expected[finite], rtol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_empty_batch_and_empty_images(mode):
    y, cache = upsample2d_forward(np.zeros((0, 3, 2, 4)), 2, interpolation=mode)
    assert y.shape == (0, 6, 4, 4) and upsample2d_backward(y, cache).shape == (0, 3, 2, 4)
    y, cache = upsample2d_forward(np.zeros((2, 0, 2, 4)), (2, 3), interpolation=mode)
    assert y.shape == (2, 0, 6, 4) and upsample2d_backward(y, cache).shape == (2, 0, 2, 4)
    y, cache = zero_pad2d_forward(np.zeros((0, 2, 2, 1)), 1)
    assert y.shape == (0, 4, 4, 1) and zero_pad2d_backward(y, cache).shape == (0, 2, 2, 1)


# 2. Reference loops -----------------------------------------------------------------------------

def pad_reference(x, pads):
    """Every output pixel: the input pixel it sits on, or 0 in the margin (NHWC)."""
    (top, bottom), (left, right) = pads
    n, h, w, c = x.shape
    out = np.zeros((n, h + top + bottom, w + left + right, c))
    for b, i, j, k in np.ndindex(out.shape):
        if top <= i < top + h and left <= j < left + w:
            out[b, i, j, k] = x[b, i - top, j - left, k]
    return out


def crop_reference(x, crops):
    (top, bottom), (left, right) = crops
    n, h, w, c = x.shape
    out = np.zeros((n, h - top - bottom, w - left - right, c))
    for b, i, j, k in np.ndindex(out.shape):
        out[b, i, j, k] = x[b, i + top, j + left, k]
    return out


def source(o, factor, n_in):
    """PyTorch's ``area_pixel_compute_source_index`` (align_corners=False) and its two taps, in Python floats."""
    src = max(0.0, (o + 0.5) / factor - 0.5)
    lo = int(math.floor(src))
    return lo, min(lo + 1, n_in - 1), src - lo


def upsample_taps(shape, size, mode):
    """For every output pixel (i, j), the input pixels it reads and their weights."""
    _, h, w, _ = shape
    sh, sw = size
    for i in range(h * sh):
        for j in range(w * sw):
            if mode == "nearest":
                yield i, j, [(i // sh, j // sw, 1.0)]
            else:
                h0, h1, th = source(i, sh, h)
                w0, w1, tw = source(j, sw, w)
                yield i, j, [(h0, w0, (1 - th) * (1 - tw)), (h0, w1, (1 - th) * tw),
                             (h1, w0, th * (1 - tw)), (h1, w1, th * tw)]


def upsample_reference(x, size, mode):
    n, h, w, c = x.shape
    out = np.zeros((n, h * size[0], w * size[1], c))
    for i, j, taps in upsample_taps(x.shape, size, mode):
        for a, b, weight in taps:
            out[:, i, j, :] += weight * x[:, a, b, :]
    return out


def upsample_backward_reference(dy, input_shape, size, mode):
    """Each output pixel's gradient added onto the pixels it read, with their weights."""
    dx = np.zeros(input_shape)
    for i, j, taps in upsample_taps(input_shape, size, mode):
        for a, b, weight in taps:
            dx[:, a, b, :] += weight * dy[:, i, j, :]
    return dx


@st.composite
def image_cases(draw, max_side=5):
    n = draw(st.integers(1, 2))
    h, w, c = draw(st.integers(1, max_side)), draw(st.integers(1, max_side)), draw(st.integers(1, 3))
    return (n, h, w, c), draw(st.sampled_from(FORMATS)), draw(st.integers(0, 2**31))


margins = st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 3)))


def arrays(shape, data_format, seed):
    rng = np.random.default_rng(seed)
    return to_format(rng.standard_normal(shape), data_format), rng


@given(image_cases(), margins)
def test_pad_matches_reference_loop(case, pads):
    shape, data_format, seed = case
    x, rng = arrays(shape, data_format, seed)
    y, cache = zero_pad2d_forward(x, pads, data_format)
    assert_array_equal(to_nhwc(y, data_format), pad_reference(to_nhwc(x, data_format), pads))
    dy = to_format(rng.standard_normal(to_nhwc(y, data_format).shape), data_format)
    # the adjoint: <pad(x), dy> == <x, pad_backward(dy)>
    assert_close(np.sum(y * dy), np.sum(x * zero_pad2d_backward(dy, cache)), rtol=1e-12, scale=np.abs(y * dy).sum())
    assert_array_equal(to_nhwc(zero_pad2d_backward(dy, cache), data_format),
                       crop_reference(to_nhwc(dy, data_format), pads))


@given(image_cases(max_side=7), margins)
def test_crop_matches_reference_loop(case, crops):
    (n, h, w, c), data_format, seed = case
    crops = tuple((min(a, (s - 1) // 2), min(b, (s - 1) // 2)) for (a, b), s in zip(crops, (h, w)))
    x, rng = arrays((n, h, w, c), data_format, seed)
    y, cache = crop2d_forward(x, crops, data_format)
    assert_array_equal(to_nhwc(y, data_format), crop_reference(to_nhwc(x, data_format), crops))
    dy = rng.standard_normal(y.shape)
    assert_array_equal(to_nhwc(crop2d_backward(dy, cache), data_format), pad_reference(to_nhwc(dy, data_format), crops))


@given(image_cases(), st.tuples(st.integers(1, 4), st.integers(1, 4)), st.sampled_from(MODES))
def test_upsample_matches_reference_loops(case, size, mode):
    shape, data_format, seed = case
    x, rng = arrays(shape, data_format, seed)
    y, cache = upsample2d_forward(x, size, data_format, mode)
    assert_close(to_nhwc(y, data_format), upsample_reference(to_nhwc(x, data_format), size, mode), rtol=1e-14)
    dy = rng.standard_normal(y.shape)
    expected = upsample_backward_reference(to_nhwc(dy, data_format), shape, size, mode)
    assert_close(to_nhwc(upsample2d_backward(dy, cache), data_format), expected, rtol=1e-13,
                 scale=np.abs(dy).max() * size[0] * size[1])


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.randoms(use_true_random=False), st.integers(0, 2**31))
def test_permute_matches_reference_loop(sizes, random, seed):
    dims = list(range(1, len(sizes) + 1))
    random.shuffle(dims)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, *sizes))
    y, cache = permute_forward(x, dims)
    axes = (0, *dims)
    for index in np.ndindex(y.shape):  # y[i_0, i_1, ...] == x at position index[axes.index(a)] on axis a
        assert y[index] == x[tuple(index[axes.index(a)] for a in range(x.ndim))]
    dy = rng.standard_normal(y.shape)
    dx = permute_backward(dy, cache)
    assert_array_equal(permute_forward(dx, dims)[0], dy)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

GRAD_CASES = [
    ("pad", dict(padding=((1, 0), (2, 1)))), ("pad", dict(padding=1, data_format="channels_first")),
    ("crop", dict(cropping=((1, 0), (0, 2)))), ("crop", dict(cropping=1, data_format="channels_first")),
    ("upsample", dict(size=(2, 3))), ("upsample", dict(size=(3, 2), data_format="channels_first")),
    ("upsample", dict(size=(2, 3), interpolation="bilinear")),
    ("upsample", dict(size=(4, 1), interpolation="bilinear", data_format="channels_first")),
    ("upsample", dict(size=(3, 5), interpolation="bilinear")),
]
OPS = {"pad": (zero_pad2d_forward, zero_pad2d_backward), "crop": (crop2d_forward, crop2d_backward),
       "upsample": (upsample2d_forward, upsample2d_backward)}


@pytest.mark.parametrize(("op", "kwargs"), GRAD_CASES, ids=lambda c: str(c))
def test_gradients_match_numerical(op, kwargs, rng):
    forward, backward = OPS[op]
    first = kwargs.get("data_format") == "channels_first"
    x = rng.standard_normal((2, 2, 4, 3) if first else (2, 4, 3, 2))
    y, cache = forward(x, **kwargs)
    g = rng.standard_normal(y.shape)
    dx = backward(g, cache)
    assert_close(dx, numerical_grad(lambda v: np.sum(forward(v, **kwargs)[0] * g), x), rtol=1e-7, atol_scale=1e-8)


def test_permute_gradient_matches_numerical(rng):
    x = rng.standard_normal((2, 3, 2, 4))
    y, cache = permute_forward(x, (3, 1, 2))
    g = rng.standard_normal(y.shape)
    assert_close(permute_backward(g, cache), numerical_grad(lambda v: np.sum(permute(v, (3, 1, 2)) * g), x),
                 rtol=1e-7, atol_scale=1e-8)


@given(image_cases(max_side=9), st.tuples(st.integers(1, 5), st.integers(1, 5)))
def test_bilinear_gradient_matches_directional_derivatives(case, size):
    shape, data_format, seed = case
    x, rng = arrays(shape, data_format, seed)
    y, cache = upsample2d_forward(x, size, data_format, "bilinear")
    g = rng.standard_normal(y.shape)
    check_directional_grad(lambda v: np.sum(upsample2d(v, size, data_format, "bilinear") * g), x,
                           upsample2d_backward(g, cache), rng)


# 4. PyTorch parity (float64: the output and the gradient) ---------------------------------------

def torch_check(torch_fn, forward, backward, x, data_format, seed):
    """``forward`` and ``backward`` against torch autograd of ``torch_fn`` on the NCHW tensor."""
    torch = import_torch()
    xt = torch.tensor(to_format(to_nhwc(x, data_format), "channels_first"), requires_grad=True)
    yt = torch_fn(xt)
    y, cache = forward(x)
    assert y.dtype == np.float64
    assert_close(to_format(to_nhwc(y, data_format), "channels_first"), yt.detach().numpy(), rtol=1e-13)
    dy_nchw = np.random.default_rng(seed + 1).standard_normal(tuple(yt.shape))
    yt.backward(torch.from_numpy(dy_nchw))
    dx = backward(to_format(to_nhwc(dy_nchw, "channels_first"), data_format), cache)
    assert_close(to_format(to_nhwc(dx, data_format), "channels_first"), xt.grad.numpy(), rtol=1e-13)


@given(image_cases(), margins)
def test_pad_matches_torch(case, pads):
    shape, data_format, seed = case
    x, _ = arrays(shape, data_format, seed)
    torch = import_torch()
    (top, bottom), (left, right) = pads
    torch_check(lambda t: torch.nn.functional.pad(t, (left, right, top, bottom)),
                lambda v: zero_pad2d_forward(v, pads, data_format), zero_pad2d_backward, x, data_format, seed)


@given(image_cases(max_side=7), margins)
def test_crop_matches_torch_slicing(case, crops):
    (n, h, w, c), data_format, seed = case
    crops = tuple((min(a, (s - 1) // 2), min(b, (s - 1) // 2)) for (a, b), s in zip(crops, (h, w)))
    x, _ = arrays((n, h, w, c), data_format, seed)
    (top, bottom), (left, right) = crops
    torch_check(lambda t: t[:, :, top:h - bottom, left:w - right], lambda v: crop2d_forward(v, crops, data_format),
                crop2d_backward, x, data_format, seed)


@given(image_cases(max_side=8), st.tuples(st.integers(1, 5), st.integers(1, 5)), st.sampled_from(MODES))
def test_upsample_matches_torch_interpolate(case, size, mode):
    (n, h, w, c), data_format, seed = case
    x, _ = arrays((n, h, w, c), data_format, seed)
    torch = import_torch()
    options = dict(mode="bilinear", align_corners=False) if mode == "bilinear" else dict(mode="nearest")
    torch_check(lambda t: torch.nn.functional.interpolate(t, size=(h * size[0], w * size[1]), **options),
                lambda v: upsample2d_forward(v, size, data_format, mode), upsample2d_backward, x, data_format, seed)


@pytest.mark.parametrize("mode", MODES)
def test_upsample_matches_torch_scale_factor_float32(mode, rng):
    torch = import_torch()
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    options = dict(align_corners=False) if mode == "bilinear" else {}
    expected = torch.nn.functional.interpolate(torch.from_numpy(x), scale_factor=(3, 2), mode=mode, **options)
    y = upsample2d(x, (3, 2), "channels_first", mode)
    assert y.dtype == np.float32
    assert_close(y, expected.numpy(), rtol=1e-6)


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.randoms(use_true_random=False), st.integers(0, 2**31))
def test_permute_matches_torch(sizes, random, seed):
    torch = import_torch()
    dims = list(range(1, len(sizes) + 1))
    random.shuffle(dims)
    x = np.random.default_rng(seed).standard_normal((2, *sizes))
    xt = torch.tensor(x, requires_grad=True)
    yt = xt.permute(0, *dims)
    y, cache = permute_forward(x, dims)
    assert_array_equal(y, yt.detach().numpy())
    dy = np.random.default_rng(seed + 1).standard_normal(y.shape)
    yt.backward(torch.from_numpy(dy))
    assert_array_equal(permute_backward(dy, cache), xt.grad.numpy())


# 5. Bad arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("padding", [-1, "same", (1, 2, 3), ((1, 2, 3), 1), (1, -2), 1.5, True, None,
                                     ((1, 0), (0, -1))])
def test_bad_padding_is_refused(padding):
    with pytest.raises(ValueError, match=r"The `padding` argument must be .*Received: padding="):
        zero_pad2d(np.zeros((1, 2, 2, 1)), padding)


@pytest.mark.parametrize(("cropping", "shape"), [(2, (1, 4, 6, 1)), (((1, 1), (0, 0)), (1, 2, 6, 1)),
                                                 (((0, 0), (3, 3)), (1, 4, 6, 1))])
def test_cropping_everything_is_refused(cropping, shape):
    with pytest.raises(ValueError, match=r"The `cropping` argument must leave at least one row and one column.*"
                                         r"Received: cropping="):
        crop2d(np.zeros(shape), cropping)


def test_bad_cropping_amount_is_refused():
    with pytest.raises(ValueError, match=r"The `cropping` argument must be .*Received: cropping=-1"):
        crop2d(np.zeros((1, 4, 4, 1)), -1)


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(size=0), "size"), (dict(size=(2, 0)), "size"), (dict(size=(1, 2, 3)), "size"), (dict(size=1.5), "size"),
    (dict(interpolation="bicubic"), "interpolation"), (dict(interpolation=None), "interpolation"),
    (dict(data_format="NHWC"), "data_format"),
])
def test_bad_upsampling_arguments_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=rf"The `{name}` argument must .*Received: {name}="):
        upsample2d(np.zeros((1, 2, 2, 1)), **kwargs)


@pytest.mark.parametrize("dims", [(0, 1), (1, 1), (1, 3), (), 2, "12", (1.0, 2.0), None])
def test_bad_dims_are_refused(dims):
    with pytest.raises(ValueError, match=r"The `dims` argument must be a permutation of 1, ..., k.*Received: dims="):
        permute(np.zeros((2, 3, 4)), dims)


def test_dims_of_another_rank_are_refused():
    with pytest.raises(ValueError, match=r"inputs must have 3 dimensions.*Received: inputs with shape \(2, 3, 4, 5\)"):
        permute(np.zeros((2, 3, 4, 5)), (2, 1))


@pytest.mark.parametrize("fn", [zero_pad2d, lambda x: crop2d(x, 0), upsample2d])
def test_inputs_of_other_ranks_are_refused(fn):
    with pytest.raises(ValueError, match=r"The `x` argument must be a 4D array .*Received: x with shape \(2, 3\)"):
        fn(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="The `x` argument must be a real numeric array"):
        fn(np.zeros((1, 2, 2, 1), dtype=complex))


def test_a_dy_of_another_shape_is_refused():
    for forward, backward in [(zero_pad2d_forward, zero_pad2d_backward), (upsample2d_forward, upsample2d_backward),
                              (lambda x: crop2d_forward(x, 0), crop2d_backward),
                              (lambda x: permute_forward(x, (2, 1, 3)), permute_backward)]:
        y, cache = forward(np.zeros((1, 2, 3, 1)))
        with pytest.raises(ValueError, match=r"The `dy` argument must have the output's shape .*Received: dy with"):
            backward(np.zeros((1, 9, 9, 9)), cache)


def test_huge_padding_is_a_size_error_not_a_crash():
    with pytest.raises(ArraySizeError, match="zero_pad2d"):
        zero_pad2d(np.zeros((1, 2, 2, 1), np.float32), 10**12)
