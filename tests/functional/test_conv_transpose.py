"""conv2d_transpose forward and backward: known values, the reference loops, numerical gradients,
the adjoint of conv2d, PyTorch (float64, every gradient) and Keras."""

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from helpers import assert_close, check_op_grads, import_keras, import_torch
from numcnn.functional import conv2d
from numcnn.functional.conv_transpose import (
    check_output_padding,
    conv2d_transpose,
    conv2d_transpose_backward,
    conv2d_transpose_forward,
    conv_transpose_crops,
    conv_transpose_output_size,
    resolve_transpose_padding,
)
from numcnn.utils.validation import standardize_padding

from .strategies import to_format, to_nhwc

FORMATS = ("channels_last", "channels_first")


def single(image, data_format="channels_last"):
    return to_format(np.asarray(image, dtype=np.float64)[None, :, :, None], data_format)


def plane(y, data_format="channels_last", channel=0):
    return to_nhwc(y, data_format)[0, :, :, channel]


# -- the slow, obvious loops ------------------------------------------------------------------------------------------

def _full_hw(x_hw, kernel_hw, strides, dilation_rate):
    return tuple((i - 1) * s + (k - 1) * d + 1 for i, k, s, d in zip(x_hw, kernel_hw, strides, dilation_rate))


def transpose_reference(x, kernel, bias, strides, crops, dilation_rate):
    """Every input pixel stamps ``kernel @ pixel`` onto the full output; then the crops (negative: zero rows).

    Shape:
        x: (N, H, W, C); kernel: (kh, kw, F, C); output: (N, OH, OW, F), float64
    """
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation_rate
    full = np.zeros((n, *_full_hw((h, w), (kh, kw), strides, dilation_rate), f))
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for a in range(kh):
                    for c in range(kw):
                        full[b, i * sh + a * dh, j * sw + c * dw] += kernel[a, c] @ x[b, i, j]
    (top, bottom), (left, right) = crops
    full = np.pad(full, [(0, 0), (0, max(-bottom, 0)), (0, max(-right, 0)), (0, 0)])
    y = full[:, top:full.shape[1] - max(bottom, 0), left:full.shape[2] - max(right, 0)]
    return y + (0.0 if bias is None else bias)


def transpose_backward_reference(dy, x, kernel, strides, crops, dilation_rate):
    """The same loops run backwards: each stamp sends ``kernel.T @ dfull`` to its pixel and ``dfull x pixel``
    to the kernel. Returns ``(dx, dkernel, dbias)`` in float64."""
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation_rate
    fh, fw = _full_hw((h, w), (kh, kw), strides, dilation_rate)
    (top, bottom), (left, right) = crops
    padded = np.zeros((n, fh + max(-bottom, 0), fw + max(-right, 0), f))
    padded[:, top:top + dy.shape[1], left:left + dy.shape[2]] = dy
    dfull = padded[:, :fh, :fw]
    dx, dkernel = np.zeros(x.shape), np.zeros(kernel.shape)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for a in range(kh):
                    for c in range(kw):
                        g = dfull[b, i * sh + a * dh, j * sw + c * dw]
                        dx[b, i, j] += kernel[a, c].T @ g
                        dkernel[a, c] += np.outer(g, x[b, i, j])
    return dx, dkernel, dy.sum(axis=(0, 1, 2))


