"""depthwise_conv2d and separable_conv2d: known values, reference loops, numerical gradients,
PyTorch (float64, every gradient) and Keras's ops."""

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from helpers import assert_close, check_directional_grad, import_keras, import_torch, numerical_grad
from numcnn.functional import conv2d, resolve_padding
from numcnn.functional.depthwise import (
    depthwise_conv2d,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d,
    separable_conv2d_backward,
    separable_conv2d_forward,
)

from .strategies import to_format, to_nhwc

FORMATS = ("channels_last", "channels_first")


# -- the slow, obvious loops ------------------------------------------------------------------------------------------

def depthwise_reference(x, kernel, bias, strides, pads, dilation_rate):
    """Each channel ``c`` convolved with each ``kernel[:, :, c, m]`` on its own, into output channel ``c*M + m``.

    Shape:
        x: (N, H, W, C); kernel: (kh, kw, C, M); output: (N, OH, OW, C*M), float64
    """
    (top, bottom), (left, right) = pads
    xp = np.pad(x.astype(np.float64), [(0, 0), (top, bottom), (left, right), (0, 0)])
    n, hp, wp, c = xp.shape
    kh, kw, _, m = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation_rate
    oh, ow = (hp - (kh - 1) * dh - 1) // sh + 1, (wp - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, oh, ow, c * m))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                window = xp[b, i * sh: i * sh + (kh - 1) * dh + 1: dh, j * sw: j * sw + (kw - 1) * dw + 1: dw]
                for ch in range(c):
                    for k in range(m):
                        out[b, i, j, ch * m + k] = np.sum(window[:, :, ch] * kernel[:, :, ch, k])
    return out + (0.0 if bias is None else bias)


def separable_reference(x, depthwise_kernel, pointwise_kernel, bias, strides, pads, dilation_rate):
    """The depthwise loops, then every output pixel's channels times the pointwise matrix."""
    z = depthwise_reference(x, depthwise_kernel, None, strides, pads, dilation_rate)
    out = np.zeros((*z.shape[:3], pointwise_kernel.shape[3]))
    for index in np.ndindex(*z.shape[:3]):
        out[index] = z[index] @ pointwise_kernel[0, 0]
    return out + (0.0 if bias is None else bias)


@dataclass(frozen=True)
class DepthwiseCase:
    n: int
    h: int
    w: int
    channels: int
    depth_multiplier: int
    filters: int
    kernel_hw: tuple
    strides: tuple
    dilation_rate: tuple
    padding: object
    data_format: str
    use_bias: bool
    seed: int

    @property
    def pads(self):
        return resolve_padding(self.padding, (self.h, self.w), self.kernel_hw, self.strides, self.dilation_rate)

    @property
    def kwargs(self):
        return dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate,
                    data_format=self.data_format)

    def arrays(self, dtype=np.float64):
        """``(x, depthwise_kernel, pointwise_kernel, depthwise bias, separable bias)``."""
        rng = np.random.default_rng(self.seed)
        c, m, f = self.channels, self.depth_multiplier, self.filters
        x = rng.standard_normal((self.n, self.h, self.w, c)).astype(dtype)
        depthwise = rng.standard_normal((*self.kernel_hw, c, m)).astype(dtype)
        pointwise = rng.standard_normal((1, 1, c * m, f)).astype(dtype)
        biases = [rng.standard_normal(size).astype(dtype) if self.use_bias else None for size in (c * m, f)]
        return to_format(x, self.data_format), depthwise, pointwise, *biases


@st.composite
def depthwise_cases(draw, padding_kinds=("valid", "same", "explicit"), max_stride=3, max_dilation=2):
    kernel_hw = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation_rate = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    kind = draw(st.sampled_from(padding_kinds))
    padding = kind if kind != "explicit" else tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in "hw")
    sizes = []
    for axis in range(2):
        effective = (kernel_hw[axis] - 1) * dilation_rate[axis] + 1
        smallest = max(1, effective - (sum(padding[axis]) if kind == "explicit" else 0))
        sizes.append(draw(st.integers(smallest, smallest + 4)))
    return DepthwiseCase(
        n=draw(st.integers(1, 2)), h=sizes[0], w=sizes[1], channels=draw(st.integers(1, 4)),
        depth_multiplier=draw(st.integers(1, 3)), filters=draw(st.integers(1, 3)), kernel_hw=kernel_hw,
        strides=(draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))), dilation_rate=dilation_rate,
        padding=padding, data_format=draw(st.sampled_from(FORMATS)), use_bias=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)))


