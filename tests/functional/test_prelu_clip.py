"""prelu and clip: known values, scalar loops, float64 numerical gradients, PyTorch parity (values and
every gradient, NaN and infinity included), dtypes and refused arguments."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from helpers import assert_close, check_directional_grad, import_torch, numerical_grad
from numcnn.functional import (
    check_clip_bounds,
    clip,
    clip_backward,
    clip_forward,
    prelu,
    prelu_backward,
    prelu_forward,
)

from .strategies import seeds

NAN, INF = np.nan, np.inf
NONFINITE_WARNINGS = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def alpha_shape(sample, shared):
    """One sample's shape with the ``shared`` axes (counted from 1, after the batch) of size 1."""
    return tuple(1 if axis + 1 in shared else d for axis, d in enumerate(sample))


def away_from(rng, shape, kinks, scale=3.0, gap=0.05):
    """Uniform values in [-scale, scale] at least ``gap`` away from each kink (a central difference
    across a kink measures neither side)."""
    x = rng.uniform(-scale, scale, shape)
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, x + 2 * gap, x)
    return x


# 1. Known values --------------------------------------------------------------------------------

X = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])


def test_prelu_known_values_with_one_alpha():
    y, cache = prelu_forward(X, 0.25)
    assert_array_equal(y, [[-0.5, -0.125, 0, 0.5, 2]])
    dx, dalpha = prelu_backward(np.ones_like(X), cache)
    assert_array_equal(dx, [[0.25, 0.25, 0.25, 1, 1]])  # alpha at exactly 0, as PyTorch
    assert dalpha.shape == () and dalpha == -2.5  # the sum of the inputs <= 0


def test_prelu_known_values_one_alpha_per_channel_nhwc():
    # (2, 1, 2, 2): channel 0 holds -1, 3, -5, -7 and channel 1 holds -2, -4, 6, 8
    x = np.array([[[[-1.0, -2.0], [3.0, -4.0]]], [[[-5.0, 6.0], [-7.0, 8.0]]]])
    alpha = np.array([0.5, 0.25])
    y, cache = prelu_forward(x, alpha)
    assert_array_equal(y, [[[[-0.5, -0.5], [3, -1]]], [[[-2.5, 6], [-3.5, 8]]]])
    dx, dalpha = prelu_backward(np.full_like(x, 2.0), cache)
    assert_array_equal(dx, [[[[1, 0.5], [2, 0.5]]], [[[1, 2], [1, 2]]]])
    assert_array_equal(dalpha, [2 * (-1 - 5 - 7), 2 * (-2 - 4)])  # summed over the batch and the pixels


def test_prelu_alpha_of_one_sample_shape_is_elementwise():
    x = np.array([[-1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    y, cache = prelu_forward(x, [0.1, 0.2, 0.3])
    assert_allclose(y, [[-0.1, -0.4, 3], [-0.4, 5, -1.8]], rtol=1e-15)
    dx, dalpha = prelu_backward(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), cache)
    assert_allclose(dx, [[0.1, 0.4, 3], [0.4, 5, 1.8]], rtol=1e-15)
    assert_array_equal(dalpha, [-1 - 16, -4, -36])


def test_clip_known_values_and_gradient_is_one_at_the_bounds():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 5.0])
    y, cache = clip_forward(x, -1, 2)
    assert_array_equal(y, [-1, -1, 0, 1, 2, 2])
    assert_array_equal(clip_backward(np.full(6, 2.0), cache), [0, 2, 2, 2, 2, 0])  # torch.clamp: 1 at -1 and 2


@pytest.mark.parametrize(("bounds", "want", "grad"), [
    ((None, 1.0), [-3, -1, 0, 1, 1, 1], [1, 1, 1, 1, 0, 0]),
    ((0.0, None), [0, 0, 0, 1, 2, 5], [0, 0, 1, 1, 1, 1]),
    ((1.0, 1.0), [1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 0, 0]),
    ((None, None), [-3, -1, 0, 1, 2, 5], [1, 1, 1, 1, 1, 1]),
])
def test_clip_one_sided_equal_and_no_bounds(bounds, want, grad):
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 5.0])
    y, cache = clip_forward(x, *bounds)
    assert_array_equal(y, want)
    assert_array_equal(clip_backward(np.ones(6), cache), grad)
    assert_array_equal(clip(x, *bounds), want)


