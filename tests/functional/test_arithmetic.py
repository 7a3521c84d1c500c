"""multiply and subtract: known values, slow loops, numerical gradients (zeros included) and PyTorch autograd."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from helpers import assert_close, import_torch, numerical_grad
from numcnn.functional.arithmetic import (
    multiply,
    multiply_backward,
    multiply_forward,
    subtract,
    subtract_backward,
    subtract_forward,
)

# 1. Known values --------------------------------------------------------------------------------


def test_multiply_known_values():
    a, b, c = np.array([[1.0, 2, 3]]), np.array([[4.0, 5, 6]]), np.array([[2.0, 0, -1]])
    assert_array_equal(multiply([a, b]), [[4, 10, 18]])
    assert_array_equal(multiply([a, b, c]), [[8, 0, -18]])


def test_multiply_backward_known_values():
    a, b, c = np.array([[1.0, 2, 3]]), np.array([[4.0, 5, 6]]), np.array([[2.0, 0, -1]])
    _, cache = multiply_forward([a, b, c])
    da, db, dc = multiply_backward(np.ones((1, 3)), cache)
    assert_array_equal(da, [[8, 0, -6]])  # b * c
    assert_array_equal(db, [[2, 0, -3]])  # a * c
    assert_array_equal(dc, [[4, 10, 18]])  # a * b: the gradient at c's zero is not 0 / 0


def test_multiply_gradients_with_zeros_in_several_inputs():
    # column 0 holds two zeros (a and b): every gradient there is 0; columns 1 and 2 hold one zero
    # (a, then c): only that input's gradient survives, the product of the others
    a = np.array([[0.0, 0.0, 2.0]])
    b = np.array([[0.0, 3.0, 5.0]])
    c = np.array([[7.0, 4.0, 0.0]])
    _, cache = multiply_forward([a, b, c])
    da, db, dc = multiply_backward(np.full((1, 3), 2.0), cache)
    assert_array_equal(da, [[0, 24, 0]])
    assert_array_equal(db, [[0, 0, 0]])
    assert_array_equal(dc, [[0, 0, 20]])
    assert np.isfinite(da).all() and np.isfinite(db).all() and np.isfinite(dc).all()


def test_subtract_known_values():
    y, cache = subtract_forward([np.array([[5.0, 2.0]]), np.array([[3.0, 4.0]])])
    assert_array_equal(y, [[2, -2]])
    da, db = subtract_backward(np.array([[1.0, -3.0]]), cache)
    assert_array_equal(da, [[1, -3]])
    assert_array_equal(db, [[-1, 3]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(dtype, rng):
    xs = [rng.standard_normal((2, 3)).astype(dtype) for _ in range(3)]
    y, cache = multiply_forward(xs)
    assert y.dtype == dtype and all(g.dtype == dtype for g in multiply_backward(np.ones_like(y), cache))
    y, cache = subtract_forward(xs[:2])
    assert y.dtype == dtype and all(g.dtype == dtype for g in subtract_backward(np.ones_like(y), cache))


def test_mixed_and_integer_inputs():
    assert multiply([np.ones((1, 2), np.float32), np.ones((1, 2))]).dtype == np.float64  # the widest float
    assert subtract([np.array([[3, 4]]), np.array([[1, 1]])]).dtype == np.float32
    assert_array_equal(subtract([np.array([[3, 4]]), np.array([[1, 1]])]), [[2, 3]])


def test_inputs_are_not_modified(rng):
    xs = [rng.standard_normal((2, 3)) for _ in range(4)]
    copies = [x.copy() for x in xs]
    y, cache = multiply_forward(xs)
    multiply_backward(np.ones_like(y), cache)
    for x, original in zip(xs, copies):
        assert_array_equal(x, original)


def test_nan_and_inf_flow_through():
    with np.errstate(invalid="ignore"):
        y = multiply([np.array([[np.inf, np.nan, 2.0]]), np.array([[0.0, 1.0, np.inf]])])
        difference = subtract([np.array([[np.inf]]), np.array([[np.inf]])])
    assert np.isnan(y[0, 0]) and np.isnan(y[0, 1]) and y[0, 2] == np.inf
    assert np.isnan(difference[0, 0])


# 2. Reference loops -----------------------------------------------------------------------------

def multiply_backward_reference(dy, xs):
    """Every element: dy times the product of the other inputs, one by one."""
    grads = [np.zeros_like(x) for x in xs]
    for index in np.ndindex(dy.shape):
        for i in range(len(xs)):
            others = 1.0
            for j, x in enumerate(xs):
                if j != i:
                    others *= x[index]
            grads[i][index] = dy[index] * others
    return grads


@st.composite
def merge_cases(draw, max_inputs=4):
    k = draw(st.integers(2, max_inputs))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(shape) for _ in range(k)]
    zeros = draw(st.floats(0, 0.5))  # some entries exactly 0: the gradient must not divide by them
    for x in xs:
        x[rng.random(shape) < zeros] = 0.0
    return xs, rng.standard_normal(shape)


@given(merge_cases())
def test_multiply_matches_reference_loop(case):
    xs, dy = case
    y, cache = multiply_forward(xs)
    expected = xs[0].copy()
    for x in xs[1:]:
        expected = expected * x
    assert_array_equal(y, expected)  # folded from the left, as Keras
    for grad, reference in zip(multiply_backward(dy, cache), multiply_backward_reference(dy, xs)):
        assert_close(grad, reference, rtol=1e-14)


# 3. Numerical gradients (float64) ---------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 3, 5])
def test_multiply_gradients_match_numerical(k, rng):
    xs = [rng.standard_normal((2, 3, 2)) for _ in range(k)]
    xs[0][0, 0, 0] = 0.0  # exact zeros in two inputs
    xs[-1][1, 2, 1] = 0.0
    y, cache = multiply_forward(xs)
    g = rng.standard_normal(y.shape)
    grads = multiply_backward(g, cache)
    for i in range(k):
        def loss(v, i=i):
            return np.sum(multiply([*xs[:i], v, *xs[i + 1:]]) * g)
        assert_close(grads[i], numerical_grad(loss, xs[i]), rtol=1e-7, atol_scale=1e-8)


def test_subtract_gradients_match_numerical(rng):
    a, b = rng.standard_normal((2, 2, 3, 2))
    y, cache = subtract_forward([a, b])
    g = rng.standard_normal(y.shape)
    da, db = subtract_backward(g, cache)
    assert_close(da, numerical_grad(lambda v: np.sum(subtract([v, b]) * g), a), rtol=1e-7, atol_scale=1e-8)
    assert_close(db, numerical_grad(lambda v: np.sum(subtract([a, v]) * g), b), rtol=1e-7, atol_scale=1e-8)


# 4. PyTorch parity (float64: output and every gradient) -----------------------------------------

@given(merge_cases(max_inputs=5))
def test_multiply_matches_torch_autograd(case):
    torch = import_torch()
    xs, dy = case
    leaves = [torch.tensor(x, requires_grad=True) for x in xs]
    yt = leaves[0]
    for t in leaves[1:]:
        yt = yt * t
    y, cache = multiply_forward(xs)
    assert_array_equal(y, yt.detach().numpy())
    yt.backward(torch.from_numpy(dy))
    for grad, leaf in zip(multiply_backward(dy, cache), leaves):
        assert_close(grad, leaf.grad.numpy(), rtol=1e-13)


@given(merge_cases(max_inputs=2))
def test_subtract_matches_torch_autograd(case):
    torch = import_torch()
    (a, b), dy = case
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    yt = at - bt
    y, cache = subtract_forward([a, b])
    assert_array_equal(y, yt.detach().numpy())
    yt.backward(torch.from_numpy(dy))
    da, db = subtract_backward(dy, cache)
    assert_array_equal(da, at.grad.numpy())
    assert_array_equal(db, bt.grad.numpy())


# 5. Bad arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", [multiply, subtract])
def test_too_few_or_unequal_inputs_are_refused(fn):
    with pytest.raises(ValueError, match=r"The `xs` argument must be a list of .*2 arrays.*Received: "):
        fn([np.ones((1, 2))])
    with pytest.raises(ValueError, match=r"The `xs` argument must be a list of .*Received: "):
        fn(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"The `xs` argument must hold arrays of one shape. Received: shapes"):
        fn([np.ones((1, 2)), np.ones((1, 3))])
    with pytest.raises(TypeError, match=r"The `xs\[1\]` argument must be a real numeric array"):
        fn([np.ones((1, 2)), np.array([["a", "b"]])])


def test_subtract_refuses_three_inputs():
    with pytest.raises(ValueError, match=r"The `xs` argument must be a list of exactly 2 arrays to subtract. "
                                         r"Received: a list of 3"):
        subtract([np.ones((1, 2))] * 3)


def test_a_dy_of_another_shape_is_refused():
    y, cache = multiply_forward([np.ones((1, 2)), np.ones((1, 2))])
    with pytest.raises(ValueError, match=r"The `dy` argument must have the output's shape \(1, 2\). Received: dy"):
        multiply_backward(np.ones((2, 2)), cache)
    y, cache = subtract_forward([np.ones((1, 2)), np.ones((1, 2))])
    with pytest.raises(ValueError, match=r"The `dy` argument must have the output's shape \(1, 2\). Received: dy"):
        subtract_backward(np.ones((1, 3)), cache)
