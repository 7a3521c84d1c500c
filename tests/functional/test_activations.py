"""relu, leaky_relu, sigmoid, tanh, softmax: known values, scalar loops, numerical gradients, PyTorch."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from helpers import assert_close, import_torch, numerical_grad
from numcnn.functional import (
    get_activation,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_forward,
    relu,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)

from .strategies import seeds

# name -> (forward, backward, the scalar formula)
ELEMENTWISE = {
    "relu": (relu_forward, relu_backward, lambda v: max(v, 0.0)),
    "leaky_relu": (leaky_relu_forward, leaky_relu_backward, lambda v: v if v > 0 else 0.2 * v),
    "sigmoid": (sigmoid_forward, sigmoid_backward, lambda v: 1 / (1 + math.exp(-v))),
    "tanh": (tanh_forward, tanh_backward, math.tanh),
}
SHAPES = st.sampled_from([(7,), (2, 5), (2, 3, 4), (1, 2, 3, 2)])


def away_from_zero(rng, shape, scale=3.0):
    """Random values with |x| >= 0.1: relu's kink stays out of a finite-difference step."""
    x = rng.uniform(0.1, scale, shape)
    return x * rng.choice([-1.0, 1.0], shape)


# 1. Known values --------------------------------------------------------------------------------

X = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])


def test_relu_known_values():
    y, cache = relu_forward(X)
    assert_array_equal(y, [0, 0, 0, 0.5, 2])
    assert_array_equal(relu_backward(np.full(5, 3.0), cache), [0, 0, 0, 3, 3])  # 0 at x == 0


def test_relu_keeps_nan():
    # NaN must stay visible (PyTorch and TensorFlow return NaN), not turn into 0
    assert np.isnan(relu(np.array([np.nan, -1.0])))[0]
    assert relu(np.array([np.nan, -1.0]))[1] == 0


@pytest.mark.parametrize(("slope", "expected"), [(0.2, [-0.4, -0.1, 0, 0.5, 2]), (0.01, [-0.02, -0.005, 0, 0.5, 2]),
                                                 (0, [0, 0, 0, 0.5, 2])])
def test_leaky_relu_known_values(slope, expected):
    y, cache = leaky_relu_forward(X, slope)
    assert_allclose(y, expected, rtol=1e-15)
    assert_allclose(leaky_relu_backward(np.ones(5), cache), [slope, slope, slope, 1, 1], rtol=1e-15)


def test_leaky_relu_default_slope_is_keras_0_2():
    assert_allclose(leaky_relu(np.array([-1.0])), [-0.2])


def test_sigmoid_known_values():
    y, cache = sigmoid_forward(np.array([0.0, math.log(3), -math.log(3)]))
    assert_allclose(y, [0.5, 0.75, 0.25], rtol=1e-15)
    assert_allclose(sigmoid_backward(np.ones(3), cache), [0.25, 0.1875, 0.1875], rtol=1e-15)


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        y = sigmoid(np.array([-1000.0, 1000.0, -50.0], dtype=np.float32))
    assert_array_equal(y[:2], [0, 1])
    assert y[2] > 0


def test_tanh_known_values():
    # tanh(log 2) = (4 - 1) / (4 + 1)
    y, cache = tanh_forward(np.array([0.0, math.log(2), -math.log(2)]))
    assert_allclose(y, [0, 0.6, -0.6], rtol=1e-15, atol=1e-15)
    assert_allclose(tanh_backward(np.ones(3), cache), [1, 0.64, 0.64], rtol=1e-14)


def test_softmax_known_values():
    y, cache = softmax_forward(np.log([[1.0, 2.0, 5.0], [1.0, 1.0, 2.0]]))
    assert_allclose(y, [[0.125, 0.25, 0.625], [0.25, 0.25, 0.5]], rtol=1e-15)
    # dy on one class: dx = y * (onehot - y[class])
    assert_allclose(softmax_backward(np.array([[0.0, 0.0, 1.0], [1.0, 0, 0]]), cache),
                    [[-0.078125, -0.15625, 0.234375], [0.1875, -0.0625, -0.125]], rtol=1e-14)


def test_softmax_is_shift_invariant_and_stable():
    assert_allclose(softmax(np.array([[1000.0, 1000.0]])), [[0.5, 0.5]])
    assert_allclose(softmax(np.array([[-1000.0, 0.0]]))[0, 1], 1.0)
    x = np.array([[0.3, -1.2, 2.0]])
    assert_allclose(softmax(x + 100), softmax(x), rtol=1e-12)


def test_softmax_axis():
    x = np.log(np.array([[1.0, 1.0], [3.0, 1.0]]))
    assert_allclose(softmax(x, axis=0), [[0.25, 0.5], [0.75, 0.5]], rtol=1e-15)
    assert_allclose(softmax(x, axis=-2), softmax(x, axis=0))