def test_prelu_and_clip_plain_functions_equal_their_forwards():
    assert_array_equal(prelu(X, 0.25), prelu_forward(X, 0.25)[0])
    assert_array_equal(clip(X, -1, 1), [[-1, -0.5, 0, 0.5, 1]])


# 2. Reference: scalar loops ---------------------------------------------------------------------

SAMPLES = st.sampled_from([(5,), (3, 4), (2, 3, 4), (3, 2, 2, 2)])


@given(sample=SAMPLES, seed=seeds(), data=st.data())
def test_prelu_matches_loop(sample, seed, data):
    shared = data.draw(st.sets(st.integers(1, len(sample))))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (2, *sample))
    x.reshape(-1)[0] = 0.0
    alpha = rng.uniform(-1, 1, alpha_shape(sample, shared))
    dy = rng.standard_normal(x.shape)
    want_y, want_dx, want_dalpha = np.empty_like(x), np.empty_like(x), np.zeros_like(alpha)
    for index in np.ndindex(x.shape):
        a_index = tuple(0 if axis + 1 in shared else i for axis, i in enumerate(index[1:]))
        v, a = float(x[index]), float(alpha[a_index])
        want_y[index] = v if v > 0 else a * v
        want_dx[index] = dy[index] if v > 0 else a * dy[index]
        want_dalpha[a_index] += 0.0 if v > 0 else v * dy[index]
    y, cache = prelu_forward(x, alpha)
    dx, dalpha = prelu_backward(dy, cache)
    assert_array_equal(y, want_y)
    assert_array_equal(dx, want_dx)
    assert_close(dalpha, want_dalpha, rtol=1e-13, scale=np.sum(np.abs(x * dy)))  # a sum in another order


@given(sample=SAMPLES, seed=seeds(), data=st.data())
def test_clip_matches_scalar_formula(sample, seed, data):
    low = data.draw(st.one_of(st.none(), st.sampled_from([-2.0, -0.5, 0.0])))
    high = data.draw(st.one_of(st.none(), st.sampled_from([0.0, 0.5, 3.0])))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (2, *sample))
    x.reshape(-1)[:2] = [-0.5 if low is None else low, 0.5 if high is None else high]  # on the bounds
    y, cache = clip_forward(x, low, high)
    lo, hi = -INF if low is None else low, INF if high is None else high
    assert_array_equal(y, np.reshape([min(max(float(v), lo), hi) for v in x.reshape(-1)], x.shape))
    dy = rng.standard_normal(x.shape)
    assert_array_equal(clip_backward(dy, cache), np.where((x >= lo) & (x <= hi), dy, 0))


# 3. Numerical gradients (float64) ---------------------------------------------------------------

@pytest.mark.parametrize(("sample", "shape"), [
    ((4, 3, 2), ()),  # one alpha
    ((4, 3, 2), (2,)),  # per channel, NHWC, right-aligned
    ((4, 3, 2), (1, 1, 2)),  # per channel, NHWC, Keras' shared_axes=[1, 2]
    ((2, 4, 3), (2, 1, 1)),  # per channel, NCHW, Keras' shared_axes=[2, 3]
    ((4, 3, 2), (4, 3, 2)),  # one per position (shared_axes=None)
    ((4, 3, 2), (4, 1, 2)),  # shared along one middle axis
])
def test_prelu_gradients_match_numerical(sample, shape, rng):
    x = away_from(rng, (3, *sample), [0.0])
    alpha = rng.uniform(-0.5, 1.5, shape)
    weights = rng.standard_normal(x.shape)
    _, cache = prelu_forward(x, alpha)
    dx, dalpha = prelu_backward(weights, cache)
    assert dalpha.shape == alpha.shape
    assert_close(dx, numerical_grad(lambda v: np.sum(prelu(v, alpha) * weights), x), rtol=1e-7)
    assert_close(dalpha, numerical_grad(lambda a: np.sum(prelu(x, a) * weights), alpha), rtol=1e-7)
    check_directional_grad(lambda v: np.sum(prelu(v, alpha) * weights), x, dx, rng)


