"""Output sizes and 'same' padding: conv_output_size, same_padding, resolve_padding."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numcnn.functional import conv_output_size, resolve_padding, same_padding


# 1. Known values ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((7, 3), 5),  # seed 000: 7x7 image, 3x3 filter, no padding -> 5x5
        ((7, 3, 1, 1, 1), 7),  # seed 000: padded by 1 -> 7x7
        ((4, 2), 3),  # seed 002: 4x4 input, 2x2 filter -> 3x3
        ((3, 2, 1, 1, 1), 4),  # seed 002: 3x3 input, pad=1 -> 4x4
        ((7, 5), 3),  # seed 002: im2col of 7x7 with 5x5 -> 9 rows per image
        ((4, 2, 2), 2),  # seed 002: 2x2 pooling, stride 2
        ((6, 2, 2), 3),  # seed 000: 6x6 max pooling -> 3x3
        ((8, 3, 2), 3),  # stride does not divide: floor((8 - 3) / 2) + 1
        ((7, 3, 1, 0, 0, 2), 3),  # dilation 2: effective kernel 5
        ((5, 1), 5),  # 1x1 kernel keeps the size
        ((5, 2, 1, 0, 1), 5),  # asymmetric padding
        ((1, 3, 2, 1, 1), 1),
    ],
)
def test_conv_output_size_known_values(args, expected):
    assert conv_output_size(*args) == expected


def test_seed_002_big_im2col_row_count():
    # seed 002: my_im2col(randn(1, 3, 448, 640), 5, 5).shape == (282384, 75)
    assert conv_output_size(448, 5) * conv_output_size(640, 5) == 282384


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((10, 3, 2), (0, 1)),  # out 5, total 4*2 + 3 - 10 = 1: the extra pixel goes after
        ((4, 2, 3), (0, 1)),  # out ceil(4/3) = 2, total 1*3 + 2 - 4 = 1
        ((2, 3, 2), (0, 1)),  # TF's avg-pool example [10, 20]: out 1, total 1
        ((7, 3, 1), (1, 1)),  # stride 1, odd kernel: symmetric
        ((5, 4, 1), (1, 2)),  # stride 1, even kernel: total 3
        ((6, 3, 2), (0, 1)),  # out 3, total 2*2 + 3 - 6 = 1
        ((7, 3, 2), (1, 1)),  # out 4, total 3*2 + 3 - 7 = 2
        ((5, 1, 1), (0, 0)),
        ((3, 5, 1), (2, 2)),  # kernel larger than the input
        ((5, 3, 1, 2), (2, 2)),  # dilation 2: effective kernel 5
        ((1, 3, 3), (1, 1)),
        ((5, 2, 5), (0, 0)),  # windows never reach the end: no padding needed
        ((6, 2, 2), (0, 0)),
        ((9, 4, 3), (0, 1)),  # out 3, total 2*3 + 4 - 9 = 1
        ((8, 5, 3), (1, 2)),  # out 3, total 2*3 + 5 - 8 = 3
    ],
)
def test_same_padding_known_values(args, expected):
    assert same_padding(*args) == expected


@pytest.mark.parametrize(
    ("padding", "expected"),
    [
        ("valid", ((0, 0), (0, 0))),
        ("VALID", ((0, 0), (0, 0))),
        ("same", ((0, 1), (1, 1))),  # H: same_padding(10, 3, 2); W: same_padding(7, 3, 2)
        ("Same", ((0, 1), (1, 1))),
        (1, ((1, 1), (1, 1))),
        ((1, 2), ((1, 1), (2, 2))),
        (((0, 1), (2, 0)), ((0, 1), (2, 0))),
        ([[1, 0], [0, 2]], ((1, 0), (0, 2))),
    ],
)
def test_resolve_padding_known_values(padding, expected):
    assert resolve_padding(padding, (10, 7), (3, 3), (2, 2)) == expected


def test_resolve_padding_same_uses_each_axis_own_stride_and_dilation():
    # H: same_padding(5, 3, 1, 2) = (2, 2); W: same_padding(4, 2, 3, 1) = (0, 1)
    assert resolve_padding("same", (5, 4), (3, 2), (1, 3), (2, 1)) == ((2, 2), (0, 1))


# 2. Reference: the definition of 'same' ---------------------------------------------------------

@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 5), st.integers(1, 3))
def test_same_padding_gives_ceil_output_and_puts_extra_after(size, kernel, stride, dilation):
    before, after = same_padding(size, kernel, stride, dilation)
    assert 0 <= before <= after <= before + 1
    assert conv_output_size(size, kernel, stride, before, after, dilation) == math.ceil(size / stride)
    # minimal: one pixel less at the end would lose the last window (or there was none)
    if after > 0:
        effective = (kernel - 1) * dilation + 1
        last_start = (math.ceil(size / stride) - 1) * stride
        assert last_start + effective == size + before + after


@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3), st.integers(0, 3),
       st.integers(1, 3))
def test_conv_output_size_counts_windows(size, kernel, stride, before, after, dilation):
    effective = (kernel - 1) * dilation + 1
    padded = size + before + after
    if effective > padded:
        with pytest.raises(ValueError, match="larger than the padded input.*Received:"):
            conv_output_size(size, kernel, stride, before, after, dilation)
        return
    windows = [start for start in range(padded) if start % stride == 0 and start + effective <= padded]
    assert conv_output_size(size, kernel, stride, before, after, dilation) == len(windows)
