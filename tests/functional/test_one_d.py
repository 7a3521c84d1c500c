"""1D convolution and pooling: the notes' windows, slow loops, float64 gradients, PyTorch and Keras.

The 1D ops run the 2D ones on images of height 1; the loops here are written for sequences
directly and never go through 2D, so they check the lift as well as the arithmetic.
"""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from helpers import assert_close, check_directional_grad, check_op_grads, import_keras, import_torch, numerical_grad
from numcnn.functional.one_d import (
    avg_pool1d,
    avg_pool1d_backward,
    avg_pool1d_forward,
    conv1d,
    conv1d_backward,
    conv1d_forward,
    global_avg_pool1d,
    global_avg_pool1d_forward,
    global_max_pool1d,
    global_max_pool1d_forward,
    global_pool1d_backward,
    max_pool1d,
    max_pool1d_backward,
    max_pool1d_forward,
    resolve_padding_1d,
    standardize_padding_1d,
)

FORMATS = ("channels_last", "channels_first")
FORWARD = {"max": max_pool1d_forward, "avg": avg_pool1d_forward}
BACKWARD = {"max": max_pool1d_backward, "avg": avg_pool1d_backward}


def to_format(x_nlc, data_format):
    """An (N, L, C) array in ``data_format``'s layout."""
    return x_nlc if data_format == "channels_last" else np.ascontiguousarray(np.swapaxes(x_nlc, 1, 2))


def to_nlc(x, data_format):
    """An array in ``data_format``'s layout as (N, L, C)."""
    return x if data_format == "channels_last" else np.swapaxes(x, 1, 2)


def sequence(values, data_format="channels_last"):
    """A batch of one single-channel sequence."""
    return to_format(np.asarray(values, dtype=np.float64)[None, :, None], data_format)


def track(y, data_format="channels_last", channel=0):
    """Channel ``channel`` of the first sequence of an output."""
    return to_nlc(y, data_format)[0, :, channel]


# -- slow, obvious loops over sequences (channels last, float64) ----------------------------------