@pytest.mark.parametrize("bounds", [(-1.0, 2.0), (None, 0.5), (-0.5, None), (0.3, 0.3), (None, None)])
def test_clip_gradient_matches_numerical(bounds, rng):
    x = away_from(rng, (3, 4, 5), [b for b in bounds if b is not None])
    weights = rng.standard_normal(x.shape)
    _, cache = clip_forward(x, *bounds)
    dx = clip_backward(weights, cache)
    assert_close(dx, numerical_grad(lambda v: np.sum(clip(v, *bounds) * weights), x), rtol=1e-7)


# 4. PyTorch parity (float64) --------------------------------------------------------------------

@given(seed=seeds(), channels=st.integers(1, 4), hw=st.tuples(st.integers(1, 4), st.integers(1, 4)))
def test_prelu_per_channel_matches_torch_on_nchw(seed, channels, hw):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (2, channels, *hw))
    x.reshape(-1)[0] = 0.0  # the kink: dx = alpha there, as torch
    weight = rng.uniform(-1, 1, channels)
    dy = rng.standard_normal(x.shape)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    yt = torch.nn.functional.prelu(xt, wt)
    yt.backward(torch.from_numpy(dy))
    y, cache = prelu_forward(x, weight.reshape(channels, 1, 1))
    dx, dalpha = prelu_backward(dy, cache)
    assert_array_equal(y, yt.detach().numpy())
    assert_array_equal(dx, xt.grad.numpy())
    assert_close(dalpha.reshape(-1), wt.grad.numpy(), rtol=1e-13, scale=np.sum(np.abs(x * dy)))


def test_prelu_single_weight_matches_torch(rng):
    torch = import_torch()
    x = rng.uniform(-3, 3, (3, 2, 5))
    dy = rng.standard_normal(x.shape)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.prelu(xt, wt)
    yt.backward(torch.from_numpy(dy))
    y, cache = prelu_forward(x, 0.3)
    dx, dalpha = prelu_backward(dy, cache)
    assert_array_equal(y, yt.detach().numpy())
    assert_array_equal(dx, xt.grad.numpy())
    assert_close(dalpha.reshape(1), wt.grad.numpy(), rtol=1e-13, scale=np.sum(np.abs(x * dy)))


@NONFINITE_WARNINGS
@pytest.mark.parametrize("weight", [0.0, 0.25, -1.5])
def test_prelu_nan_and_inf_match_torch(weight):
    # torch: NaN stays NaN with gradient alpha (NaN > 0 is False); alpha * -inf is NaN when alpha == 0
    torch = import_torch()
    x = np.array([[-INF, INF, NAN, -1.0, 0.0, 2.0]])
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor([weight], dtype=torch.float64, requires_grad=True)
    yt = torch.nn.functional.prelu(xt, wt)
    yt.backward(torch.ones_like(yt))
    y, cache = prelu_forward(x, weight)
    dx, dalpha = prelu_backward(np.ones_like(x), cache)
    assert_array_equal(y, yt.detach().numpy())  # assert_array_equal treats NaN == NaN
    assert np.isnan(y[0, 2]) and (np.isnan(y[0, 0]) if weight == 0 else y[0, 0] == -weight * INF)
    assert_array_equal(dx, xt.grad.numpy())
    assert_array_equal(dx, [[weight, 1, weight, weight, weight, 1]])
    assert np.isnan(dalpha) and np.isnan(wt.grad.numpy()[0])  # -inf + NaN in the sum


CLAMP_BOUNDS = [(-1.0, 2.0), (None, 2.0), (-1.0, None), (2.0, 2.0), (0.0, 0.0), (-0.5, 0.25)]


@pytest.mark.parametrize("bounds", CLAMP_BOUNDS)
@given(seed=seeds(), shape=st.sampled_from([(7,), (2, 5), (2, 3, 4)]))
def test_clip_matches_torch_clamp_in_float64(bounds, seed, shape):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, shape).reshape(-1)
    x = np.concatenate([x, [b for b in bounds if b is not None]])  # exactly at the bounds: gradient 1 in both
    dy = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.clamp(xt, *bounds)
    yt.backward(torch.from_numpy(dy))
    y, cache = clip_forward(x, *bounds)
    assert_array_equal(y, yt.detach().numpy())
    assert_array_equal(clip_backward(dy, cache), xt.grad.numpy())