@pytest.mark.parametrize(("name", "pair"), [
    (None, "linear"), ("relu", "relu"), ("ReLU", "relu"), ("softmax", "softmax"), ("leaky_relu", "leaky_relu"),
])
def test_get_activation(name, pair):
    forward, backward = get_activation(name)
    x = np.array([[-1.0, 2.0]])
    expected = {"linear": x, "relu": [[0, 2]], "softmax": softmax(x), "leaky_relu": [[-0.2, 2]]}[pair]
    y, cache = forward(x)
    assert_allclose(y, expected)
    assert backward(np.ones_like(x), cache).shape == x.shape


# 2. Reference: scalar formulas, one element at a time ------------------------------------------

@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=SHAPES, seed=seeds())
def test_elementwise_match_scalar_formula(name, shape, seed):
    forward, _, formula = ELEMENTWISE[name]
    x = np.random.default_rng(seed).uniform(-20, 20, shape)
    expected = np.array([formula(float(v)) for v in x.reshape(-1)]).reshape(shape)
    assert_allclose(forward(x)[0], expected, rtol=1e-14, atol=1e-300)


@given(shape=SHAPES, seed=seeds(), data=st.data())
def test_softmax_matches_loop(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).uniform(-10, 10, shape)
    moved = np.moveaxis(x, axis, -1)
    expected = np.empty_like(moved)
    for index in np.ndindex(moved.shape[:-1]):
        exps = [math.exp(v) for v in moved[index]]
        expected[index] = [e / sum(exps) for e in exps]
    assert_allclose(softmax(x, axis), np.moveaxis(expected, -1, axis), rtol=1e-13)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_gradient_matches_numerical(name, rng):
    forward, backward, _ = ELEMENTWISE[name]
    x = away_from_zero(rng, (3, 4))
    weights = rng.standard_normal(x.shape)
    _, cache = forward(x)
    assert_close(backward(weights, cache), numerical_grad(lambda v: np.sum(forward(v)[0] * weights), x),
                 rtol=1e-7)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_gradient_matches_numerical(axis, rng):
    x = rng.standard_normal((3, 4, 2))
    weights = rng.standard_normal(x.shape)
    _, cache = softmax_forward(x, axis)
    assert_close(softmax_backward(weights, cache),
                 numerical_grad(lambda v: np.sum(softmax(v, axis) * weights), x), rtol=1e-7)


def test_leaky_relu_gradient_with_other_slope(rng):
    x = away_from_zero(rng, (10,))
    weights = rng.standard_normal(x.shape)
    _, cache = leaky_relu_forward(x, 0.05)
    assert_close(leaky_relu_backward(weights, cache),
                 numerical_grad(lambda v: np.sum(leaky_relu(v, 0.05) * weights), x), rtol=1e-7)


# 4. PyTorch parity (float32) --------------------------------------------------------------------

def torch_elementwise(torch, name):
    F = torch.nn.functional
    return {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "sigmoid": torch.sigmoid,
            "tanh": torch.tanh}[name]


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@given(shape=SHAPES, seed=seeds())
def test_elementwise_match_torch(name, shape, seed):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    forward, backward, _ = ELEMENTWISE[name]
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_elementwise(torch, name)(xt)
    yt.backward(torch.from_numpy(dy))
    y, cache = forward(x)
    assert y.dtype == np.float32
    assert_close(y, yt.detach().numpy(), rtol=1e-5)
    dx = backward(dy, cache)
    assert dx.dtype == np.float32
    # 1 - y**2 (tanh) and y * (1 - y) (sigmoid) lose digits where y is near 0 or 1: one float32
    # ulp of y moves them by ~1e-7 absolute, whatever their size, so atol scales with dy
    assert_close(dx, xt.grad.numpy(), rtol=1e-5, scale=np.abs(dy).max())


@given(shape=SHAPES, seed=seeds(), data=st.data())
def test_softmax_matches_torch(shape, seed, data):
    torch = import_torch()
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.softmax(xt, dim=axis)
    yt.backward(torch.from_numpy(dy))
    y, cache = softmax_forward(x, axis)
    assert y.dtype == np.float32
    assert_close(y, yt.detach().numpy(), rtol=1e-5)
    # dy - sum(dy * y) cancels where y is near 1: the error is relative to dy, not to the result
    assert_close(softmax_backward(dy, cache), xt.grad.numpy(), rtol=1e-5, scale=np.abs(dy).max())


