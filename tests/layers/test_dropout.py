"""Dropout: inverted-dropout values, a gradient that reuses the forward's mask, seeded masks."""

import json

import numpy as np
import pytest
from helpers import assert_close, numerical_grad

from numcnn.layers import Dropout


def test_inference_is_the_identity(rng):
    x = rng.standard_normal((3, 4))
    layer = Dropout(0.5, seed=0)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    dy = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_training_zeroes_about_rate_and_scales_the_rest(rng):
    x = rng.uniform(1.0, 2.0, (100, 100))  # never 0, so a 0 output means dropped
    y = Dropout(0.3, seed=0)(x, training=True)
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.02
    assert_close(y[kept], x[kept] / 0.7, rtol=1e-12)


def test_backward_is_mask_times_dy_over_keep_probability(rng):
    x = rng.uniform(1.0, 2.0, (4, 5, 6))
    layer = Dropout(0.4, seed=1)
    y = layer(x, training=True)
    dy = rng.standard_normal(x.shape)
    mask = (y != 0).astype(np.float64)
    assert_close(layer.backward(dy), mask * dy / 0.6, rtol=1e-12)


def test_gradient_check_with_a_replayed_mask(rng):
    # a fresh layer with the same seed draws the same mask, so the loss is a fixed function of x
    x = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))

    def loss(point):
        return float(np.sum(Dropout(0.5, seed=11)(point, training=True) * g))

    layer = Dropout(0.5, seed=11)
    layer(x, training=True)
    assert_close(layer.backward(g), numerical_grad(loss, x), rtol=1e-6)


def test_rate_zero_is_the_identity_in_training(rng):
    x = rng.standard_normal((2, 3))
    np.testing.assert_array_equal(Dropout(0.0, seed=0)(x, training=True), x)


def test_same_seed_same_masks_and_each_call_draws_a_new_mask():
    x = np.ones((20, 20))
    a, b = Dropout(0.5, seed=5), Dropout(0.5, seed=5)
    a1, a2 = a(x, training=True), a(x, training=True)
    np.testing.assert_array_equal(a1, b(x, training=True))
    np.testing.assert_array_equal(a2, b(x, training=True))
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(a1, Dropout(0.5, seed=6)(x, training=True))


def test_a_generator_can_be_passed_as_seed():
    x = np.ones((10, 10))
    y1 = Dropout(0.5, seed=np.random.default_rng(3))(x, training=True)
    y2 = Dropout(0.5, seed=3)(x, training=True)
    np.testing.assert_array_equal(y1, y2)


def test_global_numpy_rng_is_neither_used_nor_advanced():
    x = np.ones((10, 10))
    np.random.seed(0)
    state = np.random.get_state()
    y1 = Dropout(0.5, seed=2)(x, training=True)
    after = np.random.get_state()
    assert after[2] == state[2] and np.array_equal(after[1], state[1])
    np.random.seed(123)
    np.testing.assert_array_equal(Dropout(0.5, seed=2)(x, training=True), y1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    layer = Dropout(0.5, seed=0)
    y = layer(np.ones((4, 4), dtype), training=True)
    assert y.dtype == dtype
    assert layer.backward(np.ones((4, 4), dtype)).dtype == dtype
    assert set(np.unique(y)) <= {0.0, 2.0}


# noise_shape (Keras' argument): one draw shared along the axes where it is 1 -----------------------

def test_noise_shape_shares_draws_along_its_unit_axes(rng):
    x = rng.uniform(1.0, 2.0, (6, 5, 4))
    layer = Dropout(0.5, noise_shape=(None, 1, None), seed=0)
    y = layer(x, training=True)
    ratio = y / x
    assert (ratio == ratio[:, :1, :]).all() and set(np.unique(ratio)) == {0.0, 2.0}
    dy = rng.standard_normal(x.shape)
    assert_close(layer.backward(dy), ratio * dy, rtol=1e-12)


def test_noise_shape_gradient_check_with_a_replayed_mask(rng):
    x = rng.standard_normal((3, 4, 2))
    g = rng.standard_normal(x.shape)

    def loss(point):
        return float(np.sum(Dropout(0.5, noise_shape=(3, 1, 2), seed=4)(point, training=True) * g))

    layer = Dropout(0.5, noise_shape=(3, 1, 2), seed=4)
    layer(x, training=True)
    assert_close(layer.backward(g), numerical_grad(loss, x), rtol=1e-6)


def test_noise_shape_config_round_trip_and_the_default():
    assert Dropout(0.5).get_config()["noise_shape"] is None
    layer = Dropout(0.5, noise_shape=(None, 1, np.int64(3)), name="d")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["noise_shape"] == [None, 1, 3]
    assert Dropout.from_config(config).noise_shape == (None, 1, 3)


@pytest.mark.parametrize("noise_shape", ["abc", 3, (None, 0), (None, -1), (1.5,), [True]])
def test_bad_noise_shape_is_refused_when_made(noise_shape):
    with pytest.raises(ValueError, match="`noise_shape`.*Received: noise_shape="):
        Dropout(0.5, noise_shape=noise_shape)


def test_noise_shape_that_does_not_fit_the_input_is_refused_in_training_only():
    layer = Dropout(0.5, noise_shape=(None, 2), seed=0)
    np.testing.assert_array_equal(layer(np.ones((3, 5))), np.ones((3, 5)))  # inference draws nothing
    with pytest.raises(ValueError, match=r"`noise_shape`.*Received: noise_shape=\(None, 2\) for inputs with shape"):
        layer(np.ones((3, 5)), training=True)