@pytest.mark.parametrize("bounds", CLAMP_BOUNDS)
def test_clip_nan_and_inf_match_torch_clamp(bounds):
    # torch.clamp: NaN stays NaN with gradient 0 (its mask x >= min & x <= max is False);
    # infinities are clipped where there is a bound and kept where there is none
    torch = import_torch()
    x = np.array([NAN, INF, -INF, -1.0, 2.0, 0.7])
    dy = np.array([3.0, 5.0, 7.0, INF, -INF, NAN])  # a blocked infinite dy gives 0, not NaN
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.clamp(xt, *bounds)
    yt.backward(torch.from_numpy(dy))
    y, cache = clip_forward(x, *bounds)
    dx = clip_backward(dy, cache)
    assert_array_equal(y, yt.detach().numpy())
    assert_array_equal(dx, xt.grad.numpy())
    assert np.isnan(y[0]) and dx[0] == 0
    low, high = bounds
    assert y[1] == (INF if high is None else high) and y[2] == (-INF if low is None else low)


def test_clip_without_bounds_is_the_identity_even_for_nan():
    # torch.clamp refuses two None bounds; the identity's gradient passes everywhere, NaN inputs included
    x = np.array([NAN, INF, -INF, 1.0])
    y, cache = clip_forward(x)
    assert_array_equal(y, x)
    assert_array_equal(clip_backward(np.full(4, 2.0), cache), [2, 2, 2, 2])


# dtypes and arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype):
    x = np.linspace(-2, 2, 12).reshape(2, 3, 2).astype(dtype)
    y, cache = prelu_forward(x, np.array([0.1, 0.2]))  # a float64 alpha does not upcast float32 inputs
    dx, dalpha = prelu_backward(np.ones_like(x), cache)
    assert y.dtype == dx.dtype == dalpha.dtype == dtype
    y, cache = clip_forward(x, -1, 1)
    assert y.dtype == dtype and clip_backward(np.ones_like(x), cache).dtype == dtype
    assert prelu(np.array([[-2, 3]]), 0.5).dtype == np.float32  # integers become float32, as the other ops


def test_prelu_refuses_an_alpha_that_does_not_broadcast_to_one_sample():
    for alpha in (np.ones(3), np.ones((2, 1, 1)), np.ones((1, 4, 3, 2))):  # the last would broadcast the batch
        with pytest.raises(ValueError, match=re.escape("The `alpha` argument must broadcast to one sample of x, shape "
                                                       f"(4, 3, 2). Received: alpha with shape {alpha.shape}")):
            prelu_forward(np.ones((5, 4, 3, 2)), alpha)


@pytest.mark.parametrize(("bounds", "message"), [
    ((2.0, 1.0), r"`min_value` argument must be <= max_value\. Received: min_value=2\.0, max_value=1\.0"),
    ((NAN, None), r"`min_value`.*Received: min_value=nan"),
    ((None, INF), r"`max_value`.*Received: max_value=inf"),
    (("0", None), r"`min_value`.*Received: min_value='0'"),
    ((None, [1.0]), r"`max_value`.*Received: max_value=\[1\.0\]"),
    ((True, None), r"`min_value`.*Received: min_value=True"),
])
def test_clip_refuses_bad_bounds_with_their_name(bounds, message):
    with pytest.raises(ValueError, match=message):
        clip_forward(np.ones(3), *bounds)
    with pytest.raises(ValueError, match=message):
        check_clip_bounds(*bounds)


def test_backwards_check_dy():
    _, cache = prelu_forward(np.ones((2, 3)), 0.5)
    with pytest.raises(ValueError, match=r"`dy`.*Received: dy with shape \(3, 2\)"):
        prelu_backward(np.ones((3, 2)), cache)
    _, cache = clip_forward(np.ones((2, 3)), 0, 1)
    with pytest.raises(ValueError, match=r"`dy`.*Received: dy with shape \(6,\)"):
        clip_backward(np.ones(6), cache)