# 1. Known values ----------------------------------------------------------------------------------------------------

def test_each_channel_gets_its_own_kernels():
    # channel 0 = ones, channel 1 = twos; kernels 2x2: channel 0 -> (sum, 10*sum), channel 1 -> (-sum, 0)
    x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))], axis=-1)[None]
    kernel = np.zeros((2, 2, 2, 2))
    kernel[:, :, 0, 0], kernel[:, :, 0, 1], kernel[:, :, 1, 0] = 1.0, 10.0, -1.0
    y = depthwise_conv2d(x, kernel, np.array([0.0, 0.5, 0.0, 1.0]))
    # output channel c*M + m: (0, 0) -> 4, (0, 1) -> 40.5, (1, 0) -> -8, (1, 1) -> 1
    assert_array_equal(y, np.broadcast_to([4.0, 40.5, -8.0, 1.0], (1, 2, 2, 4)))


@pytest.mark.parametrize("data_format", FORMATS)
def test_docstring_example_and_formats(data_format):
    x = to_format(np.arange(8.0).reshape(1, 2, 2, 2), data_format)
    y = to_nhwc(depthwise_conv2d(x, np.array([1.0, 10.0]).reshape(1, 1, 2, 1), data_format=data_format),
                data_format)
    assert_array_equal(y[0], np.arange(8.0).reshape(2, 2, 2) * [1, 10])


def test_is_conv2d_with_one_group_per_channel(rng):
    x, kernel = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((3, 2, 3, 2))
    y = depthwise_conv2d(x, kernel, strides=2, padding="same")
    assert_close(y, conv2d(x, kernel.reshape(3, 2, 1, 6), strides=2, padding="same", groups=3), rtol=1e-12)


def test_channels_never_mix(rng):
    x = rng.standard_normal((1, 5, 5, 3))
    kernel = rng.standard_normal((3, 3, 3, 2))
    y = depthwise_conv2d(x, kernel)
    x2 = x.copy()
    x2[..., 1] += 1.0  # only output channels 2 and 3 (= 1*2 + 0, 1*2 + 1) may change
    changed = np.abs(depthwise_conv2d(x2, kernel) - y).max(axis=(0, 1, 2)) > 0
    assert_array_equal(changed, [False, False, True, True, False, False])


def test_separable_known_values():
    # depthwise 2x2 ones on [[1, 2], [3, 4]] per channel (sum 10, and 20 for the doubled channel), then
    # pointwise [[1, -1], [1, 1]]: (10 + 20, -10 + 20) + bias (1, 2)
    x = np.stack([np.array([[1.0, 2], [3, 4]]), 2 * np.array([[1.0, 2], [3, 4]])], axis=-1)[None]
    y = separable_conv2d(x, np.ones((2, 2, 2, 1)), np.array([[1.0, -1], [1, 1]]).reshape(1, 1, 2, 2),
                         np.array([1.0, 2.0]))
    assert_array_equal(y, [[[[31.0, 12.0]]]])


def test_backward_known_values():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    y, cache = depthwise_conv2d_forward(x, np.ones((2, 2, 1, 2)), np.array([3.0, 0.0]))
    dx, dkernel, dbias = depthwise_conv2d_backward(np.ones_like(y), cache)
    # two kernels of ones: each pixel gets twice the count of windows covering it
    assert_array_equal(dx[0, :, :, 0], 2 * np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]))
    assert_array_equal(dkernel[:, :, 0, 0], [[45, 54], [81, 90]])
    assert dkernel.shape == (2, 2, 1, 2)
    assert_array_equal(dbias, [9, 9])


def test_empty_batch_and_dtype():
    y, cache = separable_conv2d_forward(np.zeros((0, 5, 5, 2), np.float32), np.ones((3, 3, 2, 2), np.float32),
                                        np.ones((1, 1, 4, 3), np.float32), np.ones(3, np.float32), padding="same")
    assert y.shape == (0, 5, 5, 3) and y.dtype == np.float32
    grads = separable_conv2d_backward(y, cache)
    assert [g.shape for g in grads] == [(0, 5, 5, 2), (3, 3, 2, 2), (1, 1, 4, 3), (3,)]
    assert all(g.dtype == np.float32 for g in grads)