def conv1d_loop(x, kernel, bias, stride, pads, dilation, groups):
    """``out[b, t, f] = sum(window * kernel[:, :, f]) + bias[f]`` for every output step and filter."""
    xp = np.pad(x.astype(np.float64), [(0, 0), pads, (0, 0)])
    n, lp, _ = xp.shape
    k, cg, f = kernel.shape
    span = (k - 1) * dilation + 1
    out = np.zeros((n, (lp - span) // stride + 1, f))
    for b in range(n):
        for t in range(out.shape[1]):
            for j in range(f):
                g = j // (f // groups)
                window = xp[b, t * stride:t * stride + span:dilation, g * cg:(g + 1) * cg]
                out[b, t, j] = np.sum(window * kernel[:, :, j]) + (0.0 if bias is None else bias[j])
    return out


def conv1d_backward_loop(dy, x, kernel, stride, pads, dilation, groups):
    """The same loop run backwards: each output step sends ``dy * kernel`` to its window and
    ``dy * window`` to the kernel."""
    xp = np.pad(x.astype(np.float64), [(0, 0), pads, (0, 0)])
    dxp, dkernel = np.zeros_like(xp), np.zeros(kernel.shape)
    k, cg, f = kernel.shape
    span = (k - 1) * dilation + 1
    for b in range(dy.shape[0]):
        for t in range(dy.shape[1]):
            for j in range(f):
                g = j // (f // groups)
                steps, chans = slice(t * stride, t * stride + span, dilation), slice(g * cg, (g + 1) * cg)
                dxp[b, steps, chans] += dy[b, t, j] * kernel[:, :, j]
                dkernel[:, :, j] += dy[b, t, j] * xp[b, steps, chans]
    return dxp[:, pads[0]:pads[0] + x.shape[1]], dkernel, dy.sum(axis=(0, 1))


def pool_windows(length, pool, stride, pads):
    """The real steps of each window (padding left out)."""
    out = (length + sum(pads) - pool) // stride + 1
    return [[s for s in range(t * stride - pads[0], t * stride - pads[0] + pool) if 0 <= s < length]
            for t in range(out)]


def pool1d_loop(x, pool, stride, pads, mode):
    windows = pool_windows(x.shape[1], pool, stride, pads)
    reduce = np.max if mode == "max" else np.mean
    return np.stack([reduce(x[:, w, :].astype(np.float64), axis=1) for w in windows], axis=1)


def pool1d_backward_loop(dy, x, pool, stride, pads, mode):
    """Max: each window's dy to its first real maximum; average: dy / count to each real step."""
    dx = np.zeros(x.shape)
    for t, w in enumerate(pool_windows(x.shape[1], pool, stride, pads)):
        for b in range(x.shape[0]):
            for c in range(x.shape[2]):
                if mode == "max":
                    dx[b, w[int(np.argmax(x[b, w, c]))], c] += dy[b, t, c]
                else:
                    dx[b, w, c] += dy[b, t, c] / len(w)
    return dx


# -- random cases ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv1DCase:
    n: int
    length: int
    channels: int
    k: int
    filters: int
    stride: int
    dilation: int
    padding: object
    groups: int
    data_format: str
    use_bias: bool
    seed: int

    @property
    def pads(self):
        return resolve_padding_1d(standardize_padding_1d(self.padding), self.length, self.k, self.stride,
                                  self.dilation)

    @property
    def kwargs(self):
        return dict(strides=self.stride, padding=self.padding, dilation_rate=self.dilation, groups=self.groups,
                    data_format=self.data_format)

    def arrays(self, dtype=np.float64):
        """``(x, kernel, bias)``: x in the case's layout, kernel (k, C / groups, F)."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((self.n, self.length, self.channels)).astype(dtype)
        kernel = rng.standard_normal((self.k, self.channels // self.groups, self.filters)).astype(dtype)
        bias = rng.standard_normal(self.filters).astype(dtype) if self.use_bias else None
        return to_format(x, self.data_format), kernel, bias


def _explicit_padding(draw, kind, high):
    if kind == "int":
        return draw(st.integers(0, high))
    return (draw(st.integers(0, high)), draw(st.integers(0, high)))


@st.composite
def conv1d_cases(draw, padding_kinds=("valid", "same", "causal", "int", "pair"), max_groups=3, max_stride=3,
                 max_dilation=2):
    groups = draw(st.integers(1, max_groups))
    k, dilation = draw(st.integers(1, 4)), draw(st.integers(1, max_dilation))
    kind = draw(st.sampled_from(padding_kinds))
    padding = kind if kind in ("valid", "same", "causal") else _explicit_padding(draw, kind, 2)
    explicit = sum(standardize_padding_1d(padding)) if kind in ("int", "pair") else 0
    smallest = max(1, (k - 1) * dilation + 1 - explicit) if kind in ("valid", "int", "pair") else 1
    return Conv1DCase(
        n=draw(st.integers(1, 2)), length=draw(st.integers(smallest, smallest + 7)),
        channels=groups * draw(st.integers(1, 2)), k=k, filters=groups * draw(st.integers(1, 2)),
        stride=draw(st.integers(1, max_stride)), dilation=dilation, padding=padding, groups=groups,
        data_format=draw(st.sampled_from(FORMATS)), use_bias=draw(st.booleans()), seed=draw(st.integers(0, 2**32 - 1)))


@dataclass(frozen=True)
class Pool1DCase:
    n: int
    length: int
    channels: int
    pool: int
    strides: object  # None or an int
    padding: object
    data_format: str
    seed: int

    @property
    def stride(self):
        return self.pool if self.strides is None else self.strides

    @property
    def pads(self):
        return resolve_padding_1d(standardize_padding_1d(self.padding), self.length, self.pool, self.stride)

    @property
    def kwargs(self):
        return dict(pool_size=self.pool, strides=self.strides, padding=self.padding, data_format=self.data_format)

    def array(self, dtype=np.float64, separated=False):
        """The input in the case's layout; ``separated``: distinct values at least ``4 / size`` apart
        (no ties, no kink within a finite-difference step)."""
        rng = np.random.default_rng(self.seed)
        shape = (self.n, self.length, self.channels)
        if separated:
            size = int(np.prod(shape))
            x = 4 * (rng.permutation(size).reshape(shape) + rng.uniform(-0.25, 0.25, shape) - size / 2) / size
        else:
            x = rng.standard_normal(shape)
        return to_format(x.astype(dtype), self.data_format)


@st.composite
def pool1d_cases(draw, padding_kinds=("valid", "same", "int", "pair")):
    pool = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(padding_kinds))
    padding = kind if kind in ("valid", "same") else _explicit_padding(draw, kind, pool - 1)
    explicit = sum(standardize_padding_1d(padding)) if kind in ("int", "pair") else 0
    smallest = max(1, pool - explicit) if kind != "same" else 1
    return Pool1DCase(
        n=draw(st.integers(1, 2)), length=draw(st.integers(smallest, smallest + 7)), channels=draw(st.integers(1, 3)),
        pool=pool, strides=draw(st.one_of(st.none(), st.integers(1, 3))), padding=padding,
        data_format=draw(st.sampled_from(FORMATS)), seed=draw(st.integers(0, 2**32 - 1)))


# 1. Known values --------------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", FORMATS)
def test_seed_001_windows_of_three_slide_one_step(data_format):
    # note 001: window 3 over 1..7 is [1 2 3], [2 3 4], [3 4 5], ...; a ones filter sums each window
    y = conv1d(sequence(range(1, 8), data_format), np.ones((3, 1, 1)), data_format=data_format)
    assert y.shape == ((1, 5, 1) if data_format == "channels_last" else (1, 1, 5))
    assert_array_equal(track(y, data_format), [6, 9, 12, 15, 18])
    # a one-hot filter picks one position of each window: the windows themselves
    windows = [track(conv1d(sequence(range(1, 8)), np.eye(3)[a].reshape(3, 1, 1))) for a in range(3)]
    assert_array_equal(np.stack(windows, axis=1), [[1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6], [5, 6, 7]])


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize(("padding", "strides", "dilation", "expected"), [
    ("valid", 1, 1, [21, 32, 43]),  # y[t] = x[t] + 10 x[t+1]
    ("same", 1, 1, [21, 32, 43, 4]),  # one zero, on the right
    ("causal", 1, 1, [10, 21, 32, 43]),  # y[t] = x[t-1] + 10 x[t]: one zero, on the left
    ("causal", 1, 2, [10, 20, 31, 42]),  # y[t] = x[t-2] + 10 x[t]
    ("causal", 2, 1, [10, 32]),  # ceil(4 / 2) outputs
    ("valid", 2, 1, [21, 43]),
    ("valid", 1, 2, [31, 42]),  # y[t] = x[t] + 10 x[t+2]
    ((2, 1), 1, 1, [0, 10, 21, 32, 43, 4]),
    (1, 3, 1, [10, 43]),
])
def test_conv1d_known_values(padding, strides, dilation, expected, data_format):
    y = conv1d(sequence([1, 2, 3, 4], data_format), np.array([1.0, 10.0]).reshape(2, 1, 1), strides=strides,
               padding=padding, dilation_rate=dilation, data_format=data_format)
    assert_array_equal(track(y, data_format), expected)


def test_same_stride_2_puts_the_extra_step_on_the_right():
    # resolve_padding_1d("same", 4, 3, 2) == (0, 1): windows [1, 2, 3] and [3, 4, pad]
    assert resolve_padding_1d("same", 4, 3, 2) == (0, 1)
    assert_array_equal(track(conv1d(sequence([1, 2, 3, 4]), np.ones((3, 1, 1)), strides=2, padding="same")), [6, 7])


def test_two_channels_groups_and_bias_known_values():
    x = np.array([[1.0, 10], [2, 20], [3, 30]])[None]  # (1, L=3, C=2)
    # groups=1: each filter sums both channels with its own taps
    kernel = np.zeros((2, 2, 2))
    kernel[:, :, 0] = 1.0  # filter 0: the sum of the window
    kernel[1, 1, 1] = 1.0  # filter 1: channel 1 of the second step
    y = conv1d(x, kernel, np.array([0.5, -1.0]))
    assert_array_equal(y[0], [[33.5, 19], [55.5, 29]])
    # groups=2: filter g sees channel g only
    y = conv1d(x, np.ones((2, 1, 2)), groups=2)
    assert_array_equal(y[0], [[3, 30], [5, 50]])
    assert_array_equal(conv1d(x.transpose(0, 2, 1), np.ones((2, 1, 2)), groups=2, data_format="channels_first")[0],
                       [[3, 5], [30, 50]])


def test_conv1d_backward_known_values():
    y, cache = conv1d_forward(sequence(range(5)), np.ones((2, 1, 1)), np.array([3.0]))
    dx, dkernel, dbias = conv1d_backward(np.ones_like(y), cache)
    assert_array_equal(track(dx), [1, 2, 2, 2, 1])  # one gradient per window that covers the step
    assert_array_equal(dkernel.reshape(-1), [0 + 1 + 2 + 3, 1 + 2 + 3 + 4])
    assert_array_equal(dbias, [4])
    assert dkernel.shape == (2, 1, 1)


def test_conv1d_backward_without_bias_returns_none():
    _, cache = conv1d_forward(np.ones((1, 4, 1)), np.ones((2, 1, 1)))
    assert conv1d_backward(np.ones((1, 3, 1)), cache)[2] is None


@pytest.mark.parametrize("data_format", FORMATS)
def test_causal_output_never_reads_the_future(data_format, rng):
    x = to_format(rng.standard_normal((1, 9, 2)), data_format)
    kernel = rng.standard_normal((3, 2, 4))
    y, cache = conv1d_forward(x, kernel, padding="causal", dilation_rate=2, data_format=data_format)
    assert to_nlc(y, data_format).shape == (1, 9, 4)
    t = 5
    future = to_nlc(x, data_format).copy()
    future[:, t + 1:] += 100.0
    changed = np.abs(to_nlc(conv1d(to_format(future, data_format), kernel, padding="causal", dilation_rate=2,
                                   data_format=data_format), data_format) - to_nlc(y, data_format)).max(axis=(0, 2))
    assert_array_equal(changed[:t + 1], 0)
    assert (changed[t + 1:] > 0).all()
    # and the gradient of y[t] reaches x[t - 4], x[t - 2] and x[t] only
    dy = np.zeros((1, 9, 4))
    dy[0, t] = 1.0
    dx = to_nlc(conv1d_backward(to_format(dy, data_format), cache)[0], data_format)
    assert_array_equal(np.flatnonzero(np.abs(dx[0]).sum(axis=1)), [t - 4, t - 2, t])


def test_pooling_known_values():
    x = sequence([1, 5, 2, 4, 3])
    assert_array_equal(track(max_pool1d(x, 2, 1)), [5, 5, 4, 4])
    assert_array_equal(track(max_pool1d(x, 2)), [5, 4])  # strides default to pool_size
    assert_array_equal(track(avg_pool1d(x, 2)), [3, 3])
    assert_array_equal(track(avg_pool1d(x, 3, 1)), [8 / 3, 11 / 3, 3])
    assert_array_equal(track(max_pool1d(x, 2, padding="same")), [5, 4, 3])  # [1 5] [2 4] [3 pad]


def test_avg_pool_same_follows_tensorflow_not_edge_copies():
    # pool 3, stride 2, 'same' over [10, 20]: one window [10, 20, pad] -> 15, not mean(10, 20, 20)
    y, cache = avg_pool1d_forward(sequence([10, 20]), 3, 2, padding="same")
    assert track(y).tolist() == [15.0]
    assert_array_equal(track(avg_pool1d_backward(np.ones((1, 1, 1)), cache)), [0.5, 0.5])


def test_avg_pool_explicit_padding_divides_by_real_steps():
    assert_array_equal(track(avg_pool1d(sequence([4, 8, 12]), 2, 1, padding=1)), [4, 6, 10, 12])


def test_max_pool_padding_never_wins():
    assert_array_equal(track(max_pool1d(sequence([-1, -2, -3]), 2, 1, padding=1)), [-1, -1, -2, -3])


def test_max_pool_gradient_goes_to_first_maximum_on_ties():
    y, cache = max_pool1d_forward(sequence([1, 3, 3, 0]), 3, 1)
    assert_array_equal(track(max_pool1d_backward(np.full(y.shape, 5.0), cache)), [0, 10, 0, 0])


@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_known_values(data_format):
    x = to_format(np.arange(6.0).reshape(1, 3, 2), data_format)  # channel 0: 0, 2, 4; channel 1: 1, 3, 5
    assert_array_equal(global_avg_pool1d(x, data_format), [[2, 3]])
    assert_array_equal(global_max_pool1d(x, data_format), [[4, 5]])
    kept = (1, 1, 2) if data_format == "channels_last" else (1, 2, 1)
    assert global_avg_pool1d(x, data_format, keepdims=True).shape == kept
    y, cache = global_avg_pool1d_forward(x, data_format, keepdims=True)
    assert_array_equal(to_nlc(global_pool1d_backward(np.full(kept, 3.0), cache), data_format)[0], np.ones((3, 2)))
    _, cache = global_max_pool1d_forward(x, data_format)
    assert_array_equal(to_nlc(global_pool1d_backward(np.array([[4.0, 8.0]]), cache), data_format)[0],
                       [[0, 0], [0, 0], [4, 8]])


def test_global_max_pool_shares_gradient_between_ties():
    _, cache = global_max_pool1d_forward(sequence([3, 1, 3, 3]))
    assert_array_equal(track(global_pool1d_backward(np.array([[6.0]]), cache)), [2, 0, 2, 2])


# 2. Reference loops -----------------------------------------------------------------------------

@given(conv1d_cases())
def test_conv1d_forward_matches_the_loop(case):
    x, kernel, bias = case.arrays()
    expected = conv1d_loop(to_nlc(x, case.data_format), kernel, bias, case.stride, case.pads, case.dilation,
                           case.groups)
    assert_close(conv1d(x, kernel, bias, **case.kwargs), to_format(expected, case.data_format), rtol=1e-12)


@given(conv1d_cases())
def test_conv1d_backward_matches_the_loop(case):
    x, kernel, bias = case.arrays()
    y, cache = conv1d_forward(x, kernel, bias, **case.kwargs)
    dy = np.random.default_rng(case.seed + 1).standard_normal(y.shape)
    dx, dkernel, dbias = conv1d_backward(dy, cache)
    rx, rkernel, rbias = conv1d_backward_loop(to_nlc(dy, case.data_format), to_nlc(x, case.data_format), kernel,
                                              case.stride, case.pads, case.dilation, case.groups)
    assert_close(dx, to_format(rx, case.data_format), rtol=1e-12)
    assert_close(dkernel, rkernel, rtol=1e-12)
    if bias is None:
        assert dbias is None
    else:
        assert_close(dbias, rbias, rtol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool1d_cases())
def test_pooling_forward_matches_the_loop(mode, case):
    x = case.array()
    expected = pool1d_loop(to_nlc(x, case.data_format), case.pool, case.stride, case.pads, mode)
    assert_close(FORWARD[mode](x, **case.kwargs)[0], to_format(expected, case.data_format), rtol=1e-12)


@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool1d_cases())
def test_pooling_backward_matches_the_loop(mode, case):
    x = case.array(separated=mode == "max")
    y, cache = FORWARD[mode](x, **case.kwargs)
    dy = np.random.default_rng(case.seed + 1).standard_normal(y.shape)
    expected = pool1d_backward_loop(to_nlc(dy, case.data_format), to_nlc(x, case.data_format), case.pool,
                                    case.stride, case.pads, mode)
    assert_close(BACKWARD[mode](dy, cache), to_format(expected, case.data_format), rtol=1e-12)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

CONV_CONFIGS = [
    dict(),
    dict(strides=2, padding="same"),
    dict(padding="causal", dilation_rate=2),
    dict(padding="causal", strides=3, data_format="channels_first"),
    dict(padding=(2, 1), strides=2, dilation_rate=2),
    dict(groups=2, padding=1, data_format="channels_first"),
]


@pytest.mark.parametrize("config", CONV_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_conv1d_gradients_match_numerical(config, rng):
    x = to_format(rng.standard_normal((2, 7, 2)), config.get("data_format", "channels_last"))
    kernel = rng.standard_normal((3, 2 // config.get("groups", 1), 4))
    bias = rng.standard_normal(4)
    check_op_grads(conv1d_forward, conv1d_backward, (x, kernel, bias), config, rng)


@given(conv1d_cases())
def test_conv1d_gradients_match_directional_derivatives(case):
    check_op_grads(conv1d_forward, conv1d_backward, case.arrays(), case.kwargs, np.random.default_rng(case.seed),
                   directional=True, checked=(0, 1))


POOL_CONFIGS = [
    dict(pool_size=2),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=3, strides=1, padding=(2, 0)),
    dict(pool_size=2, strides=1, padding=1, data_format="channels_first"),
]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("config", POOL_CONFIGS, ids=str)
def test_pooling_gradient_matches_numerical(mode, config, rng):
    shape = (2, 7, 3)
    x = to_format(rng.permutation(np.prod(shape)).reshape(shape) + rng.uniform(-0.25, 0.25, shape),
                  config.get("data_format", "channels_last"))
    y, cache = FORWARD[mode](x, **config)
    weights = rng.standard_normal(y.shape)
    assert_close(BACKWARD[mode](weights, cache),
                 numerical_grad(lambda v: np.sum(FORWARD[mode](v, **config)[0] * weights), x), rtol=1e-6)


@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool1d_cases())
def test_pooling_gradient_matches_directional_derivative(mode, case):
    x = case.array(separated=True)
    y, cache = FORWARD[mode](x, **case.kwargs)
    rng = np.random.default_rng(case.seed)
    weights = rng.standard_normal(y.shape)
    check_directional_grad(lambda v: np.sum(FORWARD[mode](v, **case.kwargs)[0] * weights), x,
                           BACKWARD[mode](weights, cache), rng)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("forward", [global_avg_pool1d_forward, global_max_pool1d_forward])
@pytest.mark.parametrize("data_format", FORMATS)
def test_global_pooling_gradient_matches_numerical(forward, data_format, keepdims, rng):
    x = rng.permutation(2 * 5 * 3).reshape(2, 5, 3) + rng.uniform(-0.25, 0.25, (2, 5, 3))
    y, cache = forward(x, data_format, keepdims)
    weights = rng.standard_normal(y.shape)
    assert_close(global_pool1d_backward(weights, cache),
                 numerical_grad(lambda v: np.sum(forward(v, data_format, keepdims)[0] * weights), x), rtol=1e-6)


# 4. PyTorch parity (float64, every gradient) and Keras parity ------------------------------------

def _ncl(x, data_format):
    return to_format(to_nlc(x, data_format), "channels_first")


@given(conv1d_cases())
def test_conv1d_matches_torch_forward_and_every_gradient(case):
    torch = import_torch()
    F = torch.nn.functional
    x, kernel, bias = case.arrays()
    xt = torch.tensor(_ncl(x, case.data_format), requires_grad=True)
    kt = torch.tensor(kernel.transpose(2, 1, 0).copy(), requires_grad=True)  # (F, C / groups, k)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    y_torch = F.conv1d(F.pad(xt, case.pads), kt, bt, stride=case.stride, dilation=case.dilation, groups=case.groups)

    y, cache = conv1d_forward(x, kernel, bias, **case.kwargs)
    assert y.dtype == np.float64
    assert_close(_ncl(y, case.data_format), y_torch.detach().numpy(), rtol=1e-10)
    dy = np.random.default_rng(case.seed + 7).standard_normal(y.shape)
    y_torch.backward(torch.from_numpy(_ncl(dy, case.data_format)))
    dx, dkernel, dbias = conv1d_backward(dy, cache)
    assert_close(_ncl(dx, case.data_format), xt.grad.numpy(), rtol=1e-10)
    kernel_scale = float(np.abs(x).max() * np.abs(dy).sum())  # dkernel sums x * dy: it can cancel to ~0
    assert_close(dkernel, kt.grad.numpy().transpose(2, 1, 0), rtol=1e-10, scale=kernel_scale)
    if bias is not None:
        assert_close(dbias, bt.grad.numpy(), rtol=1e-10, scale=float(np.abs(dy).sum()))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
@given(conv1d_cases(padding_kinds=("same",), max_stride=1))
def test_same_stride_1_matches_torch_native_same(case):
    # torch computes 'same' itself (stride 1 only): an independent check of the padding rule
    torch = import_torch()
    x, kernel, bias = case.arrays()
    expected = torch.nn.functional.conv1d(
        torch.tensor(_ncl(x, case.data_format)), torch.tensor(kernel.transpose(2, 1, 0).copy()),
        None if bias is None else torch.tensor(bias), padding="same", dilation=case.dilation, groups=case.groups)
    assert_close(_ncl(conv1d(x, kernel, bias, **case.kwargs), case.data_format), expected.numpy(), rtol=1e-10)


def test_float32_stays_float32_and_matches_torch(rng):
    torch = import_torch()
    x, kernel, bias = (rng.standard_normal(s).astype(np.float32) for s in [(2, 6, 3), (2, 3, 4), (4,)])
    y = conv1d(x, kernel, bias, padding="causal")
    expected = torch.nn.functional.conv1d(torch.nn.functional.pad(torch.tensor(x.transpose(0, 2, 1)), (1, 0)),
                                          torch.tensor(kernel.transpose(2, 1, 0).copy()), torch.tensor(bias))
    assert y.dtype == np.float32
    assert_close(y.transpose(0, 2, 1), expected.numpy(), rtol=1e-5)
    assert max_pool1d(x).dtype == avg_pool1d(x).dtype == global_avg_pool1d(x).dtype == np.float32
    assert conv1d(np.arange(6).reshape(1, 6, 1), np.ones((2, 1, 1), np.int64)).dtype == np.float32


def torch_pool1d(torch, mode, case, x):
    """PyTorch pooling on an (N, C, L) leaf: its own padding when symmetric and at most half the
    window (count_include_pad=False), else F.pad (-inf for max) and sum / real steps for the mean."""
    F = torch.nn.functional
    xt = torch.tensor(_ncl(x, case.data_format), requires_grad=True)
    left, right = case.pads
    if left == right <= case.pool // 2:
        if mode == "max":
            return F.max_pool1d(xt, case.pool, case.stride, padding=left), xt
        return F.avg_pool1d(xt, case.pool, case.stride, padding=left, count_include_pad=False), xt
    if mode == "max":
        return F.max_pool1d(F.pad(xt, (left, right), value=-np.inf), case.pool, case.stride), xt
    total = F.avg_pool1d(F.pad(xt, (left, right)), case.pool, case.stride) * case.pool
    count = F.avg_pool1d(F.pad(torch.ones_like(xt[:1, :1]), (left, right)), case.pool, case.stride) * case.pool
    return total / count, xt


@pytest.mark.parametrize("mode", ["max", "avg"])
@given(case=pool1d_cases())
def test_pooling_matches_torch_forward_and_backward(mode, case):
    torch = import_torch()
    x = case.array(separated=mode == "max")
    y_torch, xt = torch_pool1d(torch, mode, case, x)
    y, cache = FORWARD[mode](x, **case.kwargs)
    assert_close(_ncl(y, case.data_format), y_torch.detach().numpy(), rtol=1e-10)
    dy = np.random.default_rng(case.seed + 5).standard_normal(y.shape)
    y_torch.backward(torch.from_numpy(_ncl(dy, case.data_format)))
    assert_close(_ncl(BACKWARD[mode](dy, cache), case.data_format), xt.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_global_pooling_matches_torch(mode, ties, data_format, rng):
    torch = import_torch()
    x = (rng.integers(0, 3, (2, 5, 4)) if ties else rng.standard_normal((2, 5, 4))).astype(np.float64)
    xt = torch.tensor(x, requires_grad=True)
    axis = 1 if data_format == "channels_last" else 2
    y_torch = xt.mean(dim=axis) if mode == "avg" else xt.amax(dim=axis)  # amax shares ties evenly
    y, cache = (global_avg_pool1d_forward if mode == "avg" else global_max_pool1d_forward)(x, data_format)
    assert_close(y, y_torch.detach().numpy(), rtol=1e-12)
    dy = rng.standard_normal(y.shape)
    y_torch.backward(torch.from_numpy(dy))
    assert_close(global_pool1d_backward(dy, cache), xt.grad.numpy(), rtol=1e-12)


@given(conv1d_cases(padding_kinds=("valid", "same"), max_groups=1))
def test_conv1d_matches_keras_ops_conv(case):
    # Keras refuses strides > 1 with dilation > 1 in its layers; its ops take both
    keras = import_keras()
    x, kernel, bias = case.arrays(np.float32)
    expected = keras.ops.conv(x, kernel, strides=case.stride, padding=case.padding, data_format=case.data_format,
                              dilation_rate=case.dilation).numpy()
    assert_close(conv1d(x, kernel, None, **case.kwargs), expected, rtol=1e-5)


@given(case=pool1d_cases(padding_kinds=("valid", "same")))
def test_max_pool_matches_keras(case):
    keras = import_keras()
    x = case.array(np.float32)
    expected = keras.ops.max_pool(x, case.pool, case.stride, padding=case.padding, data_format=case.data_format)
    assert_array_equal(max_pool1d(x, **case.kwargs), expected.numpy())


@given(case=pool1d_cases(padding_kinds=("valid",)))
def test_avg_pool_valid_matches_keras(case):
    keras = import_keras()
    x = case.array(np.float32)
    expected = keras.ops.average_pool(x, case.pool, case.stride, padding="valid", data_format=case.data_format)
    assert_close(avg_pool1d(x, **case.kwargs), expected.numpy(), rtol=1e-6)


def test_keras_torch_backend_avg_pool_same_disagrees_with_tensorflow():
    """Keras 3 (torch backend) pads 'same' average pooling with edge copies; we follow TensorFlow.

    If this starts failing because Keras now gives 15, Keras was fixed: compare with it directly.
    """
    keras = import_keras()
    x = np.array([10.0, 20.0], dtype=np.float32).reshape(1, 2, 1)
    theirs = keras.ops.average_pool(x, 3, 2, padding="same").numpy()
    np.testing.assert_allclose(theirs.reshape(-1), [50 / 3], rtol=1e-6)  # mean(10, 20, 20)
    assert_array_equal(avg_pool1d(x, 3, 2, padding="same").reshape(-1), [15.0])


# 5. The doors: bad arguments named, NaN flows ----------------------------------------------------

@pytest.mark.parametrize(("call", "argument"), [
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), padding="full"), "padding"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), padding=(1, 2, 3)), "padding"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), padding=-1), "padding"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), strides=0), "strides"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), strides=(1, 1)), "strides"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), dilation_rate=0), "dilation_rate"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), groups=0), "groups"),
    (lambda: conv1d(np.ones((1, 4, 3)), np.ones((2, 1, 2)), groups=3), "groups"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 1)), data_format="NLC"), "data_format"),
    (lambda: conv1d(np.ones((1, 4, 4, 1)), np.ones((2, 1, 1))), "x"),
    (lambda: conv1d(np.ones((1, 4, 0)), np.ones((2, 0, 1))), "x"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 2, 1, 1))), "kernel"),
    (lambda: conv1d(np.ones((1, 4, 2)), np.ones((2, 1, 1))), "kernel"),
    (lambda: conv1d(np.ones((1, 4, 1)), np.ones((2, 1, 3)), np.ones(2)), "bias"),
    (lambda: max_pool1d(np.ones((1, 4, 1)), 0), "pool_size"),
    (lambda: max_pool1d(np.ones((1, 4, 1)), 2, padding="causal"), "padding"),
    (lambda: avg_pool1d(np.ones((1, 4, 1)), 2, padding=2), "padding"),
    (lambda: avg_pool1d(np.ones((1, 4, 1)), 2, strides=-1), "strides"),
    (lambda: avg_pool1d(np.ones((1, 0, 1)), 2), "x"),
    (lambda: max_pool1d(np.ones((4, 1)), 2), "x"),
    (lambda: global_avg_pool1d(np.ones((1, 4, 1)), keepdims="yes"), "keepdims"),
    (lambda: global_max_pool1d(np.ones((1, 4, 1)), data_format="first"), "data_format"),
])
def test_bad_arguments_are_refused_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"`{argument}`.*Received: "):
        call()


def test_a_kernel_longer_than_the_padded_input_is_refused():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv1d(np.ones((1, 3, 1)), np.ones((4, 1, 1)))
    assert conv1d(np.ones((1, 3, 1)), np.ones((4, 1, 1)), padding="causal").shape == (1, 3, 1)


def test_wrong_dy_is_refused():
    y, cache = conv1d_forward(np.ones((1, 4, 1)), np.ones((2, 1, 1)))
    with pytest.raises(ValueError, match=r"`dy`.*\(1, 3, 1\).*Received: dy with shape \(1, 4, 1\)"):
        conv1d_backward(np.ones((1, 4, 1)), cache)
    _, cache = max_pool1d_forward(np.ones((1, 4, 1)))
    with pytest.raises(ValueError, match="`dy`"):
        max_pool1d_backward(np.ones((1, 3, 1)), cache)
    _, cache = global_avg_pool1d_forward(np.ones((1, 4, 1)))
    with pytest.raises(ValueError, match="`dy`"):
        global_pool1d_backward(np.ones((1, 1, 1)), cache)


def test_nan_and_inf_flow_through_as_ieee_arithmetic():
    x = sequence([1, np.nan, 3, np.inf, 5])
    assert_array_equal(np.isnan(track(conv1d(x, np.ones((2, 1, 1))))), [True, True, False, False])
    assert track(conv1d(x, np.ones((2, 1, 1))))[3] == np.inf
    assert np.isnan(track(max_pool1d(x, 2))).tolist() == [True, False]
    assert track(avg_pool1d(x, 2))[1] == np.inf


def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients():
    y, cache = conv1d_forward(np.ones((0, 5, 2)), np.ones((3, 2, 4)), np.ones(4), padding="causal")
    assert y.shape == (0, 5, 4)
    dx, dkernel, dbias = conv1d_backward(np.ones((0, 5, 4)), cache)
    assert dx.shape == (0, 5, 2)
    assert_array_equal(dkernel, np.zeros((3, 2, 4)))
    assert_array_equal(dbias, np.zeros(4))
    assert max_pool1d(np.ones((0, 4, 3)), 2).shape == (0, 2, 3)