def test_relu_backward_blocks_even_infinite_gradients_exactly():
    # the fast path multiplies dy by the mask (inf * 0 = nan); a blocked gradient must still be 0
    from numcnn.functional import relu_backward, relu_forward

    _, cache = relu_forward(np.array([-1.0, 2.0, 0.0, 3.0], np.float32))
    dx = relu_backward(np.array([np.inf, 5.0, -np.inf, np.nan], np.float32), cache)
    assert dx.dtype == np.float32
    np.testing.assert_array_equal(dx[:3], [0.0, 5.0, 0.0])
    assert np.isnan(dx[3])  # a NaN that passes stays NaN


# relu with Keras' options (negative_slope, max_value, threshold) ---------------------------------

RELU_OPTIONS = [  # (negative_slope, max_value, threshold)
    (0.0, 6.0, 0.0), (0.0, 2.5, 0.0), (0.2, None, 0.0), (0.0, None, 1.5), (0.3, 4.0, 1.0), (0.5, None, 2.0),
    (0.1, 3.0, 0.0), (0.0, 2.0, 1.0), (0.25, 1.0, 2.0), (0.0, 0.0, 0.0), (1.0, 5.0, 0.5),
]


def relu_scalar(v, negative_slope, max_value, threshold):
    """Keras' piecewise definition, for one number."""
    if v > threshold:
        return v if max_value is None else min(v, max_value)
    return negative_slope * (v - threshold)


def relu_scalar_grad(v, negative_slope, max_value, threshold):
    """1 strictly between threshold and max_value, 0 from max_value on, negative_slope at and below threshold."""
    if v <= threshold:
        return negative_slope
    return 1.0 if max_value is None or v < max_value else 0.0


def with_kinks(x, max_value, threshold):
    """``x`` with 0, the threshold and the max_value in it exactly: where the gradient rules matter."""
    kinks = [0.0, threshold] + ([] if max_value is None else [max_value])
    return np.concatenate([x.reshape(-1), kinks])


