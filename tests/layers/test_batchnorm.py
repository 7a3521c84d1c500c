"""BatchNormalization: Keras' formulas for training, inference and the moving statistics; gradients."""

import numpy as np
import pytest
from _layer_grad import check_layer_grads
from helpers import assert_close

from numcnn.layers import BatchNormalization


def _randomize(bn, rng, c):
    """Non-trivial gamma, beta and moving statistics (Keras order)."""
    bn.set_weights([rng.uniform(0.5, 2.0, c), rng.standard_normal(c), rng.standard_normal(c), rng.uniform(0.5, 2.0, c)])


def test_training_normalizes_each_channel_with_biased_batch_statistics(rng):
    x = rng.standard_normal((4, 3, 3, 2)) * [1.0, 5.0] + [0.0, 10.0]
    bn = BatchNormalization()
    y = bn(x, training=True)
    mean = x.mean(axis=(0, 1, 2))
    var = ((x - mean) ** 2).mean(axis=(0, 1, 2))  # biased, as Keras
    assert_close(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-10)


def test_moving_statistics_update_formula(rng):
    x1 = rng.standard_normal((8, 3)) * 2.0 + 1.0
    x2 = rng.standard_normal((8, 3)) - 3.0
    bn = BatchNormalization()  # momentum 0.99, moving_mean 0, moving_variance 1 at start
    bn(x1, training=True)
    mm = 0.99 * 0.0 + 0.01 * x1.mean(axis=0)
    mv = 0.99 * 1.0 + 0.01 * x1.var(axis=0)
    assert_close(bn.state["moving_mean"], mm, rtol=1e-12)
    assert_close(bn.state["moving_variance"], mv, rtol=1e-12)
    bn(x2, training=True)
    assert_close(bn.state["moving_mean"], 0.99 * mm + 0.01 * x2.mean(axis=0), rtol=1e-12)
    assert_close(bn.state["moving_variance"], 0.99 * mv + 0.01 * x2.var(axis=0), rtol=1e-12)


def test_custom_momentum(rng):
    x = rng.standard_normal((6, 2)) + 4.0
    bn = BatchNormalization(momentum=0.5)
    bn(x, training=True)
    assert_close(bn.state["moving_mean"], 0.5 * x.mean(axis=0), rtol=1e-12)
    assert_close(bn.state["moving_variance"], 0.5 + 0.5 * x.var(axis=0), rtol=1e-12)


def test_inference_uses_moving_statistics_and_leaves_them(rng):
    x = rng.standard_normal((5, 3, 3, 4))
    bn = BatchNormalization(epsilon=1e-2, dtype="float64")
    bn.build((None, 3, 3, 4))
    _randomize(bn, rng, 4)
    gamma, beta, mm, mv = bn.get_weights()
    for y in (bn(x), bn(x, training=False)):
        assert_close(y, (x - mm) / np.sqrt(mv + 1e-2) * gamma + beta, rtol=1e-10)
    np.testing.assert_array_equal(bn.state["moving_mean"], mm)
    np.testing.assert_array_equal(bn.state["moving_variance"], mv)


def test_trainable_false_runs_in_inference_mode(rng):
    x = rng.standard_normal((5, 4))
    bn = BatchNormalization(trainable=False, dtype="float64")
    bn.build((None, 4))
    _randomize(bn, rng, 4)
    gamma, beta, mm, mv = bn.get_weights()
    assert_close(bn(x, training=True), (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, rtol=1e-10)
    np.testing.assert_array_equal(bn.state["moving_mean"], mm)
    assert bn.trainable_variables == []


def test_axis1_channels_first_equals_channels_last_transposed(rng):
    x = rng.standard_normal((3, 4, 4, 2))
    last, first = BatchNormalization(), BatchNormalization(axis=1)
    y_last = last(x, training=True)
    y_first = first(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), training=True)
    assert_close(y_first, y_last.transpose(0, 3, 1, 2), rtol=1e-10)
    assert first.params["gamma"].shape == (2,)
    assert_close(first.state["moving_mean"], last.state["moving_mean"], rtol=1e-12)


def test_weights_order_and_counts():
    bn = BatchNormalization(input_shape=(5, 5, 3))
    assert [w.shape for w in bn.get_weights()] == [(3,)] * 4
    gamma, beta, mm, mv = bn.get_weights()
    np.testing.assert_array_equal(np.stack([gamma, beta, mm, mv]), [[1] * 3, [0] * 3, [0] * 3, [1] * 3])
    assert bn.count_params() == 12
    assert len(bn.trainable_variables) == 2
    assert bn.trainable_variables[0] is bn.params["gamma"]
    assert set(bn.state) == {"moving_mean", "moving_variance"}


def test_set_weights_order(rng):
    bn = BatchNormalization(input_shape=(3,))
    values = [np.full(3, v) for v in (2.0, 3.0, 4.0, 5.0)]
    bn.set_weights(values)
    assert (bn.params["gamma"][0], bn.params["beta"][0], bn.state["moving_mean"][0],
            bn.state["moving_variance"][0]) == (2.0, 3.0, 4.0, 5.0)


def test_center_and_scale_off():
    bn = BatchNormalization(center=False, scale=False, input_shape=(3,))
    assert bn.params == {}
    assert bn.count_params() == 6
    x = np.array([[1.0, 2.0, 3.0], [3.0, 6.0, 9.0]])
    assert_close(bn(x, training=True), [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], rtol=1e-3)


def test_float32_stays_float32(rng):
    bn = BatchNormalization()
    x = rng.standard_normal((4, 2, 2, 3)).astype(np.float32)
    y = bn(x, training=True)
    bn.backward(np.ones_like(y))
    assert y.dtype == np.float32
    assert all(w.dtype == np.float32 for w in bn.get_weights())
    assert bn.grads["gamma"].dtype == np.float32


# -- gradients --------------------------------------------------------------------------------

# channels last runs on long rows: (6, 3) as 3 rows of 2x3, 63 rows of 4 as they are (63 is odd), 256 rows
# of 16 as 8 rows of 32x16
@pytest.mark.parametrize(("x_shape", "axis"), [((6, 3), -1), ((3, 3, 2, 2), -1), ((7, 3, 3, 4), -1), ((16, 4, 4, 16), -1),
                                               ((3, 2, 3, 2), 1), ((2, 3, 4), 1)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(x_shape, axis, training, rng):
    x = rng.standard_normal(x_shape) * 2.0 + 0.5
    bn = BatchNormalization(axis=axis, dtype="float64")
    bn.build((None, *x_shape[1:]))
    _randomize(bn, rng, x_shape[axis])
    dx, grads = check_layer_grads(bn, x, rng, training=training)
    assert set(grads) == {"gamma", "beta"}
    if training:  # the forward's numbers: each channel normalised with its batch mean and biased variance
        axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
        shape = [1] * x.ndim
        shape[axis] = x_shape[axis]
        gamma, beta = bn.params["gamma"].reshape(shape), bn.params["beta"].reshape(shape)
        expected = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + bn.epsilon) * gamma + beta
        np.testing.assert_allclose(bn(x, training=True), expected, rtol=1e-12, atol=1e-12)


def test_training_gradient_sums_to_zero_over_the_batch(rng):
    # the batch mean is subtracted, so shifting every input of a channel changes nothing
    bn = BatchNormalization()
    y = bn(rng.standard_normal((5, 3)), training=True)
    dx = bn.backward(rng.standard_normal(y.shape))
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-12)
