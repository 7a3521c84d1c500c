"""Initializers: Keras fans and limits, seeded reproducibility, and how layers use them."""

import math

import numpy as np
import pytest

from numcnn import initializers
from numcnn.layers import Conv2D, Dense


@pytest.mark.parametrize(("shape", "fans"), [((3, 3, 2, 5), (18, 45)), ((7, 4), (7, 4)), ((6,), (6, 6)), ((), (1, 1))])
def test_compute_fans_keras_convention(shape, fans):
    assert initializers.compute_fans(shape) == fans


@pytest.mark.parametrize(("name", "scale", "mode"), [
    ("glorot_uniform", 1.0, "fan_avg"), ("he_uniform", 2.0, "fan_in"), ("lecun_uniform", 1.0, "fan_in")])
def test_uniform_limits_and_variance(name, scale, mode):
    shape = (3, 3, 16, 32)
    fan_in, fan_out = 3 * 3 * 16, 3 * 3 * 32
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    limit = math.sqrt(3 * scale / n)
    w = initializers.get(name)(shape, np.float64, np.random.default_rng(0))
    assert w.shape == shape and w.dtype == np.float64
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.var() == pytest.approx(scale / n, rel=0.05)


@pytest.mark.parametrize(("name", "scale", "mode"), [
    ("glorot_normal", 1.0, "fan_avg"), ("he_normal", 2.0, "fan_in"), ("lecun_normal", 1.0, "fan_in")])
def test_truncated_normal_variance_and_cut_at_two_sigma(name, scale, mode):
    shape = (64, 128)
    n = {"fan_in": 64, "fan_avg": 96}[mode]
    w = initializers.get(name)(shape, np.float32, np.random.default_rng(1))
    stddev = math.sqrt(scale / n) / 0.87962566103423978  # before truncation (Keras)
    assert w.dtype == np.float32
    assert np.abs(w).max() <= 2 * stddev * (1 + 1e-6)
    assert w.var() == pytest.approx(scale / n, rel=0.05)


def test_constant_zeros_ones_and_config_dicts():
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(initializers.get("zeros")((2,), np.float32, rng), [0, 0])
    np.testing.assert_array_equal(initializers.get("ones")((2,), np.float32, rng), [1, 1])
    const = initializers.get({"class_name": "Constant", "config": {"value": 0.5}})
    np.testing.assert_array_equal(const((3,), np.float64, rng), [0.5] * 3)
    assert initializers.serialize(const) == {"class_name": "Constant", "config": {"value": 0.5}}
    assert initializers.serialize("He_Normal") == "he_normal"


def test_random_normal_and_uniform_parameters():
    rng = np.random.default_rng(2)
    w = initializers.RandomNormal(mean=1.0, stddev=0.5)((200, 200), np.float64, rng)
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.std() == pytest.approx(0.5, rel=0.02)
    u = initializers.RandomUniform(-2.0, 3.0)((200, 200), np.float64, rng)
    assert -2.0 <= u.min() < -1.99 and 2.99 < u.max() <= 3.0


def test_same_generator_seed_same_values_and_no_global_rng():
    init = initializers.get("glorot_uniform")
    np.random.seed(0)
    a = init((4, 5), np.float32, np.random.default_rng(9))
    np.random.seed(1)
    b = init((4, 5), np.float32, np.random.default_rng(9))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init((4, 5), np.float32, np.random.default_rng(10)))


def test_layers_use_their_initializers():
    conv = Conv2D(8, 3, kernel_initializer="he_normal", bias_initializer="ones", input_shape=(5, 5, 4), seed=0)
    kernel, bias = conv.get_weights()
    np.testing.assert_array_equal(bias, np.ones(8))
    stddev = math.sqrt(2 / 36) / 0.87962566103423978
    assert np.abs(kernel).max() <= 2 * stddev * (1 + 1e-6)
    dense = Dense(3, kernel_initializer=initializers.Constant(0.25), input_shape=(2,))
    np.testing.assert_array_equal(dense.get_weights()[0], np.full((2, 3), 0.25))
    np.testing.assert_array_equal(dense.get_weights()[1], np.zeros(3))  # default bias: zeros


def test_default_glorot_uniform_limit_for_a_conv_kernel():
    conv = Conv2D(30, 5, input_shape=(28, 28, 1), seed=0)
    limit = math.sqrt(6 / (5 * 5 * 1 + 5 * 5 * 30))
    kernel = conv.get_weights()[0]
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    assert kernel.dtype == np.float32


@pytest.mark.parametrize(("kwargs", "argument"), [
    (dict(mode="fan_sum"), "mode"), (dict(distribution="cauchy"), "distribution")])
def test_variance_scaling_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`.*Received:"):
        initializers.VarianceScaling(**kwargs)


@pytest.mark.parametrize("identifier", ["glorot", "xavier_uniform", 3, {"class_name": "Orthogonal"}])
def test_unknown_initializer(identifier):
    with pytest.raises(ValueError, match="`kernel_initializer` argument.*Received: kernel_initializer="):
        initializers.get(identifier)


def test_serialize_normalises_a_config_dict():
    # a layer rebuilt by from_config holds the dict; its get_config must still work
    config = {"class_name": "RandomNormal", "config": {"stddev": 0.2}}
    assert initializers.serialize(config) == {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.2}}
    dense = Dense.from_config(Dense(2, kernel_initializer=config).get_config())
    assert dense.get_config()["kernel_initializer"] == initializers.serialize(config)