def test_relu_options_keras_docstring_values():
    x = np.array([-10, -5, 0.0, 5, 10])
    assert_array_equal(relu(x), [0, 0, 0, 5, 10])
    assert_array_equal(relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    assert_array_equal(relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    assert_array_equal(relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    assert_array_equal(relu(x, 0.5, 10, 0), [-5, -2.5, 0, 5, 10])  # the ReLU layer's docstring


def test_relu6_gradient_is_zero_at_exactly_0_and_6():
    y, cache = relu_forward(np.array([-1.0, 0.0, 3.0, 6.0, 7.0]), max_value=6)
    assert_array_equal(y, [0, 0, 3, 6, 6])
    assert_array_equal(relu_backward(np.full(5, 2.0), cache), [0, 0, 2, 0, 0])


def test_relu_threshold_gradient_is_the_slope_at_the_threshold():
    y, cache = relu_forward(np.array([0.0, 1.0, 2.0, 3.0]), negative_slope=0.5, threshold=2.0)
    assert_array_equal(y, [-1, -0.5, 0, 3])  # 0 at exactly the threshold, as Keras
    assert_array_equal(relu_backward(np.ones(4), cache), [0.5, 0.5, 0.5, 1])


def test_relu_defaults_keep_the_plain_path():
    x = np.array([-1.0, 0.0, 2.0])
    for y, cache in (relu_forward(x), relu_forward(x, 0.0, None, 0.0), relu_forward(x, check=False)):
        assert type(cache) is np.ndarray and cache.dtype == bool  # the mask x > 0, as before the options
        assert_array_equal(y, [0, 0, 2])
        assert_array_equal(relu_backward(np.ones(3), cache), [0, 0, 1])
    assert get_activation("relu")[0] is relu_forward


@pytest.mark.parametrize("options", RELU_OPTIONS)
@given(shape=SHAPES, seed=seeds())
def test_relu_options_match_scalar_formula(options, shape, seed):
    rng = np.random.default_rng(seed)
    x = with_kinks(rng.uniform(-8, 8, shape), options[1], options[2])
    y, cache = relu_forward(x, *options)
    assert_array_equal(y, [relu_scalar(float(v), *options) for v in x])
    g = rng.standard_normal(x.shape)
    assert_array_equal(relu_backward(g, cache), g * [relu_scalar_grad(float(v), *options) for v in x])


@pytest.mark.parametrize("options", RELU_OPTIONS)
def test_relu_options_gradient_matches_numerical(options, rng):
    x = rng.uniform(-8, 8, 40)
    kinks = np.array([0.0, options[2]] + ([] if options[1] is None else [options[1]]))
    x = x[np.abs(x[:, None] - kinks).min(axis=1) > 0.01]  # away from the kinks
    weights = rng.standard_normal(x.shape)
    _, cache = relu_forward(x, *options)
    assert_close(relu_backward(weights, cache), numerical_grad(lambda v: np.sum(relu(v, *options) * weights), x),
                 rtol=1e-7)


def torch_relu(torch, xt, negative_slope, max_value, threshold):
    """The dedicated PyTorch op where there is one, else torch ops composed with the same kinks."""
    F = torch.nn.functional
    if threshold == 0 and negative_slope == 0:
        if max_value is None:
            return F.relu(xt)
        return F.relu6(xt) if max_value == 6 else F.hardtanh(xt, 0.0, max_value)
    if max_value is None and threshold == 0:
        return F.leaky_relu(xt, negative_slope)
    if max_value is None and negative_slope == 0:
        return F.threshold(xt, threshold, 0.0)
    upper = xt if max_value is None else F.hardtanh(xt, -math.inf, max_value)  # 0 gradient at max_value
    return torch.where(xt > threshold, upper, (xt - threshold) * negative_slope)


@pytest.mark.parametrize("options", [(0.0, None, 0.0), *RELU_OPTIONS])
@given(shape=SHAPES, seed=seeds())
def test_relu_options_match_torch_in_float64(options, shape, seed):
    torch = import_torch()
    rng = np.random.default_rng(seed)
    x = with_kinks(rng.uniform(-8, 8, shape), options[1], options[2])
    dy = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_relu(torch, xt, *options)
    yt.backward(torch.from_numpy(dy))
    y, cache = relu_forward(x, *options)
    assert_allclose(y, yt.detach().numpy(), rtol=1e-15)
    assert_allclose(relu_backward(dy, cache), xt.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", RELU_OPTIONS)
def test_relu_options_keep_the_dtype(options, dtype):
    y, cache = relu_forward(np.linspace(-5, 8, 14).astype(dtype), *options)
    assert y.dtype == dtype and relu_backward(np.ones(14, dtype), cache).dtype == dtype


def test_relu_options_nan_and_inf():
    x = np.array([np.nan, np.inf, -np.inf])
    y, cache = relu_forward(x, max_value=6)
    assert np.isnan(y[0]) and y[1] == 6 and y[2] == 0
    assert_array_equal(relu_backward(np.array([1.0, np.inf, -np.inf]), cache), [0, 0, 0])  # blocked means 0
    y, cache = relu_forward(x, threshold=1.0)
    assert np.isnan(y[0]) and y[1] == np.inf and y[2] == 0  # 0, not 0 * -inf
    y, cache = relu_forward(x, negative_slope=0.1, threshold=1.0)
    assert np.isnan(y[0]) and y[1] == np.inf and y[2] == -np.inf
    assert_array_equal(relu_backward(np.ones(3), cache), [0, 1, 0.1])


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(max_value=-1), "max_value"), (dict(max_value="6"), "max_value"), (dict(max_value=np.nan), "max_value"),
    (dict(negative_slope=-0.1), "negative_slope"), (dict(negative_slope=None), "negative_slope"),
    (dict(threshold=-1.0), "threshold"), (dict(threshold=np.inf), "threshold"), (dict(threshold=True), "threshold"),
])
def test_relu_options_refused_with_their_name(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Received: {name}="):
        relu_forward(np.ones(3), **kwargs)


def test_relu_options_backward_checks_dy():
    _, cache = relu_forward(np.ones(3), max_value=6)
    with pytest.raises(ValueError, match="`dy`.*Received: dy with shape"):
        relu_backward(np.ones(4), cache)


def test_relu_on_a_large_batch_runs_in_pieces_and_in_place_gives_the_same_numbers():
    """A batch big enough to be cut across threads: every piece gives max(x, 0) and x > 0; in place,
    the output is x itself; blocked infinite and NaN gradients in any piece are exactly 0."""
    from numcnn.functional.activations import relu_backward, relu_forward
    from numcnn.functional.threads import batch_chunks

    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 12, 12, 30)).astype(np.float32)
    x[17, 3, 4, 5] = np.nan
    assert len(batch_chunks(len(x), x.size)) > 1
    y, positive = relu_forward(x.copy(), check=False)
    assert_array_equal(y, np.maximum(x, 0))
    assert_array_equal(positive, x > 0)
    assert np.isnan(y[17, 3, 4, 5])
    z = x.copy()
    y2, positive2 = relu_forward(z, check=False, inplace=True)
    assert y2 is z and y2.dtype == np.float32
    assert_array_equal(y2, y)
    assert_array_equal(positive2, positive)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    blocked = np.argwhere(~positive)
    for k, value in zip((0, len(blocked) // 2, -1), (np.inf, -np.inf, np.nan)):
        dy[tuple(blocked[k])] = value
    dx = relu_backward(dy, positive, check=False)
    assert_array_equal(dx, np.where(positive, dy, 0))
    assert dx.dtype == np.float32
