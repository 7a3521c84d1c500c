"""im2col / col2im: seed 002's matrices, a slow window loop, the adjoint identity, torch unfold/fold."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from helpers import assert_close, import_torch, numerical_grad
from numcnn.functional import col2im, conv2d, im2col

from .strategies import seeds


@st.composite
def im2col_cases(draw):
    """(shape NCHW, filter_h, filter_w, stride, pad, seed) with the filter fitting the padded input."""
    fh, fw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride, pad = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, fh - 2 * pad), max(1, fh - 2 * pad) + 5))
    w = draw(st.integers(max(1, fw - 2 * pad), max(1, fw - 2 * pad) + 5))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)
    return shape, fh, fw, stride, pad, draw(seeds())


def im2col_loop(x, fh, fw, stride, pad):
    """The obvious version: one row per window, flattened in (c, y, x) order."""
    n, c, h, w = x.shape
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    rows = []
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                rows.append(xp[b, :, i * stride:i * stride + fh, j * stride:j * stride + fw].reshape(-1))
    return np.array(rows)


# 1. Known values (seed 002) ---------------------------------------------------------------------

def test_seed_002_im2col_shapes():
    rng = np.random.default_rng(0)
    assert im2col(rng.random((1, 3, 7, 7)), 5, 5).shape == (9, 75)
    assert im2col(rng.random((10, 3, 7, 7)), 5, 5).shape == (90, 75)
    assert im2col(rng.random((2, 4, 5, 5)), 2, 2).shape == (32, 16)


def test_seed_002_one_channel_matrix():
    col = im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2)
    assert_array_equal(col, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])


def test_seed_002_two_channel_matrix():
    col = im2col(np.arange(18.0).reshape(1, 2, 3, 3), 2, 2)
    assert_array_equal(col, [
        [0, 1, 3, 4, 9, 10, 12, 13],
        [1, 2, 4, 5, 10, 11, 13, 14],
        [3, 4, 6, 7, 12, 13, 15, 16],
        [4, 5, 7, 8, 13, 14, 16, 17],
    ])


def test_seed_002_two_images_two_channels_matrix():
    col = im2col(np.arange(36.0).reshape(2, 2, 3, 3), 2, 2)
    assert_array_equal(col, [
        [0, 1, 3, 4, 9, 10, 12, 13],
        [1, 2, 4, 5, 10, 11, 13, 14],
        [3, 4, 6, 7, 12, 13, 15, 16],
        [4, 5, 7, 8, 13, 14, 16, 17],
        [18, 19, 21, 22, 27, 28, 30, 31],
        [19, 20, 22, 23, 28, 29, 31, 32],
        [21, 22, 24, 25, 30, 31, 33, 34],
        [22, 23, 25, 26, 31, 32, 34, 35],
    ])


def test_seed_002_windows_of_4x4():
    # seed 002, "합성곱 연산의 정확한 고찰": the nine 2x2 windows of arange(16)
    col = im2col(np.arange(16.0).reshape(1, 1, 4, 4), 2, 2)
    assert_array_equal(col, [
        [0, 1, 4, 5], [1, 2, 5, 6], [2, 3, 6, 7],
        [4, 5, 8, 9], [5, 6, 9, 10], [6, 7, 10, 11],
        [8, 9, 12, 13], [9, 10, 13, 14], [10, 11, 14, 15],
    ])


def test_seed_002_padding_by_one():
    # seed 002: np.pad of arange(9) by 1, then 2x2 windows: first row sees three zeros
    col = im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2, pad=1)
    assert col.shape == (16, 4)
    assert_array_equal(col[0], [0, 0, 0, 0])
    assert_array_equal(col[5], [0, 1, 3, 4])
    assert_array_equal(col[15], [8, 0, 0, 0])


@pytest.mark.parametrize(
    ("x", "filters", "expected"),
    [
        (np.arange(9.0).reshape(1, 1, 3, 3), 1, [[[[11, 15], [23, 27]]]]),
        (np.arange(18.0).reshape(1, 2, 3, 3), 1, [[[[55, 63], [79, 87]]]]),
        (np.arange(18.0).reshape(1, 2, 3, 3), 3, [[[[55, 63], [79, 87]]] * 3]),
    ],
)
def test_seed_002_col_times_weights_plus_bias(x, filters, expected):
    weights = np.ones((filters, x.shape[1], 2, 2))  # DLFS layout (FN, C, fh, fw)
    out = im2col(x, 2, 2) @ weights.reshape(filters, -1).T + 3
    assert_array_equal(out.reshape(1, 2, 2, filters).transpose(0, 3, 1, 2), expected)


def test_seed_002_col2im_of_im2col_counts_windows():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    assert_array_equal(col2im(im2col(x, 2, 2), x.shape, 2, 2)[0, 0], [
        [0, 2, 4, 3], [8, 20, 24, 14], [16, 36, 40, 22], [12, 26, 28, 15]])


def test_seed_002_pooling_col2im_with_stride_2():
    # seed 002: my_col2im(dcol, (1, 1, 4, 4), 2, 2, 2, 0) puts each row back in its own window
    dcol = np.array([[0, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 3], [4, 0, 0, 0]], dtype=float)
    assert_array_equal(col2im(dcol, (1, 1, 4, 4), 2, 2, stride=2)[0, 0],
                       [[0, 1, 0, 2], [0, 0, 0, 0], [0, 0, 4, 0], [0, 3, 0, 0]])


def test_col2im_drops_padding_and_strided_gaps():
    # stride 2 over 5 wide with 2-wide windows: column 4 is never read, so gets nothing back
    col = np.ones((4, 4))
    out = col2im(col, (1, 1, 5, 5), 2, 2, stride=2)[0, 0]
    expected = np.zeros((5, 5))
    expected[:4, :4] = 1
    assert_array_equal(out, expected)


# 2. Reference loops -----------------------------------------------------------------------------

@given(im2col_cases())
def test_im2col_matches_window_loop(case):
    shape, fh, fw, stride, pad, seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    assert_array_equal(im2col(x, fh, fw, stride, pad), im2col_loop(x, fh, fw, stride, pad))


@given(im2col_cases(), st.integers(1, 3))
def test_im2col_matmul_equals_conv2d(case, filters):
    shape, fh, fw, stride, pad, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    weights = rng.standard_normal((filters, shape[1], fh, fw))  # DLFS layout (FN, C, fh, fw)
    n, _, h, w = shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    via_col = (im2col(x, fh, fw, stride, pad) @ weights.reshape(filters, -1).T)
    via_col = via_col.reshape(n, oh, ow, filters).transpose(0, 3, 1, 2)
    fast = conv2d(x, weights.transpose(2, 3, 1, 0), strides=stride, padding=pad, data_format="channels_first")
    assert_close(fast, via_col, rtol=1e-12)


@given(im2col_cases())
def test_col2im_is_the_adjoint_of_im2col(case):
    # <im2col(x), c> == <x, col2im(c)> for every x and c: col2im is the transpose of im2col
    shape, fh, fw, stride, pad, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    col = rng.standard_normal(im2col(x, fh, fw, stride, pad).shape)
    lhs = np.sum(im2col(x, fh, fw, stride, pad) * col)
    rhs = np.sum(x * col2im(col, shape, fh, fw, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


# 3. Numerical gradient --------------------------------------------------------------------------

@pytest.mark.parametrize(("shape", "fh", "fw", "stride", "pad"), [
    ((1, 2, 4, 4), 2, 2, 1, 0),
    ((2, 1, 5, 4), 3, 2, 2, 1),
    ((1, 1, 3, 3), 3, 3, 1, 2),
])
def test_col2im_is_the_gradient_of_im2col(shape, fh, fw, stride, pad, rng):
    x = rng.standard_normal(shape)
    weights = rng.standard_normal(im2col(x, fh, fw, stride, pad).shape)

    def loss(v):
        return np.sum(im2col(v, fh, fw, stride, pad) * weights)

    assert_close(col2im(weights, shape, fh, fw, stride, pad), numerical_grad(loss, x), rtol=1e-7)


# 4. PyTorch parity: unfold / fold ---------------------------------------------------------------

@given(im2col_cases())
def test_im2col_and_col2im_match_torch_unfold_and_fold(case):
    torch = import_torch()
    F = torch.nn.functional
    shape, fh, fw, stride, pad, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    n, c, h, w = shape
    unfolded = F.unfold(torch.from_numpy(x), (fh, fw), padding=pad, stride=stride)  # (N, C*fh*fw, L)
    expected = unfolded.transpose(1, 2).reshape(-1, c * fh * fw).numpy()
    assert_array_equal(im2col(x, fh, fw, stride, pad), expected)

    col = rng.standard_normal(expected.shape).astype(np.float32)
    folded = F.fold(torch.from_numpy(col.reshape(n, -1, c * fh * fw)).transpose(1, 2), (h, w), (fh, fw),
                    padding=pad, stride=stride)
    assert_close(col2im(col, shape, fh, fw, stride, pad), folded.numpy(), rtol=1e-5)
