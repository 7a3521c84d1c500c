"""Add and Concatenate: values, output shapes and gradients for each input."""

import numpy as np
import pytest
from _layer_grad import check_layer_grads

from numcnn.layers import Add, Concatenate


def test_add_values(rng):
    a, b, c = rng.standard_normal((3, 2, 3, 3, 2))
    np.testing.assert_allclose(Add()([a, b]), a + b, rtol=1e-15)
    np.testing.assert_allclose(Add()([a, b, c]), a + b + c, rtol=1e-15)


def test_add_integer_inputs_give_float32():
    y = Add()([np.array([[1, 2]]), np.array([[3, 4]])])
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[4, 6]])


@pytest.mark.parametrize("n_inputs", [2, 3])
def test_add_gradients(n_inputs, rng):
    dx, _ = check_layer_grads(Add(), list(rng.standard_normal((n_inputs, 2, 3, 2))), rng)
    assert len(dx) == n_inputs


def test_add_backward_gives_dy_to_every_input(rng):
    layer = Add()
    layer([np.zeros((2, 3)), np.zeros((2, 3))])
    dy = rng.standard_normal((2, 3))
    da, db = layer.backward(dy)
    np.testing.assert_array_equal(da, dy)
    np.testing.assert_array_equal(db, dy)


@pytest.mark.parametrize(("axis", "expected_shape"), [(-1, (2, 3, 3, 5)), (3, (2, 3, 3, 5)), (1, None)])
def test_concatenate_values_and_shape(axis, expected_shape, rng):
    a = rng.standard_normal((2, 3, 3, 2))
    b = rng.standard_normal((2, 3, 3, 3)) if axis != 1 else rng.standard_normal((2, 4, 3, 2))
    y = Concatenate(axis=axis)([a, b])
    np.testing.assert_array_equal(y, np.concatenate([a, b], axis=axis))
    assert y.shape == (expected_shape or (2, 7, 3, 2))


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_concatenate_gradients(axis, rng):
    shapes = {-1: [(2, 3, 1), (2, 3, 2), (2, 3, 3)], 1: [(2, 1, 2), (2, 3, 2)], 2: [(2, 2, 2), (2, 2, 1)]}[axis]
    xs = [rng.standard_normal(s) for s in shapes]
    dx, _ = check_layer_grads(Concatenate(axis=axis), xs, rng)
    assert [d.shape for d in dx] == shapes


def test_concatenate_backward_splits_dy():
    layer = Concatenate()
    layer([np.zeros((1, 2)), np.zeros((1, 3))])
    da, db = layer.backward(np.arange(5.0).reshape(1, 5))
    np.testing.assert_array_equal(da, [[0, 1]])
    np.testing.assert_array_equal(db, [[2, 3, 4]])