# -- random cases -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TransposeCase:
    n: int
    h: int
    w: int
    channels: int
    filters: int
    kernel_hw: tuple
    strides: tuple
    dilation_rate: tuple
    padding: object
    output_padding: object
    data_format: str
    use_bias: bool
    seed: int

    @property
    def crops(self):
        return resolve_transpose_padding(standardize_padding(self.padding), self.kernel_hw, self.strides,
                                         self.output_padding, self.dilation_rate)

    @property
    def kwargs(self):
        return dict(strides=self.strides, padding=self.padding, output_padding=self.output_padding,
                    dilation_rate=self.dilation_rate, data_format=self.data_format)

    def arrays(self, dtype=np.float64):
        """``(x, kernel, bias)``: x in the case's layout, kernel (kh, kw, F, C)."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.h, self.w, self.channels)).astype(dtype)
        kernel = rng.standard_normal((*self.kernel_hw, self.filters, self.channels)).astype(dtype)
        bias = rng.standard_normal(self.filters).astype(dtype) if self.use_bias else None
        return to_format(x, self.data_format), kernel, bias


@st.composite
def transpose_cases(draw, padding_kinds=("valid", "same", "int", "pair", "explicit"), max_stride=3, max_dilation=2,
                    data_formats=FORMATS):
    strides = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    kind = draw(st.sampled_from(padding_kinds))
    side = st.integers(0, 2)
    padding = {"valid": "valid", "same": "same", "int": draw(side), "pair": (draw(side), draw(side)),
               "explicit": ((draw(side), draw(side)), (draw(side), draw(side)))}[kind]
    output_padding = None
    if draw(st.booleans()):
        output_padding = (draw(st.integers(0, strides[0] - 1)), draw(st.integers(0, strides[1] - 1)))
    case = TransposeCase(
        n=draw(st.integers(1, 2)), h=draw(st.integers(1, 4)), w=draw(st.integers(1, 4)),
        channels=draw(st.integers(1, 3)), filters=draw(st.integers(1, 3)),
        kernel_hw=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), strides=strides,
        dilation_rate=(draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation))),
        padding=padding, output_padding=output_padding, data_format=draw(st.sampled_from(data_formats)),
        use_bias=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))
    full = _full_hw((case.h, case.w), case.kernel_hw, case.strides, case.dilation_rate)
    assume(all(f - before - after >= 1 for f, (before, after) in zip(full, case.crops)))  # some output left
    return case


# 1. Known values ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_stride_2_stamps_the_kernel_once_per_pixel(data_format):
    y = conv2d_transpose(single([[1, 2], [3, 4]], data_format), np.ones((2, 2, 1, 1)), strides=2,
                         data_format=data_format)
    assert_array_equal(plane(y, data_format), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def test_stride_1_overlapping_stamps_add_up():
    # [1, 2] with the kernel [1, 10]: 1*[1, 10] at 0, 2*[1, 10] at 1 -> [1, 12, 20]
    y = conv2d_transpose(single([[1, 2]]), np.array([1.0, 10.0]).reshape(1, 2, 1, 1))
    assert_array_equal(plane(y), [[1, 12, 20]])


ONES_STRIDE_2_FULL = np.array([[1, 1, 2, 1, 1], [1, 1, 2, 1, 1], [2, 2, 4, 2, 2], [1, 1, 2, 1, 1], [1, 1, 2, 1, 1]])


@pytest.mark.parametrize(("padding", "output_padding", "expected"), [
    ("valid", None, ONES_STRIDE_2_FULL),  # the full output, 5x5
    ("valid", 1, np.pad(ONES_STRIDE_2_FULL, [(0, 1), (0, 1)])),  # one zero row and column added
    ("same", None, ONES_STRIDE_2_FULL[:4, :4]),  # in * stride = 4: cut one row and column at the end
    ("same", 0, ONES_STRIDE_2_FULL[1:4, 1:4]),  # (in-1)*s + k % 2 + 0 = 3: Keras cuts 1 before, 1 after
    (1, None, ONES_STRIDE_2_FULL[1:4, 1:4]),  # PyTorch's padding=1: one row cut from each side
    (1, 1, ONES_STRIDE_2_FULL[1:5, 1:5]),  # PyTorch's output_padding gives a cut row back
    (((0, 2), (1, 0)), None, ONES_STRIDE_2_FULL[0:3, 1:5]),
])
def test_padding_rules_on_overlapping_stamps(padding, output_padding, expected):
    # 2x2 ones, 3x3 ones kernel, stride 2: the stamps overlap on the middle row and column
    y = conv2d_transpose(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), strides=2, padding=padding,
                         output_padding=output_padding)
    assert_array_equal(plane(y), expected)


def test_dilation_spreads_the_kernel_taps():
    y = conv2d_transpose(single([[1]]), np.array([[1.0, 2], [3, 4]]).reshape(2, 2, 1, 1), dilation_rate=2)
    assert_array_equal(plane(y), [[1, 0, 2], [0, 0, 0], [3, 0, 4]])


def test_a_1x1_kernel_maps_channels_to_filters():
    x = np.arange(12.0).reshape(1, 2, 2, 3)
    kernel = np.arange(6.0).reshape(1, 1, 2, 3)  # (kh, kw, F=2, C=3)
    y = conv2d_transpose(x, kernel, np.array([0.5, -0.5]))
    assert_array_equal(y, x @ kernel[0, 0].T + [0.5, -0.5])


def test_channels_and_bias_known_values():
    # two channels with kernels 1 and 10 into one filter, bias 3: a stamped pixel is 3 + x0 + 10*x1 = 24;
    # a 1x1 kernel with stride 2 leaves gaps (and "valid" a last row and column) holding the bias only
    x = np.stack([np.ones((2, 2)), 2 * np.ones((2, 2))], axis=-1)[None]
    y = conv2d_transpose(x, np.array([1.0, 10.0]).reshape(1, 1, 1, 2), np.array([3.0]), strides=2)
    assert_array_equal(plane(y), np.array([[24, 3], [3, 3]])[np.ix_([0, 1, 0, 1], [0, 1, 0, 1])])


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "output_padding", "expected"), [
    (4, 3, 2, "same", None, 8),  # in * stride
    (4, 3, 2, "valid", None, 9),  # (in-1)*s + k
    (4, 1, 3, "valid", None, 12),  # (in-1)*s + max(k, s): a stride longer than the kernel leaves a gap
    (4, 3, 2, "valid", 1, 10),  # (in-1)*s + k + output_padding
    (4, 3, 2, "same", 0, 7),  # (in-1)*s + k % 2 + output_padding
    (4, 4, 2, "same", 1, 7),
    (4, 3, 2, (1, 1), 1, 8),  # PyTorch: (in-1)*s - 2p + k + output_padding
    (5, 3, 1, (0, 2), None, 5),
])
def test_output_sizes(size, kernel, stride, padding, output_padding, expected):
    assert conv_transpose_output_size(size, kernel, stride, padding, output_padding) == expected


def test_dilated_output_sizes_use_the_effective_kernel():
    # effective kernel (3-1)*2 + 1 = 5
    assert conv_transpose_output_size(4, 3, 2, "valid", dilation=2) == 3 * 2 + 5
    assert conv_transpose_output_size(4, 3, 2, "same", dilation=2) == 8
    assert conv_transpose_crops(3, 1, "same", dilation=2) == (2, 2)


def test_backward_known_values_valid():
    y, cache = conv2d_transpose_forward(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), np.array([0.0]), strides=2)
    dx, dkernel, dbias = conv2d_transpose_backward(np.ones_like(y), cache)
    assert_array_equal(dx[0, :, :, 0], np.full((2, 2), 9.0))  # every tap of every stamp lands in the output
    assert_array_equal(dkernel[:, :, 0, 0], np.full((3, 3), 4.0))  # each tap is used by the 4 pixels
    assert_array_equal(dbias, [25.0])


def test_backward_known_values_same_cuts_the_last_row_and_column():
    y, cache = conv2d_transpose_forward(np.ones((1, 2, 2, 1)), np.ones((3, 3, 1, 1)), np.array([0.0]), strides=2,
                                        padding="same")
    dx, dkernel, dbias = conv2d_transpose_backward(np.ones_like(y), cache)
    # pixel (i, j) stamps rows 2i..2i+2, of which rows < 4 are kept: 3 for i = 0, 2 for i = 1
    assert_array_equal(dx[0, :, :, 0], [[9, 6], [6, 4]])
    assert_array_equal(dkernel[:, :, 0, 0], [[4, 4, 2], [4, 4, 2], [2, 2, 1]])
    assert_array_equal(dbias, [16.0])


def test_backward_without_bias_returns_none():
    _, cache = conv2d_transpose_forward(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)))
    assert conv2d_transpose_backward(np.ones((1, 3, 3, 1)), cache)[2] is None


def test_empty_batch():
    y, cache = conv2d_transpose_forward(np.zeros((0, 3, 4, 2)), np.ones((3, 3, 5, 2)), np.ones(5), strides=2,
                                        padding="same")
    assert y.shape == (0, 6, 8, 5)
    dx, dkernel, dbias = conv2d_transpose_backward(y, cache)
    assert dx.shape == (0, 3, 4, 2)
    assert_array_equal(dkernel, np.zeros((3, 3, 5, 2)))
    assert_array_equal(dbias, np.zeros(5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, rng):
    x, kernel = rng.standard_normal((2, 3, 3, 2)).astype(dtype), rng.standard_normal((2, 2, 3, 2)).astype(dtype)
    y, cache = conv2d_transpose_forward(x, kernel, np.ones(3, dtype), strides=2, padding="same")
    grads = conv2d_transpose_backward(np.ones_like(y), cache)
    assert y.dtype == dtype and all(g.dtype == dtype for g in grads)


def test_integer_input_computes_in_float32():
    assert conv2d_transpose(np.ones((1, 2, 2, 1), np.int64), np.ones((2, 2, 1, 1), np.int32)).dtype == np.float32


def test_inputs_are_not_modified(rng):
    x, kernel, bias = rng.standard_normal((1, 3, 3, 2)), rng.standard_normal((3, 3, 2, 2)), rng.standard_normal(2)
    copies = [a.copy() for a in (x, kernel, bias)]
    y, cache = conv2d_transpose_forward(x, kernel, bias, strides=2, padding=((1, 0), (0, 1)))
    dy = np.ones_like(y)
    conv2d_transpose_backward(dy, cache)
    for a, b in zip((x, kernel, bias), copies):
        assert_array_equal(a, b)
    assert_array_equal(dy, 1.0)


def test_nan_reaches_only_the_stamp_of_its_pixel():
    x = np.ones((1, 3, 3, 1))
    x[0, 1, 1, 0] = np.nan
    y = conv2d_transpose(x, np.ones((2, 2, 1, 1)), strides=2)
    assert_array_equal(np.isnan(plane(y)), np.kron([[0, 0, 0], [0, 1, 0], [0, 0, 0]], np.ones((2, 2))).astype(bool))


# 2. Reference loops -------------------------------------------------------------------------------------------------

def reference_case(case, x, kernel, bias):
    return to_format(transpose_reference(to_nhwc(x, case.data_format), kernel, bias, case.strides, case.crops,
                                         case.dilation_rate), case.data_format)


@given(transpose_cases())
def test_forward_matches_reference_loops(case):
    x, kernel, bias = case.arrays()
    assert_close(conv2d_transpose(x, kernel, bias, **case.kwargs), reference_case(case, x, kernel, bias), rtol=1e-12)


@given(transpose_cases())
def test_backward_matches_reference_loops(case):
    x, kernel, bias = case.arrays()
    y, cache = conv2d_transpose_forward(x, kernel, bias, **case.kwargs)
    dy = np.random.default_rng(case.seed + 1).standard_normal(y.shape)
    dx, dkernel, dbias = conv2d_transpose_backward(dy, cache)
    rx, rkernel, rbias = transpose_backward_reference(to_nhwc(dy, case.data_format), to_nhwc(x, case.data_format),
                                                      kernel, case.strides, case.crops, case.dilation_rate)
    assert_close(dx, to_format(rx, case.data_format), rtol=1e-12)
    assert_close(dkernel, rkernel, rtol=1e-12)
    if bias is None:
        assert dbias is None
    else:
        assert_close(dbias, rbias, rtol=1e-12)


# 3. Numerical gradients (float64), and the adjoint of conv2d --------------------------------------------------------

GRAD_CONFIGS = [
    dict(),
    dict(strides=2, padding="same"),
    dict(strides=(2, 3), padding="valid", output_padding=(1, 2)),
    dict(strides=2, padding="same", output_padding=1, data_format="channels_first"),
    dict(strides=(1, 2), padding=((1, 0), (2, 1)), dilation_rate=(2, 1)),
    dict(strides=3, padding=1, output_padding=2, dilation_rate=2, data_format="channels_first"),
]


@pytest.mark.parametrize("config", GRAD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_gradients_match_numerical(config, rng):
    channels_first = config.get("data_format") == "channels_first"
    x = rng.standard_normal((2, 2, 3, 4) if channels_first else (2, 3, 4, 2))
    kernel, bias = rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    check_op_grads(conv2d_transpose_forward, conv2d_transpose_backward, (x, kernel, bias), config, rng)


@given(transpose_cases())
def test_gradients_match_directional_derivatives(case):
    check_op_grads(conv2d_transpose_forward, conv2d_transpose_backward, case.arrays(), case.kwargs,
                   np.random.default_rng(case.seed), directional=True, checked=(0, 1))


@given(transpose_cases(padding_kinds=("valid", "same", "int", "pair", "explicit")))
def test_is_the_adjoint_of_conv2d(case):
    # <conv2d(z, K), x> == <z, conv2d_transpose(x, K)>: z the size of the transposed output, with the same
    # padding ("same": TensorFlow's conv2d "same" on in*stride pixels; explicit: the same pads)
    assume(case.output_padding is None or case.padding not in ("same",))
    x, kernel, _ = case.arrays()
    y = conv2d_transpose(x, kernel, **case.kwargs)
    z = np.random.default_rng(case.seed + 5).standard_normal(y.shape)
    conv_padding = case.padding
    if not isinstance(conv_padding, str) and case.output_padding is not None:
        # PyTorch's output_padding is given back at the end: the conv's bottom/right pads shrink by it
        pads = standardize_padding(conv_padding)
        conv_padding = tuple((p[0], p[1] - o) for p, o in zip(pads, case.output_padding))
        assume(all(p[1] >= 0 for p in conv_padding))
    forward = conv2d(z, kernel, strides=case.strides, padding=conv_padding, dilation_rate=case.dilation_rate,
                     data_format=case.data_format)
    assert forward.shape == x.shape
    assert_close(np.sum(forward * x), np.sum(z * y), rtol=1e-10, scale=float(np.sum(np.abs(z * y))) + 1.0)


# 4. PyTorch (float64: the output and every gradient) and Keras ------------------------------------------------------

def torch_transpose(case, x, kernel, bias, padding=None, output_padding=None):
    """torch's conv_transpose2d on NCHW leaves; ``padding=None``: padding 0, then the case's crops by slicing."""
    torch = import_torch()
    xt = torch.tensor(to_format(to_nhwc(x, case.data_format), "channels_first"), requires_grad=True)
    kt = torch.tensor(kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)  # (C, F, kh, kw)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    if padding is not None:
        y = torch.nn.functional.conv_transpose2d(xt, kt, bt, stride=case.strides, padding=padding,
                                                 output_padding=output_padding, dilation=case.dilation_rate)
        return y, (xt, kt, bt)
    y = torch.nn.functional.conv_transpose2d(xt, kt, None, stride=case.strides, dilation=case.dilation_rate)
    (top, bottom), (left, right) = case.crops
    y = y[:, :, top:y.shape[2] - max(bottom, 0), left:y.shape[3] - max(right, 0)]
    y = torch.nn.functional.pad(y, (0, max(-right, 0), 0, max(-bottom, 0)))
    if bt is not None:  # on every output pixel, the zero rows added too
        y = y + bt[:, None, None]
    return y, (xt, kt, bt)


def check_against_torch(case, y_torch, leaves, x, kernel, bias):
    torch = import_torch()
    y, cache = conv2d_transpose_forward(x, kernel, bias, **case.kwargs)
    assert_close(to_format(to_nhwc(y, case.data_format), "channels_first"), y_torch.detach().numpy(), rtol=1e-10)
    dy_nchw = np.random.default_rng(case.seed + 7).standard_normal(tuple(y_torch.shape))
    y_torch.backward(torch.from_numpy(dy_nchw))
    dx, dkernel, dbias = conv2d_transpose_backward(to_format(to_nhwc(dy_nchw, "channels_first"), case.data_format),
                                                   cache)
    xt, kt, bt = leaves
    assert_close(to_format(to_nhwc(dx, case.data_format), "channels_first"), xt.grad.numpy(), rtol=1e-10)
    assert_close(dkernel, kt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10)
    if bias is not None:
        assert_close(dbias, bt.grad.numpy(), rtol=1e-10)


@given(transpose_cases(padding_kinds=("int", "pair", "explicit")))
def test_explicit_padding_matches_torch_padding_and_output_padding(case):
    x, kernel, bias = case.arrays()
    pads = standardize_padding(case.padding)
    if all(before == after for before, after in pads):  # torch's own padding: symmetric only
        assume(case.output_padding is None or all(o < max(s, d) for o, s, d in
                                                  zip(case.output_padding, case.strides, case.dilation_rate)))
        y_torch, leaves = torch_transpose(case, x, kernel, bias, tuple(p[0] for p in pads), case.output_padding or 0)
    else:
        y_torch, leaves = torch_transpose(case, x, kernel, bias)
    check_against_torch(case, y_torch, leaves, x, kernel, bias)


def keras_rule_as_torch_args(kernel_size, stride, dilation, padding, output_padding):
    """Keras's translation of "valid"/"same" + output_padding into torch's padding/output_padding
    (keras/src/backend/common/backend_utils.py); exact when one of the two is 0 and output_padding < stride."""
    effective = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        extra = max(effective, stride) - effective if output_padding is None else output_padding
        return 0, extra
    extra = stride - effective % 2 if output_padding is None else output_padding
    torch_padding = max(-((effective % 2 - effective + extra) // 2), 0)
    return torch_padding, 2 * torch_padding + effective % 2 - effective + extra


@given(transpose_cases(padding_kinds=("valid", "same")))
def test_keras_padding_matches_torch_where_torch_can_say_it(case):
    args = [keras_rule_as_torch_args(k, s, d, case.padding, None if case.output_padding is None else o)
            for k, s, d, o in zip(case.kernel_hw, case.strides, case.dilation_rate, case.output_padding or (0, 0))]
    assume(all((p == 0 or o == 0) and 0 <= o < s for (p, o), s in zip(args, case.strides)))
    x, kernel, bias = case.arrays()
    y_torch, leaves = torch_transpose(case, x, kernel, bias, tuple(p for p, _ in args), tuple(o for _, o in args))
    check_against_torch(case, y_torch, leaves, x, kernel, bias)


@given(transpose_cases(padding_kinds=("valid", "same")))
def test_keras_padding_matches_torch_cropped_by_hand(case):
    x, kernel, bias = case.arrays()
    y_torch, leaves = torch_transpose(case, x, kernel, bias)
    check_against_torch(case, y_torch, leaves, x, kernel, bias)


@given(transpose_cases(padding_kinds=("valid", "same")))
def test_keras_conv_transpose_forward_and_gradients(case):
    # keras.ops.conv_transpose on the torch backend (float64): the output and, through torch's autograd,
    # every gradient; Keras's layer refuses strides > 1 with dilation > 1, its op does not
    keras, torch = import_keras(), import_torch()
    x, kernel, bias = case.arrays()
    xt = torch.tensor(x, requires_grad=True)
    # the leaf in torch's (C, F, kh, kw) layout, Keras given a (kh, kw, F, C) view that it permutes straight
    # back: torch's CPU backward wants a contiguous weight
    kt = torch.tensor(kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Keras's note that torch's own padding cannot say every case
        y_keras = keras.ops.conv_transpose(xt, kt.permute(2, 3, 1, 0), strides=case.strides, padding=case.padding,
                                           output_padding=case.output_padding, dilation_rate=case.dilation_rate,
                                           data_format=case.data_format)
    y, cache = conv2d_transpose_forward(x, kernel, None, **case.kwargs)
    assert_close(y, y_keras.detach().numpy(), rtol=1e-10)
    dy = np.random.default_rng(case.seed + 3).standard_normal(y.shape)
    y_keras.backward(torch.from_numpy(dy))
    dx, dkernel, _ = conv2d_transpose_backward(dy, cache)
    assert_close(dx, xt.grad.numpy(), rtol=1e-10)
    assert_close(dkernel, kt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("where", ["x-nan", "x-inf", "kernel-inf", "bias-nan"])
def test_nan_and_inf_flow_as_in_torch(where):
    torch = import_torch()
    rng = np.random.default_rng(3)
    x, kernel, bias = rng.standard_normal((1, 3, 3, 2)), rng.standard_normal((3, 3, 2, 2)), rng.standard_normal(2)
    x[0, 1, 0, 0] = 0.0  # inf * 0 = NaN where a kernel inf meets it
    {"x-nan": lambda: x.__setitem__((0, 1, 1, 0), np.nan), "x-inf": lambda: x.__setitem__((0, 0, 2, 1), np.inf),
     "kernel-inf": lambda: kernel.__setitem__((1, 2, 0, 0), np.inf),
     "bias-nan": lambda: bias.__setitem__(1, np.nan)}[where]()
    y = conv2d_transpose(x, kernel, bias, strides=2, padding=1, output_padding=1)
    expected = torch.nn.functional.conv_transpose2d(
        torch.tensor(x.transpose(0, 3, 1, 2)), torch.tensor(kernel.transpose(3, 2, 0, 1).copy()), torch.tensor(bias),
        stride=2, padding=1, output_padding=1).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)  # NaN where torch has NaN, inf of the same sign


# 5. Bad arguments ---------------------------------------------------------------------------------------------------

X, K = np.ones((1, 3, 3, 2)), np.ones((2, 2, 4, 2))


@pytest.mark.parametrize(("kwargs", "pattern"), [
    (dict(x=np.ones((3, 3, 2))), r"`x` argument must be a 4D array.*Received: x with shape \(3, 3, 2\)"),
    (dict(kernel=np.ones((2, 2, 4))), r"`kernel` argument must be a 4D array .*Received: kernel with shape"),
    (dict(kernel=np.ones((2, 2, 4, 3))), r"`kernel` argument's last axis must equal the input channels \(2.*Received"),
    (dict(kernel=np.ones((2, 2, 0, 2))), r"`kernel` argument must have a non-zero size.*Received"),
    (dict(x=np.ones((1, 3, 3, 0)), kernel=np.ones((2, 2, 4, 0))), r"`x` argument must have at least one input channel"),
    (dict(bias=np.ones(3)), r"`bias` argument must have shape \(filters,\) = \(4,\). Received: bias with shape \(3,\)"),
    (dict(strides=0), r"`strides` argument.*Received: strides=0"),
    (dict(dilation_rate=(1, 2, 3)), r"`dilation_rate` argument.*Received: dilation_rate=\(1, 2, 3\)"),
    (dict(padding="full"), r"`padding` argument.*Received: padding='full'"),
    (dict(padding=-1), r"`padding` argument.*Received: padding=-1"),
    (dict(output_padding=1), r"`output_padding` argument must be None or smaller than `strides`.*Received: "
                             r"output_padding=\(1, 1\)"),
    (dict(strides=2, output_padding=(1, -1)), r"`output_padding` argument.*Received: output_padding=\(1, -1\)"),
    (dict(output_padding="same"), r"`output_padding` argument.*Received: output_padding='same'"),
    (dict(data_format="NCHW"), r"`data_format` argument.*Received: data_format='NCHW'"),
    (dict(x=np.full((1, 3, 3, 2), "a")), r"`x` argument must be a real numeric array.*Received"),
    (dict(padding=((3, 2), (0, 0))), r"padding that leaves some output.*Received: input size 3"),
])
def test_bad_arguments_are_refused(kwargs, pattern):
    args = dict(x=X, kernel=K, bias=None)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=pattern):
        conv2d_transpose(**args)


def test_an_empty_image_is_refused():
    with pytest.raises(ValueError, match=r"non-empty input.*Received: input size 0"):
        conv2d_transpose(np.ones((1, 0, 3, 2)), K)


def test_backward_checks_dy():
    _, cache = conv2d_transpose_forward(X, K, strides=2, padding="same")
    with pytest.raises(ValueError, match=r"`dy` argument must have the output's shape \(1, 6, 6, 4\). Received: dy "
                                         r"with shape \(1, 6, 6, 3\)"):
        conv2d_transpose_backward(np.ones((1, 6, 6, 3)), cache)


def test_check_output_padding_passes_none_and_normalises_ints():
    assert check_output_padding(None, (2, 2)) is None
    assert check_output_padding(np.int64(1), (2, 3)) == (1, 1)