# 2. Reference loops -------------------------------------------------------------------------------------------------

@given(depthwise_cases())
def test_depthwise_matches_reference_loops(case):
    x, depthwise, _, bias, _ = case.arrays()
    expected = depthwise_reference(to_nhwc(x, case.data_format), depthwise, bias, case.strides, case.pads,
                                   case.dilation_rate)
    assert_close(depthwise_conv2d(x, depthwise, bias, **case.kwargs), to_format(expected, case.data_format),
                 rtol=1e-12)


@given(depthwise_cases())
def test_separable_matches_reference_loops(case):
    x, depthwise, pointwise, _, bias = case.arrays()
    expected = separable_reference(to_nhwc(x, case.data_format), depthwise, pointwise, bias, case.strides,
                                   case.pads, case.dilation_rate)
    assert_close(separable_conv2d(x, depthwise, pointwise, bias, **case.kwargs),
                 to_format(expected, case.data_format), rtol=1e-12)


# 3. Numerical gradients (float64) -----------------------------------------------------------------------------------

GRAD_CONFIGS = [
    dict(),
    dict(strides=2, padding="same"),
    dict(strides=(1, 2), padding=((1, 0), (2, 1)), dilation_rate=(2, 1), data_format="channels_first"),
]


@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.parametrize("config", GRAD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_depthwise_gradients_match_numerical(config, multiplier, rng):
    x = rng.standard_normal((2, 3, 5, 4) if config.get("data_format") == "channels_first" else (2, 5, 4, 3))
    kernel, bias = rng.standard_normal((3, 2, 3, multiplier)), rng.standard_normal(3 * multiplier)
    y, cache = depthwise_conv2d_forward(x, kernel, bias, **config)
    weights = rng.standard_normal(y.shape)
    dx, dkernel, dbias = depthwise_conv2d_backward(weights, cache)
    for analytic, index in ((dx, 0), (dkernel, 1), (dbias, 2)):
        args = [x, kernel, bias]

        def loss(v, index=index, args=args):
            return np.sum(depthwise_conv2d(*args[:index], v, *args[index + 1:], **config) * weights)
        assert_close(analytic, numerical_grad(loss, args[index]), rtol=1e-6)


@pytest.mark.parametrize("config", GRAD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_separable_gradients_match_numerical(config, rng):
    x = rng.standard_normal((2, 3, 5, 4) if config.get("data_format") == "channels_first" else (2, 5, 4, 3))
    args = [x, rng.standard_normal((3, 2, 3, 2)), rng.standard_normal((1, 1, 6, 4)), rng.standard_normal(4)]
    y, cache = separable_conv2d_forward(*args, **config)
    weights = rng.standard_normal(y.shape)
    grads = separable_conv2d_backward(weights, cache)
    for index, analytic in enumerate(grads):
        def loss(v, index=index):
            return np.sum(separable_conv2d(*args[:index], v, *args[index + 1:], **config) * weights)
        assert_close(analytic, numerical_grad(loss, args[index]), rtol=1e-6)


@given(depthwise_cases())
def test_separable_gradients_match_directional_derivatives(case):
    x, depthwise, pointwise, _, bias = case.arrays()
    rng = np.random.default_rng(case.seed)
    y, cache = separable_conv2d_forward(x, depthwise, pointwise, bias, **case.kwargs)
    weights = rng.standard_normal(y.shape)
    grads = separable_conv2d_backward(weights, cache)
    args = [x, depthwise, pointwise, bias]
    for index in range(3):
        def loss(v, index=index):
            return np.sum(separable_conv2d(*args[:index], v, *args[index + 1:], **case.kwargs) * weights)
        check_directional_grad(loss, args[index], grads[index], rng)


# 4. PyTorch (float64: the output and every gradient) and Keras ------------------------------------------------------

def _nchw(array, data_format):
    return to_format(to_nhwc(array, data_format), "channels_first")


def _torch_leaf(torch, array):
    return torch.tensor(np.ascontiguousarray(array), requires_grad=True)


def torch_depthwise(torch, case, xt, depthwise, bias):
    """torch's grouped conv2d (groups = channels) of an NCHW leaf; returns the output and the kernel leaf."""
    F = torch.nn.functional
    c, m = case.channels, case.depth_multiplier
    dt = _torch_leaf(torch, depthwise.reshape(*case.kernel_hw, 1, c * m).transpose(3, 2, 0, 1))  # (C*M, 1, kh, kw)
    (top, bottom), (left, right) = case.pads
    z = F.conv2d(F.pad(xt, (left, right, top, bottom)), dt, bias, stride=case.strides, dilation=case.dilation_rate,
                 groups=c)
    return z, dt


def from_torch_depthwise(grad, shape):
    return grad.transpose(2, 3, 1, 0).reshape(shape)


@given(depthwise_cases())
def test_depthwise_matches_torch_grouped_conv(case):
    torch = import_torch()
    x, depthwise, _, bias, _ = case.arrays()
    xt = _torch_leaf(torch, _nchw(x, case.data_format))
    bt = None if bias is None else _torch_leaf(torch, bias)
    z_torch, dt = torch_depthwise(torch, case, xt, depthwise, bt)
    z, cache = depthwise_conv2d_forward(x, depthwise, bias, **case.kwargs)
    assert_close(_nchw(z, case.data_format), z_torch.detach().numpy(), rtol=1e-10)
    dz = np.random.default_rng(case.seed + 1).standard_normal(tuple(z_torch.shape))
    z_torch.backward(torch.from_numpy(dz))
    dx, dkernel, dbias = depthwise_conv2d_backward(to_format(to_nhwc(dz, "channels_first"), case.data_format), cache)
    assert_close(_nchw(dx, case.data_format), xt.grad.numpy(), rtol=1e-10)
    assert_close(dkernel, from_torch_depthwise(dt.grad.numpy(), depthwise.shape), rtol=1e-10)
    if bias is None:
        assert dbias is None
    else:
        assert_close(dbias, bt.grad.numpy(), rtol=1e-10)


@given(depthwise_cases())
def test_separable_matches_torch_two_convolutions(case):
    torch = import_torch()
    x, depthwise, pointwise, _, bias = case.arrays()
    xt = _torch_leaf(torch, _nchw(x, case.data_format))
    pt = _torch_leaf(torch, pointwise.transpose(3, 2, 0, 1))
    bt = None if bias is None else _torch_leaf(torch, bias)
    z_torch, dt = torch_depthwise(torch, case, xt, depthwise, None)
    y_torch = torch.nn.functional.conv2d(z_torch, pt, bt)
    y, cache = separable_conv2d_forward(x, depthwise, pointwise, bias, **case.kwargs)
    assert_close(_nchw(y, case.data_format), y_torch.detach().numpy(), rtol=1e-10)
    dy = np.random.default_rng(case.seed + 1).standard_normal(tuple(y_torch.shape))
    y_torch.backward(torch.from_numpy(dy))
    dx, ddepthwise, dpointwise, dbias = separable_conv2d_backward(to_format(to_nhwc(dy, "channels_first"),
                                                                            case.data_format), cache)
    assert_close(_nchw(dx, case.data_format), xt.grad.numpy(), rtol=1e-10)
    assert_close(ddepthwise, from_torch_depthwise(dt.grad.numpy(), depthwise.shape), rtol=1e-10)
    assert_close(dpointwise, pt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10)
    if bias is None:
        assert dbias is None
    else:
        assert_close(dbias, bt.grad.numpy(), rtol=1e-10)


@given(depthwise_cases(padding_kinds=("valid", "same")))
def test_keras_depthwise_and_separable_ops_forward_and_gradients(case):
    keras, torch = import_keras(), import_torch()
    x, depthwise, pointwise, _, _ = case.arrays()
    c, m = case.channels, case.depth_multiplier
    xt = _torch_leaf(torch, x)
    # leaves in torch's layouts, Keras given views it permutes straight back (torch's CPU backward wants
    # contiguous weights)
    dt = _torch_leaf(torch, depthwise.reshape(*case.kernel_hw, 1, c * m).transpose(3, 2, 0, 1))
    pt = _torch_leaf(torch, pointwise.transpose(3, 2, 0, 1))
    keras_depthwise = dt.permute(2, 3, 1, 0).reshape(depthwise.shape)
    kwargs = dict(strides=case.strides, padding=case.padding, dilation_rate=case.dilation_rate,
                  data_format=case.data_format)
    z_keras = keras.ops.depthwise_conv(xt, keras_depthwise, **kwargs)
    y_keras = keras.ops.separable_conv(xt, keras_depthwise, pt.permute(2, 3, 1, 0), **kwargs)
    assert_close(depthwise_conv2d(x, depthwise, **case.kwargs), z_keras.detach().numpy(), rtol=1e-10)
    y, cache = separable_conv2d_forward(x, depthwise, pointwise, **case.kwargs)
    assert_close(y, y_keras.detach().numpy(), rtol=1e-10)
    dy = np.random.default_rng(case.seed + 2).standard_normal(y.shape)
    y_keras.backward(torch.from_numpy(dy))
    dx, ddepthwise, dpointwise, _ = separable_conv2d_backward(dy, cache)
    assert_close(dx, xt.grad.numpy(), rtol=1e-10)
    assert_close(ddepthwise, from_torch_depthwise(dt.grad.numpy(), depthwise.shape), rtol=1e-10)
    assert_close(dpointwise, pt.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10)


# 5. Bad arguments ---------------------------------------------------------------------------------------------------

X = np.ones((1, 4, 4, 3))


@pytest.mark.parametrize(("kwargs", "pattern"), [
    (dict(x=np.ones((4, 4, 3))), r"`x` argument must be a 4D array.*Received: x with shape \(4, 4, 3\)"),
    (dict(kernel=np.ones((2, 2, 3))), r"`kernel` argument must be a 4D array \(kernel_h, kernel_w, in_channels, "
                                      r"depth_multiplier\). Received"),
    (dict(kernel=np.ones((2, 2, 2, 1))), r"`kernel` argument's third axis must equal the input channels \(3.*"
                                         r"Received: kernel with shape \(2, 2, 2, 1\)"),
    (dict(kernel=np.ones((2, 2, 3, 0))), r"`kernel` argument must have a non-zero size.*Received"),
    (dict(x=np.ones((1, 4, 4, 0)), kernel=np.ones((2, 2, 0, 1))), r"`x` argument must have at least one input channel"),
    (dict(bias=np.ones(3)), r"`bias` argument must have shape \(in_channels \* depth_multiplier,\) = \(6,\). "
                            r"Received: bias with shape \(3,\)"),
    (dict(strides=(1, 0)), r"`strides` argument.*Received: strides=\(1, 0\)"),
    (dict(padding="full"), r"`padding` argument.*Received: padding='full'"),
    (dict(data_format="NHWC"), r"`data_format` argument.*Received: data_format='NHWC'"),
    (dict(kernel=np.ones((5, 5, 3, 2))), r"kernel.*is larger than the padded input.*Received"),
])
def test_depthwise_bad_arguments_are_refused(kwargs, pattern):
    args = dict(x=X, kernel=np.ones((2, 2, 3, 2)), bias=None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        depthwise_conv2d(**args)


@pytest.mark.parametrize(("pointwise", "bias", "pattern"), [
    (np.ones((1, 1, 3, 4)), None, r"`pointwise_kernel` argument must have shape \(1, 1, in_channels \* "
                                  r"depth_multiplier, filters\) = \(1, 1, 6, filters\).*Received: pointwise_kernel "
                                  r"with shape \(1, 1, 3, 4\)"),
    (np.ones((2, 2, 6, 4)), None, r"`pointwise_kernel` argument.*Received: pointwise_kernel with shape \(2, 2, 6, 4\)"),
    (np.ones((1, 1, 6, 0)), None, r"`pointwise_kernel` argument.*filters >= 1"),
    (np.ones((1, 1, 6, 4)), np.ones(6), r"`bias` argument must have shape \(filters,\) = \(4,\). Received"),
])
def test_separable_bad_arguments_are_refused(pointwise, bias, pattern):
    with pytest.raises(ValueError, match=pattern):
        separable_conv2d(X, np.ones((2, 2, 3, 2)), pointwise, bias)


def test_separable_backward_checks_dy():
    _, cache = separable_conv2d_forward(X, np.ones((2, 2, 3, 2)), np.ones((1, 1, 6, 4)), data_format="channels_last")
    with pytest.raises(ValueError, match=r"`dy` argument must have the output's shape \(1, 3, 3, 4\). Received"):
        separable_conv2d_backward(np.ones((1, 3, 3, 5)), cache)
